// One front-end process of `eclip serve --frontends N` (a Node cluster worker: the listening port is shared with the
// other front-ends). It runs the KServe routes (kserve/routes.ts, as the single-process server does) against
// FrontendService, which forwards to the engine over the IPC channel: bodies are parsed, validated and answered
// here, on this process's core; queues, batching and the backend stay in the engine. A request's input bytes are
// written into this front-end's staging region (a /dev/shm file the engine registered with the backend) and sent as
// a region reference, like a client's shared-memory request; its outputs come back the same way and are read here.
// Routes it does not serve (metrics, dashboard, the model repository's, anything unknown) are forwarded to the engine's
// own listener; the engine pushes the served models after a model is loaded or unloaded there. The statistics
// extension answers the engine's counts, asked for at every statistics call (HTTP's and gRPC's).
import http from 'node:http'
import { Socket } from 'node:net'
import { join } from 'node:path'
import { setLogger } from '@grpc/grpc-js'
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify'
import { toMonotonicMs } from '../../clock.ts'
import { MAX_TIMER_MS } from '../../formats/serve-config.ts'
import { AnswerTracker } from '../answer-tracker.ts'
import type { RawTensor, ShmRef } from '../backend.ts'
import { GrpcFrontEnd } from '../grpc/server.ts'
import { answerClientError, answerFrameworkError } from '../http-errors.ts'
import type { Datatype } from '../kserve/datatypes.ts'
import { ELEMENT_BYTES } from '../kserve/datatypes.ts'
import { ProtocolError } from '../kserve/errors.ts'
import type { RepositoryEntry } from '../kserve/repository.ts'
import {
  type EarlyAnswer,
  type InferenceService,
  type InferOutcome,
  queueFullAnswer,
  registerKserveRoutes,
  type ServiceModel,
} from '../kserve/routes.ts'
import type { DecodedRequest } from '../kserve/tensors.ts'
import type { CudaRegionSpec, RegionLookup, ShmRegion, SystemRegionSpec } from '../shm/region.ts'
import { type RingSpan, ShmRing } from '../shm-ring.ts'
import {
  asBuffer,
  CHANNEL_FD,
  type EngineState,
  FrameChannel,
  type FrontendInit,
  frontendFrame,
  inferHeader,
  type ModelStats,
  type RegionTable,
  type ShmMethod,
  STAGING_PREFIX,
  statsFrame,
  type ToEngine,
  type ToFrontend,
  type WireError,
  type WireOutcome,
  type WireRef,
  type WireRequest,
  type WireTensor,
  wireParameters,
} from './protocol.ts'

/**
 * How long a staging span of a failed request stays out of use: a request that timed out (or failed) while its
 * execution ran may still have its output written there by the backend (the GPU backend's own infer timeout).
 */
const QUARANTINE_MS = 30_000

/**
 * A drain's last steps, each this long: after every accepted request was answered, requests already on their way are
 * still answered (503, connection: close); then the connections left (inside a request that came as the drain ended)
 * may still take their answer before they are cut.
 */
const CLOSE_GRACE_MS = 250

/** What a front-end leaves of the engine's drain budget when it stops waiting for its accepted requests. */
const DRAIN_MARGIN_MS = 1000

/**
 * The channels to the engine: calls by id (infer calls on the frame channel where the engine gave one, the rest over
 * the IPC channel), and the state it pushes.
 */
class EngineLink {
  private next = 0
  private readonly calls = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>()
  state: EngineState = { live: true, ready: false, full: {} }
  regions: RegionTable = { seq: 0, system: [], cuda: [], lookup: [] }
  /** The served models: init's, then each list the engine pushes after a load or unload. */
  models: ServiceModel[] = []
  onClose: (budgetMs: number) => void = () => {}
  private initWaiter: ((i: FrontendInit) => void) | undefined
  /** Infer calls and their replies (a socket pair the engine made at fd CHANNEL_FD), when there is one. */
  private readonly channel: FrameChannel | undefined

  constructor() {
    process.on('message', (m: ToFrontend) => this.onMessage(m))
    if (process.env.ECLIP_FRONTEND_CHANNEL === String(CHANNEL_FD))
      this.channel = new FrameChannel(
        new Socket({ fd: CHANNEL_FD, readable: true, writable: true }),
        (header, body) => this.onFrame(header, body),
      )
  }

  /** An infer call: on the frame channel (its inputs' bytes in the frame's body), else over IPC. */
  infer(model: string, req: WireRequest, receivedAtMonotonicMs: number): Promise<WireOutcome> {
    const channel = this.channel
    if (!channel) return this.call<WireOutcome>({ t: 'infer', model, req, receivedAtMonotonicMs })
    const id = ++this.next
    return new Promise<WireOutcome>((resolve, reject) => {
      const parts: Uint8Array[] = []
      const header = inferHeader(id, model, req, receivedAtMonotonicMs, parts)
      this.calls.set(id, { resolve: resolve as (v: unknown) => void, reject })
      if (!channel.send(header, parts)) {
        this.calls.delete(id)
        reject(new ProtocolError(503, 'the server is shutting down'))
      }
    })
  }

  /**
   * The engine's statistics now. On the frame channel where there is one: the failures this front-end told the
   * engine before (invalid, rejected) are counted in the answer.
   */
  stats(): Promise<ModelStats> {
    const channel = this.channel
    if (!channel) return this.call<ModelStats>({ t: 'stats' })
    const id = ++this.next
    return new Promise<ModelStats>((resolve, reject) => {
      this.calls.set(id, { resolve: resolve as (v: unknown) => void, reject })
      if (!channel.send({ t: 'stats', id })) {
        this.calls.delete(id)
        reject(new ProtocolError(503, 'the server is shutting down'))
      }
    })
  }

  /** A reply on the frame channel (its outputs' bytes are views of the frame's body), or the statistics. */
  private onFrame(header: unknown, body: Buffer) {
    const stats = statsFrame(header)
    if (stats) {
      const c = this.calls.get(stats.id)
      if (c) {
        this.calls.delete(stats.id)
        c.resolve(stats.stats)
      }
      return
    }
    const m = frontendFrame(header, body)
    if (!m) return
    const c = this.calls.get(m.id)
    if (!c) return
    this.calls.delete(m.id)
    if (m.ok) c.resolve(m.value)
    else c.reject(fromWire(m.error))
  }

  /** Tells the engine a request for `model` failed validation here (counted as INVALID). */
  invalid(model: string) {
    if (this.channel?.send({ t: 'invalid', model })) return
    this.send({ t: 'invalid', model })
  }

  /** Tells the engine a request for `model` was refused here, its queue full (counted as REJECTED). */
  rejected(model: string) {
    if (this.channel?.send({ t: 'rejected', model })) return
    this.send({ t: 'rejected', model })
  }

  init(): Promise<FrontendInit> {
    return new Promise((resolve) => {
      this.initWaiter = resolve
      this.send({ t: 'hello' })
    })
  }

  send(m: ToEngine) {
    if (process.connected) process.send?.(m, undefined, undefined, () => {})
  }

  call<T>(m: { t: 'infer' | 'shm' | 'staging' | 'stats' } & Record<string, unknown>): Promise<T> {
    const id = ++this.next
    return new Promise<T>((resolve, reject) => {
      if (!process.connected) return reject(new ProtocolError(503, 'the server is shutting down'))
      this.calls.set(id, { resolve: resolve as (v: unknown) => void, reject })
      this.send({ ...m, id } as ToEngine)
    })
  }

  private onMessage(m: ToFrontend) {
    switch (m.t) {
      case 'init':
        this.state = m.init.state
        this.regions = m.init.regions
        this.models = m.init.models
        this.initWaiter?.(m.init)
        return
      case 'reply': {
        const c = this.calls.get(m.id)
        if (!c) return
        this.calls.delete(m.id)
        if (m.ok) c.resolve(m.value)
        else c.reject(fromWire(m.error))
        return
      }
      case 'state':
        this.state = {
          live: m.live,
          ready: m.ready,
          full: m.full,
          ...(m.unavailable ? { unavailable: m.unavailable } : {}),
        }
        return
      case 'models':
        this.models = m.models
        this.send({ t: 'ack', seq: m.seq })
        return
      case 'regions':
        if (m.table.seq >= this.regions.seq) this.regions = m.table
        this.send({ t: 'ack', seq: m.table.seq })
        return
      case 'close':
        this.onClose(m.budgetMs)
    }
  }
}

function fromWire(e: WireError): Error {
  return e.status !== undefined
    ? new ProtocolError(e.status, e.message, e.headers ?? {})
    : new Error(e.message)
}

/** The InferenceService of a front-end: what the engine pushed, and calls to it. */
export class FrontendService implements InferenceService {
  /** The staging region's name at the engine, once registered. */
  stagingName: string | undefined

  constructor(
    private readonly link: EngineLink,
    private readonly init: FrontendInit,
    private readonly ring: ShmRing | undefined,
    /** POSTs an empty body to the engine's own listener (the forwarder's connections). */
    private readonly post: (path: string) => Promise<{ status: number; body: string }>,
  ) {}

  metadata() {
    return this.init.metadata
  }
  live() {
    return this.link.state.live
  }
  /** Set once the engine asks this front-end to close: it answers what it accepted, and is no longer ready. */
  draining = false
  ready() {
    return !this.draining && this.link.state.ready
  }
  notReadyReason() {
    return this.draining ? 'the server is shutting down' : undefined
  }
  models(): ServiceModel[] {
    return this.link.models
  }
  unavailableReason(name: string) {
    return this.link.state.unavailable?.[name]
  }
  /** The engine's statistics as they are now (the engine keeps the counts; HTTP's and gRPC's routes ask here). */
  async modelStats(name?: string): Promise<ModelStats> {
    const all = await this.link.stats()
    return name === undefined ? all : all.filter((s) => s.name === name)
  }
  // the model repository is the engine's: asked over its HTTP routes (as a forwarded request is), it pushes the
  // served models to every front-end before it answers a load or unload
  repositoryIndex(): Promise<RepositoryEntry[]> {
    return this.engine('/v2/repository/index') as Promise<RepositoryEntry[]>
  }
  async loadModel(name: string) {
    await this.engine(`/v2/repository/models/${encodeURIComponent(name)}/load`)
  }
  async unloadModel(name: string) {
    await this.engine(`/v2/repository/models/${encodeURIComponent(name)}/unload`)
  }
  /**
   * POSTs to the engine's listener (no time limit: a load waits its turn behind others); its JSON answer, or its error
   * as a ProtocolError of the same status (503 where the engine does not answer).
   */
  private async engine(path: string): Promise<unknown> {
    let res: { status: number; body: string }
    try {
      res = await this.post(path)
    } catch (err) {
      throw new ProtocolError(503, `the server's engine did not answer: ${(err as Error).message}`)
    }
    if (res.status < 200 || res.status >= 300) {
      let message = res.body
      try {
        message = (JSON.parse(res.body) as { error?: string }).error ?? res.body
      } catch {}
      throw new ProtocolError(res.status, message.slice(0, 1000))
    }
    if (!res.body) return undefined
    try {
      return JSON.parse(res.body)
    } catch {
      throw new ProtocolError(502, `the server's engine answered ${path} with a body that is not JSON`)
    }
  }
  modelReady(_name: string) {
    return this.ready()
  }
  invalid(model: ServiceModel) {
    this.link.invalid(model.name)
  }
  shmRegions(): RegionLookup {
    // what decodeInferRequest checks of a region (name, kind, size); the engine resolves the name again
    return {
      region: (name) => this.link.regions.lookup.find((r) => r.name === name) as ShmRegion | undefined,
    }
  }

  async infer(model: ServiceModel, req: DecodedRequest, receivedAt: number): Promise<InferOutcome> {
    const staged = this.ring && this.stagingName ? await this.stage(model, req, this.ring) : undefined
    const wire: WireRequest = {
      ...(req.id !== undefined ? { id: req.id } : {}),
      batch: req.batch,
      inputs: staged?.inputs ?? req.inputs.map(wireTensor),
      ...(staged?.outputs
        ? { outputs: staged.outputs }
        : req.outputs
          ? { outputs: req.outputs.map((o) => ({ name: o.name, binary: o.binary, ...refOf(o.shm) })) }
          : {}),
      binaryOutputs: req.binaryOutputs,
      ...(req.timeoutUs !== undefined ? { timeoutUs: req.timeoutUs } : {}),
      parameters: wireParameters(req.parameters),
    }
    req.inputs = [] // the bytes are in the staging region or in `wire` now
    let failed: Error | undefined
    try {
      const outcome = await this.link.infer(model.name, wire, toMonotonicMs(receivedAt))
      const outputs = await Promise.all(outcome.outputs.map((t) => this.rawTensor(t)))
      return { outputs, parameters: outcome.parameters }
    } catch (err) {
      failed = err as Error
      throw err
    } finally {
      if (staged) {
        const span = staged.span
        const ring = this.ring as ShmRing
        const unsafe =
          failed && !(failed instanceof ProtocolError && failed.status !== 504 && failed.status !== 500)
        if (unsafe) setTimeout(() => ring.alloc.release(span), QUARANTINE_MS).unref()
        else ring.alloc.release(span)
      }
    }
  }

  /**
   * Writes the request's input bytes into the staging region and says where its outputs go there; undefined when
   * the request goes with its bytes instead: one the engine may merge with others (dynamic batching concatenates
   * bytes; a request with tensors in shared memory runs alone), or one that finds no room.
   */
  private async stage(
    model: ServiceModel,
    req: DecodedRequest,
    ring: ShmRing,
  ): Promise<{ inputs: WireTensor[]; outputs?: WireRequest['outputs']; span: RingSpan } | undefined> {
    const batching = model.config.dynamic_batching as { max_requests?: number } | undefined
    const alone =
      req.batch >= model.maxBatch ||
      (batching?.max_requests ?? 1) <= 1 ||
      req.inputs.some((t) => t.shm) ||
      (req.outputs?.some((o) => o.shm) ?? false)
    if (!alone) return undefined
    const round = (b: number) => ring.alloc.round(b)
    let bytes = 0
    const inAt = req.inputs.map((t) => {
      if (t.shm) return -1
      const at = bytes
      bytes += round(t.data.length)
      return at
    })
    // outputs the client did not send to a region of its own, where their size is known
    const wanted: { name: string; binary: boolean; shm?: ShmRef }[] =
      req.outputs ?? model.io.outputs.map((o) => ({ name: o.name, binary: req.binaryOutputs }))
    const outAt: { at: number; bytes: number }[] = []
    let stageOutputs = true
    for (const w of wanted) {
      if (w.shm) continue
      const spec = model.io.outputs.find((s) => s.name === w.name)
      const n = spec ? outputBytes(spec.shape, spec.datatype, req.batch) : null
      if (n === null) {
        stageOutputs = false
        break
      }
      outAt.push({ at: bytes, bytes: n })
      bytes += round(n)
    }
    if (!stageOutputs)
      bytes = inAt.reduce((a, at, i) => (at < 0 ? a : a + round(req.inputs[i]?.data.length ?? 0)), 0)
    if (bytes === 0) return undefined
    const span = ring.alloc.alloc(bytes)
    if (!span) return undefined
    const region = this.stagingName as string
    try {
      await Promise.all(
        req.inputs.map((t, i) =>
          (inAt[i] as number) < 0 ? undefined : ring.write(t.data, span.offset + (inAt[i] as number)),
        ),
      )
    } catch {
      ring.alloc.release(span)
      return undefined
    }
    const inputs = req.inputs.map((t, i): WireTensor => {
      const at = inAt[i] as number
      if (at < 0) return wireTensor(t)
      return {
        name: t.name,
        datatype: t.datatype,
        shape: t.shape,
        shm: { region, staging: true, offset: span.offset + at, bytes: t.data.length },
      }
    })
    if (!stageOutputs)
      return {
        inputs,
        ...(req.outputs
          ? { outputs: req.outputs.map((o) => ({ name: o.name, binary: o.binary, ...refOf(o.shm) })) }
          : {}),
        span,
      }
    let k = 0
    const outputs = wanted.map((w) => {
      if (w.shm) return { name: w.name, binary: w.binary, ...refOf(w.shm) }
      const o = outAt[k++] as { at: number; bytes: number }
      return {
        name: w.name,
        binary: w.binary,
        shm: { region, staging: true as const, offset: span.offset + o.at, bytes: o.bytes },
      }
    })
    return { inputs, outputs, span }
  }

  /**
   * An output as the routes encode it: bytes (read back from the staging region), or where a client's region holds
   * it.
   */
  private async rawTensor(t: WireTensor): Promise<RawTensor> {
    const base = { name: t.name, datatype: t.datatype as Datatype, shape: t.shape }
    if (t.shm?.staging) return { ...base, data: await (this.ring as ShmRing).read(t.shm.offset, t.shm.bytes) }
    if (t.shm) {
      const ref = { region: { name: t.shm.region } as ShmRegion, offset: t.shm.offset, bytes: t.shm.bytes }
      return { ...base, data: Buffer.alloc(0), shm: ref }
    }
    return { ...base, data: t.data ? asBuffer(t.data) : Buffer.alloc(0) }
  }

  // ── shared memory: registrations go to the engine; status comes from the table it pushes ──────────────────────
  private shm(method: ShmMethod, args: unknown[]): Promise<void> {
    return this.link.call({ t: 'shm', method, args })
  }
  registerSystemShm(name: string, spec: SystemRegionSpec) {
    return this.shm('registerSystemShm', [name, spec])
  }
  unregisterSystemShm(name?: string) {
    return this.shm('unregisterSystemShm', name === undefined ? [] : [name])
  }
  registerCudaShm(name: string, spec: CudaRegionSpec) {
    return this.shm('registerCudaShm', [name, spec])
  }
  unregisterCudaShm(name?: string) {
    return this.shm('unregisterCudaShm', name === undefined ? [] : [name])
  }
  systemShmStatus(name?: string) {
    return this.status('system', name) as RegionTable['system']
  }
  cudaShmStatus(name?: string) {
    return this.status('cuda', name) as unknown as { name: string; device_id: number; byte_size: number }[]
  }
  private status(kind: 'system' | 'cuda', name?: string): Record<string, unknown>[] {
    const t = this.link.regions
    const list = (kind === 'system' ? t.system : t.cuda) as Record<string, unknown>[]
    if (name === undefined || name === '') return list
    const e = list.find((x) => x.name === name)
    if (e) return [e]
    // as the registry words it (shm/registry.ts status)
    if (t.lookup.some((r) => r.name === name)) {
      const is = kind === 'cuda' ? 'system shared memory' : 'CUDA shared memory'
      const not = kind === 'cuda' ? 'CUDA shared memory' : 'system shared memory'
      throw new ProtocolError(404, `The region named '${name}' is registered as ${is}, not ${not}`)
    }
    throw new ProtocolError(404, `Unable to find ${kind} shared memory region: '${name}'`)
  }
}

function wireTensor(t: RawTensor): WireTensor {
  const base = { name: t.name, datatype: t.datatype, shape: t.shape }
  return t.shm ? { ...base, ...refOf(t.shm) } : { ...base, data: t.data }
}

function refOf(shm: ShmRef | undefined): { shm?: WireRef } {
  return shm ? { shm: { region: shm.region.name, offset: shm.offset, bytes: shm.bytes } } : {}
}

/** Bytes of an output with model shape `shape` (batch first) at batch `n`; null when a dimension is variable. */
function outputBytes(shape: number[], dt: Datatype, n: number): number | null {
  let count = n
  for (let d = 1; d < shape.length; d++) {
    const x = shape[d] as number
    if (x < 0) return null
    count *= x
  }
  return count * ELEMENT_BYTES[dt]
}

/** Runs this process as a front-end until the engine closes it (or goes away). */
export async function runFrontend(): Promise<void> {
  if (!process.send) throw new Error('a front-end runs as a cluster worker of `eclip serve --frontends N`')
  // the engine decides when to stop (a terminal's Ctrl-C reaches the whole process group); without it, nothing to do
  process.on('SIGINT', () => {})
  process.on('SIGTERM', () => {})
  process.on('disconnect', () => process.exit(0))
  quietGrpcBindFailures()
  const link = new EngineLink()
  const init = await link.init()

  let ring: ShmRing | undefined
  if (init.stagingBytes > 0) {
    const key = `${STAGING_PREFIX}${process.ppid}-${process.pid}`
    try {
      ring = ShmRing.create(join(init.shmDir, key), init.stagingBytes)
    } catch (err) {
      process.stderr.write(
        `eclip serve: front-end ${init.index}: no staging region (${(err as Error).message}); tensors go over the IPC channel\n`,
      )
    }
  }
  const upstream = forwarder(init.engineUrl)
  const svc = new FrontendService(link, init, ring, upstream.post)
  if (ring)
    try {
      svc.stagingName = await link.call<string>({
        t: 'staging',
        key: `/${ring.path.split('/').pop()}`,
        byteSize: ring.capacity,
      })
    } catch (err) {
      process.stderr.write(
        `eclip serve: front-end ${init.index}: the engine did not register the staging region (${(err as Error).message}); tensors go over the IPC channel\n`,
      )
      ring.close()
      ring = undefined
    }

  const level = init.logLevel
  const app = Fastify({
    ...(init.fastify as object),
    logger: level === 'silent' || !level ? false : { level, stream: process.stderr },
    forceCloseConnections: 'idle',
    return503OnClosing: false,
    // Node's parser's and the router's errors answered as the single-process server answers them
    clientErrorHandler: answerClientError,
    frameworkErrors: answerFrameworkError,
    // with the request timeout to Node's server constructor, which checks one against the other there (against its
    // own default request timeout, a longer headers timeout would be refused)
    ...(init.server.headersTimeout !== undefined
      ? {
          http: {
            headersTimeout: init.server.headersTimeout,
            ...(typeof init.fastify.requestTimeout === 'number'
              ? { requestTimeout: init.fastify.requestTimeout }
              : {}),
          },
        }
      : {}),
  })
  if (init.server.maxConnections !== undefined) app.server.maxConnections = init.server.maxConnections
  const bodyLimit = (init.fastify.bodyLimit as number | undefined) ?? 64 * 2 ** 20
  const grpc =
    init.grpcPort !== undefined
      ? new GrpcFrontEnd(svc, {
          maxMessageBytes: bodyLimit,
          ...(init.maxJsonBytes !== undefined ? { maxJsonBytes: init.maxJsonBytes } : {}),
          log: (err, msg) => app.log.error({ err }, msg),
        })
      : undefined
  // as the single-process server (server.ts): new infer requests on open connections are refused while draining, and
  // an infer request for a model whose queue the engine last said is full, before its body is read
  const early = (
    method: string,
    url: string,
    name?: string,
    contentLength?: string,
  ): EarlyAnswer | undefined => {
    if (method !== 'POST') return undefined
    if (svc.draining && url.startsWith('/v2/models/'))
      return {
        status: 503,
        headers: { connection: 'close', 'retry-after': '1' },
        error: 'the server is shutting down',
      }
    const queueSize = name === undefined ? undefined : link.state.full[name]
    if (queueSize === undefined || name === undefined || !url.endsWith('/infer')) return undefined
    link.rejected(name)
    return queueFullAnswer(name, queueSize, contentLength, bodyLimit)
  }
  app.addHook('onRequest', async (req, reply) => {
    const e = early(
      req.method,
      req.url,
      (req.params as { name?: string } | undefined)?.name,
      req.headers['content-length'],
    )
    if (e) return reply.code(e.status).headers(e.headers).send({ error: e.error })
  })
  registerKserveRoutes(app, svc, bodyLimit, {
    early,
    // the model repository's calls go to the engine (forwarded below), which pushes the served models after each
    repository: false,
    ...(init.maxJsonBytes !== undefined ? { maxJsonBytes: init.maxJsonBytes } : {}),
  })
  app.all('/*', upstream.forward)
  app.addHook('preClose', async () => upstream.closeAll())

  const answers = new AnswerTracker(app.server)
  // as the single-process server's drain (server.ts): infer requests that come while draining are answered 503, every
  // answer closes its connection, the requests accepted before are answered (a stream the engine sends until its
  // client goes, the dashboard's, is ended), and only then are the listener and the connections left closed, the last
  // ones cut after a short grace. A request still arriving when the engine's budget nears its end is cut: the engine
  // kills a front-end still draining at the budget, and its own drain needs the rest
  link.onClose = (budgetMs) => {
    if (svc.draining) return
    svc.draining = true
    upstream.closeStreams()
    let late: NodeJS.Timeout | undefined
    const deadline = new Promise<void>((r) => {
      late = setTimeout(r, Math.max(0, Math.min(budgetMs - DRAIN_MARGIN_MS, MAX_TIMER_MS)))
    })
    Promise.all([
      Promise.race([answers.drain(), deadline]).then(async () => {
        clearTimeout(late)
        // a request already on its way on an idle connection still finds the listener, and its 503
        await new Promise((r) => setTimeout(r, CLOSE_GRACE_MS))
        const cut = setTimeout(() => app.server.closeAllConnections(), CLOSE_GRACE_MS)
        try {
          await app.close()
        } finally {
          clearTimeout(cut)
        }
      }),
      grpc?.close(),
    ])
      .catch(() => {})
      .finally(() => {
        ring?.close()
        process.exit(0)
      })
  }
  try {
    const address = await app.listen({ port: init.port, host: init.host })
    const grpcPort = init.grpcPort
    // a gRPC listener that fails is marked with its port, as EclipServer.listen marks it: startServe names it so
    const grpcAddress =
      grpc && grpcPort !== undefined
        ? await grpc.listen(grpcPort, init.host).catch((err: Error) => {
            throw Object.assign(err, { grpcPort })
          })
        : undefined
    link.send({ t: 'listening', address, ...(grpcAddress ? { grpcAddress } : {}) })
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { grpcPort?: number }
    link.send({
      t: 'failed',
      message: e.message,
      ...(e.code ? { code: e.code } : {}),
      ...(e.grpcPort !== undefined ? { grpcPort: e.grpcPort } : {}),
    })
    ring?.close()
    process.exit(1)
  }
}

let quiet = false
/**
 * grpc-js logs "No address added out of total N resolved" on its own when a bind fails, then rejects with those words
 * and the system's error, which `eclip serve` reports in one line (a busy gRPC port): that log line alone is dropped.
 * grpc-js's other lines keep its default logger's form ("E …", "I …", "D …" on stderr). Process-wide, once.
 */
export function quietGrpcBindFailures() {
  if (quiet) return
  quiet = true
  const say =
    (tag: string) =>
    (message?: unknown, ...rest: unknown[]) =>
      console.error(`${tag} ${message}`, ...rest)
  const error = say('E')
  setLogger({
    error: (message?: unknown, ...rest: unknown[]) => {
      if (typeof message === 'string' && message.startsWith('No address added out of total')) return
      error(message, ...rest)
    },
    info: say('I'),
    debug: say('D'),
  })
}

/**
 * Forwards a request to the engine's listener as it came, and its answer back as it comes (streams included); `post`
 * makes a call of this front-end's own there. Paths go as they are (no dot segments resolved: a model may be "..").
 */
function forwarder(engineUrl: string) {
  const agent = new http.Agent({ keepAlive: true })
  const { hostname, port } = new URL(engineUrl)
  const to = (path: string, method: string, headers: http.OutgoingHttpHeaders) => ({
    hostname,
    port,
    path,
    method,
    headers,
    agent,
  })
  const open = new Set<http.IncomingMessage>()
  const forward = (req: FastifyRequest, reply: FastifyReply, retry = true) => {
    const headers = { ...req.headers }
    delete headers.connection
    // a body is forwarded as the routes' parser left it (inflated where it came compressed): its headers say so
    const body = Buffer.isBuffer(req.body) ? req.body : undefined
    if (body) {
      delete headers['content-encoding']
      delete headers['transfer-encoding']
      headers['content-length'] = String(body.length)
    }
    const up = http.request(to(req.url, req.method, headers), (res) => {
      open.add(res)
      res.on('close', () => open.delete(res))
      reply.code(res.statusCode ?? 502)
      for (const [k, v] of Object.entries(res.headers))
        if (v !== undefined && !['connection', 'keep-alive', 'transfer-encoding'].includes(k))
          reply.header(k, v)
      reply.send(res)
    })
    up.on('error', (err: NodeJS.ErrnoException) => {
      // a kept-alive connection the engine closed (its keepAliveTimeout) as this request went out on it: the engine
      // never saw the request (its body is at hand): sent again once, on a fresh connection
      if (retry && up.reusedSocket && err.code === 'ECONNRESET' && !reply.sent)
        return forward(req, reply, false)
      if (!reply.sent) reply.code(502).send({ error: `the server's engine did not answer: ${err.message}` })
    })
    up.end(body)
  }
  const post = (path: string, retry = true): Promise<{ status: number; body: string }> =>
    new Promise((resolve, reject) => {
      const up = http.request(to(path, 'POST', { 'content-length': '0' }), (res) => {
        const parts: Buffer[] = []
        res.on('data', (b: Buffer) => parts.push(b))
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 502, body: Buffer.concat(parts).toString('utf8') }),
        )
        res.on('error', reject)
      })
      up.on('error', (err: NodeJS.ErrnoException) => {
        // as forward's: a kept-alive connection closed as the call went out on it is tried once more
        if (retry && up.reusedSocket && err.code === 'ECONNRESET') post(path, false).then(resolve, reject)
        else reject(err)
      })
      up.end()
    })
  return {
    forward,
    post,
    closeAll: () => {
      for (const r of open) r.destroy()
      agent.destroy()
    },
    // a stream the engine sends until the client goes (the dashboard's events): a drain would wait for it forever
    closeStreams: () => {
      for (const r of open) if (String(r.headers['content-type']).startsWith('text/event-stream')) r.destroy()
    },
  }
}
