// Would eclip-fit's static plans lose STP under the guard on total requests/s that eclip-live's set plans keep
// (minTotalShare, src/plan/fit.ts)? Plans every mix of mixes/paper.yaml and mixes/more.yaml at batch 1 and 8 with and
// without it and prints the evaluator's STP and total requests/s of each plan against baseline's. SIMULATED only:
// the evaluator's predictions at plan time, nothing run.
//   node --import tsx bench/total-guard-static.ts [--profiles profiles/h100] [--share 1.01]
import { fileURLToPath } from 'node:url'
import { simEvaluator } from '../src/execute/sim/evaluator.ts'
import { simInputs } from '../src/execute/sim/inputs.ts'
import { expandWorkers, type MixFile, readFile } from '../src/formats/index.ts'
import { makePlan } from '../src/plan/index.ts'
import { loadProfileSet } from '../src/profile/store.ts'

const args = process.argv.slice(2)
const arg = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? (args[i + 1] ?? def) : def
}
const dir = arg('profiles', 'profiles/h100')
const share = Number(arg('share', '1.01'))
const files = ['../mixes/paper.yaml', '../mixes/more.yaml'].map((f) =>
  fileURLToPath(new URL(f, import.meta.url)),
)

/** The plan's STP and total requests/s as ratios to baseline's, from its notes (make-plan.ts writes both). */
function ratios(notes: string): [number, number] {
  const stp = /evaluated STP [\d.]+, ([\d.]+)× baseline's/.exec(notes)?.[1]
  const total = /total requests\/s ([\d.]+)× baseline's;/.exec(notes)?.[1]
  if (stp === undefined || total === undefined)
    throw new Error(`no STP or total in the plan's notes: ${notes}`)
  return [Number(stp), Number(total)]
}

console.log(
  `eclip-fit static plans, no guard vs minTotalShare ${share} — SIMULATED (the evaluator's predictions)`,
)
console.log('mix      batch  STP none  total none  STP guard  total guard')
let lower = 0
let higher = 0
let all = 0
for (const file of files)
  for (const mix of readFile<MixFile>('mix', file).mixes)
    for (const batch of [1, 8]) {
      const workers = expandWorkers(mix, batch)
      const set = loadProfileSet(dir, workers)
      const ev = simInputs(set.gpu, { dir })
      const plan = (minTotalShare?: number) =>
        makePlan(set.gpu, mix.name, workers, set.profiles, {
          policy: 'eclip-fit',
          evaluator: simEvaluator(ev.inputs, workers, set.profiles),
          ...(minTotalShare !== undefined ? { minTotalShare } : {}),
        })
      const [s0, t0] = ratios((await plan()).solver.notes ?? '')
      const [s1, t1] = ratios((await plan(share)).solver.notes ?? '')
      all++
      if (s1 < s0) lower++
      if (s1 > s0) higher++
      const f = (x: number) => x.toFixed(3).padStart(9)
      console.log(`${mix.name.padEnd(8)} ${String(batch).padStart(5)} ${f(s0)} ${f(t0)}   ${f(s1)} ${f(t1)}`)
    }
console.log(
  `STP under the guard: lower in ${lower}, higher in ${higher}, equal in ${all - lower - higher} of ${all}`,
)
