#!/usr/bin/env bash
# eclip-live's model control on the GPU machine (issue #19) in ONE device call of at most ~4 min on an H100, from the
# carried bundle (scripts/device-bundle.sh: carry .device/eclip.tar.xz, .device/node.xz and .whl/):
#   1. the GPU tests of model control (gpu/tests_gpu/test_model_control.py: a load while alexnet serves, one that
#      fails half way, an unknown model, an unload with executions in flight, a load again);
#   2. a load while two models serve at full rate: `eclip serve --backend gpu` under eclip-live (FRONTENDS HTTP
#      front-end processes) with ON loaded at BATCH and LOAD in the repository; gpu/scripts/live-control-probe.py
#      drives ON with CLIENTS closed-loop clients each, loads LOAD after BEFORE s (through a front-end), drives it
#      too, unloads it AFTER s later while its clients go on: each model's rate in BIN-s bins before, during and
#      after the load, and the unload's accepted and answered requests;
#   3. with BENCH_MIN_S of the budget left, `eclip bench --backend gpu --mix MIX --policies
#      baseline,eclip-fit,eclip-live --batch 1` (the on/off mix, its held runs): per active set, each worker's p99
#      under the set's plan against the set held (the report's "Active sets" table), cut at the budget.
# Usage there: OUT=... gpu/scripts/device-live-control.sh NAME
#   env: PROFILES (profiles/h100: this GPU's profile directory), ON (albert,densenet201), LOAD (vgg19), BATCH (8),
#        FRONTENDS (4), CLIENTS (4), BEFORE (3), AFTER (2), HOLD_MS (50), BUDGET_S (230: the whole call),
#        BENCH_MIN_S (110), MIX (examples/onoff.yaml), WARMUP_S (1), WINDOW_S (3)
# Writes $OUT/NAME.log (tests, server log, probe table), $OUT/NAME-probe/ (probe.json: every request; probe.txt),
# $OUT/NAME-bench.tgz (results.json, report.txt); prints a short table last.
set -uo pipefail
name=${1:?usage: device-live-control.sh NAME}
OUT=${OUT:-out}; mkdir -p "$OUT"
log=$OUT/$name.log
. "$(dirname "$0")/device-env.sh"
SECONDS=0
budget=${BUDGET_S:-230}
profiles=${PROFILES:-profiles/h100}
on=${ON:-albert,densenet201}; load=${LOAD:-vgg19}; batch=${BATCH:-8}
nvidia-smi --query-gpu=name,driver_version,clocks.sm,power.limit --format=csv >"$log" 2>&1

echo "== pytest model control (at ${SECONDS} s)" | tee -a "$log"
timeout 120 python3 -m pytest -q -s gpu/tests_gpu/test_model_control.py >>"$log" 2>&1
tests=$?
echo "pytest exit $tests at ${SECONDS} s" | tee -a "$log"

echo "== serve + load while serving (at ${SECONDS} s)" | tee -a "$log"
cfg=/tmp/$name.serve.yaml
{
  echo "format: eclip.serve/1"; echo "backend: gpu"; echo "policy: eclip-live"; echo "profiles: $PWD/$profiles"
  echo "frontends: ${FRONTENDS:-4}"; echo "dashboard: false"; echo "live: { holdMs: ${HOLD_MS:-50} }"; echo "models:"
  for m in ${on//,/ }; do echo "  - { model: $m, batch: $batch }"; done
  echo "  - { model: $load, batch: $batch, loaded: false }"
} >"$cfg"
port=8124
/tmp/node .device/eclip/eclip.mjs serve --config "$cfg" --port $port --grpc-port off >"/tmp/$name.serve.log" 2>&1 &
pid=$!
for _ in $(seq 300); do curl -sf "localhost:$port/v2/health/ready" >/dev/null && break; sleep 0.5; done
echo "server ready at ${SECONDS} s" | tee -a "$log"
timeout 90 python3 gpu/scripts/live-control-probe.py "http://127.0.0.1:$port" --on "$on" --load "$load" --batch "$batch" \
  --clients "${CLIENTS:-4}" --before "${BEFORE:-3}" --after "${AFTER:-2}" --out "$OUT/$name-probe" >>"$log" 2>&1
probe=$?
curl -s "localhost:$port/metrics" | grep -E '^eclip_(plan|active_set)' >>"$log"
kill -TERM $pid; wait $pid
grep -E 'gpu: .*(loaded|unloaded|plans added|captured under)|eclip-live|error' "/tmp/$name.serve.log" | tail -20 >>"$log"
echo "probe exit $probe at ${SECONDS} s" | tee -a "$log"

left=$((budget - SECONDS))
if [ "$left" -ge "${BENCH_MIN_S:-110}" ]; then
  echo "== bench batch 1 (${left} s left)" | tee -a "$log"
  timeout -s INT $((left - 10)) /tmp/node .device/eclip/eclip.mjs bench --backend gpu --mix "${MIX:-examples/onoff.yaml}" \
    --policies baseline,eclip-fit,eclip-live --modes graph --batch 1 --profiles "$profiles" \
    --warmup "${WARMUP_S:-1}" --duration "${WINDOW_S:-3}" --no-plots --no-sim-compare --out "/tmp/$name-bench" \
    >"$OUT/$name-bench.log" 2>&1
  echo "bench exit $? at ${SECONDS} s" | tee -a "$log"
  tar czf "$OUT/$name-bench.tgz" -C /tmp "$name-bench"
else
  echo "== bench skipped: ${left} s of the budget left" | tee -a "$log"
fi

echo "done at ${SECONDS} s" | tee -a "$log"
echo
rep=/tmp/$name-bench/report.txt
if [ -f "$rep" ]; then
  # the per-set tables of the measured eclip-live run: share, speed and p99 against each set held
  awk '/^Active sets of/ {p=1} p && /^$/ {p=0} p' "$rep" | head -40
  echo
fi
echo "GPU tests: pytest exit $tests"
cat "$OUT/$name-probe/probe.txt" 2>/dev/null || echo "probe: no table (exit $probe; see $log)"
