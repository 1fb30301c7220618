// Toy evaluators for eclip-fit's search (fairness and total-guard tests): a synthetic H100, synthetic two-worker
// profiles, and a search whose score is a hand-written function of the candidate, so that every expectation can be
// checked by hand.
import type { Plan, Profile, WorkerSpec } from '../../src/formats/index.ts'
import {
  type FitCandidate,
  type FitObjective,
  type FitScore,
  type FitSpaceOptions,
  type FitStarts,
  fitSearch,
} from '../../src/plan/fit.ts'
import { buildInstance } from '../../src/plan/instance.ts'
import { syntheticH100Gpu, syntheticProfile } from '../../src/profile/synthetic.ts'

export const gpu = syntheticH100Gpu()
export const N = gpu.smCount

export const spec = (model: string, extra: Partial<WorkerSpec> = {}): WorkerSpec => ({
  name: `${model}#0`,
  model,
  batch: 1,
  dtype: 'fp16',
  ...extra,
})

export const prof = (model: string, kernels: number) => syntheticProfile({ model, batch: 1, kernels })

/** A score with these throughputs, p95 1 µs each, 100 W. */
export const score = (thr: number[]): FitScore => ({
  throughputRps: thr,
  p95Us: thr.map(() => 1),
  powerW: 100,
})

/** Share of worker w's units on the top of its ladder (the whole GPU, shared). */
export const sharedOf = (c: FitCandidate, w: number) => {
  const a = c.assignments[w]
  const C = c.layout.ladders[w]?.length as number
  return a ? [...a.choice].filter((x) => x === C - 1).length / a.choice.length : 0
}

/** Share of a plan worker's kernels on partition 0 (the whole GPU): a plan-level toy's sharedOf. */
export const wholeShareOf = (w: Plan['workers'][number]) =>
  w.groups.filter((g) => g.partition === 0).reduce((a, g) => a + g.last - g.first + 1, 0) / w.kernels

/** Whether a plan is the baseline's placement: every worker's every group on the whole GPU (partition 0). */
export const onWholeGpu = (p: Plan) => p.workers.every((w) => w.groups.every((g) => g.partition === 0))

/** eclip-fit's search space over `profiles` as the toy search has it: no switch cost, 16 partitions at most. */
export const toySpaceOptions = (profiles: readonly Profile[]): FitSpaceOptions => ({
  smCount: N,
  switchMax: 14,
  switchCostUs: 0,
  factor: 1.1,
  maxPartitions: 16,
  instance: (w, ladder, sms) => buildInstance(`w${w}`, profiles[w] as Profile, ladder, sms),
  models: profiles.map((p) => p.model),
})

/**
 * eclip-fit's search over `profiles` with the toy evaluator `scoreOf` (no switch cost, 16 partitions at most), from
 * `starts` (default FIT_STARTS).
 */
export const toyFitSearch = (
  profiles: readonly Profile[],
  baseline: FitScore,
  objective: FitObjective | undefined,
  scoreOf: (c: FitCandidate) => FitScore | Promise<FitScore>,
  starts?: FitStarts,
) =>
  fitSearch(gpu, profiles, {
    ...toySpaceOptions(profiles),
    baseline,
    ...(objective ? { objective } : {}),
    ...(starts ? { starts } : {}),
    score: async (c) => scoreOf(c),
  })
