#!/usr/bin/env bash
# Session 64, second call: mix4 at batch 8 with 8 and with 12 front-ends, HTTP, gRPC streamed and system shared memory.
set -uo pipefail
. gpu/scripts/device-env.sh
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > "$OUT/gpu.txt" 2>&1
nproc >> "$OUT/gpu.txt"
S="PROFILES=profiles/h200 BATCH=8 DURATION=3 WARMUP=4 BENCH_WARMUP=1 REPEATS=2 LIMIT_S=270 MIXES=mix4"
env OUT=$OUT $S FRONTENDS=12 TRANSPORTS=http,grpc-stream,shm gpu/scripts/device-serve-bench.sh f12 --concurrency 8 --client-processes 9
env OUT=$OUT $S FRONTENDS=8 TRANSPORTS=http,grpc-stream,shm gpu/scripts/device-serve-bench.sh f8 --concurrency 8 --client-processes 9
ls -la "$OUT"
