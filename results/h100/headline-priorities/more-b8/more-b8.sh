#!/usr/bin/env bash
# our six mixes at batch 8 with --stream-priorities as capped (more4 then raises none)
set -uo pipefail
nvidia-smi --query-gpu=name,driver_version,clocks.sm,temperature.gpu --format=csv > "$OUT/gpu-more-b8.csv"
t0=$(date +%s)
OUT=$OUT gpu/scripts/device-bench.sh b8-more-capped --mix .device/s40/more6.yaml --batch 8 --profiles profiles/h100 \
  --policies baseline,eclip-fit --modes graph --duration 4 --warmup 1 --no-solo --no-plots --stream-priorities > /dev/null
echo "b8-more-capped rc=$? $(( $(date +%s) - t0 )) s" | tee -a "$OUT/arms.txt"
grep -A9 "^STP" "$OUT/b8-more-capped.log" | head -12
