#!/usr/bin/env bash
# usage: .device/s38/e.sh SECONDS ARM... ; ARM = gate (defaults) | req07 (--objective requests --min-share 0.7); a trailing t: --tune; OUT set by the device
set -uo pipefail
dur=$1; shift
nvidia-smi --query-gpu=name,driver_version,clocks.sm,temperature.gpu,power.draw --format=csv > "$OUT/gpu-before.csv"
for arm in "$@"; do
  extra=(); case $arm in req07*) extra=(--objective requests --min-share 0.7);; esac
  case $arm in *t) extra+=(--tune);; esac
  name="e-$arm-$dur"; t0=$(date +%s)
  OUT=$OUT gpu/scripts/device-bench.sh "$name" --workload disb-E --policies baseline,eclip-rt --duration "$dur" --warmup 2 \
    --no-solo --no-plots --no-sim-compare --no-check-outputs --profiles profiles/h100 "${extra[@]}" > /dev/null
  echo "$name rc=$? $(( $(date +%s) - t0 )) s" | tee -a "$OUT/arms.txt"
done
for arm in "$@"; do name="e-$arm-$dur"
  echo "== $name"; grep -A3 "^mix .*RT mean ms" "$OUT/$name.log" | cut -c1-130
  grep "tuned on" "$OUT/$name.log"; grep -A3 "^Worst worker" "$OUT/$name.log" | tail -1; grep -o "WARNING: [0-9] best-effort floor[^.]*" "$OUT/$name.log" | head -1
done
