#!/usr/bin/env bash
# The device calls that made C7, K2 and K3 (session of 2026-11-29, the CLI bundle of commit 130b78e6), from the
# repository's root on the GPU machine with the bundle carried (scripts/device-bundle.sh). Each is eclip-fit tuned
# with a floor margin above the default, so that the climb may fall back on close calls and CONFIRM run.
set -uo pipefail
. gpu/scripts/device-env.sh
nvidia-smi --query-gpu=name,driver_version,clocks.sm,temperature.gpu,power.draw --format=csv
C=results/h200/checks/confirm
COMMON="--profiles profiles/h200 --policies baseline,eclip-fit --modes graph --duration 4 --warmup 1 --no-solo --no-plots --no-sim-compare --tune --stream-priorities"
# call 1 (after tuned-starts-b8's P12): mix7 at batch 1, floors held 0.08 higher
OUT=$OUT LIMIT_S=560 gpu/scripts/device-bench-parts.sh C7:mix7:160:1 -- $COMMON --tune-floor-margin 0.08
# call 2: more2 at batch 8, floors held 0.08 higher
OUT=$OUT LIMIT_S=560 gpu/scripts/device-bench-parts.sh K2:$C/more2.yaml:300:8 -- $COMMON --tune-floor-margin 0.08
# call 3: more2 at batch 8, floors held 0.1 higher (1.0: every worker at its baseline rate or more)
OUT=$OUT LIMIT_S=300 gpu/scripts/device-bench-parts.sh K3:$C/more2.yaml:220:8 -- $COMMON --tune-floor-margin 0.1
