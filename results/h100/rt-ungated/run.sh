#!/usr/bin/env bash
# usage: .device/s36/run.sh WORKLOAD:ARM... ; ARM = gate (default plans) | u32 (--rt-ungated-sms 32); OUT set by the device
set -uo pipefail
nvidia-smi --query-gpu=name,driver_version,clocks.sm,temperature.gpu,power.draw --format=csv > "$OUT/gpu-before.csv"
for spec in "$@"; do
  w=${spec%%:*}; arm=${spec#*:}; extra=(); [ "$arm" = u32 ] && extra=(--rt-ungated-sms 32)
  name="${w,,}-$arm"; t0=$(date +%s)
  OUT=$OUT gpu/scripts/device-bench.sh "$name" --workload "disb-$w" --policies baseline,eclip-rt --duration 30 --warmup 2 \
    --no-solo --no-plots --no-sim-compare --no-check-outputs --profiles profiles/h100 "${extra[@]}" > /dev/null
  echo "$name rc=$? $(( $(date +%s) - t0 )) s" | tee -a "$OUT/arms.txt"
done
for spec in "$@"; do w=${spec%%:*}; arm=${spec#*:}; name="${w,,}-$arm"
  echo "== $name"; grep -A3 "^mix .*RT mean ms" "$OUT/$name.log" | cut -c1-130
  grep -A3 "^Worst worker" "$OUT/$name.log" | tail -1; grep -o "ungated, on at most[^;]*" "$OUT/$name.log" | head -1
done
