// The request path of one model: a bounded FIFO queue and one worker that takes requests in order, merges queued
// requests into one execution up to the model's batch (dynamic batching), and answers every caller exactly once:
// with its outputs, a timeout, or the backend's failure.
import { MAX_TIMER_MS } from '../formats/serve-config.ts'
import {
  BackendUnavailableError,
  concatInputs,
  type ExecResult,
  type RawTensor,
  type ServeBackend,
  type ServedModel,
  type ShmOutput,
  splitOutputs,
} from './backend.ts'
import { ProtocolError } from './kserve/errors.ts'
import type { FailureReason, ServerMetrics } from './metrics.ts'
import type { PlanScheduler } from './scheduling.ts'
import type { ShmRegion } from './shm/region.ts'

export interface WorkerOptions {
  /** Requests that may wait; one more is refused with 429. */
  queueSize: number
  /** From acceptance to answer, ms; a request not answered by then gets 504. */
  timeoutMs: number
  /** Most requests merged into one execution (1: no dynamic batching); items never exceed the model's batch. */
  maxDynamicBatch: number
  /**
   * Executions in flight at once (default: as many as the backend overlaps, else 1). paris-elsa: unbounded, each
   * request goes to the backend's dispatcher at once.
   */
  concurrency?: number
}

export interface Completion {
  outputs: RawTensor[]
  simulated: boolean
  queueUs: number
  computeUs: number
  /** Requests in the execution that served this one. */
  batchedWith: number
  /** The partition that ran it, where the backend chose one (paris-elsa). */
  partition?: string
}

/** One execution in flight: its requests, and the signal that tells the backend nobody waits for it any more. */
interface Execution {
  entries: Entry[]
  /** Made only for a backend that reads it (`ServeBackend.dropsAbandoned`): one per execution costs the event loop. */
  abort?: AbortController
}

interface Entry {
  batch: number
  inputs: RawTensor[]
  receivedAt: number
  enqueuedAt: number
  settled: boolean
  timer?: NodeJS.Timeout
  /** The execution carrying it, once started. */
  execution?: Execution
  /** Outputs to write into the client's shared-memory regions. */
  shmOutputs?: ShmOutput[]
  /** The shared-memory regions its tensors lie in: held (acquired) until it is answered. */
  regions?: ShmRegion[]
  resolve: (c: Completion) => void
  reject: (e: ProtocolError) => void
}

/** Raised to a caller; carries the status and the failure reason metrics count it under. */
export class RequestFailure extends ProtocolError {
  constructor(
    status: number,
    message: string,
    readonly reason: FailureReason,
    headers: Record<string, string> = {},
  ) {
    super(status, message, headers)
  }
}

export class ModelWorker {
  private queue: Entry[] = []
  private executions = new Set<Execution>()
  private generation = 0
  private idleWaiters: (() => void)[] = []

  constructor(
    readonly model: ServedModel,
    readonly options: WorkerOptions,
    private readonly backend: ServeBackend,
    private readonly metrics: ServerMetrics,
    private readonly now: () => number = () => performance.now(),
    /** Told of every request accepted and answered; names the plan each execution runs under (scheduling.ts). */
    private readonly scheduler?: PlanScheduler,
  ) {}

  /** Requests accepted and not yet answered (queued + executing). */
  pending(): number {
    let n = this.queue.length
    for (const x of this.executions) for (const e of x.entries) if (!e.settled) n++
    return n
  }

  /** Whether a request submitted now would be refused with 429 (the server then refuses it before reading its body). */
  full(): boolean {
    return this.waiting() >= this.options.queueSize
  }

  /**
   * Requests waiting to start: in this queue, in the backend's own queues where it keeps some (paris-elsa), and the
   * executions sent ahead of a free slot (they wait in the backend), so that sending ahead does not raise the limit.
   */
  private waiting(): number {
    return (
      this.queue.length +
      (this.backend.waiting?.(this.model.name) ?? 0) +
      Math.max(0, this.executions.size - this.overlap())
    )
  }

  /** Executions in flight at once (`concurrency`, default: as many as the backend overlaps, else 1). */
  private overlap(): number {
    return this.options.concurrency ?? this.backend.executionsInFlight?.() ?? 1
  }

  /**
   * Accepts a request (throws a RequestFailure when the queue is full) and resolves with its result. The returned
   * promise always settles, by `timeoutMs` at the latest (MAX_TIMER_MS at most).
   */
  submit(
    batch: number,
    inputs: RawTensor[],
    receivedAt: number,
    timeoutMs?: number,
    shmOutputs?: ShmOutput[],
  ): Promise<Completion> {
    // the model's limit or the request's own (its `timeout` parameter, a gRPC deadline), whichever is sooner; never
    // past what a timer holds (a longer delay would fire at once)
    const deadlineMs = Math.min(MAX_TIMER_MS, this.options.timeoutMs, timeoutMs ?? MAX_TIMER_MS)
    if (this.waiting() >= this.options.queueSize)
      throw new RequestFailure(
        429,
        `model "${this.model.name}": queue full (${this.options.queueSize} requests waiting); retry later`,
        'REJECTED',
        { 'retry-after': '1' },
      )
    // made outside the closures below, which keep their scope alive until the request is answered: `inputs` must
    // not be in it (pump lets go of the entry's inputs once the backend has them; a large tensor is then garbage)
    const entry: Entry = {
      batch,
      inputs,
      receivedAt,
      enqueuedAt: this.now(),
      settled: false,
      resolve: () => {},
      reject: () => {},
    }
    // a region named by an accepted request stays open until the request is answered (unregistering it meanwhile
    // only takes its name away): nothing accepted loses its tensors
    const regions = shmRegions(inputs, shmOutputs)
    if (regions) {
      acquireAll(regions)
      entry.regions = regions
    }
    if (shmOutputs && shmOutputs.length > 0) entry.shmOutputs = shmOutputs
    return new Promise<Completion>((resolve, reject) => {
      entry.resolve = resolve
      entry.reject = reject
      entry.timer = setTimeout(() => {
        const queued = this.queue.indexOf(entry)
        if (queued >= 0) this.queue.splice(queued, 1)
        // its execution not wanted by anyone any more: a backend that has not started it may drop it
        const x = entry.execution
        if (x?.entries.every((e) => e.settled || e === entry)) x.abort?.abort()
        this.fail(
          entry,
          new RequestFailure(
            504,
            `model "${this.model.name}": request timed out after ${Number(deadlineMs.toFixed(3))} ms (${queued >= 0 ? 'still queued' : 'executing'})`,
            'TIMEOUT',
          ),
        )
        this.notifyIdle()
      }, deadlineMs)
      this.queue.push(entry)
      this.scheduler?.accepted(this.model.name)
      this.pump()
    })
  }

  /** Answers every queued and executing request with `failure` (backend crash, shutdown). */
  failAll(failure: RequestFailure) {
    this.generation++
    const all = [...[...this.executions].flatMap((x) => x.entries), ...this.queue]
    for (const x of this.executions) x.abort?.abort()
    this.executions.clear()
    this.queue = []
    for (const e of all) this.fail(e, failure)
    this.notifyIdle()
  }

  /** Resolves when nothing is queued or executing. */
  idle(): Promise<void> {
    if (this.queue.length === 0 && this.executions.size === 0) return Promise.resolve()
    return new Promise((r) => this.idleWaiters.push(r))
  }

  /**
   * Starts executions while the worker has room for one (`concurrency`, and the backend's executions sent ahead for
   * one that would run alone anyway) and the backend can take it.
   */
  pump() {
    const concurrency = this.overlap()
    const sendsAhead = this.options.concurrency === undefined && !this.scheduler?.switchesPlans
    while (this.queue.length > 0 && this.backend.isReady()) {
      const head = this.queue[0] as Entry
      const ahead =
        sendsAhead && this.runsAlone(head)
          ? (this.backend.executionsAhead?.(this.model.name, head.regions !== undefined) ?? 0)
          : 0
      if (this.executions.size >= concurrency + ahead) break
      this.startOne()
    }
  }

  /**
   * Whether the request at the head of the queue would run in an execution of its own now or later: it names shared
   * memory, or the model does not batch. Only such requests go ahead to the backend (sending one that could batch with
   * later arrivals before a slot is free would make smaller batches).
   */
  private runsAlone(head: Entry): boolean {
    return this.options.maxDynamicBatch <= 1 || head.regions !== undefined
  }

  private startOne() {
    const taken: Entry[] = []
    let items = 0
    while (this.queue.length > 0 && taken.length < this.options.maxDynamicBatch) {
      const next = this.queue[0] as Entry
      if (taken.length > 0 && items + next.batch > this.model.batch) break
      // a request with tensors in shared memory runs alone: its input lies in its client's region and its output
      // goes to another, so merging it with others would mean gathering and scattering bytes through Node — the
      // copies shared memory is there to avoid (clients that use it send full batches anyway)
      if (taken.length > 0 && (next.regions || taken[0]?.regions)) break
      this.queue.shift()
      taken.push(next)
      items += next.batch
    }
    const execution: Execution = {
      entries: taken,
      ...(this.backend.dropsAbandoned ? { abort: new AbortController() } : {}),
    }
    for (const e of taken) e.execution = execution
    this.executions.add(execution)
    const generation = this.generation
    const started = this.now()
    const plan = this.scheduler?.planFor(this.model.name)
    let p: Promise<ExecResult>
    try {
      p = this.backend.infer({
        model: this.model.name,
        ...(plan !== undefined ? { plan } : {}),
        items,
        requests: taken.length,
        inputs: concatInputs(taken.map((e) => e.inputs)),
        ...(execution.abort ? { signal: execution.abort.signal } : {}),
        ...(taken.length === 1 && taken[0]?.shmOutputs ? { shmOutputs: taken[0].shmOutputs } : {}),
      })
    } catch (err) {
      p = Promise.reject(err)
    }
    // the backend has the inputs now: the entries need not keep them (a large tensor is freed as soon as it is sent)
    for (const e of taken) e.inputs = []
    // the execution leaves the worker once its requests are answered; then the next one may start (no .finally: one
    // promise less per execution on the event loop)
    const done = () => {
      if (generation !== this.generation) return
      this.executions.delete(execution)
      this.notifyIdle()
      this.pump()
    }
    p.then(
      (r) => {
        if (generation !== this.generation) return // answered already (crash/shutdown)
        try {
          this.answer(taken, r, started)
        } finally {
          done()
        }
      },
      (err: unknown) => {
        if (generation !== this.generation) return
        const crash = err instanceof BackendUnavailableError
        const failure = new RequestFailure(
          crash ? 503 : 500,
          `model "${this.model.name}": backend ${crash ? 'crashed' : 'failed'}: ${err instanceof Error ? err.message : String(err)}`,
          'BACKEND',
          crash ? { 'retry-after': '1' } : {},
        )
        for (const e of taken) this.fail(e, failure)
        done()
      },
    )
  }

  /** Answers the requests of an execution that succeeded: metrics, their share of the outputs, their callers. */
  private answer(taken: Entry[], r: ExecResult, started: number) {
    this.metrics.execution(this.model.name, this.model.version, r.computeUs)
    const parts =
      r.outputs.length > 0
        ? splitOutputs(
            r.outputs,
            taken.map((e) => e.batch),
          )
        : []
    taken.forEach((e, i) => {
      if (e.settled) return
      e.settled = true
      clearTimeout(e.timer)
      if (e.regions) releaseAll(e.regions)
      this.scheduler?.answered(this.model.name)
      // the server's queue, then the backend's (a partition's queue, paris-elsa)
      const queueUs = (started - e.enqueuedAt) * 1000 + (r.waitedUs ?? 0)
      const totalUs = (this.now() - e.receivedAt) * 1000
      this.metrics.requestOk(this.model.name, this.model.version, e.batch, {
        queueUs,
        computeUs: r.computeUs,
        totalUs,
      })
      e.resolve({
        outputs: parts[i] ?? [],
        simulated: r.simulated,
        queueUs,
        computeUs: r.computeUs,
        batchedWith: taken.length,
        ...(r.partition !== undefined ? { partition: r.partition } : {}),
      })
    })
  }

  private fail(e: Entry, failure: RequestFailure) {
    if (e.settled) return
    e.settled = true
    clearTimeout(e.timer)
    if (e.regions) releaseAll(e.regions)
    this.scheduler?.answered(this.model.name)
    this.metrics.requestFailed(this.model.name, this.model.version, failure.reason)
    e.reject(failure)
  }

  private notifyIdle() {
    if (this.queue.length > 0 || this.executions.size > 0) return
    const w = this.idleWaiters
    this.idleWaiters = []
    for (const r of w) r()
  }
}

/**
 * The regions a request's tensors lie in (each once), or undefined when it has none: the common case allocates
 * nothing.
 */
function shmRegions(inputs: RawTensor[], outputs: ShmOutput[] | undefined): ShmRegion[] | undefined {
  let out: ShmRegion[] | undefined
  const add = (r: ShmRegion) => {
    if (!out) out = [r]
    else if (!out.includes(r)) out.push(r)
  }
  for (const t of inputs) if (t.shm) add(t.shm.region)
  if (outputs) for (const o of outputs) add(o.shm.region)
  return out
}

function acquireAll(regions: ShmRegion[]) {
  let i = 0
  try {
    for (; i < regions.length; i++) (regions[i] as ShmRegion).acquire()
  } catch (err) {
    for (let j = 0; j < i; j++) (regions[j] as ShmRegion).release()
    throw err
  }
}

function releaseAll(regions: ShmRegion[]) {
  for (const r of regions) r.release()
}
