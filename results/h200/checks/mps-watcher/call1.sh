#!/usr/bin/env bash
# session 63, call 1: the MPS daemon's watcher on a real daemon (SIGTERM to the bench; Ctrl-C to its process group),
# the GPU's MPS tests, and the batch-1 repeat of mps-unlimited (Z1) that session 62's deadline cut.
set -uo pipefail
. gpu/scripts/device-env.sh
exec > >(tee "$OUT/call.log") 2>&1
date -u; nvidia-smi --query-gpu=name,driver_version,clocks.sm,temperature.gpu,power.draw --format=csv
git log --oneline -1 2>/dev/null || true
pgrep -fa nvidia-cuda-mps || echo "no MPS daemon before"
echo "== pytest (CPU and GPU MPS tests)"
timeout 200 python3 -m pytest -q gpu/tests/test_mps.py gpu/tests_gpu/test_mps.py > "$OUT/pytest.log" 2>&1
echo "pytest rc=$?"; tail -3 "$OUT/pytest.log"
pgrep -fa nvidia-cuda-mps || echo "no MPS daemon after the tests"

sig_check() { # NAME SIGNAL group|node
  local name=$1 sig=$2 whom=$3 pid t0 t1 i
  rm -rf "/tmp/$name"
  setsid /tmp/node .device/eclip/eclip.mjs bench --backend gpu --profiles profiles/h200 --mix mix2 --batch 8 \
    --policies mps-unlimited --modes graph --duration 8 --warmup 1 --no-solo --no-plots --no-sim-compare \
    --out "/tmp/$name" > "$OUT/$name.log" 2>&1 &
  pid=$!
  for i in $(seq 1 1500); do pgrep -f nvidia-cuda-mps-control >/dev/null && break; sleep 0.1; done
  echo "$name: MPS daemon up after ${i}00 ms polls; $(ls -d /tmp/eclip-mps-* 2>/dev/null | tr '\n' ' ')"
  pgrep -fa "eclip_gpu.mps watch" | sed 's/^/  watcher: /'
  sleep 4
  t0=$(date +%s.%N)
  if [ "$whom" = group ]; then kill -s "$sig" -- "-$pid"; else kill -s "$sig" "$pid"; fi
  wait "$pid"; echo "$name: bench exit $?"
  for i in $(seq 1 400); do pgrep -f 'nvidia-cuda-mps|eclip_gpu.mps' >/dev/null || break; sleep 0.1; done
  t1=$(date +%s.%N)
  echo "$name: signal $sig to the $whom; MPS processes, workers and watcher gone $(python3 -c "print(f'{$t1-$t0:.1f}')") s after it;" \
    "folders left: $(ls -d /tmp/eclip-mps-* 2>/dev/null | wc -l)"
  pgrep -fa 'nvidia-cuda-mps|eclip_gpu.mps' | sed 's/^/  STILL: /'
  tail -4 "$OUT/$name.log"
}
echo "== watcher"
sig_check sigterm TERM node
sig_check sigint INT group
PYTHONPATH="gpu:$PYTHONPATH" python3 -c 'from eclip_gpu.mps import reap_orphans
print("reaped after the checks:", reap_orphans())'

echo "== Z1 (mps-unlimited repeat at batch 1)"
common=(--profiles profiles/h200 --policies baseline,mps-unlimited --modes graph --duration 4 --warmup 1 --no-solo
  --no-plots --no-sim-compare)
OUT=$OUT LIMIT_S=${Z1_LIMIT_S:-540} ELAPSED=$SECONDS gpu/scripts/device-bench-parts.sh Z1:mix1,mix6:100:1 -- "${common[@]}"
pgrep -fa nvidia-cuda-mps || echo "no MPS daemon left"
date -u
