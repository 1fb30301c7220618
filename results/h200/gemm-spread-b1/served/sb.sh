#!/usr/bin/env bash
# eclip serve-bench on the GPU backend, mix1 at batch 1, eclip-fit from profiles/h200 (albert b1's GEMM target spread at
# some sizes: the serving path captures its GEMMs targeted there). Logs under $OUT.
set -uo pipefail
OUT=${OUT:-out}; mkdir -p "$OUT"
. gpu/scripts/device-env.sh
ECLIP_SUBCOMMAND=serve-bench DEADLINE_S=130 gpu/scripts/device-bench.sh sb1 --mix mix1 --batch 1 --profiles profiles/h200 \
  --policies eclip-fit --duration 2 --warmup 0.5 2>&1 | tail -15
python3 -c "import json,glob; [print(f, [(w[\"name\"], w.get(\"gemmTarget\"), w.get(\"gemmTargetOffSms\")) for w in json.load(open(f))[\"workers\"]]) for f in glob.glob(\"/tmp/sb1/plans/*.json\")]"
