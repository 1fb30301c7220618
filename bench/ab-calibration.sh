#!/usr/bin/env bash
# On the GPU machine: eclip-fit planned on two simulator calibrations, back to back — ship (the profile directory's
# sim-calibration.json) and cand (CAND, a candidate file) — each arm an `eclip bench --backend gpu` of MIX with its
# own baseline beside eclip-fit (graph mode). Prints each mix's STP ÷ baseline, worst worker and worst p95 as an arm
# ends; bench/ab-compare.py compares the arms afterwards. An arm NAME:ship|cand[:OPTS] runs with OPTS too (bench
# options, comma-separated, e.g. --min-share=0.92); options after the script's name go to every arm.
#   OUT=... CAND=results/.../candidate.sim-calibration.json MIX=results/.../mixes.yaml BATCH=8 \
#     ARMS="s1:ship c1:cand" [PART_S=280] [PROFILES=profiles/h200] bench/ab-calibration.sh [bench options...]
set -uo pipefail
set -f # ARMS is split on spaces, never globbed
: "${CAND:?CAND: the candidate sim-calibration.json}" "${MIX:?MIX: the mix file}" "${ARMS:?ARMS: name:ship|cand ...}"
OUT=${OUT:-out}; mkdir -p "$OUT"
{ date -u +%FT%TZ; nvidia-smi --query-gpu=name,driver_version,clocks.sm,temperature.gpu,power.draw --format=csv,noheader; nproc; } >>"$OUT/gpu.txt" 2>&1
tail -3 "$OUT/gpu.txt"
for arm in $ARMS; do
  IFS=: read -r name cal opts <<<"$arm"
  case $cal in
    ship) extra=() ;;
    cand) extra=(--calibration "$CAND") ;;
    *) echo "arm $arm: ship or cand after the first colon" >&2; exit 2 ;;
  esac
  [ -n "$opts" ] && IFS=, read -r -a more <<<"$opts" && extra+=("${more[@]}")
  # the bench's own lines go to $OUT/NAME.log (gpu/scripts/device-bench.sh); here only errors and a part stopped at
  # its deadline (PART_S), and the bench's exit status when it is not 0
  DEADLINE_S=${PART_S:-280} gpu/scripts/device-bench.sh "$name" --mix "$MIX" --profiles "${PROFILES:-profiles/h200}" \
    --policies baseline,eclip-fit --modes graph --duration 4 --warmup 1 --no-solo --no-plots --batch "${BATCH:-8}" \
    --no-sim-compare ${extra[@]+"${extra[@]}"} "$@" | grep -E "error|Error|deadline" | tail -3
  rc=${PIPESTATUS[0]}
  [ "$rc" -ne 0 ] && echo "$name: the bench exited with status $rc"
  date -u +%FT%TZ >>"$OUT/gpu.txt"
  python3 - "$OUT" "$name" <<'PY'
import json, sys, tarfile
out, name = sys.argv[1:]
try:
    tf = tarfile.open(f"{out}/{name}.tgz"); r = json.load(tf.extractfile(f"{name}/results.json"))
except Exception as e:
    print(name, 'no results', e); sys.exit()
for run in r['runs']:
    if run.get('backend') != 'gpu' or run['policy'] == 'baseline': continue
    sy = run['metrics']['system']
    w = max(run['workers'], key=lambda w: w['p95VsBaseline'])
    print(f"{name:5} {run['mix']:6} STP vs baseline {sy['stpVsBaseline']:.3f}  worst {sy['worstVsBaseline']:.3f} ({sy['worstWorker']})  p95 {w['p95VsBaseline']:.3f} ({w['name']})", flush=True)
PY
done
