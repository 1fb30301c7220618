#!/usr/bin/env bash
# On the GPU machine from the repository's root (run where it was copied from, .device/s67/, beside client-whl-http/ of
# tritonclient.http's wheels, with .whl/ and the bundle carried): the bundled GPU serve tests (tritonclient, shared memory) on the H200's
# profiles, then eclip serve with 4 front-ends on the GPU backend checked by frontends_check.py. Logs under $OUT.
set -uo pipefail
OUT=${OUT:-out}; mkdir -p "$OUT"; here=$(dirname "$0")
export ECLIP_HOME=$PWD
python3 -c "import lzma,shutil;shutil.copyfileobj(lzma.open('.device/node.xz'),open('/tmp/node','wb'))"; chmod +x /tmp/node
mkdir -p .device/eclip && tar -C .device -xJf .device/eclip.tar.xz
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl "$here"/client-whl-http/*.whl >"$OUT/pip.log" 2>&1
export PYTHONPATH=/tmp/site
{ date -u +%FT%TZ; nvidia-smi --query-gpu=name,driver_version,clocks.sm,temperature.gpu --format=csv; } >"$OUT/machine.txt"
ECLIP_GPU_PROFILES=profiles/h200 TRITONCLIENT_PYTHON=python3 timeout 420 /tmp/node --test --test-reporter=spec \
  .device/eclip/serve-tritonclient.test.mjs .device/eclip/serve-shm-tritonclient.test.mjs >"$OUT/gpu-tests.log" 2>&1
echo "gpu tests rc $?"; grep -E "^ℹ (tests|pass|fail|skipped)|✖|﹣" "$OUT/gpu-tests.log" | head -20
cat >/tmp/fe.yaml <<YAML
format: eclip.serve/1
host: 127.0.0.1
port: 8000
backend: gpu
policy: model-wise
profiles: $PWD/profiles/h200
models:
  - { model: alexnet, batch: 8 }
  - { model: albert, batch: 8 }
YAML
setsid /tmp/node .device/eclip/eclip.mjs serve --config /tmp/fe.yaml --grpc-port 8001 --frontends 4 >"$OUT/serve-fe.log" 2>&1 &
sp=$!
for _ in $(seq 480); do grep -q listening "$OUT/serve-fe.log" && break; kill -0 $sp 2>/dev/null || break; sleep 0.5; done
timeout 120 python3 "$here/frontends_check.py" 127.0.0.1:8000 127.0.0.1:8001 2>&1 | tee "$OUT/frontends-check.log"
kill -TERM $sp; wait $sp; echo "serve exit $?"
tail -3 "$OUT/serve-fe.log"
