// A plan scored on the simulator, and a simulated or measured run reduced to what the planner compares: what
// eclip-fit's evaluators and eclip-rt's floor check (realtime-floors.ts) share.
import type { Plan, Profile, WorkerSpec } from '../../formats/index.ts'
import type { Loop } from '../../formats/results.ts'
import type { FitScore } from '../../plan/index.ts'
import type { RunResult } from '../backend.ts'
import { simulate } from './engine.ts'
import type { SimInputs } from './inputs.ts'

/** p95 as the results use it (nearest rank); NaN with no request. */
function p95(xs: number[]): number {
  if (xs.length === 0) return Number.NaN
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.ceil(0.95 * s.length) - 1)] as number
}

/**
 * A run reduced to what the planner compares: each worker's throughput — closed loop, 1 / its mean latency over the
 * requests that end inside the window, which does not jump by a whole request at the window's edges the way a count
 * of completions does (a few % over a short window) —, its p95, and the mean power over the window.
 */
export function fitScoreOf(
  r: Pick<RunResult, 'workers' | 'windowStartUs' | 'windowEndUs' | 'energyJ'>,
): FitScore {
  const span = (r.windowEndUs - r.windowStartUs) / 1e6
  const throughputRps: number[] = []
  const p95Us: number[] = []
  for (const w of r.workers) {
    const lat: number[] = []
    w.endUs.forEach((e, i) => {
      if (e > r.windowStartUs && e <= r.windowEndUs) lat.push(e - (w.arrivalUs[i] ?? 0))
    })
    const sum = lat.reduce((a, x) => a + x, 0)
    throughputRps.push(sum > 0 ? (lat.length * 1e6) / sum : 0)
    p95Us.push(p95(lat))
  }
  return { throughputRps, p95Us, powerW: span > 0 ? r.energyJ / span : 0 }
}

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
 * One run of `plan` on the simulator (graph mode where a worker switches), by default a closed loop with every worker
 * busy with one request in flight, reduced to fitScoreOf's figures. Window and seed from `inputs` or
 * EVALUATOR_DEFAULTS' (the window sized from the profiles as simEvaluator's).
 */
export function scorePlan(
  inputs: EvaluatorInputs,
  plan: Plan,
  ws: readonly WorkerSpec[],
  ps: readonly Profile[],
  loop: Loop = { kind: 'closed' },
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
      loop,
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
