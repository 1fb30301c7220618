#!/usr/bin/env bash
# eclip-rt's frontier on DISB in ONE device call (issue #20): `eclip bench --backend gpu --workload disb` under
# baseline and eclip-rt with RESERVES SMs kept from best-effort work (--rt-reserve-sms), one bench per reserve, each
# with its own rt-alone and baseline runs and the simulator's runs beside. From the carried bundle, as
# device-bench.sh (scripts/device-bundle.sh: carry .device/eclip.tar.xz, .device/node.xz and .whl/).
# Usage there: OUT=... gpu/scripts/device-rt-frontier.sh NAME
#   env: RESERVES (32,48,64) DURATION (3) WARMUP (0.5) PROFILES (default: the shipped profiles/<gpu>)
#        LIMIT_S (400: a bench that would not end by then is skipped; each is cut there, so the tar comes back)
#        EST_S (one bench's estimate, s; 110: 15 runs of 3.5 s plus start, builds and the simulated runs)
# Writes $OUT/NAME.tgz (rN/: results.json, requests.csv, report.txt, plans/) and $OUT/NAME.log; prints last, per
# workload and reserve, eclip-rt's RT mean and p99 ÷ alone and overall req/s, STP and the worst worker ÷ baseline's
# (measured, the simulator's in brackets).
set -uo pipefail
name=${1:?usage: device-rt-frontier.sh NAME}
OUT=${OUT:-out}; mkdir -p "$OUT"
reserves=${RESERVES:-32,48,64}; limit=${LIMIT_S:-400}; est=${EST_S:-110}
. "$(dirname "$0")/device-env.sh"
dir=/tmp/$name
rm -rf "$dir"; mkdir -p "$dir"
log=$OUT/$name.log
prof=()
[ -n "${PROFILES:-}" ] && prof=(--profiles "$PROFILES")
SECONDS=0
nvidia-smi --query-gpu=name,driver_version,clocks.sm,power.limit,temperature.gpu --format=csv >"$log" 2>&1
rc=0
for r in ${reserves//,/ }; do
  if [ $((SECONDS + est)) -gt "$limit" ]; then
    echo "skipped reserve $r (${SECONDS} s in, estimate $est s, limit $limit s)" | tee -a "$log"; rc=1; continue
  fi
  echo "== bench: disb / baseline,eclip-rt / --rt-reserve-sms $r (at ${SECONDS} s)" | tee -a "$log"
  left=$((limit - SECONDS))
  timeout -k 10 "$left" /tmp/node .device/eclip/eclip.mjs bench --backend gpu --workload disb \
    --policies baseline,eclip-rt --rt-reserve-sms "$r" --duration "${DURATION:-3}" --warmup "${WARMUP:-0.5}" \
    --no-solo --no-plots --no-check-outputs "${prof[@]}" --out "$dir/r$r" 2>&1 | grep -v '^gpu: captured' >>"$log"
  s=${PIPESTATUS[0]}
  echo "== bench: exit $s at ${SECONDS} s" | tee -a "$log"
  [ "$s" = 0 ] || rc=1
done
tar czf "$OUT/$name.tgz" -C /tmp "$name"
python3 - "$dir" ${reserves//,/ } <<'EOF'
import json, os, sys
d, reserves = sys.argv[1], sys.argv[2:]
print("eclip-rt ÷ alone (RT) and ÷ baseline (throughput), measured (simulated)")
print(f"{'workload':9}{'reserve':>8}{'RT mean':>14}{'RT p99':>14}{'overall':>14}{'STP':>14}  worst worker")
for r in reserves:
    f = os.path.join(d, f"r{r}", "results.json")
    if not os.path.exists(f):
        print(f"reserve {r}: no results"); continue
    runs = json.load(open(f))["runs"]
    pick = lambda mix, backend: next((x for x in runs if x["mix"] == mix and x["policy"] == "eclip-rt"
                                      and x["role"] == "mix" and x["backend"] == backend), None)
    for mix in sorted({x["mix"] for x in runs if x["role"] == "mix"}):
        g, s = pick(mix, "gpu"), pick(mix, "sim")
        if not g: continue
        def cells(x):
            if not x: return ["–"] * 4 + ["–"]
            rt, st = x["metrics"]["realtime"], x["metrics"].get("system") or {}
            q = lambda a, b: f"{a / b:.2f}" if a is not None and b else "–"
            ww = st.get("worstVsBaseline")
            return [q(rt["meanUs"], rt["aloneMeanUs"]), q(rt["p99Us"], rt["aloneP99Us"]),
                    f"{rt['overallVsBaseline']:.2f}" if rt.get("overallVsBaseline") else "–",
                    f"{st['stpVsBaseline']:.2f}" if st.get("stpVsBaseline") else "–",
                    f"{ww:.2f} {st.get('worstWorker') or ''}" if ww is not None else "–"]
        a, b = cells(g), cells(s)
        print(f"{mix:9}{r:>8}" + "".join(f"{f'{x} ({y})':>14}" for x, y in zip(a[:4], b[:4])) + f"  {a[4]} ({b[4].split(' ')[0]})")
EOF
echo "== done at ${SECONDS} s"
exit "$rc"
