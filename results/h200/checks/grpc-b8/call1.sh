#!/usr/bin/env bash
# Session 64, first call: the gRPC transports against HTTP at batch 8 (mix4, mix3), 8 front-ends, 9 client processes.
set -uo pipefail
. gpu/scripts/device-env.sh
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > "$OUT/gpu.txt" 2>&1
nproc >> "$OUT/gpu.txt"
S="PROFILES=profiles/h200 BATCH=8 DURATION=3 WARMUP=4 BENCH_WARMUP=1 REPEATS=2 FRONTENDS=8 LIMIT_S=270"
env OUT=$OUT $S MIXES=mix4 TRANSPORTS=grpc,grpc-stream,http gpu/scripts/device-serve-bench.sh m4 --concurrency 8 --client-processes 9
env OUT=$OUT $S MIXES=mix3 TRANSPORTS=grpc-stream,grpc,http gpu/scripts/device-serve-bench.sh m3 --concurrency 8 --client-processes 9
ls -la "$OUT"
