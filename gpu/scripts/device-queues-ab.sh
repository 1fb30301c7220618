#!/usr/bin/env bash
# Issue #5's lock-step A/B on the GPU machine: the same short bench (mixes where co-located workers completed
# requests at one common rate) with the driver's default 8 hardware queues and with the backend's 32
# (CUDA_DEVICE_MAX_CONNECTIONS, gpu/eclip_gpu/__init__.py), back to back in one call. Prints per-worker rates.
# Recorded: results/h100/queues-ab/ (where it also says what else was tried: streams spread over contexts).
#   OUT=... gpu/scripts/device-queues-ab.sh [MIXES] [BATCH]
set -uo pipefail
mixes=${1:-mix5,mix3,mix2}; batch=${2:-8}
OUT=${OUT:-out}; mkdir -p "$OUT"
common=(--mix "$mixes" --batch "$batch" --modes graph --duration 5 --warmup 1 --no-solo --no-plots --no-sim-compare)
variants=(
  "queues8:CUDA_DEVICE_MAX_CONNECTIONS=8:baseline,model-wise,eclip"
  "queues32:CUDA_DEVICE_MAX_CONNECTIONS=32:baseline,model-wise,eclip"
)
for v in "${variants[@]}"; do
  IFS=: read -r name envs policies <<<"$v"
  echo "== $name ($envs) at ${SECONDS} s"
  env $envs OUT="$OUT" "$(dirname "$0")/device-bench.sh" "ab-$name" "${common[@]}" --policies "$policies" >/dev/null
done
python3 - "$OUT" <<'PY'
import json, sys, tarfile, glob, os
for f in sorted(glob.glob(os.path.join(sys.argv[1], "ab-*.tgz")), key=os.path.getmtime):
    name = os.path.basename(f)[:-4]
    with tarfile.open(f) as t:
        m = t.extractfile(f"{name}/results.json")
        if m is None:
            print(name, "no results"); continue
        r = json.load(m)
    for run in r["runs"]:
        if run.get("backend") == "sim":
            continue
        rates = "/".join(f"{w['throughputRps']:.1f}" for w in run["workers"])
        print(f"{name:14s} {run['mix']:5s} {run['policy']:11s} {run.get('mode') or '':6s} {rates}")
PY
echo "done at ${SECONDS} s"
