#!/usr/bin/env bash
# Session 65, fifth call: the heap growing factor as shipped (front-ends get it as a flag at their start) at batch 8,
# mix4 under baseline, 8 front-ends, gRPC a call per request then streamed (one ModelStreamInfer stream per client):
# ECLIP_HEAP_GROWING_PERCENT=0 (V8's own) against the default, in the order fixed, V8's own, V8's own, fixed against
# one closed-loop bench. Writes $OUT/all.tgz (each part's NAME.tgz and NAME.log) and $OUT/gpu.txt.
set -uo pipefail
. gpu/scripts/device-env.sh
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > "$OUT/gpu.txt" 2>&1
nproc >> "$OUT/gpu.txt"
mkdir -p /tmp/d
echo "== bench at $(date -u +%T)"
/tmp/node .device/eclip/eclip.mjs bench --backend gpu --mix mix4 --policies baseline --batch 8 \
  --profiles profiles/h200 --duration 3 --warmup 1 --modes graph --no-solo --no-plots --no-sim-compare \
  --out /tmp/d/bench > "$OUT/d.log" 2>&1
echo "== bench: exit $? at $(date -u +%T)"
S="PROFILES=profiles/h200 MIXES=mix4 POLICIES=baseline BATCH=8 DURATION=3 WARMUP=4 REPEATS=2 LIMIT_S=150"
arm() { # NAME PERCENT
  echo "######## $1: ECLIP_HEAP_GROWING_PERCENT=${2:-(unset)} --frontends 8 at $(date -u +%T)"
  env OUT=$OUT $S BENCH=0 FRONTENDS=8 TRANSPORTS=grpc,grpc-stream ${2:+ECLIP_HEAP_GROWING_PERCENT=$2} \
    gpu/scripts/device-serve-bench.sh "$1" --concurrency 8 --client-processes 9 --bench /tmp/d/bench/results.json
}
arm fa ""; arm va 0; arm vb 0; arm fb ""
echo "== done at $(date -u +%T)"
cd "$OUT" && tar czf all.tgz ./*.tgz ./*.log && rm -f ./[dfv]*.tgz ./*.log && ls -la
