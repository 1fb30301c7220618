#!/usr/bin/env bash
# session 31: eclip-live served (issue #19) after the power-reply change: onoff-long at batch 8 seed 2 with the table
# tuned on the GPU (live-control/tuned/b8-s2), three 8-s windows per server start, two starts per policy, as
# live-served/repeats2. Usage there: OUT=... run4.sh
set -u
OUT=${OUT:-out}; mkdir -p "$OUT"
. gpu/scripts/device-env.sh
timeout -k 10 290 /tmp/node .device/eclip/eclip.mjs serve-bench --backend gpu --mix examples/onoff-long.yaml --batch 8 \
  --seed 2 --hold-ms 5 --transport shm --duration 8 --warmup 1 --policies baseline,eclip-live \
  --table .device/s31/b8-s2.json --no-gemm-target --repeats 3 --server-starts 2 --out /tmp/lv8 2>&1 | grep -v '^gpu: captured' >"$OUT/lv8.log"
echo "exit ${PIPESTATUS[0]}"
gzip -9 /tmp/lv8/requests.csv; cp -r /tmp/lv8 "$OUT/"
awk '/^(System throughput STP \(Σ rate\/solo, solo rates from the profiles\), arith|Worst worker|Total requests\/s ÷)/{p=1} p&&/^$/{p=0} p' /tmp/lv8/report.txt
