#!/usr/bin/env bash
# session 30: served ÷ bench over the paper mixes on both shared memories, cuda-shm sent by Node clients, no
# front-ends, 8 closed-loop clients per model over 3 client processes. Usage there: OUT=... sweep.sh NAME BATCH MIXES
set -u
name=$1 batch=$2 mixes=$3
OUT=${OUT:-out}; mkdir -p "$OUT"
PROFILES=profiles/h100 BATCH=$batch TRANSPORTS=shm,cuda-shm FRONTENDS=0 DURATION=3 WARMUP=1 LIMIT_S=575 \
  MIXES=$mixes gpu/scripts/device-serve-bench.sh "$name" --concurrency 8 --client-processes 3 --cuda-shm-sender node \
  | tail -60
