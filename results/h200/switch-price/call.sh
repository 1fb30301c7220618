#!/usr/bin/env bash
# eclip-fit's switch price searched (σ) with the H200's fitted graph edge, against the planner and calibration before
# them, on the GPU: for each ARM (name:bundle:profiles, bundle `before` = .device/before, `new` = .device/eclip),
# eclip bench --backend gpu of MIXES at BATCH (baseline beside eclip-fit, each arm its own baseline), arms back to
# back in this call. OUT=... BATCH=1 MIXES=mix1,mix2 ARMS="A:before:DIR B:new:profiles/h200" call.sh
set -uo pipefail
OUT=${OUT:-out}; mkdir -p "$OUT"
. gpu/scripts/device-env.sh
{ date -u +%FT%TZ; nvidia-smi --query-gpu=name,driver_version,clocks.sm,temperature.gpu,power.draw --format=csv; nproc; } >"$OUT/gpu.txt" 2>&1
cat "$OUT/gpu.txt"
for arm in $ARMS; do
  IFS=: read -r name bundle dir <<<"$arm"
  [ "$bundle" = before ] && export ECLIP_BUNDLE=.device/before/eclip.mjs || unset ECLIP_BUNDLE
  DEADLINE_S=${PART_S:-280} gpu/scripts/device-bench.sh "$name" --mix "$MIXES" --profiles "$dir" \
    --policies baseline,eclip-fit --modes graph --duration 4 --warmup 1 --no-solo --no-plots --batch "${BATCH:-1}" \
    | grep -E "STP|wrote|error|Error" | tail -5
  date -u +%FT%TZ >>"$OUT/gpu.txt"
done
python3 - "$OUT" $ARMS <<'PY'
import json, sys, tarfile
out, arms = sys.argv[1], sys.argv[2:]
for arm in arms:
    name = arm.split(':')[0]
    try:
        r = json.load(tarfile.open(f"{out}/{name}.tgz").extractfile(f"{name}/results.json"))
    except Exception as e:
        print(name, 'no results', e); continue
    base = {}
    for run in r['runs']:
        if run.get('backend') != 'gpu': continue
        tot = sum(w['throughputRps'] for w in run['workers'])  # total requests/s (STP: bench/series-summary.ts, here)
        if run['policy'] == 'baseline': base[run['mix']] = tot; continue
        worst = min((w.get('normVsBaseline') or 0) for w in run['workers'])
        sw = ' '.join(f"{w['switchesPerRequest']:.0f}" for w in run['workers'] if w.get('switchesPerRequest') is not None)
        b = base.get(run['mix'], float('nan'))
        print(f"{name:4} {run['mix']:6} req/s {tot:.0f} / baseline {b:.0f} = {tot / b:.3f}  worst {worst:.3f}  switches {sw}")
PY
