#!/usr/bin/env bash
# session 30 call 1: the GEMM-target GPU test in every capture mode; mix7 b1 served over shm and cuda-shm, with
# cuda-shm's requests sent by its Python clients (py) or by Node clients naming the regions Python holds (nd)
set -u
OUT=${OUT:-out}; mkdir -p "$OUT"
. gpu/scripts/device-env.sh
SECONDS=0
nvidia-smi --query-gpu=name,driver_version,clocks.sm,temperature.gpu,power.draw --format=csv > "$OUT/gpu.txt" 2>&1
lscpu | grep -E "Model name|^CPU\(s\)" >> "$OUT/gpu.txt"
timeout 200 python3 -m pytest -q gpu/tests_gpu/test_gemm_target.py > "$OUT/pytest-gemm-target.log" 2>&1
echo "pytest gemm target: $(tail -1 "$OUT/pytest-gemm-target.log") at $SECONDS s"
OUT=$OUT BUDGET_S=$((570 - SECONDS)) PROFILES=profiles/h100 BATCH=1 TRANSPORTS=shm,cuda-shm DURATION=4 WARMUP=1 \
  MIXES=mix7 FRONTENDS=0 LEGS="py nd::--cuda-shm-sender,node py nd::--cuda-shm-sender,node" \
  gpu/scripts/device-serve-legs.sh --concurrency 12 --client-processes 3
echo "done at $SECONDS s"
