#!/usr/bin/env bash
# eclip-fit at batch 8 with and without a p95 cap per worker, H200. For each ARM (name:off|CAP) in turn: eclip bench
# --backend gpu of the mixes in MIXES (default this folder's cap7.yaml), baseline beside eclip-fit, each arm its own
# baseline; CAP is --max-p95's value. Prints each mix's STP ratio, worst worker and worst p95 as it ends.
#   OUT=... ARMS="off1:off on1:1.07" capab.sh
set -uo pipefail
OUT=${OUT:-out}; mkdir -p "$OUT"
here=$(dirname "$0")
MIXES=${MIXES:-$here/cap7.yaml}
. gpu/scripts/device-env.sh
{ date -u +%FT%TZ; nvidia-smi --query-gpu=name,driver_version,clocks.sm,temperature.gpu,power.draw --format=csv,noheader; nproc; } >>"$OUT/gpu.txt" 2>&1
tail -3 "$OUT/gpu.txt"
for arm in $ARMS; do
  IFS=: read -r name cap <<<"$arm"
  extra=(); [ "$cap" != off ] && extra=(--max-p95 "$cap")
  DEADLINE_S=${PART_S:-300} gpu/scripts/device-bench.sh "$name" --mix "$MIXES" --profiles profiles/h200 ${TUNE:+--tune} \
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
