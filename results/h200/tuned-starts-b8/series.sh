#!/usr/bin/env bash
# eclip-fit --tune --stream-priorities against baseline (H200 profiles), parts as NAME:MIXES:EST_S:BATCH
set -uo pipefail
. gpu/scripts/device-env.sh
nvidia-smi --query-gpu=name,driver_version,clocks.sm,temperature.gpu,power.draw --format=csv
OUT=$OUT LIMIT_S=${LIMIT_S:-560} gpu/scripts/device-bench-parts.sh "$@" -- --profiles profiles/h200 \
  --policies baseline,eclip-fit --modes graph --duration 4 --warmup 1 --no-solo --no-plots --no-sim-compare \
  --tune --stream-priorities
for f in "$OUT"/*.log; do echo "== $f"; grep -E "tuned on|^STP|WARNING|failed|planned|plan |plans run" "$f" | tail -14; done
