#!/usr/bin/env bash
# One call on the GPU machine: versions, the GPU tests (Python, then the bundled TypeScript ones: scripts/device-bundle.sh,
# carry .device; wheels such as tritonclient's from .whl), the GPU description with an %smid probe, the primitives and
# a quick profile (PROFILE=0 skips these two). Writes logs under $OUT (the device tool brings them back).
# Usage: gpu/scripts/device-check.sh
set -uo pipefail
OUT=${OUT:-out/device}; mkdir -p "$OUT"
. "$(dirname "$0")/device-env.sh"
export PYTHONPATH=gpu:$PYTHONPATH
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,power.draw,power.limit,temperature.gpu --format=csv | tee "$OUT/nvidia-smi.txt"
python3 -c 'import torch, cuda.bindings, transformers, torchvision; print("torch", torch.__version__, "cuda", torch.version.cuda, "bindings", cuda.bindings.__version__, "transformers", transformers.__version__, "torchvision", torchvision.__version__)'
which cu++filt c++filt
time python3 -m pytest gpu/tests_gpu -q -s -p no:cacheprovider --timeout 180 2>&1 | tee "$OUT/gpu-tests.log" | tail -40
gpu=$(gpu_short_name)
if [ -x /tmp/node ] && ls .device/eclip/*.test.mjs >/dev/null 2>&1; then
  time ECLIP_GPU_PROFILES=${ECLIP_GPU_PROFILES:-$PWD/profiles/$gpu} \
    /tmp/node --test .device/eclip/*.test.mjs 2>&1 | tee "$OUT/ts-gpu-tests.log" | tail -12
fi
[ "${PROFILE:-1}" = 0 ] && exit 0
time python3 -m eclip_gpu describe --probe --out "$OUT/prof" 2>&1 | tail -3
time python3 -m eclip_gpu profile --models ${MODELS:-alexnet,resnet152} --batch ${BATCH:-1} --out "$OUT/prof" 2>&1 | tail -8
python3 - "$OUT/prof" <<'PY'
import json, sys, pathlib
d = pathlib.Path(sys.argv[1])
if (d / "primitives.json").exists():
    p = json.loads((d / "primitives.json").read_text())
    print({k: v["medianUs"] for k, v in p.items() if isinstance(v, dict) and "medianUs" in v})
for f in sorted(d.glob("*.b*.json")):
    p = json.loads(f.read_text())
    print(f.name, len(p["kernels"]), "kernels", "opStarts", len(p.get("opStarts", [])), "req", p["requestUs"], "ratio", p["kernelSumRatio"][-1])
PY
