#!/usr/bin/env bash
# eclip-fit not tuned against baseline, batch 8, 13 mixes: plain (PRIO=) or with the simulator's stream priorities
set -uo pipefail
nvidia-smi --query-gpu=name,driver_version,clocks.sm,temperature.gpu --format=csv,noheader
OUT=$OUT LIMIT_S=${LIMIT_S:-585} ELAPSED=${ELAPSED:-0} gpu/scripts/device-bench-parts.sh "$@" -- --profiles profiles/h100 \
  --policies baseline,eclip-fit --modes graph --duration 4 --warmup 1 --no-solo --no-plots ${PRIO---stream-priorities}
for f in "$OUT"/*.log; do echo "== $f"; grep -E "^STP|WARNING|failed|raised" "$f" | head -20; done
