// eclip-fit tuned on the backend that will run its plan: the simulator's search first, then its best candidates
// measured and the coordinate search continued on measurements, within a budget.
//
// Why. The simulator under-rates the gain the GPU gives (results/h100/eclip-fit-floors/README.md), so a search scored
// on it alone stops near the baseline's placement, and checks floors on predictions. Measuring every candidate is too
// dear: a GPU evaluation (capturing the workers' graphs, warm-up, window) costs seconds where a simulated one costs
// milliseconds, and the search scores tens of candidates per mix (docs/plan.md: the budget's numbers).
//
// What. (1) The simulator's search (fit.ts) runs as without tuning but for a p95 cap, held on measurements alone
// (and, with a slack, again with the floors held lower, for seeds its path would not reach: SIM_FLOOR_SLACK). (2) On
// the measuring evaluator: baseline co-location (tuneFit measures it), the baseline's placement (every kernel on the
// whole GPU), model-wise's homes and the `candidates` best distinct candidates of the first search, by the
// simulator's value. (3) From the best of them, the coordinate search (the climb) goes on with measurements (first
// improvement): the current state's unmeasured neighbours are measured most promising first, by the simulator's value
// (cheap, memoised), and the search moves to the first that beats the best measured plan by more than `margin`, until
// `evaluations` measurements are spent or no neighbour does. (4) With a slack, the second search's `candidates` best
// are measured after the climb (the climb is then run for run the one without them), and the best is taken where it
// beats the climb's end by `margin`, as a move must: its seeds lie in another region, where one measured high need not
// lead anywhere higher.
// A short window's STP varies between repeats; the margin keeps moves from being made on noise. Floors, the guard on
// total requests/s (objective.minTotal) and the p95 cap are checked on measured rates against the measured baseline,
// ranked as the simulator's search ranks them (fitValue): a plan with a worker measured under its floor, or measured
// short of the total, ranks below every plan that meets them. The floors are held there with a margin (heldFloors,
// `floorMargin`): a worker's rate in a short window differs from its rate in the plan's own run. The baseline's
// placement, the guard's reference, meets the guard whatever its window measured, and is held to the floors as given
// (it is baseline co-location: its ratios are 1 but for the window's noise).
// (5) Where plans that beat the one to be taken (the baseline's placement or a plan) by the margin met the floors as
// given (only the held floors ruled them out), the best few are measured again in longer windows (CONFIRM), beside
// baseline co-location and the one to be taken in the same windows, the margin scaled down as a rate's noise falls
// with its window.
// The best measured plan is the best of noisy samples, so its tuning number is biased up: a plan's number is its own
// run's (the bench measures it afresh), and its tuning record says what the tuning window saw. The runners-up (the
// next best measured plans) are returned for what is measured after the search: with --stream-priorities, a plan
// that measured second unraised can measure first with a worker raised (tune-fit.ts measures sets on each).

import { DEFAULT_POLICY, isTablePolicy } from '../formats/plan.ts'
import {
  DEFAULT_MIN_SHARE,
  FIT_ENERGY_WEIGHT,
  FIT_P95_SLACK,
  type FitCandidate,
  type FitMetrics,
  type FitObjective,
  type FitScore,
  type FitSearchResult,
  FitSpace,
  type FitState,
  fitMetrics,
  fitValue,
  guardReference,
} from './fit.ts'
import type { PriorityChoice } from './priorities.ts'
import { plansBestEffort, type RtBestEffort, type RtMechanism } from './realtime.ts'

/** The plans --tune can tune: eclip-fit's own, eclip-live's set plans (its table policy eclip-fit), eclip-rt's
 *  best-effort plan (its gate mechanism with the best-effort workers planned by eclip-fit). */
export type TunablePlans = 'eclip-fit' | 'eclip-live' | 'eclip-rt'

/** Which of the policies given have a plan --tune tunes, with the options that decide it; in that order. */
export function tunablePlans(
  policies: readonly string[],
  o: {
    tablePolicy?: string
    rtMechanism?: RtMechanism
    rtReserveSms?: number
    rtFactor?: number
    rtBestEffort?: RtBestEffort
  },
): TunablePlans[] {
  const out: TunablePlans[] = []
  if (policies.includes('eclip-fit')) out.push('eclip-fit')
  if ((o.tablePolicy ?? DEFAULT_POLICY) === 'eclip-fit' && policies.some(isTablePolicy))
    out.push('eclip-live')
  if (policies.includes('eclip-rt') && plansBestEffort(o)) out.push('eclip-rt')
  return out
}

/** Whether any of the policies makes a plan under a switch budget (PlanOptions.switchMax): the plans eclip-fit's
 *  search makes (tunablePlans), and eclip's own, alone or as eclip-live's set plans. */
export function plansUnderSwitchBudget(
  policies: readonly string[],
  o: Parameters<typeof tunablePlans>[1],
): boolean {
  return (
    tunablePlans(policies, o).length > 0 ||
    policies.includes('eclip') ||
    (o.tablePolicy === 'eclip' && policies.some(isTablePolicy))
  )
}

/**
 * Whether any of the policies holds a plan to the workers' floors (PlanOptions.minShare): those made under a switch
 * budget — eclip-fit's search keeps the floors, eclip's plans are checked against them on the simulator — and
 * eclip-rt's, its best-effort workers checked with the real-time requests in (any mechanism).
 */
export function plansUnderFloors(
  policies: readonly string[],
  o: Parameters<typeof tunablePlans>[1],
): boolean {
  return plansUnderSwitchBudget(policies, o) || policies.includes('eclip-rt')
}

/** What --tune says of an eclip-rt plan with no best-effort plan of its own to tune. */
export const NOTHING_TO_TUNE = (mix: string) =>
  `--tune: eclip-rt's plan of ${mix} has no best-effort plan to tune (it needs a real-time worker and two or more best-effort ones): planned as without --tune`

/**
 * The budget's defaults: the simulator's best candidates measured, further measurements, the STP margin, and (with
 * --stream-priorities) the best measured plans whose sets of raised workers are measured.
 */
export const TUNE_DEFAULTS = { candidates: 6, evaluations: 12, margin: 0.01, priorityPlans: 1 }

/**
 * What eclip-fit's tuning adds to every floor where it checks it on a window: a worker measured just over its floor
 * there can land under it in the plan's own, longer run (results/h100/tuned-priorities/ measured how far).
 */
export const MEASURED_FLOOR_MARGIN = 0.02

/**
 * Where plans that beat the tuning's choice (the baseline's placement, or the plan it would take) by the margin met
 * the floors as given (the floors held higher on the windows ruled them out): its `candidates` best such plans are
 * measured again in windows `windowFactor` times as long, with baseline co-location and the choice, the floors held
 * `floorMargin / √windowFactor` higher (a rate's noise over a window falls as one over its root). The best that keeps
 * them and beats the choice by the tuning's margin is taken. Such a choice turns on a worker's window a few
 * hundredths from its floor, where a window's noise decides, so a close call is worth a few longer runs; a tuning
 * with none never makes them.
 */
export const CONFIRM = { candidates: 3, windowFactor: 4 }

/**
 * The slack of a second simulator's search before a tuning (`--tune-sim-floor-slack`; 0: none): every floor held
 * this much lower there, its best candidates measured after the climb (measuredSearch). The search climbs from
 * model-wise's homes one move at a time and ranks a plan under a floor below every plan that meets them all, so it
 * does not cross plans under a floor to reach a region beyond them where plans meet the floors again; with the floors
 * lower it does. The floors as given are checked on the measurements. Why this value: what it gave on the GPU
 * (results/h100/tuned-priorities-b8/README.md). Its cost: the second simulator search, and a measurement per seed it
 * adds (none where its best are the first's).
 */
export const SIM_FLOOR_SLACK = 0.05

/**
 * `objective` with every non-zero floor raised by `margin`, to 1 at most; a floor of 0 (any rate) and one already at
 * or above 1 stay as they are.
 */
export function heldFloors(objective: FitObjective, margin: number): FitObjective {
  return {
    ...objective,
    floors: objective.floors.map((f) => (f > 0 ? Math.max(f, Math.min(1, f + margin)) : f)),
  }
}

/**
 * `objective` with every non-zero floor lowered by `slack`, to 0 at most: what the second simulator's search holds
 * (SIM_FLOOR_SLACK). The floors as given are checked on the measurements.
 */
export function loweredFloors(objective: FitObjective, slack: number): FitObjective {
  return { ...objective, floors: objective.floors.map((f) => (f > 0 ? Math.max(0, f - slack) : f)) }
}

/**
 * `objective` without its p95 cap (maxP95): what the simulator's searches hold when their candidates are to be
 * measured. The simulator's p95 ratio can sit past the cap where the GPU measures the same plan well within it, and a
 * cap held on the prediction keeps such a plan from ever being measured; the cap as given is held on the measurements.
 */
export function withoutP95Cap(objective: FitObjective): FitObjective {
  const { maxP95: _, ...rest } = objective
  return rest
}

export interface TuneOptions {
  /** The measuring evaluator's view of a candidate. */
  measure: (c: FitCandidate) => Promise<FitScore>
  /** Baseline co-location as the measuring evaluator saw it. */
  baseline: FitScore
  objective: FitObjective
  /** The simulator's best distinct candidates to measure (besides the baseline's placement and the homes). */
  candidates: number
  /** Measurements the coordinate search may continue with. */
  evaluations: number
  /** STP ratio a move must gain over the best measured plan to be kept. */
  margin: number
  /** Added to the floors on the measurements (heldFloors); absent: 0. */
  floorMargin?: number
  /**
   * The simulator's search again with the floors held lower (SIM_FLOOR_SLACK): its `candidates` best distinct
   * candidates are measured as seeds too, after the climb, the best taken where it beats the climb's end by `margin`.
   */
  lowered?: FitSearchResult
  /** Measured plans besides the chosen one to return, best first (TuneResult.runnersUp); absent: 0. */
  runnersUp?: number
  /** CONFIRM's longer runs (absent: the choice stands): a candidate, and baseline co-location, in its windows. */
  confirm?: {
    measure: (c: FitCandidate) => Promise<FitScore>
    baseline: () => Promise<FitScore>
    windowS: number
  }
  energyWeight?: number
}

/** A measured plan: the candidate, its prices, its metrics on the measuring evaluator. */
export interface TunedPlan extends FitCandidate {
  lambdas: number[]
  mu: number
  /** The plan as measured. */
  chosen: FitMetrics
  /** The plan is the baseline's placement (every kernel on the whole GPU). */
  fellBack: boolean
  /** Baseline co-location `chosen` is measured against where it is not the tuning's (CONFIRM's longer windows). */
  against?: FitScore
  /**
   * Where `chosen` is CONFIRM's longer run: the plan as the tuning's own window measured it, what the sets of raised
   * workers (on it, and on the runners-up against it) are compared with, as they are measured in such windows. Scored
   * on the floors as given, which the longer run settled: on the floors held higher a close call's window falls short,
   * and every set that keeps them would beat it whatever its STP.
   */
  window?: FitMetrics
}

/**
 * One measurement of the tuning, in order: the plan (none: the baseline's placement), its metrics, what became of it.
 */
export interface TuneRun {
  /** confirm: CONFIRM's longer run, its metrics against baseline co-location in the same windows. */
  phase: 'seed' | 'search' | 'confirm'
  /** The plan's state and homes (regular slices); absent: the baseline's placement. */
  plan?: { state: FitState; homeLengths: number[] }
  m: FitMetrics
  /**
   * phase search: the search moved to it; a seed of the second search: taken in place of the climb's end; confirm:
   * taken (the incumbent's, the first confirm run: it stood).
   */
  kept: boolean
}

export interface TuneResult extends TunedPlan {
  homeOnly: FitMetrics
  /**
   * The other distinct plans measured, best first, as many as TuneOptions.runnersUp asked (fewer if fewer); one may
   * rank above the chosen plan by less than the margin (a move that gained less than it is not kept).
   */
  runnersUp: TunedPlan[]
  /** Every other distinct plan measured, best first (the runners-up are its first). */
  others: TunedPlan[]
  /**
   * Where CONFIRM's longer runs chose the plan: the other runs it made so (the incumbent's among them, the baseline's
   * placement's where that was the incumbent), each with its `against`.
   */
  confirmedOthers?: TunedPlan[]
  /** Candidates measured (baseline co-location not among them): the seeds, then the search's. */
  measured: number
  seeds: number
  /** Model-wise's homes make the baseline's placement (one worker's can: none shares the GPU): one seed, not two. */
  homesWhole: boolean
  /** Moves the measured search kept. */
  moves: number
  /** The plan is the second search's best seed, measured above the climb's end by more than the margin. */
  fromLowered: boolean
  /**
   * CONFIRM's longer runs were made, over the choice the tuning would have made (`incumbent`: the baseline's
   * placement, or a plan); `confirmedOthers` says whether another plan was taken.
   */
  confirmed?: { windowS: number; floorMargin: number; runs: number; incumbent: 'baseline-placement' | 'plan' }
  /** Every measurement, in order (baseline co-location's not among them). */
  trail: TuneRun[]
  /**
   * The ranking the search used on measurements (floors, the p95 cap, then the objective): for what is measured after
   * it.
   */
  value: (m: FitMetrics) => number
  /** The objective `value` ranks metrics made with: the floors as held. */
  objective: FitObjective
}

/** Continues `search` (the simulator's) on the measuring evaluator, within the budget (header). */
export async function measuredSearch(search: FitSearchResult, o: TuneOptions): Promise<TuneResult> {
  const { space } = search
  const whole = space.wholeGpu(space.start)
  const wholeKey = FitSpace.keyOf(whole)
  // every measured plan by key, in the order measured (the trail)
  const memo = new Map<string, TuneRun>()
  // each measured plan's score as measured, for the floors as given (CONFIRM's close calls)
  const scores = new Map<string, FitScore>()
  const held = heldFloors(o.objective, o.floorMargin ?? 0)
  const measure = async (
    key: string,
    c: FitCandidate,
    state?: FitState,
    phase: TuneRun['phase'] = 'seed',
  ) => {
    let m = memo.get(key)?.m
    if (!m) {
      // the baseline's placement is what the guard on total requests/s measures against: it meets it (a window's
      // noise aside), under any state that makes it; and it is held to the floors as given, not as held
      const score = await o.measure(c)
      scores.set(key, score)
      m = fitMetrics(score, o.baseline, key === wholeKey ? o.objective : held)
      if (key === wholeKey) m = guardReference(m)
      const plan = key === wholeKey || !state ? undefined : { state, homeLengths: c.layout.homeLengths }
      memo.set(key, { phase, ...(plan ? { plan } : {}), m, kept: false })
    }
    return m
  }
  // the seeds: the baseline's placement, the homes, the simulator's best other than these two (a state that makes
  // the baseline's placement is not a plan: it is not a seed, nor a move of the climb)
  const wholeM = await measure(wholeKey, whole)
  // a state's key, the whole-GPU key for any state that makes the baseline's placement (measured above, not a plan)
  const keyIn = (st: FitState) => {
    const c = space.candidate(st)
    return FitSpace.isWholeGpu(c) ? wholeKey : FitSpace.keyOf(c)
  }
  const homeKey = keyIn(space.start)
  const homeOnly = await measure(homeKey, space.candidate(space.start), space.start)
  const p95Cap = Math.max(1, homeOnly.p95) + FIT_P95_SLACK
  const value = (m: FitMetrics) => fitValue(m, p95Cap, o.energyWeight ?? FIT_ENERGY_WEIGHT)
  // a FitSpace depends on the mix and the options, not on the floors: a state of the lowered search has the same key
  // and makes the same plan in this one
  const bestOf = (of: FitSearchResult) =>
    of.seen
      .filter((s) => s.key !== homeKey && keyIn(s.state) !== wholeKey)
      .map((s, i) => ({ s, v: of.value(s.metrics), i }))
      .sort((a, b) => b.v - a.v || a.i - b.i)
      .slice(0, o.candidates)
  // the climb starts from the best of the homes and the first search's seeds: a seed of the second search may
  // measure higher yet lie on a lower hill, and a climb from it would leave the first search's path
  let from = { state: space.start, m: homeOnly }
  for (const { s } of bestOf(search)) {
    const m = await measure(s.key, space.candidate(s.state), s.state)
    if (value(m) > value(from.m)) from = { state: s.state, m }
  }
  let seeds = memo.size
  // the best measured plan: the best state, unless the baseline's placement measured higher or the state makes it
  // (the homes can, with one worker)
  const homesWhole = homeKey === wholeKey
  let best: { state?: FitState; m: FitMetrics } =
    value(wholeM) > value(from.m) || keyIn(from.state) === wholeKey ? { m: wholeM } : from
  let spent = 0
  let moves = 0
  while (spent < o.evaluations) {
    const at = from.state
    const next = new Map<string, FitState>()
    for (const st of space.moves(() => at)) {
      const key = keyIn(st)
      if (!memo.has(key) && !next.has(key)) next.set(key, st)
    }
    // most promising first in the simulator's eyes (ties: the search's own order)
    const ranked: { key: string; st: FitState; v: number; i: number }[] = []
    for (const [key, st] of next)
      ranked.push({ key, st, v: search.value(await search.metricsOf(st)), i: ranked.length })
    ranked.sort((a, b) => b.v - a.v || a.i - b.i)
    let moved = false
    for (const r of ranked) {
      if (spent >= o.evaluations) break
      spent++
      const m = await measure(r.key, space.candidate(r.st), r.st, 'search')
      if (value(m) > value(best.m) + o.margin) {
        const run = memo.get(r.key)
        if (run) run.kept = true
        from = { state: r.st, m }
        best = from
        moves++
        moved = true
        break
      }
    }
    if (!moved) break
  }
  // the second search's seeds, measured after the climb so that the climb is run for run the one without them (none
  // measured already is measured again); the best is taken where it beats the climb's end by the margin, as a move
  let lowered: { key: string; state: FitState; m: FitMetrics } | undefined
  for (const { s } of o.lowered ? bestOf(o.lowered) : []) {
    if (!memo.has(s.key)) seeds++
    const m = await measure(s.key, space.candidate(s.state), s.state)
    if (!lowered || value(m) > value(lowered.m)) lowered = { key: s.key, state: s.state, m }
  }
  let fromLowered = false
  if (lowered && value(lowered.m) > value(best.m) + o.margin) {
    const run = memo.get(lowered.key)
    if (run) run.kept = true
    best = lowered
    fromLowered = true
  }
  const planOf = (state: FitState | undefined, m: FitMetrics): TunedPlan =>
    state
      ? { ...space.candidate(state), lambdas: state.lambdas, mu: state.mu, chosen: m, fellBack: false }
      : { ...whole, lambdas: space.start.lambdas.map(() => 0), mu: 0, chosen: m, fellBack: true }
  // (5) a close call: the plans only the held floors ruled out, measured above the one the tuning would take (the
  // baseline's placement or a plan) by more than the margin, measured again for longer beside it
  const confirmRuns: TuneRun[] = []
  let confirmed: TuneResult['confirmed']
  // where CONFIRM took a plan: the longer windows' baseline co-location, the plan in the tuning's window
  // (TunedPlan.window), and the other plans measured in the longer ones
  let taken: { against: FitScore; window: FitMetrics; others: TunedPlan[] } | undefined
  const incumbentKey = best.state ? space.key(best.state) : wholeKey
  // the measured plans that met the floors as given and would have beaten it by the margin, best first by the same
  // ranking (a plan past the p95 cap ranks -∞: none), each with its tuning window so scored (TunedPlan.window)
  const close = [...memo]
    .flatMap(([key, run], i) => {
      const score = scores.get(key)
      if (key === incumbentKey || !run.plan || !score) return []
      const window = fitMetrics(score, o.baseline, o.objective)
      const v = value(window)
      return v > value(best.m) + o.margin ? [{ state: run.plan.state, window, v, i }] : []
    })
    .sort((a, b) => b.v - a.v || a.i - b.i)
    .slice(0, CONFIRM.candidates)
  if (o.confirm && close.length > 0) {
    const floorMargin = (o.floorMargin ?? 0) / Math.sqrt(CONFIRM.windowFactor)
    const longHeld = heldFloors(o.objective, floorMargin)
    const base = await o.confirm.baseline()
    const { measure: measureLong } = o.confirm
    // a plan in the longer windows, the floors held there
    const confirmRun = async (state: FitState): Promise<TuneRun> => {
      const c = space.candidate(state)
      const m = fitMetrics(await measureLong(c), base, longHeld)
      return { phase: 'confirm', plan: { state, homeLengths: c.layout.homeLengths }, m, kept: false }
    }
    // the incumbent in the same windows: the baseline's placement as the guard's reference, a plan held as the others
    const incumbent: TuneRun = best.state
      ? await confirmRun(best.state)
      : {
          phase: 'confirm',
          m: guardReference(fitMetrics(await measureLong(whole), base, o.objective)),
          kept: false,
        }
    confirmRuns.push(incumbent)
    // the best that keeps the floors held there and beats the incumbent by the margin
    let pick: { state: FitState; m: FitMetrics; window: FitMetrics; run: TuneRun } | undefined
    for (const { state, window } of close) {
      const run = await confirmRun(state)
      confirmRuns.push(run)
      const { m } = run
      if (
        m.shortfall === 0 &&
        value(m) > value(incumbent.m) + o.margin &&
        (!pick || value(m) > value(pick.m))
      )
        pick = { state, m, window, run }
    }
    confirmed = {
      windowS: o.confirm.windowS,
      floorMargin,
      runs: 2 + close.length,
      incumbent: best.state ? 'plan' : 'baseline-placement',
    }
    if (pick) {
      pick.run.kept = true
      best = pick
      fromLowered = false
      const others = confirmRuns.flatMap((r) => (r !== pick.run ? [planOf(r.plan?.state, r.m)] : []))
      taken = { against: base, window: pick.window, others: others.map((p) => ({ ...p, against: base })) }
    } else incumbent.kept = true
  }
  // the other measured plans by the same ranking (ties: measured first); the runners-up are the first of them
  const bestKey = best.state ? space.key(best.state) : wholeKey
  const others = [...memo]
    .filter(([key]) => key !== bestKey)
    .map(([, e], i) => ({ e, v: value(e.m), i }))
    .sort((a, b) => b.v - a.v || a.i - b.i)
    .map(({ e }) => planOf(e.plan?.state, e.m))
  return {
    ...planOf(best.state, best.m),
    ...(taken ? { against: taken.against, window: taken.window } : {}),
    homeOnly,
    runnersUp: others.slice(0, o.runnersUp ?? 0),
    others,
    ...(taken ? { confirmedOthers: taken.others } : {}),
    measured: memo.size,
    seeds,
    homesWhole,
    moves,
    fromLowered,
    ...(confirmed ? { confirmed } : {}),
    trail: [...memo.values(), ...confirmRuns],
    value,
    objective: held,
  }
}

/** A measured choice of the tuning: a plan, its priority choice (absent: the option is off), its rank unraised. */
export interface TunePick {
  plan: TunedPlan
  prio: PriorityChoice | undefined
  rank: number
}

/**
 * The latency target held on the windows as the floors are: where the choice's window puts a held worker's p95 past
 * `p95Cap` (× its p95 under baseline co-location), the best measured run that meets the floors and keeps every held
 * worker within the cap is taken instead: a plan as measured, or a plan with a set raised. The held workers are those
 * whose floor is at least the default: one given a lower floor may be slowed, its latency with it (a worker with no
 * finite p95 finished too little to have one: its floor, not this, rules it out). In a closed loop a worker's p95
 * follows its mean latency, so the cap keeps a worker slowed evenly at about 1 / cap of its baseline rate or more: a
 * floor above the default's. Where CONFIRM took the plan, CONFIRM's longer runs of plans are ranked among themselves
 * first, and no plan they measured is taken unraised on a shorter window (one is not weighed against the other).
 * Undefined where the choice is within the cap or no measured run is; else the new pick, the worker of the choice's
 * that was furthest past the cap, and the choice's metrics.
 */
export function holdP95(
  pick: TunePick,
  tuned: TuneResult,
  setRuns: readonly { plan: TunedPlan; high: boolean[]; m: FitMetrics }[],
  floors: readonly number[],
  p95Cap: number,
): { pick: TunePick; worker: number; was: FitMetrics } | undefined {
  const held = floors.map((f) => f >= DEFAULT_MIN_SHARE)
  const past = (m: FitMetrics) =>
    m.p95Ratios.reduce(
      (at, r, i) =>
        held[i] && Number.isFinite(r) && r > p95Cap + 1e-9 && (at < 0 || r > (m.p95Ratios[at] as number))
          ? i
          : at,
      -1,
    )
  // the choice as reported: a raised set's run, else the plan as measured (CONFIRM's longer run where it took it)
  const was = pick.prio?.high ? pick.prio.metrics : pick.plan.chosen
  const worker = past(was)
  if (worker < 0) return undefined
  const confirmed = tuned.confirmedOthers ?? []
  const plans = [tuned, ...tuned.others, ...confirmed]
  type Run = { plan: TunedPlan; high: boolean[] | undefined; m: FitMetrics; rank: number }
  const within = (r: Run) => r.m.shortfall === 0 && Number.isFinite(tuned.value(r.m)) && past(r.m) < 0
  const bestOf = (runs: Run[]) => {
    let best: Run | undefined
    for (const r of runs.filter(within)) if (!best || tuned.value(r.m) > tuned.value(best.m)) best = r
    return best
  }
  // where CONFIRM took the plan, its longer runs of plans (the plan's, the others it measured so, on the floors held
  // there) are ranked among themselves and first; the runs in the tuning's windows only where none of them is within
  // the cap, and of those no unraised run of a plan CONFIRM measured (the plan's own: its reported run is the longer
  // one). The baseline's placement, where it was CONFIRM's incumbent, ranks with the tuning's runs by its longer run:
  // it is within the cap by definition, and first it would shut out every raised set
  const unraised = (plan: TunedPlan): Run => ({
    plan,
    high: undefined,
    m: plan.chosen,
    rank: plans.indexOf(plan) + 1,
  })
  const longer = tuned.confirmedOthers ? [tuned, ...confirmed] : []
  const measuredLonger = new Set(longer.map((p) => FitSpace.keyOf(p)))
  const long = longer.filter((p) => !p.fellBack).map(unraised)
  const short: Run[] = [
    ...[tuned, ...tuned.others].filter((p) => !measuredLonger.has(FitSpace.keyOf(p))).map(unraised),
    ...longer.filter((p) => p.fellBack).map(unraised),
    ...setRuns.map((r) => ({ ...r, rank: plans.indexOf(r.plan) + 1 })),
  ]
  const best = bestOf(long) ?? bestOf(short)
  if (!best) return undefined
  const prio = pick.prio && { ...pick.prio, high: best.high, metrics: best.m }
  return { pick: { plan: best.plan, prio, rank: best.rank }, worker, was }
}
