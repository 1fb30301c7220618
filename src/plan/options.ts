// makePlan's options (PlanOptions) with what eclip-fit scores and tunes on (PlanEvaluator, PlanTuning), and the
// check every makePlan call makes of them, its workers and its profiles before any policy plans (checkInputs).

import { PRIORITIES } from '../formats/arrival.ts'
import type { GpuRef } from '../formats/common.ts'
import { UserError } from '../formats/errors.ts'
import { type Gpu, regularSlices } from '../formats/gpu.ts'
import { MAX_WEIGHT, type WorkerSpec } from '../formats/mix.ts'
import { isTablePolicy, type Plan, type Policy } from '../formats/plan.ts'
import type { Profile } from '../formats/profile.ts'
import type { FitScore, FitStarts, FitState } from './fit.ts'
import {
  checkRealtime,
  RT_BEST_EFFORT,
  RT_MECHANISMS,
  type RtBestEffort,
  type RtMechanism,
  rtMechanismOf,
} from './realtime.ts'

/** What eclip-fit maximises under the floors (PlanOptions.objective). */
export const PLAN_OBJECTIVES = ['stp', 'requests'] as const
export type PlanObjective = (typeof PLAN_OBJECTIVES)[number]
/** What eclip-fit maximises when no objective is given: STP. */
export const DEFAULT_OBJECTIVE: PlanObjective = 'stp'

/** eclip-fit's minTotalShare is a ratio to baseline's total requests/s: above this it is taken for a mistake. */
const MAX_MIN_TOTAL_SHARE = 2

/** Which solver answers ECLIP's subproblems: the exact DP (default, fast) or HiGHS (the MILP). */
export type SolverChoice = 'dp' | 'highs'

/**
 * How a whole candidate plan behaves when its workers run together (eclip-fit scores its candidates with it). The
 * CLI passes the simulator's calibrated contention model (src/execute/sim/evaluator.ts), and to tune, a backend's
 * runs (src/execute/measured-evaluator.ts); the plan layer never imports the executor.
 */
export interface PlanEvaluator {
  evaluate(plan: Plan): Promise<FitScore>
  /**
   * The same run on another seed (the simulator's: in a closed loop of a few workers the seed sets the phases they
   * fall into, and a worker's p95 rests on them); absent where the evaluator measures.
   */
  evaluateAt?(plan: Plan, seed: number): Promise<FitScore>
  /** The same run in another window, s (a measuring evaluator's: a longer one to confirm a close call). */
  evaluateFor?(plan: Plan, windowS: number): Promise<FitScore>
  /** Worker i of the mix alone on the whole GPU, requests/s (STP's solo rate); absent: from its profile. */
  soloRps?(worker: number): Promise<number>
  /** What one partition switch costs the executor the evaluator models, µs. */
  switchCostUs: number
}

/** Where a tuning evaluator measures, for the plan's record (Tuning in the plan format). */
export interface MeasuredOn {
  backend: 'sim' | 'gpu'
  /** The GPU the backend runs (the simulator: the profiles'). */
  gpu: string
  warmupS: number
  windowS: number
}

/**
 * eclip-fit tuned on the backend that will run the plan (src/plan/tune.ts): a measuring evaluator, where it measures,
 * and the budget (TUNE_DEFAULTS).
 */
export interface PlanTuning {
  evaluator: PlanEvaluator
  on: MeasuredOn
  /** The simulator's best distinct candidates measured, ≥ 1. */
  candidates: number
  /** Measurements the coordinate search continues with, ≥ 0. */
  evaluations: number
  /** STP ratio a move must gain over the best measured plan to be kept, ≥ 0. */
  margin: number
  /** With --stream-priorities: the best measured plans whose sets of raised workers are measured, ≥ 1. */
  priorityPlans: number
  /** Added to every floor on the measured windows, ≥ 0 (absent: MEASURED_FLOOR_MARGIN). */
  floorMargin?: number
  /**
   * A second simulator's search before the tuning holds every floor this much lower, in [0, 1) (absent:
   * SIM_FLOOR_SLACK).
   */
  simFloorSlack?: number
}

export interface PlanOptions {
  policy: Policy
  /** eclip-fit: scores candidate plans; without it eclip-fit uses fixed prices (FIT_DEFAULT) and says so. */
  evaluator?: PlanEvaluator
  /** eclip-fit: after the search on `evaluator`, its best candidates measured and the search continued on them. */
  tune?: PlanTuning
  /** eclip-fit: weight of requests/J next to STP in the evaluator's score (FIT_ENERGY_WEIGHT). */
  fitEnergyWeight?: number
  /** eclip-fit: where its search climbs from, model-wise's start alone or several (FIT_STARTS). */
  fitStarts?: FitStarts
  /** Floor of every worker whose spec has no minShare: rate under the plan ÷ under baseline (DEFAULT_MIN_SHARE). */
  minShare?: number
  /**
   * eclip-fit: least total requests/s under the plan ÷ under baseline co-location, kept like a floor (src/plan/fit.ts;
   * baseline's placement always meets it); absent: none. eclip-live's set plans get DEFAULT_SET_MIN_TOTAL_SHARE.
   */
  minTotalShare?: number
  /**
   * eclip-fit: every worker's p95 under the plan ÷ its p95 under baseline co-location, at most, as the evaluator
   * predicts both; kept like a floor (src/plan/fit.ts). Absent: no cap per worker (the search still rejects a mean p95
   * above model-wise's). Also the cap raised sets and the tuning's choice are held to (heldP95Cap; absent,
   * HELD_P95_CAP). With `tune`, held on the measurements alone, not in the simulator's searches (withoutP95Cap,
   * src/plan/tune.ts).
   */
  maxP95?: number
  /**
   * eclip-fit: what the search maximises under the floors — `stp` (default: Σ weight · rate / solo rate) or `requests`
   * (total requests/s: each worker also weighted by its solo rate; DISB's overall throughput).
   */
  objective?: PlanObjective
  /**
   * eclip-rt's gate mechanism: a plan of the best-effort workers alone (eclip-fit, made by the caller with an
   * evaluator: execute/sim's simPlanner) whose partitions and groups they take, under their gates; absent: they share
   * the whole GPU (src/plan/realtime.ts).
   */
  rtBestEffortPlan?: Plan
  /**
   * eclip-rt's gate mechanism: how its best-effort workers share the GPU (DEFAULT_RT_BEST_EFFORT). `eclip-fit` needs
   * the plan above, which a caller with an evaluator makes (execute/sim's simPlanner); without it they share the
   * whole GPU and the plan's notes say so.
   */
  rtBestEffort?: RtBestEffort
  /** A plan that misses a floor is returned with the shortfall in its notes instead of refused (UserError). */
  acceptShortfall?: boolean
  /**
   * eclip with an evaluator: 'check' (default) simulates the paper's plan and says in its notes which worker misses
   * its floor and by how much; 'repair' then moves the workers short of their floors to the whole GPU until the
   * floors hold (refusing the plan if even that fails, unless acceptShortfall); 'off' skips the check.
   */
  eclipFloors?: 'off' | 'check' | 'repair'
  /** eclip-fit: fixed prices for every worker at model-wise's homes instead of the search (ablations). */
  fitPrices?: { lambda: number; mu: number }
  /**
   * eclip-fit with an evaluator: the plan at this point of its search space (homes' lengths in regular slices, each
   * worker's overlap price λ, the SM-time price μ) instead of the search — a candidate of a tuning's trail made again
   * (bench/tuning-trail-sim.ts). The homes are model-wise's or disjoint runs of regular slices (checkFitHomes). The
   * floors are checked on it as on the search's choice.
   */
  fitAt?: FitState
  /**
   * eclip-fit with an evaluator: after the search, sets of workers raised to high stream priority scored on the chosen
   * plan (tuned: measured on the tuning's backend), the best taken where it gains (src/plan/priorities.ts). Off: every
   * stream at normal priority.
   */
  fitPriorities?: boolean
  tolerance?: number
  switchMax?: number
  modelWiseFactor?: number
  /** eclip-rt: a real-time worker's latency target over its latency alone on the whole GPU (DEFAULT_RT_FACTOR). */
  rtFactor?: number
  /** eclip-rt: how real-time workers are kept near their latency alone (DEFAULT_RT_MECHANISM, src/plan/realtime.ts). */
  rtMechanism?: RtMechanism
  /** eclip-rt's priority mechanism: SMs (whole slices) no best-effort work runs on (default 0). */
  rtReserveSms?: number
  /** eclip-rt's gate mechanism: µs of a best-effort worker's kernels between its gates (DEFAULT_RT_GATE_US). */
  rtGateUs?: number
  /**
   * eclip-rt's gate mechanism with its best-effort workers planned (rtBestEffortPlan): a best-effort worker whose every
   * group runs on a partition of at most this many SMs keeps no gates and runs beside the real-time requests (default
   * 0: every best-effort worker gated; src/plan/realtime.ts).
   */
  rtUngatedSms?: number
  timeLimitS?: number
  mipGap?: number
  maxPartitions?: number
  solver?: SolverChoice
}

const sameGpu = (a: GpuRef, b: GpuRef) =>
  a.name === b.name && a.smCount === b.smCount && a.sliceSize === b.sliceSize

/** Refuses (UserError) options, workers or profiles that no policy can plan with, naming what is wrong and why. */
export function checkInputs(
  gpu: Gpu,
  workers: readonly WorkerSpec[],
  profiles: readonly Profile[],
  o: PlanOptions,
) {
  if (isTablePolicy(o.policy))
    throw new UserError(
      `${o.policy} follows a table of plans, one per set of active workers, not one plan: make one with \`eclip plan --table\``,
    )
  if (workers.length === 0) throw new UserError('a plan needs at least one worker')
  if (profiles.length !== workers.length)
    throw new UserError(`${workers.length} workers but ${profiles.length} profiles`)
  workers.forEach((w, i) => {
    const p = profiles[i] as Profile
    if (p.model !== w.model || p.batch !== w.batch || p.dtype !== w.dtype)
      throw new UserError(
        `worker ${w.name} (${w.model} b${w.batch} ${w.dtype}) was given the profile of ${p.model} b${p.batch} ${p.dtype}`,
      )
    if (!sameGpu(p.gpu, gpu))
      throw new UserError(`profile of ${p.model} b${p.batch} was made on ${p.gpu.name}, not on ${gpu.name}`)
  })
  const num = (name: string, v: number | undefined, ok: (v: number) => boolean, what: string) => {
    if (v !== undefined && !(Number.isFinite(v) && ok(v)))
      throw new UserError(`${name} must be ${what}, got ${v}`)
  }
  num('tolerance', o.tolerance, (v) => v >= 0, '≥ 0')
  num('switch-max', o.switchMax, (v) => Number.isInteger(v) && v >= 0, 'an integer ≥ 0')
  num('model-wise factor', o.modelWiseFactor, (v) => v >= 1, '≥ 1')
  num('rt factor', o.rtFactor, (v) => v >= 1, '≥ 1')
  num('rt reserve', o.rtReserveSms, (v) => Number.isInteger(v) && v >= 0, 'a whole number of SMs ≥ 0')
  num('rt gate spacing', o.rtGateUs, (v) => v > 0, '> 0 µs')
  num('rt ungated SMs', o.rtUngatedSms, (v) => Number.isInteger(v) && v >= 0, 'a whole number of SMs ≥ 0')
  if (o.rtMechanism !== undefined && !(RT_MECHANISMS as readonly string[]).includes(o.rtMechanism))
    throw new UserError(`unknown eclip-rt mechanism "${o.rtMechanism}" (known: ${RT_MECHANISMS.join(', ')})`)
  const mech = rtMechanismOf({ mechanism: o.rtMechanism, reserveSms: o.rtReserveSms, factor: o.rtFactor })
  // each mechanism's own options, refused beside another (in this order, as the messages name them)
  const own: [number | undefined, RtMechanism, string][] = [
    [
      o.rtFactor,
      'partition',
      `the rt factor (${o.rtFactor}) sizes eclip-rt's partitions: it is the partition mechanism's`,
    ],
    [o.rtUngatedSms, 'gate', `the rt ungated SMs (${o.rtUngatedSms}) are eclip-rt's gate mechanism's`],
    [o.rtReserveSms, 'priority', `the rt reserve (${o.rtReserveSms} SMs) is eclip-rt's priority mechanism's`],
    [o.rtGateUs, 'gate', `the rt gate spacing (${o.rtGateUs} µs) is eclip-rt's gate mechanism's`],
  ]
  for (const [v, m, what] of own)
    if (o.policy === 'eclip-rt' && v !== undefined && mech !== m)
      throw new UserError(`${what} (this plan's is ${mech})`)
  num('time limit', o.timeLimitS, (v) => v > 0, '> 0 seconds')
  num('MIP gap', o.mipGap, (v) => v >= 0 && v < 1, 'in [0, 1)')
  num('max partitions', o.maxPartitions, (v) => Number.isInteger(v) && v >= 1, 'an integer ≥ 1')
  num('min share', o.minShare, (v) => v >= 0, '≥ 0')
  num('max p95', o.maxP95, (v) => v >= 1, "≥ 1 (a ratio to baseline's p95, which baseline's placement meets)")
  if (o.objective !== undefined && !(PLAN_OBJECTIVES as readonly string[]).includes(o.objective))
    throw new UserError(`unknown objective "${o.objective}" (known: ${PLAN_OBJECTIVES.join(', ')})`)
  if (o.rtBestEffort !== undefined && !(RT_BEST_EFFORT as readonly string[]).includes(o.rtBestEffort))
    throw new UserError(
      `unknown eclip-rt best-effort placement "${o.rtBestEffort}" (known: ${RT_BEST_EFFORT.join(', ')})`,
    )
  if (o.policy === 'eclip-rt' && (o.rtUngatedSms ?? 0) > 0 && o.rtBestEffort === 'whole')
    throw new UserError(
      `the rt ungated SMs (${o.rtUngatedSms}) take the gates off best-effort workers planned onto few SMs; with the best-effort placement whole every one is on the whole GPU`,
    )
  if (o.policy === 'eclip-rt' && o.rtBestEffort !== undefined && mech !== 'gate')
    throw new UserError(
      `the best-effort placement (${o.rtBestEffort}) is eclip-rt's gate mechanism's (this plan's is ${mech})`,
    )
  if (o.rtBestEffortPlan && o.policy !== 'eclip-rt')
    throw new UserError(`a plan of the best-effort workers is eclip-rt's, not ${o.policy}'s`)
  if (o.fitAt) checkFitAt(workers, o)
  if (o.tune) {
    if (o.policy !== 'eclip-fit')
      throw new UserError(`tuning: only eclip-fit searches over candidate plans, not ${o.policy}`)
    if (!o.evaluator || o.fitPrices)
      throw new UserError('tuning continues the search on an evaluator: give one, and no fixed prices')
    num('tune candidates', o.tune.candidates, (v) => Number.isInteger(v) && v >= 1, 'an integer ≥ 1')
    num('tune evaluations', o.tune.evaluations, (v) => Number.isInteger(v) && v >= 0, 'an integer ≥ 0')
    num('tune margin', o.tune.margin, (v) => v >= 0, '≥ 0')
    num('tune priority plans', o.tune.priorityPlans, (v) => Number.isInteger(v) && v >= 1, 'an integer ≥ 1')
    num('tune floor margin', o.tune.floorMargin, (v) => v >= 0, '≥ 0 (added to each floor, a ratio)')
    num(
      'tune sim floor slack',
      o.tune.simFloorSlack,
      (v) => v >= 0 && v < 1,
      'in [0, 1) (taken from each floor, a ratio)',
    )
    num('tune window', o.tune.on.windowS, (v) => v > 0, '> 0 seconds')
    num('tune warm-up', o.tune.on.warmupS, (v) => v >= 0, '≥ 0 seconds')
  }
  num(
    'minTotalShare',
    o.minTotalShare,
    (v) => v >= 0 && v <= MAX_MIN_TOTAL_SHARE,
    `in [0, ${MAX_MIN_TOTAL_SHARE}] (a ratio to baseline's total requests/s, not a percentage)`,
  )
  for (const w of workers) {
    num(`worker ${w.name}: weight`, w.weight, (v) => v > 0, '> 0')
    num(`worker ${w.name}: weight`, w.weight, (v) => v <= MAX_WEIGHT, `≤ ${MAX_WEIGHT}`)
    num(`worker ${w.name}: minShare`, w.minShare, (v) => v >= 0, '≥ 0')
    // a mix file's schema refuses these already; workers made in code (a serve config, tests) come here
    if (w.priority !== undefined && !(PRIORITIES as readonly string[]).includes(w.priority))
      throw new UserError(
        `worker ${w.name} (${w.model}): unknown priority "${w.priority}" (known: ${PRIORITIES.join(', ')})`,
      )
    num(`worker ${w.name} (${w.model}): SLO`, w.sloMs, (v) => v > 0, '> 0 ms')
    if (w.priority === 'realtime' && w.sloMs === undefined)
      throw new UserError(`worker ${w.name} (${w.model}): a real-time worker needs its latency SLO (sloMs)`)
  }
  checkRealtime(workers, profiles)
}

/** PlanOptions.fitAt: eclip-fit's, on an evaluator, alone; a home and a λ per worker (the homes: checkFitHomes). */
function checkFitAt(workers: readonly WorkerSpec[], o: PlanOptions) {
  const at = o.fitAt as FitState
  if (o.policy !== 'eclip-fit')
    throw new UserError(`a point of eclip-fit's search space is eclip-fit's, not ${o.policy}'s`)
  if (!o.evaluator || o.fitPrices || o.tune || o.fitPriorities)
    throw new UserError(
      "a point of eclip-fit's search space is planned on an evaluator, with no fixed prices, tuning or stream priorities",
    )
  const k = workers.length
  if (at.lengths.length !== k || at.lambdas.length !== k)
    throw new UserError(
      `a point of eclip-fit's search space needs a home and a λ per worker: ${k} workers, ${at.lengths.length} homes, ${at.lambdas.length} λ's`,
    )
  if (!at.lengths.every((L) => Number.isInteger(L) && L >= 1))
    throw new UserError(`homes are whole numbers of slices, ≥ 1 each (got ${at.lengths.join('/')})`)
  if (!at.lambdas.every((l) => l >= 0) || !(at.mu >= 0 && Number.isFinite(at.mu)))
    throw new UserError(
      `overlap prices λ and μ are ≥ 0, μ finite (λ ∞: the worker stays home; got λ ${at.lambdas.join(', ')}, μ ${at.mu})`,
    )
}

/**
 * PlanOptions.fitAt's homes, where the search space knows them: model-wise's (which may overlap, as when there are
 * more workers than slices), or disjoint runs of regular slices in worker order, each of a profiled size.
 */
export function checkFitHomes(
  gpu: Gpu,
  profiles: readonly Profile[],
  lengths: readonly number[],
  start: readonly number[],
) {
  if (lengths.join() === start.join()) return
  const reg = regularSlices(gpu)
  const used = lengths.reduce((a, b) => a + b, 0)
  if (used > reg.length)
    throw new UserError(`homes of ${used} slices in all: the GPU has ${reg.length} regular slices`)
  for (const L of lengths) {
    const sms = reg.slice(0, L).reduce((a, sl) => a + sl.sms, 0)
    const missing = profiles.find((p) => !p.sizes.includes(sms))
    if (missing)
      throw new UserError(`a home of ${L} slices (${sms} SMs): ${missing.model}'s profile has no such size`)
  }
}
