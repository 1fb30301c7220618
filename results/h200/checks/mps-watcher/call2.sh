#!/usr/bin/env bash
# session 63, call 2: the GPU's MPS tests, with the watcher's (a killed backend's real daemon stopped by its watcher)
set -uo pipefail
. gpu/scripts/device-env.sh
exec > >(tee "$OUT/call2.txt") 2>&1
date -u; nvidia-smi --query-gpu=name,driver_version,clocks.sm,temperature.gpu,power.draw --format=csv
pgrep -fa nvidia-cuda-mps || echo "no MPS daemon before"
timeout 400 python3 -m pytest -v -rs gpu/tests_gpu/test_mps.py 2>&1 | grep -E "PASS|FAIL|SKIP|ERROR|passed|failed|Error"
pgrep -fa 'nvidia-cuda-mps|eclip_gpu.mps' || echo "no MPS process left"
date -u
