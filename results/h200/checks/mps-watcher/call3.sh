#!/usr/bin/env bash
# session 63, call 3: (1) the MPS watcher as changed after review (GPU test; a bench stopped by SIGTERM in an MPS
# run); (2) gRPC served with a ModelInfer call per request against one ModelStreamInfer stream per client: mix4 at
# batch 1 under baseline and eclip-fit, 8 front-ends, 9 client processes, two windows per server after a 4-s
# warm-up, in both orders (s9: grpc first; t9: grpc-stream first).
set -uo pipefail
. gpu/scripts/device-env.sh
exec > >(tee "$OUT/call3.txt") 2>&1
date -u; nvidia-smi --query-gpu=name,driver_version,clocks.sm,temperature.gpu,power.draw --format=csv
pgrep -fa 'nvidia-cuda-mps|eclip_gpu.mps' || echo "no MPS process before"
echo "== GPU MPS tests"
timeout 200 python3 -m pytest -q gpu/tests_gpu/test_mps.py > "$OUT/pytest3.txt" 2>&1; echo "pytest rc=$?"; tail -2 "$OUT/pytest3.txt"
echo "== a bench stopped by SIGTERM in its MPS run"
rm -rf /tmp/sig3
setsid /tmp/node .device/eclip/eclip.mjs bench --backend gpu --profiles profiles/h200 --mix mix2 --batch 8 \
  --policies mps-unlimited --modes graph --duration 8 --warmup 1 --no-solo --no-plots --no-sim-compare \
  --out /tmp/sig3 > "$OUT/sigterm3.log" 2>&1 &
pid=$!
for i in $(seq 1 1500); do pgrep -f nvidia-cuda-mps-control >/dev/null && break; sleep 0.1; done
sleep 4; ls /tmp/eclip-mps-*/ 2>/dev/null | tr '\n' ' '; echo
t0=$(date +%s.%N); kill -TERM "$pid"; wait "$pid"; echo "bench exit $?"
for i in $(seq 1 400); do pgrep -f 'nvidia-cuda-mps|eclip_gpu.mps' >/dev/null || break; sleep 0.1; done
t1=$(date +%s.%N)
echo "MPS processes, workers and watcher gone $(python3 -c "print(f'{$t1-$t0:.1f}')") s after SIGTERM; folders left: $(ls -d /tmp/eclip-mps-* 2>/dev/null | wc -l)"
pgrep -fa 'nvidia-cuda-mps|eclip_gpu.mps' | grep -v defunct | sed 's/^/  STILL: /'
S="PROFILES=profiles/h200 BATCH=1 DURATION=3 WARMUP=4 BENCH_WARMUP=1 REPEATS=2 MIXES=mix4 FRONTENDS=8 LIMIT_S=200"
echo "== s9 (grpc, then grpc-stream) at ${SECONDS} s"
env OUT=$OUT $S TRANSPORTS=grpc,grpc-stream gpu/scripts/device-serve-bench.sh s9 --concurrency 8 --client-processes 9
echo "== t9 (grpc-stream, then grpc) at ${SECONDS} s"
env OUT=$OUT $S TRANSPORTS=grpc-stream,grpc gpu/scripts/device-serve-bench.sh t9 --concurrency 8 --client-processes 9
echo "done at ${SECONDS} s"; date -u
