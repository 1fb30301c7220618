// The engine side of `eclip serve --frontends N`: the primary process keeps the one EclipServer (model workers,
// queues, dynamic batching, the plan, metrics, the backend and its restarts) and forks N front-end processes (Node
// cluster workers, which share the listening port) that run the KServe HTTP routes against a proxy service. This
// class answers their calls over the IPC channel, registers each front-end's staging file as a system shared-memory
// region of its own (kept apart from clients' regions: clients never see or unregister them), pushes readiness and
// the clients' region table to every front-end, and the served models after a model is loaded or unloaded (every
// front-end has them before the call is answered; the repository's calls themselves are forwarded here, to the
// engine's listener), forks a front-end again when one dies, and closes them first on drain (they finish what they
// accepted; the engine then drains its workers). The statistics extension's counts are the engine's: a front-end asks
// for them at every statistics call, HTTP's and gRPC's.
import cluster, { type Worker } from 'node:cluster'
import { readdirSync, unlinkSync } from 'node:fs'
import { createServer, Socket } from 'node:net'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { fromMonotonicMs } from '../../clock.ts'
import { frameFlushFromEnv } from '../../execute/gpu/frames.ts'
import { MAX_TIMER_MS } from '../../formats/serve-config.ts'
import { NO_DATA, type RawTensor, type ShmRef } from '../backend.ts'
import { HEAP_GROWING_FLAG, heapGrowingFlag, servingHeapGrowingPercent } from '../heap.ts'
import type { Datatype } from '../kserve/datatypes.ts'
import { ProtocolError } from '../kserve/errors.ts'
import type { ServiceModel } from '../kserve/routes.ts'
import type { DecodedRequest } from '../kserve/tensors.ts'
import type { EclipServer } from '../server.ts'
import type { ShmRegion } from '../shm/region.ts'
import { RegionRegistry } from '../shm/registry.ts'
import {
  asBuffer,
  CHANNEL_FD,
  type EngineState,
  engineFrame,
  FrameChannel,
  failedHeader,
  type RegionTable,
  replyHeader,
  STAGING_PREFIX,
  statsHeader,
  type ToEngine,
  type ToFrontend,
  type WireError,
  type WireOutcome,
  type WireRef,
  type WireRequest,
  type WireTensor,
} from './protocol.ts'

export interface FrontendPoolOptions {
  /** Front-end processes (≥ 1). */
  count: number
  port: number
  host: string
  /** gRPC port the front-ends listen on too (0: a free one); absent: no gRPC. */
  grpcPort?: number
  /** Bytes of each front-end's staging region (default STAGING_BYTES; 0: tensors cross the IPC channel). */
  stagingBytes?: number
  /** Where staging files go (a tmpfs; default /dev/shm). */
  shmDir?: string
  log?: (line: string) => void
}

/**
 * Room for a few dozen batch-8 image requests in flight per front-end; a request that finds no room crosses the
 * channel.
 */
export const STAGING_BYTES = 128 * 2 ** 20

interface Frontend {
  index: number
  worker: Worker
  /** Its infer calls and their replies (protocol.ts FrameChannel). */
  channel?: FrameChannel
  startedAt: number
  region?: ShmRegion
  stagingPath?: string
  acked: number
  listening?: (m: { address: string; grpcAddress?: string }) => void
  failed?: (err: Error) => void
}

/**
 * The most front-ends `eclip serve` starts unasked: more parse no more requests, and each one is another process for
 * the engine to wake (docs/serve.md, "How many front-ends").
 */
export const MAX_DEFAULT_FRONTENDS = 8

/**
 * `eclip serve`'s default: one front-end per core but one (the engine's), at most MAX_DEFAULT_FRONTENDS, none where
 * that leaves fewer than 2.
 */
export function defaultFrontends(cores: number): number {
  const n = Math.min(cores - 1, MAX_DEFAULT_FRONTENDS)
  return n >= 2 ? n : 0
}

export class FrontendPool {
  private readonly staging: RegionRegistry
  private readonly frontends = new Set<Frontend>()
  private engineUrl = ''
  private seq = 0
  private closing = false
  private stateTimer: NodeJS.Timeout | undefined
  private lastState = ''
  private ackWaiters: (() => void)[] = []
  private respawnDelayMs = 100
  private respawnTimers = new Set<NodeJS.Timeout>()
  /** Front-ends forked again after dying (tests and logs). */
  respawns = 0
  /** host:port of the front-ends' gRPC listener, when they have one. */
  grpcAddress: string | undefined

  /** The served models by name. */
  private models: Map<string, ServiceModel>
  private readonly unsubscribe: () => void

  constructor(
    readonly server: EclipServer,
    readonly opts: FrontendPoolOptions,
  ) {
    this.models = new Map(server.models().map((m) => [m.name, m]))
    // eclip-live: a model loaded or unloaded is known to every front-end before the call is answered
    this.unsubscribe = server.onModelsChanged(() => this.broadcastModels())
    if (!Number.isInteger(opts.count) || opts.count < 1)
      throw new Error(`front-ends: ${opts.count} is not a count ≥ 1`)
    this.staging = new RegionRegistry(server.opts.backend, {
      ...(opts.shmDir ? { shmDir: opts.shmDir } : {}),
      log: (l) => this.log(l),
    })
  }

  /** The front-ends' process ids (CPU accounting). */
  pids(): number[] {
    return [...this.frontends].map((f) => f.worker.process.pid as number).filter((p) => p !== undefined)
  }

  /** Starts the engine's own listener and the front-ends; resolves with the URL clients use once every one listens. */
  async start(): Promise<string> {
    frameFlushFromEnv() // the channels' setting: a bad one refused before any front-end starts
    // routes the front-ends do not serve themselves (metrics, dashboard, unknown URLs) are forwarded here
    this.engineUrl = await this.server.listen(0, '127.0.0.1')
    removeStaleStaging(this.opts.shmDir ?? '/dev/shm')
    // port 0: a free port chosen here. The cluster shares every worker's n-th listen on port 0 of an address as one
    // socket across all workers of the process, so a second server in this process would join the first one's
    if (this.opts.port === 0) this.opts.port = await freePort(this.opts.host)
    if (this.opts.grpcPort === 0) this.opts.grpcPort = await freePort(this.opts.host)
    let started: { address: string; grpcAddress?: string }[]
    try {
      started = await Promise.all(Array.from({ length: this.opts.count }, (_, i) => this.fork(i)))
    } catch (err) {
      await this.closeFrontends(2000)
      throw err
    }
    this.grpcAddress = started[0]?.grpcAddress
    this.stateTimer = setInterval(() => this.pushState(), 25)
    this.stateTimer.unref()
    return started[0]?.address as string
  }

  /** Closes the front-ends (each finishes the requests it accepted), then drains the engine as EclipServer.drain. */
  async drain(timeoutMs = 30_000): Promise<{ answered: boolean }> {
    // durations on the monotonic clock, which no wall-clock step moves
    const t0 = performance.now()
    await this.closeFrontends(timeoutMs)
    return this.server.drain(Math.max(0, timeoutMs - (performance.now() - t0)))
  }

  async close(): Promise<void> {
    await this.closeFrontends(5000)
    await this.server.close()
  }

  /** The served models to every front-end (after a load or unload), waiting (up to 2 s) until each has them. */
  private async broadcastModels(): Promise<void> {
    const models = this.server.models()
    this.models = new Map(models.map((m) => [m.name, m]))
    const seq = ++this.seq
    // the state first (why a model not served is not: unloaded, loading), so a front-end that has the new set has it
    this.pushState()
    for (const fe of this.frontends) this.send(fe, { t: 'models', seq, models })
    await this.acked(seq)
  }

  private fork(index: number): Promise<{ address: string; grpcAddress?: string }> {
    const entry = frontendEntry()
    // fd CHANNEL_FD of the front-end: a socket pair for its infer calls, beside the cluster's IPC channel (fd 3)
    const stdio = ['inherit', 'inherit', 'inherit', 'ipc', 'pipe']
    cluster.setupPrimary({
      exec: entry.exec,
      execArgv: entry.execArgv,
      args: [],
      serialization: 'advanced',
      stdio,
    })
    const worker = cluster.fork({
      ECLIP_FRONTEND: '1',
      ECLIP_FRONTEND_INDEX: String(index),
      ECLIP_FRONTEND_CHANNEL: String(CHANNEL_FD),
    })
    const fe: Frontend = { index, worker, startedAt: performance.now(), acked: 0 }
    const end = worker.process.stdio?.[CHANNEL_FD]
    if (end instanceof Socket)
      fe.channel = new FrameChannel(end, (header, body) => this.onFrame(fe, header, body))
    this.frontends.add(fe)
    const listening = new Promise<{ address: string; grpcAddress?: string }>((resolve, reject) => {
      fe.listening = resolve
      fe.failed = reject
    })
    worker.on('message', (m: ToEngine) => this.onMessage(fe, m))
    worker.on('error', (err) => this.log(`front-end ${index}: ${err.message}`))
    worker.on('exit', (code, signal) => {
      fe.failed?.(new Error(`front-end ${index} exited (${signal ?? `code ${code}`}) before it listened`))
      this.onExit(fe, code, signal)
    })
    return listening
  }

  private onExit(fe: Frontend, code: number | null, signal: string | null) {
    this.frontends.delete(fe)
    fe.channel?.close()
    // its staging region: closed in the backend once no accepted request uses it, its file removed now (a mapping
    // keeps the memory until then)
    if (fe.region) void this.staging.unregister('system', fe.region.name)
    if (fe.stagingPath) unlinkQuietly(fe.stagingPath)
    this.releaseAcks()
    if (this.closing) return
    const quick = performance.now() - fe.startedAt < 2000
    this.respawnDelayMs = quick ? Math.min(5000, this.respawnDelayMs * 2) : 100
    this.log(
      `front-end ${fe.index} (pid ${fe.worker.process.pid}) died (${signal ?? `code ${code}`}); forking it again in ${this.respawnDelayMs} ms`,
    )
    const t = setTimeout(() => {
      this.respawnTimers.delete(t)
      if (this.closing) return
      this.respawns++
      this.fork(fe.index).catch((err: Error) => this.log(`front-end ${fe.index}: ${err.message}`))
    }, this.respawnDelayMs)
    this.respawnTimers.add(t)
  }

  private async closeFrontends(timeoutMs: number): Promise<void> {
    this.closing = true
    this.unsubscribe()
    clearInterval(this.stateTimer)
    for (const t of this.respawnTimers) clearTimeout(t)
    this.respawnTimers.clear()
    const exits = [...this.frontends].map(
      (fe) =>
        new Promise<void>((resolve) => {
          if (fe.worker.isDead()) return resolve()
          fe.worker.once('exit', () => resolve())
          this.send(fe, { t: 'close', budgetMs: timeoutMs })
        }),
    )
    let timer: NodeJS.Timeout | undefined
    const done = await Promise.race([
      Promise.all(exits).then(() => true),
      new Promise<boolean>((r) => {
        // (Node's timers hold at most MAX_TIMER_MS; a longer one would fire at once)
        timer = setTimeout(() => r(false), Math.min(timeoutMs, MAX_TIMER_MS))
      }),
    ])
    clearTimeout(timer)
    if (!done) {
      for (const fe of this.frontends) fe.worker.process.kill('SIGKILL')
      await Promise.all(exits)
    }
  }

  private onMessage(fe: Frontend, m: ToEngine) {
    switch (m.t) {
      case 'hello':
        return this.send(fe, {
          t: 'init',
          init: {
            index: fe.index,
            port: this.opts.port,
            host: this.opts.host,
            engineUrl: this.engineUrl,
            metadata: this.server.metadata(),
            models: this.server.models(),
            fastify: fastifySettings(this.server.app.initialConfig as unknown as Record<string, unknown>),
            server: {
              headersTimeout: this.server.app.server.headersTimeout,
              maxConnections: Number.isFinite(this.server.app.server.maxConnections)
                ? Math.ceil(this.server.app.server.maxConnections / this.opts.count)
                : undefined,
            },
            ...(this.opts.grpcPort !== undefined ? { grpcPort: this.opts.grpcPort } : {}),
            logLevel: this.server.app.log.level,
            ...(this.server.opts.maxJsonBytes !== undefined
              ? { maxJsonBytes: this.server.opts.maxJsonBytes }
              : {}),
            stagingBytes: this.opts.stagingBytes ?? STAGING_BYTES,
            shmDir: this.opts.shmDir ?? '/dev/shm',
            state: this.engineState(),
            regions: this.table(),
          },
        })
      case 'staging':
        return this.answer(fe, m.id, async () => {
          const name = `frontend-${fe.index}-${fe.worker.process.pid}`
          fe.stagingPath = join(this.opts.shmDir ?? '/dev/shm', m.key.replace(/^\//, ''))
          await this.staging.registerSystem(name, { key: m.key, offset: 0, byteSize: m.byteSize })
          fe.region = this.staging.region(name)
          return name
        })
      case 'listening':
        fe.listening?.(m)
        fe.failed = undefined
        return
      case 'failed':
        // the gRPC port where that listener failed, as EclipServer.listen marks it (startServe words it so)
        fe.failed?.(
          Object.assign(new Error(m.message), {
            code: m.code,
            ...(m.grpcPort !== undefined ? { grpcPort: m.grpcPort } : {}),
          }),
        )
        return
      case 'infer':
        return this.answer(fe, m.id, () => this.infer(fe, m.model, m.req, m.receivedAtMonotonicMs))
      case 'shm':
        return this.answer(fe, m.id, async () => {
          try {
            const svc = this.server as unknown as Record<string, (...a: unknown[]) => Promise<void>>
            await svc[m.method]?.(...reviveShmArgs(m.method, m.args))
          } finally {
            // every front-end knows the region (or that it is gone) before the client hears back
            await this.broadcastRegions()
          }
        })
      case 'invalid': {
        const model = this.models.get(m.model)
        if (model) this.server.invalid(model)
        return
      }
      case 'rejected':
        return this.server.rejectedEarly(m.model)
      case 'stats':
        return this.send(fe, { t: 'reply', id: m.id, ok: true, value: this.server.modelStats() })
      case 'ack':
        fe.acked = Math.max(fe.acked, m.seq)
        return this.releaseAcks()
    }
  }

  /** A frame on a front-end's channel: an infer call (answered on the channel) or a failed validation. */
  private onFrame(fe: Frontend, header: unknown, body: Buffer) {
    const m = engineFrame(header, body)
    if (!m) return
    if (m.t === 'stats') {
      fe.channel?.send(statsHeader(m.id, this.server.modelStats()))
      return
    }
    if (m.t !== 'infer') return this.onMessage(fe, m)
    const id = m.id
    const channel = fe.channel as FrameChannel
    this.infer(fe, m.model, m.req, m.receivedAtMonotonicMs).then(
      (value) => {
        const parts: Uint8Array[] = []
        channel.send(replyHeader(id, value, parts), parts)
      },
      (err: unknown) => channel.send(failedHeader(id, wireError(err))),
    )
  }

  /** An infer call of a front-end: answered with its outputs as they cross back (a promise chain, no async hops). */
  private infer(
    fe: Frontend,
    name: string,
    w: WireRequest,
    receivedAtMonotonicMs: number,
  ): Promise<WireOutcome> {
    const model = this.models.get(name)
    // a front-end may send for a model the engine stopped serving before that front-end heard (an unload's end)
    if (!model)
      return Promise.reject(
        new ProtocolError(404, this.server.unavailableReason(name) ?? `unknown model "${name}"`),
      )
    let req: DecodedRequest
    try {
      req = this.decoded(fe, w)
    } catch (err) {
      if (err instanceof ProtocolError && err.status < 500) this.server.invalid(model)
      return Promise.reject(err)
    }
    return this.server.infer(model, req, fromMonotonicMs(receivedAtMonotonicMs)).then((outcome) => ({
      outputs: wireOutputs(outcome.outputs, fe.region),
      parameters: outcome.parameters,
    }))
  }

  /** The request as the server takes it: regions resolved by name (checked again: one may have gone meanwhile). */
  private decoded(fe: Frontend, w: WireRequest): DecodedRequest {
    const inputs: RawTensor[] = new Array(w.inputs.length)
    for (let i = 0; i < inputs.length; i++) {
      const t = w.inputs[i] as WireTensor
      const raw: RawTensor = {
        name: t.name,
        datatype: t.datatype as Datatype,
        shape: t.shape,
        data: t.data ? asBuffer(t.data) : NO_DATA,
      }
      if (t.shm) raw.shm = this.ref(fe, t.shm, 'input', t.name)
      inputs[i] = raw
    }
    const req: DecodedRequest = {
      batch: w.batch,
      inputs,
      binaryOutputs: w.binaryOutputs,
      parameters: w.parameters,
    }
    if (w.id !== undefined) req.id = w.id
    if (w.outputs)
      req.outputs = w.outputs.map((o) =>
        o.shm
          ? { name: o.name, binary: o.binary, shm: this.ref(fe, o.shm, 'output', o.name) }
          : { name: o.name, binary: o.binary },
      )
    if (w.timeoutUs !== undefined) req.timeoutUs = w.timeoutUs
    return req
  }

  /** A tensor's region reference resolved: the sending front-end's staging region, or a client's by name. */
  private ref(fe: Frontend, r: WireRef, kind: 'input' | 'output', name: string): ShmRef {
    const region = r.staging ? fe.region : this.server.regions.region(r.region)
    if (!region || (r.staging && region.name !== r.region))
      throw new ProtocolError(400, `${kind} "${name}": Unable to find shared memory region: '${r.region}'`)
    if (r.offset + r.bytes > region.byteSize)
      throw new ProtocolError(
        400,
        `${kind} "${name}": Invalid offset + byte size for shared memory region: '${r.region}' (offset ${r.offset} + byte_size ${r.bytes} runs past its ${region.byteSize} bytes)`,
      )
    return { region, offset: r.offset, bytes: r.bytes }
  }

  private answer(fe: Frontend, id: number, call: () => Promise<unknown>) {
    call().then(
      (value) => this.send(fe, { t: 'reply', id, ok: true, value }),
      (err: unknown) => this.send(fe, { t: 'reply', id, ok: false, error: wireError(err) }),
    )
  }

  private send(fe: Frontend, m: ToFrontend) {
    if (!fe.worker.isConnected()) return
    try {
      fe.worker.send(m, undefined, () => {})
    } catch {
      // it died meanwhile: its exit handler takes care of it
    }
  }

  private table(): RegionTable {
    return {
      seq: this.seq,
      system: this.server.systemShmStatus(),
      cuda: this.server.cudaShmStatus() as unknown as Record<string, unknown>[],
      lookup: this.server.regions.all().map((r) => ({ name: r.name, kind: r.kind, byteSize: r.byteSize })),
    }
  }

  /** Sends the clients' region table to every front-end and waits (up to 2 s) until each has it. */
  private async broadcastRegions(): Promise<void> {
    this.seq++
    const table = this.table()
    const seq = this.seq
    for (const fe of this.frontends) this.send(fe, { t: 'regions', table })
    await this.acked(seq)
  }

  /** Waits (up to 2 s) until every front-end has acknowledged message `seq` (or is gone). */
  private async acked(seq: number): Promise<void> {
    const all = () => [...this.frontends].every((f) => f.acked >= seq || !f.worker.isConnected())
    if (all()) return
    let timer: NodeJS.Timeout | undefined
    await Promise.race([
      new Promise<void>((resolve) => {
        const check = () => (all() ? resolve() : this.ackWaiters.push(check))
        this.ackWaiters.push(check)
      }),
      new Promise<void>((r) => {
        timer = setTimeout(r, 2000)
      }),
    ])
    clearTimeout(timer)
  }

  private releaseAcks() {
    const w = this.ackWaiters
    this.ackWaiters = []
    for (const f of w) f()
  }

  private engineState(): EngineState {
    const unavailable: Record<string, string> = {}
    for (const e of this.server.repository?.index() ?? []) {
      const why = e.state === 'READY' ? undefined : this.server.unavailableReason(e.name)
      if (why) unavailable[e.name] = why
    }
    return {
      live: this.server.live(),
      ready: this.server.ready(),
      full: this.server.fullQueues(),
      ...(Object.keys(unavailable).length > 0 ? { unavailable } : {}),
    }
  }

  /** Sends the state to every front-end when it changed (checked every 25 ms: a queue's fullness may lag that much). */
  private pushState() {
    const state = this.engineState()
    const key = `${state.live}${state.ready}${Object.keys(state.full).join('\n')}${JSON.stringify(state.unavailable ?? {})}`
    if (key === this.lastState) return
    this.lastState = key
    for (const fe of this.frontends) this.send(fe, { t: 'state', ...state })
  }

  private log(line: string) {
    if (this.opts.log) this.opts.log(line)
    else this.server.app.log.warn(line)
  }
}

/** The outputs as they cross back: bytes, or where they lie (`staging` in the front-end's own region). */
function wireOutputs(outputs: RawTensor[], staging: ShmRegion | undefined): WireTensor[] {
  return outputs.map((t): WireTensor => {
    const r = t.shm
    if (!r) return { name: t.name, datatype: t.datatype, shape: t.shape, data: t.data }
    const shm: WireRef = { region: r.region.name, offset: r.offset, bytes: r.bytes }
    if (r.region === staging) shm.staging = true
    return { name: t.name, datatype: t.datatype, shape: t.shape, shm }
  })
}

/** The shared-memory call's arguments as the server takes them (a CUDA handle comes over the channel as bytes). */
function reviveShmArgs(method: string, args: unknown[]): unknown[] {
  if (method !== 'registerCudaShm') return args
  const [name, spec] = args as [string, { rawHandle: Uint8Array; deviceId: number; byteSize: number }]
  return [name, { ...spec, rawHandle: spec.rawHandle ? asBuffer(spec.rawHandle) : spec.rawHandle }]
}

/**
 * The server's limits and timeouts a front-end's fastify takes over (read one by one: others are deprecated to read).
 */
const FASTIFY_KEYS = [
  'bodyLimit',
  'connectionTimeout',
  'keepAliveTimeout',
  'maxRequestsPerSocket',
  'requestTimeout',
  'handlerTimeout',
  'pluginTimeout',
  'http2SessionTimeout',
]

function fastifySettings(c: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const k of FASTIFY_KEYS) if (c[k] !== undefined) out[k] = c[k]
  return out
}

function wireError(err: unknown): WireError {
  if (err instanceof ProtocolError) return { status: err.status, message: err.message, headers: err.headers }
  return { message: err instanceof Error ? err.message : String(err) }
}

/**
 * How to start a front-end: from the sources, its entry main.ts through tsx; from the CLI's bundle, the CLI itself
 * (src/cli/main.ts runs a front-end when ECLIP_FRONTEND is set). Throws a UserError on a bad
 * ECLIP_HEAP_GROWING_PERCENT.
 */
function frontendEntry(): { exec: string; execArgv: string[] } {
  const self = fileURLToPath(import.meta.url)
  const flags = frontendExecArgv()
  if (self.endsWith('.ts'))
    return {
      exec: join(dirname(self), 'main.ts'),
      execArgv: ['--import', import.meta.resolve('tsx'), ...flags],
    }
  return { exec: process.argv[1] as string, execArgv: flags }
}

/**
 * The Node flags a front-end starts with: the engine's profiling and tracing flags (node --cpu-prof,
 * --perf-basic-prof, --trace-gc, …: its front-ends are profiled alike), Node's own --heap-growing-percent where the
 * engine was given one, then the heap growing percent serving processes run with (src/serve/heap.ts), last: it wins.
 */
export function frontendExecArgv(
  argv: readonly string[] = process.execArgv,
  env: NodeJS.ProcessEnv = process.env,
): string[] {
  const out: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string
    const heap = HEAP_GROWING_FLAG.test(a)
    if (!heap && !/^--(cpu-prof|heap-prof|perf-|interpreted-frames|trace-gc)/.test(a)) continue
    out.push(a)
    // a flag that takes a value (--cpu-prof-dir DIR, --heap-growing-percent N) keeps it
    const valued = /^--(cpu|heap)-prof-(dir|name|interval)$/.test(a) || (heap && !a.includes('='))
    if (valued && argv[i + 1] !== undefined) out.push(argv[++i] as string)
  }
  const percent = servingHeapGrowingPercent(env, argv)
  if (percent !== undefined) out.push(heapGrowingFlag(percent))
  return out
}

/** Staging files of engines that are gone (`eclip-frontend-<engine pid>-…`): removed. */
function removeStaleStaging(dir: string) {
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch {
    return
  }
  for (const name of names) {
    const m = new RegExp(`^${STAGING_PREFIX}(\\d+)-`).exec(name)
    if (!m || Number(m[1]) === process.pid) continue
    try {
      process.kill(Number(m[1]), 0)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') unlinkQuietly(join(dir, name))
    }
  }
}

/** A port free on `host` now (the OS's choice). */
function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, host, () => {
      const port = (srv.address() as { port: number }).port
      srv.close(() => resolve(port))
    })
  })
}

function unlinkQuietly(path: string) {
  try {
    unlinkSync(path)
  } catch {}
}
