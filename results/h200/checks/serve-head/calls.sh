#!/usr/bin/env bash
# The three device calls that made sv/, sf/ and s8/ (2026-11-29, the CLI bundle of commit 130b78e6 and its backend),
# from the repository's root on the GPU machine with the bundle carried (scripts/device-bundle.sh). Each benches mix4 at
# batch 1 on the GPU, then serves it per policy and measures served ÷ bench (gpu/scripts/device-serve-bench.sh).
set -uo pipefail
. gpu/scripts/device-env.sh
S="PROFILES=profiles/h200 BATCH=1 DURATION=3 WARMUP=1 MIXES=mix4"
# sv: system shared memory, then gRPC (tensors in the requests), one server process (--frontends 0)
env OUT=$OUT $S TRANSPORTS=shm,grpc FRONTENDS=0 gpu/scripts/device-serve-bench.sh sv --concurrency 8 --client-processes 3
# sf: gRPC and HTTP (binary tensors), serve-bench's default front-ends (0: one server process)
env OUT=$OUT $S TRANSPORTS=grpc,http gpu/scripts/device-serve-bench.sh sf --concurrency 8 --client-processes 3
# s8: gRPC and HTTP with 8 front-end processes (eclip serve's default on a host of 9 cores or more)
env OUT=$OUT $S TRANSPORTS=grpc,http FRONTENDS=8 gpu/scripts/device-serve-bench.sh s8 --concurrency 8 --client-processes 3
