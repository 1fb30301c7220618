// The one client of the GPU backend: `python3 -m eclip_gpu backend` (gpu/eclip_gpu) as a child process, spoken to
// over fds 3/4 (frames.ts) in the messages of protocol.ts. BackendProcess owns its lifetime — spawn, crash → exit
// listeners, timeouts (a hung backend is killed), kill with us (no orphans), a fresh process after a crash (a CUDA
// error poisons the old one: it exits 3 rather than limp on) — and has one typed method per request, which checks
// the reply against its schema: `eclip bench` (backend.ts: one run at a time), `eclip serve` (src/serve/
// gpu-backend.ts: many infers in flight, matched by id) and `eclip paris` (src/paris/gpu.ts) call these and build
// no message of their own.
import { type ChildProcess, spawn } from 'node:child_process'
import type { Readable, Writable } from 'node:stream'
import { UserError } from '../../formats/errors.ts'
import type { Gpu } from '../../formats/index.ts'
import { GPU_PACKAGE_DIR } from '../../paths.ts'
import { FrameDecoder, FrameWriter, frameFlushFromEnv } from './frames.ts'
import {
  checkMessage,
  type FromBackend,
  type InferMessage,
  type KeyedPlan,
  type LoadMessage,
  type LoadModelMessage,
  type ParisRunMessage,
  type ParisTableMessage,
  type ProtocolError,
  type ReplyOf,
  type RunMessage,
  repliesById,
  type ShmRegisterMessage,
  type ToBackend,
} from './protocol.ts'

export class BackendCrash extends UserError {
  override name = 'BackendCrash'
}

/** The backend answered a request with a (non-fatal) error: the process is still usable. */
export class BackendReplyError extends UserError {
  override name = 'BackendReplyError'
}

export interface BackendProcessOptions {
  /** Python with torch + cuda-bindings + nvidia-ml-py; default $ECLIP_PYTHON or python3. */
  python?: string
  log?: (line: string) => void
  /** Seconds the backend may take to come up (CUDA init, reading the slice layout). */
  startTimeoutS?: number
  /** Extra environment, e.g. CUDA_VISIBLE_DEVICES: one backend process per GPU (`eclip paris --device`). */
  env?: Record<string, string>
}

/** A request's fields as its caller gives them: the type is the method's, the id the process's to assign. */
type Fields<T> = Omit<T, 'type' | 'id'>

interface Waiter {
  resolve: (m: FromBackend, body: Buffer) => void
  reject: (e: Error) => void
  /** An infer's deadline (performance.now(), ms) and limit, checked by the sweep rather than a timer of its own. */
  deadline?: number
  timeoutS?: number
}

export class BackendProcess {
  gpu!: Gpu
  versions: Record<string, string> = {}
  /** Why the current process is gone (null while it runs). */
  exited: Error | null = null
  private child!: ChildProcess
  private toChild!: Writable
  /** Frames to the process, those written together in one write (FrameWriter). */
  private writer!: FrameWriter
  private waiting: Waiter | null = null
  private byId = new Map<number, Waiter>()
  private nextId = 1
  private exitListeners = new Set<(err: Error) => void>()
  /** Looks for infers past their deadline (one timer for all of them, not one per request), and how often, ms. */
  private sweeper: NodeJS.Timeout | undefined
  private sweepMs = Number.POSITIVE_INFINITY
  private readonly onParentExit = () => this.child.kill('SIGKILL')

  private constructor(private readonly opts: BackendProcessOptions) {
    this.spawnChild()
    process.once('exit', this.onParentExit)
  }

  /** Spawns the backend and waits for its hello; a backend that cannot come up is killed, not left behind. */
  static async start(opts: BackendProcessOptions = {}): Promise<BackendProcess> {
    const p = new BackendProcess(opts)
    try {
      await p.hello()
      return p
    } catch (err) {
      await p.kill() // it would keep this process alive
      throw err
    }
  }

  /**
   * The GPU a backend reports when it comes up (its `ready`), the process shut down again: for a caller that must
   * know the GPU before it starts its own backends (serve-bench picks the profiles of this GPU).
   */
  static async probe(opts: BackendProcessOptions = {}): Promise<Gpu> {
    const p = await BackendProcess.start(opts)
    await p.close()
    return p.gpu
  }

  get pid(): number | undefined {
    return this.child.pid
  }

  private spawnChild() {
    const python = this.opts.python ?? process.env.ECLIP_PYTHON ?? 'python3'
    const flushAt = frameFlushFromEnv() // a bad setting refused before a process is started
    const child = spawn(python, ['-m', 'eclip_gpu', 'backend'], {
      stdio: ['ignore', 'inherit', 'inherit', 'pipe', 'pipe'],
      env: {
        ...process.env,
        ...this.opts.env,
        PYTHONPATH: [GPU_PACKAGE_DIR, process.env.PYTHONPATH].filter(Boolean).join(':'),
      },
    })
    this.child = child
    this.toChild = child.stdio[3] as Writable
    this.writer = new FrameWriter(this.toChild, flushAt)
    const decoder = new FrameDecoder()
    ;(child.stdio[4] as Readable).on('data', (chunk: Buffer) => {
      for (const f of decoder.push(chunk)) this.receive(f.header, f.body)
    })
    this.toChild.on('error', () => {}) // EPIPE after a crash surfaces through 'exit'
    // a late event of a process already replaced (killed on a timeout, then respawned) concerns nobody
    child.on('error', (err) => {
      if (child === this.child)
        this.fail(new BackendCrash(`cannot start the GPU backend (${python}): ${err.message}`))
    })
    child.on('exit', (code, signal) => {
      if (child === this.child)
        this.fail(
          new BackendCrash(
            `the GPU backend exited (${signal ? `signal ${signal}` : `code ${code}`})${code === 3 ? ': fatal CUDA error' : ''}`,
          ),
        )
    })
  }

  private async hello(): Promise<void> {
    const ready = expect(
      await this.request({ type: 'hello' }, this.opts.startTimeoutS ?? 300),
      'ready',
      'hello',
    )
    this.gpu = ready.gpu
    this.versions = ready.versions
  }

  // ── the requests (protocol.ts), each answered by one reply type ──────────────────────────────────────────────

  /** bench: one run; `timeoutS` covers warm-up, window and captures. */
  async run(msg: Fields<RunMessage>, timeoutS: number): Promise<ReplyOf<'result'>> {
    return expect(await this.request({ type: 'run', ...msg }, timeoutS), 'result', 'run')
  }

  /** serve: builds, partitions and captures every worker. */
  async load(msg: Fields<LoadMessage>, timeoutS: number): Promise<ReplyOf<'loaded'>> {
    return expect(await this.request({ type: 'load', ...msg }, timeoutS), 'loaded', 'load')
  }

  /**
   * serve, eclip-live: one more worker built and captured while the others serve (model_control.py); past `timeoutS`
   * the backend counts as hung and is killed.
   */
  async loadModel(msg: Fields<LoadModelMessage>, timeoutS: number): Promise<ReplyOf<'model-loaded'>> {
    const id = this.nextId++
    return (
      await this.call(id, { type: 'load-model', id, ...msg }, undefined, timeoutS, true, 'model-loaded')
    ).header
  }

  /** serve, eclip-live: a worker finishes what it holds and goes. */
  async unloadModel(name: string, timeoutS: number): Promise<ReplyOf<'model-unloaded'>> {
    const id = this.nextId++
    const m = { type: 'unload-model', id, name } as const
    return (await this.call(id, m, undefined, timeoutS, true, 'model-unloaded')).header
  }

  /** serve, eclip-live: the loaded workers captured under plans made since they were loaded. */
  async addPlans(plans: KeyedPlan[], timeoutS: number): Promise<ReplyOf<'plans-added'>> {
    const id = this.nextId++
    const m = { type: 'add-plans', id, plans } as const
    return (await this.call(id, m, undefined, timeoutS, true, 'plans-added')).header
  }

  /**
   * serve: one execution, `body` the input's bytes unless the message says where they lie; any number in flight.
   * Past `timeoutS` the backend counts as hung and is killed.
   */
  infer(
    msg: Fields<InferMessage>,
    body: Uint8Array | undefined,
    timeoutS: number,
  ): Promise<{ header: ReplyOf<'output'>; body: Buffer }> {
    if (this.exited) return Promise.reject(this.exited)
    const id = this.nextId++
    // thousands a second: no timer each (setting and clearing one per request costs the event loop); the sweep
    // finds one that is overdue within an eighth of its limit
    return new Promise((resolve, reject) => {
      this.byId.set(id, {
        resolve: (m, b) => {
          if (m.type === 'output') resolve({ header: m, body: b })
          else reject(new BackendReplyError(`GPU backend answered ${m.type} to infer`))
        },
        reject,
        deadline: performance.now() + timeoutS * 1000,
        timeoutS,
      })
      this.watch(timeoutS)
      this.send({ type: 'infer', id, ...msg }, body)
    })
  }

  /** Makes sure infers in flight are checked at least every eighth of `timeoutS` (10 ms to 1 s). */
  private watch(timeoutS: number) {
    const ms = Math.max(10, Math.min(1000, (timeoutS * 1000) / 8))
    if (this.sweeper && ms >= this.sweepMs) return
    clearInterval(this.sweeper)
    this.sweepMs = ms
    this.sweeper = setInterval(() => this.sweep(), ms)
    this.sweeper.unref()
  }

  /** An infer past its deadline: the backend is hung, killed (its exit fails every other request in flight). */
  private sweep() {
    const now = performance.now()
    let waiting = false
    for (const [id, w] of this.byId) {
      if (w.deadline === undefined) continue
      if (w.deadline > now) {
        waiting = true
        continue
      }
      this.byId.delete(id)
      w.reject(this.killHung('infer', w.timeoutS ?? 0))
      return
    }
    if (!waiting) this.stopSweep()
  }

  private stopSweep() {
    clearInterval(this.sweeper)
    this.sweeper = undefined
    this.sweepMs = Number.POSITIVE_INFINITY
  }

  /** serve: NVML power and energy (also the backend's ping); a slow reading fails alone, nothing is killed. */
  async power(timeoutS: number): Promise<ReplyOf<'power'>> {
    const id = this.nextId++
    return (await this.call(id, { type: 'power', id }, undefined, timeoutS, false, 'power')).header
  }

  /** serve: opens a client's shared-memory region in the backend. */
  async registerRegion(
    msg: Fields<ShmRegisterMessage>,
    timeoutS: number,
  ): Promise<ReplyOf<'shm-registered'>> {
    const id = this.nextId++
    const m = { type: 'shm-register', id, ...msg } as const
    return (await this.call(id, m, undefined, timeoutS, false, 'shm-registered')).header
  }

  /** serve: closes a region (now, or once the requests holding it are done). */
  async unregisterRegion(name: string, timeoutS: number): Promise<ReplyOf<'shm-unregistered'>> {
    const id = this.nextId++
    const m = { type: 'shm-unregister', id, name } as const
    return (await this.call(id, m, undefined, timeoutS, false, 'shm-unregistered')).header
  }

  /** paris: one model's latency table, measured. */
  async parisTable(msg: Fields<ParisTableMessage>, timeoutS: number): Promise<ReplyOf<'latency-table'>> {
    return expect(
      await this.request({ type: 'paris-table', ...msg }, timeoutS),
      'latency-table',
      'paris-table',
    )
  }

  /** paris: one trace replayed in real time on a layout's partitions. */
  async parisRun(msg: Fields<ParisRunMessage>, timeoutS: number): Promise<ReplyOf<'paris-result'>> {
    return expect(await this.request({ type: 'paris-run', ...msg }, timeoutS), 'paris-result', 'paris-run')
  }

  /** paris: how many GPUs the backend sees, and the slice layouts of the first `count`. */
  async parisGpus(key: string, count: number, timeoutS: number): Promise<ReplyOf<'paris-gpus'>> {
    return expect(
      await this.request({ type: 'paris-gpus', key, count }, timeoutS),
      'paris-gpus',
      'paris-gpus',
    )
  }

  /** After a crash: a fresh backend process (a CUDA error poisons the old one; it is never reused). */
  async respawn(): Promise<void> {
    if (!this.exited) return
    this.opts.log?.(`gpu: restarting the backend after: ${this.exited.message}`)
    this.exited = null
    this.spawnChild()
    await this.hello()
  }

  /** Called once per death of the process (exit, failed spawn, killed on a timeout). */
  onExit(listener: (err: Error) => void): () => void {
    this.exitListeners.add(listener)
    return () => this.exitListeners.delete(listener)
  }

  /** One serial request (hello, run, load, paris-*): the next reply without an id answers it. */
  private request(msg: ToBackend, timeoutS: number): Promise<FromBackend> {
    if (this.exited) return Promise.reject(this.exited)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = null
        reject(this.killHung(msg.type, timeoutS))
      }, timeoutS * 1000)
      this.waiting = {
        resolve: (m) => {
          clearTimeout(timer)
          resolve(m)
        },
        reject: (e) => {
          clearTimeout(timer)
          reject(e)
        },
      }
      this.send(msg)
    })
  }

  /**
   * A request matched by id (infer, power, shm-(un)register, model control): any number may be in flight. An error
   * reply rejects with BackendReplyError (BackendCrash when fatal), a reply of another type than `answer` with
   * BackendReplyError; the process dying rejects with BackendCrash. Past `timeoutS` the backend counts as hung and is
   * killed, unless `killOnTimeout` is false (then only this call fails).
   */
  private call<
    K extends
      | 'power'
      | 'shm-registered'
      | 'shm-unregistered'
      | 'model-loaded'
      | 'model-unloaded'
      | 'plans-added',
  >(
    id: number,
    msg: ToBackend,
    body: Uint8Array | undefined,
    timeoutS: number,
    killOnTimeout: boolean,
    answer: K,
  ): Promise<{ header: ReplyOf<K>; body: Buffer }> {
    if (this.exited) return Promise.reject(this.exited)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.byId.delete(id)
        reject(
          killOnTimeout
            ? this.killHung(msg.type, timeoutS)
            : new BackendReplyError(`the GPU backend did not answer ${msg.type} within ${timeoutS} s`),
        )
      }, timeoutS * 1000)
      this.byId.set(id, {
        resolve: (m, b) => {
          clearTimeout(timer)
          if (m.type === answer) resolve({ header: m as ReplyOf<K>, body: b })
          else reject(new BackendReplyError(`GPU backend answered ${m.type} to ${msg.type}`))
        },
        reject: (e) => {
          clearTimeout(timer)
          reject(e)
        },
      })
      this.send(msg, body)
    })
  }

  /** Frames sent to the current process and the writes that carried them (frames written together share one). */
  framesSent(): { frames: number; writes: number } {
    return { frames: this.writer.frames, writes: this.writer.flushes }
  }

  /** Requests sent and not yet answered. */
  inFlight(): number {
    return this.byId.size + (this.waiting ? 1 : 0)
  }

  private send(msg: ToBackend, body?: Uint8Array) {
    this.writer.write(msg, body)
  }

  /** Asks the backend to exit; kills it if it has not after `graceMs`. */
  async close(graceMs = 10_000): Promise<void> {
    process.removeListener('exit', this.onParentExit)
    if (this.exited) return
    const gone = new Promise<void>((resolve) => this.child.once('exit', () => resolve()))
    this.send({ type: 'shutdown' })
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs)
    await gone
    clearTimeout(timer)
  }

  /**
   * Kills the process now (its exit rejects everything in flight); resolves once it has exited and been reaped, so a
   * caller that awaits it leaves no process behind (a SIGKILL alone returns before the child is gone).
   */
  kill(): Promise<void> {
    process.removeListener('exit', this.onParentExit)
    const child = this.child
    // never spawned (no pid), or gone already: there is no exit to wait for
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null)
      return Promise.resolve()
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()))
    child.kill('SIGKILL')
    return gone
  }

  private killHung(what: string, timeoutS: number): BackendCrash {
    const err = new BackendCrash(`the GPU backend did not answer ${what} within ${timeoutS} s; it was killed`)
    this.child.kill('SIGKILL')
    return err
  }

  private receive(header: unknown, body: Buffer) {
    let m: FromBackend
    try {
      m = checkMessage(header, true)
    } catch (err) {
      this.refuse(header, err as ProtocolError)
      return
    }
    if (m.type === 'progress') {
      this.opts.log?.(`gpu: ${m.message}`)
      return
    }
    if (repliesById(m)) {
      const w = this.byId.get(m.id)
      this.byId.delete(m.id)
      if (!w) return // its caller timed out already
      if (m.type === 'error') w.reject(replyError(m.message, m.fatal))
      else w.resolve(m, body)
      return
    }
    const w = this.waiting
    this.waiting = null
    if (!w) return
    // where in the backend it failed: one line of message rarely says (a cuDNN status names no call site)
    if (m.type === 'error' && m.trace) this.opts.log?.(`gpu: backend traceback:\n${m.trace.trimEnd()}`)
    if (m.type === 'error') w.reject(new BackendCrash(`GPU backend: ${m.message}`))
    else w.resolve(m, body)
  }

  /**
   * A reply that breaks the protocol fails the request it answers (by its id, else the serial one in flight),
   * naming the field; the process goes on (a backend of another version says so on every such request). A broken
   * progress line answers nothing: it is only logged.
   */
  private refuse(header: unknown, err: ProtocolError) {
    const e = new BackendReplyError(`GPU backend sent an invalid ${err.message}`)
    const { id, type } = (header ?? {}) as { id?: unknown; type?: unknown }
    const w = type === 'progress' ? null : typeof id === 'number' ? this.byId.get(id) : this.waiting
    if (w && typeof id === 'number') this.byId.delete(id)
    else if (w) this.waiting = null
    if (w) w.reject(e)
    else this.opts.log?.(`gpu: ${e.message}`)
  }

  private fail(err: Error) {
    if (this.exited) return
    this.exited = err
    this.stopSweep()
    const w = this.waiting
    this.waiting = null
    w?.reject(err)
    const pending = [...this.byId.values()]
    this.byId.clear()
    for (const p of pending) p.reject(err)
    for (const l of this.exitListeners) l(err)
  }
}

function replyError(message: string, fatal: boolean): Error {
  return fatal
    ? new BackendCrash(`GPU backend: ${message}`)
    : new BackendReplyError(`GPU backend: ${message}`)
}

/** The reply of a serial request, which must be of type `answer`. */
function expect<K extends FromBackend['type']>(m: FromBackend, answer: K, request: string): ReplyOf<K> {
  if (m.type !== answer) throw new BackendCrash(`GPU backend answered ${m.type} to ${request}`)
  return m as ReplyOf<K>
}
