#!/usr/bin/env bash
# Issue #18: eclip-fit TUNED on the GPU (`eclip bench --tune`: the simulator's 6 best candidates, the baseline's
# placement and model-wise homes measured, then at most 12 more by a coordinate search on measurements;
# src/plan/tune.ts, docs/plan.md) against baseline, back to back in one backend process: 4-s windows after 1 s, graph
# mode, solo rates from the profiles. From the carried bundle (scripts/device-bundle.sh: carry .device/eclip.tar.xz,
# .device/node.xz and .whl/, as for device-bench.sh). Usage there:
#   OUT=$OUT [LIMIT_S=540] gpu/scripts/device-tune.sh PART... [-- more bench options, e.g. --tune-evaluations 8]
# PARTs (each a bench call of its own; device-bench-parts.sh starts one only if its estimate still fits LIMIT_S and
# prints "skipped NAME" otherwise: run that one in the next call):
#   b8-a    mix1–mix4 at batch 8, est 300 s        b8-b    mix5–mix7 at batch 8, est 220 s
#   b1-a    mix1–mix4 at batch 1, est 300 s        b1-b    mix5–mix7 at batch 1, est 220 s
#   more-a  more1–more3 (mixes/more.yaml), batch 8, est 270 s
#   more-b  more4–more6, batch 8, est 300 s
# Estimates, per mix: 21 tuning runs of ~2.3 s (capturing the workers' graphs, 0.2–0.9 s, then 0.5 s warm-up, 1-s
# window, teardown) ≈ 50 s, ~60 s with 4–5 workers; the simulator's search 1–5 s on the host (more4: ~25 s); the
# baseline and eclip-fit runs ≈ 12 s; the simulated twin a few s; plus ~20 s per part for the backend's start and
# the models' first builds.
# Leaves NAME.tgz per part in $OUT, its log inside (NAME = tune-PART; at most 8 parts a call) and prints, last, per mix:
# eclip-fit's STP ÷ baseline's measured in its own run / in its tuning window / as the simulator predicts it, the
# worst worker, and the tuning's runs and seconds.
set -uo pipefail
OUT=${OUT:-out}
here=$(dirname "$0")
parts=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do parts+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
[ ${#parts[@]} -gt 0 ] || { echo "usage: device-tune.sh PART... [-- bench options] (b8-a b8-b b1-a b1-b more-a more-b)" >&2; exit 2; }

# a mix file of some of mixes/more.yaml's mixes (bench --mix takes a whole file)
subset() {
  local file=$1; shift
  awk -v keep=" $* " '
    !m { print; if ($0 ~ /^mixes:/) m = 1; next }
    /^  - name: / { on = index(keep, " " $3 " ") > 0 }
    on { print }' mixes/more.yaml >"$file"
}

specs=()
for p in "${parts[@]}"; do
  case $p in
    b8-a) specs+=("tune-b8-a:mix1,mix2,mix3,mix4:300:8") ;;
    b8-b) specs+=("tune-b8-b:mix5,mix6,mix7:220:8") ;;
    b1-a) specs+=("tune-b1-a:mix1,mix2,mix3,mix4:300:1") ;;
    b1-b) specs+=("tune-b1-b:mix5,mix6,mix7:220:1") ;;
    more-a) subset /tmp/more-a.yaml more1 more2 more3 && specs+=("tune-more-a:/tmp/more-a.yaml:270:8") ;;
    more-b) subset /tmp/more-b.yaml more4 more5 more6 && specs+=("tune-more-b:/tmp/more-b.yaml:300:8") ;;
    *) echo "device-tune.sh: unknown part $p (b8-a b8-b b1-a b1-b more-a more-b)" >&2; exit 2 ;;
  esac
done

LIMIT_S=${LIMIT_S:-540} "$here/device-bench-parts.sh" "${specs[@]}" -- \
  --policies baseline,eclip-fit --modes graph --duration 4 --warmup 1 --no-solo --no-plots --tune "$@"

for spec in "${specs[@]}"; do
  name=${spec%%:*}
  [ -f "/tmp/$name/results.json" ] || continue
  grep -q '"incomplete"' "/tmp/$name/results.json" && echo "$name: INCOMPLETE (stopped at its limit): the runs that ended"
  /tmp/node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).runs
    const run = (b, m, p) => r.find((x) => x.backend === b && x.mix === m && x.policy === p && x.role === "mix")
    const f = (x, d = 3) => (typeof x === "number" ? x.toFixed(d) : "–")
    console.log(`${process.argv[2]}: mix, eclip-fit STP ÷ baseline measured / in tuning / simulated, worst worker, tuning runs in s`)
    let n = 0, g = 0, t = 0, s = 0
    for (const m of [...new Set(r.map((x) => x.mix))]) {
      const e = run("gpu", m, "eclip-fit")
      const es = run("sim", m, "eclip-fit")?.metrics.system
      const sys = e?.metrics.system
      if (!sys) continue
      const tu = e.tuning
      n++; g += sys.stpVsBaseline; t += tu?.stpVsBaseline ?? NaN; s += es?.stpVsBaseline ?? NaN
      console.log(`  ${m.padEnd(6)} ${f(sys.stpVsBaseline)} / ${f(tu?.stpVsBaseline)} / ${f(es?.stpVsBaseline)}  ${sys.worstWorker} ${f(sys.worstVsBaseline, 2)}  ${tu?.evaluations ?? "–"} in ${f(tu?.seconds, 0)}`)
    }
    if (n) console.log(`  mean   ${f(g / n)} / ${f(t / n)} / ${f(s / n)}`)
  ' "/tmp/$name/results.json" "$name"
done
