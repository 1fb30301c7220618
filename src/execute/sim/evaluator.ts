// The simulator as a plan evaluator: what eclip-fit (src/plan/fit.ts) scores its candidate plans with. A short closed
// loop of the plan in graph mode on the calibrated contention model, reduced to what the planner compares: each
// worker's throughput and p95, and the mean power. Its seed is not the bench's default (1), so that a plan is not
// chosen on the very request sequence `eclip bench` then reports.
import type { Gpu, Plan, Profile, WorkerSpec } from '../../formats/index.ts'
import {
  DEFAULT_RT_BEST_EFFORT,
  type FitScore,
  isRealtime,
  makePlan,
  type PlanEvaluator,
  type PlanOptions,
  type PlanTuning,
  type RtBestEffort,
  rtMechanismOf,
} from '../../plan/index.ts'
import { graphEdgeUs } from './contention.ts'
import { simulate } from './engine.ts'
import type { SimInputs } from './inputs.ts'
import { realtimeFloorCheck } from './realtime-floors.ts'
import { fitScoreOf } from './score.ts'

export { fitScoreOf } from './score.ts'

/**
 * Window: long enough for `requests` requests of every worker even if the workers took turns on the whole GPU
 * (Σ of their full-GPU request latencies × requests), within [minWindowS, maxWindowS].
 */
export const EVALUATOR_DEFAULTS = { warmupS: 0.05, requests: 40, minWindowS: 0.1, maxWindowS: 0.5, seed: 101 }

/** The simulator's inputs (inputs.ts: from a profile directory, else defaults), and the evaluation's run length. */
export interface EvaluatorInputs extends SimInputs {
  warmupS?: number
  /** A fixed window instead of the one sized from the profiles. */
  windowS?: number
  seed?: number
}

/**
 * One closed-loop run of `plan` on the simulator (graph mode where a worker switches), every worker busy with one
 * request in flight, reduced to fitScoreOf's figures. Window and seed from `inputs` or EVALUATOR_DEFAULTS' (the
 * window sized from the profiles as simEvaluator's).
 */
export function scorePlan(
  inputs: EvaluatorInputs,
  plan: Plan,
  ws: readonly WorkerSpec[],
  ps: readonly Profile[],
): FitScore {
  const d = EVALUATOR_DEFAULTS
  const turnS = ps.reduce((a, p) => a + (p.requestUs[p.requestUs.length - 1] ?? 0), 0) / 1e6
  const r = simulate(
    {
      key: `${plan.mix}|${plan.policy}|candidate`,
      role: 'mix',
      mix: plan.mix,
      mode: plan.workers.some((w) => w.groups.length > 1) ? 'graph' : null,
      batch: null,
      gpu: inputs.gpu,
      plan,
      workers: [...ws],
      profiles: [...ps],
      loop: { kind: 'closed' },
      warmupS: inputs.warmupS ?? d.warmupS,
      windowS: inputs.windowS ?? Math.min(d.maxWindowS, Math.max(d.minWindowS, d.requests * turnS)),
      seed: inputs.seed ?? d.seed,
      primitives: inputs.primitives,
      power: inputs.power,
    },
    { calibration: inputs.calibration },
  )
  return fitScoreOf(r)
}

/** An evaluator for the workers and profiles of one mix (plan order). */
export function simEvaluator(
  inputs: EvaluatorInputs,
  workers: readonly WorkerSpec[],
  profiles: readonly Profile[],
): PlanEvaluator {
  const warmupS = inputs.warmupS ?? EVALUATOR_DEFAULTS.warmupS
  const d = EVALUATOR_DEFAULTS
  const turnS = profiles.reduce((a, p) => a + (p.requestUs[p.requestUs.length - 1] ?? 0), 0) / 1e6
  const windowS = inputs.windowS ?? Math.min(d.maxWindowS, Math.max(d.minWindowS, d.requests * turnS))
  const seed = inputs.seed ?? EVALUATOR_DEFAULTS.seed
  const run = (plan: Plan, ws: readonly WorkerSpec[], ps: readonly Profile[]): FitScore =>
    scorePlan({ ...inputs, warmupS, windowS, seed }, plan, ws, ps)
  const evaluate = async (plan: Plan) => run(plan, workers, profiles)
  // STP's solo rates: worker i alone on the whole GPU (a one-worker baseline plan), once per worker
  const solos = new Map<number, number>()
  const soloRps = async (i: number) => {
    let r = solos.get(i)
    if (r === undefined) {
      const w = workers[i] as WorkerSpec
      const p = profiles[i] as Profile
      const plan = await makePlan(inputs.gpu, `${w.name}-solo`, [w], [p], { policy: 'baseline' })
      r = run(plan, [w], [p]).throughputRps[0] ?? 0
      solos.set(i, r)
    }
    return r
  }
  // graph mode: a switch is a graph edge between partitions
  return { evaluate, soloRps, switchCostUs: graphEdgeUs(inputs.primitives, inputs.calibration) }
}

/**
 * makePlan whose eclip-fit plans score their candidates on the simulator with `inputsFor(gpu)`, and whose eclip
 * plans are checked against the workers' floors on it (said in the plan's notes; the plan stays the paper's); other
 * policies need no evaluator: what `eclip bench` plans with, and what `eclip calibrate` re-makes a run's plan with —
 * the same inputs give the same plan. Given `tuneFor`, eclip-fit's search then goes on on the backend it measures
 * (src/plan/tune.ts). eclip-rt's gate mechanism gets its best-effort workers' eclip-fit plan made here, by the same
 * planner over just them (PlanOptions.rtBestEffortPlan). Its signature is plan/'s Planner.
 */
export function simPlanner(
  inputsFor: (gpu: Gpu) => EvaluatorInputs,
  extra: Omit<PlanOptions, 'policy' | 'evaluator' | 'tune' | 'rtBestEffortPlan'> = {},
  tuneFor?: (gpu: Gpu, workers: WorkerSpec[], profiles: Profile[]) => PlanTuning,
) {
  const plan = async (
    gpu: Gpu,
    mix: string,
    workers: WorkerSpec[],
    profiles: Profile[],
    o: Pick<PlanOptions, 'policy' | 'minTotalShare'>,
  ): Promise<Plan> => {
    if (o.policy === 'eclip-rt') {
      // the gate mechanism's best-effort workers, planned by eclip-fit among themselves (src/plan/realtime.ts)
      const be = bestEffortOf(workers, extra, extra.rtBestEffort ?? DEFAULT_RT_BEST_EFFORT)
      const bePlan =
        be.length > 1
          ? await plan(
              gpu,
              `${mix}[best-effort]`,
              be.map((i) => workers[i] as WorkerSpec),
              be.map((i) => profiles[i] as Profile),
              { policy: 'eclip-fit' },
            )
          : undefined
      const made = await makePlan(gpu, mix, workers, profiles, {
        ...extra,
        ...o,
        ...(bePlan ? { rtBestEffortPlan: bePlan } : {}),
      })
      // the best-effort floors with the real-time requests in, said in the notes (src/execute/sim/realtime-floors.ts)
      const inputs = inputsFor(gpu)
      const check = await realtimeFloorCheck(
        { ...inputs, seed: inputs.seed ?? EVALUATOR_DEFAULTS.seed },
        gpu,
        made,
        workers,
        profiles,
        extra.minShare,
      )
      if (check) made.solver.notes = [made.solver.notes, check.note].filter((x) => x).join('; ')
      return made
    }
    return makePlan(
      gpu,
      mix,
      workers,
      profiles,
      o.policy === 'eclip-fit' || o.policy === 'eclip'
        ? {
            ...extra,
            ...o,
            evaluator: simEvaluator(inputsFor(gpu), workers, profiles),
            ...(tuneFor && o.policy === 'eclip-fit' ? { tune: tuneFor(gpu, workers, profiles) } : {}),
          }
        : { ...extra, ...o },
    )
  }
  return plan
}

/** The best-effort workers (indices) eclip-rt plans among themselves: under the gate mechanism, unless kept whole. */
function bestEffortOf(
  workers: readonly WorkerSpec[],
  o: Pick<PlanOptions, 'rtMechanism' | 'rtReserveSms' | 'rtFactor'>,
  how: RtBestEffort,
): number[] {
  const mech = rtMechanismOf({ mechanism: o.rtMechanism, reserveSms: o.rtReserveSms, factor: o.rtFactor })
  if (mech !== 'gate' || how !== 'eclip-fit' || !workers.some(isRealtime)) return []
  return workers.flatMap((w, i) => (isRealtime(w) ? [] : [i]))
}
