#!/usr/bin/env bash
# eclip-fit --stream-priorities against baseline over the 13 mixes at one batch size (the headline series' method)
set -uo pipefail
b=$1
nvidia-smi --query-gpu=name,driver_version,clocks.sm,temperature.gpu --format=csv > "$OUT/gpu-b$b.csv"
t0=$(date +%s)
OUT=$OUT gpu/scripts/device-bench.sh "b$b-${TAG:-prio}" --mix .device/s40/all13.yaml --batch $b --profiles profiles/h100 \
  --policies baseline,eclip-fit --modes graph --duration 4 --warmup 1 --no-solo --no-plots ${PRIO---stream-priorities} > /dev/null
echo "b$b-${TAG:-prio} rc=$? $(( $(date +%s) - t0 )) s" | tee -a "$OUT/arms.txt"
grep -B2 -A12 "^STP" "$OUT/b$b-${TAG:-prio}.log" | head -40
