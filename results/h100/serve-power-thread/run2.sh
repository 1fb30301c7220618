#!/usr/bin/env bash
# session 31: the power reply off the backend's reading loop, before and after, legs alternated against one bench.
# "old" runs the backend with protocol.py as at HEAD before the change (a copy of gpu/ first on its PYTHONPATH, by an
# ECLIP_PYTHON wrapper); "new" the tree's. Usage there: OUT=... run2.sh NAME BATCH TRANSPORTS
set -u
name=$1 batch=$2 transports=$3
OUT=${OUT:-out}; mkdir -p "$OUT"
rm -rf /tmp/before && mkdir -p /tmp/before && cp -a gpu schemas /tmp/before/ \
  && cp .device/s31/protocol-before.py /tmp/before/gpu/eclip_gpu/protocol.py
printf '#!/bin/sh\necho "$(date +%%T) $*" >>/tmp/py-before.log\nPYTHONPATH=/tmp/before/gpu${PYTHONPATH:+:$PYTHONPATH} exec python3 "$@"\n' >/tmp/py-before
chmod +x /tmp/py-before
# how long the two NVML reads of a power reply take, the GPU idle
python3 - <<'PY' >"$OUT/nvml-$name.txt" 2>&1
import time, pynvml
pynvml.nvmlInit(); h = pynvml.nvmlDeviceGetHandleByIndex(0); t = []
for _ in range(50):
    a = time.perf_counter(); pynvml.nvmlDeviceGetTotalEnergyConsumption(h); pynvml.nvmlDeviceGetPowerUsage(h)
    t.append((time.perf_counter() - a) * 1e3); time.sleep(0.02)
t.sort(); print(f"NVML energy+power read, GPU idle, ms: min {t[0]:.2f} median {t[25]:.2f} max {t[-1]:.2f}")
PY
cat "$OUT/nvml-$name.txt"
OUT=$OUT BUDGET_S=${BUDGET_S:-560} PROFILES=profiles/h100 BATCH=$batch TRANSPORTS=$transports FRONTENDS=0 DURATION=3 \
  WARMUP=1 REPEATS=2 MIXES=mix7 LEGS="old:ECLIP_PYTHON=/tmp/py-before new old:ECLIP_PYTHON=/tmp/py-before new" \
  gpu/scripts/device-serve-legs.sh --concurrency 8 --client-processes 3 --cuda-shm-sender node | tail -30
echo "cat /tmp/py-before.log | wc -l" ; wc -l < /tmp/py-before.log
python3 .device/s31/gaps.py /tmp/legs-*/serve/*/requests.csv | tee "$OUT/gaps-$name.txt"
