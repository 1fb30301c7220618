#!/usr/bin/env bash
# eclip serve-bench on the GPU backend, mix1 at batch 1, eclip-fit from profiles/h200 (albert b1's GEMM target off at
# some sizes: the serving path's capture with gemmTargetOffSms). Logs under $OUT.
set -uo pipefail
OUT=${OUT:-out}; mkdir -p "$OUT"
. gpu/scripts/device-env.sh
ECLIP_SUBCOMMAND=serve-bench DEADLINE_S=130 gpu/scripts/device-bench.sh sb1 --mix mix1 --batch 1 --profiles profiles/h200 \
  --policies eclip-fit --duration 2 --warmup 0.5 2>&1 | tail -15
grep -h -o '"gemmTargetOffSms":\[[0-9,]*\]' /tmp/sb1/plans/*.json 2>/dev/null | sort | uniq -c
