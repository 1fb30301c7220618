#!/usr/bin/env bash
# One call on the GPU machine: versions, the GPU tests (Python, then the bundled TypeScript ones: scripts/device-bundle.sh,
# carry .device; wheels such as tritonclient's from .whl), the GPU description with an %smid probe, the primitives and
# a quick profile (PROFILE=0 skips these two). Writes logs under $OUT (the device tool brings them back).
# Usage: gpu/scripts/device-check.sh
set -uo pipefail
OUT=${OUT:-out/device}; mkdir -p "$OUT"
if [ -d .whl ]; then python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site; fi
export PYTHONPATH=gpu:${PYTHONPATH:-} PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,power.draw,power.limit,temperature.gpu --format=csv | tee "$OUT/nvidia-smi.txt"
python3 -c 'import torch, cuda.bindings, transformers, torchvision; print("torch", torch.__version__, "cuda", torch.version.cuda, "bindings", cuda.bindings.__version__, "transformers", transformers.__version__, "torchvision", torchvision.__version__)'
which cu++filt c++filt
time python3 -m pytest gpu/tests_gpu -q -s -p no:cacheprovider --timeout 180 2>&1 | tee "$OUT/gpu-tests.log" | tail -40
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1 | sed -E 's/NVIDIA //; s/ .*//' | tr 'A-Z' 'a-z')
# the bundle carried this call wins over one left by an earlier call (ignored outputs stay on the machine)
[ -f .device/eclip.tar.xz ] && rm -rf .device/eclip && tar -xJf .device/eclip.tar.xz -C .device
if [ -f .device/node.xz ] && ls .device/eclip/*.test.mjs >/dev/null 2>&1; then
  [ -x /tmp/node ] || { python3 -c "import lzma,shutil;shutil.copyfileobj(lzma.open('.device/node.xz'),open('/tmp/node','wb'))" && chmod +x /tmp/node; }
  time ECLIP_HOME=$PWD ECLIP_PYTHON=python3 ECLIP_GPU_PROFILES=${ECLIP_GPU_PROFILES:-$PWD/profiles/$gpu} \
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
