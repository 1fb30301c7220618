#!/usr/bin/env bash
# session 31: mix4 at batch 1 (the other paper mix with alexnet at thousands of requests/s) on both shared memories
# after the power-reply change: 2 windows per server, sweep's setting. Usage there: OUT=... run3.sh
set -u
OUT=${OUT:-out}; mkdir -p "$OUT"
PROFILES=profiles/h100 BATCH=1 TRANSPORTS=shm,cuda-shm FRONTENDS=0 DURATION=3 WARMUP=1 REPEATS=2 LIMIT_S=400 \
  MIXES=mix4 gpu/scripts/device-serve-bench.sh m4b1 --concurrency 8 --client-processes 3 --cuda-shm-sender node \
  | grep -A3 "Served ÷ bench: Σ\|Server CPU\|STP (Σ\|Worst worker"
python3 gpu/scripts/served-gaps.py /tmp/m4b1/serve/*/requests.csv | tee "$OUT/gaps-m4b1.txt"
