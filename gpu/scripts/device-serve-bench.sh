#!/usr/bin/env bash
# Served ÷ bench on the GPU machine in ONE device call (issue #17 item 5), from the carried bundle (scripts/device-bundle.sh:
# carry .device/eclip.tar.xz, .device/node.xz and .whl/, as for device-bench.sh):
#   1. `eclip bench --backend gpu`, closed loop, graph mode, for MIXES × POLICIES at BATCH (the GPU's rate, no server);
#   2. `eclip serve-bench --backend gpu --bench <that results.json> --transport TRANSPORTS`: one server per (mix,
#      policy), each transport measured in turn against it (http: binary tensors; grpc: raw_input_contents; shm:
#      system shared-memory regions; cuda-shm: CUDA shared-memory regions from a Python client), same mixes,
#      policies, batch, window.
# With WORKLOADS (workload files or names, as --workload takes them: disb-A,disb-B; disb) the workloads' arrivals are
# sent open loop (docs/serve-bench.md#arrivals), at batch 1 as the workloads say (BATCH is not used), and step 1 is a
# SIMULATED `eclip bench --workload` of the same workloads, seed and window (a GPU bench of 60-s workloads does not fit
# a device call): its latency, SLO attainment and DISB metrics sit beside the served ones. ALONE (workload files or
# names: examples/disb-alone.yaml's disb-A-alone,disb-E-alone) serves the real-time workers alone as well, under
# baseline only, after the workloads (serve/ → serve-alone/): what DISB's RT latency increase is taken against, served.
# Usage there: OUT=... gpu/scripts/device-serve-bench.sh NAME [more serve-bench options...] (to ALONE's runs too:
# --concurrency is refused there where every real-time worker of ALONE runs open loop, as disb-A-alone's does)
#   env: PROFILES (default: the shipped profiles/<gpu> made on this GPU) WORKLOADS (none: MIXES) MIXES (mix3) POLICIES (baseline,eclip-fit) BATCH (8) DURATION (5) WARMUP (2) TRANSPORTS (http,grpc,shm,cuda-shm)
#        REPEATS (1: serve-bench --repeats, windows back to back per server start) SERVER_STARTS (1: serve-bench
#        --server-starts, fresh servers per (mix, policy)); both also for ALONE's runs
#        BENCH_DURATION, BENCH_WARMUP (the bench's window and warm-up; default DURATION, WARMUP)
#        LIMIT_S (560: a step that would not end by then is skipped, and each is cut there, so the tar comes back)
#        EST_S (estimate of the serve-bench step, s; default per (mix, policy) and server start 25 s of start-up
#        plus, per transport, its warm-up, REPEATS windows and 2 s: fitted to the serve-bench steps of
#        results/h100/serve-sweep/*/device.log) BENCH=0 (serve-bench alone, no ratio) FRONTENDS (serve-bench
#        --frontends; default: serve-bench's) ALONE (none) CLI (the CLI bundle that runs every step; default
#        .device/eclip/eclip.mjs; .device/before/eclip.mjs is BEFORE=<commit> scripts/device-bundle.sh's, for legs
#        of two commits: device-serve-legs.sh's LEGS="old:CLI=.device/before/eclip.mjs new")
# Writes $OUT/NAME.tgz (bench/ and serve/<transport>/: results.json, requests.csv, report.txt) and $OUT/NAME.log;
# prints each transport's served ÷ bench tables and host CPU per request last.
# Time: every (mix, policy) — every server start of it with SERVER_STARTS — starts a fresh server and Python backend
# (torch import, build, capture: ~15-30 s on the H100), then each transport's warm-up and REPEATS windows: with the
# defaults (1 mix × 2 policies, 4 transports) ≈ 1 min of bench and ≈ 2.5 min of serve-bench. WORKLOADS=disb-A,disb-B POLICIES=baseline,model-wise TRANSPORTS=http,grpc
# DURATION=20: a simulated bench in under a minute, then four servers with two transports each.
set -uo pipefail
name=${1:?usage: device-serve-bench.sh NAME [serve-bench options...]}
shift
OUT=${OUT:-out}; mkdir -p "$OUT"
mixes=${MIXES:-mix3}; policies=${POLICIES:-baseline,eclip-fit}; batch=${BATCH:-8}
workloads=${WORKLOADS:-}
duration=${DURATION:-5}; warmup=${WARMUP:-2}; transports=${TRANSPORTS:-http,grpc,shm,cuda-shm}
limit=${LIMIT_S:-560}
repeats=${REPEATS:-1}; starts=${SERVER_STARTS:-1}
# a workload file or `disb` counts as five workloads in the estimate
count=$(tr ',' '\n' <<<"${workloads:-$mixes}" | awk 'NF { n += ($0 ~ /^disb$|\.ya?ml$/) ? 5 : 1 } END { print n }')
runs=$((count * ($(tr ',' '\n' <<<"$policies" | grep -vc '^baseline$') + 1)))
# seconds of one server start: its start-up, then per transport a warm-up, the windows and the clients' start and stop
per_start=$((25 + (${warmup%.*} + ${duration%.*} * repeats + 2) * $(tr ',' '\n' <<<"$transports" | grep -c .)))
est=${EST_S:-$((per_start * starts * runs))}
. "$(dirname "$0")/device-env.sh"
dir=/tmp/$name
rm -rf "$dir"; mkdir -p "$dir"
log=$OUT/$name.log
common=(--mix "$mixes" --policies "$policies" --batch "$batch")
[ -n "$workloads" ] && common=(--workload "$workloads" --policies "$policies")
[ -n "${PROFILES:-}" ] && common+=(--profiles "$PROFILES")
served=(--duration "$duration" --warmup "$warmup")
[ "$repeats" != 1 ] && served+=(--repeats "$repeats")
[ "$starts" != 1 ] && served+=(--server-starts "$starts")
benchw=(--duration "${BENCH_DURATION:-$duration}" --warmup "${BENCH_WARMUP:-$warmup}")
cli=${CLI:-.device/eclip/eclip.mjs}
eclip() { left=$((limit - SECONDS)); timeout -k 10 $((left > 30 ? left : 30)) /tmp/node "$cli" "$@"; }
SECONDS=0
nvidia-smi --query-gpu=name,driver_version,clocks.sm,power.limit,temperature.gpu --format=csv >"$log" 2>&1
# the host's CPU (machine starts differ in what the host path carries; this says whether the host did too)
echo "host: $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores, $(uname -r)" >>"$log"
bench=()
if [ "${BENCH:-1}" != 0 ]; then
  if [ -n "$workloads" ]; then
    echo "== bench (SIMULATED): $workloads / $policies (at ${SECONDS} s)" | tee -a "$log"
    eclip bench "${common[@]}" "${benchw[@]}" --modes graph --no-solo --no-plots --out "$dir/bench" >>"$log" 2>&1
  else
    echo "== bench: $mixes / $policies / batch $batch (at ${SECONDS} s)" | tee -a "$log"
    eclip bench --backend gpu "${common[@]}" "${benchw[@]}" --modes graph --no-solo --no-plots --no-sim-compare \
      --out "$dir/bench" >>"$log" 2>&1
  fi
  echo "== bench: exit $? at ${SECONDS} s" | tee -a "$log"
  [ -f "$dir/bench/results.json" ] && bench=(--bench "$dir/bench/results.json")
fi
rc=0
fe=()
[ -n "${FRONTENDS:-}" ] && fe=(--frontends "$FRONTENDS")
if [ $((SECONDS + est)) -gt "$limit" ]; then
  echo "skipped serve-bench (${SECONDS} s in, estimate $est s, limit $limit s)" | tee -a "$log"; rc=1
else
  echo "== serve-bench --transport $transports ${fe[*]} (at ${SECONDS} s)" | tee -a "$log"
  eclip serve-bench --backend gpu "${common[@]}" "${served[@]}" --transport "$transports" "${fe[@]}" "${bench[@]}" --out "$dir/serve" "$@" 2>&1 |
    grep -v '^gpu: captured' >>"$log"
  r=${PIPESTATUS[0]}
  echo "== serve-bench: exit $r at ${SECONDS} s" | tee -a "$log"
  [ "$r" = 0 ] || rc=1
fi
if [ -n "${ALONE:-}" ]; then
  n_alone=$(tr ',' '\n' <<<"$ALONE" | awk 'NF { n += ($0 ~ /\.ya?ml$/) ? 4 : 1 } END { print n }')
  est_alone=$((per_start * starts * n_alone))
  if [ $((SECONDS + est_alone)) -gt "$limit" ]; then
    echo "skipped serve-bench of $ALONE (${SECONDS} s in, estimate $est_alone s, limit $limit s)" | tee -a "$log"; rc=1
  else
    echo "== serve-bench alone: $ALONE / baseline (at ${SECONDS} s)" | tee -a "$log"
    alone=(--workload "$ALONE" --policies baseline)
    [ -n "${PROFILES:-}" ] && alone+=(--profiles "$PROFILES")
    eclip serve-bench --backend gpu "${alone[@]}" "${served[@]}" --transport "$transports" "${fe[@]}" --out "$dir/serve-alone" "$@" 2>&1 |
      grep -v '^gpu: captured' >>"$log"
    r=${PIPESTATUS[0]}
    echo "== serve-bench alone: exit $r at ${SECONDS} s" | tee -a "$log"
    [ "$r" = 0 ] || rc=1
  fi
fi
tar czf "$OUT/$name.tgz" -C /tmp "$name"
for part in serve serve-alone; do
  for t in ${transports//,/ }; do
    f=$dir/$part/$t/report.txt
    [ -f "$f" ] || f=$dir/$part/report.txt
    [ -f "$f" ] || continue
    echo "==== $part $t"
    grep -E '^WARNING' "$f" | grep -v SYNTHETIC
    # the served ÷ bench tables (to the first blank line after each title) and each run's host CPU per request; with
    # repeats, the STP ratio, worst worker and host-CPU tables (mean [min–max] over the windows) and the spread lines
    awk '/^(Served ÷ bench|Throughput vs baseline \(mean over workers\), served|Real-time requests|Per worker: offered|Spread over the repeats)/{p=1} p&&/^$/{p=0} p' "$f"
    if [ "$repeats" = 1 ] && [ "$starts" = 1 ]; then
      grep -E '^[A-Za-z0-9_.-]+ [a-z-]+ \[|host CPU in the window' "$f" | sed -E 's/ requests in .*//; s/^ +note: host CPU in the window: /    host CPU: /'
    else
      awk '/^(System throughput STP .* ÷ baseline STP|Worst worker|Server CPU per request)/{p=1} p&&/^$/{p=0} p' "$f"
    fi
  done
done
echo "== done at ${SECONDS} s"
exit "$rc"
