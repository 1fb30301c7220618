// ELSA on the request path of `eclip serve` (policy paris-elsa): the online dispatcher over PARIS's partitions of
// every GPU of the host. It keeps one PartitionBacklog per partition (src/paris/elsa.ts) and applies the simulator's
// rules (src/paris/sim.ts `simulateQueries`) to real requests as they arrive:
//
// - at arrival, each partition's estimated finish for the request: now + its estimate on an idle partition, else
//   estimatedFinish (what remains of the running request by its estimate + the estimates queued behind it + its own);
//   elsaChoose picks the smallest partition whose estimate is within sloMargin × the SLO, else the earliest finisher;
// - a partition runs one request at a time, its queue in FIFO order; when one completes the next starts at once and
//   its estimated end becomes now + its estimate (the backlog drops a queued estimate as it starts);
// - estimates only: a request that overruns its estimate keeps its partition busy ("until now") and nothing else.
//
// What serving adds to the simulator: a request whose caller gave up (timeout) before it started leaves its
// partition's queue and backlog; a crash resets every backlog (the server answers the requests itself). The same
// sequence of arrivals and completions gives the same choices as the simulator (test/serve/paris.test.ts drives both
// on one trace). Times are µs on the dispatcher's clock (`now`).
import {
  DEFAULT_ELSA,
  earliestChoose,
  elsaChoose,
  estimatedFinish,
  type PartitionBacklog,
} from '../paris/elsa.ts'

export interface DispatchOptions {
  /** The dispatcher's clock, µs. */
  now: () => number
  /** ELSA's margin (elsa.ts): a partition meets the SLO when its estimated finish is within margin × SLO. */
  sloMargin?: number
  /** `least-loaded`: the earliest finisher always (ELSA's fallback alone); default `elsa`. */
  dispatch?: 'elsa' | 'least-loaded'
}

/** One request in the dispatcher: its job, its estimate on the partition it went to, its caller. */
interface Query<J, R> {
  job: J
  /** Its estimate on the partition it was sent to, µs. */
  est: number
  resolve: (r: { result: R; partition: number }) => void
  reject: (e: Error) => void
  settled: boolean
}

interface PartState<J, R> extends PartitionBacklog {
  sms: number
  running: Query<J, R> | null
  queue: Query<J, R>[]
  /** Requests this partition has started (and finished or not) since the start. */
  started: number
}

export interface PartitionLoad {
  /** Requests waiting in its FIFO (not the running one). */
  queued: number
  running: boolean
  /** Its backlog as ELSA sees it, µs from now: what remains of the running request + the queued estimates. */
  backlogUs: number
  started: number
}

/** Raised to the caller of a request that left its queue before it started (its signal aborted). */
export class DispatchAborted extends Error {
  override name = 'DispatchAborted'
}

export class ElsaDispatcher<J, R> {
  private readonly parts: PartState<J, R>[]
  private readonly sms: Float64Array
  /** Scratch of submit, per partition: the request's estimate and its estimated finish there. */
  private readonly ests: Float64Array
  private readonly finish: Float64Array
  private generation = 0

  /**
   * `sms[i]`: partition i's SMs; `est(job, i)`: the job's latency-table estimate on partition i, µs; `run(i, job)`:
   * executes the job on partition i (called once per job, when the partition starts it).
   */
  constructor(
    sms: readonly number[],
    private readonly est: (job: J, partition: number) => number,
    private readonly run: (partition: number, job: J) => Promise<R>,
    private readonly opts: DispatchOptions,
  ) {
    this.parts = sms.map((s) => ({
      sms: s,
      running: null,
      queue: [],
      runningEstEnd: 0,
      queuedEst: 0,
      started: 0,
    }))
    this.sms = Float64Array.from(sms)
    this.ests = new Float64Array(sms.length)
    this.finish = new Float64Array(sms.length)
  }

  /**
   * Dispatches one request with latency objective `sloUs`; resolves with its result and the partition that ran it.
   * An abort before the request starts takes it out of its queue (rejects with DispatchAborted); after, it runs on.
   */
  submit(job: J, sloUs: number, signal?: AbortSignal): Promise<{ result: R; partition: number }> {
    if (signal?.aborted) return Promise.reject(new DispatchAborted('aborted before it was dispatched'))
    const now = this.opts.now()
    const n = this.parts.length
    for (let i = 0; i < n; i++) {
      const p = this.parts[i] as PartState<J, R>
      const e = this.est(job, i)
      this.ests[i] = e
      this.finish[i] = p.running === null ? now + e : estimatedFinish(p, now, e)
    }
    const margin = this.opts.sloMargin ?? DEFAULT_ELSA.sloMargin
    const pi =
      this.opts.dispatch === 'least-loaded'
        ? earliestChoose(this.finish)
        : elsaChoose(this.sms, this.finish, now + margin * sloUs)
    const p = this.parts[pi] as PartState<J, R>
    return new Promise((resolve, reject) => {
      const q: Query<J, R> = { job, est: this.ests[pi] as number, resolve, reject, settled: false }
      if (p.running === null) this.start(pi, q, now)
      else {
        p.queue.push(q)
        p.queuedEst += q.est
        signal?.addEventListener('abort', () => this.dequeue(pi, q), { once: true })
      }
    })
  }

  /** Each partition's load now (metrics, dashboard). */
  loads(): PartitionLoad[] {
    const now = this.opts.now()
    return this.parts.map((p) => ({
      queued: p.queue.length,
      running: p.running !== null,
      backlogUs: (p.running === null ? 0 : Math.max(0, p.runningEstEnd - now)) + p.queuedEst,
      started: p.started,
    }))
  }

  /** Forgets every backlog (a crash): queued and running requests are rejected with `err`. */
  reset(err: Error): void {
    this.generation++
    for (const p of this.parts) {
      const all = [...(p.running ? [p.running] : []), ...p.queue]
      p.running = null
      p.queue = []
      p.queuedEst = 0
      p.runningEstEnd = 0
      for (const q of all) settle(q, () => q.reject(err))
    }
  }

  private start(pi: number, q: Query<J, R>, now: number): void {
    const p = this.parts[pi] as PartState<J, R>
    p.running = q
    p.runningEstEnd = now + q.est
    p.started++
    const generation = this.generation
    let done: Promise<R>
    try {
      done = this.run(pi, q.job)
    } catch (err) {
      done = Promise.reject(err)
    }
    done.then(
      (result) => this.complete(pi, q, generation, () => q.resolve({ result, partition: pi })),
      (err: unknown) =>
        this.complete(pi, q, generation, () => q.reject(err instanceof Error ? err : new Error(String(err)))),
    )
  }

  /** The partition is free: its next request starts now (before this one's caller hears back), as in sim.ts. */
  private complete(pi: number, q: Query<J, R>, generation: number, answer: () => void): void {
    if (generation !== this.generation) return // reset meanwhile: answered already, the backlog is gone
    const p = this.parts[pi] as PartState<J, R>
    p.running = null
    const next = p.queue.shift()
    if (next) {
      p.queuedEst -= next.est
      if (p.queue.length === 0) p.queuedEst = 0 // drop float drift when the queue empties (as sim.ts does)
      this.start(pi, next, this.opts.now())
    }
    settle(q, answer)
  }

  private dequeue(pi: number, q: Query<J, R>): void {
    const p = this.parts[pi] as PartState<J, R>
    const at = p.queue.indexOf(q)
    if (at < 0) return // started (or reset) already
    p.queue.splice(at, 1)
    p.queuedEst = p.queue.length === 0 ? 0 : p.queuedEst - q.est
    settle(q, () => q.reject(new DispatchAborted('left its partition’s queue before it started')))
  }
}

function settle<J, R>(q: Query<J, R>, answer: () => void): void {
  if (q.settled) return
  q.settled = true
  answer()
}
