#!/usr/bin/env bash
# The native request path on the GPU machine (issue #17), in ONE device call, from the carried bundle
# (scripts/device-bundle.sh: carry .device/eclip.tar.xz, .device/node.xz and .whl/, as for device-bench.sh):
#   1. the GPU tests of the native path (gpu/tests_gpu/test_hotpath.py) and of the Python path it falls back to
#      (test_regions.py);
#   2. the backend alone (gpu/scripts/backend-rate.py: no server, inputs and outputs in a system region), Python
#      path and native path alternated REPEATS times on the same mix: req/s and process CPU per request;
#   3. served: `eclip bench --backend gpu` of MIX × POLICIES at BATCH once, then `eclip serve-bench --backend gpu
#      --transport TRANSPORTS --bench <it> [serve-bench options]` once per leg of LEGS, back to back: served ÷ bench
#      and host CPU per request, each way. A leg is NAME:VAR=VALUE[,VAR=VALUE…][:OPTION,VALUE,…], the environment of
#      its server and serve-bench options of its own (default: python:ECLIP_NATIVE=0 native:ECLIP_NATIVE=1). A leg
#      with CLI=PATH runs that CLI bundle (before/after: BEFORE=<commit> scripts/device-bundle.sh packs a second one
#      as .device/before.tar.xz, unpacked to .device/before/eclip.mjs), else .device/eclip/eclip.mjs.
# Usage there: OUT=... gpu/scripts/device-hotpath.sh NAME [serve-bench options...]
#   env: MIX (mix7) MODELS (the mix's models for step 2: alexnet,alexnet,alexnet) BATCH (1) POLICIES
#        (baseline,eclip-fit) TRANSPORTS (shm) DURATION (4) WARMUP (1) REPEATS (2: step 2's alternations) STEPS
#        ("1 2 3") LEGS SERVE_REPEATS (1: step 3's serve-bench --repeats, windows back to back per server start)
#        SERVER_STARTS (1: serve-bench --server-starts, fresh servers per policy in each leg)
#        LIMIT_S (560: a step that would not end by then is skipped; a leg when less than its estimate is left: per
#        policy and server start 25 s of start-up, then per transport its warm-up, windows and 2 s)
# Writes $OUT/NAME.log, $OUT/NAME-rate.json (step 2, one line per run) and $OUT/NAME.tgz (step 3's bench and serve
# directories); prints a short table last.
set -uo pipefail
name=${1:?usage: device-hotpath.sh NAME [serve-bench options...]}
shift
legs=${LEGS:-python:ECLIP_NATIVE=0 native:ECLIP_NATIVE=1}
OUT=${OUT:-out}; mkdir -p "$OUT"
log=$OUT/$name.log
. "$(dirname "$0")/device-env.sh"
mix=${MIX:-mix7}; models=${MODELS:-alexnet,alexnet,alexnet}; batch=${BATCH:-1}
policies=${POLICIES:-baseline,eclip-fit}; transports=${TRANSPORTS:-shm}
limit=${LIMIT_S:-560}; steps=" ${STEPS:-1 2 3} "
dir=/tmp/$name; rm -rf "$dir"; mkdir -p "$dir"
SECONDS=0
nvidia-smi --query-gpu=name,driver_version,clocks.sm,power.limit,temperature.gpu --format=csv >"$log" 2>&1
left() { echo $((limit - SECONDS)); }
if [[ $steps == *" 1 "* ]]; then
  echo "== 1. GPU tests (at ${SECONDS} s)" | tee -a "$log"
  timeout -k 5 "$(( $(left) > 200 ? 200 : $(left) ))" python3 -m pytest -q -x gpu/tests_gpu/test_hotpath.py \
    gpu/tests_gpu/test_regions.py >>"$log" 2>&1
  echo "pytest exit $? at ${SECONDS} s" | tee -a "$log"
fi
: >"$OUT/$name-rate.json"
if [[ $steps == *" 2 "* ]]; then
  echo "== 2. the backend alone, $models batch $batch (at ${SECONDS} s)" | tee -a "$log"
  for i in $(seq "${REPEATS:-2}"); do
    for path in python native; do
      [ "$(left)" -lt 40 ] && { echo "skipped the rest of step 2" | tee -a "$log"; break 2; }
      timeout -k 5 60 python3 gpu/scripts/backend-rate.py --models "$models" --batch "$batch" --path "$path" \
        --warmup 1 --window 4 --json "$dir/rate.json" 2>>"$log" | tee -a "$log"
      [ -f "$dir/rate.json" ] && { cat "$dir/rate.json"; echo; } >>"$OUT/$name-rate.json" && rm -f "$dir/rate.json"
    done
  done
fi
if [[ $steps == *" 3 "* ]]; then
  eclip() { timeout -k 10 "$(( $(left) > 30 ? $(left) : 30 ))" /tmp/node "${CLI:-.device/eclip/eclip.mjs}" "$@"; }
  echo "== 3. bench $mix / $policies / batch $batch (at ${SECONDS} s)" | tee -a "$log"
  eclip bench --backend gpu --mix "$mix" --policies "$policies" --batch "$batch" --modes graph \
    --duration "${DURATION:-4}" --warmup "${WARMUP:-1}" --no-solo --no-plots --no-sim-compare --out "$dir/bench" \
    >>"$log" 2>&1
  echo "bench exit $? at ${SECONDS} s" | tee -a "$log"
  sb=(--duration "${DURATION:-4}" --warmup "${WARMUP:-1}")
  sb_repeats=${SERVE_REPEATS:-1}; sb_starts=${SERVER_STARTS:-1}
  [ "$sb_repeats" != 1 ] && sb+=(--repeats "$sb_repeats")
  [ "$sb_starts" != 1 ] && sb+=(--server-starts "$sb_starts")
  per_start=$((25 + ($(cut -d. -f1 <<<"${WARMUP:-1}") + $(cut -d. -f1 <<<"${DURATION:-4}") * sb_repeats + 2) * \
    $(tr ',' '\n' <<<"$transports" | grep -c .)))
  leg_est=$((per_start * sb_starts * $(tr ',' '\n' <<<"$policies" | grep -c .)))
  [ "$leg_est" -lt 100 ] && leg_est=100
  for leg in $legs; do
    IFS=: read -r lname lenv lopts <<<"$leg"
    [ "$(left)" -lt "$leg_est" ] && { echo "skipped serve-bench leg $lname ($(left) s left, estimate $leg_est s)" | tee -a "$log"; continue; }
    echo "== serve-bench leg $lname ($lenv) --transport $transports $* (at ${SECONDS} s)" | tee -a "$log"
    (export ${lenv//,/ }; eclip serve-bench --backend gpu --mix "$mix" --policies "$policies" --batch "$batch" \
      "${sb[@]}" --transport "$transports" --bench "$dir/bench/results.json" \
      --out "$dir/serve-$lname" "$@" ${lopts//,/ } 2>&1 | grep -v '^gpu: captured' >>"$log"
    echo "serve-bench exit ${PIPESTATUS[0]} at ${SECONDS} s" | tee -a "$log")
  done
  tar czf "$OUT/$name.tgz" -C /tmp "$name"
fi
echo "==== summary"
grep -E '^(python|native) path' "$log"
for leg in $legs; do
  lname=${leg%%:*}
  for t in ${transports//,/ }; do
    f=$dir/serve-$lname/$t/report.txt
    [ -f "$f" ] || f=$dir/serve-$lname/report.txt
    [ -f "$f" ] || continue
    echo "-- leg $lname ($t)"
    awk '/^(Served ÷ bench|Spread over the repeats|Server CPU per request)/{p=1} p&&/^$/{p=0} p' "$f"
    grep -q '^Spread over the repeats' "$f" ||
      grep -E 'host CPU in the window' "$f" | sed -E 's/^ +note: host CPU in the window: /    host CPU: /'
  done
done
grep -E 'passed|failed' "$log" | tail -2
echo "== done at ${SECONDS} s"
