// The simulator as a plan evaluator: what eclip-fit (src/plan/fit.ts) scores its candidate plans with. A short closed
// loop of the plan in graph mode on the calibrated contention model, reduced to what the planner compares: each
// worker's throughput and p95, and the mean power. Its seed is not the bench's default (1), so that a plan is not
// chosen on the very request sequence `eclip bench` then reports.
import type { Gpu, Plan, Profile, WorkerSpec } from '../../formats/index.ts'
import {
  bestEffortPlanned,
  type FitScore,
  makePlan,
  type PlanEvaluator,
  type PlanOptions,
  type PlanTuning,
} from '../../plan/index.ts'
import { progressLine, withProgress } from '../../plan/progress.ts'
import { graphEdgeUs } from './contention.ts'
import { realtimeFloorCheck } from './realtime-floors.ts'
import { EVALUATOR_DEFAULTS, type EvaluatorInputs, scorePlan } from './score.ts'
import { threadedScorer } from './score-threads.ts'

export { EVALUATOR_DEFAULTS, type EvaluatorInputs, fitScoreOf, scorePlan } from './score.ts'

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
  const run = (plan: Plan, ws: readonly WorkerSpec[], ps: readonly Profile[], s = seed): FitScore =>
    scorePlan({ ...inputs, warmupS, windowS, seed: s }, plan, ws, ps)
  // candidates on the process's scoring threads where it has them (the search scores several at once)
  const threaded = threadedScorer({ inputs: { ...inputs, warmupS, windowS, seed }, workers, profiles })
  const evaluate = async (plan: Plan) => (threaded ? threaded(plan) : run(plan, workers, profiles))
  const evaluateAt = async (plan: Plan, s: number) => run(plan, workers, profiles, s)
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
  return { evaluate, evaluateAt, soloRps, switchCostUs: graphEdgeUs(inputs.primitives, inputs.calibration) }
}

/** What simPlanner plans with besides the simulator's inputs. */
export interface SimPlannerOptions {
  /** The planners' options for every plan (the policy and what the simulator supplies aside). */
  options?: Omit<PlanOptions, 'policy' | 'evaluator' | 'tune' | 'rtBestEffortPlan'>
  /** eclip-fit's search goes on on the backend this measures (src/plan/tune.ts). */
  tuneFor?: (gpu: Gpu, workers: WorkerSpec[], profiles: Profile[]) => PlanTuning
  /** A long search says how far it has got (src/plan/progress.ts: every `everyS`, 5 s by default), per mix. */
  progress?: { say: (mix: string, line: string) => void; everyS?: number }
}

/**
 * makePlan whose eclip-fit plans score their candidates on the simulator with `inputsFor(gpu)`, and whose eclip
 * plans are checked against the workers' floors on it (said in the plan's notes; the plan stays the paper's); other
 * policies need no evaluator: what `eclip bench` plans with, and what `eclip calibrate` re-makes a run's plan with —
 * the same inputs give the same plan. Given `tuneFor`, eclip-fit's search then goes on on the backend it measures.
 * eclip-rt's gate mechanism gets its best-effort workers' eclip-fit plan made here, by the same planner over just them
 * (PlanOptions.rtBestEffortPlan). Its signature is plan/'s Planner.
 */
export function simPlanner(
  inputsFor: (gpu: Gpu) => EvaluatorInputs,
  { options: extra = {}, tuneFor, progress }: SimPlannerOptions = {},
) {
  // eclip-fit's search reports its progress; the paper's eclip runs a few floor checks
  const scoredBy = (ev: PlanEvaluator, mix: string, policy: string) =>
    progress && policy === 'eclip-fit'
      ? withProgress(ev, (n, s) => progress.say(mix, progressLine(n, s)), progress.everyS)
      : ev
  const plan = async (
    gpu: Gpu,
    mix: string,
    workers: WorkerSpec[],
    profiles: Profile[],
    o: Pick<PlanOptions, 'policy' | 'minTotalShare' | 'fitPriorities'>,
  ): Promise<Plan> => {
    if (o.policy === 'eclip-rt') {
      // the gate mechanism's best-effort workers, planned by eclip-fit among themselves (src/plan/realtime.ts)
      const be = bestEffortPlanned(workers, extra)
      const bePlan =
        be.length > 0
          ? await plan(
              gpu,
              `${mix}[best-effort]`,
              be.map((i) => workers[i] as WorkerSpec),
              be.map((i) => profiles[i] as Profile),
              // normal priority: the real-time workers' streams are the raised ones
              { policy: 'eclip-fit', fitPriorities: false },
            )
          : undefined
      const made = await makePlan(gpu, mix, workers, profiles, {
        ...extra,
        ...o,
        ...(bePlan ? { rtBestEffortPlan: bePlan } : {}),
      })
      // the best-effort floors with the real-time requests in, said in the notes (src/execute/sim/realtime-floors.ts)
      const check = await realtimeFloorCheck(inputsFor(gpu), gpu, made, workers, profiles, extra.minShare)
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
            evaluator: scoredBy(simEvaluator(inputsFor(gpu), workers, profiles), mix, o.policy),
            ...(tuneFor && o.policy === 'eclip-fit' ? { tune: tuneFor(gpu, workers, profiles) } : {}),
          }
        : { ...extra, ...o },
    )
  }
  return plan
}
