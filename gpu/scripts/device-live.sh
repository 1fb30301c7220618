#!/usr/bin/env bash
# eclip-live on the GPU machine (issue #19), from the carried bundle (scripts/device-bundle.sh: carry .device/eclip.tar.xz,
# .device/node.xz and .whl/, as for device-bench.sh):
#   1. the GPU tests of a plan table in the backend: serving (each worker captured under every keyed plan, infer by
#      key) and the bench runner (a run that follows a table as its active set changes);
#   2. per batch of BATCHES, `eclip bench --backend gpu --policies baseline,eclip-fit,eclip-live` on MIX (an on/off
#      workload over a paper mix: each model busy about half the time, independently); every run is also simulated
#      (bench's default with --backend gpu), so the report puts measured and simulated side by side: per policy
#      requests, STP, switches and p99, per active set its share and speed vs the set's plan held alone (the held
#      runs are part of the bench); writes $OUT/NAME-bB.tgz (results.json, requests.csv, report.txt, plans) and
#      $OUT/NAME-bB.log;
#   3. with SERVE=1, `eclip serve --backend gpu` under eclip-live over MODELS: requests to one model alone and to all
#      at once, each response's compute_us and /metrics (active set, plan in force, switches) logged.
# Usage there: OUT=... gpu/scripts/device-live.sh NAME
#   env: BATCHES ("8 1"), MIX (examples/onoff.yaml), WARMUP_S (1), WINDOW_S (4), HOLD_MS (5), SEED (1),
#        BUDGET_S (480 s from the start: a batch with under 120 s of it left is skipped, a bench running past it stopped),
#        SERVE (0), MODELS (albert,densenet201,vgg19), PROFILES (profiles/h100: the profile directory of this GPU)
# Writes $OUT/NAME.log (the tests and what ran or was skipped).
set -uo pipefail
name=${1:?usage: device-live.sh NAME}
OUT=${OUT:-out}; mkdir -p "$OUT"
log=$OUT/$name.log
. "$(dirname "$0")/device-env.sh"
budget=${BUDGET_S:-480}
nvidia-smi --query-gpu=name,driver_version,clocks.sm,power.limit --format=csv >"$log" 2>&1
echo "== pytest plan tables (serving -k plans, runner live)" | tee -a "$log"
python3 -m pytest -q -s gpu/tests_gpu/test_serving.py gpu/tests_gpu/test_runner_live.py -k "plans or live" >>"$log" 2>&1
echo "pytest exit $? at ${SECONDS} s" | tee -a "$log"
for b in ${BATCHES:-8 1}; do
  left=$((budget - SECONDS))
  # a bench of 13 runs needs about this long at the default window: do not start one that cannot finish
  if [ "$left" -lt 120 ]; then echo "== batch $b skipped: ${left} s of the budget left" | tee -a "$log"; continue; fi
  run=$name-b$b
  echo "== bench batch $b (${left} s left) -> $run.tgz" | tee -a "$log"
  timeout -s INT "$left" /tmp/node .device/eclip/eclip.mjs bench --backend gpu --mix "${MIX:-examples/onoff.yaml}" \
    --policies baseline,eclip-fit,eclip-live --modes graph --batch "$b" --profiles "${PROFILES:-profiles/h100}" \
    --warmup "${WARMUP_S:-1}" --duration "${WINDOW_S:-4}" --hold-ms "${HOLD_MS:-5}" --seed "${SEED:-1}" \
    --no-plots --out "/tmp/$run" >"$OUT/$run.log" 2>&1
  echo "bench batch $b exit $? at ${SECONDS} s" | tee -a "$log"
  tar czf "$OUT/$run.tgz" -C /tmp "$run"
done
if [ "${SERVE:-0}" = 1 ]; then
  models=${MODELS:-albert,densenet201,vgg19}
  cfg=/tmp/$name.serve.yaml
  {
    echo "format: eclip.serve/1"; echo "backend: gpu"; echo "policy: eclip-live"; echo "profiles: $PWD/${PROFILES:-profiles/h100}"
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
fi
echo "done at ${SECONDS} s" | tee -a "$log"
