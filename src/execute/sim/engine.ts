// The discrete-event simulator: workers co-located on one GPU, each replaying its kernels in order on the partitions
// its plan assigns, sharing slices as src/execute/sim/contention.ts describes.
//
// Time is in µs. Between events every running kernel progresses at a constant rate (fraction of the kernel per µs);
// at every kernel start or end the rates of all running kernels are recomputed (at most one kernel per worker runs at
// a time: a worker's kernels are a chain). Timed events (a kernel becoming ready, a request arriving) sit in a binary
// heap ordered by (time, insertion order); kernel completions are found by scanning the few running kernels.
//
// Costs, per request of a worker:
// - host side: the worker's host thread launches its graphs back to back, asynchronously: one graph launch per group
//   in stream mode (kw-ioctl also creates a partition, `partitionCreate`, before every group but the first), one per
//   request in graph mode and for single-group plans (baseline, model-wise). A group cannot start before its launch.
// - GPU side: between two kernels of a request the GPU idles `gap` µs (the part of the profiled request latency the
//   kernel times do not explain, spread evenly over its kernels); a switch adds `switchEventWait` in stream mode and
//   a graph edge between partitions in graph mode: the calibration's `switchGraphEdgeUs` where it has one (fitted to
//   whole requests), else the primitives file's `switchGraphEdge` (a micro-benchmark), else 0.
// - MPS policies: each worker's request (its launch, kernels and gaps) runs 1 ÷ its client's measured rate as long
//   (the calibration's MPS client rate, src/execute/sim/mps.ts).
// Arrivals (src/workload/arrivals.ts gives each worker's schedule): closed loop — a worker issues its next request
// when the previous one ends, inside each of its busy periods (the paper's closed loop: one period, the whole run);
// open loop — requests arrive at the schedule's times (Poisson, uniform, on/off, a trace), queued FIFO, one request
// in flight per worker; latency counts from arrival.
// Stream priorities (plan worker `streamPriority: high`, eclip-rt's priority mechanism): a high-priority worker's
// running kernel is served before every normal one when SMs are divided (contention.ts), as the block scheduler
// dispatches a high-priority stream's waiting blocks first; the memory-interference term applies to it all the same.
// The scheduler preempts no running block, so for the calibration's `priorityDrainUs` after it starts a high-priority
// kernel takes its place in start order, as a normal one would (what is free: reserved SMs, idle ones), and only then
// moves ahead of the normal kernels. An open-loop request that arrives at an idle worker is issued
// `openLoopIssueUs` later on average (the host thread's wake-up; with `openLoopIssueJitterUs` part of it an
// exponential draw from the worker's own seeded stream); one queued behind another is issued at its end.
// Gates (plan worker `gate`, eclip-rt's gate mechanism): a `raise` worker's request holds the gate from its first
// kernel's start to its last one's end; a `wait` worker reaching a kernel of its `atKernels` while any such request
// runs parks there until none does, and passing a gate costs it the calibration's `gateWaitUs`.

import { type Plan, type PlanWorker, type Profile, planKey } from '../../formats/index.ts'
import { exponential, mulberry32 as rng, stringSeeded } from '../../random.ts'
import { runSchedules } from '../../workload/arrivals.ts'
import type { RunResult, RunSpec } from '../backend.ts'
import {
  CALIBRATION,
  type Calibration,
  graphEdgeUs,
  interferenceShare,
  profileKey,
  SliceSharing,
} from './contention.ts'
import { EventHeap } from './heap.ts'
import { liveLayout } from './live.ts'
import { mpsView } from './mps.ts'
import { energyJ as energyOf, requestWorkSmUs } from './power.ts'

const KERNEL_READY = 0
const ARRIVAL = 1
/** eclip-live: a worker's hold time after its last request has run out (ignored if it has had another since). */
const HOLD_END = 2
/** A high-priority kernel's drain has ended: it moves ahead of the normal kernels. */
const DRAIN_END = 3
const KINDS = 4

/** A worker's kernels, flattened for the hot loop. */
interface WorkerTables {
  n: number
  sizes: Float64Array
  /** rate (kernels per µs) at each profiled size: rates[k * sizes.length + i] */
  rates: Float64Array
  /** partition index (into the pool) of each kernel */
  part: Int32Array
  /** demand in SMs, ≤ the kernel's partition SMs */
  demand: Float64Array
  /** uncontended rate on the kernel's own partition */
  ownRate: Float64Array
  /** share of an SM's thread slots the kernel's blocks take at its demand (1: the SMs are its alone) */
  occ: Float64Array
  /**
   * SMs (in SM-equivalents of their resources) the kernel takes of its partition's free SMs under fifo sharing: its
   * demand × occ, or with a footprint constant what its resident blocks fill (contention.ts)
   */
  take: Float64Array
  /** group index of each kernel */
  group: Int32Array
  groups: number
  gapUs: number
}

export interface SimOptions {
  calibration?: Calibration
  /**
   * Called as each kernel ends, for per-kernel diagnostics: worker index, kernel index, when it was ready (launched
   * and its predecessor done), when it first got SMs (a GPU trace's start: its first block), and its end (µs).
   */
  kernelTrace?: (w: number, k: number, readyUs: number, beganUs: number, endUs: number) => void
}

export interface SimStats {
  kernels: number
  events: number
}

/**
 * The SMs a kernel's resident blocks fill, in SM-equivalents: blocks × threads per block × ρ ÷ an SM's thread slots
 * (ρ, the calibration's footprint: registers and shared memory hold more of an SM than threads say).
 */
function footprintSms(k: Pick<Profile['kernels'][number], 'grid' | 'block'>, rho: number): number {
  const blocks = k.grid[0] * k.grid[1] * k.grid[2]
  const threads = k.block[0] * k.block[1] * k.block[2]
  return (rho * blocks * threads) / SM_THREADS
}

/** A kernel's demand: the fewest profiled SMs (`sizes`) at which it takes ≤ (1 + tolerance) × its full-GPU time. */
function demandSms(timesUs: ArrayLike<number>, sizes: ArrayLike<number>, tolerance: number): number {
  const S = sizes.length
  const full = timesUs[S - 1] as number
  for (let i = 0; i < S; i++) if ((timesUs[i] as number) <= full * (1 + tolerance)) return sizes[i] as number
  return sizes[S - 1] as number
}

/** Thread slots per SM (compute capability 8.0–9.0). */
const SM_THREADS = 2048
/** Shared memory per SM, bytes (compute capability 9.0: 228 KB). */
const SM_SMEM = 228 * 1024
/** Resident blocks per SM (compute capability 8.0–9.0). */
const SM_BLOCKS = 32

/**
 * 'coresident' sharing: the share of an SM's resources a kernel's blocks hold spread over `d` SMs — the most binding
 * of thread slots × ρ (for what profiles do not record: registers hold more than threads say, blocks that retire
 * unevenly less on average), dynamic shared memory and block slots — at most 1 (its SMs are its alone).
 */
function occupancy(
  k: Pick<Profile['kernels'][number], 'grid' | 'block' | 'sharedMemBytes'>,
  d: number,
  rho: number,
): number {
  const perSm = Math.ceil((k.grid[0] * k.grid[1] * k.grid[2]) / Math.max(1, d))
  const threads = k.block[0] * k.block[1] * k.block[2]
  const share = Math.max((rho * threads) / SM_THREADS, k.sharedMemBytes / SM_SMEM, 1 / SM_BLOCKS)
  return Math.min(1, perSm * share)
}

/** Rate of kernel k at x effective SMs: linear in rate between profiled sizes, ∝ SMs below the smallest. */
function rateAt(t: WorkerTables, k: number, x: number): number {
  const S = t.sizes.length
  const base = k * S
  const s0 = t.sizes[0] as number
  if (x <= s0) return ((t.rates[base] as number) * x) / s0
  for (let i = 1; i < S; i++) {
    const si = t.sizes[i] as number
    if (x <= si) {
      const sp = t.sizes[i - 1] as number
      const rp = t.rates[base + i - 1] as number
      const ri = t.rates[base + i] as number
      return rp + ((ri - rp) * (x - sp)) / (si - sp)
    }
  }
  return t.rates[base + S - 1] as number
}

/** A 0-µs kernel would divide by zero; 1 ns is below anything a profiler reports. */
const MIN_KERNEL_US = 1e-3

/**
 * Per profiled size, the factor the simulator scales a profile's kernel times by: it runs a request's kernels one
 * after another, so where they add up to more than the measured request latency at a size (kernels overlapping inside
 * the graph, or profiler overhead) they are scaled down there so that a solo request takes the measured latency; 1
 * elsewhere.
 */
export function latencyScale(prof: Pick<Profile, 'kernels' | 'requestUs' | 'sizes'>): Float64Array {
  const scale = new Float64Array(prof.sizes.length).fill(1)
  for (let i = 0; i < scale.length; i++) {
    let sum = 0
    for (const k of prof.kernels) sum += Math.max(k.timesUs[i] as number, MIN_KERNEL_US)
    const req = prof.requestUs[i] ?? 0
    if (req > 0 && sum > req) scale[i] = req / sum
  }
  return scale
}

function tables(
  runKey: string,
  pw: PlanWorker | undefined,
  prof: Profile | undefined,
  partSms: number[],
  partIndex: Map<number, number>,
  cal: Calibration,
  notes: string[],
  /** an MPS client's rate ÷ its rate in one process: its kernels and the gaps between them run 1 ÷ this as long */
  clientRate = 1,
) {
  if (!pw || !prof) throw new Error(`run ${runKey}: no plan worker or profile`)
  if (pw.fingerprint !== prof.fingerprint)
    throw new Error(
      `run ${runKey}: worker ${pw.name}: the plan was made for another kernel sequence (fingerprint)`,
    )
  const n = prof.kernels.length
  if (pw.kernels !== n)
    throw new Error(`run ${runKey}: worker ${pw.name}: plan has ${pw.kernels} kernels, profile ${n}`)
  const S = prof.sizes.length
  const sizes = Float64Array.from(prof.sizes)
  const rates = new Float64Array(n * S)
  const part = new Int32Array(n)
  const demand = new Float64Array(n)
  const ownRate = new Float64Array(n)
  const group = new Int32Array(n)
  const occ = new Float64Array(n).fill(1)
  const take = new Float64Array(n)
  let fullSum = 0
  pw.groups.forEach((g, gi) => {
    const p = partIndex.get(g.partition)
    if (p === undefined) throw new Error(`run ${runKey}: no partition ${g.partition} in the pool`)
    for (let k = g.first; k <= g.last; k++) {
      part[k] = p
      group[k] = gi
    }
  })
  const t: WorkerTables = {
    n,
    sizes,
    rates,
    part,
    demand,
    ownRate,
    occ,
    take,
    group,
    groups: pw.groups.length,
    gapUs: 0,
  }
  const scale = latencyScale(prof)
  const minScale = Math.min(...scale)
  if (minScale < 1 && !notes.some((x) => x.startsWith(`${pw.name}: kernel times add up`)))
    notes.push(
      `${pw.name}: kernel times add up to more than the measured request; scaled by ${minScale.toFixed(2)}–${Math.max(...scale).toFixed(2)} per size to match it`,
    )
  const times = new Float64Array(S)
  for (let k = 0; k < n; k++) {
    const raw = (prof.kernels[k] as { timesUs: number[] }).timesUs
    for (let i = 0; i < S; i++) {
      times[i] = (Math.max(raw[i] as number, MIN_KERNEL_US) * (scale[i] as number)) / clientRate
      rates[k * S + i] = 1 / (times[i] as number)
    }
    fullSum += times[S - 1] as number
    const d = demandSms(times, sizes, cal.saturationTolerance)
    const own = partSms[part[k] as number] as number
    demand[k] = Math.min(d, own)
    ownRate[k] = rateAt(t, k, own)
    const rho = cal.residency
    if (cal.sharing === 'coresident')
      occ[k] = occupancy(prof.kernels[k] as Profile['kernels'][number], demand[k] as number, rho ?? 1)
    else if (rho) {
      const kk = prof.kernels[k] as Profile['kernels'][number]
      const blocks = kk.grid[0] * kk.grid[1] * kk.grid[2]
      const threads = kk.block[0] * kk.block[1] * kk.block[2]
      occ[k] = Math.min(1, (rho * Math.ceil(blocks / (demand[k] as number)) * threads) / SM_THREADS)
    }
    take[k] = (demand[k] as number) * (occ[k] as number)
    if (cal.footprint)
      take[k] = Math.max(
        take[k] as number,
        Math.min(own, footprintSms(prof.kernels[k] as Profile['kernels'][number], cal.footprint)),
      )
  }
  const measured = prof.requestUs[S - 1]
  const reqFull = measured !== undefined ? measured / clientRate : fullSum
  t.gapUs = Math.max(0, reqFull - fullSum) / n
  return t
}

/** Runs one RunSpec; returns raw observations (src/measure turns them into metrics). */
export function simulate(spec: RunSpec, opts: SimOptions = {}): RunResult & { stats: SimStats } {
  const wall0 = performance.now()
  const cal = opts.calibration ?? CALIBRATION
  const W = spec.plan.workers.length
  const sliceSms = spec.gpu.slices.map((s) => s.sms)
  // eclip-live: the table's plans on one pool (their union); each request takes its worker's tables under the plan
  // of the set active when it starts (src/execute/sim/live.ts)
  const live = spec.live ? liveLayout(spec.key, spec.live, spec.workers, spec.profiles) : undefined
  const pool = live ? live.pool : spec.plan.pool.partitions
  const partIndex = new Map(pool.map((p, i) => [p.id, i]))
  // MPS policies: SM caps without slice pinning (src/execute/sim/mps.ts)
  const mps = live ? undefined : mpsView(spec.plan, sliceSms, cal.mpsClientRate)
  const partMask = mps?.mask ?? pool.map((p) => p.slices.reduce((m, s) => m | (1 << s), 0))
  const partSms = mps?.sms ?? pool.map((p) => p.slices.reduce((a, s) => a + (sliceSms[s] ?? 0), 0))
  const notes: string[] = mps ? [mps.note] : []
  const T = spec.plan.workers.map((pw, w) =>
    live
      ? (undefined as unknown as WorkerTables)
      : tables(spec.key, pw, spec.profiles[w], partSms, partIndex, cal, notes, mps?.clientRate[w]),
  )
  // eclip-live: per worker, its tables under each plan that lists it (made on first use); the plan key of each
  // request in flight and of each completed one
  const liveTables: Map<string, WorkerTables>[] = spec.plan.workers.map(() => new Map())
  const livePlanOf = (w: number, key: string, plan: Plan): WorkerTables => {
    const lt = liveTables[w] as Map<string, WorkerTables>
    let t = lt.get(key)
    if (!t) {
      const L = live as NonNullable<typeof live>
      const pi = (L.workerIndex.get(key) as number[])[w] as number
      t = tables(
        spec.key,
        plan.workers[pi],
        spec.profiles[w],
        partSms,
        L.partIndex.get(key) as Map<number, number>,
        cal,
        notes,
      )
      lt.set(key, t)
    }
    return t
  }
  const setName = (mk: number) => planKey(spec.workers.filter((_, i) => (mk >> i) & 1).map((x) => x.name))
  const liveKeys: string[] = []
  const liveKeyIndex = new Map<string, number>()
  const reqPlan = new Int32Array(W).fill(-1)
  const requestPlans: number[][] = spec.plan.workers.map(() => [])
  const holdUs = spec.live?.holdUs ?? 0
  const active = new Uint8Array(W)
  const lastEnd = new Float64Array(W).fill(Number.NEGATIVE_INFINITY)
  let activeMask = 0
  let setMask = -1 // the active set since the last time step (-1: none yet)
  const setTimeUs = new Map<number, number>()
  const setFirstUs = new Map<number, number>()
  let setSwitches = 0
  let setSwitchesTotal = 0
  const fallbacks: Record<string, string> = {}
  // eclip.power/2 charges each request completed in the window its work (src/execute/sim/power.ts)
  const power = spec.power
  const workPerRequest = spec.profiles.map((p) =>
    power.format === 'eclip.power/2' ? requestWorkSmUs(p, power.workTolerance) : 0,
  )
  let workSmUs = 0

  const prim = spec.primitives
  const launchUs = prim.graphLaunch.medianUs
  // an MPS worker's graph launches slow with the rest of its request (its client's measured rate,
  // src/execute/sim/mps.ts)
  const launchOf = mps ? mps.clientRate.map((r) => launchUs / r) : spec.plan.workers.map(() => launchUs)
  const createUs = prim.partitionCreate.medianUs
  // graph mode: one launch per request; single-group plans launch one graph either way
  const stream = spec.mode !== 'graph'
  // stream mode: event record + wait; graph mode: a graph edge between partitions (the calibration's, else measured,
  // else free)
  const switchUs = stream ? prim.switchEventWait.medianUs : graphEdgeUs(prim, cal)
  const ioctl = spec.plan.repartitionAtSwitch

  const warmUs = spec.warmupS * 1e6
  const endUs = warmUs + spec.windowS * 1e6
  const u = rng(spec.seed)
  const heap = new EventHeap()
  const sharing = new SliceSharing(sliceSms, W, cal.sharing)

  // per-worker state
  const kNext = new Int32Array(W) // index of the kernel running or next to run
  const hostT = new Float64Array(W) // the host thread's clock for the current request
  const hostGroup = new Int32Array(W) // last group the host has launched, -1 before the first
  const reqStart = new Float64Array(W)
  const reqArrival = new Float64Array(W)
  const busyW = new Uint8Array(W) // a request in flight
  const queues: number[][] = Array.from({ length: W }, () => [])
  const qHead = new Int32Array(W)
  const out = Array.from({ length: W }, () => ({
    arrivalUs: [] as number[],
    startUs: [] as number[],
    endUs: [] as number[],
  }))
  // running kernels (one per worker at most): the high-priority kernels past their drain first (nHigh of them), each
  // part in start order
  const running = new Int32Array(W)
  let m = 0
  let nHigh = 0
  const high = Uint8Array.from(spec.plan.workers, (pw) => (pw.streamPriority === 'high' ? 1 : 0))
  const drainUs = cal.realtime?.priorityDrainUs ?? 0
  const issueUs = cal.realtime?.openLoopIssueUs ?? 0
  // the issue delay: a fixed part and an exponential one of mean `jitter` (mean issueUs in all), each worker's draws
  // from a stream of its own (named by the run's seed and the worker) so other workers' requests do not shift them
  const jitterUs = Math.min(cal.realtime?.openLoopIssueJitterUs ?? 0, issueUs)
  const issueRng = jitterUs > 0 ? spec.workers.map((w) => stringSeeded(`${spec.seed}|${w.name}|issue`)) : []
  const issueDelay = (w: number) =>
    jitterUs > 0 ? issueUs - jitterUs + exponential(issueRng[w] as () => number, jitterUs) : issueUs
  // per worker: its running kernel is among the first nHigh; when its drain ends (-1: none pending)
  const ahead = new Uint8Array(W)
  const drainEnd = new Float64Array(W).fill(-1)
  // gates: per worker 1 raise, 2 wait (0 none; eclip-live's tables carry none), the waiters' gated kernels, the
  // requests holding the gate now, and the waiters parked at a gate with the time their kernel was ready
  const gateRole = Uint8Array.from(spec.plan.workers, (pw) =>
    live || !pw.gate ? 0 : pw.gate.role === 'raise' ? 1 : 2,
  )
  const gatedAt = spec.plan.workers.map((pw, w) => {
    const at = new Uint8Array(gateRole[w] === 2 ? (T[w] as WorkerTables).n : 0)
    for (const k of pw.gate?.atKernels ?? []) if (k < at.length) at[k] = 1
    return at
  })
  const gateWaitUs = cal.realtime?.gateWaitUs ?? 0
  let raised = 0
  const parked: number[] = []
  const parkedReady = new Float64Array(W)
  const mask = new Int32Array(W)
  const pSms = new Float64Array(W)
  const dem = new Float64Array(W)
  const occW = new Float64Array(W).fill(1)
  const takeW = new Float64Array(W)
  const x = new Float64Array(W)
  const load = new Float64Array(W)
  const rate = new Float64Array(W)
  const remaining = new Float64Array(W)
  // opts.kernelTrace: when each worker's running kernel was ready, and when it first ran (NaN: not yet)
  const kStartUs = new Float64Array(W)
  const kBeganUs = new Float64Array(W)
  const kernelTrace = opts.kernelTrace
  const doneAt = new Float64Array(W)
  const busy = new Float64Array(W)
  let busyNow = 0
  let lastT = 0
  let smBusyUs = 0
  let kernels = 0
  let events = 0
  const schedules = runSchedules(spec.loop, spec.workers, spec.seed, endUs)
  if (schedules.length !== W)
    throw new Error(`run ${spec.key}: ${spec.workers.length} workers for a plan of ${W}`)
  const open = schedules.map((s) => s.kind === 'open')
  // open loop: each worker's arrival times and the next one to come; closed: its busy periods [start, end, …] and
  // the one that started last
  const times = schedules.map((s) => (s.kind === 'open' ? s.arrivalsUs : s.periodsUs))
  const nextTime = new Int32Array(W)
  const period = new Int32Array(W).fill(-1)

  const advance = (t: number) => {
    const dt = t - lastT
    if (dt <= 0) return
    if (live) {
      // the active set of (lastT, t): changes at one instant that cancel out (a closed loop's next request) are none
      if (activeMask !== setMask) {
        if (setMask >= 0) {
          setSwitchesTotal++
          if (lastT >= warmUs && lastT < endUs) setSwitches++
        }
        setMask = activeMask
        if (!setFirstUs.has(setMask)) setFirstUs.set(setMask, lastT)
      }
      const a = Math.max(lastT, warmUs)
      const b = Math.min(t, endUs)
      if (b > a) setTimeUs.set(setMask, (setTimeUs.get(setMask) ?? 0) + (b - a))
    }
    for (let i = 0; i < m; i++) {
      const w = running[i] as number
      remaining[w] = (remaining[w] as number) - (rate[w] as number) * dt
      if (kernelTrace && dt > 0 && (rate[w] as number) > 0 && Number.isNaN(kBeganUs[w] as number))
        kBeganUs[w] = lastT
    }
    const a = Math.max(lastT, warmUs)
    const b = Math.min(t, endUs)
    if (b > a) smBusyUs += busyNow * (b - a)
    lastT = t
  }

  // memory/L2 interference per worker: its profile's own γ where the calibration has one
  const gamma = Float64Array.from(
    spec.workers,
    (w) => cal.profileInterference?.[profileKey(w)] ?? cal.memoryInterference,
  )
  const anyGamma = gamma.some((g) => g > 0)
  // the γ term's shape in the others' load and count (absent: linear in their capped SMs, today's term)
  const loadShape = cal.interferenceLoad
  // each worker's busy SMs count × its profile's aggressor weight in the others' γ terms (absent: 1, today's term)
  const aggressor = cal.aggressorWeight
    ? Float64Array.from(spec.workers, (w) => cal.aggressorWeight?.[profileKey(w)] ?? 1)
    : undefined
  // 'coresident': each worker's κ, its profile's own where the calibration has one
  const coresident = cal.sharing === 'coresident'
  const kappa = Float64Array.from(spec.workers, (w) =>
    coresident ? (cal.coresidencyByProfile?.[profileKey(w)] ?? cal.coresidency ?? 0) : 0,
  )
  const reallocate = () => {
    sharing.allocate(running, m, mask, pSms, dem, x, nHigh, occW, takeW, coresident ? load : undefined)
    busyNow = 0
    for (let i = 0; i < m; i++) {
      const w = running[i] as number
      const tw = T[w] as WorkerTables
      const k = kNext[w] as number
      const xw = x[w] as number
      const d = dem[w] as number
      const r = xw >= d - 1e-9 ? (tw.ownRate[k] as number) : rateAt(tw, k, xw)
      // 'coresident': kernels sharing SMs slow each other, with the square root of the share of its SMs the others
      // hold (the first co-resident blocks cost the most); the memory term counts each kernel's SMs of work, which
      // can then add up to more than the GPU's SMs: the others' count is capped at the SM count (a no-op under
      // 'fifo' and 'fair', where they never exceed it)
      const kw = kappa[w] as number
      rate[w] = kw > 0 ? r / (1 + kw * Math.sqrt(load[w] as number)) : r
      const b = Math.min(xw, d) * (coresident ? 1 : (occW[w] as number))
      busy[w] = b
      busyNow += b
    }
    if (anyGamma && m > 1) {
      const smCount = spec.gpu.smCount
      let weighted = busyNow
      if (aggressor) {
        weighted = 0
        for (let i = 0; i < m; i++) {
          const w = running[i] as number
          weighted += (aggressor[w] as number) * (busy[w] as number)
        }
      }
      // the others' kernels that hold SMs, for the load shape's neighbour count
      let holding = 0
      if (loadShape) for (let i = 0; i < m; i++) if ((busy[running[i] as number] as number) > 0) holding++
      for (let i = 0; i < m; i++) {
        const w = running[i] as number
        const others = weighted - (aggressor ? (aggressor[w] as number) : 1) * (busy[w] as number)
        if (!loadShape)
          rate[w] = (rate[w] as number) / (1 + ((gamma[w] as number) * Math.min(others, smCount)) / smCount)
        else {
          const n = holding - ((busy[w] as number) > 0 ? 1 : 0)
          rate[w] =
            (rate[w] as number) /
            (1 + (gamma[w] as number) * interferenceShare(others, n, smCount, loadShape))
        }
      }
    }
    for (let i = 0; i < m; i++) {
      const w = running[i] as number
      const rem = remaining[w] as number
      // a kernel that has (to rounding) finished ends now, even if this reallocation left it no SMs (rate 0)
      doneAt[w] = rem <= 1e-12 ? lastT : lastT + rem / (rate[w] as number)
    }
  }

  /** Kernel kNext[w] can start on the GPU at gpuReady, once the host has launched its group. */
  const schedule = (w: number, gpuReady: number, now: number, passed = false) => {
    if (!passed && gateRole[w] === 2 && (gatedAt[w] as Uint8Array)[kNext[w] as number] === 1) {
      if (raised > 0) {
        parked.push(w)
        parkedReady[w] = gpuReady
        return
      }
      gpuReady += gateWaitUs
    }
    const tw = T[w] as WorkerTables
    const g = tw.group[kNext[w] as number] as number
    if ((hostGroup[w] as number) < g) {
      if (stream && tw.groups > 1) {
        let h = hostT[w] as number
        for (let gg = (hostGroup[w] as number) + 1; gg <= g; gg++)
          h += (ioctl && gg > 0 ? createUs : 0) + (launchOf[w] as number)
        hostT[w] = h
        hostGroup[w] = g
      } else {
        hostT[w] = (hostT[w] as number) + (launchOf[w] as number)
        hostGroup[w] = tw.groups
      }
    }
    const ready = Math.max(gpuReady, hostT[w] as number)
    if (ready <= now) start(w)
    else heap.push(ready, w * KINDS + KERNEL_READY)
  }

  const start = (w: number) => {
    const tw = T[w] as WorkerTables
    const k = kNext[w] as number
    const p = tw.part[k] as number
    mask[w] = partMask[p] as number
    pSms[w] = partSms[p] as number
    dem[w] = tw.demand[k] as number
    occW[w] = tw.occ[k] as number
    takeW[w] = tw.take[k] as number
    remaining[w] = 1
    kStartUs[w] = lastT
    kBeganUs[w] = Number.NaN
    if (gateRole[w] === 1 && k === 0) raised++
    let normal = false
    for (let j = nHigh; j < m && !normal; j++) normal = high[running[j] as number] === 0
    if (high[w] === 1 && drainUs > 0 && normal) {
      // running blocks are not preempted: in start order until its drain ends
      running[m++] = w
      drainEnd[w] = lastT + drainUs
      heap.push(lastT + drainUs, w * KINDS + DRAIN_END)
    } else if (high[w] === 1) promote(w, m++)
    else running[m++] = w
    reallocate()
  }

  /** Moves worker w's kernel, at index i of `running` (m counts it), to the end of the high-priority kernels. */
  const promote = (w: number, i: number) => {
    for (let j = i; j > nHigh; j--) running[j] = running[j - 1] as number
    running[nHigh++] = w
    ahead[w] = 1
    drainEnd[w] = -1
  }

  /** A request of worker w starts at t (its host thread issues it `delay` later), counted from `arrival`. */
  const beginRequest = (w: number, t: number, arrival: number, delay = 0) => {
    busyW[w] = 1
    if (live) {
      if (!active[w]) {
        active[w] = 1
        activeMask |= 1 << w
      }
      // the plan of the set active now (this worker included) for the whole request
      const r = live.resolve(activeMask, t)
      if (!r.exact) fallbacks[r.setKey] = r.key
      let idx = liveKeyIndex.get(r.key)
      if (idx === undefined) {
        idx = liveKeys.length
        liveKeys.push(r.key)
        liveKeyIndex.set(r.key, idx)
      }
      reqPlan[w] = idx
      T[w] = livePlanOf(w, r.key, r.plan)
    }
    reqStart[w] = t
    reqArrival[w] = arrival
    kNext[w] = 0
    hostT[w] = t + delay
    hostGroup[w] = -1
    schedule(w, t, t)
  }

  const finish = (i: number, t: number) => {
    const w = running[i] as number
    // keep `running` in (priority, start) order: first-come-first-served sharing hands out SMs in that order
    for (let j = i + 1; j < m; j++) running[j - 1] = running[j] as number
    m--
    if (ahead[w] === 1) nHigh--
    ahead[w] = 0
    drainEnd[w] = -1
    kernels++
    const tw = T[w] as WorkerTables
    const k = kNext[w] as number
    if (kernelTrace) {
      const began = kBeganUs[w] as number
      kernelTrace(w, k, kStartUs[w] as number, Number.isNaN(began) ? t : began, t)
    }
    reallocate()
    if (k + 1 < tw.n) {
      kNext[w] = k + 1
      let ready = t + tw.gapUs
      if (tw.group[k + 1] !== tw.group[k]) ready += switchUs
      schedule(w, ready, t)
      return
    }
    const o = out[w] as { arrivalUs: number[]; startUs: number[]; endUs: number[] }
    o.arrivalUs.push(reqArrival[w] as number)
    o.startUs.push(reqStart[w] as number)
    o.endUs.push(t)
    if (live) (requestPlans[w] as number[]).push(reqPlan[w] as number)
    if (t > warmUs) workSmUs += workPerRequest[w] as number
    busyW[w] = 0
    if (gateRole[w] === 1 && --raised === 0) {
      // the gate opens: every parked waiter passes it now (or when its kernel is ready)
      for (const p of parked.splice(0))
        schedule(p, Math.max(parkedReady[p] as number, t) + gateWaitUs, t, true)
    }
    if (!open[w]) {
      // closed loop: the next request at once while the worker's latest busy period lasts
      const p = period[w] as number
      if (p >= 0 && t < ((times[w] as number[])[2 * p + 1] as number)) beginRequest(w, t, t)
    } else {
      const q = queues[w] as number[]
      const h = qHead[w] as number
      if (h < q.length) {
        qHead[w] = h + 1
        beginRequest(w, t, q[h] as number)
      }
    }
    if (live && busyW[w] === 0) {
      // nothing queued: active for the hold time yet
      lastEnd[w] = t
      if (holdUs > 0) heap.push(t + holdUs, w * KINDS + HOLD_END)
      else inactive(w)
    }
  }

  const inactive = (w: number) => {
    active[w] = 0
    activeMask &= ~(1 << w)
  }

  // start: closed-loop workers from the start begin at a seeded offset within the first 100 µs so they are not in
  // lock-step; the others at their first busy period or arrival. An ARRIVAL event is a request's arrival (open loop)
  // or a busy period's start (closed loop); each pushes the next.
  for (let w = 0; w < W; w++) {
    const s = schedules[w] as (typeof schedules)[number]
    if (s.kind === 'closed' && s.plain) times[w] = [u() * 100, Number.POSITIVE_INFINITY]
    const ts = times[w] as number[]
    if (ts.length > 0) heap.push(ts[0] as number, w * KINDS + ARRIVAL)
  }
  const nextArrival = (w: number, step: number) => {
    const i = (nextTime[w] as number) + step
    nextTime[w] = i
    const ts = times[w] as number[]
    if (i < ts.length) heap.push(ts[i] as number, w * KINDS + ARRIVAL)
  }

  for (;;) {
    let iDone = -1
    let tDone = Number.POSITIVE_INFINITY
    for (let i = 0; i < m; i++) {
      const d = doneAt[running[i] as number] as number
      if (d < tDone) {
        tDone = d
        iDone = i
      }
    }
    const tHeap = heap.peekTime()
    const t = Math.min(tDone, tHeap)
    if (t > endUs) break
    events++
    advance(t)
    if (tDone <= tHeap) {
      finish(iDone, t)
      continue
    }
    const ev = heap.pop()
    const w = (ev / KINDS) | 0
    const kind = ev % KINDS
    if (kind === KERNEL_READY) start(w)
    else if (kind === DRAIN_END) {
      // only the drain of the kernel running now (one that ended before it leaves no pending drain)
      if (ahead[w] === 0 && Math.abs((drainEnd[w] as number) - t) < 1e-6) {
        let i = nHigh
        while (i < m && running[i] !== w) i++
        if (i < m) {
          promote(w, i)
          reallocate()
        }
      }
    } else if (kind === HOLD_END) {
      // only the hold of the worker's latest request, and only while it has had none since
      if (busyW[w] === 0 && (lastEnd[w] as number) + holdUs <= t + 1e-6) inactive(w)
    } else if (!open[w]) {
      // closed loop: a busy period starts; the next one is due at its start
      period[w] = (nextTime[w] as number) / 2
      nextArrival(w, 2)
      if (busyW[w] === 0) beginRequest(w, t, t)
    } else {
      // open loop: queue the arrival, schedule the next one, start at once if idle
      ;(queues[w] as number[]).push(t)
      nextArrival(w, 1)
      if (busyW[w] === 0) {
        const q = queues[w] as number[]
        const h = qHead[w] as number
        qHead[w] = h + 1
        // the worker was idle: its thread wakes up to issue it
        beginRequest(w, t, q[h] as number, issueDelay(w))
      }
    }
  }
  advance(endUs)

  const windowUs = endUs - warmUs
  const energyJ = energyOf(power, { windowUs, smBusyUs, workSmUs })
  if (!power.fitted) notes.push('energy from a placeholder power model, not fitted to NVML')
  notes.push(
    cal.fitted
      ? `contention model calibrated (${cal.source})`
      : `contention model not calibrated (${cal.source})`,
  )
  if (power.wPerMemGBs > 0)
    notes.push('memory term of the power model ignored: profiles carry no DRAM traffic')
  return {
    workers: out,
    windowStartUs: warmUs,
    windowEndUs: endUs,
    energyJ,
    energySource: power.fitted ? 'fitted' : 'placeholder',
    smBusyUs,
    kernels,
    wallS: (performance.now() - wall0) / 1000,
    notes,
    ...(live
      ? {
          live: {
            holdUs,
            keys: liveKeys,
            requestPlans,
            setTimeUs: Object.fromEntries([...setTimeUs].map(([mk, us]) => [setName(mk), us])),
            setFirstUs: Object.fromEntries([...setFirstUs].map(([mk, us]) => [setName(mk), us])),
            switches: setSwitches,
            switchesTotal: setSwitchesTotal,
            fallbacks,
          },
        }
      : {}),
    stats: { kernels, events },
  }
}
