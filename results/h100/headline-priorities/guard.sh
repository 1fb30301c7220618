#!/usr/bin/env bash
# the p95 guard's plan of mix4 at batch 1 (with --stream-priorities) back to back with eclip-fit's plain plan; more2 b8 again
set -uo pipefail
nvidia-smi --query-gpu=name,driver_version,clocks.sm,temperature.gpu --format=csv > "$OUT/gpu-guard.csv"
c=(--profiles profiles/h100 --policies baseline,eclip-fit --modes graph --duration 4 --warmup 1 --no-solo --no-plots)
for arm in "g1-prio 1 --stream-priorities" "g1-plain 1" "g8-prio 8 --stream-priorities"; do
  set -- $arm; n=$1; b=$2; shift 2
  t0=$(date +%s)
  OUT=$OUT gpu/scripts/device-bench.sh "$n" --mix .device/s40/g-b$b.yaml --batch $b "${c[@]}" "$@" > /dev/null
  echo "$n rc=$? $(( $(date +%s) - t0 )) s" | tee -a "$OUT/arms.txt"
done
for n in g1-prio g1-plain g8-prio; do echo "== $n"; grep -A4 "^STP" "$OUT/$n.log" | head -6; grep -m1 "stream priorities" "$OUT/$n.log" | grep -o "stream priorities: [^;]*"; done
