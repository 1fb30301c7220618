#!/usr/bin/env bash
# Conv lanes at batch 8, H200. PROFILE=1: resnext101 and resnet152 b8 profiled with --gemm-target --conv-target, one
# process each (kept in /tmp/s79p and $OUT/prof), then PROBE_S>0: conv-algo-probe at b8 (16, 48, 132 SMs) in the time
# left. Then for each ARM (name:on|off) eclip bench --backend gpu of MIXES at batch 8, baseline beside eclip-fit, each
# arm its own baseline, back to back: on = profiles/h200 with the new profiles; off = the same with their gemmTarget
# section removed. OUT=... MIXES=mix5,more2 ARMS="off1:off on1:on" PROFILE=1 cl8.sh
set -uo pipefail
OUT=${OUT:-out}; mkdir -p "$OUT"
T0=$(date +%s)
. gpu/scripts/device-env.sh
{ date -u +%FT%TZ; nvidia-smi --query-gpu=name,driver_version,clocks.sm,temperature.gpu,power.draw --format=csv; nproc; } >>"$OUT/gpu.txt" 2>&1
tail -3 "$OUT/gpu.txt"
NEW=/tmp/s79p
MODELS=${MODELS:-resnext101,resnet152}
if [ "${PROFILE:-0}" = 1 ]; then
  python3 -c 'import torch, torchvision; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version(), "torchvision", torchvision.__version__)' >> "$OUT/gpu.txt"
  rm -rf $NEW && mkdir -p $NEW "$OUT/prof" && cp profiles/h200/gpu.json $NEW/
  for m in ${MODELS//,/ }; do
    s=$(date +%s)
    (cd gpu && timeout ${PROF_S:-300} python3 -m eclip_gpu profile --models $m --batch 8 --out $NEW \
      --no-primitives --gemm-target --conv-target) >>"$OUT/profile.log" 2>&1
    echo "profile $m rc $? in $(( $(date +%s) - s )) s"; cp $NEW/$m.b8.fp16.json "$OUT/prof/" 2>/dev/null
  done
  left=$(( ${CALL_S:-570} - ($(date +%s) - T0) ))
  if [ "${PROBE_S:-0}" -gt 0 ] && [ $left -gt 60 ]; then
    p=$(( left - 20 < PROBE_S ? left - 20 : PROBE_S ))
    (cd gpu && timeout $p python3 scripts/conv-algo-probe.py --models ${PROBE_MODELS:-resnext101:8,resnet152:8} \
      --sms 16,48,132 --reps 50 --out "$OUT/conv-algo-probe-b8.jsonl") >"$OUT/conv-algo-probe-b8.txt" 2>&1
    echo "probe rc $? (limit $p s)"; cat "$OUT/conv-algo-probe-b8.txt" | tail -12
  fi
elif ! ls $NEW/*.b8.fp16.json >/dev/null 2>&1; then  # a fresh machine: the profiles an earlier call made, carried
  rm -rf $NEW && mkdir -p $NEW && cp "$(dirname "$0")"/prof/*.json $NEW/
fi
python3 - $NEW <<'PY'
import json, sys, pathlib
for f in sorted(pathlib.Path(sys.argv[1]).glob("*.b8.fp16.json")):
    p = json.loads(f.read_text()); t = p.get("gemmTarget", {})
    r = [round(a / b, 3) for a, b in zip(t.get("requestUs", []), p["requestUs"])]
    print(f.name, "sizes", p["sizes"], "convSms", t.get("convSms"), "off", t.get("offSms"), "spread", t.get("spreadSms"), "targeted/default", r)
PY
[ -z "${ARMS:-}" ] && exit 0
rm -rf /tmp/pon /tmp/poff && cp -r profiles/h200 /tmp/pon && cp $NEW/*.b8.fp16.json /tmp/pon/ && cp -r /tmp/pon /tmp/poff
python3 - /tmp/poff <<'PY'
import json, sys, pathlib
for f in pathlib.Path(sys.argv[1]).glob("*.b8.fp16.json"):
    p = json.loads(f.read_text())
    if p.pop("gemmTarget", None) is not None: f.write_text(json.dumps(p)); print("off:", f.name, "without gemmTarget")
PY
for arm in $ARMS; do
  IFS=: read -r name flag <<<"$arm"
  DEADLINE_S=${PART_S:-240} gpu/scripts/device-bench.sh "$name" --mix "$MIXES" --profiles /tmp/p$flag \
    --policies baseline,eclip-fit --modes graph --duration 4 --warmup 1 --no-solo --no-plots --batch 8 \
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
