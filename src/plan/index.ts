// makePlan: profiles + mix → plan (docs/design.md §2), for every policy. The public entry point of the optimizer.
import type { GpuRef } from '../formats/common.ts'
import { UserError } from '../formats/errors.ts'
import { type Gpu, gpuIdentity } from '../formats/gpu.ts'
import { parseFormat } from '../formats/index.ts'
import type { WorkerSpec } from '../formats/mix.ts'
import {
  type Group,
  isMpsPolicy,
  type Partition,
  type Plan,
  type PlanWorker,
  type Policy,
  type SolverInfo,
} from '../formats/plan.ts'
import type { Profile } from '../formats/profile.ts'
import { solveWorkerDp } from './dp.ts'
import {
  FIT_DEFAULT,
  type FitMetrics,
  type FitScore,
  fitAssignment,
  fitLayout,
  fitSearch,
  scaleToLatency,
} from './fit.ts'
import { HighsRunner } from './highs.ts'
import { type Assignment, buildInstance, evaluate, unitCount, type WorkerInstance } from './instance.ts'
import { type OracleResult, type OuterResult, outerSearch } from './outer.ts'
import { modelWiseLayout, rightSizedAssignment } from './policies.ts'
import { buildPool, DEFAULT_MAX_PARTITIONS } from './pool.ts'
import { DEFAULT_TOLERANCE } from './rightsize.ts'

export { FIT_LAMBDAS, FIT_MUS, type FitScore, fitAssignment, fitLayout, fitMetrics } from './fit.ts'
export { buildPool, DEFAULT_MAX_PARTITIONS } from './pool.ts'
export { DEFAULT_TOLERANCE, rightSizeIndex, rightSizes } from './rightsize.ts'

export const DEFAULT_SWITCH_MAX = 14
export const DEFAULT_MODEL_WISE_FACTOR = 1.1
export const DEFAULT_TIME_LIMIT_S = 60
export const DEFAULT_MIP_GAP = 1e-4

/** Which solver answers ECLIP's subproblems: the exact DP (default, fast) or HiGHS (the MILP). */
export type SolverChoice = 'dp' | 'highs'

/**
 * How a whole candidate plan behaves when its workers run together (eclip-fit scores its candidates with it). The
 * CLI passes the simulator's calibrated contention model (src/execute/sim/evaluator.ts); the plan layer never
 * imports the executor.
 */
export interface PlanEvaluator {
  evaluate(plan: Plan): Promise<FitScore>
  /** What one partition switch costs the executor the evaluator models, µs. */
  switchCostUs: number
}

export interface PlanOptions {
  policy: Policy
  /** eclip-fit: scores candidate plans; without it eclip-fit uses fixed prices (FIT_DEFAULT) and says so. */
  evaluator?: PlanEvaluator
  /** eclip-fit: weight of requests/J next to throughput in the evaluator's score (FIT_ENERGY_WEIGHT). */
  fitEnergyWeight?: number
  /** eclip-fit: fixed prices for every worker at model-wise's homes instead of the search (ablations). */
  fitPrices?: { lambda: number; mu: number }
  tolerance?: number
  switchMax?: number
  modelWiseFactor?: number
  timeLimitS?: number
  mipGap?: number
  maxPartitions?: number
  solver?: SolverChoice
}

const sameGpu = (a: GpuRef, b: GpuRef) =>
  a.name === b.name && a.smCount === b.smCount && a.sliceSize === b.sliceSize

function checkInputs(gpu: Gpu, workers: readonly WorkerSpec[], profiles: readonly Profile[], o: PlanOptions) {
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
  num('time limit', o.timeLimitS, (v) => v > 0, '> 0 seconds')
  num('MIP gap', o.mipGap, (v) => v >= 0 && v < 1, 'in [0, 1)')
  num('max partitions', o.maxPartitions, (v) => Number.isInteger(v) && v >= 1, 'an integer ≥ 1')
}

/** Sizes every profile has, ascending (the whole GPU must be one). */
function commonSizes(gpu: Gpu, profiles: readonly Profile[]): number[] {
  const first = profiles[0] as Profile
  const sizes = first.sizes.filter((s) => profiles.every((p) => p.sizes.includes(s)))
  if (!sizes.includes(gpu.smCount))
    throw new UserError(`not every profile has the whole GPU (${gpu.smCount} SMs)`)
  return sizes
}

function groupsOf(w: WorkerInstance, choice: Int32Array): Group[] {
  const groups: Group[] = []
  const U = unitCount(w)
  for (let u = 0; u < U; u++) {
    const partition = w.configs[choice[u] as number] as number
    const first = w.unitFirst[u] as number
    const last = (u + 1 < U ? (w.unitFirst[u + 1] as number) : w.kernels) - 1
    const g = groups[groups.length - 1]
    if (g && g.partition === partition) g.last = last
    else groups.push({ first, last, partition })
  }
  return groups
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
  const tolerance = opts.tolerance ?? DEFAULT_TOLERANCE
  const switchMax = opts.switchMax ?? DEFAULT_SWITCH_MAX
  const modelWiseFactor = opts.modelWiseFactor ?? DEFAULT_MODEL_WISE_FACTOR
  const timeLimitS = opts.timeLimitS ?? DEFAULT_TIME_LIMIT_S
  const mipGap = opts.mipGap ?? DEFAULT_MIP_GAP
  const maxPartitions = opts.maxPartitions ?? DEFAULT_MAX_PARTITIONS
  const params = { tolerance, switchMax, modelWiseFactor, timeLimitS, mipGap, maxPartitions }
  const sizes = commonSizes(gpu, profiles)
  const N = gpu.smCount

  let partitions: Partition[]
  let ladders: number[][]
  let assignments: Assignment[]
  let instances: WorkerInstance[]
  let solver: Omit<SolverInfo, 'solveMs'> = { name: 'none', status: 'not-needed', gap: 0 }
  const notes: string[] = []
  const instancesFor = () =>
    workers.map((w, i) => {
      const ladder = ladders[i] as number[]
      return buildInstance(
        w.name,
        profiles[i] as Profile,
        ladder,
        ladder.map((id) => (partitions[id] as Partition).sms),
      )
    })

  if (opts.policy === 'baseline') {
    partitions = [{ id: 0, slices: gpu.slices.map((s) => s.id), sms: N }]
    ladders = workers.map(() => [0])
    instances = instancesFor()
    assignments = instances.map((w) => evaluate(w, new Int32Array(unitCount(w))))
  } else if (opts.policy === 'model-wise' || isMpsPolicy(opts.policy)) {
    const layout = modelWiseLayout(gpu, profiles, modelWiseFactor)
    partitions = layout.partitions
    ladders = layout.assigned.map((id) => [id])
    notes.push(...layout.notes)
    // MPS runs the model-wise plan with one process per worker: the sizes become thread-percentage caps (mps) or
    // are ignored (mps-unlimited); the slices are never pinned (docs/design.md §3: MPS limits how many SMs, never which)
    if (opts.policy === 'mps')
      notes.push('MPS: each worker process capped at its partition size (active thread %), slices not pinned')
    if (opts.policy === 'mps-unlimited')
      notes.push('MPS without limits: every worker process may use the whole GPU; partition sizes unused')
    instances = instancesFor()
    assignments = instances.map((w) => evaluate(w, new Int32Array(unitCount(w))))
  } else if (opts.policy === 'eclip-fit') {
    const evaluator = opts.evaluator
    const draft = (policy: Policy, ps: Partition[], ls: number[][], is: WorkerInstance[], a: Assignment[]) =>
      assemble({
        gpu,
        mixName,
        workers,
        profiles,
        policy,
        partitions: ps,
        ladders: ls,
        instances: is,
        assignments: a,
        params,
        solver,
        notes: [],
      })
    if (evaluator && !opts.fitPrices) {
      const whole: Partition[] = [{ id: 0, slices: gpu.slices.map((s) => s.id), sms: N }]
      const baseInst = workers.map((w, i) => buildInstance(w.name, profiles[i] as Profile, [0], [N]))
      const baseline = await evaluator.evaluate(
        draft(
          'baseline',
          whole,
          workers.map(() => [0]),
          baseInst,
          baseInst.map((w) => evaluate(w, new Int32Array(unitCount(w)))),
        ),
      )
      const res = await fitSearch(gpu, profiles, {
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
        score: (c) =>
          evaluator.evaluate(
            draft('eclip-fit', c.layout.partitions, c.layout.ladders, c.instances, c.assignments),
          ),
        baseline,
        models: workers.map((w) => w.model),
        ...(opts.fitEnergyWeight !== undefined ? { energyWeight: opts.fitEnergyWeight } : {}),
      })
      partitions = res.layout.partitions
      ladders = res.layout.ladders
      instances = res.instances
      assignments = res.assignments
      notes.push(...res.layout.notes)
      const f = (x: number) => (x === Number.POSITIVE_INFINITY ? 'home' : String(x))
      const m = (x: FitMetrics) => `${x.thr.toFixed(3)} / ${x.p95.toFixed(3)} / ${x.reqPerJ.toFixed(3)}`
      notes.push(
        `homes ${res.layout.homeLengths.map((L) => L * gpu.sliceSize).join('/')} SMs, overlap prices λ ${res.lambdas.map(f).join(', ')}, μ ${res.mu}: chosen by the evaluator over ${res.evaluations} candidate plans; evaluated throughput / p95 / requests-per-J vs baseline ${m(res.chosen)} (model-wise homes, no overlap: ${m(res.homeOnly)})`,
      )
    } else {
      const layout = fitLayout(gpu, profiles, modelWiseFactor, maxPartitions)
      partitions = layout.partitions
      ladders = layout.ladders
      notes.push(...layout.notes)
      instances = instancesFor().map((w, i) => scaleToLatency(w, profiles[i] as Profile))
      const d = {
        ...FIT_DEFAULT,
        ...opts.fitPrices,
        switchCostUs: evaluator?.switchCostUs ?? FIT_DEFAULT.switchCostUs,
      }
      assignments = instances.map((w, i) =>
        fitAssignment(w, layout.overlapSms[i] as number[], N, d.lambda, d.mu, switchMax, d.switchCostUs),
      )
      const l =
        d.lambda === Number.POSITIVE_INFINITY ? '∞ (every worker stays in its model-wise home)' : d.lambda
      notes.push(
        `${opts.fitPrices ? 'fixed prices' : 'no contention model to choose prices'}: λ ${l} for every worker, μ ${d.mu}, ${d.switchCostUs} µs per switch`,
      )
    }
    // exact per worker at its prices; the prices themselves are the search's local optimum (see the notes)
    solver = { name: 'dp', status: 'optimal', gap: 0 }
  } else {
    const pool = buildPool(gpu, workers.length, { maxPartitions, sizes })
    partitions = pool.partitions
    ladders = pool.ladders
    instances = instancesFor()
    if (opts.policy === 'kw-prealloc' || opts.policy === 'kw-ioctl') {
      assignments = instances.map((w, i) => rightSizedAssignment(w, profiles[i] as Profile, tolerance))
    } else {
      const res = await solveEclip(instances, {
        smCount: N,
        switchMax,
        mipGap,
        timeLimitS,
        solver: opts.solver ?? 'dp',
      })
      assignments = res.assignments
      solver = {
        name: res.solver,
        status: res.proven ? 'optimal' : 'time-limit',
        gap: res.gap,
        objectiveUs: res.value,
      }
      notes.push(
        `outer search over the mean-SM multiplier: ${res.oracleCalls} subproblem solves, lower bound ${res.lowerBound.toFixed(3)} µs`,
      )
      if (!res.proven)
        notes.push(
          res.timedOut
            ? `NOT PROVEN OPTIMAL: stopped at the ${timeLimitS}s time limit with a relative gap of ${(res.gap * 100).toFixed(3)}%`
            : `NOT PROVEN OPTIMAL: the subproblems' bounds leave a relative gap of ${(res.gap * 100).toFixed(3)}% (> --mip-gap)`,
        )
    }
  }

  return assemble({
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
  })
}

interface AssembleInput {
  gpu: Gpu
  mixName: string
  policy: Policy
  workers: readonly WorkerSpec[]
  profiles: readonly Profile[]
  partitions: Partition[]
  ladders: number[][]
  instances: readonly WorkerInstance[]
  assignments: readonly Assignment[]
  params: {
    tolerance: number
    switchMax: number
    modelWiseFactor: number
    timeLimitS: number
    mipGap: number
    maxPartitions: number
  }
  solver: Omit<SolverInfo, 'solveMs'> & { solveMs?: number }
  notes: readonly string[]
}

/** The plan of given assignments (validated against the plan format). */
function assemble(o: AssembleInput): Plan {
  const { gpu, workers, profiles, instances, assignments, ladders, notes } = o
  const N = gpu.smCount
  const A = assignments.reduce((a, x) => a + x.meanSms, 0)
  const alpha = A / N
  const planWorkers: PlanWorker[] = workers.map((w, i) => {
    const inst = instances[i] as WorkerInstance
    const a = assignments[i] as Assignment
    const groups = groupsOf(inst, a.choice)
    return {
      name: w.name,
      model: w.model,
      batch: w.batch,
      dtype: w.dtype,
      fingerprint: (profiles[i] as Profile).fingerprint,
      kernels: inst.kernels,
      partitions: [...(ladders[i] as number[])],
      groups,
      switches: groups.length - 1,
      soloUs: a.soloUs,
      predictedUs: (1 + alpha) * a.soloUs,
      soloFullUs: inst.fullUs,
      meanSms: a.meanSms,
      alpha,
    }
  })
  const { tolerance, switchMax, modelWiseFactor, timeLimitS, mipGap, maxPartitions } = o.params
  const plan: Plan = {
    format: 'eclip.plan/1',
    policy: o.policy,
    gpu: gpuIdentity(gpu),
    mix: o.mixName,
    pool: { partitions: o.partitions },
    workers: planWorkers,
    repartitionAtSwitch: o.policy === 'kw-ioctl',
    // params allows extra fields: the pool cap is recorded next to the paper's parameters
    params: { tolerance, switchMax, modelWiseFactor, timeLimitS, mipGap, maxPartitions } as Plan['params'],
    solver: {
      ...o.solver,
      solveMs: o.solver.solveMs ?? 0,
      ...(notes.length > 0 ? { notes: notes.join('; ') } : {}),
    },
    createdAt: new Date().toISOString(),
  }
  return parseFormat<Plan>('plan', plan, `plan for ${o.mixName}`)
}

export interface EclipSolveOptions {
  smCount: number
  switchMax: number
  mipGap: number
  timeLimitS: number
  solver: SolverChoice
}

export type EclipSolveResult = OuterResult & { solver: 'dp' | 'highs' }

/** ECLIP's optimizer over prepared worker instances (exported for tests and the benchmark). */
export async function solveEclip(
  instances: WorkerInstance[],
  o: EclipSolveOptions,
): Promise<EclipSolveResult> {
  const deadlineMs = performance.now() + o.timeLimitS * 1000
  const minA = instances.map((w) => evaluate(w, new Int32Array(unitCount(w))))
  let runner: HighsRunner | undefined
  // Workers with the same profile and ladder sizes (mix1's two alberts, mix7's three alexnets) have the same
  // subproblem: solve it once per λ and share the answer (a configuration index means the same size for both).
  const twinOf = instances.map((w, i) => instances.findIndex((v, j) => j <= i && sameSubproblem(v, w)))
  const solveShared = async (
    solve: (w: WorkerInstance, i: number) => Promise<{ a: Assignment; bound: number }>,
  ) => {
    const memo = new Map<number, { a: Assignment; bound: number }>()
    const out: Assignment[] = []
    let bound = 0
    for (const [i, w] of instances.entries()) {
      const t = twinOf[i] as number
      let r = memo.get(t)
      if (!r) {
        r = await solve(w, i)
        memo.set(t, r)
      }
      out.push(t === i ? r.a : evaluate(w, r.a.choice))
      bound += r.bound
    }
    return { assignments: out, bound }
  }
  const dpOracle = (lambda: number): Promise<OracleResult> =>
    solveShared(async (w) => {
      const r = solveWorkerDp(w, o.switchMax, lambda)
      return { a: r.assignment, bound: r.value }
    })
  const highsOracle = (lambda: number, deadline: number): Promise<OracleResult> =>
    solveShared(async (w, i) => {
      runner ??= new HighsRunner()
      const left = Math.max(0.05, (deadline - performance.now()) / 1000)
      // a tenth of the plan's gap per subproblem, so the outer search's bounds can close within the plan's gap
      const r = await runner.solve(w, o.switchMax, lambda, left, o.mipGap / 10)
      // no incumbent in time: the worker's smallest-partition plan is feasible (0 switches)
      return { a: r.assignment ?? (minA[i] as Assignment), bound: r.bound }
    })
  try {
    const res = await outerSearch(o.solver === 'highs' ? highsOracle : dpOracle, {
      smCount: o.smCount,
      mipGap: o.mipGap,
      deadlineMs,
      minA,
    })
    return { ...res, solver: o.solver }
  } finally {
    runner?.close()
  }
}

const sameArray = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** Same costs, units and ladder sizes: the DP and the MILP see the same problem. */
function sameSubproblem(a: WorkerInstance, b: WorkerInstance): boolean {
  return (
    a === b ||
    (a.kernels === b.kernels &&
      sameArray(a.sms, b.sms) &&
      sameArray(a.unitFirst, b.unitFirst) &&
      sameArray(a.weight, b.weight) &&
      sameArray(a.cost, b.cost))
  )
}
