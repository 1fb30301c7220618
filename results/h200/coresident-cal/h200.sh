#!/usr/bin/env bash
# usage: .device/s36/h200.sh BATCH ; the paper's seven mixes on the H200, baseline and eclip-fit, solo runs, plans kept
set -uo pipefail
b=$1
nvidia-smi --query-gpu=name,driver_version,clocks.sm,temperature.gpu,power.draw --format=csv > "$OUT/gpu-before-b$b.csv"
t0=$(date +%s)
OUT=$OUT gpu/scripts/device-bench.sh h200-b$b --mix mix1,mix2,mix3,mix4,mix5,mix6,mix7 --batch "$b" --profiles profiles/h200 \
  --policies baseline,eclip-fit --modes graph --duration 3 --warmup 1 --no-plots > /dev/null
echo "h200-b$b rc=$? $(( $(date +%s) - t0 )) s" | tee -a "$OUT/arms.txt"
grep -A10 "^System throughput STP" "$OUT/h200-b$b.log" | cut -c1-120
