#!/usr/bin/env bash
# usage: .device/s36/h200co.sh BATCH... ; as h200.sh, eclip-fit planned on the coresident candidate (.device/s36/h200-co.json)
set -uo pipefail
for b in "$@"; do
  nvidia-smi --query-gpu=name,driver_version,clocks.sm,temperature.gpu,power.draw --format=csv > "$OUT/gpu-before-co-b$b.csv"
  t0=$(date +%s)
  OUT=$OUT gpu/scripts/device-bench.sh h200-co-b$b --mix mix1,mix2,mix3,mix4,mix5,mix6,mix7 --batch "$b" --profiles profiles/h200 \
    --policies baseline,eclip-fit --modes graph --duration 3 --warmup 1 --no-plots --calibration .device/s36/h200-co.json > /dev/null
  echo "h200-co-b$b rc=$? $(( $(date +%s) - t0 )) s" | tee -a "$OUT/arms.txt"
  grep -A10 "^System throughput STP" "$OUT/h200-co-b$b.log" | cut -c1-120 | tail -2
  grep -A10 "^Worst worker" "$OUT/h200-co-b$b.log" | cut -c1-120 | tail -9
done
