// A plan evaluator on any ExecuteBackend: what tunes eclip-fit's plans on the backend that will run them
// (src/plan/tune.ts). Each candidate runs as `eclip bench` runs a plan — closed loop, one request in flight per worker,
// graph mode (baseline co-location: its own launch path, as the bench's baseline runs) — for a short warm-up and
// window, and is reduced as the simulator's evaluator reduces its runs (fitScoreOf): each worker's rate (1 / mean
// latency), p95, mean power. Written against ExecuteBackend, so the simulator backend stands in for the GPU in CI.
// It has no solo runs: STP's solo rates stay the profiles', as the bench reports them (makePlan's fallback).
import {
  type Gpu,
  type Plan,
  type PowerModel,
  type Primitives,
  type Profile,
  UserError,
  type WorkerSpec,
} from '../formats/index.ts'
import type { FitScore, MeasuredOn, PlanEvaluator, PlanTuning } from '../plan/index.ts'
import type { ExecuteBackend } from './backend.ts'
import { graphEdgeUs } from './sim/contention.ts'
import { fitScoreOf } from './sim/evaluator.ts'
import type { SimInputs } from './sim/inputs.ts'

/**
 * Per backend: a tuning run's warm-up and window, s. The GPU's: a window whose STP repeats within the tuning's
 * margin, after a warm-up that brings the clocks up from idle (docs/plan.md); the simulator's: the bench's defaults.
 */
export const MEASURED_DEFAULTS = {
  gpu: { warmupS: 0.5, windowS: 1 },
  sim: { warmupS: 0.05, windowS: 0.5 },
  /** Not the bench's default seed (1): a plan is not chosen on the request sequence the bench then reports. */
  seed: 102,
}

export interface MeasuredEvaluatorOptions {
  /** The profiles' GPU (the plans' and the runs'). */
  gpu: Gpu
  primitives: Primitives
  /** The simulator's power model (the GPU backend reads NVML instead). */
  power: PowerModel
  warmupS: number
  windowS: number
  seed?: number
  /** What a switch costs the executor, µs: the simulator's graph edge (what the search's DPs charge). */
  switchCostUs: number
}

/** A measuring evaluator with where it measures and what it has cost so far. */
export interface MeasuredEvaluator extends PlanEvaluator {
  on: MeasuredOn
  /** Runs made, and those that failed (scored as no throughput). */
  runs: number
  failures: string[]
}

/**
 * An evaluator for one mix's workers and profiles (plan order) on `backend`. A candidate whose run fails as a bench run
 * may (a CUDA error, a partition the GPU refuses: a UserError) scores no throughput — below every floor — after the
 * backend is recovered; baseline co-location failing fails the tuning.
 */
export function measuredEvaluator(
  backend: ExecuteBackend,
  o: MeasuredEvaluatorOptions,
  workers: readonly WorkerSpec[],
  profiles: readonly Profile[],
): MeasuredEvaluator {
  const run = async (plan: Plan, windowS: number): Promise<FitScore> => {
    ev.runs++
    const spec = {
      key: `${plan.mix}|${plan.policy}|tune${ev.runs}`,
      role: 'mix' as const,
      mix: plan.mix,
      mode: plan.policy === 'baseline' ? null : ('graph' as const),
      batch: null,
      gpu: o.gpu,
      plan,
      workers: [...workers],
      profiles: [...profiles],
      loop: { kind: 'closed' as const },
      warmupS: o.warmupS,
      windowS,
      seed: o.seed ?? MEASURED_DEFAULTS.seed,
      primitives: o.primitives,
      power: o.power,
      // the chosen plan's outputs are checked in its own run; candidates skip the extra capture
      checkOutputs: false,
    }
    try {
      return fitScoreOf(await backend.run(spec))
    } catch (err) {
      if (plan.policy === 'baseline' || !(err instanceof UserError)) throw err
      ev.failures.push(`${spec.key}: ${(err as Error).message}`)
      await backend.recover?.()
      return {
        throughputRps: workers.map(() => 0),
        p95Us: workers.map(() => Number.POSITIVE_INFINITY),
        powerW: 0,
      }
    }
  }
  const ev: MeasuredEvaluator = {
    on: { backend: backend.name, gpu: o.gpu.name, warmupS: o.warmupS, windowS: o.windowS },
    runs: 0,
    failures: [],
    switchCostUs: o.switchCostUs,
    evaluate: (plan: Plan) => run(plan, o.windowS),
    evaluateFor: run,
  }
  return ev
}

/** What --tune and its flags chose: PlanTuning's budget, and the windows (absent: the backend's MEASURED_DEFAULTS). */
export type TuneChoice = Pick<
  PlanTuning,
  'candidates' | 'evaluations' | 'margin' | 'priorityPlans' | 'floorMargin' | 'simFloorSlack'
> & { warmupS?: number; windowS?: number }

/**
 * simPlanner's `tuneFor`: eclip-fit tuned on `backend`, one measuring evaluator per mix on the simulator's inputs (its
 * power model for the simulator backend's energy; its graph edge as the switch cost), each kept in `made`.
 */
export function tuningOn(
  backend: ExecuteBackend,
  inputs: Omit<SimInputs, 'gpu'>,
  choice: TuneChoice,
  made: MeasuredEvaluator[] = [],
) {
  const d = MEASURED_DEFAULTS[backend.name]
  const warmupS = choice.warmupS ?? d.warmupS
  const windowS = choice.windowS ?? d.windowS
  return (gpu: Gpu, workers: readonly WorkerSpec[], profiles: readonly Profile[]): PlanTuning => {
    const evaluator = measuredEvaluator(
      backend,
      {
        gpu,
        primitives: inputs.primitives,
        power: inputs.power,
        warmupS,
        windowS,
        switchCostUs: graphEdgeUs(inputs.primitives, inputs.calibration),
      },
      workers,
      profiles,
    )
    made.push(evaluator)
    const { candidates, evaluations, margin, priorityPlans, floorMargin, simFloorSlack } = choice
    return {
      evaluator,
      on: evaluator.on,
      candidates,
      evaluations,
      margin,
      priorityPlans,
      ...(floorMargin !== undefined ? { floorMargin } : {}),
      ...(simFloorSlack !== undefined ? { simFloorSlack } : {}),
    }
  }
}
