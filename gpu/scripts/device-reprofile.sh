#!/usr/bin/env bash
# On the GPU machine: profiles some models again and sets each new profile beside the shipped one of its name in
# profiles/<gpu>/ (same kernels? request latency and kernel-time sums new ÷ shipped, which target fields it carries),
# so that a profile made with a newer profiler (GEMM targets spread, conv lanes, op spans: docs/profile.md) can be
# checked before it replaces the shipped one. Jobs are MODELS:FLAGS, FLAGS one of
#   ct (--gemm-target --conv-target), gt (--gemm-target), - (neither);
# each job has PROF_S seconds (default 240). Writes $OUT/reprofile.tgz (the new profiles) and $OUT/reprofile.txt.
#   OUT=... BATCH=1 gpu/scripts/device-reprofile.sh albert:gt resnext101,densenet201:ct
set -uo pipefail
[ $# -gt 0 ] || { echo "usage: device-reprofile.sh MODELS:ct|gt|- ..." >&2; exit 2; }
for job in "$@"; do
  case ${job#*:} in ct | gt | -) ;; *) echo "job $job: MODELS:FLAGS, FLAGS one of ct, gt, -" >&2; exit 2 ;; esac
done
OUT=${OUT:-out}; mkdir -p "$OUT"
. "$(dirname "$0")/device-env.sh"
gpu=$(gpu_short_name)
shipped=profiles/$gpu
[ -f "$shipped/gpu.json" ] || { echo "no shipped profiles for this GPU ($shipped/gpu.json)" >&2; exit 2; }
new=/tmp/reprofile/$gpu
rm -rf "$new" && mkdir -p "$new" && cp "$shipped/gpu.json" "$new/"
log=$OUT/reprofile.txt
{ date -u +%FT%TZ; nvidia-smi --query-gpu=name,driver_version,clocks.sm,temperature.gpu,power.draw --format=csv,noheader
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version())'; } >>"$log" 2>&1
for job in "$@"; do
  IFS=: read -r models flags <<<"$job"
  case $flags in ct) f=(--gemm-target --conv-target) ;; gt) f=(--gemm-target) ;; *) f=() ;; esac
  s=$SECONDS
  (cd gpu && timeout "${PROF_S:-240}" python3 -m eclip_gpu profile --models "$models" --batch "${BATCH:-1}" \
    --out "$new" --no-primitives ${f[@]+"${f[@]}"}) 2>&1 | grep -v -e UserWarning -e _warn_once >>"$log"
  echo "profile $models ${f[*]:-}: exit ${PIPESTATUS[0]}, $((SECONDS - s)) s" | tee -a "$log"
done
python3 - "$new" "$shipped" <<'PY' | tee -a "$log"
import json, pathlib, sys
new, shipped = map(pathlib.Path, sys.argv[1:])
for f in sorted(new.glob("*.fp16.json")):
    p = json.loads(f.read_text())
    old = shipped / f.name
    if not old.exists():
        print(f"{f.name}: no shipped profile of this name"); continue
    q = json.loads(old.read_text())
    same = [k["name"] for k in p["kernels"]] == [k["name"] for k in q["kernels"]] and p["sizes"] == q["sizes"]
    req = [a / b for a, b in zip(p["requestUs"], q["requestUs"])]
    sums = [sum(k["timesUs"][i] for k in p["kernels"]) / sum(k["timesUs"][i] for k in q["kernels"]) for i in range(len(p["sizes"]))] if same else []
    t = p.get("gemmTarget", {})
    print(f"{f.name}: same kernels {same}; request new/shipped {min(req):.3f}–{max(req):.3f}"
          + (f"; kernel-time sums {min(sums):.3f}–{max(sums):.3f}" if sums else "")
          + f"; target fields new {sorted(t)} shipped {sorted(q.get('gemmTarget', {}))}"
          + f"; opSpanUs {'opSpanUs' in p}/{'opSpanUs' in q}; spreadSms {t.get('spreadSms')}; convSms {t.get('convSms')}")
PY
tar czf "$OUT/reprofile.tgz" -C "$(dirname "$new")" "$gpu"
