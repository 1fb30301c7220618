// The server's backend API (backend.ts) on the Python GPU backend: one child process (src/execute/gpu/client.ts's
// BackendProcess: spawn, frames on fd 3/4, crash → exit, timeouts, no orphans) that builds, partitions and captures
// every served model at `load` (gpu/eclip_gpu/serving.py) and replays a model's graph per `infer`. Inputs go as the
// raw little-endian bytes the KServe layer already made (an FP32 input for an FP16 model is converted on the GPU);
// outputs come back the same way, so nothing is re-encoded here. This file knows nothing of KServe's JSON.
// Transport: each model's tensors go through a shared-memory ring in /dev/shm (shm-ring.ts) where there is one
// (the frames carry offsets only), else in the frames' bodies through the pipe. Tensors in a client's registered
// region (Triton's shared memory, shm/registry.ts) go neither way: the backend opens each region once
// (openRegion) and the infer frame only says where the input lies and where the output goes.
// Under eclip-live the served set changes while serving (`swap`, gpu/eclip_gpu/model_control.py): a model loaded is
// built and captured in the running process while the others serve, one unloaded finishes what it holds and goes,
// and a table grown on demand has the loaded models captured under its new plans.

import { join } from 'node:path'
import { BackendCrash, BackendProcess, type BackendProcessOptions } from '../execute/gpu/client.ts'
import type {
  InferMessage,
  InferShm,
  LoadedWorker,
  LoadWorker,
  OutputReply,
  RegionSpan,
  ServePartition,
  ShmRegisterMessage,
} from '../execute/gpu/protocol.ts'
import { UserError } from '../formats/errors.ts'
import { checkMadeFor } from '../formats/gpu.ts'
import type { Plan } from '../formats/plan.ts'
import type { PlanTable } from '../formats/plan-table.ts'
import {
  BackendEvents,
  BackendUnavailableError,
  type ExecRequest,
  type ExecResult,
  NO_DATA,
  type PowerReading,
  type RawTensor,
  type ServeBackend,
  type ServedModel,
  type ShmOutput,
  type ShmRef,
} from './backend.ts'
import { ELEMENT_BYTES } from './kserve/datatypes.ts'
import { tracePauses } from './pause-trace.ts'
import type { ShmRegion } from './shm/region.ts'
import { RING_PREFIX, removeStaleRings, ShmRing, shmUnavailable } from './shm-ring.ts'

export interface GpuServeOptions extends BackendProcessOptions {
  /** eclip-live: models the repository may load later, whose libraries the backend imports at start (LoadMessage). */
  prepare?: string[]
  /** Seconds `load` may take (building, partitioning and capturing every model) before the backend counts as hung. */
  loadTimeoutS?: number
  /** Seconds one execution may take before the backend counts as hung and is killed (→ crash, restart). */
  inferTimeoutS?: number
  /** How often NVML power is read, ms: the reading is also the backend's ping (readiness). */
  powerPeriodMs?: number
  /** A ping (power reading) unanswered this long, ms, makes the backend unresponsive: the server is not ready. */
  pingTimeoutMs?: number
  /**
   * How tensors cross to the backend: `shm` (a ring per model in `shmDir`; refused at load if impossible), `pipe`
   * (in the frames), `auto` (shm where possible, else pipe, said once in the log). Default $ECLIP_SERVE_TRANSPORT
   * or auto.
   */
  transport?: 'auto' | 'shm' | 'pipe'
  /** Where the rings' files go (a tmpfs); default /dev/shm. */
  shmDir?: string
  /**
   * Each ring holds this many executions of the model's largest tensors (default 4, and one per execution sent
   * ahead).
   */
  ringSlots?: number
  /**
   * Executions of a model sent to the backend beyond those it overlaps, for requests that run alone (ServeBackend.
   * executionsAhead): the backend starts each the moment one of the model's executions ends, without a round trip
   * through the server. Default $ECLIP_SERVE_AHEAD, the same for every model and request; unset, DEFAULT_AHEAD for
   * requests through the model's ring and, for requests in clients' regions, each model's own (aheadByGpuTime).
   */
  ahead?: number
  /**
   * paris-elsa: the server's partitions over the host's GPUs. Every model is captured on every partition at each of
   * its `batches` (gpu/eclip_gpu/paris_serve.py) and each infer names its partition (ExecRequest.partition).
   */
  partitions?: ServePartition[]
}

/** How a model crosses the boundary, fixed at load from what the backend captured. */
interface Loaded {
  model: ServedModel
  worker: LoadedWorker
  /** eclip-live: the keys of the plans it is captured under (an execution may name only these). */
  keys: Set<string>
  outputName: string
  /** Output bytes per item (the captured output's shape and datatype). */
  outItemBytes: number
  /** The model's ring, when its tensors go through shared memory. */
  ring?: ShmRing
  /** Its executions' GPU time (the replies' computeUs), µs: a moving average, the latest weighing 0.1; 0 before the
   * first reply since the backend (re)started. */
  computeUsAvg: number
}

let ringSeq = 0

export class GpuServeBackend extends BackendEvents implements ServeBackend {
  readonly kind = 'gpu' as const
  private proc: BackendProcess | null = null
  private models: ServedModel[] = []
  private plan: Plan | undefined
  /** eclip-live: the table every model is also captured under (each plan that lists it), sent with `load`. */
  private table: PlanTable | undefined
  private loaded = new Map<string, Loaded>()
  /** Executions per model the backend overlaps (its `loaded` reply says; 1 until then). */
  private depth = 1
  private powerTimer: NodeJS.Timeout | undefined
  private powerBusy = false
  /** When the power reading in flight was asked for (performance.now()). */
  private pingSentAt = 0
  private lastPower: PowerReading | undefined
  /** Energy of processes before this one (a restart starts NVML's count again), J. */
  private energyBefore = 0
  private energyThis = 0
  private closed = false
  /** Why the rings are not used (said once), or null. */
  private pipeReason: string | null = null
  /** Clients' regions the backend holds open, by registration id: opened again in a restarted process. */
  private regions = new Map<string, ShmRegion>()

  /** Executions per model sent ahead of a free slot (GpuServeOptions.ahead), or undefined: each model's own. */
  private readonly ahead: number | undefined

  constructor(private readonly opts: GpuServeOptions = {}) {
    super()
    const fixed = opts.ahead ?? aheadFromEnv()
    this.ahead = fixed === undefined ? undefined : Math.min(MAX_AHEAD, fixed)
  }

  /** Each ring's size, how often it wrapped and the spans it holds now (tests, diagnostics). */
  ringStats(): Map<string, { capacity: number; wraps: number; spans: number }> {
    const out = new Map<string, { capacity: number; wraps: number; spans: number }>()
    for (const [name, l] of this.loaded)
      if (l.ring)
        out.set(name, { capacity: l.ring.capacity, wraps: l.ring.alloc.wraps, spans: l.ring.alloc.spans })
    return out
  }

  /** How tensors travel per model after the last load: "shm" or "pipe (why)". */
  transports(): Map<string, string> {
    return new Map(
      [...this.loaded].map(([name, l]) => [name, l.ring ? 'shm' : `pipe (${this.pipeReason ?? 'no ring'})`]),
    )
  }

  /** The running process (tests: its pid, to check nothing outlives close). */
  get process(): BackendProcess | null {
    return this.proc
  }

  executionsInFlight(): number {
    return this.depth
  }

  executionsAhead(model: string, inRegions: boolean): number {
    if (this.ahead !== undefined) return this.ahead
    // a request through the model's ring takes a slot of it, which holds DEFAULT_AHEAD more than the pipeline
    if (!inRegions) return DEFAULT_AHEAD
    return aheadByGpuTime(this.loaded.get(model)?.computeUsAvg ?? 0)
  }

  async load(models: ServedModel[], plan?: Plan, table?: PlanTable): Promise<void> {
    checkOneTensor(models)
    this.models = models
    this.plan = plan
    this.table = table
    await this.start()
  }

  /**
   * eclip-live's model control: the served set becomes `models` and the table `table` while the others keep serving.
   * Models gone are unloaded (each finishes what it holds first: the server sends an unload once the model's
   * accepted requests are answered, and follows a table without it from before), models new are loaded (built and
   * captured under the table's plans that list them, the loaded ones under those plans too), and plans of the table
   * some loaded model is not captured under yet are added (a table grown on demand). One step that fails leaves the
   * process as it was before that step (a load half way drops what it made) and this adapter's set with it.
   */
  async swap(models: ServedModel[], plan: Plan | undefined, table: PlanTable | undefined): Promise<void> {
    const proc = this.proc
    if (!this.ready || !proc) throw new BackendUnavailableError('the GPU backend is not running; retry later')
    if (!table)
      throw new UserError('the GPU backend changes its served set only under eclip-live (a plan table)')
    checkOneTensor(models)
    const timeoutS = this.opts.loadTimeoutS ?? 900
    const next = new Set(models.map((m) => m.name))
    for (const name of [...this.loaded.keys()].filter((n) => !next.has(n))) {
      const r = await proc.unloadModel(name, timeoutS)
      this.dropLoaded(name)
      for (const [w, keys] of Object.entries(r.retired))
        for (const k of keys) this.loaded.get(w)?.keys.delete(k)
    }
    const added: string[] = []
    try {
      for (const m of models.filter((x) => !this.loaded.has(x.name))) {
        await this.loadOne(proc, m, table, timeoutS)
        added.push(m.name)
      }
      await this.addPlans(proc, table, timeoutS)
    } catch (err) {
      // a later step failed: the models this swap loaded go again, so the served set stays as it was
      for (const name of added) {
        await proc.unloadModel(name, timeoutS).catch(() => {})
        this.dropLoaded(name)
      }
      throw err
    }
    for (const m of models) {
      const l = this.loaded.get(m.name)
      if (l) l.model = m
    }
    this.models = models
    this.plan = plan
    this.table = table
  }

  /** The table's plans some loaded model has no capture under yet (a table grown on demand), captured; then checked. */
  private async addPlans(proc: BackendProcess, table: PlanTable, timeoutS: number) {
    const fresh = table.plans.filter((e) =>
      e.plan.workers.some((pw) => !this.loaded.get(pw.name)?.keys.has(e.key)),
    )
    if (fresh.length > 0) {
      const r = await proc.addPlans(
        fresh.map((e) => ({ key: e.key, plan: e.plan })),
        timeoutS,
      )
      for (const [w, keys] of Object.entries(r.captured))
        for (const k of keys) this.loaded.get(w)?.keys.add(k)
      this.opts.log?.(
        `gpu: ${fresh.length} plans added (${Object.values(r.captured).flat().length} captures, ${r.partitionsCreated} green contexts made)`,
      )
    }
    for (const e of table.plans)
      for (const pw of e.plan.workers)
        if (!this.loaded.get(pw.name)?.keys.has(e.key))
          throw new BackendCrash(`GPU backend did not capture model "${pw.name}" under plan ${e.key}`)
  }

  /** A model the process no longer serves: its ring closed, out of this adapter's set. */
  private dropLoaded(name: string) {
    this.loaded.get(name)?.ring?.close()
    this.loaded.delete(name)
    this.models = this.models.filter((m) => m.name !== name)
  }

  /** One model loaded into the running process (model control), with its ring where tensors go through rings. */
  private async loadOne(proc: BackendProcess, m: ServedModel, table: PlanTable, timeoutS: number) {
    const plans = table.plans
      .filter((e) => e.plan.workers.some((pw) => pw.name === m.name))
      .map((e) => ({ key: e.key, plan: e.plan }))
    const ring = this.createRings([m], false).get(m.name)
    let r: Awaited<ReturnType<BackendProcess['loadModel']>>
    try {
      r = await proc.loadModel(
        {
          worker: loadWorker(m),
          plans,
          ...(ring ? { ring: { path: ring.path, bytes: ring.capacity } } : {}),
        },
        timeoutS,
      )
    } catch (err) {
      ring?.close()
      throw err
    }
    ring?.unlink()
    let mapped = ring
    if (ring && r.ring !== true) {
      this.opts.log?.(
        `gpu: ${m.name}: tensors go through the pipe (the backend could not map ${ring.path}: ${r.ring ?? 'it did not say'})`,
      )
      ring.close()
      mapped = undefined
    }
    if (mapped) proc.onExit(() => mapped.close())
    let l: Loaded
    try {
      l = checkLoaded(m, [r.worker], mapped, table)
    } catch (err) {
      // captured as something else than what the server serves: it goes again, the set stays as it was
      mapped?.close()
      await proc.unloadModel(m.name, timeoutS).catch(() => {})
      throw err
    }
    this.loaded.set(m.name, l)
    this.models = [...this.models, m]
    for (const [w, keys] of Object.entries(r.captured)) for (const k of keys) this.loaded.get(w)?.keys.add(k)
    this.opts.log?.(
      `gpu: ${m.name} loaded: captured under ${plans.length} plans, the loaded models under ${Object.values(r.captured).flat().length} more, ${r.partitionsCreated} green contexts made, ${((r.worker.memoryBytes ?? 0) / 2 ** 20).toFixed(0)} MiB`,
    )
  }

  infer(req: ExecRequest): Promise<ExecResult> {
    const proc = this.proc
    if (!this.ready || !proc)
      return Promise.reject(new BackendUnavailableError('the GPU backend is not running'))
    const l = this.loaded.get(req.model)
    if (!l) return Promise.reject(new Error(`model "${req.model}" is not loaded`))
    const input = req.inputs[0]
    if (!input) return Promise.reject(new Error(`model "${req.model}": no input tensor`))
    const timeoutS = this.opts.inferTimeoutS ?? 30
    // (built by assignment: no object spreads per request)
    const msg: Omit<InferMessage, 'type' | 'id'> = { name: req.model, n: req.items, dtype: input.datatype }
    if (req.partition !== undefined) msg.partition = req.partition
    if (req.plan !== undefined) msg.plan = req.plan
    const out = req.shmOutputs?.[0]
    if (input.shm || out) {
      // a client's region: the frame says where; neither the ring nor the pipe carries the bytes it names
      if (input.shm) msg.input = regionSpan(input.shm, l.model.io.inputs[0]?.range)
      if (out) msg.output = regionSpan(out.shm)
      return this.answer(l, proc.infer(msg, input.shm ? undefined : input.data, timeoutS), out)
    }
    const ring = l.ring
    const outBytes = req.items * l.outItemBytes
    const span = ring?.alloc.alloc(ring.alloc.round(input.data.length) + outBytes)
    if (!ring || !span) return this.answer(l, proc.infer(msg, input.data, timeoutS))
    // through the ring: the input written at the span's start, room for the output after it; the span is given
    // back only once the reply has come (and its output has been read): until then Python may be using it
    const shm: InferShm = {
      offset: span.offset,
      bytes: input.data.length,
      outOffset: span.offset + ring.alloc.round(input.data.length),
      outBytes,
    }
    const reply = this.sendThroughRing(proc, ring, msg, input, shm, timeoutS)
    const model = req.model // (the closures below must not hold the request: its input is garbage once written)
    const withOutput = reply.then(async (r) => {
      const out = r.header.shm
      if (!out) return r
      if (out.offset < shm.outOffset || out.offset + out.bytes > shm.outOffset + shm.outBytes)
        throw new Error(`GPU backend put ${model}'s output outside the room it was given`)
      return { header: r.header, body: await ring.read(out.offset, out.bytes) }
    })
    const released = withOutput.finally(() => ring.alloc.release(span))
    return this.answer(l, released)
  }

  /**
   * Writes the input into the ring and sends the frame. A ring that cannot be written (it never should: its pages are
   * reserved) costs this request only: it goes through the pipe. A method of its own so that the input is held only
   * until it is written.
   */
  private sendThroughRing(
    proc: BackendProcess,
    ring: ShmRing,
    msg: { name: string; n: number; dtype: RawTensor['datatype']; partition?: string; plan?: string },
    input: RawTensor,
    shm: InferShm,
    timeoutS: number,
  ): Promise<{ header: OutputReply; body: Buffer }> {
    return ring.write(input.data, shm.offset).then(
      () => proc.infer({ ...msg, shm }, undefined, timeoutS),
      (err: unknown) => {
        this.opts.log?.(
          `gpu: ${msg.name}: shared-memory write failed, sent through the pipe: ${(err as Error).message}`,
        )
        return proc.infer(msg, input.data, timeoutS)
      },
    )
  }

  private answer(
    l: Loaded,
    reply: Promise<{ header: OutputReply; body: Buffer }>,
    out?: ShmOutput,
  ): Promise<ExecResult> {
    return reply.then(
      ({ header, body }) => {
        const written = header.output
        if (out && !written)
          throw new Error(`GPU backend did not write ${l.model.name}'s output into its region`)
        const tensor: RawTensor = written
          ? {
              name: l.outputName,
              datatype: header.datatype,
              shape: header.shape,
              data: NO_DATA,
              shm: { region: (out as ShmOutput).shm.region, offset: written.offset, bytes: written.bytes },
            }
          : { name: l.outputName, datatype: header.datatype, shape: header.shape, data: body }
        const r: ExecResult = { outputs: [tensor], simulated: false, computeUs: header.computeUs }
        l.computeUsAvg = l.computeUsAvg > 0 ? 0.9 * l.computeUsAvg + 0.1 * header.computeUs : header.computeUs
        if (header.waitedUs) r.waitedUs = header.waitedUs
        return r
      },
      (err: unknown) => {
        // the process died (or was killed as hung) under this request: the server answers 503 and restarts it
        if (err instanceof BackendCrash) throw new BackendUnavailableError(err.message)
        throw err
      },
    )
  }

  /** Opens a client's region in the backend process (once; again after a restart). */
  async openRegion(region: ShmRegion): Promise<void> {
    const proc = this.proc
    if (!this.ready || !proc) throw new BackendUnavailableError('the GPU backend is not running; retry later')
    await this.sendRegion(proc, region)
    this.regions.set(region.id, region)
  }

  async closeRegion(region: ShmRegion): Promise<void> {
    this.regions.delete(region.id)
    const proc = this.proc
    if (!proc || proc.exited) return // a dead process holds nothing; the next one never opens it
    await proc.unregisterRegion(region.id, 30)
  }

  private async sendRegion(proc: BackendProcess, r: ShmRegion): Promise<void> {
    const msg: Omit<ShmRegisterMessage, 'type' | 'id'> = r.system
      ? {
          name: r.id,
          kind: 'system',
          bytes: r.byteSize,
          key: r.system.key,
          path: r.system.path,
          offset: r.system.offset,
        }
      : {
          name: r.id,
          kind: 'cuda',
          bytes: r.byteSize,
          rawHandle: r.cuda?.rawHandle.toString('base64') ?? '',
          deviceId: r.cuda?.deviceId ?? 0,
        }
    const header = await proc.registerRegion(msg, 60)
    if (header.note) this.opts.log?.(`gpu: shared memory region '${r.name}': ${header.note}`)
  }

  /** A fresh process with the models and plan of the last load (a crashed one is never reused: docs/design.md §8). */
  async restart(): Promise<void> {
    if (this.closed) throw new Error('the GPU backend is closed')
    this.ready = false
    const old = this.proc
    this.proc = null
    if (old && !old.exited) await old.kill()
    await this.start()
  }

  power(): PowerReading | undefined {
    return this.lastPower
  }

  unresponsive(): string | undefined {
    if (!this.ready || !this.powerBusy) return undefined
    const waited = performance.now() - this.pingSentAt
    const limit = this.opts.pingTimeoutMs ?? 3000
    if (waited <= limit) return undefined
    return `the GPU backend has not answered a ping for ${(waited / 1000).toFixed(1)} s (limit ${(limit / 1000).toFixed(1)} s): it is hung or overloaded`
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
    tracePauses()
    const rings = this.createRings(this.models, true)
    let proc: BackendProcess
    try {
      proc = await BackendProcess.start(this.opts)
    } catch (err) {
      for (const r of rings.values()) r.close()
      throw err
    }
    try {
      // the GPU is known from here on: a plan for another one is refused saying so (the backend checks it too)
      if (this.plan && proc.gpu) checkMadeFor('the plan', this.plan.gpu, proc.gpu)
      const reply = await proc.load(
        {
          plan: this.plan ?? null,
          ...(this.table ? { plans: this.table.plans.map((e) => ({ key: e.key, plan: e.plan })) } : {}),
          workers: this.models.map((m) => loadWorker(m)),
          ...(this.opts.partitions ? { partitions: this.opts.partitions } : {}),
          ...(this.opts.prepare?.length ? { prepare: this.opts.prepare } : {}),
          ...(rings.size > 0
            ? {
                rings: Object.fromEntries(
                  [...rings].map(([n, r]) => [n, { path: r.path, bytes: r.capacity }]),
                ),
              }
            : {}),
        },
        this.opts.loadTimeoutS ?? 900,
      )
      for (const [name, r] of rings) {
        r.unlink() // mapped by the backend (or refused): the name is not needed any more
        const status = reply.rings?.[name]
        if (status === true) continue
        const why = `the backend could not map ${r.path}: ${status ?? 'it did not say'}`
        if (this.transport() === 'shm') throw new UserError(`model "${name}": ${why}`)
        this.opts.log?.(`gpu: ${name}: tensors go through the pipe (${why})`)
        r.close()
        rings.delete(name)
      }
      this.loaded = new Map(
        this.models.map((m) => [m.name, checkLoaded(m, reply.workers, rings.get(m.name), this.table)]),
      )
      if (this.table) {
        const bytes = reply.workers.reduce((a, w) => a + (w.memoryBytes ?? 0), 0)
        this.opts.log?.(
          `gpu: ${this.table.plans.length} plans of the table captured; models and captures hold ${(bytes / 2 ** 20).toFixed(0)} MiB of GPU memory in all`,
        )
      }
      this.depth = Math.max(1, Math.floor(reply.pipelineDepth ?? 1))
      if (reply.requestPath) this.opts.log?.(`gpu: request path: ${reply.requestPath}`)
    } catch (err) {
      // a model that failed to load: the process is gone (exited and reaped) before the failure is reported, so a
      // caller that gives up then leaves no process behind
      await proc.kill()
      for (const r of rings.values()) r.close()
      throw err
    }
    if (this.closed) {
      await proc.kill()
      for (const r of rings.values()) r.close()
      throw new Error('the GPU backend was closed while loading')
    }
    // clients' regions registered before a crash: opened again before any request can name them; one that cannot
    // be (its client is gone) is refused to requests with why, until the client unregisters it
    for (const r of [...this.regions.values()])
      await this.sendRegion(proc, r).catch((err: unknown) => {
        this.regions.delete(r.id)
        r.broken = `shared memory region '${r.name}' could not be opened again after the backend restarted (${(err as Error).message}); unregister it and register it again`
      })
    this.proc = proc
    this.energyBefore += this.energyThis
    this.energyThis = 0
    // a dead process's rings go with it (each closes once its I/O in flight is done)
    proc.onExit(() => {
      for (const r of rings.values()) r.close()
    })
    proc.onExit((err) => this.onExit(proc, err))
    this.ready = true
    this.startPowerPolling(proc)
    this.emit({ type: 'ready' })
  }

  private transport(): 'auto' | 'shm' | 'pipe' {
    const t = this.opts.transport ?? process.env.ECLIP_SERVE_TRANSPORT ?? 'auto'
    if (t !== 'auto' && t !== 'shm' && t !== 'pipe')
      throw new UserError(`ECLIP_SERVE_TRANSPORT=${t}: expected auto, shm or pipe`)
    return t
  }

  /**
   * A ring per model of `models` whose tensors have a known largest size, where shared memory can be had (see
   * `transport`); `all`: these are every served model (a start), so why none is used is said anew.
   */
  private createRings(models: ServedModel[], all: boolean): Map<string, ShmRing> {
    const rings = new Map<string, ShmRing>()
    const transport = this.transport()
    if (all) this.pipeReason = null
    if (transport === 'pipe') {
      this.pipeReason = 'transport pipe'
      return rings
    }
    const dir = this.opts.shmDir ?? '/dev/shm'
    // paris-elsa runs a model on several partitions at once: room for as many executions (up to 8; more go through
    // the pipe, as any request that finds its ring full does); otherwise room for the executions the backend
    // overlaps (its pipeline) with as many again, so a span freed late never sends the next one through the pipe, and
    // one more per execution sent ahead
    const slots =
      this.opts.ringSlots ??
      (this.opts.partitions ? Math.min(8, this.opts.partitions.length) : 4 + (this.ahead ?? DEFAULT_AHEAD))
    const sizes = new Map<string, number>()
    for (const m of models) {
      const bytes = slotBytes(m)
      if (bytes !== null) sizes.set(m.name, slots * bytes)
    }
    const total = [...sizes.values()].reduce((a, b) => a + b, 0)
    const why = shmUnavailable(dir, total)
    if (why) {
      if (transport === 'shm') throw new UserError(`shared-memory transport: ${why}`)
      this.pipeReason = why
      this.opts.log?.(`gpu: tensors go through the pipe: ${why}`)
      return rings
    }
    removeStaleRings(dir)
    try {
      for (const [name, bytes] of sizes) {
        const file = `${RING_PREFIX}${process.pid}-${++ringSeq}-${name.replace(/[^A-Za-z0-9_.-]/g, '_')}`
        rings.set(name, ShmRing.create(join(dir, file), bytes))
      }
    } catch (err) {
      for (const r of rings.values()) r.close()
      if (transport === 'shm') throw new UserError(`shared-memory transport: ${(err as Error).message}`)
      this.pipeReason = (err as Error).message
      this.opts.log?.(`gpu: tensors go through the pipe: ${(err as Error).message}`)
      return new Map()
    }
    return rings
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
      this.pingSentAt = performance.now()
      // a slow NVML read must not take the backend down: only this reading is given up
      proc
        .power(10)
        .then((header) => {
          if (proc !== this.proc) return
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

/** The GPU backend serves models of one input and one output tensor. */
function checkOneTensor(models: ServedModel[]) {
  for (const m of models)
    if (m.io.inputs.length !== 1 || m.io.outputs.length !== 1)
      throw new UserError(
        `model "${m.name}": the GPU backend serves models with one input and one output tensor (it has ${m.io.inputs.length} and ${m.io.outputs.length})`,
      )
}

function loadWorker(m: ServedModel): LoadWorker {
  const input = m.io.inputs[0]
  return {
    name: m.name,
    model: m.model,
    batch: m.batch,
    dtype: m.dtype,
    ...(m.source ? { source: m.source, inputShape: input?.shape.slice(1) ?? [] } : {}),
    ...(m.batches ? { batches: m.batches } : {}),
  }
}

/**
 * The captured tensors must be what the server promises its clients (io-specs): input and output shapes with the
 * model's batch first, the output's datatype. A mismatch is refused at load, not discovered in a response.
 */
function checkLoaded(m: ServedModel, workers: LoadedWorker[], ring?: ShmRing, table?: PlanTable): Loaded {
  const w = workers.find((x) => x.name === m.name)
  if (!w) throw new BackendCrash(`GPU backend did not load model "${m.name}"`)
  // eclip-live: an execution may name any plan of the table that lists the model; each must have been captured
  const missing = (table?.plans ?? []).filter(
    (e) => e.plan.workers.some((pw) => pw.name === m.name) && !w.plans?.[e.key],
  )
  if (missing.length > 0)
    throw new BackendCrash(
      `GPU backend did not capture model "${m.name}" under ${missing.length} plans of the table (${missing
        .slice(0, 3)
        .map((e) => e.key)
        .join(', ')}${missing.length > 3 ? ', …' : ''})`,
    )
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
  const outItemBytes = w.outputShape.slice(1).reduce((a, b) => a * b, 1) * ELEMENT_BYTES[w.outputDtype]
  return {
    model: m,
    worker: w,
    keys: new Set(Object.keys(w.plans ?? {})),
    outputName: output.name,
    outItemBytes,
    ...(ring ? { ring } : {}),
    computeUsAvg: 0,
  }
}

/**
 * Bytes of one execution of the model's largest tensors in a ring (input in its widest accepted datatype + output,
 * each rounded up to the ring's alignment), or null when a dimension other than the batch is variable.
 */
function slotBytes(m: ServedModel): number | null {
  const input = m.io.inputs[0]
  const output = m.io.outputs[0]
  if (!input || !output) return null
  const items = (shape: number[]) =>
    shape.slice(1).some((d) => d < 0) ? null : m.batch * shape.slice(1).reduce((a, b) => a * b, 1)
  const ni = items(input.shape)
  const no = items(output.shape)
  if (ni === null || no === null) return null
  const widest = Math.max(...[input.datatype, ...(input.alsoAccepts ?? [])].map((d) => ELEMENT_BYTES[d]))
  const round = (b: number) => Math.ceil(b / 64) * 64
  return round(ni * widest) + round(no * ELEMENT_BYTES[output.datatype])
}

/** A region reference as the infer frame carries it. */
function regionSpan(ref: ShmRef, range?: [number, number]): RegionSpan {
  return range
    ? { region: ref.region.id, offset: ref.offset, bytes: ref.bytes, range }
    : { region: ref.region.id, offset: ref.offset, bytes: ref.bytes }
}

/**
 * Executions per model sent ahead when no count is set: as many as the backend overlaps by default
 * (ECLIP_PIPELINE_DEPTH's default), so that a model whose requests keep coming has its next executions waiting in the
 * backend (docs/serve.md#backends). It is what requests through the model's ring get (the ring has room for this
 * many more), and the least for requests in clients' regions. MAX_AHEAD bounds every count.
 */
export const DEFAULT_AHEAD = 2
export const MAX_AHEAD = 8
/**
 * The GPU time a model's executions sent ahead should cover: more than the server's usual holds (a young-generation
 * collection, a long turn of its event loop), so that a fast model's stream does not run dry through one while its
 * requests wait in the server (docs/serve.md#backends).
 */
export const AHEAD_COVER_US = 3000

/**
 * Executions sent ahead for requests in shared memory of a model whose executions take `computeUs` on the GPU: enough
 * to cover AHEAD_COVER_US, DEFAULT_AHEAD to MAX_AHEAD (DEFAULT_AHEAD before its first execution is timed).
 */
export function aheadByGpuTime(computeUs: number): number {
  if (!(computeUs > 0)) return DEFAULT_AHEAD
  return Math.max(DEFAULT_AHEAD, Math.min(MAX_AHEAD, Math.ceil(AHEAD_COVER_US / computeUs)))
}

/** $ECLIP_SERVE_AHEAD: executions per model sent ahead (a count ≥ 0); undefined when unset. */
function aheadFromEnv(): number | undefined {
  const raw = process.env.ECLIP_SERVE_AHEAD
  if (raw === undefined || raw === '') return undefined
  const n = Number(raw)
  if (!Number.isInteger(n) || n < 0 || n > MAX_AHEAD)
    throw new UserError(
      `ECLIP_SERVE_AHEAD: "${raw}" is not a count of executions (an integer 0 … ${MAX_AHEAD})`,
    )
  return n
}
