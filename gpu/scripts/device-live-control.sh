#!/usr/bin/env bash
# eclip-live's model control and on/off benches on the GPU machine (issue #19) in ONE device call of at most ~7 min on
# an H100, from the carried bundle (scripts/device-bundle.sh: carry .device/eclip.tar.xz, .device/node.xz and .whl/):
#   1. the GPU tests of model control (gpu/tests_gpu/test_model_control.py: a load while alexnet serves, one that
#      fails half way, an unknown model, an unload with executions in flight, a load again) and of the partitions
#      (test_partitions.py: SMs per slice, priorities, a plan's slice sets and a serving worker's capture streams);
#   2. a load while two models serve at full rate, once per ARM: `eclip serve --backend gpu` under eclip-live (FRONTENDS
#      HTTP front-end processes) with ON loaded at BATCH and LOAD in the repository; gpu/scripts/live-control-probe.py
#      drives ON with CLIENTS closed-loop clients each, loads LOAD after BEFORE s (through a front-end), drives it
#      too, unloads it AFTER s later while its clients go on: each model's rate in BIN-s bins before, during and
#      after the load, the unload's accepted and answered requests, and, from /metrics, /proc and the server log, the
#      load's steps against the others' rate, GPU time per request and the host's busy cores. Arms: `before`
#      (ECLIP_LEAN_LOAD=0: green contexts as before this change) and `lean` (the default);
#   3. per on/off mix of MIXES, with BENCH_MIN_S of the budget left, `eclip bench --backend gpu --policies
#      baseline,eclip-fit,eclip-live` at BENCH_BATCH (solo runs, each set of the table held): STP, requests and the
#      per-set tables (speed and p99 against each set held, p99 by the set a request started in and by the set it
#      ended in); a bench still running at the budget is stopped (and writes nothing).
# Usage there: OUT=... gpu/scripts/device-live-control.sh NAME
#   env: PROFILES (profiles/h100: this GPU's profile directory), ON (albert,densenet201), LOAD (vgg19), BATCH (8),
#        FRONTENDS (4), CLIENTS (4), BEFORE (3), AFTER (2), HOLD_MS (50), ARMS ("before lean"; an arm may also be
#        NAME:VAR=VALUE,VAR=VALUE, the server's environment), TESTS (1; 0 skips step 1), BUDGET_S (450: the whole
#        call), BENCH_MIN_S (130), MIXES ("examples/onoff-long.yaml examples/onoff.yaml"; empty: no bench),
#        BENCH_BATCH (1), WARMUP_S (1), WINDOW_S (4)
# Writes $OUT/NAME.log (tests, server log lines, probe tables), $OUT/NAME-probe.tgz (per arm: probe.json with every
# request and sample, probe.txt, the server's log), $OUT/NAME-bench.tgz (per mix: results.json, report.txt,
# requests.csv, plans, the bench's log); prints a short table last.
set -uo pipefail
name=${1:?usage: device-live-control.sh NAME}
OUT=${OUT:-out}; mkdir -p "$OUT"
log=$OUT/$name.log
. "$(dirname "$0")/device-env.sh"
SECONDS=0
budget=${BUDGET_S:-450}
profiles=${PROFILES:-profiles/h100}
on=${ON:-albert,densenet201}; load=${LOAD:-vgg19}; batch=${BATCH:-8}
nvidia-smi --query-gpu=name,driver_version,clocks.sm,power.limit --format=csv >"$log" 2>&1

tests=skipped
if [ "${TESTS:-1}" = 1 ]; then
  echo "== pytest model control (at ${SECONDS} s)" | tee -a "$log"
  timeout 150 python3 -m pytest -q -s gpu/tests_gpu/test_model_control.py \
    "gpu/tests_gpu/test_partitions.py::test_a_plans_slices_make_no_green_context_and_a_capture_stream_reuses_the_workers" \
    >>"$log" 2>&1
  tests=$?
  echo "pytest exit $tests at ${SECONDS} s" | tee -a "$log"
fi

cfg=/tmp/$name.serve.yaml
{
  echo "format: eclip.serve/1"; echo "backend: gpu"; echo "policy: eclip-live"; echo "profiles: $PWD/$profiles"
  echo "frontends: ${FRONTENDS:-4}"; echo "dashboard: false"; echo "live: { holdMs: ${HOLD_MS:-50} }"; echo "models:"
  for m in ${on//,/ }; do echo "  - { model: $m, batch: $batch }"; done
  echo "  - { model: $load, batch: $batch, loaded: false }"
} >"$cfg"

# one server per arm, fresh: its load of LOAD is the first the process makes (no green context or kernel of it yet)
probe_arm() {
  local arm=$1 envs=$2 port=$3 dir=/tmp/$name-probe-$1 slog=/tmp/$name-$1.serve.log
  echo "== serve + load while serving, arm $arm (${envs//,/ }, at ${SECONDS} s)" | tee -a "$log"
  env ${envs//,/ } /tmp/node .device/eclip/eclip.mjs serve --config "$cfg" --port "$port" --grpc-port off \
    >"$slog" 2>&1 &
  local pid=$!
  for _ in $(seq 300); do
    curl -sf "localhost:$port/v2/health/ready" >/dev/null && break
    kill -0 "$pid" 2>/dev/null || break  # the server ended (its log says why)
    sleep 0.5
  done
  # the backend process (python3 -m eclip_gpu backend), a child of the engine: its CPU is sampled beside the host's
  if ! curl -sf "localhost:$port/v2/health/ready" >/dev/null; then
    echo "server did not start (at ${SECONDS} s): $(tail -3 "$slog" | tr '\n' ' ')" | tee -a "$log"
  fi
  local bpid
  bpid=$(pgrep -P "$pid" -f eclip_gpu | head -1)
  echo "engine $pid, backend ${bpid:-none} (at ${SECONDS} s)" | tee -a "$log"
  timeout 100 python3 gpu/scripts/live-control-probe.py "http://127.0.0.1:$port" --on "$on" --load "$load" \
    --batch "$batch" --clients "${CLIENTS:-4}" --before "${BEFORE:-3}" --after "${AFTER:-2}" --out "$dir" \
    --server-log "$slog" --pids "engine=$pid${bpid:+,backend=$bpid}" >>"$log" 2>&1
  local rc=$?
  curl -s "localhost:$port/metrics" | grep -E '^eclip_(plan|active_set)' >>"$log"
  kill -TERM "$pid" 2>/dev/null; wait "$pid"
  grep -E 'gpu: .*(loaded|unloaded|plans added|captured under|load phases|green contexts)|eclip-live|error' "$slog" \
    | tail -20 >>"$log"
  mkdir -p "$dir" && cp "$slog" "$dir/serve.log"
  echo "probe $arm exit $rc at ${SECONDS} s" | tee -a "$log"
}
port=8124
# an arm: `before` (ECLIP_LEAN_LOAD=0), `lean` (the default), or NAME:VAR=VALUE,VAR=VALUE (the server's environment)
arms=${ARMS:-before lean}
names=""
for spec in $arms; do
  arm=${spec%%:*}
  case $spec in before) envs=ECLIP_LEAN_LOAD=0 ;; *:*) envs=${spec#*:} ;; *) envs=ECLIP_LEAN_LOAD=1 ;; esac
  probe_arm "$arm" "$envs" "$port"
  names="$names $arm"
  port=$((port + 1))
done
arms=$names
tar czf "$OUT/$name-probe.tgz" -C /tmp $(for a in $arms; do echo "$name-probe-$a"; done)

# one bench per on/off mix (a bench cut at the budget writes nothing; each that ends keeps its report)
benches=""
for f in ${MIXES-examples/onoff-long.yaml examples/onoff.yaml}; do
  b=$name-bench-$(basename "$f" .yaml)
  left=$((budget - SECONDS))
  if [ "$left" -lt "${BENCH_MIN_S:-130}" ]; then echo "== bench $f skipped: ${left} s of the budget left" | tee -a "$log"; continue; fi
  echo "== bench batch ${BENCH_BATCH:-1}: $f (${left} s left)" | tee -a "$log"
  timeout -s INT $((left - 10)) /tmp/node .device/eclip/eclip.mjs bench --backend gpu --mix "$f" \
    --policies baseline,eclip-fit,eclip-live --modes graph --batch "${BENCH_BATCH:-1}" --profiles "$profiles" \
    --warmup "${WARMUP_S:-1}" --duration "${WINDOW_S:-4}" --no-plots --no-sim-compare --out "/tmp/$b" >"/tmp/$b.log" 2>&1
  echo "bench $f exit $? at ${SECONDS} s" | tee -a "$log"
  mkdir -p "/tmp/$b" && cp "/tmp/$b.log" "/tmp/$b/bench.log"
  benches="$benches $b"
done
[ -n "$benches" ] && tar czf "$OUT/$name-bench.tgz" -C /tmp $benches

echo "done at ${SECONDS} s" | tee -a "$log"
echo
for b in $benches; do
  # per mix: the policies' STP and requests, then the measured eclip-live run's active sets against each set held
  [ -f "/tmp/$b/report.txt" ] && awk '/^Following the active set|^Active sets of/ {p=1} p && /^$/ {p=0; print ""} p' \
    "/tmp/$b/report.txt" | cut -c1-330 | head -30
done
echo "GPU tests: pytest exit $tests"
for arm in $arms; do
  echo "-- load while serving, arm $arm"
  cat "/tmp/$name-probe-$arm/probe.txt" 2>/dev/null || echo "probe $arm: no table (see $log)"
done
