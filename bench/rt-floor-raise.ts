// Can eclip-rt's best-effort plan keep every best-effort worker's floor with the real-time requests in? Plans a DISB
// workload, checks it as the planner does (src/execute/sim/realtime-floors.ts), raises the minShare of each worker
// short of its floor by its shortfall (+0.01, at most 1) and plans again, up to four rounds, on the simulator.
//   node --import tsx bench/rt-floor-raise.ts [disb-E] [--workloads workloads/disb.yaml] [--profiles profiles/h100]
import { parseArgs } from 'node:util'
import { resolveMix } from '../src/cli/commands/plan.ts'
import { simPlanner } from '../src/execute/sim/evaluator.ts'
import { simInputs } from '../src/execute/sim/inputs.ts'
import { realtimeFloorCheck } from '../src/execute/sim/realtime-floors.ts'
import { expandWorkers } from '../src/formats/mix.ts'
import { DEFAULT_MIN_SHARE } from '../src/plan/index.ts'
import { loadProfileSet } from '../src/profile/store.ts'

const { values: o, positionals } = parseArgs({
  options: {
    profiles: { type: 'string', default: 'profiles/h100' },
    workloads: { type: 'string', default: 'workloads/disb.yaml' },
  },
  allowPositionals: true,
})
const name = positionals[0] ?? 'disb-E'
let workers = expandWorkers(resolveMix(o.workloads, name))
// as `eclip plan` loads them (GEMM-target times)
const set = loadProfileSet(o.profiles, workers, { gemmTarget: true })
const ev = simInputs(set.gpu, { dir: o.profiles }).inputs
// each worker's floor as the workload gives it (DEFAULT_MIN_SHARE where none): what the rounds try to keep
const floors = workers.map((w) => w.minShare ?? DEFAULT_MIN_SHARE)
const list = (xs: readonly (number | null | undefined)[]) =>
  xs.map((x) => (x == null ? '-' : x.toFixed(3))).join(' ')
console.log(`${name}: ${workers.map((w) => w.name).join(' ')}`)
for (let round = 0; round < 4; round++) {
  const plan = await simPlanner(() => ev)(set.gpu, name, workers, set.profiles, { policy: 'eclip-rt' })
  const c = await realtimeFloorCheck(ev, set.gpu, plan, workers, set.profiles)
  if (!c) throw new Error(`${name}: not both real-time and best-effort workers`)
  console.log(`round ${round}: minShare ${list(workers.map((w) => w.minShare))}`)
  console.log(
    `  mean SMs ${workers.map((w, i) => (w.priority === 'realtime' ? '-' : (plan.workers[i]?.meanSms ?? 0).toFixed(1))).join(' ')}\n  ratio to baseline ${list(c.ratios)}`,
  )
  const short = c.ratios.map((r, i) => r !== null && r < (floors[i] as number))
  if (!short.some((x) => x)) break
  workers = workers.map((w, i) =>
    short[i]
      ? {
          ...w,
          minShare: Math.min(
            1,
            (w.minShare ?? (floors[i] as number)) + (floors[i] as number) - (c.ratios[i] as number) + 0.01,
          ),
        }
      : w,
  )
}
