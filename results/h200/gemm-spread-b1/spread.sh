#!/usr/bin/env bash
# The GEMM target's times spread op by op where it changes the kernel count, on the H200 at batch 1: the GPU tests of
# the target, albert b1 profiled again (into a copy of profiles/h200: P_NEW), vgg19 and alexnet b1 profiled with the
# target for a look (P_X), then for each ARM (name:which, which `old` = profiles/h200 as shipped, albert b1 off at
# the sizes where the target changes its kernel count; `new` = P_NEW) eclip bench --backend gpu of MIXES at batch 1,
# baseline beside eclip-fit, each arm its own baseline, back to back.
# OUT=... MIXES=mix1,mix2 ARMS="old1:old new1:new" PROFILE=1 spread.sh
set -uo pipefail
OUT=${OUT:-out}; mkdir -p "$OUT"
. gpu/scripts/device-env.sh
{ date -u +%FT%TZ; nvidia-smi --query-gpu=name,driver_version,clocks.sm,temperature.gpu,power.draw --format=csv; nproc; } >"$OUT/gpu.txt" 2>&1
cat "$OUT/gpu.txt"
P_NEW=/tmp/p200s; P_X=/tmp/p200x
if [ "${PROFILE:-1}" = 1 ]; then
  (cd gpu && timeout 240 python3 -m pytest -q -rs -s tests_gpu/test_gemm_target.py) >"$OUT/pytest-gemm.log" 2>&1
  echo "pytest gemm rc $? :: $(tail -1 "$OUT/pytest-gemm.log")"; grep -E "distilbert b1 on|FAILED|Error" "$OUT/pytest-gemm.log" | head -5
  rm -rf $P_NEW && cp -r profiles/h200 $P_NEW
  (cd gpu && python3 -m eclip_gpu profile --models albert --batch 1 --out $P_NEW --no-primitives --gemm-target) >"$OUT/profile.log" 2>&1
  echo "profile rc $?"; cp $P_NEW/albert.b1.fp16.json "$OUT/"
  rm -rf $P_X && mkdir -p $P_X && cp profiles/h200/gpu.json $P_X/
  (cd gpu && python3 -m eclip_gpu profile --models vgg19,alexnet --batch 1 --out $P_X --no-primitives --gemm-target) >"$OUT/profile-x.log" 2>&1
  echo "profile x rc $?"; mkdir -p "$OUT/x" && cp $P_X/*.b1.fp16.json "$OUT/x/"
else  # the profile an earlier call made, carried beside this script
  rm -rf $P_NEW && cp -r profiles/h200 $P_NEW && cp "$(dirname "$0")/albert.b1.fp16.json" $P_NEW/
fi
python3 - $P_NEW/albert.b1.fp16.json profiles/h200/albert.b1.fp16.json $(ls $P_X/*.b1.fp16.json 2>/dev/null) <<'PY'
import json, sys
for f in sys.argv[1:]:
    p = json.load(open(f)); t = p.get("gemmTarget")
    print(f, "notes:", p["measured"]["notes"][-300:])
    if t:
        print("  offSms", t.get("offSms"), "spreadSms", t.get("spreadSms")); print("  sizes         ", p["sizes"])
        print("  target/default", [round(a / b, 3) for a, b in zip(t["requestUs"], p["requestUs"])])
PY
for arm in $ARMS; do
  IFS=: read -r name which <<<"$arm"
  P=profiles/h200; [ "$which" = new ] && P=$P_NEW
  DEADLINE_S=${PART_S:-240} gpu/scripts/device-bench.sh "$name" --mix "$MIXES" --profiles $P \
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
        print(f"{name:5} {run['mix']:6} req/s {tot:.0f} / baseline {b:.0f} = {tot / b:.3f}  worst {worst:.3f}")
PY
