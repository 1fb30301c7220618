#!/usr/bin/env bash
# The serve-bench parts of the device calls that made g3/, g9/ (first call), r3/, r9/, r9c16/ (second call) and w9/,
# w9h/ (fourth call, after ../../mps-b8/'s N1 and N4 in the third; each call its own machine start), 2026-11-30, the
# CLI bundle and backend of commit fd9c577b, from the repository's root on the GPU machine with the bundle carried
# (scripts/device-bundle.sh); y9/ and y3/ in a fifth call (the CLI bundle and backend of commit 53ad818d, after
# ../../mps-unlimited/'s X1 and X4 in the same call). Each part benches mix4 at batch 1 on the GPU, then serves it
# per policy with 8 front-ends (over gRPC with the tensors in the requests; w9h over HTTP) and measures served ÷ bench
# (gpu/scripts/device-serve-bench.sh). The first two calls also ran ../../mps-b8/ (M1 after g9, M4 before r3).
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
# fourth call: a 4-s warm-up (the bench's 1 s), two windows per server, gRPC then HTTP
S="$S BENCH_WARMUP=1 REPEATS=2 LIMIT_S=150"
env OUT=$OUT $S WARMUP=4 TRANSPORTS=grpc gpu/scripts/device-serve-bench.sh w9 --concurrency 8 --client-processes 9
env OUT=$OUT $S WARMUP=4 TRANSPORTS=http gpu/scripts/device-serve-bench.sh w9h --concurrency 8 --client-processes 9
# fifth call: as the fourth over gRPC, 9 client processes first, then 3
env OUT=$OUT $S WARMUP=4 TRANSPORTS=grpc LIMIT_S=145 gpu/scripts/device-serve-bench.sh y9 --concurrency 8 --client-processes 9
env OUT=$OUT $S WARMUP=4 TRANSPORTS=grpc LIMIT_S=145 gpu/scripts/device-serve-bench.sh y3 --concurrency 8 --client-processes 3
