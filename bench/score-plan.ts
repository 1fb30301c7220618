// What the planner's evaluator says of given plans: each plan scored on the simulator as eclip-fit's search scores a
// candidate (src/execute/sim/score.ts, its default run length and seed), against the baseline plan of the same mix:
// STP ÷ baseline's STP (solo rates from the profiles), each worker's rate ÷ its baseline rate, and the workers' mean
// p95 ÷ baseline's (what the search caps). With another
// calibration (`--calibration`) it says how a candidate would rank plans another one chose.
//   node --import tsx bench/score-plan.ts --profiles DIR [--calibration FILE] --baseline BASELINE.plan.json
//     PLAN.json ...

import { parseArgs } from 'node:util'
import { simInputs } from '../src/execute/sim/inputs.ts'
import { scorePlan } from '../src/execute/sim/score.ts'
import { type Plan, type Profile, readFile } from '../src/formats/index.ts'
import { fitMetrics } from '../src/plan/fit.ts'
import { profilesOfPlan } from '../src/profile/gemm-target.ts'
import { loadGpu, profilesIn } from '../src/profile/store.ts'

/** Each plan's STP ÷ the baseline plan's and its workers' rates ÷ theirs under it, on the planner's evaluator. */
export function scorePlans(
  dir: string,
  calibration: string | undefined,
  baselineFile: string,
  files: string[],
) {
  const gpu = loadGpu(dir)
  const { inputs } = simInputs(gpu, { dir, ...(calibration ? { calibration } : {}) })
  const profilesFor = profilesIn(dir, gpu)
  const run = (file: string) => {
    const plan = readFile<Plan>('plan', file)
    const ws = plan.workers.map((w) => ({ name: w.name, model: w.model, batch: w.batch, dtype: w.dtype }))
    const base = ws.map((w) => profilesFor([{ ...w, name: w.model }])[0] as Profile)
    return { plan, base, score: scorePlan(inputs, plan, ws, profilesOfPlan(plan, base)) }
  }
  const b = run(baselineFile)
  // the search's own comparison with baseline (solo rates from the profiles, weights 1, no floors)
  const objective = {
    soloRps: b.base.map((p) => 1e6 / (p.requestUs.at(-1) as number)),
    weights: b.base.map(() => 1),
    floors: b.base.map(() => 0),
  }
  return files.map((f) => {
    const x = run(f)
    const m = fitMetrics(x.score, b.score, objective)
    return {
      file: f,
      stpRatio: m.stpRatio,
      p95Ratio: m.p95,
      workers: x.plan.workers.map((w, i) => ({ name: w.name, ratio: m.ratios[i] as number })),
    }
  })
}

function main() {
  const { values, positionals } = parseArgs({
    options: { profiles: { type: 'string' }, calibration: { type: 'string' }, baseline: { type: 'string' } },
    allowPositionals: true,
  })
  if (!values.profiles || !values.baseline || positionals.length === 0)
    throw new Error(
      'usage: score-plan.ts --profiles DIR [--calibration FILE] --baseline BASELINE.plan.json PLAN.json ...',
    )
  for (const r of scorePlans(values.profiles, values.calibration, values.baseline, positionals))
    console.log(
      `${r.file}: STP ${r.stpRatio.toFixed(3)} × baseline's, mean p95 ${r.p95Ratio.toFixed(3)} ×; ${r.workers.map((w) => `${w.name} ${w.ratio.toFixed(3)}`).join(', ')}`,
    )
}

if (process.argv[1] && import.meta.filename === process.argv[1]) main()
