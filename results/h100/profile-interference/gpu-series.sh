#!/usr/bin/env bash
# eclip-fit (not tuned) against baseline, each part planned twice back to back: with the shipped calibration
# (profiles/h100) and with this folder's candidate (a copy of profiles/h100 holding its sim-calibration.json).
#   OUT=... LIMIT_S=570 results/h100/profile-interference/gpu-series.sh NAME:MIXES:EST_S:BATCH ...
# writes NAME-shipped.tgz/.log and NAME-candidate.tgz/.log per part (gpu/scripts/device-bench-parts.sh)
set -uo pipefail
cand=$(mktemp -d)
cp profiles/h100/*.json "$cand"/
cp "$(dirname "$0")/sim-calibration.json" "$cand"/
nvidia-smi --query-gpu=name,driver_version,clocks.sm,temperature.gpu --format=csv,noheader
parts=()
for p in "$@"; do
  IFS=: read -r name rest <<<"$p"
  parts+=("$name-shipped:$rest|profiles/h100" "$name-candidate:$rest|$cand")
done
SECONDS=0
for p in "${parts[@]}"; do
  ELAPSED=$SECONDS OUT=$OUT LIMIT_S=${LIMIT_S:-570} gpu/scripts/device-bench-parts.sh "${p%|*}" -- \
    --profiles "${p##*|}" --policies baseline,eclip-fit --modes graph --duration 4 --warmup 1 --no-solo --no-plots
done
for f in "$OUT"/*.log; do echo "== $f"; grep -E "^STP|WARNING|failed" "$f" | head -20; done
