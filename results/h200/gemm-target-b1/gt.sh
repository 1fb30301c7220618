#!/usr/bin/env bash
# The GEMM target off at the sizes where it changes the kernel count, on the H200 at batch 1: the GPU tests of the
# target, albert b1 profiled with it (into a copy of profiles/h200), then for each ARM (name:flag, flag `off` =
# --no-gemm-target, `on` = the default) eclip bench --backend gpu of MIXES at batch 1, baseline beside eclip-fit,
# each arm its own baseline, back to back. OUT=... MIXES=mix1,mix2 ARMS="off1:off on1:on" PROFILE=1 gt.sh
set -uo pipefail
OUT=${OUT:-out}; mkdir -p "$OUT"
. gpu/scripts/device-env.sh
{ date -u +%FT%TZ; nvidia-smi --query-gpu=name,driver_version,clocks.sm,temperature.gpu,power.draw --format=csv; nproc; } >"$OUT/gpu.txt" 2>&1
cat "$OUT/gpu.txt"
P=/tmp/p200t
if [ "${PROFILE:-1}" = 1 ]; then
  (cd gpu && timeout 200 python3 -m pytest -q -rs -s tests_gpu/test_gemm_target.py) >"$OUT/pytest-gemm.log" 2>&1
  echo "pytest gemm rc $? :: $(tail -1 "$OUT/pytest-gemm.log")"; grep -E "distilbert b1 on|FAILED|Error" "$OUT/pytest-gemm.log" | head -5
  rm -rf $P && cp -r profiles/h200 $P
  (cd gpu && python3 -m eclip_gpu profile --models albert --batch 1 --out $P --no-primitives --gemm-target) >"$OUT/profile.log" 2>&1
  echo "profile rc $?"; cp $P/albert.b1.fp16.json "$OUT/"
else  # the profile an earlier call made, carried beside this script
  rm -rf $P && cp -r profiles/h200 $P && cp "$(dirname "$0")/albert.b1.fp16.json" $P/
fi
python3 - "$P/albert.b1.fp16.json" <<'PY'
import json, sys
p = json.load(open(sys.argv[1])); t = p.get("gemmTarget")
print("notes:", p["measured"]["notes"])
if t:
    print("offSms", t.get("offSms")); print("sizes   ", p["sizes"])
    print("target/default", [round(a / b, 3) for a, b in zip(t["requestUs"], p["requestUs"])])
PY
for arm in $ARMS; do
  IFS=: read -r name flag <<<"$arm"
  extra=(); [ "$flag" = off ] && extra=(--no-gemm-target)
  DEADLINE_S=${PART_S:-240} gpu/scripts/device-bench.sh "$name" --mix "$MIXES" --profiles $P "${extra[@]}" \
    --policies baseline,eclip-fit --modes graph --duration 4 --warmup 1 --no-solo --no-plots --batch 1 \
    | grep -E "STP|wrote|error|Error" | tail -3
  date -u +%FT%TZ >>"$OUT/gpu.txt"
done
python3 - "$OUT" $ARMS <<'PY'
import json, sys, tarfile
out, arms = sys.argv[1], sys.argv[2:]
for arm in arms:
    name = arm.split(':')[0]
    try:
        tf = tarfile.open(f"{out}/{name}.tgz"); r = json.load(tf.extractfile(f"{name}/results.json"))
    except Exception as e:
        print(name, 'no results', e); continue
    base = {}
    for run in r['runs']:
        if run.get('backend') != 'gpu': continue
        tot = sum(w['throughputRps'] for w in run['workers'])
        if run['policy'] == 'baseline': base[run['mix']] = tot; continue
        worst = min((w.get('normVsBaseline') or 0) for w in run['workers'])
        b = base.get(run['mix'], float('nan'))
        try:
            m = next(x for x in tf.getnames() if x.startswith(f"{name}/plans/{run['mix']}.eclip-fit."))
            plan = json.load(tf.extractfile(m))
            off = [w.get('gemmTargetOffSms') for w in plan['workers'] if w.get('gemmTarget')]
        except Exception:
            off = '?'
        print(f"{name:5} {run['mix']:6} req/s {tot:.0f} / baseline {b:.0f} = {tot / b:.3f}  worst {worst:.3f}  target off {off}")
PY
