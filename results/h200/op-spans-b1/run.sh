#!/usr/bin/env bash
# Session 74, H200, batch 1. Two jobs per call, each under its own deadline:
#  PARTS="p1:mixes/paper.yaml m1:mixes/more.yaml": eclip bench --backend gpu of every mix in the file, baseline
#    beside eclip-fit, the shipped profiles/h200 (or PROFILES=dir), --no-sim-compare;
#  PROF="resnext101,densenet201:-ct albert:-gt alexnet,shufflenet,vgg19,resnet152:-" profiles those models at b1
#    again (-ct = --gemm-target --conv-target, -gt = --gemm-target, - = neither) into /tmp/s74p, copied to $OUT/prof.
set -uo pipefail
OUT=${OUT:-out}; mkdir -p "$OUT"
. gpu/scripts/device-env.sh
{ date -u +%FT%TZ; nvidia-smi --query-gpu=name,driver_version,clocks.sm,temperature.gpu,power.draw --format=csv,noheader; nproc; } >>"$OUT/gpu.txt" 2>&1
python3 -c 'import torch, torchvision; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version(), "torchvision", torchvision.__version__)' >> "$OUT/gpu.txt"
tail -4 "$OUT/gpu.txt"
summ() {  # per mix: STP vs baseline, worst, p95
python3 - "$OUT" "$1" <<'PY'
import json, sys, tarfile
out, name = sys.argv[1:]
try:
    tf = tarfile.open(f"{out}/{name}.tgz"); r = json.load(tf.extractfile(f"{name}/results.json"))
except Exception as e:
    print(name, 'no results', e); sys.exit()
for run in r['runs']:
    if run.get('backend') != 'gpu' or run['policy'] == 'baseline': continue
    sy = run['metrics']['system']
    print(f"{name:4} {run['mix']:6} STP/base {sy['stpVsBaseline']:.3f}  worst {sy['worstVsBaseline']:.3f} ({sy['worstWorker']})  p95 {run['metrics']['p95VsBaseline']:.2f}", flush=True)
PY
}
for part in ${PARTS:-}; do
  IFS=: read -r name mixes <<<"$part"
  DEADLINE_S=${PART_S:-330} gpu/scripts/device-bench.sh "$name" --mix "$mixes" --profiles "${PROFILES:-profiles/h200}" \
    --policies baseline,eclip-fit --modes graph --duration 4 --warmup 1 --no-solo --no-plots --batch 1 --no-sim-compare \
    | grep -E "error|Error" | tail -3
  date -u +%FT%TZ >>"$OUT/gpu.txt"; summ "$name"
done
NEW=/tmp/s74p
if [ -n "${PROF:-}" ]; then
  mkdir -p $NEW "$OUT/prof" && cp profiles/h200/gpu.json $NEW/
  for job in $PROF; do
    IFS=: read -r models flags <<<"$job"
    case $flags in -ct) f=(--gemm-target --conv-target) ;; -gt) f=(--gemm-target) ;; *) f=() ;; esac
    s=$(date +%s)
    (cd gpu && timeout ${PROF_S:-240} python3 -m eclip_gpu profile --models "$models" --batch 1 --out $NEW --no-primitives "${f[@]}") \
      >>"$OUT/profile.log" 2>&1
    echo "profile $models ${f[*]} rc $? $(( $(date +%s) - s )) s"
  done
  cp $NEW/*.b1.fp16.json "$OUT/prof/"
  python3 - $NEW <<'PY'
import json, sys, pathlib
for f in sorted(pathlib.Path(sys.argv[1]).glob("*.b1.fp16.json")):
    p = json.loads(f.read_text()); t = p.get("gemmTarget", {}); sp = p.get("opSpanUs", {})
    shipped = json.loads((pathlib.Path("profiles/h200") / f.name).read_text())
    r = [round(a / b, 3) for a, b in zip(p["requestUs"], shipped["requestUs"])]
    last = len(p["sizes"]) - 1; starts = p.get("opStarts", []) + [len(p["kernels"])]
    sums = [sum(k["timesUs"][last] for k in p["kernels"][a:b]) for a, b in zip(starts, starts[1:])]
    saved = sum(max(0, s - sp[o][last]) for o, s in enumerate(sums)) if sp else 0
    low = sum(1 for o, s in enumerate(sums) if sp and s > 0 and sp[o][last] < 0.9 * s)
    print(f.name, "convSms", t.get("convSms"), "spread", t.get("spreadSms"), "ops", len(sums), "spans", len(sp),
          f"whole GPU: kernel sum {sum(sums):.0f} us, request {p['requestUs'][last]:.0f}, saved by spans {saved:.0f}, ops span<0.9 sum {low}",
          "request new/shipped", r[:3], r[-3:])
PY
fi
