#!/usr/bin/env bash
# Writes results/h100/batch-split-b8/sim-calibration.json: the shipped profiles/h100/sim-calibration.json with the
# chosen pair (README.md: fit-grid.txt) as per-profile γ and κ for every batch-8 profile of profiles/h100.
set -euo pipefail
cd "$(dirname "$0")/../../.."
node --import tsx bench/batch-calibration.ts --profiles profiles/h100 --batch 8 --gamma 0.3 --kappa 0.4 \
  --date 2026-12-06 \
  --method "γ 0.3 and κ 0.4 for every batch-8 profile of profiles/h100: of a grid γ 0.3–0.5 × κ 0.25–0.45 (steps 0.05), the pair with the fewest workers past 15% (rate ÷ baseline, sim ÷ GPU), then the least mean |error|, over the fit set, each run re-simulated with its recorded plan (bench/heldout-workers.ts --series)" \
  --notes "fit set: the batch-8 GPU runs of results/h100/eclip-fit-floors/{batch8,batch8-repeat,more-batch8}, results/h100/profile-retime-fit/{b8,more-b8}, results/h100/coresident-plans/{b8-co,more-co}, results/h100/headline-priorities/b8-prio and the 37 parts of results/h100/tuned-priorities-b8 in test/measure/h100-recorded.ts; checked on results/h100/shipped-13/{p8,p8b,m8}, reprofiled-b8, tuned-shipped-b8, load-shape-ab/L8*" \
  --out results/h100/batch-split-b8/sim-calibration.json
