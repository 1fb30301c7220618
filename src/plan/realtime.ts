// Real-time workers beside best-effort ones (issue #20): what their SLOs and loads demand, checked for every policy
// before anything is planned or run, and eclip-rt's partitions.
//
// The checks (any policy, any mix with a real-time worker): a real-time worker whose SLO its profile says it cannot
// meet even alone on the whole GPU, and real-time demand — Σ over real-time workers of its request rate × its
// latency alone on the whole GPU (a closed loop: its busy share) — above one GPU, are refused with the worker and the
// shortfall named. An SLO ≤ 0 and an unknown priority name are refused by the mix file's schema (naming the field and
// the model), and again here for workers made in code (`checkInputs` in options.ts).
//
// eclip-rt (a policy of its own, so that every other policy plans as it always did) has three mechanisms (`mechanism`):
// - priority: every real-time worker on the whole GPU, its streams at high priority — the block
//   scheduler dispatches its kernels' thread blocks before any best-effort block waiting; running blocks are not
//   preempted — and the best-effort workers at normal priority on the whole GPU, or on all but the top `reserveSms`
//   (whole slices) kept free for the real-time work to start on at once. Nothing idles while no real-time request
//   is in flight.
// - gate (the default; docs/workloads.md): as priority (no reserve), and the best-effort workers stop while a real-time
//   request runs.
//   Each real-time request holds a word in device memory raised while it runs (an atomic add before its first kernel
//   and after its last, inside its graph); each best-effort graph waits on that word (a stream wait inside the graph)
//   before its first kernel and then every `gateUs` µs or so of its work, at op starts. What runs on the GPU when a
//   real-time request arrives finishes its current stretch of ≤ ~gateUs and then leaves the GPU to it: a preemption
//   at op boundaries made by the GPU itself, no host round trip. It costs the best-effort workers the real-time busy
//   time (they no longer overlap it) and each gate's wait. The only mechanism measured to keep real-time latency
//   within a few % of alone on DISB (results/h100/rt-gate).
// - partition: each real-time worker gets a dedicated partition — a run of regular slices nobody else uses — of the
//   fewest slices whose predicted latency is within its SLO and within `factor` × its latency alone on the whole GPU
//   (the near-solo target; model-wise's factor idea, default the same 1.1). The best-effort workers share everything
//   else (the remainder slice included), each as one group: inside that partition they run as baseline runs on the
//   whole GPU. When the near-solo targets do not all fit (leaving the best-effort workers at least one slice), the
//   real-time worker that loses least gives up a slice, down to what its SLO needs; what cannot meet the SLOs is
//   refused, by how many slices. Its SMs idle while its worker has no request.
//
// Predicted latency from a profile (no co-runner can touch a dedicated partition's SMs; memory bandwidth and L2 are
// shared all the same): the request latency S at the partition's size, plus the mean queueing wait of the worker's
// arrivals there — none for a closed loop or uniform arrivals below capacity, an M/D/1 queue's ρS / (2(1 − ρ)) for
// Poisson arrivals (and traces, whose gaps are not known in advance), unbounded at ρ = rate × S ≥ 1.
//
// Which mechanism keeps real-time latency nearest its solo latency at what cost in throughput is measured, not
// assumed: gpu/scripts/rt-probe.py runs both beside baseline and the other candidates (docs/workloads.md).
import { UserError } from '../formats/errors.ts'
import { type Gpu, regularSlices } from '../formats/gpu.ts'
import type { WorkerSpec } from '../formats/mix.ts'
import type { Partition, Plan, PlanWorker } from '../formats/plan.ts'
import type { Profile } from '../formats/profile.ts'
import { describeArrival, type Load, loadOf } from '../workload/arrivals.ts'
import { internPartition } from './pool.ts'

/** eclip-rt: a real-time worker's latency target over its latency alone on the whole GPU (as model-wise's factor). */
export const DEFAULT_RT_FACTOR = 1.1

/** eclip-rt's priority mechanism: SMs kept free of best-effort work. Chosen by measurement on an H100 among 0, 16 and
 *  32 (results/h100/rt-probe): the lowest real-time latency that kept overall throughput ≥ 0.9× baseline's. */
export const DEFAULT_RT_RESERVE_SMS = 16

/** How eclip-rt keeps real-time workers near their latency alone (the top of this file). */
export const RT_MECHANISMS = ['priority', 'partition', 'gate'] as const
export type RtMechanism = (typeof RT_MECHANISMS)[number]
export const DEFAULT_RT_MECHANISM: RtMechanism = 'gate'

/**
 * eclip-rt's gate mechanism: how its best-effort workers share the GPU while no real-time request holds the gate —
 * `eclip-fit`, planned among themselves (withBestEffortPlan), or `whole`, every one on the whole GPU as under baseline.
 */
export const RT_BEST_EFFORT = ['eclip-fit', 'whole'] as const
export type RtBestEffort = (typeof RT_BEST_EFFORT)[number]
export const DEFAULT_RT_BEST_EFFORT: RtBestEffort = 'eclip-fit'

/** eclip-rt's gate mechanism: a best-effort worker's gates about this many µs of its kernels (whole GPU) apart. Chosen
 *  by measurement on an H100 among gates at every op, every 4 and 16 graph nodes, and 10, 20 and 40 µs apart
 *  (results/h100/rt-gate). */
export const DEFAULT_RT_GATE_US = 40

/** The mechanism an eclip-rt plan uses: the one asked for, else the one whose own option was given (a reserve:
 *  priority; a factor: partition), else the default. */
export function rtMechanismOf(o: {
  mechanism?: RtMechanism
  reserveSms?: number
  factor?: number
}): RtMechanism {
  if (o.mechanism !== undefined) return o.mechanism
  if (o.reserveSms !== undefined) return 'priority'
  if (o.factor !== undefined) return 'partition'
  return DEFAULT_RT_MECHANISM
}

/** eclip-rt plans its best-effort workers among themselves by eclip-fit: its gate mechanism with `rtBestEffort`
 *  eclip-fit (the defaults). What the planner (withBestEffortPlan's caller) and --tune both go by. */
export function plansBestEffort(o: {
  rtMechanism?: RtMechanism
  rtReserveSms?: number
  rtFactor?: number
  rtBestEffort?: RtBestEffort
}): boolean {
  const mech = rtMechanismOf({ mechanism: o.rtMechanism, reserveSms: o.rtReserveSms, factor: o.rtFactor })
  return mech === 'gate' && (o.rtBestEffort ?? DEFAULT_RT_BEST_EFFORT) === 'eclip-fit'
}

export interface RtOptions {
  mechanism?: RtMechanism
  /** gate: µs of a best-effort worker's kernels between two of its gates (DEFAULT_RT_GATE_US) */
  gateUs?: number
  /** partition: the near-solo target, × latency alone (DEFAULT_RT_FACTOR) */
  factor?: number
  /** priority: SMs (whole slices, the top ones) no best-effort work runs on; default 0 */
  reserveSms?: number
}

const ms = (us: number) => `${(us / 1000).toFixed(us < 10_000 ? 3 : 1)} ms`

/** Mean latency (µs) of a worker whose request takes `serviceUs`, under `load`; Infinity past capacity. */
export function predictedLatencyUs(serviceUs: number, load: Load): number {
  if (load.closed) return serviceUs
  const rho = (load.rps * serviceUs) / 1e6
  if (rho >= 1) return Number.POSITIVE_INFINITY
  if (load.process === 'uniform') return serviceUs
  return serviceUs + (rho * serviceUs) / (2 * (1 - rho))
}

/**
 * The share of one GPU's time a worker keeps busy at `serviceUs` a request: its rate × that, or a closed loop's busy
 * share.
 */
export function demandOf(serviceUs: number, load: Load): number {
  return load.closed ? load.share : (load.rps * load.share * serviceUs) / 1e6
}

export const isRealtime = (w: WorkerSpec) => w.priority === 'realtime'

/**
 * The best-effort workers (indices) eclip-rt plans among themselves by eclip-fit: under plansBestEffort's mechanism,
 * beside a real-time worker, two or more of them; [] where it makes no such plan.
 */
export function bestEffortPlanned(
  workers: readonly WorkerSpec[],
  o: Parameters<typeof plansBestEffort>[0],
): number[] {
  if (!plansBestEffort(o) || !workers.some(isRealtime)) return []
  const be = workers.flatMap((w, i) => (isRealtime(w) ? [] : [i]))
  return be.length > 1 ? be : []
}

/** The profile's request latency on the whole GPU, µs. */
const fullUs = (p: Profile) => p.requestUs[p.requestUs.length - 1] as number

/**
 * Refuses real-time workers that cannot be served: real-time demand above the GPU, an SLO not met even alone on the
 * whole GPU. Nothing to do for a mix without real-time workers.
 */
export function checkRealtime(workers: readonly WorkerSpec[], profiles: readonly Profile[]): void {
  const rt = workers.flatMap((w, i) => (isRealtime(w) ? [i] : []))
  if (rt.length === 0) return
  const parts = rt.map((i) => {
    const w = workers[i] as WorkerSpec
    const p = profiles[i] as Profile
    const load = loadOf(w.arrival)
    const d = demandOf(fullUs(p), load)
    const how = load.closed
      ? `${describeArrival(w.arrival)}, busy ${(load.share * 100).toFixed(0)}% of the time`
      : `${load.rps} req/s${load.share < 1 ? ` while on (${(load.share * 100).toFixed(0)}% of the time)` : ''} × ${ms(fullUs(p))}`
    return { d, text: `${w.name} (${w.model}) ${how} = ${d.toFixed(2)}` }
  })
  const total = parts.reduce((a, x) => a + x.d, 0)
  if (total > 1 + 1e-9)
    throw new UserError(
      `real-time demand is ${total.toFixed(2)} GPUs ` +
        "(each real-time worker's rate × its latency alone on the whole GPU, from its profile), " +
        `${((total - 1) * 100).toFixed(0)}% more than the GPU: ${parts.map((x) => x.text).join('; ')}`,
    )
  for (const i of rt) {
    const w = workers[i] as WorkerSpec
    const p = profiles[i] as Profile
    const load = loadOf(w.arrival)
    const s = fullUs(p)
    const pred = predictedLatencyUs(s, load)
    const slo = (w.sloMs as number) * 1000
    if (pred === Number.POSITIVE_INFINITY)
      throw new UserError(
        `${w.name} (${w.model}): its SLO of ${w.sloMs} ms cannot be met even alone on the whole GPU: ` +
          `while busy its requests come at ${load.rps} req/s, more than the ${(1e6 / s).toFixed(1)} req/s ` +
          `it serves there (${ms(s)} a request, from its profile)`,
      )
    if (pred > slo)
      throw new UserError(
        `${w.name} (${w.model}): its SLO of ${w.sloMs} ms cannot be met even alone on the whole GPU: ` +
          `${ms(pred)} predicted from its profile ` +
          `(${ms(s)} a request${pred > s ? ` + ${ms(pred - s)} queueing at ${load.rps} req/s` : ''}), ` +
          `${ms(pred - slo)} (${(((pred - slo) / slo) * 100).toFixed(0)}%) over`,
      )
  }
}

export interface RtLayout {
  partitions: Partition[]
  /** Partition id per worker (plan order). */
  assigned: number[]
  /** Per worker (plan order), whether its streams run at high priority (the priority mechanism's real-time ones). */
  highPriority: boolean[]
  /** Per worker (plan order), its part in the gate mechanism; absent under the others. */
  gates?: (PlanGate | undefined)[]
  notes: string[]
}

export type PlanGate = NonNullable<PlanWorker['gate']>

/**
 * The index in `p.sizes` of the largest profiled size within `sms` (the smallest size's where `sms` is below it): a
 * partition that is not a profiled size (the remainder slice's) is timed there, an upper bound.
 */
export function sizeIndexWithin(p: Profile, sms: number): number {
  let at = 0
  p.sizes.forEach((s, i) => {
    if (s <= sms) at = i
  })
  return at
}

/**
 * Where a best-effort worker's graph waits on the gate: before its first kernel, then at the first op start at least
 * `gateUs` µs of kernel time after the last gate — each kernel timed by its profile on the SMs it runs on
 * (`smsOf(kernel)`; default the whole GPU), so that a worker on a small partition, whose kernels take longer, stops
 * as soon after a real-time request starts as one on the whole GPU. Kernel indices, ascending.
 */
export function gatePositions(p: Profile, gateUs: number, smsOf?: (kernel: number) => number): number[] {
  const whole = p.sizes.length - 1
  const starts = p.opStarts ? new Set(p.opStarts) : undefined
  const at = [0]
  let since = 0
  p.kernels.forEach((k, i) => {
    if (i > 0 && since >= gateUs && (!starts || starts.has(i))) {
      at.push(i)
      since = 0
    }
    since += k.timesUs[smsOf ? sizeIndexWithin(p, smsOf(i)) : whole] as number
  })
  return at
}

/**
 * eclip-rt's layout (see the top of this file) by its mechanism. Without real-time workers, or with one alone, every
 * worker is on the whole GPU at normal priority.
 */
export function rtLayout(
  gpu: Gpu,
  workers: readonly WorkerSpec[],
  profiles: readonly Profile[],
  o: RtOptions = {},
): RtLayout {
  const mechanism = rtMechanismOf(o)
  if (!(RT_MECHANISMS as readonly string[]).includes(mechanism))
    throw new UserError(`eclip-rt: unknown mechanism "${mechanism}" (known: ${RT_MECHANISMS.join(', ')})`)
  if (o.reserveSms !== undefined && mechanism !== 'priority')
    throw new UserError(
      mechanism === 'partition'
        ? `eclip-rt: reserved SMs (${o.reserveSms}) are the priority mechanism's; ` +
            'the partition mechanism gives each real-time worker its own partition'
        : `eclip-rt: reserved SMs (${o.reserveSms}) are the priority mechanism's; ` +
            'the gate mechanism keeps best-effort work off the whole GPU while a real-time request runs',
    )
  if (o.gateUs !== undefined && mechanism !== 'gate')
    throw new UserError(
      `eclip-rt: the gate spacing (${o.gateUs} µs) is the gate mechanism's, not the ${mechanism} one's`,
    )
  const gateUs = o.gateUs ?? DEFAULT_RT_GATE_US
  if (!(Number.isFinite(gateUs) && gateUs > 0))
    throw new UserError(`eclip-rt: the gate spacing must be a number of µs > 0, got ${gateUs}`)
  const reserveSms = mechanism === 'priority' ? (o.reserveSms ?? DEFAULT_RT_RESERVE_SMS) : 0
  if (!Number.isInteger(reserveSms) || reserveSms < 0 || reserveSms % gpu.sliceSize !== 0)
    throw new UserError(
      `eclip-rt: reserved SMs must be a whole number of the GPU's ${gpu.sliceSize}-SM slices ` +
        `(0, ${gpu.sliceSize}, ${2 * gpu.sliceSize}, …), got ${reserveSms}`,
    )
  const rt = workers.flatMap((w, i) => (isRealtime(w) ? [i] : []))
  const be = workers.flatMap((w, i) => (isRealtime(w) ? [] : [i]))
  if (rt.length === 0 || (rt.length === 1 && be.length === 0)) {
    const partitions: Partition[] = []
    const whole = internPartition(partitions, new Map(), gpu.slices)
    return {
      partitions,
      assigned: workers.map(() => whole),
      highPriority: workers.map(() => false),
      notes: [
        rt.length === 0
          ? 'no real-time workers: every worker on the whole GPU (the baseline placement)'
          : 'one real-time worker alone: the whole GPU',
      ],
    }
  }
  if (mechanism === 'gate') return gateLayout(gpu, workers, profiles, rt, be, gateUs)
  return mechanism === 'priority'
    ? priorityLayout(gpu, workers, rt, be, reserveSms)
    : partitionLayout(gpu, workers, profiles, rt, be, o.factor ?? DEFAULT_RT_FACTOR)
}

/**
 * The gate mechanism: the priority mechanism with no reserve, real-time workers raising the gate, the others waiting.
 */
function gateLayout(
  gpu: Gpu,
  workers: readonly WorkerSpec[],
  profiles: readonly Profile[],
  rt: number[],
  be: number[],
  gateUs: number,
): RtLayout {
  const layout = priorityLayout(gpu, workers, rt, be, 0)
  const gates = workers.map((w, i): PlanGate | undefined =>
    isRealtime(w)
      ? { role: 'raise' }
      : { role: 'wait', atKernels: gatePositions(profiles[i] as Profile, gateUs) },
  )
  if (be.length > 0) {
    layout.notes.push(
      'best-effort workers stop while a real-time request runs: ' +
        `their graphs wait on the real-time requests at op starts about ${gateUs} µs of work apart ` +
        `(${be.map((i) => `${(workers[i] as WorkerSpec).name} ${(gates[i]?.atKernels ?? []).length}`).join(', ')} gates a request)`,
    )
    // what the best-effort work gives up: the time real-time requests run (at most their summed demand; less where
    // they overlap each other)
    const busy = Math.min(
      1,
      rt.reduce(
        (a, i) => a + demandOf(fullUs(profiles[i] as Profile), loadOf((workers[i] as WorkerSpec).arrival)),
        0,
      ),
    )
    layout.notes.push(
      `the real-time workers keep the GPU busy up to ${(busy * 100).toFixed(1)}% of the time ` +
        '(rate × latency alone, from their profiles), which the best-effort work no longer shares: ' +
        'expect its throughput down by up to that share against the priority mechanism ' +
        '(--rt-mechanism priority), which lets it run beside them at the cost of real-time latency',
    )
  }
  return { ...layout, gates }
}

const BE_SHARED_NOTE = 'best-effort workers share the whole GPU at normal priority, each as one group'
/** A gate plan's note where its best-effort workers were to be planned but no evaluator was given (make-plan.ts). */
export const BE_UNPLANNED_NOTE =
  'best-effort workers share the whole GPU: planning them among themselves (eclip-fit) needs an evaluator, which this caller did not give'

/** The priority mechanism: real-time workers high on the whole GPU, best-effort ones normal on all but the reserve. */
function priorityLayout(
  gpu: Gpu,
  workers: readonly WorkerSpec[],
  rt: number[],
  be: number[],
  reserveSms: number,
): RtLayout {
  const reg = regularSlices(gpu)
  const n = reg.length
  const k = reserveSms / gpu.sliceSize
  if (be.length > 0 && k > n - 1)
    throw new UserError(
      `eclip-rt: reserving ${reserveSms} SMs leaves the best-effort workers no slice of their own: ` +
        `at most ${(n - 1) * gpu.sliceSize} of the GPU's ${gpu.smCount} SMs can be reserved`,
    )
  const partitions: Partition[] = []
  const byKey = new Map<string, number>()
  const whole = internPartition(partitions, byKey, gpu.slices)
  const rest = k > 0 ? [...reg.slice(0, n - k), ...gpu.slices.filter((s) => s.remainder)] : gpu.slices
  const beId = internPartition(partitions, byKey, rest)
  const assigned = workers.map((w) => (isRealtime(w) ? whole : beId))
  const notes = [
    `${rt.map((i) => (workers[i] as WorkerSpec).name).join(', ')} (realtime): the whole GPU, streams at high priority ` +
      '(their thread blocks are dispatched before best-effort ones; running blocks are not preempted)',
  ]
  if (be.length > 0)
    notes.push(
      k > 0
        ? `best-effort workers share ${partitions[beId]?.sms} SMs at normal priority, each as one group; ` +
            `the top ${reserveSms} SMs (slices ${reg[n - k]?.id}–${reg[n - 1]?.id}) run real-time work only`
        : BE_SHARED_NOTE,
    )
  else if (k > 0) notes.push(`no best-effort workers: nothing to keep off the ${reserveSms} reserved SMs`)
  return { partitions, assigned, highPriority: workers.map((w) => isRealtime(w)), notes }
}

/**
 * The partition mechanism: a dedicated run of regular slices per real-time worker from the high end, the rest shared.
 */
function partitionLayout(
  gpu: Gpu,
  workers: readonly WorkerSpec[],
  profiles: readonly Profile[],
  rt: number[],
  be: number[],
  factor: number,
): RtLayout {
  const reg = regularSlices(gpu)
  const n = reg.length
  const partitions: Partition[] = []
  const byKey = new Map<string, number>()
  const smsOf = (L: number) => reg.slice(0, L).reduce((a, s) => a + s.sms, 0)
  const WHOLE = n + 1
  const info = rt.map((i) => {
    const w = workers[i] as WorkerSpec
    const p = profiles[i] as Profile
    const load = loadOf(w.arrival)
    const at = (L: number) => {
      const k = p.sizes.indexOf(L === WHOLE ? gpu.smCount : smsOf(L))
      return k < 0 ? Number.POSITIVE_INFINITY : predictedLatencyUs(p.requestUs[k] as number, load)
    }
    const alone = at(WHOLE)
    const slo = (w.sloMs as number) * 1000
    const soft = Math.min(slo, factor * alone)
    const first = (limit: number) => {
      for (let L = 1; L <= n; L++) if (at(L) <= limit) return L
      return WHOLE
    }
    return { i, w, at, alone, slo, need: first(soft), hard: first(slo) }
  })
  const avail = n - (be.length > 0 ? 1 : 0)
  const len = info.map((x) => x.need)
  const sum = () => len.reduce((a, b) => a + b, 0)
  while (sum() > avail) {
    let best = -1
    let bestRatio = Number.POSITIVE_INFINITY
    info.forEach((x, j) => {
      const L = (len[j] as number) === WHOLE ? n : (len[j] as number) - 1
      if (L < 1 || L < x.hard) return
      const r = x.at(L) / x.alone
      if (r < bestRatio) {
        bestRatio = r
        best = j
      }
    })
    if (best < 0) break
    len[best] = (len[best] as number) === WHOLE ? n : (len[best] as number) - 1
  }
  const others =
    be.length > 0
      ? 'the best-effort workers would get no SMs of their own'
      : 'the other real-time workers would get none'
  const whole = info.find((x) => x.hard === WHOLE)
  if (whole)
    throw new UserError(
      `eclip-rt: ${whole.w.name} (${whole.w.model}) needs the whole GPU to meet its SLO of ${whole.w.sloMs} ms ` +
        `(${ms(whole.at(n))} predicted on ${smsOf(n)} SMs, ${ms(whole.alone)} on all ${gpu.smCount}), ` +
        `so ${others}: raise its SLO, or plan it with another policy`,
    )
  if (sum() > avail) {
    const hard = info.reduce((a, x) => a + x.hard, 0)
    const short = hard - avail
    throw new UserError(
      `eclip-rt: the real-time workers need ${hard} of the GPU's ${n} slices of ${gpu.sliceSize} SMs ` +
        `to meet their SLOs (${info.map((x) => `${x.w.name} (${x.w.model}) ${x.hard} for ${x.w.sloMs} ms`).join(', ')})` +
        `${be.length > 0 ? ', and the best-effort workers need at least one' : ''}: ` +
        `${short} slice(s) (${short * gpu.sliceSize} SMs) short`,
    )
  }
  const assigned = new Array<number>(workers.length).fill(-1)
  const notes: string[] = []
  let next = n
  info.forEach((x, j) => {
    const L = len[j] as number
    const slices = reg.slice(next - L, next)
    next -= L
    assigned[x.i] = internPartition(partitions, byKey, slices)
    const lat = x.at(L)
    notes.push(
      `${x.w.name} (realtime): ${smsOf(L)} SMs of its own ` +
        `(slices ${slices[0]?.id}–${slices[slices.length - 1]?.id}), ${ms(lat)} predicted, ` +
        `${(lat / x.alone).toFixed(2)}× its ${ms(x.alone)} alone on the whole GPU ` +
        `(SLO ${x.w.sloMs} ms${L < x.need ? `; its ${factor}× target did not fit beside the others` : ''})`,
    )
  })
  const rest = [...reg.slice(0, next), ...gpu.slices.filter((s) => s.remainder)]
  if (be.length > 0) {
    const id = internPartition(partitions, byKey, rest)
    for (const i of be) assigned[i] = id
    const sms = rest.reduce((a, s) => a + s.sms, 0)
    notes.push(`best-effort workers share the other ${sms} SMs (${rest.length} slice(s)), each as one group`)
  } else if (rest.length > 0)
    notes.push(
      `${rest.length} slice(s) (${rest.reduce((a, s) => a + s.sms, 0)} SMs) unused: no best-effort workers`,
    )
  return { partitions, assigned, highPriority: workers.map(() => false), notes }
}

/**
 * The gate mechanism with its best-effort workers planned: `plan` (eclip-rt, gates) with each best-effort worker's
 * partitions and groups taken from `be`, a plan of the best-effort workers alone (eclip-fit: they keep their floors
 * against each other, and run their plan whenever no real-time request holds the gate). Real-time workers keep the
 * whole GPU and their raise; best-effort workers wait at op starts about `gateUs` µs of their kernels apart, timed on
 * the partitions they now run on (gatePositions). The pool is the union of both plans' partitions. Refuses a `be`
 * that is not a plan of exactly the best-effort workers, in order.
 */
export function withBestEffortPlan(
  gpu: Gpu,
  plan: Plan,
  be: Plan,
  profiles: readonly Profile[],
  gateUs: number = DEFAULT_RT_GATE_US,
  ungatedSms = 0,
): Plan {
  if (profiles.length !== plan.workers.length)
    throw new UserError(`eclip-rt: ${plan.workers.length} workers but ${profiles.length} profiles`)
  const beWorkers = plan.workers.filter((w) => w.gate?.role === 'wait')
  const same =
    be.workers.length === beWorkers.length &&
    be.workers.every((w, i) => {
      const o = beWorkers[i] as PlanWorker
      return w.name === o.name && w.fingerprint === o.fingerprint && w.kernels === o.kernels
    })
  if (!same)
    throw new UserError(
      `eclip-rt: the best-effort plan (${be.workers.map((w) => w.name).join(', ')}) ` +
        `is not one of this mix's best-effort workers (${beWorkers.map((w) => w.name).join(', ')})`,
    )
  if (be.gpu.name !== plan.gpu.name || be.gpu.smCount !== plan.gpu.smCount)
    throw new UserError(`eclip-rt: the best-effort plan was made for ${be.gpu.name}, not ${plan.gpu.name}`)
  // the union pool, interned by slices as the planner's pools are
  const partitions = plan.pool.partitions.map((p) => ({ ...p, slices: [...p.slices] }))
  const byKey = new Map(partitions.map((p) => [p.slices.join(','), p.id]))
  const sliceOf = new Map(gpu.slices.map((s) => [s.id, s]))
  const idOf = new Map(
    be.pool.partitions.map((p) => [
      p.id,
      internPartition(
        partitions,
        byKey,
        p.slices.map((id) => sliceOf.get(id) as { id: number; sms: number }),
      ),
    ]),
  )
  const mapped = (id: number) => idOf.get(id) as number
  const byName = new Map(be.workers.map((w) => [w.name, w]))
  const smsOfPartition = new Map(partitions.map((p) => [p.id, p.sms]))
  const workers = plan.workers.map((w, i): PlanWorker => {
    const b = w.gate?.role === 'wait' ? byName.get(w.name) : undefined
    if (!b) return w
    const groups = b.groups.map((g) => ({ ...g, partition: mapped(g.partition) }))
    // the gates spaced by the kernels' times on the partitions they now run on
    const smsOf = (k: number) =>
      smsOfPartition.get((groups.find((g) => g.first <= k && k <= g.last) ?? groups[0])?.partition ?? 0) ??
      plan.gpu.smCount
    // a worker kept on small partitions runs beside the real-time requests, ungated (rtUngatedSms)
    const ungated =
      ungatedSms > 0 && groups.every((g) => (smsOfPartition.get(g.partition) ?? 0) <= ungatedSms)
    const { gate: _gate, ...rest } = w
    return {
      ...rest,
      ...(ungated
        ? {}
        : {
            gate: { role: 'wait' as const, atKernels: gatePositions(profiles[i] as Profile, gateUs, smsOf) },
          }),
      partitions: b.partitions.map(mapped),
      groups,
      switches: b.switches,
      soloUs: b.soloUs,
      predictedUs: b.predictedUs,
      meanSms: b.meanSms,
      alpha: b.alpha,
      ...(b.gemmTarget ? { gemmTarget: true as const } : {}),
      ...(b.gemmTarget && b.gemmTargetOffSms ? { gemmTargetOffSms: b.gemmTargetOffSms } : {}),
      ...(b.gemmTarget && b.convTargetSms ? { convTargetSms: b.convTargetSms } : {}),
    }
  })
  const stp = be.solver.stp
  const source = be.solver.tuning
    ? `measured in tuning on the ${be.solver.tuning.backend} backend`
    : 'predicted'
  const vsWhole = stp
    ? `; STP ${(stp.value / stp.baseline).toFixed(3)}× theirs on the whole GPU, ${source}`
    : ''
  const how =
    be.policy === 'eclip-fit'
      ? ` (${be.params.objective === 'requests' ? 'total requests/s' : 'STP'} under their floors${be.params.maxP95 !== undefined ? ` and every p95 ≤ ${be.params.maxP95}× baseline's` : ''}${vsWhole})`
      : ''
  const gates = workers.flatMap((w) =>
    w.gate?.role === 'wait' ? [`${w.name} ${(w.gate.atKernels ?? []).length}`] : [],
  )
  const free = workers.flatMap((w, i) =>
    plan.workers[i]?.gate?.role === 'wait' && !w.gate ? [`${w.name} (${w.meanSms.toFixed(0)} SMs)`] : [],
  )
  const note =
    `best-effort workers planned by ${be.policy} among themselves${how}, under their gates, ` +
    `about ${gateUs} µs of work on their partitions apart ` +
    `(${gates.length > 0 ? `${gates.join(', ')} gates a request` : 'none gated'})` +
    `${free.length > 0 ? `; ungated, on at most ${ungatedSms} SMs, beside the real-time requests: ${free.join(', ')}` : ''}`
  const kept = (plan.solver.notes ?? '')
    .split('; ')
    .filter((n) => n !== BE_SHARED_NOTE && n !== BE_UNPLANNED_NOTE)
  const notes = [...kept, note].filter((x) => x).join('; ')
  return {
    ...plan,
    pool: { partitions },
    workers,
    params: {
      ...plan.params,
      rtBestEffort: be.policy,
      ...(ungatedSms > 0 ? { rtUngatedSms: ungatedSms } : {}),
      ...(be.params.objective ? { objective: be.params.objective } : {}),
      ...(be.params.maxP95 !== undefined ? { maxP95: be.params.maxP95 } : {}),
    },
    // a best-effort plan tuned on a backend: its tuning is this plan's (the bench records it with every run)
    solver: { ...plan.solver, notes, ...(be.solver.tuning ? { tuning: be.solver.tuning } : {}) },
  }
}
