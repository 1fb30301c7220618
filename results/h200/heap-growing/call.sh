#!/usr/bin/env bash
# Session 65: a serving process's heap growing factor at batch 8 (2.4-MB image requests): ECLIP_HEAP_GROWING_PERCENT=0
# (V8's own factor, as before) against eclip's default, both arms served against one closed-loop bench of the GPU,
# back to back on one machine start. ORDER=fixed-first (default) or v8-first: which arm of each pair runs first.
# B1=1: then mix7 at batch 1 over system shared memory with one process (small requests at a high rate: no regression?).
# Writes $OUT/all.tgz (each part's NAME.tgz and NAME.log) and $OUT/gpu.txt; prints each arm's tables.
set -uo pipefail
. gpu/scripts/device-env.sh
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > "$OUT/gpu.txt" 2>&1
nproc >> "$OUT/gpu.txt"
mkdir -p /tmp/b
echo "== bench at $(date -u +%T)"
/tmp/node .device/eclip/eclip.mjs bench --backend gpu --mix mix4,mix7 --policies baseline --batch 8 \
  --profiles profiles/h200 --duration 3 --warmup 1 --modes graph --no-solo --no-plots --no-sim-compare \
  --out /tmp/b/bench > "$OUT/b.log" 2>&1
echo "== bench: exit $? at $(date -u +%T)"
S="PROFILES=profiles/h200 MIXES=mix4,mix7 POLICIES=baseline BATCH=8 DURATION=3 WARMUP=4 REPEATS=2 LIMIT_S=300"
arm() { # NAME PERCENT FRONTENDS TRANSPORTS
  echo "######## $1: ECLIP_HEAP_GROWING_PERCENT=${2:-(unset)} --frontends $3 --transport $4 at $(date -u +%T)"
  env OUT=$OUT $S BENCH=0 FRONTENDS=$3 TRANSPORTS=$4 ${2:+ECLIP_HEAP_GROWING_PERCENT=$2} \
    gpu/scripts/device-serve-bench.sh "$1" --concurrency 8 --client-processes 9 --bench /tmp/b/bench/results.json
}
if [ "${ORDER:-fixed-first}" = fixed-first ]; then
  arm f8 "" 8 http,grpc; arm v8 0 8 http,grpc; arm f0 "" 0 http; arm v0 0 0 http
else
  arm v8 0 8 http,grpc; arm f8 "" 8 http,grpc; arm v0 0 0 http; arm f0 "" 0 http
fi
if [ "${B1:-0}" = 1 ]; then
  mkdir -p /tmp/b1
  echo "== bench batch 1 at $(date -u +%T)"
  /tmp/node .device/eclip/eclip.mjs bench --backend gpu --mix mix7 --policies baseline --batch 1 \
    --profiles profiles/h200 --duration 3 --warmup 1 --modes graph --no-solo --no-plots --no-sim-compare \
    --out /tmp/b1/bench > "$OUT/b1.log" 2>&1
  echo "== bench batch 1: exit $? at $(date -u +%T)"
  b1() { # NAME PERCENT
    echo "######## $1: ECLIP_HEAP_GROWING_PERCENT=${2:-(unset)} batch 1 --frontends 0 --transport shm at $(date -u +%T)"
    env OUT=$OUT PROFILES=profiles/h200 MIXES=mix7 POLICIES=baseline BATCH=1 DURATION=3 WARMUP=4 REPEATS=2 LIMIT_S=200 \
      BENCH=0 FRONTENDS=0 TRANSPORTS=shm ${2:+ECLIP_HEAP_GROWING_PERCENT=$2} \
      gpu/scripts/device-serve-bench.sh "$1" --concurrency 8 --client-processes 3 --bench /tmp/b1/bench/results.json
  }
  if [ "${ORDER:-fixed-first}" = fixed-first ]; then b1 fs ""; b1 vs 0; else b1 vs 0; b1 fs ""; fi
fi
echo "== done at $(date -u +%T)"
cd "$OUT" && tar czf all.tgz ./*.tgz ./*.log && rm -f ./[bfv]*.tgz ./*.log && ls -la
