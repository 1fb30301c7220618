#!/usr/bin/env bash
# session 31: mix7 (the host-bound paper mix) on both shared memories, repeated: 3 windows per server start, 2 server
# starts per policy, each model's stream timed; cuda-shm sent by Node clients, no front-ends, 8 clients per model over
# 3 client processes (the setting of serve-shm-every-mix). Usage there: OUT=... run1.sh NAME BATCH
set -u
name=$1 batch=$2
OUT=${OUT:-out}; mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,temperature.gpu,power.draw --format=csv >"$OUT/gpu-$name.txt"
ECLIP_HOTPATH_TIMING=1 PROFILES=profiles/h100 BATCH=$batch TRANSPORTS=shm,cuda-shm FRONTENDS=0 DURATION=3 WARMUP=1 \
  REPEATS=3 SERVER_STARTS=2 LIMIT_S=${LIMIT_S:-560} MIXES=mix7 \
  gpu/scripts/device-serve-bench.sh "$name" --concurrency 8 --client-processes 3 --cuda-shm-sender node | tail -70
python3 gpu/scripts/stream-timing.py "$OUT/$name.log" 2>&1 | tail -60 >"$OUT/$name-stream-timing.txt"
