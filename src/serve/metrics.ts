// Prometheus metrics (prom-client, one registry per server), named like Triton's where Triton has one, plus the
// rolling per-model window the dashboard and the throughput gauges read; /metrics appends the process's own Node
// metrics (process-metrics.ts).
import { Counter, Gauge, type Metric, Registry } from 'prom-client'
import type { PartitionStatus, PowerReading } from './backend.ts'
import { processMetricsText } from './process-metrics.ts'
import type { SchedulerStatus } from './scheduling.ts'

export type FailureReason = 'REJECTED' | 'TIMEOUT' | 'BACKEND' | 'INVALID' | 'OTHER'

/** Latency buckets in µs: 100 µs … 10 s. */
const BUCKETS_US = [
  100, 250, 500, 1000, 2500, 5000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000,
  5_000_000, 10_000_000,
]

export interface ModelWindowStats {
  /** Completed requests per second over the window. */
  rps: number
  /** Inferences (items) per second over the window. */
  ips: number
  /** 95th-percentile end-to-end latency over the window, ms; null with no completions. */
  p95Ms: number | null
  /** Failed requests per second over the window. */
  failuresPerS: number
}

/** Recent requests of one model, for rates and p95 over the last `windowMs` (dashboard, /metrics). */
export class RollingWindow {
  private done: { t: number; ms: number; items: number }[] = []
  private failed: number[] = []
  constructor(private readonly windowMs: number) {}
  add(t: number, ms: number, items: number) {
    this.done.push({ t, ms, items })
    // pruned here too, not only when read: a server nobody scrapes must not keep every request it ever answered
    if ((this.done[0]?.t ?? t) < t - 2 * this.windowMs) this.prune(t)
  }
  fail(t: number) {
    this.failed.push(t)
    if ((this.failed[0] ?? t) < t - 2 * this.windowMs) this.prune(t)
  }
  /** Drops what is older than the window before `now`. */
  private prune(now: number) {
    const from = now - this.windowMs
    let i = 0
    while (i < this.done.length && (this.done[i]?.t ?? 0) < from) i++
    if (i > 0) this.done.splice(0, i)
    let j = 0
    while (j < this.failed.length && (this.failed[j] ?? 0) < from) j++
    if (j > 0) this.failed.splice(0, j)
  }
  /** Entries kept (tests: bounded without reads). */
  size(): number {
    return this.done.length + this.failed.length
  }
  stats(now: number): ModelWindowStats {
    this.prune(now)
    const s = this.windowMs / 1000
    const lat = this.done.map((d) => d.ms).sort((a, b) => a - b)
    const p95 =
      lat.length > 0 ? (lat[Math.min(lat.length - 1, Math.ceil(lat.length * 0.95) - 1)] ?? null) : null
    return {
      rps: this.done.length / s,
      ips: this.done.reduce((a, d) => a + d.items, 0) / s,
      p95Ms: p95,
      failuresPerS: this.failed.length / s,
    }
  }
}

/** One label set's value of a PlainCounter: updated in place (`add`), no label hashing per update. */
interface CounterCell {
  labels: Record<string, string>
  value: number
  touched: boolean
}

/**
 * A counter whose label sets are fixed ahead (a served model's), kept as plain numbers and exported through
 * prom-client's registry exactly as prom-client's Counter is (a label set appears once first updated, in that order).
 * prom-client's inc hashes the label object on every call; a request updates a dozen of these.
 */
class PlainCounter {
  readonly type = 'counter'
  readonly aggregator = 'sum'
  private readonly order: CounterCell[] = []

  constructor(
    readonly name: string,
    readonly help: string,
    registers: Registry[],
  ) {
    for (const r of registers) r.registerMetric(this as unknown as Metric)
  }

  cell(labels: Record<string, string>): CounterCell {
    return { labels, value: 0, touched: false }
  }

  add(c: CounterCell, v = 1) {
    if (!c.touched) {
      c.touched = true
      this.order.push(c)
    }
    c.value += v
  }

  async get() {
    return {
      help: this.help,
      name: this.name,
      type: this.type,
      values: this.order.map((c) => ({ value: c.value, labels: c.labels })),
      aggregator: this.aggregator,
    }
  }
}

/** One label set of a PlainHistogram: counts per bucket (not cumulative), sum and count. */
interface HistogramCell {
  labels: Record<string, string>
  counts: number[]
  sum: number
  count: number
  touched: boolean
}

/** A histogram over fixed label sets, as PlainCounter is to prom-client's Counter (the same exported lines). */
class PlainHistogram {
  readonly type = 'histogram'
  readonly aggregator = 'sum'
  private readonly order: HistogramCell[] = []

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly bounds: number[],
    registers: Registry[],
  ) {
    for (const r of registers) r.registerMetric(this as unknown as Metric)
  }

  cell(labels: Record<string, string>): HistogramCell {
    return { labels, counts: this.bounds.map(() => 0), sum: 0, count: 0, touched: false }
  }

  observe(c: HistogramCell, v: number) {
    if (!Number.isFinite(v)) return
    if (!c.touched) {
      c.touched = true
      this.order.push(c)
    }
    const b = this.bounds
    for (let i = 0; i < b.length; i++)
      if (v <= (b[i] as number)) {
        c.counts[i] = (c.counts[i] as number) + 1
        break
      }
    c.sum += v
    c.count += 1
  }

  /** prom-client Histogram's export: cumulative buckets (`le` then the label set), +Inf, _sum, _count. */
  async getForPromString() {
    const values: Record<string, unknown>[] = []
    const bucket = `${this.name}_bucket`
    for (const c of this.order) {
      let acc = 0
      this.bounds.forEach((le, i) => {
        acc += c.counts[i] as number
        values.push({ labels: { le }, sharedLabels: c.labels, value: acc, metricName: bucket })
      })
      values.push({ labels: { le: '+Inf' }, sharedLabels: c.labels, value: c.count, metricName: bucket })
      values.push({ labels: {}, sharedLabels: c.labels, value: c.sum, metricName: `${this.name}_sum` })
      values.push({ labels: {}, sharedLabels: c.labels, value: c.count, metricName: `${this.name}_count` })
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator }
  }

  async get() {
    const data = await this.getForPromString()
    return {
      ...data,
      values: data.values.map((v) => ({
        ...v,
        labels: { ...(v.sharedLabels as object), ...(v.labels as object) },
      })),
    }
  }
}

/** A served model's cells of every per-model metric (bound once: a request's updates hash nothing). */
interface ModelCells {
  success: CounterCell
  inferCount: CounterCell
  execCount: CounterCell
  requestUs: CounterCell
  queueUs: CounterCell
  computeUs: CounterCell
  requestHist: HistogramCell
  queueHist: HistogramCell
  computeHist: HistogramCell
  failure: Map<FailureReason, CounterCell>
  window: RollingWindow
  tally: Tally
}

export class ServerMetrics {
  readonly registry = new Registry()
  private readonly windows = new Map<string, RollingWindow>()
  private readonly success: PlainCounter
  private readonly failure: PlainCounter
  private readonly inferCount: PlainCounter
  private readonly execCount: PlainCounter
  private readonly requestUs: PlainCounter
  private readonly queueUs: PlainCounter
  private readonly computeUs: PlainCounter
  private readonly requestHist: PlainHistogram
  private readonly queueHist: PlainHistogram
  private readonly computeHist: PlainHistogram
  private readonly cells = new Map<string, ModelCells>()
  private readonly restarts: Counter
  /** The same counts per model, kept as plain numbers for Triton's statistics extension (modelStats). */
  private readonly tallies = new Map<string, Tally>()
  private readonly energy: Counter<'gpu_uuid' | 'source'>
  private energyReported = 0
  private readonly modelList: { name: string; version: string }[] = []
  private readonly windowMs: number

  constructor(
    opts: {
      models: { name: string; version: string }[]
      pending: (model: string) => number
      power: () => PowerReading | undefined
      backendReady: () => boolean
      /** Whether the server takes inference requests (what /v2/health/ready says); default backendReady. */
      serverReady?: () => boolean
      simulated: boolean
      windowMs?: number
      /** The partitions requests are dispatched to (paris-elsa): which GPU, SMs, queue, what each has served. */
      partitions?: () => PartitionStatus[]
    },
    private readonly now: () => number = () => performance.now(),
  ) {
    const registers = [this.registry]
    const windowMs = opts.windowMs ?? 5000
    this.windowMs = windowMs
    // the served models: a load or unload (eclip-live) changes the list the gauges below walk
    const models = this.modelList
    models.push(...opts.models)
    for (const m of models) this.windows.set(m.name, new RollingWindow(windowMs))
    for (const m of models) this.tallies.set(m.name, newTally(m.name, m.version))
    const labels = ['model', 'version'] as const
    this.success = new PlainCounter(
      'nv_inference_request_success',
      'Number of successful inference requests, all batch sizes',
      registers,
    )
    this.failure = new PlainCounter(
      'nv_inference_request_failure',
      'Number of failed inference requests, all batch sizes (reason: REJECTED queue full or backend not ready, TIMEOUT, BACKEND crash/error, INVALID request)',
      registers,
    )
    this.inferCount = new PlainCounter(
      'nv_inference_count',
      'Number of inferences performed (a request of batch n counts n)',
      registers,
    )
    this.execCount = new PlainCounter(
      'nv_inference_exec_count',
      'Number of model executions performed (dynamic batching merges requests into one execution)',
      registers,
    )
    this.requestUs = new PlainCounter(
      'nv_inference_request_duration_us',
      'Cumulative end-to-end inference request handling time (includes cached requests)',
      registers,
    )
    this.queueUs = new PlainCounter(
      'nv_inference_queue_duration_us',
      'Cumulative time requests spend waiting in the scheduling queue',
      registers,
    )
    this.computeUs = new PlainCounter(
      'nv_inference_compute_infer_duration_us',
      'Cumulative compute inference duration in microseconds (modelled when eclip_backend_simulated is 1)',
      registers,
    )
    new Gauge({
      name: 'nv_inference_pending_request_count',
      help: 'Instantaneous number of pending requests awaiting execution per model',
      labelNames: labels,
      registers,
      collect() {
        for (const m of models) this.set({ model: m.name, version: m.version }, opts.pending(m.name))
      },
    })
    this.requestHist = new PlainHistogram(
      'eclip_inference_request_duration_histogram_us',
      'End-to-end request latency in microseconds (successful requests)',
      BUCKETS_US,
      registers,
    )
    this.queueHist = new PlainHistogram(
      'eclip_inference_queue_duration_histogram_us',
      'Queue time in microseconds (successful requests)',
      BUCKETS_US,
      registers,
    )
    this.computeHist = new PlainHistogram(
      'eclip_inference_compute_duration_histogram_us',
      'Compute time per execution in microseconds (modelled when eclip_backend_simulated is 1)',
      BUCKETS_US,
      registers,
    )
    const windows = this.windows
    const nowFn = this.now
    const self = this
    new Gauge({
      name: 'eclip_inference_throughput_rps',
      help: `Completed requests per second per model over the last ${windowMs / 1000} s`,
      labelNames: labels,
      registers,
      collect() {
        for (const m of models)
          this.set({ model: m.name, version: m.version }, windows.get(m.name)?.stats(nowFn()).rps ?? 0)
      },
    })
    new Gauge({
      name: 'eclip_inference_request_p95_us',
      help: `95th-percentile end-to-end latency per model over the last ${windowMs / 1000} s, µs (NaN: no requests)`,
      labelNames: labels,
      registers,
      collect() {
        for (const m of models) {
          const p = windows.get(m.name)?.stats(nowFn()).p95Ms
          this.set({ model: m.name, version: m.version }, p == null ? Number.NaN : p * 1000)
        }
      },
    })
    new Gauge({
      name: 'nv_gpu_power_usage',
      help: 'GPU power usage in watts (source="simulated": the simulator power model, not a measurement)',
      labelNames: ['gpu_uuid', 'source'],
      registers,
      collect() {
        const p = opts.power()
        if (!p) return
        this.set({ gpu_uuid: p.gpu, source: p.source }, p.watts)
        // energy is a counter: advance it to the backend's total at every scrape (it is exported after this gauge)
        if (p.energyJ > self.energyReported) {
          self.energy.inc({ gpu_uuid: p.gpu, source: p.source }, p.energyJ - self.energyReported)
          self.energyReported = p.energyJ
        }
      },
    })
    this.energy = new Counter({
      name: 'nv_energy_consumption',
      help: 'GPU energy consumption in joules since the server started (source="simulated": modelled)',
      labelNames: ['gpu_uuid', 'source'],
      registers,
    })
    new Gauge({
      name: 'eclip_backend_ready',
      help: '1 when the backend can execute, 0 while it is starting or restarting',
      registers,
      collect() {
        this.set(opts.backendReady() ? 1 : 0)
      },
    })
    new Gauge({
      name: 'eclip_server_ready',
      help: '1 when /v2/health/ready answers 200; 0 while starting, restarting, draining or the backend does not answer its ping',
      registers,
      collect() {
        this.set((opts.serverReady ?? opts.backendReady)() ? 1 : 0)
      },
    })
    new Gauge({
      name: 'eclip_backend_simulated',
      help: '1 when the backend is the simulator: no model runs, compute times and power are modelled',
      registers,
    }).set(opts.simulated ? 1 : 0)
    this.restarts = new Counter({
      name: 'eclip_backend_restarts_total',
      help: 'Backend restarts after a crash',
      registers,
    })
    if (opts.partitions) this.partitionMetrics(opts.partitions, registers)
    for (const m of models) {
      const l = { model: m.name, version: m.version }
      this.cells.set(m.name, {
        success: this.success.cell(l),
        inferCount: this.inferCount.cell(l),
        execCount: this.execCount.cell(l),
        requestUs: this.requestUs.cell(l),
        queueUs: this.queueUs.cell(l),
        computeUs: this.computeUs.cell(l),
        requestHist: this.requestHist.cell(l),
        queueHist: this.queueHist.cell(l),
        computeHist: this.computeHist.cell(l),
        failure: new Map(),
        window: this.windows.get(m.name) as RollingWindow,
        tally: this.tallies.get(m.name) as Tally,
      })
    }
  }

  /** A model loaded while serving (eclip-live): its gauges, rates and statistics from now on. */
  addModel(name: string, version: string) {
    if (!this.modelList.some((m) => m.name === name)) this.modelList.push({ name, version })
    if (!this.windows.has(name)) this.windows.set(name, new RollingWindow(this.windowMs))
    if (!this.tallies.has(name)) this.tallies.set(name, newTally(name, version))
    this.cellsOf(name, version)
  }

  /** A model unloaded: no longer in the per-model gauges (its counters keep what it did). */
  removeModel(name: string) {
    const i = this.modelList.findIndex((m) => m.name === name)
    if (i >= 0) this.modelList.splice(i, 1)
  }

  /** eclip-live: the active set, the plan in force and the switches (src/serve/scheduling.ts), at every scrape. */
  schedulerMetrics(status: () => SchedulerStatus, models: () => string[]) {
    const registers = [this.registry]
    const reported = { set: 0, plan: 0 }
    let setChanges: Counter | undefined
    let planSwitches: Counter | undefined
    new Gauge({
      name: 'eclip_model_active',
      help: 'eclip-live: 1 while a model is in the active set (requests queued or in flight, or one answered within the hold time)',
      labelNames: ['model'] as const,
      registers,
      collect() {
        const s = status()
        this.reset()
        for (const m of models()) this.set({ model: m }, s.active.includes(m) ? 1 : 0)
        // the counters are exported after this gauge: advance them to the scheduler's counts now
        if (s.setChanges > reported.set) setChanges?.inc(s.setChanges - reported.set)
        if (s.planSwitches > reported.plan) planSwitches?.inc(s.planSwitches - reported.plan)
        reported.set = Math.max(reported.set, s.setChanges)
        reported.plan = Math.max(reported.plan, s.planSwitches)
      },
    })
    new Gauge({
      name: 'eclip_plan_in_force',
      help: 'eclip-live: 1 for the plan (its key: the active models, sorted, joined by +) executions start under now',
      labelNames: ['plan'] as const,
      registers,
      collect() {
        const s = status()
        this.reset()
        if (s.plan !== null) this.set({ plan: s.plan }, 1)
      },
    })
    new Gauge({
      name: 'eclip_plan_table_plans',
      help: 'eclip-live: plans in the table (one per set of models that can be active together)',
      registers,
      collect() {
        this.set(status().plans)
      },
    })
    setChanges = new Counter({
      name: 'eclip_active_set_changes_total',
      help: 'eclip-live: changes of the set of active models',
      registers,
    })
    planSwitches = new Counter({
      name: 'eclip_plan_switches_total',
      help: 'eclip-live: changes of the plan executions start under',
      registers,
    })
  }

  /** A model's cells: those of a served model, or made on first use for a name not served (as prom-client would). */
  private cellsOf(model: string, version: string): ModelCells {
    let c = this.cells.get(model)
    if (c) return c
    const l = { model, version }
    const window = this.windows.get(model) ?? new RollingWindow(5000)
    const tally = this.tallies.get(model) ?? newTally(model, version)
    c = {
      success: this.success.cell(l),
      inferCount: this.inferCount.cell(l),
      execCount: this.execCount.cell(l),
      requestUs: this.requestUs.cell(l),
      queueUs: this.queueUs.cell(l),
      computeUs: this.computeUs.cell(l),
      requestHist: this.requestHist.cell(l),
      queueHist: this.queueHist.cell(l),
      computeHist: this.computeHist.cell(l),
      failure: new Map(),
      window,
      tally,
    }
    this.cells.set(model, c)
    return c
  }

  /** paris-elsa: every partition of every GPU, its size, its queue and the executions of each model it has run. */
  private partitionMetrics(partitions: () => PartitionStatus[], registers: Registry[]) {
    const labels = ['partition', 'gpu'] as const
    const reported = new Map<string, number>()
    let executions: Counter<'partition' | 'gpu' | 'model'> | undefined
    new Gauge({
      name: 'eclip_partition_sms',
      help: 'SMs of each partition requests are dispatched to (paris-elsa: PARIS over the GPUs of the host)',
      labelNames: labels,
      registers,
      collect() {
        for (const p of partitions()) {
          const l = { partition: p.id, gpu: String(p.gpu) }
          this.set(l, p.sms)
          // executions is a counter: advance it to the backend's counts at every scrape (it is exported after this)
          for (const [model, n] of Object.entries(p.executions)) {
            const key = `${p.id}\u0000${model}`
            const before = reported.get(key) ?? 0
            if (n > before) executions?.inc({ ...l, model }, n - before)
            reported.set(key, Math.max(n, before))
          }
        }
      },
    })
    new Gauge({
      name: 'eclip_partition_queue_depth',
      help: 'Executions waiting in each partition’s queue plus the one it runs',
      labelNames: labels,
      registers,
      collect() {
        for (const p of partitions())
          this.set({ partition: p.id, gpu: String(p.gpu) }, p.queued + (p.running ? 1 : 0))
      },
    })
    new Gauge({
      name: 'eclip_partition_backlog_us',
      help: 'Each partition’s backlog as ELSA estimates it from the latency tables, µs from now',
      labelNames: labels,
      registers,
      collect() {
        for (const p of partitions()) this.set({ partition: p.id, gpu: String(p.gpu) }, p.backlogUs)
      },
    })
    executions = new Counter({
      name: 'eclip_partition_executions_total',
      help: 'Executions each partition has completed, per model (paris-elsa: where ELSA sent them)',
      labelNames: [...labels, 'model'],
      registers,
    })
  }

  requestOk(
    model: string,
    version: string,
    items: number,
    t: { queueUs: number; computeUs: number; totalUs: number },
  ) {
    const c = this.cellsOf(model, version)
    this.success.add(c.success)
    this.inferCount.add(c.inferCount, items)
    this.requestUs.add(c.requestUs, t.totalUs)
    this.queueUs.add(c.queueUs, t.queueUs)
    this.computeUs.add(c.computeUs, t.computeUs)
    this.requestHist.observe(c.requestHist, t.totalUs)
    this.queueHist.observe(c.queueHist, t.queueUs)
    c.window.add(this.now(), t.totalUs / 1000, items)
    const tally = c.tally
    tally.success += 1
    tally.items += items
    tally.successUs += t.totalUs
    tally.queueUs += t.queueUs
    tally.computeUs += t.computeUs
    tally.last = Date.now()
  }

  execution(model: string, version: string, computeUs: number) {
    const c = this.cellsOf(model, version)
    this.execCount.add(c.execCount)
    this.computeHist.observe(c.computeHist, computeUs)
    c.tally.executions += 1
  }

  requestFailed(model: string, version: string, reason: FailureReason) {
    const c = this.cellsOf(model, version)
    let cell = c.failure.get(reason)
    if (!cell) {
      cell = this.failure.cell({ model, version, reason })
      c.failure.set(reason, cell)
    }
    this.failure.add(cell)
    c.window.fail(this.now())
    c.tally.fail += 1
    c.tally.last = Date.now()
  }

  /**
   * Triton's statistics extension (GET /v2/models[/name[/versions/v]]/stats): one `model_stats` entry per model,
   * from the counters above. Durations are cumulative ns. Successful requests count once in success, queue and the
   * three compute phases; eclip times input, inference and output as one (compute_infer; the other two are 0 ns).
   * Failed requests' durations are not kept (fail.ns is 0). batch_stats is left empty.
   */
  modelStats(name?: string): Record<string, unknown>[] {
    const ns = (us: number) => Math.round(us * 1000)
    const out: Record<string, unknown>[] = []
    for (const t of this.tallies.values()) {
      if (name !== undefined && t.name !== name) continue
      out.push({
        name: t.name,
        version: t.version,
        last_inference: t.last,
        inference_count: t.items,
        execution_count: t.executions,
        inference_stats: {
          success: { count: t.success, ns: ns(t.successUs) },
          fail: { count: t.fail, ns: 0 },
          queue: { count: t.success, ns: ns(t.queueUs) },
          compute_input: { count: t.success, ns: 0 },
          compute_infer: { count: t.success, ns: ns(t.computeUs) },
          compute_output: { count: t.success, ns: 0 },
          cache_hit: { count: 0, ns: 0 },
          cache_miss: { count: 0, ns: 0 },
        },
        batch_stats: [],
      })
    }
    return out
  }

  backendRestarted() {
    this.restarts.inc()
  }

  /** Per-model window statistics for the dashboard. */
  windowStats(): Record<string, ModelWindowStats> {
    const now = this.now()
    const out: Record<string, ModelWindowStats> = {}
    for (const [name, w] of this.windows) out[name] = w.stats(now)
    return out
  }

  /** The server's metrics, then its process's (process-metrics.ts). */
  async text(): Promise<string> {
    const [own, proc] = await Promise.all([this.registry.metrics(), processMetricsText()])
    return own.endsWith('\n') || own === '' ? own + proc : `${own}\n${proc}`
  }

  get contentType(): string {
    return this.registry.contentType
  }
}

/** One model's counts for the statistics extension (ServerMetrics.modelStats). */
interface Tally {
  name: string
  version: string
  success: number
  fail: number
  /** Inferences: a request of batch n counts n. */
  items: number
  executions: number
  successUs: number
  queueUs: number
  computeUs: number
  /** ms since the epoch of the last request answered (0: none yet). */
  last: number
}
const newTally = (name: string, version: string): Tally => ({
  name,
  version,
  success: 0,
  fail: 0,
  items: 0,
  executions: 0,
  successUs: 0,
  queueUs: 0,
  computeUs: 0,
  last: 0,
})
