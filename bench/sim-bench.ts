// Simulator throughput benchmark: kernel events (kernel completions) processed per second of wall time on one core.
// Target (issue #4): ≥ 1 million. Run: node --import tsx bench/sim-bench.ts [simulated seconds per case, default 2]
//
// Inputs are synthetic (src/profile/synthetic.ts) and the plans hand-made, so the number does not depend on the
// optimizer: "baseline" puts every kernel of every worker on the whole GPU (every kernel start/end takes the shared-
// slice path of the contention model); "kernel-wise" gives each worker a ladder of overlapping partitions, built from
// opposite ends of the slice list as ECLIP does, and each kernel the smallest rung at or above its right-size.
// Then, where profiles are shipped (profiles/h100 or h200), the same mix on measured profiles with makePlan's eclip
// plan.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { RunSpec } from '../src/execute/backend.ts'
import { defaultPowerModel, defaultPrimitives, simulate } from '../src/execute/sim/index.ts'
import { type Plan, type Profile, runKey } from '../src/formats/index.ts'
import { makePlan } from '../src/plan/index.ts'
import { loadProfileSet } from '../src/profile/store.ts'
import { syntheticH100Gpu, syntheticProfile } from '../src/profile/synthetic.ts'
import { handPlanner } from './hand-planner.ts'

const simSeconds = Number(process.argv[2] ?? 2)
const gpu = syntheticH100Gpu()
const gpuRef = { name: gpu.name, smCount: gpu.smCount, sliceSize: gpu.sliceSize }
const models = ['albert', 'densenet201', 'vgg19']
const profiles = models.map((model) => syntheticProfile({ model, batch: 1 }))
const workers = models.map((model) => ({ name: `${model}#0`, model, batch: 1, dtype: 'fp16' as const }))
// the stand-in planner the tests use too: hand-made plans, so the number does not depend on the optimizer
const plan = (policy: 'baseline' | 'kw-prealloc') => handPlanner(gpu, 'mix3', workers, profiles, { policy })

function spec(p: Plan, profs: Profile[], mode: 'stream' | 'graph' | null): RunSpec {
  return {
    key: runKey(p.mix, p.policy, mode, null),
    role: 'mix',
    mix: p.mix,
    mode,
    batch: null,
    gpu,
    plan: p,
    workers: p.workers.map((w) => ({ name: w.name, model: w.model, batch: w.batch, dtype: w.dtype })),
    profiles: profs,
    loop: { kind: 'closed' },
    warmupS: 0,
    windowS: simSeconds,
    seed: 1,
    primitives: defaultPrimitives(gpuRef),
    power: defaultPowerModel(gpuRef),
  }
}

console.log(
  `simulator benchmark: mix3 (${models.join(' + ')}, synthetic H100 profiles, batch 1), ${simSeconds} s simulated per case`,
)
let totalKernels = 0
let totalWall = 0
for (const [name, p, mode] of [
  ['baseline', await plan('baseline'), null],
  ['kernel-wise, stream mode', await plan('kw-prealloc'), 'stream'],
  ['kernel-wise, graph mode', await plan('kw-prealloc'), 'graph'],
] as const) {
  simulate(spec(p, profiles, mode)) // warm the JIT
  const t0 = performance.now()
  const r = simulate(spec(p, profiles, mode))
  const wall = (performance.now() - t0) / 1000
  totalKernels += r.stats.kernels
  totalWall += wall
  const switches = p.workers.reduce((a, w) => a + w.switches, 0)
  console.log(
    `  ${name.padEnd(36)} ${String(r.stats.kernels).padStart(9)} kernels, ${String(r.stats.events).padStart(9)} events in ${wall.toFixed(3)} s: ${(r.stats.kernels / wall / 1e6).toFixed(2)} M kernel events/s (${switches} switches/round)`,
  )
}
// The same on measured profiles and the optimizer's eclip plan, where a profile directory is shipped.
const shipped = ['h100', 'h200']
  .map((g) => join(import.meta.dirname, '..', 'profiles', g))
  .find((d) => existsSync(join(d, 'gpu.json')))
if (shipped) {
  const set = loadProfileSet(shipped, workers)
  const p = await makePlan(set.gpu, 'mix3', workers, set.profiles, { policy: 'eclip' })
  for (const mode of ['stream', 'graph'] as const) {
    const s = {
      ...spec(p, set.profiles, mode),
      gpu: set.gpu,
      ...(set.primitives ? { primitives: set.primitives } : {}),
    }
    simulate(s)
    const t0 = performance.now()
    const r = simulate(s)
    const wall = (performance.now() - t0) / 1000
    totalKernels += r.stats.kernels
    totalWall += wall
    console.log(
      `  ${`eclip plan, ${mode} (${set.gpu.name.replace('NVIDIA ', '')} profiles)`.padEnd(36)} ${String(r.stats.kernels).padStart(9)} kernels, ${String(r.stats.events).padStart(9)} events in ${wall.toFixed(3)} s: ${(r.stats.kernels / wall / 1e6).toFixed(2)} M kernel events/s`,
    )
  }
}
const rate = totalKernels / totalWall
console.log(
  `overall: ${(rate / 1e6).toFixed(2)} M kernel events/s on one core (target ≥ 1 M): ${rate >= 1e6 ? 'ok' : 'BELOW TARGET'}`,
)
