// Recorded GPU runs re-simulated with the plans they executed under two or more profile directories (a candidate
// profile beside the shipped ones), for one model: per eclip-fit run, STP ÷ baseline's STP (the profiles' solo
// rates) and the model's rate ÷ its baseline rate, measured and simulated under each directory, then each
// directory's mean and largest error. Runs without the model (at --batch, where given) are skipped; each part needs
// its baseline runs.
//   node --import tsx bench/profile-ab-sim.ts --model resnext101 [--batch 1] shipped=profiles/h200 \
//     cand=DIR[+FILE...] PART...
// Paths relative to the working directory. PART: a folder with results.json and the plans it names, e.g.
// results/h200/conv-lanes-bench/on1. DIR+FILE: the directory's profiles with FILE, a profile, in place of the one of
// its name (e.g. an earlier version from git).
import { copyFileSync, cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { type Plan, type Results, type Run, readFile } from '../src/formats/index.ts'
import { profileSoloStp, simulatorOf } from '../test/measure/sim-vs-gpu.ts'

const { values, positionals } = parseArgs({
  options: { model: { type: 'string' }, batch: { type: 'string' } },
  allowPositionals: true,
})
const dirs = positionals.filter((a) => a.includes('=')).map((a) => a.split('=') as [string, string])
const parts = positionals.filter((a) => !a.includes('='))
const model = values.model
const batch = values.batch === undefined ? undefined : Number(values.batch)
if (
  !model ||
  (batch !== undefined && !(Number.isInteger(batch) && batch > 0)) ||
  dirs.length < 2 ||
  dirs.some((d) => !d[1]) ||
  parts.length === 0
) {
  console.error('usage: profile-ab-sim.ts --model M [--batch N] LABEL=DIR[+FILE...] LABEL=DIR ... PART ...')
  process.exit(2)
}
/** A profile directory, files put in place in a copy. */
const profileDir = (spec: string) => {
  const [dir, ...files] = spec.split('+').map((p) => resolve(p))
  if (files.length === 0) return dir as string
  const copy = mkdtempSync(join(tmpdir(), 'eclip-ab-'))
  process.on('exit', () => rmSync(copy, { recursive: true, force: true }))
  cpSync(dir as string, copy, { recursive: true })
  for (const f of files) {
    // in place of a profile of the same name, never beside it (the directory would read its own)
    if (!existsSync(join(copy, basename(f)))) {
      console.error(`${basename(f)}: no profile of that name in ${dir} to put it in place of`)
      process.exit(2)
    }
    copyFileSync(f, join(copy, basename(f)))
  }
  return copy
}
const sims = dirs.map(([label, spec]) => ({ label, sim: simulatorOf({ profiles: profileDir(spec) }) }))
const errs = new Map<string, { stp: number[]; model: number[] }>(
  sims.map((s) => [s.label, { stp: [], model: [] }]),
)
const isModel = (w: Run['workers'][number]) => w.model === model && (batch === undefined || w.batch === batch)
const ratio = (f: Run, b: Run, i: number) =>
  (f.workers[i]?.throughputRps as number) / (b.workers[i]?.throughputRps as number)

for (const part of parts) {
  const runs = readFile<Results>('results', resolve(part, 'results.json')).runs.filter(
    (r) => r.backend === 'gpu' && r.role !== 'solo' && r.workers.some(isModel),
  )
  const plans = new Map(runs.map((r) => [r.id, readFile<Plan>('plan', resolve(part, r.planFile as string))]))
  for (const f of runs.filter((r) => r.policy === 'eclip-fit')) {
    const b = runs.find((r) => r.mix === f.mix && r.policy === 'baseline')
    if (!b) continue
    const i = f.workers.findIndex(isModel)
    const measured = ratio(f, b, i)
    const cells = sims.map(({ label, sim }) => {
      const [sb, sf] = [b, f].map((r) => sim.resimulate(r, plans.get(r.id) as Plan)) as [Run, Run]
      // STP with this directory's solo rates, on both sides
      const g = profileSoloStp(sim, f) / profileSoloStp(sim, b)
      const s = profileSoloStp(sim, sf) / profileSoloStp(sim, sb)
      const e = errs.get(label) as { stp: number[]; model: number[] }
      e.stp.push(Math.abs(s / g - 1))
      e.model.push(Math.abs(ratio(sf, sb, i) / measured - 1))
      return { g, cell: `${label} ${s.toFixed(3)} / ${ratio(sf, sb, i).toFixed(2)}` }
    })
    console.log(
      `${part.split('/').slice(-2).join('/').padEnd(28)} ${f.mix.padEnd(6)} gpu ${cells[0]?.g.toFixed(3)} / ${measured.toFixed(2)}   ${cells.map((c) => c.cell).join('   ')}`,
    )
  }
}
console.log(`(each cell: STP ÷ baseline's / ${model}'s rate ÷ its baseline rate)`)
const pct = (xs: number[], f: (v: number[]) => number) => `${(f(xs) * 100).toFixed(1)}%`
const mean = (v: number[]) => v.reduce((a, c) => a + c, 0) / v.length
for (const [label, e] of errs)
  console.log(
    `${label}: |error| STP ÷ baseline's mean ${pct(e.stp, mean)}, max ${pct(e.stp, (v) => Math.max(...v))}; ${model} ÷ baseline mean ${pct(e.model, mean)}, max ${pct(e.model, (v) => Math.max(...v))} (${e.stp.length} runs)`,
  )
