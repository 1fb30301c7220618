#!/usr/bin/env bash
# PARIS + ELSA measured on the GPU machine in ONE device call (issue #7), from the carried bundle
# (scripts/device-bundle.sh: carry .device/eclip.tar.xz, .device/node.xz and .whl/fastjsonschema-*.whl — the GPU
# machines lack fastjsonschema, which the backend validates its files with; without it the backend exits 2 at start):
#   1. latency tables of the scenario's models at the batches of their mixes on every partition size, measured
#      (eclip paris --backend gpu --measure-tables);
#   2. the loads: fractions of the highest load the simulator sustains on those tables (RATES, e.g. 0.1x … 1x);
#   3. each scheme's layout at each load, a WINDOW-second trace replayed open-loop on green-context partitions:
#      whole GPU, best uniform of UNIFORM sizes, PARIS + FIFO, PARIS + ELSA (least-loaded for the first two);
#   4. the simulator on the same measured tables at the same loads (CPU only: what it predicts for these runs).
# Usage there: OUT=... gpu/scripts/device-paris.sh [NAME] [--gpus LIST]
#   (env: SCENARIO RATES WINDOW UNIFORM SCHEMES PROFILES CELL_MS LIMIT_S MAX_CAPTURES TABLES SEARCH; GPUS=LIST is the same
#   as --gpus LIST;
#   TABLES=DIR: use those latency tables (e.g. results/h100/paris/latency) instead of measuring them in step 1;
#   SEARCH='--bisect --repeats 3 ...': the sustained load by bisection instead of the fixed RATES in step 3 (and in
#   step 4 the simulator's own bisection with the same options, into sim-same-search/); see "Bisection" below;
#   SCHEMES=...,eclip-kw/fifo,eclip-kw/elsa with SCENARIO=examples/paris-kw.yaml adds eclip's kernel-wise plans, which
#   need per-kernel profiles of this GPU for every (model, batch): profiles/h100 on an H100)
# Writes $OUT/NAME.tgz (results.json/md, SVG plots, latency/, requests.csv.gz, sim-same-loads/) and $OUT/NAME.log;
# prints the measured tables last.
#
# Several GPUs (--gpus 2 on a machine with 2): the server of N GPUs is GPUs 0..N-1, all driven by the one backend
# process with one dispatcher over every partition (src/paris/gpu.ts); tables are measured on GPU 0 (the GPUs of a
# host are one kind; every GPU's layout is checked). Step 0 then runs the 2-GPU GPU test first
# (gpu/tests_gpu/test_paris.py -k two_gpus, ~30 s; its log is in NAME.log; the comparison runs whatever it says).
# With --gpus 2 alone the 1x load is the simulator's best at 2 GPUs (about twice the 1-GPU one).
#
# Estimated duration on an H100 with the defaults (examples/paris-gpu.yaml: 4 models × 6 batches), from the code:
#   backend start (torch import, CUDA, slice layout) + bundle/Node unpack          ~20 s
#   tables: 4 × 6 × 16 cells; per cell a capture (~30–80 ms) + 2 + ≥5 replays,
#     ≤ 100 ms of timed replays (CELL_MS), big batches on 8 SMs up to ~0.7 s        ~100–150 s
#   the simulator's search for the 1x load (4 schemes, 1 GPU)                       ~5 s
#   graph captures: ≤ 624 (5 layouts × their new partitions × 24 classes; the log
#     says how many), each ~30–80 ms + a warm-up forward + one upload replay        ~40–70 s
#   runs: ≤ 24 windows (whole 4, uniform 3×4, PARIS fifo 4 + elsa 4) × (5 s + drain
#     and set-up ~1 s); a layout stops at the first load with > 50% violations      ~110–150 s
#   simulator at the same loads + tar                                               ~10 s
#   total ≈ 5–7 min; LIMIT_S (default 500 s) cuts the GPU step so the tar and the table still come back.
#   (measured on the H100 with the defaults: the GPU step took 201 s, 528 captures in 18 s.)
# Bisection (SEARCH='--bisect ...', docs/paris.md): each scheme's crossing bracketed to --resolution (5%) with
#   --repeats windows per probed load; every uniform size is searched on its own. A search from --start 0.5x (the
#   default: half the simulator's sustained load for that scheme) takes about 6 probes (7–8 when the GPU is far
#   from the simulator), each repeats × (WINDOW + ~1 s): with 3 repeats of 5 s about 110 s per search, so at most
#   4 searches fit one call (LIMIT_S=520 leaves the simulator step and the tar their time; the CLI prints its
#   estimate first). Four GPU schemes with UNIFORM=24,32 are 5 searches: run them as two calls (e.g.
#   SCHEMES=uniform/least-loaded,paris/elsa, then SCHEMES=whole/least-loaded,paris/fifo), each with
#   TABLES=results/h100/paris/latency so both bisect on the same tables, and an absolute --start in SEARCH (q/s) so
#   every scheme of both calls probes the same lattice of loads on the same traces; nothing is written until the GPU
#   step ends, but every probe's line is in NAME.log.
# With --gpus 2, from the code and that H100 run: the same tables (GPU 0) and start ~70 s (+ ~30 s step 0);
#   captures ≤ 1104 (each partition once per GPU; ~15–35 ms each, one GPU after the other) ~20–40 s; the same ≤ 24
#   windows of 5 s (twice the queries each) ~110–150 s: total ≈ 4–6 min. --gpus 1,2 does both servers: ≤ 1680
#   captures (over the default --max-captures 1500: set MAX_CAPTURES=1700) and ≈ 8–9 min, too close to one call's
#   10 min: run --gpus 1 and --gpus 2 as two calls instead.
set -uo pipefail
name=paris-gpu
gpus=${GPUS:-1}
[ $# -gt 0 ] && [ "${1#--}" = "$1" ] && { name=$1; shift; }
while [ $# -gt 0 ]; do
  case $1 in
    --gpus) gpus=${2:?--gpus needs a list, e.g. 2 or 1,2}; shift 2 ;;
    --gpus=*) gpus=${1#--gpus=}; shift ;;
    *) echo "device-paris.sh: unknown argument $1 (usage: device-paris.sh [NAME] [--gpus LIST])" >&2; exit 2 ;;
  esac
done
OUT=${OUT:-out}; mkdir -p "$OUT"
scenario=${SCENARIO:-examples/paris-gpu.yaml}
rates=${RATES:-0.1x,0.4x,0.7x,1x}
window=${WINDOW:-5}
uniform=${UNIFORM:-16,24,32}
schemes=${SCHEMES:-whole/least-loaded,uniform/least-loaded,paris/fifo,paris/elsa}
tables=${TABLES:-}
search=${SEARCH:-}
if [ -n "$tables" ]; then table_args=(--tables "$tables"); else table_args=(--measure-tables --cell-ms "${CELL_MS:-100}"); fi
# SEARCH is a list of options, split on spaces on purpose
# shellcheck disable=SC2206
if [ -n "$search" ]; then load_args=($search --window "$window"); sim_out=sim-same-search
else load_args=(--rates "$rates" --window "$window"); sim_out=sim-same-loads; fi
. "$(dirname "$0")/device-env.sh"
dir=/tmp/$name
rm -rf "$dir"
SECONDS=0
nvidia-smi --query-gpu=index,name,pci.bus_id,driver_version,clocks.sm,clocks.mem,power.draw,power.limit,temperature.gpu \
  --format=csv >"$OUT/$name.log" 2>&1
echo "== --gpus $gpus" | tee -a "$OUT/$name.log"
if [ "$gpus" != 1 ]; then
  # step 0: the backend's own 2-GPU test (partitions on both GPUs of one process, one dispatcher, per-GPU energy)
  timeout -k 5 120 python3 -m pytest gpu/tests_gpu/test_paris.py -k two_gpus -q -s -p no:cacheprovider 2>&1 \
    | tee -a "$OUT/$name.log" | tail -4
  echo "== step 0 (2-GPU test): exit ${PIPESTATUS[0]} at ${SECONDS} s" | tee -a "$OUT/$name.log"
fi
timeout -k 10 "${LIMIT_S:-500}" /tmp/node .device/eclip/eclip.mjs paris --backend gpu --models "$scenario" \
  --gpus "$gpus" ${PROFILES:+--profiles "$PROFILES"} "${table_args[@]}" "${load_args[@]}" \
  --uniform "$uniform" --schemes "$schemes" --max-captures "${MAX_CAPTURES:-1500}" --out "$dir" 2>&1 \
  | tee -a "$OUT/$name.log" | grep -v '^gpu: captured'
rc=${PIPESTATUS[0]}
echo "== GPU step: exit $rc at ${SECONDS} s" | tee -a "$OUT/$name.log"
simtables=${tables:-$dir/latency}
if ls "$simtables"/*.latency.json >/dev/null 2>&1; then
  timeout 60 /tmp/node .device/eclip/eclip.mjs paris --models "$scenario" --tables "$simtables" --gpus "$gpus" \
    ${PROFILES:+--profiles "$PROFILES"} "${load_args[@]}" --uniform "$uniform" --schemes "$schemes" --out "$dir/$sim_out" \
    --quiet >/dev/null 2>>"$OUT/$name.log" || echo "simulator step failed" | tee -a "$OUT/$name.log"
fi
tar czf "$OUT/$name.tgz" -C /tmp "$name"
echo "== done at ${SECONDS} s"
for f in "$dir/$sim_out/results.md" "$dir/results.md"; do
  [ -f "$f" ] || continue
  echo "== $f"
  # the sustained loads and (measured run only) every run
  awk '/^## Sustained/{p=1} /^## At the sustained/{p=0} /^## Every run/{p=m} /^## PARIS/{p=0} p' \
    m="$([ "$f" = "$dir/results.md" ] && echo 1 || echo 0)" "$f" | grep -v '^$'
done
exit "$rc"
