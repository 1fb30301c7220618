#!/usr/bin/env bash
# The three device calls that made M1, M4, N1 and N4 (2026-11-30, the CLI bundle of commit fd9c577b), from the
# repository's root on the GPU machine with the bundle carried (scripts/device-bundle.sh): baseline, eclip-fit (graph
# mode, untuned) and mps in one bench process per part, batch 8. The bench starts each MPS run's daemon and stops it
# after. In the first call M1 ran after two serve-bench parts (../checks/serve-clients/g3, g9), in the second M4 ran
# first; the third ran N1 and N4 alone. more13.yaml and more46.yaml (here): mixes/more.yaml's more1–more3 and
# more4–more6 (carried as .device/s61/m13.yaml and m46.yaml in the call, the paths its results.json records).
set -uo pipefail
. gpu/scripts/device-env.sh
common=(--profiles profiles/h200 --policies baseline,eclip-fit,mps --modes graph --duration 4 --warmup 1 --no-solo
  --no-plots --no-sim-compare)
OUT=$OUT LIMIT_S=230 gpu/scripts/device-bench-parts.sh M1:mix1,mix2,mix3:200:8 -- "${common[@]}"   # first call
OUT=$OUT LIMIT_S=230 gpu/scripts/device-bench-parts.sh M4:mix4,mix5,mix6,mix7:200:8 -- "${common[@]}"   # second call
OUT=$OUT LIMIT_S=540 gpu/scripts/device-bench-parts.sh N1:results/h200/mps-b8/more13.yaml:250:8 \
  N4:results/h200/mps-b8/more46.yaml:270:8 -- "${common[@]}"   # third
pgrep -fa nvidia-cuda-mps || echo "no MPS daemon left"
