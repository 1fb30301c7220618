#!/usr/bin/env bash
# The device calls that made V1, V4, W1, W4 (batch 8) and X1, X4 (batch 1), 2026-11-30, the CLI bundle of commit
# 53ad818d, from the repository's root on the GPU machine with the bundle carried (scripts/device-bundle.sh):
# baseline and mps-unlimited in one bench process per part. The bench starts each MPS run's daemon and stops it after.
# Our six at batch 1 ran with eclip-fit and mps in ../mps-b1/ (U1, U4: its series.sh), the call before these two on
# the same machine start. m13.yaml and m46.yaml: ../mps-b8/more13.yaml and more46.yaml (carried as .device/s62/).
set -uo pipefail
. gpu/scripts/device-env.sh
nvidia-smi --query-gpu=name,driver_version,clocks.sm,temperature.gpu,power.draw --format=csv
common=(--profiles profiles/h200 --policies baseline,mps-unlimited --modes graph --duration 4 --warmup 1 --no-solo
  --no-plots --no-sim-compare)
# second call
OUT=$OUT LIMIT_S=560 gpu/scripts/device-bench-parts.sh V1:mix1,mix2,mix3:120:8 V4:mix4,mix5,mix6,mix7:150:8 \
  W1:.device/s62/m13.yaml:125:8 W4:.device/s62/m46.yaml:140:8 -- "${common[@]}"
pgrep -fa nvidia-cuda-mps || echo "no MPS daemon left"
# third call (then the serve-bench parts of ../checks/serve-clients/calls.sh: y9, y3)
OUT=$OUT LIMIT_S=260 gpu/scripts/device-bench-parts.sh X1:mix1,mix2,mix3:110:1 X4:mix4,mix5,mix6,mix7:140:1 -- "${common[@]}"
pgrep -fa nvidia-cuda-mps || echo "no MPS daemon left"
# the repeat, another machine start (the CLI bundle of commit 4bd0a81d): repeat/Z8; Z1 was cut at its deadline
# and is not kept
OUT=$OUT LIMIT_S=150 gpu/scripts/device-bench-parts.sh Z8:mix1,mix6:70:8 Z1:mix1,mix6:70:1 -- "${common[@]}"
pgrep -fa nvidia-cuda-mps || echo "no MPS daemon left"
# Z1 again, alone, another machine start (the CLI bundle of commit bb6e6e5b), after session 63's watcher checks
OUT=$OUT LIMIT_S=540 ELAPSED=$SECONDS gpu/scripts/device-bench-parts.sh Z1:mix1,mix6:100:1 -- "${common[@]}"
pgrep -fa nvidia-cuda-mps || echo "no MPS daemon left"
