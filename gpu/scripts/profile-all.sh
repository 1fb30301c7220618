#!/usr/bin/env bash
# Profiles the paper's seven models at batch 1 and 8 on the GPU at hand into $OUT/<gpu>/ (then copied into
# profiles/<gpu>/ of the repository; the device tool brings back few files, so they come as one tarball). Usage on the GPU machine: OUT=... gpu/scripts/profile-all.sh
set -uo pipefail
OUT=${OUT:-out}; mkdir -p "$OUT"
. "$(dirname "$0")/device-env.sh"
export PYTHONPATH=gpu:$PYTHONPATH
gpu=$(gpu_short_name)
dir="/tmp/eclip-profiles/$gpu"; mkdir -p "$dir"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,power.draw,power.limit,temperature.gpu --format=csv > "$dir/nvidia-smi.txt"
python3 -m eclip_gpu describe --probe --out "$dir" || exit 1
# with GEMM targets (docs/profile.md), as `eclip profile` does by default
time python3 -m eclip_gpu profile --models ${MODELS:-all} --batch ${BATCH:-1,8} --out "$dir" --gemm-target 2>&1 | grep -v -e UserWarning -e _warn_once | tee "$dir/profile.log"
tar czf "$OUT/profiles-$gpu.tgz" -C "$(dirname "$dir")" "$gpu" && ls -la "$OUT"
