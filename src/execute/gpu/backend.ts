// The GPU backend as a child process: `python3 -m eclip_gpu backend` (gpu/eclip_gpu), spoken to over fds 3/4.
// BackendProcess owns its lifetime — spawn, frames, crash → exit listeners, timeouts (a hung backend is killed),
// kill with us (no orphans), a fresh process after a crash (a CUDA error poisons the old one: it exits 3 rather than
// limp on) — for both users: `eclip bench` (GpuBackend below: one run at a time) and `eclip serve`
// (src/serve/gpu-backend.ts: many infer requests in flight, matched by id).
import { type ChildProcess, spawn } from 'node:child_process'
import type { Readable, Writable } from 'node:stream'
import { UserError } from '../../formats/errors.ts'
import type { Gpu } from '../../formats/index.ts'
import { GPU_PACKAGE_DIR } from '../../paths.ts'
import { runSchedules, type Schedule } from '../../workload/arrivals.ts'
import type { ExecuteBackend, RunResult, RunSpec } from '../backend.ts'
import {
  encodeFrameHead,
  FrameDecoder,
  type FromBackend,
  type RunReply,
  repliesById,
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

/** Distributes Omit over a union (the id is the process's to assign). */
type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never

interface Waiter {
  resolve: (m: FromBackend, body: Buffer) => void
  reject: (e: Error) => void
}

export class BackendProcess {
  gpu!: Gpu
  versions: Record<string, string> = {}
  /** Why the current process is gone (null while it runs). */
  exited: Error | null = null
  private child!: ChildProcess
  private toChild!: Writable
  private waiting: Waiter | null = null
  private byId = new Map<number, Waiter>()
  private nextId = 1
  private exitListeners = new Set<(err: Error) => void>()
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

  get pid(): number | undefined {
    return this.child.pid
  }

  private spawnChild() {
    const python = this.opts.python ?? process.env.ECLIP_PYTHON ?? 'python3'
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
    const decoder = new FrameDecoder()
    ;(child.stdio[4] as Readable).on('data', (chunk: Buffer) => {
      for (const f of decoder.push(chunk)) this.receive(f.header as FromBackend, f.body)
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
    const ready = await this.request({ type: 'hello' }, this.opts.startTimeoutS ?? 300)
    if (ready.type !== 'ready') throw new BackendCrash(`GPU backend answered ${ready.type} to hello`)
    this.gpu = ready.gpu
    this.versions = ready.versions
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

  /** One serial request (hello, run, load): the next reply without an id answers it. */
  request(msg: ToBackend, timeoutS: number): Promise<FromBackend> {
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
   * A request matched by id (infer, power): any number may be in flight. An error reply rejects with
   * BackendReplyError (BackendCrash when fatal); the process dying rejects with BackendCrash. Past `timeoutS` the
   * backend counts as hung and is killed, unless `killOnTimeout` is false (then only this call fails).
   */
  call(
    msg: WithoutId<ToBackend & { id: number }>,
    body: Uint8Array | undefined,
    timeoutS: number,
    killOnTimeout = true,
  ): Promise<{ header: FromBackend; body: Buffer }> {
    if (this.exited) return Promise.reject(this.exited)
    const id = this.nextId++
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
          resolve({ header: m, body: b })
        },
        reject: (e) => {
          clearTimeout(timer)
          reject(e)
        },
      })
      this.send({ ...msg, id } as ToBackend, body)
    })
  }

  /** Requests sent and not yet answered. */
  inFlight(): number {
    return this.byId.size + (this.waiting ? 1 : 0)
  }

  send(msg: ToBackend, body?: Uint8Array) {
    if (!body || body.byteLength === 0) {
      this.toChild.write(encodeFrameHead(msg, 0))
      return
    }
    // the body as it is, after its head (one writev): a tensor is not copied into a frame buffer first
    this.toChild.cork()
    this.toChild.write(encodeFrameHead(msg, body.byteLength))
    this.toChild.write(body)
    this.toChild.uncork()
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

  private receive(m: FromBackend, body: Buffer) {
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

  private fail(err: Error) {
    if (this.exited) return
    this.exited = err
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

export interface GpuBackendOptions extends BackendProcessOptions {
  /** Seconds a run may take beyond warm-up + window (captures, output checks) before it counts as hung. */
  slackS?: number
  /** Verify each worker's outputs against its baseline capture before measuring. */
  checkOutputs?: boolean
}

/** `eclip bench --backend gpu`: one run at a time through the backend process; restarted by the caller after a crash. */
export class GpuBackend implements ExecuteBackend {
  readonly name = 'gpu' as const

  private constructor(
    private readonly proc: BackendProcess,
    private readonly opts: GpuBackendOptions,
  ) {}

  get gpu(): Gpu {
    return this.proc.gpu
  }
  get versions(): Record<string, string> {
    return this.proc.versions
  }

  static async start(opts: GpuBackendOptions = {}): Promise<GpuBackend> {
    return new GpuBackend(await BackendProcess.start(opts), opts)
  }

  /** After a crash: a fresh backend process (a CUDA error poisons the old one; it is never reused). */
  recover(): Promise<void> {
    return this.proc.respawn()
  }

  async run(spec: RunSpec): Promise<RunResult> {
    const arrivals = arrivalsOf(spec)
    const reply = await this.proc.request(
      {
        type: 'run',
        key: spec.key,
        plan: spec.plan,
        mode: spec.mode,
        warmupS: spec.warmupS,
        windowS: spec.windowS,
        checkOutputs: this.opts.checkOutputs ?? true,
        ...(arrivals ? { arrivals } : {}),
      },
      spec.warmupS + spec.windowS + (this.opts.slackS ?? 600),
    )
    if (reply.type !== 'result') throw new BackendCrash(`GPU backend answered ${reply.type} to run`)
    return toRunResult(reply)
  }

  close(): Promise<void> {
    return this.proc.close()
  }
}

/**
 * The schedules the executor runs (plan order): the simulator's, for the same seed (src/workload/arrivals.ts); none
 * for the closed loop, which the executor runs as it always has.
 */
export function arrivalsOf(spec: RunSpec): Schedule[] | undefined {
  if (spec.loop.kind === 'closed') return undefined
  const horizonUs = (spec.warmupS + spec.windowS) * 1e6
  const round = (xs: number[]) => xs.map((x) => Math.round(x * 10) / 10)
  return runSchedules(spec.loop, spec.workers, spec.seed, horizonUs).map((s) =>
    s.kind === 'open'
      ? { kind: 'open', arrivalsUs: round(s.arrivalsUs) }
      : { kind: 'closed', periodsUs: round(s.periodsUs) },
  )
}

function toRunResult(r: RunReply): RunResult {
  if (r.energyJ === null) throw new BackendCrash('GPU backend returned no energy reading (NVML)')
  const notes = [...r.notes, `executed as ${r.mode}`]
  for (const c of r.outputCheck ?? [])
    notes.push(
      `${c.name}: output ${c.bitwise ? 'bitwise equal to' : `rel. error ${c.relErr?.toExponential(1) ?? 'n/a'} vs`} baseline`,
    )
  return {
    workers: r.workers.map((w) => ({
      arrivalUs: w.arrivalUs ?? w.startUs,
      startUs: w.startUs,
      endUs: w.endUs,
      ...(w.cpuUs ? { cpuUs: w.cpuUs } : {}),
    })),
    windowStartUs: r.windowStartUs,
    windowEndUs: r.windowEndUs,
    energyJ: r.energyJ,
    energySource: 'nvml',
    smBusyUs: null,
    kernels: null,
    wallS: r.wallS,
    notes,
  }
}
