#!/usr/bin/env bash
# session 30: mix7 b1 on cuda-shm (Node-sent), each model's stream timed (input / graph / output / idle per
# execution, pauses over 1 ms), baseline and eclip-fit, two legs
set -u
OUT=${OUT:-out}; mkdir -p "$OUT"
OUT=$OUT BUDGET_S=400 PROFILES=profiles/h100 BATCH=1 TRANSPORTS=cuda-shm DURATION=4 WARMUP=1 MIXES=mix7 FRONTENDS=0 \
  LEGS="t:ECLIP_HOTPATH_TIMING=1 t:ECLIP_HOTPATH_TIMING=1" \
  gpu/scripts/device-serve-legs.sh --concurrency 12 --client-processes 3 --cuda-shm-sender node
mkdir -p /tmp/tl && tar xzf "$OUT/legs.tgz" -C /tmp/tl && python3 gpu/scripts/stream-timing.py /tmp/tl/legs/legs-*.log | tail -40
