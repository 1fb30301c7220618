// eclip-rt's best-effort floor check (src/execute/sim/realtime-floors.ts) on recorded GPU runs: for each results file,
// the eclip-rt plan the run executed, checked as the planner checks it (the workload simulated 3 s under the plan and
// under baseline), beside each best-effort worker's measured rate ÷ its rate under the same bench's baseline.
//   node --import tsx bench/rt-floor-check.ts [--profiles profiles/h100] [--workloads workloads/disb.yaml]
//     RESULTS.json...
import { parseArgs } from 'node:util'
import { loadRealtimeSet } from '../src/calibrate/realtime.ts'
import { resolveMix } from '../src/cli/commands/plan.ts'
import { calibrationFrom } from '../src/execute/sim/index.ts'
import { realtimeFloorCheck } from '../src/execute/sim/realtime-floors.ts'
import { expandWorkers } from '../src/formats/mix.ts'
import { DEFAULT_MIN_SHARE } from '../src/plan/index.ts'
import { profilesOfPlan } from '../src/profile/gemm-target.ts'

const { values: o, positionals } = parseArgs({
  options: {
    profiles: { type: 'string', default: 'profiles/h100' },
    workloads: { type: 'string', default: 'workloads/disb.yaml' },
  },
  allowPositionals: true,
})
console.log(
  'results                          worker           floor  measured  checked  diff   short (measured / checked)',
)
for (const file of positionals) {
  const { runs, inputs, calibration } = loadRealtimeSet(file, o.profiles)
  const rt = runs.find((r) => r.policy === 'eclip-rt' && r.role === 'mix')
  const base = runs.find((r) => r.policy === 'baseline' && r.role === 'mix')
  if (!rt || !base) throw new Error(`${file}: no eclip-rt and baseline runs of the whole workload`)
  const workers = expandWorkers(resolveMix(o.workloads, rt.mix))
  const plan = inputs.planOf(rt)
  const check = await realtimeFloorCheck(
    {
      gpu: inputs.gpu,
      primitives: inputs.primitives,
      power: inputs.power,
      calibration: calibrationFrom(calibration),
    },
    inputs.gpu,
    plan,
    workers,
    profilesOfPlan(plan, inputs.profilesFor(workers)),
  )
  if (!check) throw new Error(`${file}: ${rt.mix} has not both real-time and best-effort workers`)
  workers.forEach((w, i) => {
    const c = check.ratios[i]
    if (c === null || c === undefined) return
    const m = (rt.workers[i]?.throughputRps ?? 0) / (base.workers[i]?.throughputRps ?? 1)
    const f = w.minShare ?? DEFAULT_MIN_SHARE
    console.log(
      `${file.replace(/\/results\.json$/, '').padEnd(32)} ${w.name.padEnd(16)} ${f.toFixed(2)}  ${m.toFixed(3)}     ${c.toFixed(3)}   ${(c - m >= 0 ? '+' : '') + (c - m).toFixed(3)}  ${m < f ? 'yes' : 'no '} / ${c < f ? 'yes' : 'no'}`,
    )
  })
}
