// Small hand-made instances for the solver tests: random but seeded profiles, and a brute-force optimum; a quick
// simulator evaluator for eclip-fit's.
import { CALIBRATION } from '../../src/execute/sim/contention.ts'
import { type EvaluatorInputs, simEvaluator } from '../../src/execute/sim/evaluator.ts'
import { defaultPowerModel, defaultPrimitives } from '../../src/execute/sim/index.ts'
import { fingerprint } from '../../src/formats/fingerprint.ts'
import type { Gpu, WorkerSpec } from '../../src/formats/index.ts'
import type { Profile } from '../../src/formats/profile.ts'
import { type Assignment, buildInstance, evaluate, type WorkerInstance } from '../../src/plan/instance.ts'
import { seededRandom } from '../../src/profile/synthetic.ts'

export const SIZES = [8, 16, 24, 32, 64, 132]

/** A random profile: times non-increasing in SMs, some kernels flat (fit in 8 SMs), some scaling to 132. */
export function randomProfile(rand: () => number, kernels: number, model = 'toy', opStarts = false): Profile {
  const ks = Array.from({ length: kernels }, (_, index) => {
    const full = 1 + rand() * 20
    const par = rand() * 132
    const timesUs = SIZES.map((s) => Math.round(full * (1 + Math.max(0, par / s - par / 132)) * 1000) / 1000)
    return { index, name: `k${index % 3}`, grid: [1, 1, 1], block: [32, 1, 1], sharedMemBytes: 0, timesUs }
  }) as Profile['kernels']
  const p: Profile = {
    format: 'eclip.profile/1',
    gpu: { name: 'NVIDIA H100 80GB HBM3', smCount: 132, sliceSize: 8 },
    model,
    batch: 1,
    dtype: 'fp16',
    fingerprint: fingerprint(ks),
    sizes: SIZES,
    kernels: ks,
    requestUs: SIZES.map((_, i) => ks.reduce((a, k) => a + (k.timesUs[i] ?? 0), 0)),
    kernelSumRatio: SIZES.map(() => 1),
    repeats: 1,
    measured: { date: '2026-11-22', method: 'synthetic', tool: 'test' },
  }
  if (opStarts)
    p.opStarts = [0, ...Array.from({ length: kernels - 1 }, (_, i) => i + 1).filter(() => rand() < 0.5)]
  return p
}

export function randomInstance(
  rand: () => number,
  name: string,
  kernels: number,
  configs: number,
  opStarts = false,
) {
  const profile = randomProfile(rand, kernels, name, opStarts)
  // a random ladder of `configs` sizes, ending with the whole GPU
  const pool = SIZES.slice(0, -1)
  const pick: number[] = []
  while (pick.length < configs - 1) {
    const s = pool[Math.floor(rand() * pool.length)] as number
    if (!pick.includes(s)) pick.push(s)
  }
  pick.sort((a, b) => a - b).push(132)
  return {
    profile,
    instance: buildInstance(
      name,
      profile,
      pick.map((_, i) => i + 1),
      pick,
    ),
  }
}

/** Every assignment of units to configurations with ≤ switchMax switches. */
export function allAssignments(w: WorkerInstance, switchMax: number): Assignment[] {
  const U = w.weight.length
  const C = w.configs.length
  const out: Assignment[] = []
  const choice = new Int32Array(U)
  const total = C ** U
  for (let code = 0; code < total; code++) {
    let x = code
    for (let u = 0; u < U; u++) {
      choice[u] = x % C
      x = Math.floor(x / C)
    }
    const a = evaluate(w, Int32Array.from(choice))
    if (a.switches <= switchMax) out.push(a)
  }
  return out
}

/** min over all plans of the full objective (1 + ΣA/N)·ΣS, by enumeration (dominated points dropped first). */
export function bruteForceEclip(ws: WorkerInstance[], switchMax: number, smCount: number): number {
  const fronts = ws.map((w) => {
    const pts = allAssignments(w, switchMax).map((a) => [a.meanSms, a.soloUs] as const)
    // a point another beats in both mean SMs and solo time can never be optimal: F grows with both
    return pts.filter((p) => !pts.some((q) => q[0] <= p[0] && q[1] <= p[1] && (q[0] < p[0] || q[1] < p[1])))
  })
  let best = Number.POSITIVE_INFINITY
  const rec = (i: number, A: number, S: number) => {
    if (i === fronts.length) {
      best = Math.min(best, (1 + A / smCount) * S)
      return
    }
    for (const [a, s] of fronts[i] as (readonly [number, number])[]) rec(i + 1, A + a, S + s)
  }
  rec(0, 0, 0)
  return best
}

export { seededRandom }

/**
 * The simulator's inputs for eclip-fit on synthetic profiles on `gpu`: default costs and power, a memory term, and a
 * short window that keeps a search quick.
 */
export function shortSimInputs(gpu: Gpu): EvaluatorInputs {
  const ref = { name: gpu.name, smCount: gpu.smCount, sliceSize: gpu.sliceSize }
  return {
    gpu,
    primitives: defaultPrimitives(ref),
    power: defaultPowerModel(ref),
    calibration: { ...CALIBRATION, memoryInterference: 0.75 },
    windowS: 0.02,
  }
}

/** eclip-fit's simulator evaluator on shortSimInputs. */
export const shortSimEvaluator = (gpu: Gpu, workers: readonly WorkerSpec[], profiles: readonly Profile[]) =>
  simEvaluator(shortSimInputs(gpu), workers, profiles)
