#!/usr/bin/env bash
# the batch-8 comparison repeated on one H200, coresident-planned first: ARM = co | fifo
set -uo pipefail
for arm in "$@"; do
  nvidia-smi --query-gpu=name,driver_version,clocks.sm,temperature.gpu,power.draw --format=csv > "$OUT/gpu-before-rep-$arm.csv"
  t0=$(date +%s)
  OUT=$OUT gpu/scripts/device-bench.sh h200-rep-$arm-b8 --mix mix1,mix2,mix3,mix4,mix5,mix6,mix7 --batch 8 --profiles profiles/h200 \
    --policies baseline,eclip-fit --modes graph --duration 3 --warmup 1 --no-plots --calibration .device/s36/h200-$arm.json > /dev/null
  echo "h200-rep-$arm-b8 rc=$? $(( $(date +%s) - t0 )) s" | tee -a "$OUT/arms.txt"
  grep -A10 "^Worst worker" "$OUT/h200-rep-$arm-b8.log" | cut -c1-120 | tail -9
  grep -A10 "^System throughput STP" "$OUT/h200-rep-$arm-b8.log" | cut -c1-120 | tail -2
done
