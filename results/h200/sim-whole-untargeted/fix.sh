#!/usr/bin/env bash
# The simulator reading a targeted worker's kernels on the whole GPU at their own (untargeted) times, on the H200:
# eclip bench --backend gpu, baseline beside eclip-fit untuned, profiles/h200; each PART = name:bundle:batch:mixes
# (bundle `fix` = this tree's CLI, `old` = .device/before, the commit before the fix), back to back, each its own
# baseline. OUT=... PARTS="fix8:fix:8:mix1,mix2,mix3 old8:old:8:mix1,mix2,mix3" fix.sh
set -uo pipefail
OUT=${OUT:-out}; mkdir -p "$OUT"
. gpu/scripts/device-env.sh
{ date -u +%FT%TZ; nvidia-smi --query-gpu=name,driver_version,clocks.sm,temperature.gpu,power.draw --format=csv; nproc; } >"$OUT/gpu.txt" 2>&1
cat "$OUT/gpu.txt"
for part in $PARTS; do
  IFS=: read -r name which batch mixes <<<"$part"
  bundle=(); [ "$which" = old ] && bundle=(ECLIP_BUNDLE=.device/before/eclip.mjs)
  env "${bundle[@]}" DEADLINE_S=${PART_S:-140} gpu/scripts/device-bench.sh "$name" --mix "$mixes" --profiles profiles/h200 \
    --policies baseline,eclip-fit --modes graph --duration 4 --warmup 1 --no-solo --no-plots --batch "$batch" \
    | grep -E "wrote|error|Error|stopped" | tail -2
  date -u +%FT%TZ >>"$OUT/gpu.txt"
done
python3 - "$OUT" $PARTS <<'PY'
import json, sys, tarfile
out, parts = sys.argv[1], sys.argv[2:]
for part in parts:
    name = part.split(':')[0]
    try:
        tf = tarfile.open(f"{out}/{name}.tgz"); r = json.load(tf.extractfile(f"{name}/results.json"))
    except Exception as e:
        print(name, 'no results', e); continue
    base = {}
    for run in r['runs']:
        if run.get('backend') != 'gpu': continue
        s = run.get('metrics', {}).get('stp') if isinstance(run.get('metrics'), dict) else None
        tot = sum(w['throughputRps'] for w in run['workers'])
        if run['policy'] == 'baseline': base[run['mix']] = tot; continue
        worst = min((w.get('normVsBaseline') or 0) for w in run['workers'])
        print(f"{name:5} {run['mix']:6} req/s {tot:.0f} / baseline {base.get(run['mix'], float('nan')):.0f} = {tot / base.get(run['mix'], float('nan')):.3f}  worst {worst:.3f}")
PY
