// One best-effort worker beside the real-time requests, on partitions of several sizes: the simulator's frontier of
// RT mean latency against overall throughput for eclip-rt's --rt-ungated-sms. Takes an eclip-rt plan (a recorded
// one), moves the named best-effort worker's every group onto a partition of each size given (slices from the top
// of the GPU, ungated) and simulates the whole workload beside baseline's and the plan's own run.
//   node --import tsx bench/rt-lane-sweep.ts --plan PLAN.json --worker distilbert#1 [--sizes 8,16,24,32]
//     [--workload disb-E] [--workloads workloads/disb.yaml] [--profiles profiles/h100] [--window 10]
import { parseArgs } from 'node:util'
import { resolveMix } from '../src/cli/commands/plan.ts'
import type { RunSpec } from '../src/execute/backend.ts'
import { simulate } from '../src/execute/sim/index.ts'
import { simInputs } from '../src/execute/sim/inputs.ts'
import { type Plan, type Profile, readFile, type WorkerSpec } from '../src/formats/index.ts'
import { expandWorkers } from '../src/formats/mix.ts'
import { buildRun } from '../src/measure/metrics.ts'
import { isRealtime, makePlan } from '../src/plan/index.ts'
import { profilesOfPlan } from '../src/profile/gemm-target.ts'
import { loadProfileSet } from '../src/profile/store.ts'
import { loopOfWorkers } from '../src/workload/arrivals.ts'

const { values: o } = parseArgs({
  options: {
    plan: { type: 'string' },
    worker: { type: 'string' },
    sizes: { type: 'string', default: '8,16,24,32' },
    workload: { type: 'string', default: 'disb-E' },
    workloads: { type: 'string', default: 'workloads/disb.yaml' },
    profiles: { type: 'string', default: 'profiles/h100' },
    window: { type: 'string', default: '10' },
  },
})
if (!o.plan || !o.worker) throw new Error('--plan and --worker are needed')
const workers = expandWorkers(resolveMix(o.workloads, o.workload))
const set = loadProfileSet(o.profiles, workers, { gemmTarget: true })
const ev = simInputs(set.gpu, { dir: o.profiles }).inputs
const windowS = Number(o.window)

/** `plan` over `ws` (their own arrivals): the RT requests' mean latency and every request completed per second. */
function run(plan: Plan, ws = workers, ps = set.profiles) {
  const spec: RunSpec = {
    key: `${o.workload}|${plan.policy}|lane`,
    role: 'mix',
    mix: o.workload as string,
    mode: 'graph',
    batch: null,
    gpu: ev.gpu,
    plan,
    workers: ws,
    profiles: profilesOfPlan(plan, ps),
    loop: loopOfWorkers(ws, undefined, o.workload as string),
    warmupS: 1,
    windowS,
    seed: 1,
    primitives: ev.primitives,
    power: ev.power,
  }
  const { stats: _stats, ...result } = simulate(spec, { calibration: ev.calibration })
  // DISB's figures as the bench reports them (src/measure/metrics.ts)
  const rt = buildRun(spec, result, { backend: 'sim' }).metrics.realtime
  if (!rt?.meanUs) throw new Error(`${plan.mix}: no real-time request completed in the window`)
  return { rtMs: rt.meanUs / 1000, rps: rt.overallRps }
}

const rtIdx = workers.flatMap((w, i) => (isRealtime(w) ? [i] : []))
const rtWs = rtIdx.map((i) => workers[i] as WorkerSpec)
const rtPs = rtIdx.map((i) => set.profiles[i] as Profile)
const alone = run(
  await makePlan(set.gpu, `${o.workload}:rt-alone`, rtWs, rtPs, { policy: 'baseline' }),
  rtWs,
  rtPs,
)
const base = run(await makePlan(set.gpu, o.workload, workers, set.profiles, { policy: 'baseline' }))
const plan = readFile<Plan>('plan', o.plan)
const at = plan.workers.findIndex((w) => w.name === o.worker)
if (at < 0 || isRealtime(workers[at] as WorkerSpec))
  throw new Error(`${o.worker}: not a best-effort worker of the plan`)

const line = (what: string, x: { rtMs: number; rps: number }) =>
  console.log(
    `${what.padEnd(34)} ${x.rtMs.toFixed(3)}  ${((x.rtMs / alone.rtMs - 1) * 100).toFixed(1).padStart(6)}%  ${(x.rps / base.rps).toFixed(3)}`,
  )
console.log(`${o.workload}, simulated ${windowS} s after 1 s, seed 1; RT alone ${alone.rtMs.toFixed(3)} ms`)
console.log(`${'run'.padEnd(34)} RT ms  vs alone  overall ÷ baseline`)
line('baseline', base)
line(`the plan (${o.plan.split('/').pop()})`, run(plan))
const sliceSize = plan.gpu.sliceSize
const top = set.gpu.slices.filter((x) => !x.remainder).map((x) => x.id)
for (const sms of o.sizes
  .split(',')
  .filter((x) => x.trim() !== '')
  .map(Number)) {
  const slices = top.slice(top.length - sms / sliceSize)
  if (slices.length * sliceSize !== sms)
    throw new Error(`${sms} SMs is not a whole number of ${sliceSize}-SM slices`)
  const p = structuredClone(plan)
  const id = Math.max(...p.pool.partitions.map((x) => x.id)) + 1
  p.pool.partitions.push({ id, sms, slices })
  const w = p.workers[at] as Plan['workers'][number]
  const { gate: _gate, ...rest } = w
  p.workers[at] = {
    ...rest,
    groups: w.groups.map((g) => ({ ...g, partition: id })),
    partitions: [id],
    switches: 0,
  }
  line(`${o.worker} ungated on ${sms} SMs`, run(p))
}
