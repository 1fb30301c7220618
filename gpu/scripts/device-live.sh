#!/usr/bin/env bash
# eclip-live on the GPU machine (issue #19), from the carried bundle (scripts/device-bundle.sh: carry .device/eclip.tar.xz,
# .device/node.xz and .whl/, as for device-bench.sh):
#   1. the GPU tests of a plan table in the backend (each worker captured under every keyed plan, infer by key);
#   2. `eclip serve --backend gpu` under policy eclip-live over MODELS (profiles/h100): the table captured at load,
#      then requests to one model alone and to all at once; each response's compute_us and /metrics (active set,
#      plan in force, switches) are logged: a model alone should run at its whole-GPU time.
# Usage there: OUT=... gpu/scripts/device-live.sh NAME   env: MODELS (albert,densenet201,vgg19) HOLD_MS (5)
# Writes $OUT/NAME.log. Not yet here (needs the GPU runner to follow a table, docs/live.md): `eclip bench --backend
# gpu --policies baseline,eclip-fit,eclip-live --mix examples/onoff.yaml`, the issue's recorded H100 series.
set -uo pipefail
name=${1:?usage: device-live.sh NAME}
OUT=${OUT:-out}; mkdir -p "$OUT"
log=$OUT/$name.log
. "$(dirname "$0")/device-env.sh"
models=${MODELS:-albert,densenet201,vgg19}
nvidia-smi --query-gpu=name,driver_version,clocks.sm,power.limit --format=csv >"$log" 2>&1
echo "== pytest plan tables" | tee -a "$log"
python3 -m pytest -q gpu/tests_gpu/test_serving.py -k plans >>"$log" 2>&1; echo "pytest exit $?" | tee -a "$log"
cfg=/tmp/$name.serve.yaml
{
  echo "format: eclip.serve/1"; echo "backend: gpu"; echo "policy: eclip-live"; echo "profiles: $PWD/profiles/h100"
  echo "frontends: 0"; echo "live: { holdMs: ${HOLD_MS:-5} }"; echo "models:"
  for m in ${models//,/ }; do echo "  - { model: $m }"; done
} >"$cfg"
/tmp/node .device/eclip/eclip.mjs serve --config "$cfg" --port 8123 --grpc-port off >>"$log" 2>&1 & pid=$!
for _ in $(seq 600); do curl -sf localhost:8123/v2/health/ready >/dev/null && break; sleep 1; done
python3 - "$models" >>"$log" 2>&1 <<'PY'
import json, sys, urllib.request, threading
models = sys.argv[1].split(",")
def meta(m): return json.load(urllib.request.urlopen(f"http://localhost:8123/v2/models/{m}"))
def infer(m):
    i = meta(m)["inputs"][0]; shape = [1] + i["shape"][1:]; n = 1
    for d in shape: n *= d
    body = json.dumps({"inputs": [{"name": i["name"], "datatype": i["datatype"], "shape": shape, "data": [1] * n}]}).encode()
    r = urllib.request.urlopen(urllib.request.Request(f"http://localhost:8123/v2/models/{m}/infer", body, {"content-type": "application/json"}))
    return json.load(r)["parameters"]["compute_us"]
import time
for m in models:
    time.sleep(0.05)
    print("alone", m, [infer(m) for _ in range(20)][-5:])
out = {m: [] for m in models}
def loop(m):
    for _ in range(40): out[m].append(infer(m))
ts = [threading.Thread(target=loop, args=(m,)) for m in models]
[t.start() for t in ts]; [t.join() for t in ts]
for m in models: print("together", m, out[m][-5:])
print("\n".join(l for l in urllib.request.urlopen("http://localhost:8123/metrics").read().decode().splitlines()
                if l.startswith(("eclip_plan", "eclip_active", "eclip_model_active"))))
PY
kill -TERM $pid; wait $pid
echo "done at ${SECONDS} s" | tee -a "$log"
