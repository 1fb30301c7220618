#!/usr/bin/env bash
# Session 65, third and fourth calls: the heap growing factor at batch 1 (mix4: thousands of requests/s), baseline and
# eclip-fit, 8 front-ends, gRPC (a call per request) then HTTP: ECLIP_HEAP_GROWING_PERCENT=0 (V8's own) against the
# default, both against one closed-loop bench. ORDER=fixed-first (default) or v8-first.
# Writes $OUT/all.tgz (each part's NAME.tgz and NAME.log) and $OUT/gpu.txt; prints each part's tables.
set -uo pipefail
. gpu/scripts/device-env.sh
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > "$OUT/gpu.txt" 2>&1
nproc >> "$OUT/gpu.txt"
mkdir -p /tmp/c
echo "== bench at $(date -u +%T)"
/tmp/node .device/eclip/eclip.mjs bench --backend gpu --mix mix4 --policies baseline,eclip-fit --batch 1 \
  --profiles profiles/h200 --duration 3 --warmup 1 --modes graph --no-solo --no-plots --no-sim-compare \
  --out /tmp/c/bench > "$OUT/c.log" 2>&1
echo "== bench: exit $? at $(date -u +%T)"
S="PROFILES=profiles/h200 MIXES=mix4 POLICIES=baseline,eclip-fit BATCH=1 DURATION=3 WARMUP=4 REPEATS=2 LIMIT_S=280"
arm() { # NAME PERCENT
  echo "######## $1: ECLIP_HEAP_GROWING_PERCENT=${2:-(unset)} batch 1 --frontends 8 at $(date -u +%T)"
  env OUT=$OUT $S BENCH=0 FRONTENDS=8 TRANSPORTS=grpc,http ${2:+ECLIP_HEAP_GROWING_PERCENT=$2} \
    gpu/scripts/device-serve-bench.sh "$1" --concurrency 8 --client-processes 9 --bench /tmp/c/bench/results.json
}
if [ "${ORDER:-fixed-first}" = fixed-first ]; then arm f1 ""; arm v1 0; else arm v1 0; arm f1 ""; fi
echo "== done at $(date -u +%T)"
cd "$OUT" && tar czf all.tgz ./*.tgz ./*.log && rm -f ./[cfv]*.tgz ./*.log && ls -la
