#!/usr/bin/env bash
# On the GPU machine from the repository's root, with .device/node.xz, .device/eclip.tar.xz and .whl/ carried
# (scripts/device-bundle.sh; fastjsonschema for the backend, tritonclient and its HTTP client's wheels for the serve
# tests): the whole GPU test suite at this commit, Python then the bundled TypeScript GPU tests, on profiles/h200;
# then the README's GPU bench command as a user gives it. Logs under $OUT; a table last.
set -uo pipefail
OUT=${OUT:-out}; mkdir -p "$OUT"
export ECLIP_HOME=$PWD
{ date -u +%FT%TZ; git rev-parse HEAD 2>/dev/null; nvidia-smi --query-gpu=name,driver_version,clocks.sm,temperature.gpu,power.draw --format=csv
  python3 -c "import torch,sys;print('python',sys.version.split()[0],'torch',torch.__version__,'cuda',torch.version.cuda)"; nproc; } >"$OUT/machine.txt" 2>&1
python3 -c "import lzma,shutil;shutil.copyfileobj(lzma.open('.device/node.xz'),open('/tmp/node','wb'))"; chmod +x /tmp/node
mkdir -p .device/eclip && tar -C .device -xJf .device/eclip.tar.xz
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl >"$OUT/pip.log" 2>&1
export PYTHONPATH=/tmp/site
t0=$(date +%s)
(cd gpu && timeout 400 python3 -m pytest -q -rs tests_gpu) >"$OUT/pytest-gpu.log" 2>&1; prc=$?
t1=$(date +%s)
ECLIP_GPU_PROFILES=profiles/h200 TRITONCLIENT_PYTHON=python3 timeout 300 /tmp/node --test --test-reporter=spec \
  .device/eclip/serve-tritonclient.test.mjs .device/eclip/serve-shm-tritonclient.test.mjs >"$OUT/node-gpu.log" 2>&1; nrc=$?
t2=$(date +%s)
timeout 300 /tmp/node .device/eclip/eclip.mjs bench --backend gpu --mix mix3 --profiles profiles/h200 \
  --policies baseline,eclip-fit --modes graph --duration 4 --warmup 1 --no-plots --out "$OUT/bench-mix3" >"$OUT/bench-mix3.log" 2>&1; brc=$?
t3=$(date +%s)
echo "== table"
printf '%-28s %4s %6s  %s\n' step rc secs summary
printf '%-28s %4s %6s  %s\n' "pytest gpu/tests_gpu" $prc $((t1-t0)) "$(tail -1 "$OUT/pytest-gpu.log")"
printf '%-28s %4s %6s  %s\n' "node --test (2 bundled)" $nrc $((t2-t1)) "$(grep -E '^ℹ (pass|fail|skipped)' "$OUT/node-gpu.log" | tr '\n' ' ')"
printf '%-28s %4s %6s  %s\n' "eclip bench mix3 b8" $brc $((t3-t2)) "$(grep -iE 'STP' "$OUT/bench-mix3.log" | head -2 | tr '\n' ' ')"
grep -E "FAILED|ERROR" "$OUT/pytest-gpu.log" | head -10
