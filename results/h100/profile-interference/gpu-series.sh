#!/usr/bin/env bash
# eclip-fit (not tuned) against baseline, each part twice back to back: planned with the shipped calibration and
# with this folder's candidate (`--calibration`; CAND=FILE another). A pair starts only if both arms' estimates still
# fit.
#   OUT=... LIMIT_S=570 [CAND=...] results/h100/profile-interference/gpu-series.sh NAME:MIXES:EST_S:BATCH ...
# Each arm writes NAME-shipped / NAME-candidate .tgz and .log (gpu/scripts/device-bench.sh); the device tool brings
# back 8 files, so two parts a call. Estimates per arm: the paper's mixes ~235 s at batch 8, ~175 s at batch 1;
# mixes/more.yaml ~290 s at batch 8 (2026-12-06).
set -uo pipefail
cand=${CAND:-$(dirname "$0")/sim-calibration.json}
limit=${LIMIT_S:-570}
nvidia-smi --query-gpu=name,driver_version,clocks.sm,temperature.gpu --format=csv,noheader
for p in "$@"; do
  IFS=: read -r name mixes est batch <<<"$p"
  if [ $((SECONDS + 2 * est)) -gt "$limit" ]; then echo "skipped $name (${SECONDS} s in, estimate 2 × $est s)"; continue; fi
  for arm in shipped candidate; do
    echo "== $name-$arm: $mixes, batch $batch (at ${SECONDS} s)"
    extra=()
    [ "$arm" = candidate ] && extra=(--calibration "$cand")
    "$(dirname "$0")/../../../gpu/scripts/device-bench.sh" "$name-$arm" --mix "$mixes" --batch "$batch" \
      --profiles profiles/h100 "${extra[@]}" --policies baseline,eclip-fit --modes graph --duration 4 --warmup 1 \
      --no-solo --no-plots | grep -E '^eclip bench: (run .* failed|WARNING)|wrote'
  done
done
echo "done at ${SECONDS} s"
# the numbers: node --import tsx bench/series-summary.ts NAME-shipped NAME-candidate, on the development machine
for f in "$OUT"/*.log; do echo "== $f"; grep -cE '^eclip bench: run .* failed' "$f"; done
