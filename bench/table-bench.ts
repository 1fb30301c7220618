// Plan-table benchmark (issue #19): how long a table of every subset takes for n models — wall time, the process's
// CPU time (all threads) and each subset size's plan times — on the shipped H100 profiles, eclip-fit scored on the
// calibrated simulator as `eclip plan --table` and `eclip bench --policies eclip-live` make it.
//   node --import tsx bench/table-bench.ts [--models albert,densenet201,vgg19] [--threads 1] [--policy eclip-fit]
//     [--batch 1] [--profiles profiles/h100]
import { simInputs } from '../src/execute/sim/inputs.ts'
import { threadedSimPlanner } from '../src/execute/sim/table-threads.ts'
import { keyNames, type Policy, type WorkerSpec } from '../src/formats/index.ts'
import { makePlanTable, type SubsetPlanner } from '../src/plan/table.ts'
import { loadProfileSet } from '../src/profile/store.ts'

const args = process.argv.slice(2)
const arg = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? (args[i + 1] ?? def) : def
}
const models = arg('models', 'albert,densenet201,vgg19').split(',')
const threads = Number(arg('threads', '1'))
const policy = arg('policy', 'eclip-fit') as Policy
const batch = Number(arg('batch', '1'))
const dir = arg('profiles', 'profiles/h100')

const workers: WorkerSpec[] = models.map((model, i) => ({
  name: `${model}#${i}`,
  model,
  batch,
  dtype: 'fp16',
}))
const set = loadProfileSet(dir, workers)
const ev = simInputs(set.gpu, { dir })
const threaded = threadedSimPlanner(ev.inputs, {}, threads)
// each subset's plan time, by its number of workers (in the thread that planned it: the plan's own solve time)
const bySize = new Map<number, number[]>()
const planner: SubsetPlanner = async (...a) => {
  const plan = await threaded.planner(...a)
  const n = a[2].length
  bySize.set(n, [...(bySize.get(n) ?? []), plan.solver.solveMs / 1000])
  return plan
}
const cpu0 = process.cpuUsage()
const t0 = performance.now()
const table = await makePlanTable(set.gpu, 'bench', workers, set.profiles, {
  policy,
  planner,
  concurrency: threaded.threads,
})
const wallS = (performance.now() - t0) / 1000
const cpu = process.cpuUsage(cpu0)
await threaded.close()
const sizes = [...bySize.entries()].sort((a, b) => a[0] - b[0])
console.log(
  `${models.length} models (${models.join(', ')}), b${batch}, ${policy}: ${table.plans.length} plans in ${wallS.toFixed(1)} s wall, ` +
    `${((cpu.user + cpu.system) / 1e6).toFixed(1)} s CPU, ${threaded.threads} thread(s); ${table.planning?.planned} planned, ` +
    `${table.planning?.reused} reused; ${table.union.partitions.length} partitions in all (largest plan pool ${Math.max(...table.plans.map((e) => e.plan.pool.partitions.length))})`,
)
for (const [n, ts] of sizes)
  console.log(
    `  ${n} workers: ${ts.length} plans, mean ${(ts.reduce((a, b) => a + b, 0) / ts.length).toFixed(1)} s, max ${Math.max(...ts).toFixed(1)} s`,
  )
const stp = table.plans
  .filter((e) => keyNames(e.key).length > 1 && e.plan.solver.stp)
  .map((e) => {
    const s = e.plan.solver.stp as { value: number; baseline: number }
    return s.value / s.baseline
  })
if (stp.length > 0)
  console.log(
    `  evaluated STP vs baseline of the plans of ≥ 2 workers: min ${Math.min(...stp).toFixed(3)}, mean ${(stp.reduce((a, b) => a + b, 0) / stp.length).toFixed(3)}, max ${Math.max(...stp).toFixed(3)}`,
  )
