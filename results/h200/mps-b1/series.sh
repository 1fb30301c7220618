#!/usr/bin/env bash
# The two device calls that made Q1, Q4 (2026-11-29, the CLI bundle of commit 130b78e6) and U1, U4 (2026-11-30, the
# CLI bundle of commit 53ad818d), from the repository's root on the GPU machine with the bundle carried
# (scripts/device-bundle.sh): baseline, eclip-fit (graph mode, untuned) and mps (U1, U4: and mps-unlimited) in one
# bench process per part, batch 1. The bench starts each MPS run's daemon and stops it after. m13.yaml and m46.yaml:
# ../mps-b8/more13.yaml and more46.yaml, our six in two parts (carried as .device/s62/).
set -uo pipefail
. gpu/scripts/device-env.sh
nvidia-smi --query-gpu=name,driver_version,clocks.sm,temperature.gpu,power.draw --format=csv
# first call
OUT=$OUT LIMIT_S=490 gpu/scripts/device-bench-parts.sh Q1:mix1,mix2,mix3:200:1 Q4:mix4,mix5,mix6,mix7:250:1 -- \
  --profiles profiles/h200 --policies baseline,eclip-fit,mps --modes graph --duration 4 --warmup 1 --no-solo --no-plots --no-sim-compare
# second call (then ../mps-unlimited/'s two calls on the same machine start)
OUT=$OUT LIMIT_S=555 gpu/scripts/device-bench-parts.sh U1:.device/s62/m13.yaml:240:1 U4:.device/s62/m46.yaml:260:1 -- \
  --profiles profiles/h200 --policies baseline,eclip-fit,mps,mps-unlimited --modes graph --duration 4 --warmup 1 \
  --no-solo --no-plots --no-sim-compare
pgrep -fa nvidia-cuda-mps || echo "no MPS daemon left"
