#!/usr/bin/env bash
# session 30: mix7 b8 on system shared memory, no front-ends against the default 8, legs alternated
set -u
OUT=${OUT:-out}; mkdir -p "$OUT"
OUT=$OUT BUDGET_S=560 PROFILES=profiles/h100 BATCH=8 TRANSPORTS=shm DURATION=3 WARMUP=1 MIXES=mix7 \
  LEGS="f0:FRONTENDS=0 f8:FRONTENDS=8 f0:FRONTENDS=0 f8:FRONTENDS=8" \
  gpu/scripts/device-serve-legs.sh --concurrency 8 --client-processes 3
