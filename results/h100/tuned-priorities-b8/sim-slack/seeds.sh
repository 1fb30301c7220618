#!/usr/bin/env bash
# Which mixes the slack gives seeds of their own: per mix, eclip-fit --tune planned on the simulator backend with
# --tune-sim-floor-slack 0 and 0.05, and the seed plans of the two tunings (solver.tuning.runs, phase seed) compared.
# The seeds are the simulator's candidates, the same whatever backend measures them. Usage (from the repository root):
#   results/h100/tuned-priorities-b8/sim-slack/seeds.sh BATCH   # prints the table of seeds.txt (b8) / ../../tuned-priorities/sim-slack/seeds.txt (b1)
set -euo pipefail
batch=${1:?batch}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
mixes=(mix1 mix2 mix3 mix4 mix5 mix6 mix7 more1 more2 more3 more4 more5 more6)
for m in "${mixes[@]}"; do
  file=mixes/paper.yaml; [[ $m == more* ]] && file=mixes/more.yaml
  for s in 0 0.05; do
    ./bin/eclip.mjs plan --mix $file --mix-name "$m" --profiles profiles/h100 --policy eclip-fit --batch "$batch" \
      --tune --stream-priorities --tune-sim-floor-slack "$s" --out "$tmp/$m.$s.json" >/dev/null
  done
done
node -e '
const { readFileSync } = require("node:fs")
const [dir, ...mixes] = process.argv.slice(1)
const seeds = (f) => JSON.parse(readFileSync(f, "utf8")).solver.tuning.runs.filter((r) => r.phase === "seed").map((r) => JSON.stringify(r.plan))
console.log("mix    seeds (slack 0)  seeds (slack 0.05)  new")
for (const m of mixes) {
  const a = seeds(`${dir}/${m}.0.json`), b = seeds(`${dir}/${m}.0.05.json`)
  console.log(`${m.padEnd(6)} ${String(a.length).padStart(15)} ${String(b.length).padStart(19)} ${String(b.filter((x) => !a.includes(x)).length).padStart(4)}`)
}' "$tmp" "${mixes[@]}"
