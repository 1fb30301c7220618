#!/usr/bin/env bash
# `eclip bench --resume` on the GPU machine (results/h200/checks/README.md): a bench SIGKILLed (its whole process
# group) once mix1's runs have ended, then the same command with --resume; writes both results.json, both logs and
# check.txt to $OUT
set -uo pipefail
. gpu/scripts/device-env.sh
nvidia-smi --query-gpu=name,driver_version,clocks.sm,temperature.gpu,power.draw --format=csv
O=/tmp/rs; rm -rf $O
ARGS=(--backend gpu --out $O --mix mix1,mix2 --batch 1 --profiles profiles/h200 --policies baseline,eclip-fit
  --modes graph --duration 2 --warmup 1 --no-solo --no-plots --no-sim-compare)
SECONDS=0
setsid /tmp/node .device/eclip/eclip.mjs bench "${ARGS[@]}" > $OUT/cut.log 2>&1 &
P=$!
for i in $(seq 1 400); do
  n=$(python3 -c "import json;print(len(json.load(open('$O/results.json'))['runs']))" 2>/dev/null || echo 0)
  [ "$n" -ge 2 ] && break; sleep 0.25
done
kill -9 -- -$P; wait $P 2>/dev/null; echo "killed at ${SECONDS} s with $n runs in results.json"
sleep 2; nvidia-smi --query-compute-apps=pid,used_memory --format=csv
cp $O/results.json $OUT/cut-results.json; wc -l $O/requests.csv; ls $O/plans
/tmp/node .device/eclip/eclip.mjs bench "${ARGS[@]}" --resume > $OUT/resume.log 2>&1; echo "resume rc=$? at ${SECONDS} s"
cp $O/results.json $OUT/resumed-results.json; wc -l $O/requests.csv
python3 - "$OUT" "$O" <<'PY' | tee $OUT/check.txt
import json, sys, csv, collections
out, o = sys.argv[1:]
cut = json.load(open(f"{out}/cut-results.json")); res = json.load(open(f"{out}/resumed-results.json"))
key = lambda r: (r["mix"], r["policy"])
print("cut runs:", [key(r) for r in cut["runs"]], "incomplete:", cut.get("incomplete"))
print("resumed runs:", [key(r) for r in res["runs"]], "incomplete:", res.get("incomplete"))
kept = {key(r): r for r in cut["runs"]}
for r in res["runs"]:
    k = key(r)
    if k in kept:
        same = [w["throughputRps"] for w in r["workers"]] == [w["throughputRps"] for w in kept[k]["workers"]]
        print(k, "kept as recorded:", same)
    else:
        print(k, "ran again:", [round(w["throughputRps"], 1) for w in r["workers"]])
n = collections.Counter(row["run"] for row in csv.DictReader(open(f"{o}/requests.csv")))
print("requests per run:", dict(n))
print("warnings:", res.get("provenance", {}).get("warnings"))
PY
echo "done at ${SECONDS} s"
