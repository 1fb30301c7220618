#!/usr/bin/env bash
# eclip-fit untuned at batch 8 planned on two simulator calibrations, H200: ship = profiles/h200/sim-calibration.json,
# cand = this folder's candidate (resnext101.b8's γ 0.1 instead of 0.3). For each ARM (name:ship|cand) in turn: eclip
# bench --backend gpu of the three mixes that hold resnext101 (rx3.yaml), baseline beside eclip-fit, each arm its own
# baseline. Prints each mix's STP ratio, worst worker and worst p95 as it ends.
#   OUT=... ARMS="s1:ship c1:cand" ab.sh
set -uo pipefail
OUT=${OUT:-out}; mkdir -p "$OUT"
here=$(dirname "$0")
. gpu/scripts/device-env.sh
{ date -u +%FT%TZ; nvidia-smi --query-gpu=name,driver_version,clocks.sm,temperature.gpu,power.draw --format=csv,noheader; nproc; } >>"$OUT/gpu.txt" 2>&1
tail -3 "$OUT/gpu.txt"
for arm in $ARMS; do
  IFS=: read -r name cal <<<"$arm"
  extra=(); [ "$cal" = cand ] && extra=(--calibration "$here/candidate.sim-calibration.json")
  DEADLINE_S=${PART_S:-280} gpu/scripts/device-bench.sh "$name" --mix "$here/rx3.yaml" --profiles profiles/h200 \
    --policies baseline,eclip-fit --modes graph --duration 4 --warmup 1 --no-solo --no-plots --batch 8 \
    --no-sim-compare "${extra[@]}" | grep -E "error|Error" | tail -3
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
