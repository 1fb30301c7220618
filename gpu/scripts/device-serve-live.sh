#!/usr/bin/env bash
# eclip-live served on the GPU machine in ONE device call (issue #19): for each CASE (batch:seed:table), the on/off
# workload examples/onoff-long.yaml served by `eclip serve` on the GPU backend, clients over system shared memory:
#   1. `eclip serve-bench --policies baseline,eclip-live --table TABLE` (the table a GPU bench tuned: served as it is);
#   2. `eclip serve-bench --policies eclip-live` without a table (the server plans its own on the simulator).
# Same seed, so every run gets the same on/off periods; hold 5 ms as the bench's. Carry as for device-bench.sh
# (.device/eclip.tar.xz, .device/node.xz, .whl/) plus the tables.
# Usage there: OUT=... gpu/scripts/device-serve-live.sh NAME B:SEED:TABLE [B:SEED:TABLE ...]
#   env: DURATION (8) WARMUP (1) TRANSPORT (shm) LIMIT_S (560)
# Writes $OUT/NAME.tgz (<case>/tuned/, <case>/own/: results.json, requests.csv, report.txt) and $OUT/NAME.log; prints
# each run's STP, worst worker and totals last.
set -uo pipefail
name=${1:?usage: device-serve-live.sh NAME B:SEED:TABLE ...}
shift
OUT=${OUT:-out}; mkdir -p "$OUT"
duration=${DURATION:-8}; warmup=${WARMUP:-1}; transport=${TRANSPORT:-shm}; limit=${LIMIT_S:-560}
. "$(dirname "$0")/device-env.sh"
dir=/tmp/$name
rm -rf "$dir"; mkdir -p "$dir"
log=$OUT/$name.log
eclip() { left=$((limit - SECONDS)); timeout -k 10 $((left > 30 ? left : 30)) /tmp/node .device/eclip/eclip.mjs "$@"; }
SECONDS=0
nvidia-smi --query-gpu=name,driver_version,clocks.sm,power.limit,temperature.gpu --format=csv >"$log" 2>&1
rc=0
for c in "$@"; do
  IFS=: read -r batch seed table <<<"$c"
  sub=$dir/b$batch-s$seed
  common=(serve-bench --backend gpu --mix examples/onoff-long.yaml --batch "$batch" --seed "$seed" --hold-ms 5
    --transport "$transport" --duration "$duration" --warmup "$warmup")
  echo "== b$batch seed $seed: baseline, eclip-live with $table (at ${SECONDS} s)" | tee -a "$log"
  eclip "${common[@]}" --policies baseline,eclip-live --table "$table" --out "$sub/tuned" 2>&1 | grep -v '^gpu: captured' >>"$log"
  r=${PIPESTATUS[0]}; echo "== exit $r at ${SECONDS} s" | tee -a "$log"; [ "$r" = 0 ] || rc=1
  echo "== b$batch seed $seed: eclip-live with its own table (at ${SECONDS} s)" | tee -a "$log"
  eclip "${common[@]}" --policies eclip-live --out "$sub/own" 2>&1 | grep -v '^gpu: captured' >>"$log"
  r=${PIPESTATUS[0]}; echo "== exit $r at ${SECONDS} s" | tee -a "$log"; [ "$r" = 0 ] || rc=1
done
tar czf "$OUT/$name.tgz" -C /tmp "$name"
for f in "$dir"/*/*/report.txt; do
  echo "==== ${f#"$dir"/}"
  awk '/^(System throughput STP \(Σ rate\/solo, solo rates from the profiles\), arith|Worst worker|Total requests\/s ÷|Sustained throughput per worker|Errors in the window)/{p=1} p&&/^$/{p=0} p' "$f"
done
echo "== done at ${SECONDS} s"
exit "$rc"
