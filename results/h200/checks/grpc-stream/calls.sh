#!/usr/bin/env bash
# The serve-bench parts of four device calls, 2026-11-30, from the repository's root on the GPU machine with the CLI
# bundle carried (scripts/device-bundle.sh): s9/, t9/ (third call, after ../mps-watcher/'s checks; the bundle of
# commit 8a314c55), u9/, v3/ (fourth call, same machine start; same bundle), x9/, z9/ (fifth call, another machine
# start; the bundle of commit 64f93aa8: a client process's exit judged once its channel drains), a9/, b9/ (sixth call,
# another machine start; the bundle of commit 9b86113e: a stream's failed request carries its status). Each part benches
# mix4 at batch 1 on the GPU under baseline and eclip-fit, then serves it per policy with 8 front-ends over gRPC, a
# ModelInfer call per request (grpc) and one ModelStreamInfer stream per client (grpc-stream), each transport two
# 3-s windows after a 4-s warm-up against the same server, the two transports in the order the part names.
set -uo pipefail
. gpu/scripts/device-env.sh
S="PROFILES=profiles/h200 BATCH=1 DURATION=3 WARMUP=4 BENCH_WARMUP=1 REPEATS=2 MIXES=mix4 FRONTENDS=8 LIMIT_S=200"
# third call
env OUT=$OUT $S TRANSPORTS=grpc,grpc-stream gpu/scripts/device-serve-bench.sh s9 --concurrency 8 --client-processes 9
env OUT=$OUT $S TRANSPORTS=grpc-stream,grpc gpu/scripts/device-serve-bench.sh t9 --concurrency 8 --client-processes 9
# fourth call
env OUT=$OUT $S TRANSPORTS=grpc,grpc-stream gpu/scripts/device-serve-bench.sh u9 --concurrency 8 --client-processes 9
env OUT=$OUT $S TRANSPORTS=grpc-stream,grpc gpu/scripts/device-serve-bench.sh v3 --concurrency 8 --client-processes 3
# fifth call
env OUT=$OUT $S TRANSPORTS=grpc,grpc-stream gpu/scripts/device-serve-bench.sh x9 --concurrency 8 --client-processes 9
env OUT=$OUT $S TRANSPORTS=grpc-stream,grpc gpu/scripts/device-serve-bench.sh z9 --concurrency 8 --client-processes 9
# sixth call
env OUT=$OUT $S TRANSPORTS=grpc,grpc-stream gpu/scripts/device-serve-bench.sh a9 --concurrency 8 --client-processes 9
env OUT=$OUT $S TRANSPORTS=grpc-stream,grpc gpu/scripts/device-serve-bench.sh b9 --concurrency 8 --client-processes 9
