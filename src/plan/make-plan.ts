// makePlan: profiles + mix → plan (docs/design.md §2), for every policy. The public entry point of the optimizer.
// Here: makePlan and each policy's planner. Beside it: options.ts (PlanOptions and their check), assemble.ts (the
// planners' context, a plan's assembly and drafts), floors.ts (objective, floors and STP for the notes),
// solve-eclip.ts (the eclip policy's solve), raise-streams.ts (--stream-priorities) and tune-fit.ts (--tune).

import { UserError } from '../formats/errors.ts'
import type { Gpu } from '../formats/gpu.ts'
import { parseFormat } from '../formats/index.ts'
import type { WorkerSpec } from '../formats/mix.ts'
import type { Partition, Plan, Policy } from '../formats/plan.ts'
import type { Profile } from '../formats/profile.ts'
import { DEFAULT_TOLERANCE } from '../profile/rightsize.ts'
import {
  assemble,
  bottom,
  candidatePlan,
  draft,
  evaluateBaseline,
  NO_SOLVER,
  type PolicyContext,
  type PolicyLayout,
} from './assemble.ts'
import {
  FIT_DEFAULT,
  type FitCandidate,
  type FitMetrics,
  type FitObjective,
  type FitScore,
  FitSpace,
  type FitSpaceOptions,
  type FitState,
  fitAssignment,
  fitLayout,
  fitMetrics,
  fitSearch,
  scaleToLatency,
} from './fit.ts'
import {
  flooredText,
  floorShortfalls,
  floorsMetText,
  objectiveOf,
  relativeWeights,
  shortfallOrThrow,
  soloRates,
  stpInfo,
} from './floors.ts'
import { type Assignment, buildInstance, evaluate, unitCount, type WorkerInstance } from './instance.ts'
import { checkFitHomes, checkInputs, type PlanEvaluator, type PlanOptions } from './options.ts'
import { modelWiseLayout, rightSizedAssignment } from './policies.ts'
import { buildPool, DEFAULT_MAX_PARTITIONS } from './pool.ts'
import { priorityText, raiseStreams } from './raise-streams.ts'
import {
  BE_UNPLANNED_NOTE,
  DEFAULT_RT_BEST_EFFORT,
  DEFAULT_RT_FACTOR,
  DEFAULT_RT_GATE_US,
  DEFAULT_RT_RESERVE_SMS,
  type RtMechanism,
  rtLayout,
  rtMechanismOf,
  sizeIndexWithin,
  withBestEffortPlan,
} from './realtime.ts'
import { solveEclip } from './solve-eclip.ts'
import { loweredFloors, SIM_FLOOR_SLACK, withoutP95Cap } from './tune.ts'
import { tuneFit } from './tune-fit.ts'

export const DEFAULT_SWITCH_MAX = 14
export const DEFAULT_MODEL_WISE_FACTOR = 1.1
export const DEFAULT_TIME_LIMIT_S = 60
export const DEFAULT_MIP_GAP = 1e-4

/**
 * makePlan for one policy, with the rest of its options fixed: what an experiment plans each (mix, policy) with
 * (`simPlanner` in src/execute/sim/evaluator.ts, or a test's).
 */
export type Planner = (
  gpu: Gpu,
  mixName: string,
  workers: WorkerSpec[],
  profiles: Profile[],
  opts: Pick<PlanOptions, 'policy' | 'minTotalShare'>,
) => Promise<Plan>

/** Sizes every profile has, ascending (the whole GPU must be one). */
function commonSizes(gpu: Gpu, profiles: readonly Profile[]): number[] {
  const first = profiles[0] as Profile
  const sizes = first.sizes.filter((s) => profiles.every((p) => p.sizes.includes(s)))
  if (!sizes.includes(gpu.smCount))
    throw new UserError(`not every profile has the whole GPU (${gpu.smCount} SMs)`)
  return sizes
}

/** A policy's planner: its partitions, ladders and assignments, from makePlan's context. */
type PolicyPlanner = (c: PolicyContext) => PolicyLayout | Promise<PolicyLayout>

/** Each worker's instance on its ladder of partitions, at the partitions' sizes. */
function instancesOn(c: PolicyContext, partitions: Partition[], ladders: number[][]): WorkerInstance[] {
  return c.workers.map((w, i) => {
    const ladder = ladders[i] as number[]
    return buildInstance(
      w.name,
      c.profiles[i] as Profile,
      ladder,
      ladder.map((id) => (partitions[id] as Partition).sms),
    )
  })
}

/** baseline: every worker on the whole GPU. */
const planBaseline: PolicyPlanner = (c) => {
  const partitions = [{ id: 0, slices: c.gpu.slices.map((s) => s.id), sms: c.gpu.smCount }]
  const ladders = c.workers.map(() => [0])
  const instances = instancesOn(c, partitions, ladders)
  return { partitions, ladders, instances, assignments: bottom(instances) }
}

/** model-wise, mps, mps-unlimited: one right-sized partition per worker. */
const planModelWise: PolicyPlanner = (c) => {
  const layout = modelWiseLayout(c.gpu, c.profiles, c.params.modelWiseFactor)
  const partitions = layout.partitions
  const ladders = layout.assigned.map((id) => [id])
  c.notes.push(...layout.notes)
  // MPS runs the model-wise plan with one process per worker: the sizes become thread-percentage caps (mps) or
  // are ignored (mps-unlimited); the slices are never pinned (docs/design.md §3: MPS limits how many SMs, never which)
  if (c.opts.policy === 'mps')
    c.notes.push('MPS: each worker process capped at its partition size (active thread %), slices not pinned')
  if (c.opts.policy === 'mps-unlimited')
    c.notes.push('MPS without limits: every worker process may use the whole GPU; partition sizes unused')
  const instances = instancesOn(c, partitions, ladders)
  return { partitions, ladders, instances, assignments: bottom(instances) }
}

/**
 * eclip-rt: real-time workers at high priority on the whole GPU, or on partitions of their own, the best-effort ones
 * on what is left (src/plan/realtime.ts).
 */
const planRealtime: PolicyPlanner = (c) => {
  const { workers, profiles } = c
  const layout = rtLayout(c.gpu, workers, profiles, {
    ...(c.params.rtMechanism !== undefined ? { mechanism: c.params.rtMechanism } : {}),
    ...(c.params.rtFactor !== undefined ? { factor: c.params.rtFactor } : {}),
    ...(c.params.rtReserveSms !== undefined ? { reserveSms: c.params.rtReserveSms } : {}),
    ...(c.params.rtGateUs !== undefined ? { gateUs: c.params.rtGateUs } : {}),
  })
  const partitions = layout.partitions
  const ladders = layout.assigned.map((id) => [id])
  c.notes.push(...layout.notes)
  // a partition of the best-effort workers holds the remainder slice: not a profiled size. Its times are taken at
  // the largest profiled size below it (an upper bound); the simulator interpolates between sizes.
  const profiled = (i: number, sms: number) => {
    const p = profiles[i] as Profile
    return p.sizes[sizeIndexWithin(p, sms)] as number
  }
  const instances = workers.map((w, i) => {
    const ladder = ladders[i] as number[]
    const sms = ladder.map((id) => (partitions[id] as Partition).sms)
    return buildInstance(
      w.name,
      profiles[i] as Profile,
      ladder,
      sms.map((s) => profiled(i, s)),
    )
  })
  const assignments = instances.map((w, i) => ({
    ...evaluate(w, new Int32Array(unitCount(w))),
    meanSms: (partitions[(ladders[i] as number[])[0] as number] as Partition).sms,
  }))
  const approx = [...new Set(partitions.filter((p) => p.sms !== profiled(0, p.sms)).map((p) => p.sms))]
  if (approx.length > 0)
    c.notes.push(
      `${approx.join(', ')} SMs not a profiled size: predicted at ${approx.map((s) => profiled(0, s)).join(', ')}`,
    )
  return {
    partitions,
    ladders,
    instances,
    assignments,
    highPriority: layout.highPriority,
    ...(layout.gates ? { gates: layout.gates } : {}),
  }
}

/** eclip-fit: model-wise homes plus priced overlap, searched on the evaluator (else at fixed prices). */
const planFit: PolicyPlanner = async (c) => {
  const { gpu, workers, profiles, opts, notes } = c
  const { switchMax, modelWiseFactor, maxPartitions, tolerance } = c.params
  const N = gpu.smCount
  const evaluator = opts.evaluator
  if (evaluator && !opts.fitPrices) {
    const baseline = await evaluateBaseline(c, evaluator)
    const objective = objectiveOf(workers, await soloRates(evaluator, profiles), opts)
    const spaceOptions: FitSpaceOptions = {
      smCount: N,
      switchMax,
      factor: modelWiseFactor,
      maxPartitions,
      instance: (i, ladder, sms) =>
        scaleToLatency(
          buildInstance((workers[i] as WorkerSpec).name, profiles[i] as Profile, ladder, sms),
          profiles[i] as Profile,
        ),
      switchCostUs: evaluator.switchCostUs,
      models: workers.map((w) => w.model),
    }
    if (opts.fitAt)
      return planFitAt(c, new FitSpace(gpu, profiles, spaceOptions), opts.fitAt, baseline, objective)
    // a second search (the tuning's slack) scores again none of the plans the first one did
    const scores = new Map<string, FitScore>()
    const searchOn = (obj: FitObjective) =>
      fitSearch(gpu, profiles, {
        ...spaceOptions,
        score: (cand) => evaluator.evaluate(candidatePlan(c, cand)),
        baseline,
        objective: obj,
        scores,
        ...(opts.fitEnergyWeight !== undefined ? { energyWeight: opts.fitEnergyWeight } : {}),
        ...(opts.fitStarts !== undefined ? { starts: opts.fitStarts } : {}),
      })
    // tuned, a p95 cap (--max-p95) is held on the measurements alone (tuneFit's objective): the simulator's p95 ratio
    // can sit past the cap under a plan the GPU measures within it, and held on the prediction it keeps such plans out
    const searched = opts.tune ? withoutP95Cap(objective) : objective
    const res = await searchOn(searched)
    notes.push(...res.layout.notes)
    const f = (x: number) => (x === Number.POSITIVE_INFINITY ? 'home' : String(x))
    const m = (x: FitMetrics) => `${x.thr.toFixed(3)} / ${x.p95.toFixed(3)} / ${x.reqPerJ.toFixed(3)}`
    const prio = opts.tune ? undefined : await raiseStreams(c, evaluator, res, baseline, objective, res.value)
    const chosen = prio?.metrics ?? res.chosen
    const stp = stpInfo(chosen, baseline, objective, profiles, N, tolerance)
    const worst = workers[chosen.worst] as WorkerSpec
    const weighted = objective.weights.some((x) => x !== 1) ? ' (objective: weighted STP)' : ''
    // the note: which search and what it chose, then how the choice was evaluated, in '; '-joined parts
    const before = opts.tune ? "the simulator's search, before tuning: " : ''
    const homes = res.layout.homeLengths.map((L) => L * gpu.sliceSize).join('/')
    // fallen back, the plan has no homes or prices (res's are zeros): the search's best is named as what it was
    // preferred to, with the prices its state ended at
    const { lambdas, mu } = res.fellBack ? res.state : res
    const prices = `overlap prices λ ${lambdas.map(f).join(', ')}, μ ${mu}`
    // the search's best may be the baseline's placement itself (e.g. no price on overlap): then it is not "above" it
    const choice = res.fellBack
      ? `the baseline's placement (every kernel on the whole GPU) chosen by the evaluator over ${res.evaluations} candidate plans, ${res.bestIsWhole ? 'what' : 'scoring above'} the search's best (homes ${homes} SMs, ${prices})${res.bestIsWhole ? ' makes' : ''}`
      : `homes ${homes} SMs, ${prices}: chosen by the evaluator over ${res.evaluations} candidate plans`
    const vsBaseline = `evaluated STP ${stp.value.toFixed(3)}, ${(stp.value / stp.baseline).toFixed(3)}× baseline's`
    const vsBound = `${(stp.value / stp.bound).toFixed(3)} of the STP bound ${stp.bound.toFixed(3)}${flooredText(stp)}`
    const worstText = `worst worker ${worst.name} at ${(chosen.ratios[chosen.worst] ?? 0).toFixed(3)}× baseline`
    const floorsMet = floorsMetText(searched, chosen.shortfall === 0, res.fellBack && !prio?.high)
    const total = `total requests/s ${chosen.totalRatio.toFixed(3)}× baseline's`
    const measures = `evaluated mean throughput / mean p95 / total requests-per-J vs baseline ${m(chosen)} (model-wise homes, no overlap: ${m(res.homeOnly)})`
    notes.push(
      before +
        [
          choice + priorityText(workers, prio, res.chosen, objective),
          `heuristic (local search): ${vsBaseline}, ${vsBound}${weighted}`,
          `${worstText}, ${floorsMet}`,
          total,
          measures,
        ].join('; '),
    )
    // tuned: the floors (and a p95 cap) are checked on what the backend measured instead; with a slack, a second
    // search with the floors held lower gives more candidates to measure (SIM_FLOOR_SLACK), unless it would lower none
    if (opts.tune) {
      if (objective.maxP95 !== undefined)
        notes.push(
          `the p95 cap (${objective.maxP95}× baseline's) not held in the simulator's searches: the tuning holds it on the measurements`,
        )
      const slack = opts.tune.simFloorSlack ?? SIM_FLOOR_SLACK
      const lowFloors = loweredFloors(searched, slack)
      if (lowFloors.floors.every((x, i) => x === searched.floors[i])) return tuneFit(c, opts.tune, res)
      const t0 = performance.now()
      const lowered = await searchOn(lowFloors)
      notes.push(
        `the simulator's search again with each floor held ${slack} lower, for more candidates to measure: ${lowered.fellBack ? "the baseline's placement chosen" : `homes ${lowered.layout.homeLengths.map((L) => L * gpu.sliceSize).join('/')} SMs, λ ${lowered.lambdas.map(f).join(', ')}, μ ${lowered.mu}`} over ${lowered.evaluations} candidate plans`,
      )
      return tuneFit(c, opts.tune, res, { search: lowered, ms: performance.now() - t0 })
    }
    shortfallOrThrow('the eclip-fit plan', floorShortfalls(workers, chosen, objective), opts, notes)
    return { ...fitPlanLayout(res, stp), ...(prio?.high ? { highPriority: prio.high } : {}) }
  }
  const layout = fitLayout(gpu, profiles, modelWiseFactor, maxPartitions)
  const partitions = layout.partitions
  const ladders = layout.ladders
  notes.push(...layout.notes)
  const instances = instancesOn(c, partitions, ladders).map((w, i) =>
    scaleToLatency(w, profiles[i] as Profile),
  )
  const d = {
    ...FIT_DEFAULT,
    ...opts.fitPrices,
    switchCostUs: evaluator?.switchCostUs ?? FIT_DEFAULT.switchCostUs,
  }
  const assignments = instances.map((w, i) =>
    fitAssignment(w, layout.overlapSms[i] as number[], N, d.lambda, d.mu, switchMax, d.switchCostUs),
  )
  const l = d.lambda === Number.POSITIVE_INFINITY ? '∞ (every worker stays in its model-wise home)' : d.lambda
  notes.push(
    `${opts.fitPrices ? 'fixed prices' : 'no contention model to choose prices'}: λ ${l} for every worker, μ ${d.mu}, ${d.switchCostUs} µs per switch; heuristic, no bound reached (nothing simulated)`,
  )
  // gap 1: nothing proven (no evaluator gave an STP bound)
  return { partitions, ladders, instances, assignments, solver: { name: 'dp', status: 'heuristic', gap: 1 } }
}

/** eclip-fit at one point of its search space (PlanOptions.fitAt): that candidate, evaluated, floors checked. */
async function planFitAt(
  c: PolicyContext,
  space: FitSpace,
  at: FitState,
  baseline: FitScore,
  objective: FitObjective,
): Promise<PolicyLayout> {
  const { gpu, workers, profiles, opts, notes } = c
  checkFitHomes(gpu, profiles, at.lengths, space.start.lengths)
  const cand = space.candidate(at)
  notes.push(...cand.layout.notes)
  const m = fitMetrics(
    await (opts.evaluator as PlanEvaluator).evaluate(candidatePlan(c, cand)),
    baseline,
    objective,
  )
  const stp = stpInfo(m, baseline, objective, profiles, gpu.smCount, c.params.tolerance)
  const f = (x: number) => (x === Number.POSITIVE_INFINITY ? 'home' : String(x))
  const homes = cand.layout.homeLengths.map((L) => L * gpu.sliceSize).join('/')
  const worst = workers[m.worst] as WorkerSpec
  notes.push(
    [
      `homes ${homes} SMs, overlap prices λ ${at.lambdas.map(f).join(', ')}, μ ${at.mu}: given, not searched`,
      `evaluated STP ${stp.value.toFixed(3)}, ${(stp.value / stp.baseline).toFixed(3)}× baseline's, ${(stp.value / stp.bound).toFixed(3)} of the STP bound ${stp.bound.toFixed(3)}${flooredText(stp)}`,
      `worst worker ${worst.name} at ${(m.ratios[m.worst] ?? 0).toFixed(3)}× baseline, ${floorsMetText(objective, m.shortfall === 0, false)}`,
    ].join('; '),
  )
  shortfallOrThrow('the eclip-fit plan', floorShortfalls(workers, m, objective), opts, notes)
  return fitPlanLayout(cand, stp)
}

/** A candidate of eclip-fit's space as the plan: exact per worker at its prices, but never called optimal. */
function fitPlanLayout(cand: FitCandidate, stp: ReturnType<typeof stpInfo>): PolicyLayout {
  return {
    partitions: cand.layout.partitions,
    ladders: cand.layout.ladders,
    instances: cand.instances,
    assignments: cand.assignments,
    solver: { name: 'dp', status: 'heuristic', gap: Math.max(0, 1 - stp.value / stp.bound), stp },
  }
}

/** The pool of partitions the kernel-wise policies choose from, and each worker's instance on it. */
function onPool(c: PolicyContext) {
  const pool = buildPool(c.gpu, c.workers.length, { maxPartitions: c.params.maxPartitions, sizes: c.sizes })
  return {
    partitions: pool.partitions,
    ladders: pool.ladders,
    instances: instancesOn(c, pool.partitions, pool.ladders),
  }
}

/** kw-prealloc, kw-ioctl: every kernel on its right-sized partition. */
const planRightSized: PolicyPlanner = (c) => {
  const pool = onPool(c)
  const assignments = pool.instances.map((w, i) =>
    rightSizedAssignment(w, c.profiles[i] as Profile, c.params.tolerance),
  )
  return { ...pool, assignments }
}

/** eclip: the paper's solve over the pool (DP or HiGHS), its floors then checked (or repaired) on the evaluator. */
const planEclip: PolicyPlanner = async (c) => {
  const { workers, opts, notes } = c
  const { switchMax, mipGap, timeLimitS } = c.params
  const { partitions, ladders, instances } = onPool(c)
  // per-worker weights scale the worker's terms of the paper's objective, relative to the largest (all 1: the
  // paper's own, equal weights of any size included)
  const wts = relativeWeights(workers)
  const solveOn = instances.map((w, i) =>
    wts[i] === 1 ? w : { ...w, cost: w.cost.map((x) => x * (wts[i] as number)) },
  )
  const res = await solveEclip(solveOn, {
    smCount: c.gpu.smCount,
    switchMax,
    mipGap,
    timeLimitS,
    solver: opts.solver ?? 'dp',
  })
  let assignments = res.assignments.map((a, i) => evaluate(instances[i] as WorkerInstance, a.choice))
  if (wts.some((x) => x !== 1))
    notes.push(`objective weighted per worker: ${workers.map((w) => w.weight ?? 1).join(', ')}`)
  const floorMode = opts.eclipFloors ?? 'check'
  if (opts.evaluator && opts.policy === 'eclip' && floorMode !== 'off')
    assignments = await eclipFloors(c, opts.evaluator, floorMode, {
      partitions,
      ladders,
      instances,
      assignments,
    })
  notes.push(
    `outer search over the mean-SM multiplier: ${res.oracleCalls} subproblem solves, lower bound ${res.lowerBound.toFixed(3)} µs`,
  )
  if (!res.proven)
    notes.push(
      res.timedOut
        ? `NOT PROVEN OPTIMAL: stopped at the ${timeLimitS}s time limit with a relative gap of ${(res.gap * 100).toFixed(3)}%`
        : `NOT PROVEN OPTIMAL: the subproblems' bounds leave a relative gap of ${(res.gap * 100).toFixed(3)}% (> --mip-gap)`,
    )
  return {
    partitions,
    ladders,
    instances,
    assignments,
    solver: {
      name: res.solver,
      status: res.proven ? 'optimal' : 'time-limit',
      gap: res.gap,
      objectiveUs: res.value,
    },
  }
}

/**
 * eclip's floors on the evaluator: the shortfall said in the notes ('check'), or the short workers moved to the
 * whole GPU (the top of every ECLIP ladder) until the floors hold or everyone is there ('repair').
 */
async function eclipFloors(
  c: PolicyContext,
  evaluator: PlanEvaluator,
  mode: 'check' | 'repair',
  start: Required<Omit<PolicyLayout, 'solver' | 'highPriority' | 'gates'>>,
): Promise<Assignment[]> {
  const { workers, profiles, opts, notes } = c
  const { partitions, ladders, instances } = start
  const baseline = await evaluateBaseline(c, evaluator)
  const objective = objectiveOf(workers, await soloRates(evaluator, profiles), opts)
  let a = start.assignments
  const metricsOf = async (as: Assignment[]) =>
    fitMetrics(
      await evaluator.evaluate(draft(c, 'eclip', partitions, ladders, instances, as)),
      baseline,
      objective,
    )
  let m = await metricsOf(a)
  const moved: string[] = []
  while (mode === 'repair' && m.shortfall > 0) {
    const short = workers.flatMap((_, i) =>
      (m.ratios[i] ?? 0) + 1e-9 < (objective.floors[i] ?? 0) ? [i] : [],
    )
    const atTop = (i: number) => {
      const w = instances[i] as WorkerInstance
      return (a[i] as Assignment).choice.every((x) => x === w.configs.length - 1)
    }
    const toMove = short.filter((i) => !atTop(i))
    // every short worker already on the whole GPU: the others go there too (the baseline's placement), once
    const next = toMove.length > 0 ? toMove : workers.map((_, i) => i).filter((i) => !atTop(i))
    if (next.length === 0) break
    a = a.map((x, i) => {
      if (!next.includes(i)) return x
      const w = instances[i] as WorkerInstance
      return evaluate(w, new Int32Array(unitCount(w)).fill(w.configs.length - 1))
    })
    moved.push(...next.map((i) => (workers[i] as WorkerSpec).name))
    m = await metricsOf(a)
  }
  const stp = stpInfo(m, baseline, objective, profiles, c.gpu.smCount, c.params.tolerance)
  notes.push(
    `floors checked on the evaluator: STP ${stp.value.toFixed(3)}, ${(stp.value / stp.baseline).toFixed(3)}× baseline's, ${(stp.value / stp.bound).toFixed(3)} of the STP bound ${stp.bound.toFixed(3)}${flooredText(stp)}` +
      (moved.length > 0 ? `; repaired: ${moved.join(', ')} moved to the whole GPU` : ''),
  )
  const short = floorShortfalls(workers, m, objective)
  if (mode === 'repair') shortfallOrThrow('the eclip plan', short, opts, notes)
  else if (short.length > 0)
    // one plan note (notes are joined by '; ', so none inside it)
    notes.push(
      `WARNING: the paper's plan misses ${short.length} floor(s) (simulated): ${short.join(' and ')}`,
    )
  return a
}

/**
 * The policies, one planner per family. Table policies (eclip-live) make no single plan: checkInputs refuses them.
 */
const POLICY_PLANNERS: Record<Exclude<Policy, 'eclip-live'>, PolicyPlanner> = {
  baseline: planBaseline,
  'model-wise': planModelWise,
  mps: planModelWise,
  'mps-unlimited': planModelWise,
  'eclip-rt': planRealtime,
  'eclip-fit': planFit,
  'kw-prealloc': planRightSized,
  'kw-ioctl': planRightSized,
  eclip: planEclip,
}

export async function makePlan(
  gpu: Gpu,
  mixName: string,
  workers: WorkerSpec[],
  profiles: Profile[],
  opts: PlanOptions,
): Promise<Plan> {
  checkInputs(gpu, workers, profiles, opts)
  const t0 = performance.now()
  const params = {
    tolerance: opts.tolerance ?? DEFAULT_TOLERANCE,
    switchMax: opts.switchMax ?? DEFAULT_SWITCH_MAX,
    modelWiseFactor: opts.modelWiseFactor ?? DEFAULT_MODEL_WISE_FACTOR,
    timeLimitS: opts.timeLimitS ?? DEFAULT_TIME_LIMIT_S,
    mipGap: opts.mipGap ?? DEFAULT_MIP_GAP,
    maxPartitions: opts.maxPartitions ?? DEFAULT_MAX_PARTITIONS,
    ...(opts.policy === 'eclip-rt' ? rtParams(opts) : {}),
    // recorded: a plan table takes a plan made for its set only when it was made under the same guard
    ...(opts.policy === 'eclip-fit' && opts.minTotalShare !== undefined
      ? { minTotalShare: opts.minTotalShare }
      : {}),
    ...(opts.policy === 'eclip-fit' && opts.objective === 'requests' ? { objective: opts.objective } : {}),
    ...(opts.policy === 'eclip-fit' && opts.maxP95 !== undefined ? { maxP95: opts.maxP95 } : {}),
  }
  const notes: string[] = []
  const ctx: PolicyContext = {
    gpu,
    mixName,
    workers,
    profiles,
    opts,
    params,
    sizes: commonSizes(gpu, profiles),
    notes,
  }
  const planner = POLICY_PLANNERS[opts.policy as Exclude<Policy, 'eclip-live'>]
  const {
    partitions,
    ladders,
    instances,
    assignments,
    solver = NO_SOLVER,
    highPriority,
    gates,
  } = await planner(ctx)
  const plan = assemble({
    gpu,
    mixName,
    policy: opts.policy,
    workers,
    profiles,
    partitions,
    ladders,
    instances,
    assignments,
    params,
    solver: { ...solver, solveMs: performance.now() - t0 },
    notes,
    ...(highPriority ? { highPriority } : {}),
    ...(gates ? { gates } : {}),
  })
  const wanted = (opts.rtBestEffort ?? DEFAULT_RT_BEST_EFFORT) === 'eclip-fit'
  if (opts.policy === 'eclip-rt' && gates && wanted && !opts.rtBestEffortPlan) {
    const be = gates.filter((g) => g?.role === 'wait').length
    const notes = [plan.solver.notes, be > 1 ? BE_UNPLANNED_NOTE : '']
    // ungating needs the best-effort workers' own plan: without one every best-effort worker is whole, and gated
    if ((opts.rtUngatedSms ?? 0) > 0)
      notes.push(
        `rt ungated SMs (${opts.rtUngatedSms}) unused: no plan of the best-effort workers among themselves (${be > 1 ? 'no evaluator' : 'one best-effort worker'}), every one gated on the whole GPU`,
      )
    plan.solver.notes = notes.filter((x) => x).join('; ')
  }
  return opts.policy === 'eclip-rt' && opts.rtBestEffortPlan && gates
    ? parseFormat<Plan>(
        'plan',
        withBestEffortPlan(gpu, plan, opts.rtBestEffortPlan, profiles, opts.rtGateUs, opts.rtUngatedSms),
        `plan for ${mixName}`,
      )
    : plan
}

/** eclip-rt's parameters as the plan records them: its mechanism and that mechanism's own. */
function rtParams(o: PlanOptions): {
  rtMechanism: RtMechanism
  rtFactor?: number
  rtReserveSms?: number
  rtGateUs?: number
} {
  const rtMechanism = rtMechanismOf({
    mechanism: o.rtMechanism,
    reserveSms: o.rtReserveSms,
    factor: o.rtFactor,
  })
  if (rtMechanism === 'partition') return { rtMechanism, rtFactor: o.rtFactor ?? DEFAULT_RT_FACTOR }
  if (rtMechanism === 'gate') return { rtMechanism, rtGateUs: o.rtGateUs ?? DEFAULT_RT_GATE_US }
  return { rtMechanism, rtReserveSms: o.rtReserveSms ?? DEFAULT_RT_RESERVE_SMS }
}
