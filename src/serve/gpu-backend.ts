// The server's backend API (backend.ts) on the Python GPU backend: one child process (src/execute/gpu/backend.ts's
// BackendProcess: spawn, frames on fd 3/4, crash → exit, timeouts, no orphans) that builds, partitions and captures
// every served model at `load` (gpu/eclip_gpu/serving.py) and replays a model's graph per `infer`. Inputs go as the
// raw little-endian bytes the KServe layer already made (an FP32 input for an FP16 model is converted on the GPU);
// outputs come back the same way, so nothing is re-encoded here. This file knows nothing of KServe's JSON.

import { BackendCrash, BackendProcess, type BackendProcessOptions } from '../execute/gpu/backend.ts'
import type { LoadedWorker, LoadWorker } from '../execute/gpu/protocol.ts'
import { UserError } from '../formats/errors.ts'
import type { Plan } from '../formats/plan.ts'
import {
  type Backend,
  BackendCrashError,
  BackendEvents,
  type ExecRequest,
  type ExecResult,
  type PowerReading,
  type ServedModel,
} from './backend.ts'

export interface GpuServeOptions extends BackendProcessOptions {
  /** Seconds `load` may take (building, partitioning and capturing every model) before the backend counts as hung. */
  loadTimeoutS?: number
  /** Seconds one execution may take before the backend counts as hung and is killed (→ crash, restart). */
  inferTimeoutS?: number
  /** How often NVML power is read, ms. */
  powerPeriodMs?: number
}

/** How a model crosses the boundary, fixed at load from what the backend captured. */
interface Loaded {
  model: ServedModel
  worker: LoadedWorker
  outputName: string
}

export class GpuServeBackend extends BackendEvents implements Backend {
  readonly kind = 'gpu' as const
  private proc: BackendProcess | null = null
  private models: ServedModel[] = []
  private plan: Plan | undefined
  private loaded = new Map<string, Loaded>()
  private powerTimer: NodeJS.Timeout | undefined
  private powerBusy = false
  private lastPower: PowerReading | undefined
  /** Energy of processes before this one (a restart starts NVML's count again), J. */
  private energyBefore = 0
  private energyThis = 0
  private closed = false

  constructor(private readonly opts: GpuServeOptions = {}) {
    super()
  }

  /** The running process (tests: its pid, to check nothing outlives close). */
  get process(): BackendProcess | null {
    return this.proc
  }

  async load(models: ServedModel[], plan?: Plan): Promise<void> {
    for (const m of models)
      if (m.io.inputs.length !== 1 || m.io.outputs.length !== 1)
        throw new UserError(
          `model "${m.name}": the GPU backend serves models with one input and one output tensor (it has ${m.io.inputs.length} and ${m.io.outputs.length})`,
        )
    this.models = models
    this.plan = plan
    await this.start()
  }

  infer(req: ExecRequest): Promise<ExecResult> {
    const proc = this.proc
    if (!this.ready || !proc) return Promise.reject(new BackendCrashError('the GPU backend is not running'))
    const l = this.loaded.get(req.model)
    if (!l) return Promise.reject(new Error(`model "${req.model}" is not loaded`))
    const input = req.inputs[0]
    if (!input) return Promise.reject(new Error(`model "${req.model}": no input tensor`))
    return proc
      .call(
        { type: 'infer', name: req.model, n: req.items, dtype: input.datatype },
        input.data,
        this.opts.inferTimeoutS ?? 30,
      )
      .then(
        ({ header, body }) => {
          if (header.type !== 'output') throw new Error(`GPU backend answered ${header.type} to infer`)
          return {
            outputs: [{ name: l.outputName, datatype: header.datatype, shape: header.shape, data: body }],
            simulated: false,
            computeUs: header.computeUs,
          }
        },
        (err: unknown) => {
          // the process died (or was killed as hung) under this request: the server answers 503 and restarts it
          if (err instanceof BackendCrash) throw new BackendCrashError(err.message)
          throw err
        },
      )
  }

  /** A fresh process with the models and plan of the last load (a crashed one is never reused: DESIGN §8). */
  async restart(): Promise<void> {
    if (this.closed) throw new Error('the GPU backend is closed')
    this.ready = false
    const old = this.proc
    this.proc = null
    if (old && !old.exited) old.kill()
    await this.start()
  }

  power(): PowerReading | undefined {
    return this.lastPower
  }

  async close(): Promise<void> {
    this.closed = true
    this.ready = false
    clearInterval(this.powerTimer)
    const proc = this.proc
    this.proc = null
    await proc?.close()
  }

  private async start(): Promise<void> {
    const proc = await BackendProcess.start(this.opts)
    try {
      const reply = await proc.request(
        {
          type: 'load',
          plan: this.plan ?? null,
          workers: this.models.map((m) => loadWorker(m)),
        },
        this.opts.loadTimeoutS ?? 900,
      )
      if (reply.type !== 'loaded') throw new BackendCrash(`GPU backend answered ${reply.type} to load`)
      this.loaded = new Map(this.models.map((m) => [m.name, checkLoaded(m, reply.workers)]))
    } catch (err) {
      proc.kill()
      throw err
    }
    if (this.closed) {
      proc.kill()
      throw new Error('the GPU backend was closed while loading')
    }
    this.proc = proc
    this.energyBefore += this.energyThis
    this.energyThis = 0
    proc.onExit((err) => this.onExit(proc, err))
    this.ready = true
    this.startPowerPolling(proc)
    this.emit({ type: 'ready' })
  }

  private onExit(proc: BackendProcess, err: Error) {
    if (proc !== this.proc || this.closed) return
    this.ready = false
    clearInterval(this.powerTimer)
    this.emit({ type: 'crash', reason: err.message })
  }

  private startPowerPolling(proc: BackendProcess) {
    clearInterval(this.powerTimer)
    const poll = () => {
      if (this.powerBusy || proc !== this.proc) return
      this.powerBusy = true
      // a slow NVML read must not take the backend down: only this reading is given up
      proc
        .call({ type: 'power' }, undefined, 10, false)
        .then(({ header }) => {
          if (header.type !== 'power' || proc !== this.proc) return
          this.energyThis = header.energyJ
          this.lastPower = {
            watts: header.powerW,
            energyJ: this.energyBefore + header.energyJ,
            source: 'nvml',
            gpu: proc.gpu?.name ?? 'gpu',
          }
        })
        .catch((e: unknown) => this.opts.log?.(`gpu: power reading failed: ${(e as Error).message}`))
        .finally(() => {
          this.powerBusy = false
        })
    }
    poll()
    this.powerTimer = setInterval(poll, this.opts.powerPeriodMs ?? 1000)
    this.powerTimer.unref()
  }
}

function loadWorker(m: ServedModel): LoadWorker {
  const input = m.io.inputs[0]
  return {
    name: m.name,
    model: m.model,
    batch: m.batch,
    dtype: m.dtype,
    ...(m.source ? { source: m.source, inputShape: input?.shape.slice(1) ?? [] } : {}),
  }
}

/**
 * The captured tensors must be what the server promises its clients (io-specs): input and output shapes with the
 * model's batch first, the output's datatype. A mismatch is refused at load, not discovered in a response.
 */
function checkLoaded(m: ServedModel, workers: LoadedWorker[]): Loaded {
  const w = workers.find((x) => x.name === m.name)
  if (!w) throw new BackendCrash(`GPU backend did not load model "${m.name}"`)
  const input = m.io.inputs[0]
  const output = m.io.outputs[0]
  if (!input || !output) throw new UserError(`model "${m.name}" has no input or output tensor`)
  const expect = (spec: number[]) => [m.batch, ...spec.slice(1)]
  const same = (a: number[], b: number[]) =>
    a.length === b.length && a.every((d, i) => d === b[i] || b[i] === -1)
  const problems: string[] = []
  if (!same(w.inputShape, expect(input.shape)))
    problems.push(`input ${input.name} captured as [${w.inputShape}], served as [${expect(input.shape)}]`)
  if (w.inputDtype !== input.datatype)
    problems.push(`input ${input.name} captured as ${w.inputDtype}, served as ${input.datatype}`)
  if (!same(w.outputShape, expect(output.shape)))
    problems.push(`output ${output.name} captured as [${w.outputShape}], served as [${expect(output.shape)}]`)
  if (w.outputDtype !== output.datatype)
    problems.push(`output ${output.name} captured as ${w.outputDtype}, served as ${output.datatype}`)
  if (problems.length) throw new UserError(`model "${m.name}": ${problems.join('; ')}`)
  return { model: m, worker: w, outputName: output.name }
}
