#!/usr/bin/env bash
# session 30: the engine's CPU per request before (main) and after (engine-ab: callbacks, kept answer text), mix7 b1
set -u
OUT=${OUT:-out}; mkdir -p "$OUT"
OUT=$OUT BUDGET_S=570 PROFILES=profiles/h100 BATCH=1 TRANSPORTS=shm,cuda-shm DURATION=4 WARMUP=1 \
  MIXES=mix7 FRONTENDS=0 LEGS="b:CLI=.device/before/eclip.mjs a b:CLI=.device/before/eclip.mjs a" \
  gpu/scripts/device-serve-legs.sh --concurrency 12 --client-processes 3 --cuda-shm-sender node
