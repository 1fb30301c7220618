#!/usr/bin/env bash
# The device call that made Q1 and Q4 (2026-11-29, the CLI bundle of commit 130b78e6), from the repository's root on
# the GPU machine with the bundle carried (scripts/device-bundle.sh): baseline, eclip-fit (graph mode, untuned) and
# mps in one bench process per part, batch 1. The bench starts each MPS run's daemon and stops it after.
set -uo pipefail
. gpu/scripts/device-env.sh
nvidia-smi --query-gpu=name,driver_version,clocks.sm,temperature.gpu,power.draw --format=csv
OUT=$OUT LIMIT_S=490 gpu/scripts/device-bench-parts.sh Q1:mix1,mix2,mix3:200:1 Q4:mix4,mix5,mix6,mix7:250:1 -- \
  --profiles profiles/h200 --policies baseline,eclip-fit,mps --modes graph --duration 4 --warmup 1 --no-solo --no-plots --no-sim-compare
pgrep -fa nvidia-cuda-mps || echo "no MPS daemon left"
