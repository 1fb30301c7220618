// Hand-built profiles, plans and run specs for the simulator's tests: kernel times given as functions of SMs, so
// every expected number can be worked out by hand.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { RunSpec } from '../../src/execute/backend.ts'
import { defaultPowerModel, defaultPrimitives } from '../../src/execute/sim/index.ts'
import { fingerprint } from '../../src/formats/fingerprint.ts'
import {
  type Gpu,
  type Loop,
  type Mode,
  type Plan,
  type Policy,
  type Primitives,
  type Profile,
  partitionSizes,
  runKey,
} from '../../src/formats/index.ts'

export const gpu: Gpu = JSON.parse(
  readFileSync(join(import.meta.dirname, '..', 'fixtures', 'h100.gpu.json'), 'utf8'),
)
export const gpuRef = { name: gpu.name, smCount: gpu.smCount, sliceSize: gpu.sliceSize }
export const ALL = gpu.slices.map((s) => s.id)

/** A profile whose kernel k takes times[k](s) µs at s SMs; `gapUs` of GPU idle per kernel on top. */
export function profileOf(model: string, times: ((s: number) => number)[], gapUs = 0): Profile {
  const sizes = partitionSizes(gpu)
  const kernels = times.map((f, index) => ({
    index,
    name: `${model}_k${index}`,
    grid: [index + 1, 1, 1] as [number, number, number],
    block: [128, 1, 1] as [number, number, number],
    sharedMemBytes: 0,
    timesUs: sizes.map((s) => f(s)),
  }))
  const sums = sizes.map((_, i) => kernels.reduce((a, k) => a + (k.timesUs[i] as number), 0))
  return {
    format: 'eclip.profile/1',
    gpu: gpuRef,
    model,
    batch: 1,
    dtype: 'fp16',
    fingerprint: fingerprint(kernels),
    sizes,
    kernels,
    requestUs: sums.map((t) => t + gapUs * kernels.length),
    kernelSumRatio: sums.map((t) => t / (t + gapUs * kernels.length)),
    repeats: 1,
    measured: { date: '2026-11-22', method: 'synthetic', tool: 'test' },
  }
}

/** Ideal scaling down to `sat` SMs: t(s) = base · 132 / min(s, sat)... flat above sat. */
export const scaling =
  (base: number, sat = 132) =>
  (s: number) =>
    (base * sat) / Math.min(s, sat)

export interface WorkerPlan {
  profile: Profile
  /** [first, last, partition id] */
  groups: [number, number, number][]
}

export function planOf(
  policy: Policy,
  pool: number[][],
  workers: WorkerPlan[],
  repartitionAtSwitch = false,
): Plan {
  const partitions = pool.map((slices, id) => ({
    id,
    slices,
    sms: slices.reduce((a, s) => a + (gpu.slices[s]?.sms ?? 0), 0),
  }))
  return {
    format: 'eclip.plan/1',
    policy,
    gpu: gpuRef,
    mix: 'test',
    pool: { partitions },
    workers: workers.map((w, i) => ({
      name: `${w.profile.model}#${i}`,
      model: w.profile.model,
      batch: 1,
      dtype: 'fp16',
      fingerprint: w.profile.fingerprint,
      kernels: w.profile.kernels.length,
      partitions: [...new Set(w.groups.map((g) => g[2]))],
      groups: w.groups.map(([first, last, partition]) => ({ first, last, partition })),
      switches: w.groups.length - 1,
      soloUs: 0,
      predictedUs: 0,
      soloFullUs: 0,
      meanSms: 0,
      alpha: 0,
    })),
    repartitionAtSwitch,
    params: { tolerance: 0.05, switchMax: 14, modelWiseFactor: 1, timeLimitS: 0, mipGap: 0 },
    solver: { name: 'none', status: 'not-needed', gap: 0, solveMs: 0 },
    createdAt: '2026-11-22T00:00:00Z',
  }
}

/** Primitives with round numbers so expected latencies are easy to work out. */
export function primitives(over: Partial<Record<'create' | 'wait' | 'launch', number>> = {}): Primitives {
  const p = defaultPrimitives(gpuRef)
  const c = (us: number) => ({ medianUs: us, p95Us: us, samples: 1 })
  return {
    ...p,
    partitionCreate: c(over.create ?? 1800),
    switchEventWait: c(over.wait ?? 1),
    graphLaunch: c(over.launch ?? 0),
  }
}

export function specOf(
  plan: Plan,
  profiles: Profile[],
  o: {
    mode?: Mode
    loop?: Loop
    warmupS?: number
    windowS?: number
    seed?: number
    prim?: Primitives
  } = {},
): RunSpec {
  const mode = o.mode ?? null
  return {
    key: runKey(plan.mix, plan.policy, mode, null),
    role: 'mix',
    mix: plan.mix,
    mode,
    batch: null,
    gpu,
    plan,
    workers: plan.workers.map((w) => ({ name: w.name, model: w.model, batch: w.batch, dtype: w.dtype })),
    profiles,
    loop: o.loop ?? { kind: 'closed' },
    warmupS: o.warmupS ?? 0,
    windowS: o.windowS ?? 0.01,
    seed: o.seed ?? 1,
    primitives: o.prim ?? primitives(),
    power: defaultPowerModel(gpuRef),
  }
}

/** Latency of every completed request of worker w, µs. */
export const latencies = (
  r: { workers: { startUs: number[]; endUs: number[]; arrivalUs: number[] }[] },
  w: number,
) => (r.workers[w]?.endUs ?? []).map((e, i) => e - (r.workers[w]?.arrivalUs[i] ?? 0))
