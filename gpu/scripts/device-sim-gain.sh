#!/usr/bin/env bash
# Issue #18: eclip-fit's plans made with the simulator's footprint and graph-edge calibration (profiles/h100,
# results/vm/sim-gain/), measured on the GPU against baseline, back to back, 4-s windows after 1 s: the paper's mixes
# at batch 8 and 1, then our six (mixes/more.yaml) at batch 8 if the call has time left (device-bench-parts.sh skips
# a part whose estimate no longer fits). From the carried bundle (scripts/device-bundle.sh: carry
# .device/eclip.tar.xz, .device/node.xz and .whl/, as for device-bench.sh). Usage there:
#   OUT=$OUT gpu/scripts/device-sim-gain.sh
# Leaves NAME.tgz per part in $OUT, its log inside (three parts) and prints, last, per mix the STP ratio
# measured and as the simulator predicted it, the worst worker and measured ÷ the STP bound.
set -uo pipefail
OUT=${OUT:-out}
here=$(dirname "$0")
LIMIT_S=${LIMIT_S:-520} "$here/device-bench-parts.sh" \
  gain-b8:mix1,mix2,mix3,mix4,mix5,mix6,mix7:190:8 \
  gain-b1:mix1,mix2,mix3,mix4,mix5,mix6,mix7:180:1 \
  gain-more-b8:mixes/more.yaml:160:8 \
  -- --policies baseline,eclip-fit --modes graph --duration 4 --warmup 1 --no-solo --no-plots
for name in gain-b8 gain-b1 gain-more-b8; do
  [ -f "/tmp/$name/results.json" ] || continue
  grep -q '"incomplete"' "/tmp/$name/results.json" && echo "$name: INCOMPLETE (stopped at its limit): the runs that ended"
  /tmp/node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).runs
    const sys = (b, m, p) => r.find((x) => x.backend === b && x.mix === m && x.policy === p && x.role === "mix")?.metrics.system
    const f = (x, d = 3) => (typeof x === "number" ? x.toFixed(d) : "–")
    console.log(`${process.argv[2]}: mix, eclip-fit STP ÷ baseline measured / simulated, worst worker, measured ÷ bound (baseline)`)
    let n = 0, g = 0, s = 0
    for (const m of [...new Set(r.map((x) => x.mix))]) {
      const e = sys("gpu", m, "eclip-fit"), b = sys("gpu", m, "baseline"), es = sys("sim", m, "eclip-fit")
      if (!e) continue
      n++; g += e.stpVsBaseline; s += es?.stpVsBaseline ?? NaN
      console.log(`  ${m.padEnd(6)} ${f(e.stpVsBaseline)} / ${f(es?.stpVsBaseline)}  ${e.worstWorker} ${f(e.worstVsBaseline, 2)}  ${f(e.stpVsBound, 2)} (${f(b?.stpVsBound, 2)})`)
    }
    if (n) console.log(`  mean   ${f(g / n)} / ${f(s / n)}`)
  ' "/tmp/$name/results.json" "$name"
done
