#!/usr/bin/env bash
# DISB E, eclip-rt's BE plan by --objective requests on the fifo calibration; OUT set by the device
set -uo pipefail
nvidia-smi --query-gpu=name,driver_version,clocks.sm,temperature.gpu,power.draw --format=csv > "$OUT/gpu-before.csv"
t0=$(date +%s)
OUT=$OUT gpu/scripts/device-bench.sh e-req-fifo --workload disb-E --policies baseline,eclip-rt --duration 30 --warmup 2 \
  --no-solo --no-plots --no-sim-compare --no-check-outputs --profiles profiles/h100 --objective requests \
  --calibration .device/s36/fifo.json > /dev/null
echo "e-req-fifo rc=$? $(( $(date +%s) - t0 )) s" | tee -a "$OUT/arms.txt"
grep -A3 "^mix .*RT mean ms" "$OUT/e-req-fifo.log" | cut -c1-130; grep -A3 "^Worst worker" "$OUT/e-req-fifo.log" | tail -1
grep -o "WARNING: [0-9] best-effort floor[^.]*" "$OUT/e-req-fifo.log" | head -1
