// Plan: the lookup table the executor (GPU or simulator) runs: the partition pool allocated once at start-up and, per
// worker, its groups (kernel ranges → partition). Made by the optimizer from profiles and a mix.
import Type from 'typebox'
import { Priority } from './arrival.ts'
import { Dtype, ModelName } from './common.ts'
import { GpuIdentity } from './gpu.ts'

export const POLICIES = [
  'baseline',
  'model-wise',
  'kw-ioctl',
  'kw-prealloc',
  'eclip',
  'eclip-fit',
  'mps',
  'mps-unlimited',
] as const
/**
 * Policies that plan by priority: real-time workers' latency beside best-effort throughput (src/plan/realtime.ts).
 * Not among POLICIES, the throughput policies that `all` compares on every mix: on a mix without real-time workers
 * eclip-rt is the baseline placement under another name. `all` adds it where a mix has real-time workers.
 */
export const PRIORITY_POLICIES = ['eclip-rt'] as const
export type ThroughputPolicy = (typeof POLICIES)[number]
export const isPriorityPolicy = (p: string): p is (typeof PRIORITY_POLICIES)[number] =>
  (PRIORITY_POLICIES as readonly string[]).includes(p)
/**
 * Policies that follow a plan table (src/formats/plan-table.ts) rather than one plan: eclip-live runs each request
 * under the plan of the set of workers active when it starts. No plan is made under this name (its table's plans are
 * eclip-fit's, and baseline's for a worker alone); runs and results carry it.
 */
export const TABLE_POLICIES = ['eclip-live'] as const
export const isTablePolicy = (p: string): p is (typeof TABLE_POLICIES)[number] =>
  (TABLE_POLICIES as readonly string[]).includes(p)
/** Every policy a plan or a run may name. */
export const ALL_POLICIES = [...POLICIES, ...PRIORITY_POLICIES, ...TABLE_POLICIES] as const
export const Policy = Type.Enum([...ALL_POLICIES])
export type Policy = Type.Static<typeof Policy>
/**
 * The policy `eclip plan` and `eclip serve` plan with when none is named: eclip-fit, which keeps every worker at its
 * floor (minShare) or says which it cannot; the paper's eclip only checks the floors and may starve a model.
 */
export const DEFAULT_POLICY = 'eclip-fit' satisfies Policy

/**
 * NVIDIA MPS, the tool users reach for today (issue #8): every worker its own process under an MPS daemon. `mps` caps
 * each process at its model-wise partition size (CUDA_MPS_ACTIVE_THREAD_PERCENTAGE), `mps-unlimited` sets no cap.
 * Their plans are model-wise plans: MPS limits how many SMs a process gets, never which (no slice pinning).
 */
export const MPS_POLICIES = ['mps', 'mps-unlimited'] as const
export const isMpsPolicy = (p: Policy): p is (typeof MPS_POLICIES)[number] =>
  (MPS_POLICIES as readonly string[]).includes(p)

export const Partition = Type.Object(
  {
    id: Type.Integer({ minimum: 0 }),
    /** Slice ids of the GPU description; the whole GPU lists every slice, the remainder included. */
    slices: Type.Array(Type.Integer({ minimum: 0 }), { minItems: 1 }),
    sms: Type.Integer({ minimum: 1 }),
  },
  { additionalProperties: false },
)
export type Partition = Type.Static<typeof Partition>

export const Group = Type.Object(
  {
    first: Type.Integer({ minimum: 0 }),
    last: Type.Integer({ minimum: 0 }),
    partition: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
)
export type Group = Type.Static<typeof Group>

export const PlanWorker = Type.Object(
  {
    name: Type.String({ minLength: 1 }),
    model: ModelName,
    batch: Type.Integer({ minimum: 1 }),
    dtype: Dtype,
    fingerprint: Type.String({ pattern: '^sha256:[0-9a-f]{64}$' }),
    kernels: Type.Integer({ minimum: 1 }),
    /** Partition ids this worker may use (its ladder in the pool). */
    partitions: Type.Array(Type.Integer({ minimum: 0 }), { minItems: 1 }),
    /** Consecutive, covering kernels 0 … kernels-1 exactly once. */
    groups: Type.Array(Group, { minItems: 1 }),
    switches: Type.Integer({ minimum: 0 }),
    /** Σ solo kernel times at the chosen sizes, µs (no slowdown). */
    soloUs: Type.Number({ minimum: 0 }),
    /** Σ e_k with the slowdown α of the paper's objective, µs. */
    predictedUs: Type.Number({ minimum: 0 }),
    /** Σ kernel times on the whole GPU, µs: what the worker needs alone and unpartitioned. */
    soloFullUs: Type.Number({ minimum: 0 }),
    /** Kernel-count-weighted mean SMs of the chosen partitions (the paper's CUAverage). */
    meanSms: Type.Number({ minimum: 0 }),
    alpha: Type.Number({ minimum: 0 }),
    /** The worker's priority and SLO as its mix gave them (absent: best-effort, none). */
    priority: Type.Optional(Priority),
    sloMs: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
    /**
     * The CUDA priority of the worker's streams (absent: normal, CUDA's default): `high` for a real-time worker under
     * eclip-rt's priority mechanism, whose thread blocks the GPU then dispatches before normal streams' waiting ones.
     */
    streamPriority: Type.Optional(Type.Enum(['normal', 'high'])),
    /**
     * The worker's matrix products captured with kernels picked for each partition's SM count (cuBLASLt's SM target,
     * docs/design.md §7): its profile's `gemmTarget` times are the ones the plan was made from.
     */
    gemmTarget: Type.Optional(Type.Literal(true)),
    /** With `gemmTarget`: partition sizes (SMs) captured without it, the profile's `gemmTarget.offSms`. */
    gemmTargetOffSms: Type.Optional(Type.Array(Type.Integer({ minimum: 1 }), { minItems: 1 })),
    /**
     * With `gemmTarget`: partition sizes (SMs) whose convolutions are captured with algorithms benchmarked on that size
     * (conv lanes, docs/design.md §7), the profile's `gemmTarget.convSms`.
     */
    convTargetSms: Type.Optional(Type.Array(Type.Integer({ minimum: 1 }), { minItems: 1 })),
    /**
     * eclip-rt's gate mechanism (src/plan/realtime.ts): `raise` — a real-time worker holds the gate shut while each of
     * its requests runs on the GPU; `wait` — a best-effort worker's graph waits, before each kernel in `atKernels`
     * (indices, each an op's first kernel), until no real-time request holds it.
     */
    gate: Type.Optional(
      Type.Object(
        {
          role: Type.Enum(['raise', 'wait']),
          atKernels: Type.Optional(Type.Array(Type.Integer({ minimum: 0 }), { uniqueItems: true })),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
)
export type PlanWorker = Type.Static<typeof PlanWorker>

/**
 * One run of a tuning, in the order it was made: what was measured and what its window gave against baseline's (the
 * ratios as the tuning ranked them; floors as it held them).
 */
export const TuningRun = Type.Object(
  {
    /**
     * seed: the baseline's placement, the homes, the simulator's best; search: a move tried; set: raised workers;
     * confirm: the choice the tuning would have made (Tuning.confirmed.incumbent) and the plans only the held floors
     * ruled out, measured again in Tuning.confirmed's longer windows (ratios against baseline co-location in the same
     * windows).
     */
    phase: Type.Enum(['seed', 'search', 'set', 'confirm']),
    /** The plan: "the baseline's placement", or its homes' SMs, overlap prices and SM-time price. */
    plan: Type.String({ minLength: 1 }),
    /** phase set: the workers raised. */
    raised: Type.Optional(Type.Array(Type.String())),
    stpVsBaseline: Type.Number(),
    /** The lowest worker's throughput ÷ its baseline's, and the highest p95 ÷ its baseline's (absent: none finite). */
    worstVsBaseline: Type.Number(),
    worstP95VsBaseline: Type.Optional(Type.Number()),
    /**
     * Each worker's throughput ÷ its baseline's, plan order (absent in trails recorded before it was): what the
     * simulator is checked against per worker on the plans the tuning measured (bench/tuning-trail-sim.ts).
     */
    workersVsBaseline: Type.Optional(Type.Array(Type.Number())),
    /** Every floor met on the window (as held), and the total's guard where the plan has one. */
    floorsMet: Type.Boolean(),
    /**
     * phase search: the search moved to it; phase seed: a seed of the second search, taken in place of the plan the
     * climb ended on; phase set: the set was taken; phase confirm: taken (the first, the incumbent's: it stood).
     */
    kept: Type.Optional(Type.Boolean()),
    /** The run the p95 hold took in place of the tuning's choice (Tuning.p95Replaced). */
    taken: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
)
export type TuningRun = Type.Static<typeof TuningRun>

/**
 * eclip-fit tuned on the backend that runs it (src/plan/tune.ts): where and how long its candidates were measured,
 * what the tuning cost, and what the chosen plan measured in its tuning window against baseline's (a noisy sample,
 * the best of several: the plan's own run is its number).
 */
export const Tuning = Type.Object(
  {
    backend: Type.Enum(['sim', 'gpu']),
    /** The GPU the backend ran (the simulator: the profiles' GPU). */
    gpu: Type.String({ minLength: 1 }),
    warmupS: Type.Number({ minimum: 0 }),
    windowS: Type.Number({ exclusiveMinimum: 0 }),
    /** The simulator's best distinct candidates measured (besides the baseline's placement and model-wise homes). */
    candidates: Type.Integer({ minimum: 1 }),
    /** Measurements the coordinate search continued with, at most. */
    budget: Type.Integer({ minimum: 0 }),
    /** STP ratio a move had to gain over the best measured plan to be kept. */
    margin: Type.Number({ minimum: 0 }),
    /** Added to every floor on the measured windows (to 1 at most). */
    floorMargin: Type.Optional(Type.Number({ minimum: 0 })),
    /** A second simulator's search ran with every floor this much lower, its best candidates measured too (0: none). */
    simFloorSlack: Type.Optional(Type.Number({ minimum: 0, exclusiveMaximum: 1 })),
    /** Runs on the backend, baseline co-location included. */
    evaluations: Type.Integer({ minimum: 1 }),
    /** Wall time of the tuning (the measured runs and the simulator's guidance between them), s. */
    seconds: Type.Number({ minimum: 0 }),
    /** Moves the measured coordinate search kept. */
    moves: Type.Integer({ minimum: 0 }),
    stpVsBaseline: Type.Number(),
    worstWorker: Type.String(),
    worstVsBaseline: Type.Number(),
    /** Every worker's floor met, and the guard on total requests/s where the plan has one (params.minTotalShare). */
    floorsMet: Type.Boolean(),
    /**
     * The baseline's placement (every kernel on the whole GPU) was taken: it measured best (with `confirmed`, in the
     * longer windows too), or (priorityPlan > 1) a set raised on it beat the chosen plan's, or (`p95Replaced`) the
     * p95 hold took its run, the choice's being past the cap.
     */
    fellBack: Type.Boolean(),
    /**
     * The tuning's choice (`incumbent`: the baseline's placement, or the plan it measured best; absent in plans
     * recorded before a plan could be: the baseline's placement) would have been taken while plans that beat it met
     * the floors as given: the best of them were measured again in windows this long, s, with the floors held
     * `floorMargin` higher there (src/plan/tune.ts, CONFIRM), in `runs` runs (baseline co-location and the incumbent
     * among them; counted in evaluations).
     */
    confirmed: Type.Optional(
      Type.Object(
        {
          windowS: Type.Number({ exclusiveMinimum: 0 }),
          floorMargin: Type.Number({ minimum: 0 }),
          runs: Type.Integer({ minimum: 1 }),
          incumbent: Type.Optional(Type.Enum(['baseline-placement', 'plan'])),
        },
        { additionalProperties: false },
      ),
    ),
    /**
     * --stream-priorities: the sets of raised workers measured, on every plan they were measured on (counted in
     * evaluations).
     */
    prioritySets: Type.Optional(Type.Integer({ minimum: 0 })),
    /**
     * --stream-priorities: the best measured plans the sets were measured on (--tune-priority-plans, fewer if fewer).
     */
    priorityPlans: Type.Optional(Type.Integer({ minimum: 1 })),
    /**
     * --stream-priorities: which of them was taken, by its rank unraised (1: the plan the tuning chose; where
     * p95Replaced: its place among every plan measured — the chosen plan, the others best first, then the plans
     * CONFIRM measured again).
     */
    priorityPlan: Type.Optional(Type.Integer({ minimum: 1 })),
    /** The worker whose p95 ÷ its p95 under baseline co-location the tuning window measured highest, and that ratio. */
    worstP95Worker: Type.Optional(Type.String()),
    worstP95VsBaseline: Type.Optional(Type.Number()),
    /**
     * The cap on p95 ÷ baseline's p95 the choice's window was held to, for every worker whose floor is at least the
     * default (the plan's maxP95, else HELD_P95_CAP: heldP95Cap, src/plan/priorities.ts).
     */
    p95Cap: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
    /**
     * The choice the cap replaced: its window put this worker's p95 past the cap (that ratio), at this STP ratio; the
     * best measured run within the cap was taken instead.
     */
    p95Replaced: Type.Optional(
      Type.Object(
        { worker: Type.String(), p95VsBaseline: Type.Number(), stpVsBaseline: Type.Number() },
        { additionalProperties: false },
      ),
    ),
    /** Every run on the backend but baseline co-location's, in order: why the tuning ended where it did. */
    runs: Type.Optional(Type.Array(TuningRun)),
  },
  { additionalProperties: false },
)
export type Tuning = Type.Static<typeof Tuning>

export const SolverInfo = Type.Object(
  {
    name: Type.Enum(['highs', 'dp', 'none']),
    /** heuristic: a local search's plan (eclip-fit), optimal for nothing it can prove. */
    status: Type.Enum(['optimal', 'time-limit', 'infeasible', 'not-needed', 'heuristic']),
    /**
     * Relative MIP gap of the returned plan; 0 when proven optimal. For a heuristic plan 1 − STP / STP bound (`stp`),
     * or 1 where no bound was reached.
     */
    gap: Type.Number({ minimum: 0 }),
    solveMs: Type.Number({ minimum: 0 }),
    objectiveUs: Type.Optional(Type.Number()),
    /**
     * System throughput (Σ rate / solo rate) the evaluator predicts for the plan and for baseline co-location (a tuned
     * plan: as its tuning measured them), and the STP bound of the mix's profiles (docs/design.md §6), where the
     * planner had an evaluator; `floored`: the same bound with every worker at its floor of its baseline rate at least
     * (null where the floors alone need more than the SMs; absent in plans made before it).
     */
    stp: Type.Optional(
      Type.Object(
        {
          value: Type.Number(),
          baseline: Type.Number(),
          bound: Type.Number(),
          floored: Type.Optional(Type.Union([Type.Number(), Type.Null()])),
        },
        { additionalProperties: false },
      ),
    ),
    /** eclip-fit tuned on a backend: where, at what cost, what it measured. */
    tuning: Type.Optional(Tuning),
    notes: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
)
export type SolverInfo = Type.Static<typeof SolverInfo>

export const Plan = Type.Object(
  {
    format: Type.Literal('eclip.plan/1'),
    policy: Policy,
    /** The GPU the plan was made for; plans made before the slice layout and driver were recorded lack them. */
    gpu: GpuIdentity,
    mix: Type.String({ minLength: 1 }),
    pool: Type.Object(
      { partitions: Type.Array(Partition, { minItems: 1 }) },
      { additionalProperties: false },
    ),
    workers: Type.Array(PlanWorker, { minItems: 1 }),
    /** kw-ioctl: the executor re-creates the partition at every switch instead of using the pool's. */
    repartitionAtSwitch: Type.Boolean(),
    params: Type.Object(
      {
        tolerance: Type.Number({ minimum: 0 }),
        switchMax: Type.Integer({ minimum: 0 }),
        modelWiseFactor: Type.Number({ minimum: 1 }),
        timeLimitS: Type.Number({ minimum: 0 }),
        mipGap: Type.Number({ minimum: 0 }),
        /** eclip-fit: the guard it was planned under, total requests/s ÷ baseline's (absent: none). */
        minTotalShare: Type.Optional(Type.Number({ minimum: 0, maximum: 2 })),
        /**
         * eclip-fit (and eclip-rt's best-effort plan): the p95 cap per worker it was planned under, × baseline's p95
         * (absent: none).
         */
        maxP95: Type.Optional(Type.Number({ minimum: 1 })),
        /**
         * eclip-fit (and eclip-rt's best-effort plan): what it maximised under the floors, when not STP (`requests`:
         * total requests/s).
         */
        objective: Type.Optional(Type.Enum(['stp', 'requests'])),
        /**
         * eclip-rt's gate mechanism: the policy its best-effort workers were planned by among themselves (absent:
         * they share the whole GPU).
         */
        rtBestEffort: Type.Optional(Type.String()),
      },
      { additionalProperties: true },
    ),
    solver: SolverInfo,
    createdAt: Type.String(),
  },
  { additionalProperties: false },
)
export type Plan = Type.Static<typeof Plan>

/**
 * What the plan's GPU identity says that cannot hold: its slices (where recorded) add up to its SM count, and every
 * slice but the one remainder has `sliceSize` SMs (as a GPU description's must, gpuConsistencyErrors).
 */
function gpuIdentityErrors(gpu: GpuIdentity): string[] {
  const errors: string[] = []
  if (!gpu.slices) return errors
  const total = gpu.slices.reduce((a, n) => a + n, 0)
  if (total !== gpu.smCount)
    errors.push(`/gpu/smCount: the slices add up to ${total} SMs, got ${gpu.smCount}`)
  const odd = gpu.slices.filter((n) => n !== gpu.sliceSize).length
  if (odd > 1)
    errors.push(
      `/gpu/slices: ${odd} slices differ from sliceSize (${gpu.sliceSize}); only the remainder slice may`,
    )
  return errors
}

/**
 * A partition's slices against the plan's GPU: slice ids of its layout, none twice, and `sms` their SMs' sum (what
 * the simulator runs the partition with; the GPU backend trusts `sms`). Plans that lack the layout: at most the
 * GPU's SMs, and no more slice ids than its size allows.
 */
function partitionErrors(gpu: GpuIdentity, p: Partition, at: string): string[] {
  const errors: string[] = []
  if (new Set(p.slices).size !== p.slices.length) errors.push(`${at}/slices: a slice listed twice`)
  // without the layout: at most one slice per sliceSize SMs, a remainder counted as one
  const count = gpu.slices?.length ?? Math.ceil(gpu.smCount / gpu.sliceSize)
  const missing = p.slices.filter((s) => s >= count)
  if (missing.length > 0)
    errors.push(
      gpu.slices
        ? `${at}/slices: no slice ${missing.join(', ')} on the GPU (slice ids 0..${count - 1})`
        : `${at}/slices: no slice ${missing.join(', ')} on a GPU of ${gpu.smCount} SMs in slices of ${gpu.sliceSize} (at most ${count} slices)`,
    )
  else if (gpu.slices) {
    const sms = p.slices.reduce((a, s) => a + (gpu.slices?.[s] ?? 0), 0)
    if (sms !== p.sms) errors.push(`${at}/sms: slices ${p.slices.join(', ')} hold ${sms} SMs, got ${p.sms}`)
  }
  if (p.sms > gpu.smCount) errors.push(`${at}/sms: ${p.sms} is more than the GPU's ${gpu.smCount} SMs`)
  return errors
}

/**
 * Cross-field rules of a plan, as the planner makes them (src/plan/assemble.ts) and executors read them: the GPU's
 * layout adds up; partitions are unions of its slices with their SMs, ids unique; worker names unique (results and
 * servers key workers by name); each worker's groups cover its kernels in order, on partitions of its own ladder
 * (`partitions`); `switches` is its group boundaries, groups − 1 (the simulator and the run records charge a switch at
 * every one); a waiting gate names kernels the worker has, a raising one none.
 */
export function planConsistencyErrors(plan: Plan): string[] {
  const errors = gpuIdentityErrors(plan.gpu)
  const ids = new Set<number>()
  plan.pool.partitions.forEach((p, pi) => {
    const at = `/pool/partitions/${pi}`
    if (ids.has(p.id)) errors.push(`${at}/id: partition ${p.id} listed twice`)
    ids.add(p.id)
    errors.push(...partitionErrors(plan.gpu, p, at))
  })
  const names = new Set<string>()
  plan.workers.forEach((w, wi) => {
    if (names.has(w.name)) errors.push(`/workers/${wi}/name: worker ${w.name} listed twice`)
    names.add(w.name)
    const own = new Set(w.partitions)
    let next = 0
    w.groups.forEach((g, gi) => {
      const at = `/workers/${wi}/groups/${gi}`
      if (g.first !== next) errors.push(`${at}/first: expected ${next}, got ${g.first}`)
      if (g.last < g.first) errors.push(`${at}/last: before first`)
      if (!ids.has(g.partition)) errors.push(`${at}/partition: no partition ${g.partition} in the pool`)
      else if (!own.has(g.partition))
        errors.push(
          `${at}/partition: partition ${g.partition} is not among the worker's partitions (${w.partitions.join(', ')})`,
        )
      next = g.last + 1
    })
    if (next !== w.kernels)
      errors.push(`/workers/${wi}/groups: cover ${next} kernels, the worker has ${w.kernels}`)
    if (w.switches !== w.groups.length - 1)
      errors.push(
        `/workers/${wi}/switches: ${w.groups.length} group(s) make ${w.groups.length - 1} switch(es), got ${w.switches}`,
      )
    for (const p of w.partitions)
      if (!ids.has(p)) errors.push(`/workers/${wi}/partitions: no partition ${p} in the pool`)
    if (own.size !== w.partitions.length) errors.push(`/workers/${wi}/partitions: a partition listed twice`)
    const at = w.gate?.atKernels
    if (w.gate?.role === 'wait' && !at?.length)
      errors.push(`/workers/${wi}/gate/atKernels: a waiting worker needs the kernels it waits before`)
    if (w.gate?.role === 'raise' && at !== undefined)
      errors.push(
        `/workers/${wi}/gate/atKernels: a raising worker takes no atKernels (it waits before no kernel)`,
      )
    const past = (at ?? []).filter((k) => k >= w.kernels)
    if (past.length)
      errors.push(`/workers/${wi}/gate/atKernels: ${past.join(', ')} past the worker's ${w.kernels} kernels`)
    if (w.convTargetSms && !w.gemmTarget)
      errors.push(`/workers/${wi}/convTargetSms: convolutions are picked per partition only with gemmTarget`)
  })
  return errors
}
