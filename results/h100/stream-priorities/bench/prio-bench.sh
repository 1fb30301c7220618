#!/usr/bin/env bash
# eclip-fit with and without --stream-priorities, back to back, on the mixes whose plan the priorities change
set -uo pipefail
nvidia-smi --query-gpu=name,driver_version,clocks.sm,temperature.gpu --format=csv > "$OUT/gpu-before.csv"
common=(--policies baseline,eclip-fit --modes graph --duration 3 --warmup 1 --no-solo --no-plots --no-sim-compare --no-check-outputs --profiles profiles/h100)
for b in 1 8; do
  for v in plain prio; do
    extra=(); [ $v = prio ] && extra=(--stream-priorities)
    t0=$(date +%s)
    OUT=$OUT gpu/scripts/device-bench.sh "b$b-$v" --mix .device/s39/sel-b$b.yaml --batch $b "${common[@]}" "${extra[@]}" > /dev/null
    echo "b$b-$v rc=$? $(( $(date +%s) - t0 )) s" | tee -a "$OUT/arms.txt"
  done
done
for n in b1-plain b1-prio b8-plain b8-prio; do echo "== $n"; grep -B2 -A8 "^STP" "$OUT/$n.log" | head -14; done
