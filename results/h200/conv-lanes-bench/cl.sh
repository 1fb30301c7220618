#!/usr/bin/env bash
# Conv lanes on the bench, H200, batch 1. PROFILE=1: the GPU tests of lanes and the GEMM target, then resnext101,
# resnet152, densenet201 b1 profiled with --gemm-target --conv-target (kept in /tmp/s73p and $OUT/prof). Then for each
# ARM (name:on|off) eclip bench --backend gpu of MIXES at batch 1, baseline beside eclip-fit, each arm its own
# baseline, back to back: on = profiles/h200 with the three new profiles; off = the same with their gemmTarget section
# removed (as the shipped profiles are). OUT=... MIXES=mix5,more2 ARMS="off1:off on1:on" PROFILE=1 cl.sh
set -uo pipefail
OUT=${OUT:-out}; mkdir -p "$OUT"
. gpu/scripts/device-env.sh
{ date -u +%FT%TZ; nvidia-smi --query-gpu=name,driver_version,clocks.sm,temperature.gpu,power.draw --format=csv; nproc; } >>"$OUT/gpu.txt" 2>&1
tail -3 "$OUT/gpu.txt"
NEW=/tmp/s73p
if [ "${PROFILE:-0}" = 1 ]; then
  python3 -c 'import torch, torchvision; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version(), "torchvision", torchvision.__version__)' >> "$OUT/gpu.txt"
  [ "${TESTS:-1}" = 1 ] && (cd gpu && timeout 220 python3 -m pytest -q -rs -s -p no:cacheprovider tests_gpu/test_conv_target.py tests_gpu/test_gemm_target.py) >"$OUT/gpu-tests.log" 2>&1
  [ "${TESTS:-1}" = 1 ] && { echo "gpu tests :: $(tail -1 "$OUT/gpu-tests.log")"; grep -E "FAILED|Error" "$OUT/gpu-tests.log" | head -5; }
  rm -rf $NEW && mkdir -p $NEW && cp profiles/h200/gpu.json $NEW/
  (cd gpu && timeout ${PROF_S:-420} python3 -m eclip_gpu profile --models resnext101,resnet152,densenet201 --batch 1 --out $NEW \
    --no-primitives --gemm-target --conv-target) >"$OUT/profile.log" 2>&1
  echo "profile rc $?"; mkdir -p "$OUT/prof" && cp $NEW/*.b1.fp16.json "$OUT/prof/"
elif [ ! -f $NEW/densenet201.b1.fp16.json ]; then  # a fresh machine: the profiles an earlier call made, carried
  rm -rf $NEW && mkdir -p $NEW && cp "$(dirname "$0")"/prof/*.json $NEW/
fi
python3 - $NEW <<'PY'
import json, sys, pathlib
for f in sorted(pathlib.Path(sys.argv[1]).glob("*.b1.fp16.json")):
    p = json.loads(f.read_text()); t = p.get("gemmTarget", {})
    r = [round(a / b, 3) for a, b in zip(t.get("requestUs", []), p["requestUs"])]
    print(f.name, "sizes", p["sizes"], "convSms", t.get("convSms"), "off", t.get("offSms"), "targeted/default", r)
PY
rm -rf /tmp/pon /tmp/poff && cp -r profiles/h200 /tmp/pon && cp $NEW/*.b1.fp16.json /tmp/pon/ && cp -r /tmp/pon /tmp/poff
python3 - /tmp/poff <<'PY'
import json, sys, pathlib
for f in ("resnext101", "resnet152", "densenet201"):
    f = pathlib.Path(sys.argv[1]) / f"{f}.b1.fp16.json"; p = json.loads(f.read_text()); p.pop("gemmTarget", None)
    f.write_text(json.dumps(p))
PY
for arm in $ARMS; do
  IFS=: read -r name flag <<<"$arm"
  DEADLINE_S=${PART_S:-240} gpu/scripts/device-bench.sh "$name" --mix "$MIXES" --profiles /tmp/p$flag \
    --policies baseline,eclip-fit --modes graph --duration 4 --warmup 1 --no-solo --no-plots --batch 1 \
    | grep -E "STP|error|Error" | tail -3
  date -u +%FT%TZ >>"$OUT/gpu.txt"
  python3 - "$OUT" "$name" <<'PY'
import json, sys, tarfile
out, name = sys.argv[1:]
try:
    tf = tarfile.open(f"{out}/{name}.tgz"); r = json.load(tf.extractfile(f"{name}/results.json"))
except Exception as e:
    print(name, 'no results', e); sys.exit()
base = {}
for run in r['runs']:
    if run.get('backend') != 'gpu': continue
    tot = sum(w['throughputRps'] for w in run['workers'])
    sy = run['metrics']['system']
    if run['policy'] == 'baseline': base[run['mix']] = tot; continue
    b = base.get(run['mix'], float('nan'))
    try:
        m = next(x for x in tf.getnames() if x.startswith(f"{name}/plans/{run['mix']}.eclip-fit."))
        plan = json.load(tf.extractfile(m))
        conv = [(w['model'], w.get('convTargetSms')) for w in plan['workers'] if w.get('convTargetSms')]
    except Exception:
        conv = '?'
    print(f"{name:5} {run['mix']:6} req/s {tot:.0f}/{b:.0f}  STP vs baseline {sy['stpVsBaseline']:.3f}  worst {sy['worstVsBaseline']:.3f} ({sy['worstWorker']})  p95 {run['metrics']['p95VsBaseline']:.2f}  lanes {conv}", flush=True)
PY
done
