// The backend the server sees under policy paris-elsa: ELSA's dispatcher (paris-dispatch.ts) over PARIS's partitions
// of every GPU of the host, in front of an executor that runs one request on one named partition at a time:
//
// - sim: no model runs; a request holds its partition for the latency table's time at its batch on that
//   partition's SMs (the estimate ELSA dispatched it by) and is answered without outputs, marked simulated;
// - gpu: the Python GPU backend (one process for all the host's GPUs, as `eclip paris --backend gpu` drives them)
//   with every model captured on every partition at each batch of its mix (gpu/eclip_gpu/paris_serve.py); the
//   server's GpuServeBackend carries the request, naming the partition.
//
// The server's per-model worker hands each request over at once (no dynamic batching: each request is one query),
// so the backlogs live here, where ELSA sees all of them; the model's queue limit counts the requests waiting in
// partition queues (`waiting`). A request runs at the smallest captured batch that holds it, padded (paris_serve.py
// does the same), and ELSA estimates it at that batch. A crash of the executor answers everything here with a crash
// and forgets every backlog; the server restarts it (the GPU backend: a fresh process, every graph captured again).
import type { Gpu } from '../formats/gpu.ts'
import type { LatencyTable } from '../formats/latency-table.ts'
import { latencyUs } from '../paris/latency.ts'
import {
  BackendEvents,
  BackendUnavailableError,
  type ExecRequest,
  type ExecResult,
  type PartitionStatus,
  type PowerReading,
  type ServeBackend,
  type ServedModel,
} from './backend.ts'
import { GpuServeBackend, type GpuServeOptions } from './gpu-backend.ts'
import { ElsaDispatcher } from './paris-dispatch.ts'
import { SimEnergy, simStart } from './sim-backend.ts'

/** One partition of the server: slices of GPU `gpu`'s one split (src/paris/partition.ts's Partition). */
export interface ParisPartition {
  id: string
  gpu: number
  slices: number[]
  sms: number
}

/** What ELSA needs of a served model: its SLO, the batches it is captured at, its latency table. */
export interface ParisModel {
  /** The served (KServe) name. */
  name: string
  sloUs: number
  /** Captured batch sizes, ascending; the last is the model's batch. */
  captured: number[]
  table: LatencyTable
}

/** The smallest captured batch that holds `items`, or undefined (more items than the model's batch). */
export function capturedBatch(captured: readonly number[], items: number): number | undefined {
  return captured.find((b) => b >= items)
}

/** Runs one request on one partition; what ParisBackend dispatches to. */
export interface PartitionExecutor {
  readonly kind: 'sim' | 'gpu'
  load(models: ServedModel[]): Promise<void>
  /** Runs `req` on partition `partition` (index into the partitions) at captured batch `batch`. */
  execute(partition: number, req: ExecRequest, batch: number): Promise<ExecResult>
  restart(): Promise<void>
  power(): PowerReading | undefined
  close(): Promise<void>
  /** A crash: everything in flight is lost. Returns the unsubscribe function. */
  onCrash(listener: (reason: string) => void): () => void
}

interface Job {
  model: number
  batchIdx: number
  req: ExecRequest
  started: boolean
  /** When it was dispatched and when its partition started it (performance.now(), ms). */
  submittedAt: number
  startedAt: number
}

export class ParisBackend extends BackendEvents implements ServeBackend {
  readonly dropsAbandoned = true
  readonly kind: 'sim' | 'gpu'
  private readonly byName: Map<string, number>
  /** est[model][batchIdx][partition], µs: the latency table at that captured batch on that partition's SMs. */
  private readonly est: number[][][]
  private readonly dispatcher: ElsaDispatcher<Job, ExecResult>
  private readonly executions: Map<string, number>[]
  private readonly waitingByModel: number[]
  private readonly unsubscribe: () => void

  constructor(
    readonly partitionList: ParisPartition[],
    readonly models: ParisModel[],
    private readonly executor: PartitionExecutor,
    opts: { sloMargin?: number; now?: () => number } = {},
  ) {
    super()
    this.kind = executor.kind
    this.byName = new Map(models.map((m, i) => [m.name, i]))
    this.est = models.map((m) =>
      m.captured.map((b) => partitionList.map((p) => latencyUs(m.table, b, p.sms))),
    )
    this.executions = partitionList.map(() => new Map())
    this.waitingByModel = models.map(() => 0)
    const now = opts.now ?? (() => performance.now() * 1000)
    this.dispatcher = new ElsaDispatcher<Job, ExecResult>(
      partitionList.map((p) => p.sms),
      (job, pi) => this.est[job.model]?.[job.batchIdx]?.[pi] ?? Number.NaN,
      (pi, job) => {
        this.leaveWaiting(job)
        job.startedAt = performance.now()
        const m = this.models[job.model] as ParisModel
        return this.executor.execute(pi, job.req, m.captured[job.batchIdx] as number)
      },
      { now, ...(opts.sloMargin !== undefined ? { sloMargin: opts.sloMargin } : {}) },
    )
    this.unsubscribe = executor.onCrash((reason) => {
      if (!this.ready) return
      this.ready = false
      this.dispatcher.reset(new BackendUnavailableError(reason))
      this.emit({ type: 'crash', reason })
    })
  }

  async load(models: ServedModel[]): Promise<void> {
    for (const m of models)
      if (!this.byName.has(m.name)) throw new Error(`model "${m.name}" has no load for paris-elsa`)
    await this.executor.load(models)
    this.ready = true
    this.emit({ type: 'ready' })
  }

  infer(req: ExecRequest): Promise<ExecResult> {
    if (!this.ready) return Promise.reject(new BackendUnavailableError('the backend is not ready'))
    const mi = this.byName.get(req.model)
    if (mi === undefined) return Promise.reject(new Error(`model "${req.model}" is not loaded`))
    const m = this.models[mi] as ParisModel
    const batch = capturedBatch(m.captured, req.items)
    if (batch === undefined)
      return Promise.reject(
        new Error(`model "${req.model}": ${req.items} items, captured up to ${m.captured.at(-1)}`),
      )
    const now = performance.now()
    const job: Job = {
      model: mi,
      batchIdx: m.captured.indexOf(batch),
      req,
      started: false,
      submittedAt: now,
      startedAt: now,
    }
    this.waitingByModel[mi] = (this.waitingByModel[mi] ?? 0) + 1
    return this.dispatcher.submit(job, m.sloUs, req.signal).then(
      ({ result, partition }) => {
        const served = this.executions[partition] as Map<string, number>
        served.set(m.name, (served.get(m.name) ?? 0) + 1)
        return {
          ...result,
          partition: (this.partitionList[partition] as ParisPartition).id,
          waitedUs: (job.startedAt - job.submittedAt) * 1000,
        }
      },
      (err: unknown) => {
        this.leaveWaiting(job) // aborted in its queue, or the backlogs were reset
        throw err
      },
    )
  }

  waiting(model: string): number {
    const mi = this.byName.get(model)
    return mi === undefined ? 0 : (this.waitingByModel[mi] ?? 0)
  }

  partitions(): PartitionStatus[] {
    const loads = this.dispatcher.loads()
    return this.partitionList.map((p, i) => {
      const l = loads[i]
      return {
        id: p.id,
        gpu: p.gpu,
        sms: p.sms,
        slices: p.slices,
        queued: l?.queued ?? 0,
        running: l?.running ?? false,
        backlogUs: l?.backlogUs ?? 0,
        executions: Object.fromEntries(this.executions[i] ?? []),
      }
    })
  }

  async restart(): Promise<void> {
    this.ready = false
    this.dispatcher.reset(new BackendUnavailableError('the backend is restarting'))
    this.waitingByModel.fill(0)
    await this.executor.restart()
    this.ready = true
    this.emit({ type: 'ready' })
  }

  power(): PowerReading | undefined {
    return this.executor.power()
  }

  async close(): Promise<void> {
    this.ready = false
    this.unsubscribe()
    this.dispatcher.reset(new BackendUnavailableError('the backend is closed'))
    await this.executor.close()
  }

  private leaveWaiting(job: Job): void {
    if (job.started) return
    job.started = true
    this.waitingByModel[job.model] = Math.max(0, (this.waitingByModel[job.model] ?? 0) - 1)
  }
}

/**
 * The simulator: runs no model. A request holds its partition for the latency table's time at its batch on the
 * partition's SMs, and is answered with no outputs, marked simulated. Power is modelled per GPU: idle power plus the
 * dynamic range times the share of the GPU's SMs whose partitions are busy — reported as simulated.
 */
export class SimPartitions implements PartitionExecutor {
  readonly kind = 'sim' as const
  private readonly virtualEnd = new Map<number, number>()
  private readonly busy = new Set<number>()
  private readonly timers = new Set<{ timer: NodeJS.Timeout; reject: (e: Error) => void }>()
  private readonly listeners = new Set<(reason: string) => void>()
  private readonly byName: Map<string, ParisModel>
  private readonly energy = new SimEnergy(() => this.wattsNow())

  constructor(
    private readonly partitionList: ParisPartition[],
    models: ParisModel[],
    private readonly gpu: Gpu,
    private readonly gpus: number,
    private readonly powerModel: { idleW: number; maxW: number } = { idleW: 100, maxW: 700 },
  ) {
    this.byName = new Map(models.map((m) => [m.name, m]))
  }

  async load(): Promise<void> {}

  execute(pi: number, req: ExecRequest, batch: number): Promise<ExecResult> {
    const m = this.byName.get(req.model)
    const part = this.partitionList[pi]
    if (!m || !part) return Promise.reject(new Error(`no model "${req.model}" or partition ${pi}`))
    const us = latencyUs(m.table, batch, part.sms)
    // a partition kept busy back to back starts its next request at the modelled end of the previous one
    const now = performance.now()
    const end = simStart(now, this.virtualEnd.get(pi)) + us / 1000
    this.virtualEnd.set(pi, end)
    this.setBusy(pi, true)
    return new Promise((resolve, reject) => {
      const entry = {
        timer: setTimeout(
          () => {
            this.timers.delete(entry)
            this.setBusy(pi, false)
            resolve({ outputs: [], simulated: true, computeUs: us })
          },
          Math.max(0, end - now),
        ),
        reject,
      }
      this.timers.add(entry)
    })
  }

  async restart(): Promise<void> {
    this.abortAll('restarted')
  }

  power(): PowerReading {
    const name = this.gpus > 1 ? `${this.gpus}x ${this.gpu.name}` : this.gpu.name
    return { ...this.energy.read(), source: 'simulated', gpu: `sim ${name}` }
  }

  async close(): Promise<void> {
    this.abortAll('closed')
  }

  onCrash(listener: (reason: string) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  private abortAll(why: string) {
    for (const e of this.timers) {
      clearTimeout(e.timer)
      e.reject(new BackendUnavailableError(`simulator ${why}`))
    }
    this.timers.clear()
    this.energy.integrate()
    this.busy.clear()
    this.virtualEnd.clear()
  }

  private wattsNow(): number {
    const { idleW, maxW } = this.powerModel
    let busySms = 0
    for (const pi of this.busy) busySms += this.partitionList[pi]?.sms ?? 0
    return this.gpus * idleW + ((maxW - idleW) * busySms) / this.gpu.smCount
  }

  private setBusy(pi: number, busy: boolean) {
    this.energy.integrate()
    if (busy) this.busy.add(pi)
    else this.busy.delete(pi)
  }
}

/**
 * The GPU: the Python GPU backend process (GpuServeBackend: rings, load checks, NVML, crash → exit) loaded with the
 * partitions; one process drives every GPU of the host (each partition names its CUDA ordinal).
 */
export class GpuPartitions implements PartitionExecutor {
  readonly kind = 'gpu' as const
  readonly backend: GpuServeBackend

  constructor(
    private readonly partitionList: ParisPartition[],
    opts: GpuServeOptions,
  ) {
    this.backend = new GpuServeBackend({ ...opts, partitions: partitionList })
  }

  load(models: ServedModel[]): Promise<void> {
    return this.backend.load(models)
  }

  execute(pi: number, req: ExecRequest): Promise<ExecResult> {
    const part = this.partitionList[pi]
    if (!part) return Promise.reject(new Error(`no partition ${pi}`))
    return this.backend.infer({ ...req, partition: part.id })
  }

  restart(): Promise<void> {
    return this.backend.restart()
  }

  power(): PowerReading | undefined {
    return this.backend.power()
  }

  close(): Promise<void> {
    return this.backend.close()
  }

  onCrash(listener: (reason: string) => void): () => void {
    return this.backend.onEvent((e) => {
      if (e.type === 'crash') listener(e.reason)
    })
  }
}
