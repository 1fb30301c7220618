// Request-level discrete-event simulator for multi-GPU inference servers: open-loop Poisson arrivals, each query a
// (model, batch) served whole by one partition, one query at a time per partition. Service times come from the latency
// tables times a per-query log-normal factor (the estimate a dispatcher sees is the table value alone). Seeded and
// deterministic: the same seed gives the same trace and the same numbers on every machine.
//
// Dispatch policies:
//   fifo          one central FIFO; an idle partition takes the oldest waiting query (the largest idle partition
//                 takes an arrival when several are idle). For identical partitions this is the ideal M/G/c queue.
//   least-loaded  at arrival, to the partition with the earliest estimated finish (work-aware join-shortest-queue);
//                 then FIFO per partition.
//   elsa          at arrival, ELSA's choice (elsa.ts); then FIFO per partition.
//
// Dedicated workers (SimOptions.serves, the eclip-kw schemes of compare.ts): each "partition" is then one model's
// worker, serving only that model's queries, and its service estimate comes from SimOptions.serviceUs instead of the
// latency table at its SMs. fifo becomes one central FIFO per model (an idle worker of model m takes the oldest
// waiting query of m: the same late-binding, work-conserving rule, an M/G/c queue per model); least-loaded and elsa
// choose among the arriving query's model's workers only.

import { EventHeap } from '../execute/sim/heap.ts'
import { rngFor } from '../random.ts'
import { DEFAULT_ELSA, earliestChoose, elsaChoose, estimatedFinish, type PartitionBacklog } from './elsa.ts'
import { latencyUs } from './latency.ts'
import type { Partition } from './partition.ts'
import type { ModelLoad } from './scenario.ts'

export type Dispatch = 'fifo' | 'least-loaded' | 'elsa'
export const DISPATCHES: Dispatch[] = ['fifo', 'least-loaded', 'elsa']

/** One open-loop query trace: parallel arrays, arrival times ascending (µs). */
export interface Trace {
  scale: number
  /** Which repeat of this load it is (makeTrace's `repeat`); absent for the first. */
  repeat?: number
  arrival: Float64Array
  model: Int32Array
  /** Index into the model's `batches`. */
  batchIdx: Int32Array
  /** Multiplier of the table latency: the query's real service time is estimate × this. */
  noise: Float64Array
}

/**
 * n queries with every model's Poisson rate multiplied by `scale`. Superposition: the merged stream is Poisson with
 * the summed rate and each arrival belongs to model m with probability λ_m/Λ; its batch is drawn from m's mix.
 * `noise` is the σ of the log-normal service-time factor (mean 1). `repeat` > 0 draws an independent trace of the
 * same load from its own stream of the seed (repeat 0 is the trace every earlier run used).
 */
export function makeTrace(
  models: ModelLoad[],
  scale: number,
  n: number,
  seed: number,
  noise: number,
  repeat = 0,
): Trace {
  const rng = rngFor(seed, repeat > 0 ? `trace#${repeat}` : 'trace')
  const total = models.reduce((a, m) => a + m.rate, 0) * scale
  const cumModel = cumulative(models.map((m) => m.rate))
  const cumBatch = models.map((m) => cumulative(m.probs))
  const t: Trace = {
    scale,
    ...(repeat > 0 ? { repeat } : {}),
    arrival: new Float64Array(n),
    model: new Int32Array(n),
    batchIdx: new Int32Array(n),
    noise: new Float64Array(n),
  }
  let now = 0
  for (let i = 0; i < n; i++) {
    now += rng.exponential(total) * 1e6
    t.arrival[i] = now
    const m = rng.pick(cumModel)
    t.model[i] = m
    t.batchIdx[i] = rng.pick(cumBatch[m] ?? [1])
    t.noise[i] = noise > 0 ? Math.exp(noise * rng.normal() - (noise * noise) / 2) : 1
  }
  return t
}

function cumulative(ws: number[]): number[] {
  let s = 0
  return ws.map((w) => {
    s += w
    return s
  })
}

export interface SimOptions {
  dispatch: Dispatch
  /** Leading fraction of the queries excluded from the metrics (warm-up). Default 0.1. */
  warmup?: number
  /** ELSA's SLO margin (elsa.ts). Default DEFAULT_ELSA's. */
  sloMargin?: number
  /**
   * Dedicated workers: per partition, the index (into the models) of the only model it serves. Absent: every
   * partition serves every model. Every model needs at least one worker.
   */
  serves?: ArrayLike<number>
  /**
   * With `serves`: the service estimate per model and batch index (µs), used instead of the latency table at the
   * partition's SMs (eclip-kw: the co-located latency, src/paris/kernelwise.ts).
   */
  serviceUs?: number[][]
}

export interface ModelMetrics {
  model: string
  queries: number
  violationRate: number
  p99Ms: number
}

export interface SimMetrics {
  scale: number
  /** Set by backends that ran the queries on a GPU (src/paris/gpu.ts); absent from simulated runs. */
  gpu?: GpuRun
  /** Offered load over the measured window, queries/s. */
  offeredQps: number
  /** Queries completed within their SLO per second of the measured window. */
  goodputQps: number
  measured: number
  violationRate: number
  p50Ms: number
  p99Ms: number
  meanMs: number
  /** Busy SM-time of the measured queries over (all SMs of the server × the measured window). */
  utilisation: number
  perModel: ModelMetrics[]
}

/** What a GPU run adds to the metrics: energy, how faithful the open-loop replay was, and what it cost. */
export interface GpuRun {
  /** NVML energy from the first measured query's release to the last completion, J; null without a reading. */
  energyJ: number | null
  /** energyJ over that interval, W. */
  powerW: number | null
  /** With several GPUs: how many the energy is summed over, and each one's share, J (GPU 0 first). */
  gpus?: number
  energyPerGpuJ?: number[] | null
  /** Measured queries that waited so long they were dropped unexecuted (counted as violations). */
  dropped: number
  /** How late the dispatcher released queries against their trace arrival times, µs (p50, p99). */
  releaseLagP50Us: number
  releaseLagP99Us: number
  /** Graphs captured for this run (0 when the layout's graphs were kept from the run before) and their cost. */
  captures: number
  captureS: number
  /** Wall time of the whole run on the backend, s. */
  wallS: number
}

/** Per-query outcome of one run, indexed like the trace (µs on the trace's clock). */
export interface QueryLog {
  /** Completion of each query (for a query dropped unexecuted: when it was dropped). */
  done: Float64Array
  /** Partition index (into the layout) that served it. */
  servedOn: Int32Array
  /** How long it held its partition, µs (0 if dropped). */
  busyUs: Float64Array
}

interface PartState extends PartitionBacklog {
  sms: number
  /** Index of this partition's size in the estimate table. */
  sizeIdx: number
  queue: number[]
  head: number
  running: number
}

/** Runs one trace through one server layout and policy; returns the metrics over the measured queries. */
export function simulate(
  models: ModelLoad[],
  partitions: Partition[],
  trace: Trace,
  opts: SimOptions,
  totalSms?: number,
): SimMetrics {
  const log = simulateQueries(models, partitions, trace, opts)
  return traceMetrics(models, partitions, trace, log, opts.warmup ?? 0.1, totalSms)
}

/** The simulation itself: where and when every query of the trace ran. */
export function simulateQueries(
  models: ModelLoad[],
  partitions: Partition[],
  trace: Trace,
  opts: SimOptions,
): QueryLog {
  const n = trace.arrival.length
  // estimate table: est[model][batchIdx][sizeIdx] in µs; sizes are the distinct partition SM counts
  const sizes = [...new Set(partitions.map((p) => p.sms))].sort((a, b) => a - b)
  const serves = opts.serves
  const service = opts.serviceUs
  if (serves) {
    if (serves.length !== partitions.length)
      throw new Error(`simulate: ${serves.length} entries in serves for ${partitions.length} partitions`)
    models.forEach((m, i) => {
      if (!Array.from(serves).includes(i)) throw new Error(`simulate: no worker serves ${m.model}`)
    })
  }
  const est = models.map((m, mi) =>
    m.batches.map((b, bi) => {
      const fixed = serves && service ? service[mi]?.[bi] : undefined
      if (serves && service && fixed === undefined)
        throw new Error(`simulate: no service time for ${m.model} b${b}`)
      return sizes.map((s) => fixed ?? latencyUs(m.table, b, s))
    }),
  )
  const parts: PartState[] = partitions.map((p) => ({
    sms: p.sms,
    sizeIdx: sizes.indexOf(p.sms),
    queue: [],
    head: 0,
    running: -1,
    runningEstEnd: 0,
    queuedEst: 0,
  }))
  const smsArr = Float64Array.from(parts, (p) => p.sms)
  // order for "largest idle partition first" under central FIFO
  const bySize = parts.map((_, i) => i).sort((a, b) => (smsArr[b] ?? 0) - (smsArr[a] ?? 0) || a - b)
  const finish = new Float64Array(parts.length)
  const done = new Float64Array(n)
  const servedOn = new Int32Array(n)
  const execUs = new Float64Array(n)
  // fifo's central queue: one, or one per model with dedicated workers
  const central: number[][] = serves ? models.map(() => []) : [[]]
  const centralHead = new Int32Array(central.length)
  const queueOf = (pi: number) => (serves ? (serves[pi] ?? 0) : 0)
  const canServe = (pi: number, q: number) => !serves || serves[pi] === trace.model[q]
  // completions: payload = partition index (the heap keeps (time, insertion order), so runs are reproducible)
  const heap = new EventHeap()
  const margin = opts.sloMargin ?? DEFAULT_ELSA.sloMargin
  const estOf = (q: number, p: PartState) =>
    est[trace.model[q] ?? 0]?.[trace.batchIdx[q] ?? 0]?.[p.sizeIdx] ?? Number.NaN

  const start = (pi: number, q: number, now: number) => {
    const p = parts[pi] as PartState
    const e = estOf(q, p)
    p.running = q
    p.runningEstEnd = now + e
    servedOn[q] = pi
    execUs[q] = e * (trace.noise[q] ?? 1)
    heap.push(now + (execUs[q] ?? 0), pi)
  }

  let next = 0
  while (next < n || heap.size > 0) {
    const topTime = heap.peekTime()
    const arrivalT = next < n ? (trace.arrival[next] ?? 0) : Number.POSITIVE_INFINITY
    if (heap.size > 0 && topTime <= arrivalT) {
      // completion (before an arrival at the same instant: the partition is free for it)
      const top = { time: topTime, part: heap.pop() }
      const p = parts[top.part] as PartState
      done[p.running] = top.time
      p.running = -1
      if (opts.dispatch === 'fifo') {
        const c = queueOf(top.part)
        const queue = central[c] ?? []
        const h = centralHead[c] ?? 0
        if (h < queue.length) {
          centralHead[c] = h + 1
          start(top.part, queue[h] ?? 0, top.time)
        }
      } else if (p.head < p.queue.length) {
        const q = p.queue[p.head++] ?? 0
        p.queuedEst -= estOf(q, p)
        if (p.head === p.queue.length) {
          p.queue.length = 0
          p.head = 0
          p.queuedEst = 0 // drop float drift when the queue empties
        }
        start(top.part, q, top.time)
      }
      continue
    }
    const q = next++
    const now = arrivalT
    if (opts.dispatch === 'fifo') {
      const idle = bySize.find((i) => (parts[i] as PartState).running < 0 && canServe(i, q))
      if (idle !== undefined) start(idle, q, now)
      else central[serves ? (trace.model[q] ?? 0) : 0]?.push(q)
      continue
    }
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i] as PartState
      // a worker of another model is never a candidate: it finishes "never"
      if (!canServe(i, q)) finish[i] = Number.POSITIVE_INFINITY
      else finish[i] = p.running < 0 ? now + estOf(q, p) : estimatedFinish(p, now, estOf(q, p))
    }
    const slo = models[trace.model[q] ?? 0]?.sloUs ?? 0
    const pi =
      opts.dispatch === 'elsa' ? elsaChoose(smsArr, finish, now + margin * slo) : earliestChoose(finish)
    const p = parts[pi] as PartState
    if (p.running < 0) start(pi, q, now)
    else {
      p.queue.push(q)
      p.queuedEst += estOf(q, p)
    }
  }

  return { done, servedOn, busyUs: execUs }
}

/**
 * The metrics of one run over its measured queries (after the leading `warmup` fraction), from the per-query log:
 * the simulator's and a GPU backend's alike. Latency is completion − trace arrival; utilisation is the busy SM-time
 * over all SMs of the server × the window (first measured arrival to the last arrival).
 */
export function traceMetrics(
  models: ModelLoad[],
  partitions: Partition[],
  trace: Trace,
  log: QueryLog,
  warmup: number,
  totalSms?: number,
): SimMetrics {
  const { done, servedOn, busyUs: execUs } = log
  const n = trace.arrival.length
  const first = Math.min(Math.floor(n * warmup), n - 1)
  const windowUs = (trace.arrival[n - 1] ?? 0) - (trace.arrival[first] ?? 0)
  const lat = new Float64Array(n - first)
  const perModel = models.map(() => ({ lat: [] as number[], viol: 0 }))
  let viol = 0
  let busySmUs = 0
  for (let q = first; q < n; q++) {
    const l = (done[q] ?? 0) - (trace.arrival[q] ?? 0)
    lat[q - first] = l
    const m = trace.model[q] ?? 0
    const pm = perModel[m]
    pm?.lat.push(l)
    if (l > (models[m]?.sloUs ?? 0)) {
      viol++
      if (pm) pm.viol++
    }
    busySmUs += (partitions[servedOn[q] ?? 0]?.sms ?? 0) * (execUs[q] ?? 0)
  }
  lat.sort()
  const measured = n - first
  const sms = totalSms ?? partitions.reduce((a, p) => a + p.sms, 0)
  const perSec = (k: number) => (windowUs > 0 ? (k * 1e6) / windowUs : 0)
  return {
    scale: trace.scale,
    offeredQps: perSec(measured),
    goodputQps: perSec(measured - viol),
    measured,
    violationRate: viol / measured,
    p50Ms: quantile(lat, 0.5) / 1000,
    p99Ms: quantile(lat, 0.99) / 1000,
    meanMs: lat.reduce((a, x) => a + x, 0) / measured / 1000,
    utilisation: windowUs > 0 ? busySmUs / (sms * windowUs) : 0,
    perModel: models.map((m, i) => {
      const pm = perModel[i] ?? { lat: [], viol: 0 }
      const sorted = Float64Array.from(pm.lat).sort()
      return {
        model: m.model,
        queries: pm.lat.length,
        violationRate: pm.lat.length ? pm.viol / pm.lat.length : 0,
        p99Ms: quantile(sorted, 0.99) / 1000,
      }
    }),
  }
}

/** Nearest-rank quantile of sorted values. */
export function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return 0
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? 0
}

export interface SearchOptions {
  /** Violation rate that still counts as sustained. Default 0.01. */
  target?: number
  /** Bisection steps after bracketing (each halves the log-ratio). Default 7. */
  steps?: number
  /** First scale tried. Default 1. */
  start?: number
  /** How far below `start` to look for a sustainable load before giving up (×½ each). Default 8. */
  maxHalvings?: number
}

/** A search's answer: the highest load that met the target (null if none did) and every load tried, in order. */
export interface Sustained {
  best: SimMetrics | null
  tried: SimMetrics[]
}

/**
 * The largest load (scale of the scenario's rates) whose violation rate is ≤ target, by bracketing (×2 / ÷2) then
 * bisection in log scale. `run(scale)` simulates one load. Returns the sustained metrics (null if even the smallest
 * load tried fails) and every point tried.
 */
export async function maxSustainable(
  run: (scale: number) => SimMetrics | Promise<SimMetrics>,
  opts: SearchOptions = {},
): Promise<Sustained> {
  const target = opts.target ?? 0.01
  const tried: SimMetrics[] = []
  const ok = async (s: number) => {
    const m = await run(s)
    tried.push(m)
    return m.violationRate <= target ? m : null
  }
  let lo: SimMetrics | null = null
  let hiScale = Number.NaN
  let s = opts.start ?? 1
  const first = await ok(s)
  if (first) {
    lo = first
    for (let i = 0; i < 30; i++) {
      s *= 2
      const m = await ok(s)
      if (!m) {
        hiScale = s
        break
      }
      lo = m
    }
  } else {
    hiScale = s
    for (let i = 0; i < (opts.maxHalvings ?? 8) && !lo; i++) {
      s /= 2
      lo = await ok(s)
      if (!lo) hiScale = s
    }
  }
  if (!lo || Number.isNaN(hiScale)) return { best: lo, tried }
  for (let i = 0; i < (opts.steps ?? 7); i++) {
    const mid = Math.sqrt(lo.scale * hiScale)
    const m = await ok(mid)
    if (m) lo = m
    else hiScale = mid
  }
  return { best: lo, tried }
}

/**
 * The cheap search for real GPUs (a run there costs seconds, not milliseconds): each of a fixed list of loads once,
 * ascending; the sustained load is the highest one tried that met the target, a lower bound at the grid's
 * resolution. Once a load violates more than `giveUpAbove` (default 0.5), higher ones are not tried: they can only
 * be worse, and an overloaded open-loop run on a GPU takes long to drain.
 */
export async function fixedLoads(
  run: (scale: number) => SimMetrics | Promise<SimMetrics>,
  scales: number[],
  opts: { target?: number; giveUpAbove?: number } = {},
): Promise<Sustained> {
  const target = opts.target ?? 0.01
  const tried: SimMetrics[] = []
  let best: SimMetrics | null = null
  for (const s of [...scales].sort((a, b) => a - b)) {
    const m = await run(s)
    tried.push(m)
    if (m.violationRate <= target) best = m
    if (m.violationRate > (opts.giveUpAbove ?? 0.5)) break
  }
  return { best, tried }
}
