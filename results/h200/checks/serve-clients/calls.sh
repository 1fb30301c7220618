#!/usr/bin/env bash
# The serve-bench parts of the two device calls that made g3/, g9/ (first call) and r3/, r9/, r9c16/ (second call),
# 2026-11-30, the CLI bundle and backend of commit fd9c577b, from the repository's root on the GPU machine with the
# bundle carried (scripts/device-bundle.sh). Each part benches mix4 at batch 1 on the GPU, then serves it per policy
# over gRPC (tensors in the requests) with 8 front-ends and measures served ÷ bench (gpu/scripts/device-serve-bench.sh).
# The same calls ran ../../mps-b8/ (M1 after g9, M4 before r3).
set -uo pipefail
. gpu/scripts/device-env.sh
S="PROFILES=profiles/h200 BATCH=1 DURATION=3 WARMUP=1 MIXES=mix4 TRANSPORTS=grpc FRONTENDS=8"
# first call: one window per server
env OUT=$OUT $S LIMIT_S=150 gpu/scripts/device-serve-bench.sh g3 --concurrency 8 --client-processes 3
env OUT=$OUT $S LIMIT_S=150 gpu/scripts/device-serve-bench.sh g9 --concurrency 8 --client-processes 9
# second call: two windows per server
env OUT=$OUT $S REPEATS=2 LIMIT_S=115 gpu/scripts/device-serve-bench.sh r3 --concurrency 8 --client-processes 3
env OUT=$OUT $S REPEATS=2 LIMIT_S=115 gpu/scripts/device-serve-bench.sh r9 --concurrency 8 --client-processes 9
env OUT=$OUT $S REPEATS=2 LIMIT_S=115 gpu/scripts/device-serve-bench.sh r9c16 --concurrency 16 --client-processes 9
