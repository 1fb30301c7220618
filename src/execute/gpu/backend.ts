// The GPU backend as a child process: `python3 -m eclip_gpu backend` (gpu/eclip_gpu), spoken to over fds 3/4.
// It owns the GPU; this class owns its lifetime: started once, one run at a time, restarted by the caller after a
// crash (a CUDA error poisons the process: it exits 3 rather than limp on), killed with us (no orphans).
import { type ChildProcess, spawn } from 'node:child_process'
import type { Readable, Writable } from 'node:stream'
import { UserError } from '../../formats/errors.ts'
import type { Gpu } from '../../formats/index.ts'
import { GPU_PACKAGE_DIR } from '../../paths.ts'
import type { Backend, RunResult, RunSpec } from '../backend.ts'
import { encodeFrame, FrameDecoder, type FromBackend, type RunReply, type ToBackend } from './protocol.ts'

export class BackendCrash extends UserError {
  override name = 'BackendCrash'
}

export interface GpuBackendOptions {
  /** Python with torch + cuda-bindings + nvidia-ml-py; default $ECLIP_PYTHON or python3. */
  python?: string
  /** Seconds a run may take beyond warm-up + window (captures, output checks) before it counts as hung. */
  slackS?: number
  log?: (line: string) => void
  /** Seconds the backend may take to come up (CUDA init, reading the slice layout). */
  startTimeoutS?: number
  /** Verify each worker's outputs against its baseline capture before measuring. */
  checkOutputs?: boolean
}

export class GpuBackend implements Backend {
  readonly name = 'gpu' as const
  gpu!: Gpu
  versions: Record<string, string> = {}
  private child: ChildProcess
  private toChild: Writable
  private waiting: { resolve: (m: FromBackend) => void; reject: (e: Error) => void } | null = null
  private exited: Error | null = null
  private readonly onParentExit = () => this.child.kill('SIGKILL')

  private constructor(private readonly opts: GpuBackendOptions) {
    this.child = this.spawnChild()
    this.toChild = this.child.stdio[3] as Writable
    process.once('exit', this.onParentExit)
  }

  private spawnChild(): ChildProcess {
    const python = this.opts.python ?? process.env.ECLIP_PYTHON ?? 'python3'
    const child = spawn(python, ['-m', 'eclip_gpu', 'backend'], {
      stdio: ['ignore', 'inherit', 'inherit', 'pipe', 'pipe'],
      env: {
        ...process.env,
        PYTHONPATH: [GPU_PACKAGE_DIR, process.env.PYTHONPATH].filter(Boolean).join(':'),
      },
    })
    this.child = child
    this.toChild = child.stdio[3] as Writable
    const decoder = new FrameDecoder()
    ;(child.stdio[4] as Readable).on('data', (chunk: Buffer) => {
      for (const f of decoder.push(chunk)) this.receive(f.header as FromBackend)
    })
    this.toChild.on('error', () => {}) // EPIPE after a crash surfaces through 'exit'
    child.on('error', (err) =>
      this.fail(new BackendCrash(`cannot start the GPU backend (${python}): ${err.message}`)),
    )
    child.on('exit', (code, signal) =>
      this.fail(
        new BackendCrash(
          `the GPU backend exited (${signal ? `signal ${signal}` : `code ${code}`})${code === 3 ? ': fatal CUDA error' : ''}`,
        ),
      ),
    )
    return child
  }

  /** After a crash: a fresh backend process (a CUDA error poisons the old one; it is never reused). */
  async recover(): Promise<void> {
    if (!this.exited) return
    this.opts.log?.(`gpu: restarting the backend after: ${this.exited.message}`)
    this.exited = null
    this.spawnChild()
    const ready = await this.request({ type: 'hello' }, this.opts.startTimeoutS ?? 300)
    if (ready.type !== 'ready') throw new BackendCrash(`GPU backend answered ${ready.type} to hello`)
  }

  static async start(opts: GpuBackendOptions = {}): Promise<GpuBackend> {
    const b = new GpuBackend(opts)
    try {
      const ready = await b.request({ type: 'hello' }, opts.startTimeoutS ?? 300)
      if (ready.type !== 'ready') throw new BackendCrash(`GPU backend answered ${ready.type} to hello`)
      b.gpu = ready.gpu
      b.versions = ready.versions
      return b
    } catch (err) {
      // a backend that could not come up is not left behind (it would keep this process alive)
      process.removeListener('exit', b.onParentExit)
      b.child.kill('SIGKILL')
      throw err
    }
  }

  async run(spec: RunSpec): Promise<RunResult> {
    const reply = await this.request(
      {
        type: 'run',
        key: spec.key,
        plan: spec.plan,
        mode: spec.mode,
        warmupS: spec.warmupS,
        windowS: spec.windowS,
        checkOutputs: this.opts.checkOutputs ?? true,
      },
      spec.warmupS + spec.windowS + (this.opts.slackS ?? 600),
    )
    if (reply.type !== 'result') throw new BackendCrash(`GPU backend answered ${reply.type} to run`)
    return toRunResult(reply)
  }

  async close(): Promise<void> {
    process.removeListener('exit', this.onParentExit)
    if (this.exited) return
    const gone = new Promise<void>((resolve) => this.child.once('exit', () => resolve()))
    this.send({ type: 'shutdown' })
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000)
    await gone
    clearTimeout(timer)
  }

  private send(msg: ToBackend) {
    this.toChild.write(encodeFrame(msg))
  }

  private request(msg: ToBackend, timeoutS: number): Promise<FromBackend> {
    if (this.exited) return Promise.reject(this.exited)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = null
        this.child.kill('SIGKILL')
        reject(
          new BackendCrash(`the GPU backend did not answer ${msg.type} within ${timeoutS} s; it was killed`),
        )
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

  private receive(m: FromBackend) {
    if (m.type === 'progress') {
      this.opts.log?.(`gpu: ${m.message}`)
      return
    }
    const w = this.waiting
    this.waiting = null
    if (!w) return
    if (m.type === 'error') w.reject(new BackendCrash(`GPU backend: ${m.message}`))
    else w.resolve(m)
  }

  private fail(err: Error) {
    this.exited ??= err
    const w = this.waiting
    this.waiting = null
    w?.reject(err)
  }
}

function toRunResult(r: RunReply): RunResult {
  if (r.energyJ === null) throw new BackendCrash('GPU backend returned no energy reading (NVML)')
  const notes = [...r.notes, `executed as ${r.mode}`]
  for (const c of r.outputCheck ?? [])
    notes.push(
      `${c.name}: output ${c.bitwise ? 'bitwise equal to' : `rel. error ${c.relErr?.toExponential(1) ?? 'n/a'} vs`} baseline`,
    )
  return {
    workers: r.workers.map((w) => ({ arrivalUs: w.startUs, startUs: w.startUs, endUs: w.endUs })),
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
