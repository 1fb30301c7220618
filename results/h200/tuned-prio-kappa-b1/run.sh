#!/usr/bin/env bash
# Session 78, H200, batch 1, on the κ calibration (profiles/h200 as shipped at 4c02c911): eclip-fit --tune
# --stream-priorities against baseline, parts NAME:MIXES:EST_S through gpu/scripts/device-bench-parts.sh (LIMIT_S,
# each part packed as it ends), then one line per tuned run.
set -uo pipefail
OUT=${OUT:-out}; mkdir -p "$OUT"
. gpu/scripts/device-env.sh
{ date -u +%FT%TZ; nvidia-smi --query-gpu=name,driver_version,clocks.sm,temperature.gpu,power.draw --format=csv,noheader; nproc
  python3 -c 'import torch, torchvision; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version(), "torchvision", torchvision.__version__)'; } >>"$OUT/gpu.txt" 2>&1
tail -4 "$OUT/gpu.txt"
OUT=$OUT LIMIT_S=${LIMIT_S:-555} gpu/scripts/device-bench-parts.sh "$@" -- --profiles profiles/h200 --batch 1 \
  --policies baseline,eclip-fit --modes graph --duration 4 --warmup 1 --no-solo --no-plots --no-sim-compare --tune --stream-priorities
date -u +%FT%TZ >>"$OUT/gpu.txt"
python3 - "$OUT" <<'PY'
import json, sys, tarfile, glob, os
for tgz in sorted(glob.glob(f"{sys.argv[1]}/*.tgz")):
    name = os.path.basename(tgz)[:-4]
    try:
        r = json.load(tarfile.open(tgz).extractfile(f"{name}/results.json"))
    except Exception as e:
        print(name, "no results", e); continue
    for run in r["runs"]:
        if run.get("backend") != "gpu" or run["policy"] == "baseline": continue
        sy = run["metrics"]["system"]; t = run.get("tuning") or {}
        print(f"{name:4} {run['mix']:6} STP/base {sy['stpVsBaseline']:.3f}  worst {sy['worstVsBaseline']:.3f} ({sy['worstWorker']})"
              f"  p95 {run['metrics']['p95VsBaseline']:.2f}  tune {t.get('seconds', 0):.0f} s, window {t.get('stpVsBaseline', 0):.3f},"
              f" fellBack {t.get('fellBack')}", flush=True)
PY
