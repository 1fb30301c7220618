#!/usr/bin/env bash
# Session 72, call 1: the conv lanes' GPU tests, then the b1 profiles of the three models whose convolutions gained
# most in conv-lanes-probe, with the GEMM target and conv lanes (eclip_gpu profile --gemm-target --conv-target).
set -uo pipefail
. gpu/scripts/device-env.sh
export PYTHONPATH=gpu:$PYTHONPATH
nvidia-smi --query-gpu=name,driver_version,clocks.sm,temperature.gpu,power.draw --format=csv > "$OUT/gpu.txt"
python3 -c 'import torch, torchvision; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version(), "torchvision", torchvision.__version__)' >> "$OUT/gpu.txt"
timeout 200 python3 -m pytest gpu/tests_gpu/test_conv_target.py gpu/tests_gpu/test_gemm_target.py -q -s \
  -p no:cacheprovider --timeout 150 > "$OUT/gpu-tests.log" 2>&1
echo "tests rc=$?" | tee -a "$OUT/gpu.txt"
mkdir -p "$OUT/prof"
cp profiles/h200/gpu.json "$OUT/prof/gpu.json"
( cd gpu && timeout ${DEADLINE_S:-330} python3 -m eclip_gpu profile --models resnext101,resnet152,densenet201 \
  --batch 1 --out "$OUT/prof" --no-primitives --gemm-target --conv-target ) > "$OUT/profile.log" 2>&1
echo "profile rc=$?" | tee -a "$OUT/gpu.txt"
tail -5 "$OUT/gpu-tests.log"; grep -E "^\[|Error" "$OUT/profile.log" | tail -6
python3 - "$OUT/prof" <<'PY'
import json, sys, pathlib
for f in sorted(pathlib.Path(sys.argv[1]).glob("*.b1.fp16.json")):
    p = json.loads(f.read_text()); t = p.get("gemmTarget", {})
    r = [round(a / b, 3) for a, b in zip(t.get("requestUs", []), p["requestUs"])]
    print(f.name, "convs", t.get("convs"), "spread", t.get("spreadSms"), "off", t.get("offSms"), "targeted/default", r)
PY
