#!/usr/bin/env bash
# Session 77, H200, batch 1: eclip-fit as a user gets it (untuned, no priorities) planned with two simulator
# calibrations, back to back: ship = profiles/h200/sim-calibration.json as it then was (before.sim-calibration.json
# beside this script), kap = the candidate with batch-1 γ's and κ's per profile (../tuned-prio-lanes-b1/
# candidate-b1-kappa.sim-calibration.json, shipped since). Parts ARM:NAME:MIXFILE:EST_S, each its own `eclip bench`
# with baseline beside eclip-fit (device-bench-parts.sh: packed as it ends, skipped if its estimate no longer fits
# LIMIT_S). Run from the repository root with this folder's files and the candidate copied to .device/s77 (the tree
# that travels); the four device calls are in README.md.
set -uo pipefail
here=$(dirname "$0"); OUT=${OUT:-out}; mkdir -p "$OUT"
. gpu/scripts/device-env.sh
{ date -u +%FT%TZ; nvidia-smi --query-gpu=name,driver_version,clocks.sm,temperature.gpu,power.draw --format=csv,noheader; nproc
  python3 -c 'import torch, torchvision; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version(), "torchvision", torchvision.__version__)'; } >>"$OUT/gpu.txt" 2>&1
tail -4 "$OUT/gpu.txt"
SECONDS=0
for part in "$@"; do
  IFS=: read -r arm name mixes est <<<"$part"
  cal=(--calibration "$here/before.sim-calibration.json")
  [ "$arm" = kap ] && cal=(--calibration "$here/candidate-b1-kappa.sim-calibration.json")
  ELAPSED=$SECONDS OUT=$OUT LIMIT_S=${LIMIT_S:-560} gpu/scripts/device-bench-parts.sh "$name:$mixes:$est" -- \
    --profiles profiles/h200 --batch 1 --policies baseline,eclip-fit --modes graph --duration 4 --warmup 1 --no-solo \
    --no-plots --no-sim-compare "${cal[@]}"
  date -u +%FT%TZ >>"$OUT/gpu.txt"
done
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
        sy = run["metrics"]["system"]
        print(f"{name:5} {run['mix']:6} STP/base {sy['stpVsBaseline']:.3f}  worst {sy['worstVsBaseline']:.3f} ({sy['worstWorker']})"
              f"  p95 {run['metrics']['p95VsBaseline']:.2f}", flush=True)
PY
