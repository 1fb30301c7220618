#!/usr/bin/env bash
# eclip-fit's switch budget on the GPU at batch 1: for each ARM (name:switch-max), eclip bench --backend gpu of MIXES
# (baseline beside eclip-fit, each arm its own baseline), arms back to back in this call. OUT=... .device/s68/call.sh
set -uo pipefail
OUT=${OUT:-out}; mkdir -p "$OUT"
. gpu/scripts/device-env.sh
{ date -u +%FT%TZ; nvidia-smi --query-gpu=name,driver_version,clocks.sm,temperature.gpu,power.draw --format=csv; nproc; } >"$OUT/gpu.txt" 2>&1
cat "$OUT/gpu.txt"
for arm in $ARMS; do
  name=${arm%%:*}; sw=${arm#*:}
  DEADLINE_S=${PART_S:-280} gpu/scripts/device-bench.sh "$name" --mix "$MIXES" --profiles profiles/h200 \
    --policies baseline,eclip-fit --modes graph --duration 4 --warmup 1 --no-solo --no-plots --batch "${BATCH:-1}" \
    --no-sim-compare --switch-max "$sw" | grep -E "STP|wrote|error|Error" | tail -5
  date -u +%FT%TZ >>"$OUT/gpu.txt"
done
python3 - "$OUT" $ARMS <<'PY'
import json, sys, tarfile, io
out, arms = sys.argv[1], sys.argv[2:]
for arm in arms:
    name = arm.split(':')[0]
    try:
        t = tarfile.open(f"{out}/{name}.tgz")
        r = json.load(t.extractfile(f"{name}/results.json"))
    except Exception as e:
        print(name, 'no results', e); continue
    base = {}
    for run in r['runs']:
        if run.get('backend') != 'gpu': continue
        stp = sum(w['throughputRps'] for w in run['workers'])  # total requests/s (STP: series-summary.ts, here)
        if run['policy'] == 'baseline': base[run['mix']] = stp; continue
        worst = min((w.get('normVsBaseline') or 0) for w in run['workers'])
        sw = ' '.join(f"{w['switchesPerRequest']:.0f}" for w in run['workers'] if w.get('switchesPerRequest') is not None)
        print(f"{name:6} {run['mix']:6} req/s {stp:.0f} / baseline {base.get(run['mix'], float('nan')):.0f} = {stp / base.get(run['mix'], float('nan')):.3f}  worst {worst:.3f}  switches {sw}")
PY
