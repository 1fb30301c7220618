#!/usr/bin/env bash
# session 30: DISB's best-effort models 2-10 at once, model-wise and mps, GEMM targets off then on, back to back
set -u
OUT=${OUT:-out}; mkdir -p "$OUT"
SECONDS=0
for arm in off on; do
  flag=--no-gemm-target; [ $arm = on ] && flag=""
  timeout $((560 - SECONDS)) gpu/scripts/device-bench.sh disb-scaling-$arm --mix examples/disb-scaling.yaml \
    --policies model-wise,mps --duration 3 --warmup 0.5 --no-plots --no-check-outputs --no-sim-compare \
    --profiles profiles/h100 $flag 2>&1 | grep -E "wrote|rror" | tail -2
  echo "arm $arm done at $SECONDS s"
done
for arm in off on; do echo "-- $arm"; grep -A10 "^System throughput STP" /tmp/disb-scaling-$arm/report.txt | head -11; done
