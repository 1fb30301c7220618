// The inference server: one ModelWorker per served model in front of one backend, the KServe routes, /metrics, the
// dashboard, crash recovery (fail everything accepted with 503, restart the backend, not ready until it is back)
// and draining shutdown.
import Fastify, { type FastifyInstance } from 'fastify'
import type { Gpu } from '../formats/gpu.ts'
import type { Plan } from '../formats/plan.ts'
import { DEFAULT_REQUEST_TIMEOUT_MS, httpTimeoutError, MAX_TIMER_MS } from '../formats/serve-config.ts'
import { AnswerTracker } from './answer-tracker.ts'
import type { ServeBackend, ServedModel, ShmOutput } from './backend.ts'
import type { ComputeTime } from './compute-time.ts'
import { registerDashboard } from './dashboard.ts'
import { GrpcFrontEnd } from './grpc/server.ts'
import { answerClientError, answerFrameworkError } from './http-errors.ts'
import { PLATFORM } from './io-specs.ts'
import { ProtocolError } from './kserve/errors.ts'
import {
  type EarlyAnswer,
  type InferenceService,
  type InferOutcome,
  type KserveRoutes,
  queueFullAnswer,
  registerKserveRoutes,
  type ServiceModel,
} from './kserve/routes.ts'
import type { DecodedRequest } from './kserve/tensors.ts'
import { ActiveSetScheduler } from './live.ts'
import { ServerMetrics } from './metrics.ts'
import { ModelRepository } from './repository.ts'
import { OnePlan, type PlanScheduler } from './scheduling.ts'
import type { LiveSetup } from './setup.ts'
import type { CudaRegionSpec, SystemRegionSpec } from './shm/region.ts'
import { RegionRegistry } from './shm/registry.ts'
import { type Completion, ModelWorker, RequestFailure, type WorkerOptions } from './worker.ts'

export const SERVER_NAME = 'eclip'
export const SERVER_VERSION = '0.1.0'

export interface ServerOptions {
  models: ServedModel[]
  /** Queue/timeout/batching per served model name. */
  workerOptions: Map<string, WorkerOptions>
  backend: ServeBackend
  plan?: Plan
  /** The GPU layout the plan is for (slice sizes on the dashboard). */
  gpu?: Gpu
  /** Where each model's compute time comes from (shown in model config and on the dashboard). */
  computeSources?: Map<string, { us: number; source: string }>
  /** Lines about the setup the dashboard shows (e.g. "synthetic profiles: nothing measured"). */
  notes?: string[]
  /** More of each model's configuration for `…/config` (paris-elsa: its load and SLO), by served name. */
  modelConfig?: Map<string, Record<string, unknown>>
  maxBodyBytes?: number
  /** Largest JSON part of an infer request, bytes (default kserve/routes.ts MAX_JSON_BYTES; larger: 413). */
  maxJsonBytes?: number
  dashboard?: boolean
  /** Dashboard push period, ms. */
  dashboardPeriodMs?: number
  /** fastify logger option (false in tests). */
  logger?: boolean | object
  /** First restart delay after a crash, ms; doubles per failed attempt up to 5 s. */
  restartDelayMs?: number
  /** Timeouts and connection limits of the HTTP listener (HTTP_LIMITS where absent). */
  http?: HttpLimits
  /** eclip-live: the plan table followed per active set, and the repository models are loaded from. */
  live?: LiveSetup
  /** The compute times the simulator reads, changed as models are loaded and unloaded (eclip-live). */
  computeTimes?: Map<string, ComputeTime>
  /** Called once the server is closed (e.g. to stop planning threads). */
  onClose?: () => Promise<void>
}

/** What a slow or hostile client may hold: the serve config's `http` (src/formats/serve-config.ts). */
export interface HttpLimits {
  /** A request's headers and body must arrive within this, ms, or it is answered 408 and its connection closed. */
  requestTimeoutMs?: number
  /** Its headers within this, ms: at most requestTimeoutMs unless that is 0 (default: the lower of the two). */
  headersTimeoutMs?: number
  /**
   * An idle keep-alive connection is closed after this, ms. Longer than clients keep theirs idle (Node's http.Agent
   * has no limit, load balancers 60 s), so the server seldom closes a connection as a request goes out on it.
   */
  keepAliveTimeoutMs?: number
  /** Connections open at once; more are refused at accept (closed unanswered). */
  maxConnections?: number
  /** Requests one keep-alive connection may carry before it is closed; 0: no limit. */
  maxRequestsPerSocket?: number
}
export const HTTP_LIMITS: Required<HttpLimits> = {
  requestTimeoutMs: DEFAULT_REQUEST_TIMEOUT_MS,
  headersTimeoutMs: 10_000,
  keepAliveTimeoutMs: 75_000,
  maxConnections: 1024,
  maxRequestsPerSocket: 0,
}

export class EclipServer implements InferenceService {
  readonly app: FastifyInstance
  readonly metrics: ServerMetrics
  readonly workers = new Map<string, ModelWorker>()
  /** Clients' shared-memory regions (Triton's system and CUDA shared-memory extensions). */
  readonly regions: RegionRegistry
  private serviceModels: ServiceModel[]
  /** Which plan each execution runs under (scheduling.ts): one plan, or the active set's (eclip-live). */
  readonly scheduler: PlanScheduler
  /** eclip-live: the repository models are loaded from and unloaded to. */
  readonly repository: ModelRepository | undefined
  /** Models being unloaded: new requests for them are refused. */
  private readonly closing = new Set<string>()
  /** Told after a model is loaded or unloaded, before the call is answered (front-end processes: the model list). */
  private readonly modelListeners = new Set<() => Promise<void>>()
  private served: ServedModel[]
  private plan: Plan | undefined
  /** The gRPC front-end, when `listen` was given a gRPC port. */
  private grpc: GrpcFrontEnd | undefined
  /** host:port of the gRPC listener (undefined without one). */
  grpcAddress: string | undefined
  private draining = false
  /** Its connections' answers in progress; once draining, every answer closes its connection. */
  private readonly answers: AnswerTracker
  private restarting = false
  private closed = false
  private restartTimer: NodeJS.Timeout | undefined
  private readonly unsubscribe: () => void
  /** The KServe routes (how many infer requests took their fast path). */
  readonly routes: KserveRoutes
  /** Largest request body, bytes (the serve config's maxBodyBytes). */
  readonly bodyLimit: number

  constructor(readonly opts: ServerOptions) {
    const { backend } = opts
    this.bodyLimit = opts.maxBodyBytes ?? 64 * 1024 * 1024
    const limits = { ...HTTP_LIMITS, ...opts.http }
    const requestTimeout = limits.requestTimeoutMs
    const headersTimeout = headersTimeoutOf(opts.http)
    this.app = Fastify({
      logger: opts.logger ?? false,
      bodyLimit: this.bodyLimit,
      // keep-alive clients (load generators, tritonclient) must not hold SIGTERM's close open
      forceCloseConnections: 'idle',
      return503OnClosing: false,
      // a client that sends headers and half a body is answered 408 and cut off, not waited for for ever
      requestTimeout,
      // (a socket timer: Node truncates a longer one, with a warning)
      keepAliveTimeout: Math.min(limits.keepAliveTimeoutMs, MAX_TIMER_MS),
      maxRequestsPerSocket: limits.maxRequestsPerSocket,
      clientErrorHandler: answerClientError,
      frameworkErrors: answerFrameworkError,
      // both to the server's constructor: Node checks headersTimeout against requestTimeout there, and fastify sets
      // its requestTimeout only afterwards (against Node's default, 300 s, a longer headersTimeout would throw)
      http: {
        requestTimeout,
        headersTimeout,
        // Node looks for overdue requests this often (its default, 30 s, would let one live up to twice its timeout)
        connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor((requestTimeout || 4000) / 4))),
      },
    })
    this.app.server.maxConnections = limits.maxConnections
    this.metrics = new ServerMetrics({
      models: opts.models.map((m) => ({ name: m.name, version: m.version })),
      pending: (name) => this.workers.get(name)?.pending() ?? 0,
      power: () => backend.power(),
      backendReady: () => backend.isReady(),
      serverReady: () => this.ready(),
      simulated: backend.kind === 'sim',
      ...(backend.partitions ? { partitions: () => backend.partitions?.() ?? [] } : {}),
    })
    const live = opts.live
    const scheduler = live ? new ActiveSetScheduler(live.table, live.holdMs) : new OnePlan()
    this.scheduler = scheduler
    this.served = [...opts.models]
    this.plan = opts.plan
    for (const m of opts.models) {
      const wo = opts.workerOptions.get(m.name)
      if (!wo) throw new Error(`no worker options for model ${m.name}`)
      this.workers.set(m.name, new ModelWorker(m, wo, backend, this.metrics, undefined, this.scheduler))
    }
    this.serviceModels = opts.models.map((m) => this.serviceModel(m))
    if (live)
      this.metrics.schedulerMetrics(
        () => this.scheduler.status(),
        () => this.served.map((m) => m.name),
      )
    this.repository =
      live && scheduler instanceof ActiveSetScheduler
        ? new ModelRepository(live, {
            backend,
            gpu: opts.gpu ?? (live.table.plans[0]?.plan.gpu as unknown as Gpu),
            scheduler,
            computeTimes: opts.computeTimes ?? new Map(),
            served: () => this.served,
            add: (r, models, plan) => {
              this.opts.workerOptions.set(r.model.name, r.options)
              this.metrics.addModel(r.model.name, r.model.version)
              const served = models.find((m) => m.name === r.model.name) ?? r.model
              this.workers.set(
                r.model.name,
                new ModelWorker(served, r.options, backend, this.metrics, undefined, this.scheduler),
              )
              this.setServed(models, plan)
            },
            closeModel: (name) => this.closing.add(name),
            reopenModel: (name) => this.closing.delete(name),
            idle: (name) => this.workers.get(name)?.idle() ?? Promise.resolve(),
            remove: (name, models, plan) => {
              this.workers.delete(name)
              this.closing.delete(name)
              this.metrics.removeModel(name)
              this.setServed(models, plan)
            },
            log: (line) => this.app.log.info(line),
          })
        : undefined
    // a table above 6 models: the sets traffic shows are planned on demand
    if (this.repository && scheduler instanceof ActiveSetScheduler) {
      const repository = this.repository
      scheduler.onUnplanned = (names) => repository.planShown(names)
    }
    this.regions = new RegionRegistry(backend, { log: (l) => this.app.log.warn(l) })

    this.unsubscribe = backend.onEvent((e) => {
      if (e.type === 'crash') this.onCrash(e.reason)
      else for (const w of this.workers.values()) w.pump()
    })

    this.app.addHook('onRequest', async (req, reply) => {
      const early = this.earlyAnswer(
        req.method,
        req.url,
        (req.params as { name?: string } | undefined)?.name,
        req.headers['content-length'],
      )
      if (early) return reply.code(early.status).headers(early.headers).send({ error: early.error })
    })
    this.routes = registerKserveRoutes(this.app, this, this.bodyLimit, {
      early: (method, url, name, contentLength) => this.earlyAnswer(method, url, name, contentLength),
      ...(opts.maxJsonBytes !== undefined ? { maxJsonBytes: opts.maxJsonBytes } : {}),
    })
    this.answers = new AnswerTracker(this.app.server)
    this.app.get('/metrics', async (_req, reply) =>
      reply.type(this.metrics.contentType).send(await this.metrics.text()),
    )
    if (opts.dashboard !== false) registerDashboard(this.app, this, opts.dashboardPeriodMs ?? 500)
  }

  /**
   * A request answered before its body is read, or undefined: while draining every POST to a model; a request for
   * a model whose queue is full (overload: the cost of reading and parsing bodies that would be refused anyway made
   * goodput collapse when clients ignore Retry-After), whose connection is closed when a large body is left unread.
   */
  private earlyAnswer(
    method: string,
    url: string,
    name: string | undefined,
    contentLength: string | undefined,
  ): EarlyAnswer | undefined {
    if (method !== 'POST') return undefined
    if (this.draining && url.startsWith('/v2/models/'))
      return {
        status: 503,
        headers: { connection: 'close', 'retry-after': '1' },
        error: 'the server is shutting down',
      }
    if (!url.endsWith('/infer') || name === undefined) return undefined
    const w = this.workers.get(name)
    if (!w?.full()) return undefined
    this.rejectedEarly(w.model.name)
    return queueFullAnswer(w.model.name, w.options.queueSize, contentLength, this.bodyLimit)
  }

  /** A request refused before its body was read because its model's queue was full (here or by a front-end). */
  rejectedEarly(name: string) {
    const w = this.workers.get(name)
    if (w) this.metrics.requestFailed(w.model.name, w.model.version, 'REJECTED')
  }

  /** Names and queue sizes of the models whose queue is full now (front-ends refuse their requests early). */
  fullQueues(): Record<string, number> {
    const out: Record<string, number> = {}
    for (const [name, w] of this.workers) if (w.full()) out[name] = w.options.queueSize
    return out
  }

  /** A served model as the KServe layer lists it: metadata, and its configuration for `…/config`. */
  private serviceModel(m: ServedModel): ServiceModel {
    const backend = this.opts.backend
    const wo = this.opts.workerOptions.get(m.name) as WorkerOptions
    const ct = this.opts.computeSources?.get(m.name)
    return {
      name: m.name,
      version: m.version,
      platform: PLATFORM,
      maxBatch: m.batch,
      io: m.io,
      config: {
        model: m.model,
        dtype: m.dtype,
        backend: backend.kind,
        simulated: backend.kind === 'sim',
        queue_size: wo.queueSize,
        timeout_ms: wo.timeoutMs,
        dynamic_batching: { max_requests: wo.maxDynamicBatch, max_items: m.batch },
        ...(ct ? { compute_us: ct.us, compute_source: ct.source } : {}),
        ...(m.worker
          ? {
              plan: {
                policy: this.plan?.policy,
                partitions: m.worker.partitions,
                groups: m.worker.groups.length,
                switches: m.worker.switches,
                predicted_us: m.worker.predictedUs,
                mean_sms: m.worker.meanSms,
                // eclip-live: this is its plan with every served model active; each set has its own (docs/live.md)
                ...(this.opts.live ? { table: 'eclip-live: a plan per set of active models' } : {}),
              },
            }
          : {}),
        ...this.opts.modelConfig?.get(m.name),
      },
    }
  }

  /** The served set after a load or unload: a new list (the KServe layer looks names up again). */
  private setServed(models: ServedModel[], plan: Plan) {
    this.served = models
    this.plan = plan
    this.serviceModels = models.map((m) => this.serviceModel(m))
  }

  /** The models served now. */
  servedModels(): ServedModel[] {
    return this.served
  }

  /** The whole served set's plan now (eclip-live: the plan with every served model active). */
  currentPlan(): Plan | undefined {
    return this.plan
  }

  // ── InferenceService ──────────────────────────────────────────────────────────────────────────────────────
  repositoryIndex() {
    return (
      this.repository?.index() ??
      this.served.map((m) => ({ name: m.name, version: m.version, state: 'READY' as const, reason: '' }))
    )
  }
  unavailableReason(name: string) {
    return this.repository?.unavailable(name)
  }
  loadModel(name: string) {
    if (!this.repository) return Promise.reject(noModelControl())
    return this.repository.load(name).then(() => this.modelsChanged())
  }
  unloadModel(name: string) {
    if (!this.repository) return Promise.reject(noModelControl())
    return this.repository.unload(name).then(() => this.modelsChanged())
  }
  /** Calls `listener` after each load or unload, and answers the call once it has resolved; returns the unsubscribe. */
  onModelsChanged(listener: () => Promise<void>): () => void {
    this.modelListeners.add(listener)
    return () => this.modelListeners.delete(listener)
  }
  private async modelsChanged() {
    await Promise.all([...this.modelListeners].map((l) => l()))
  }
  metadata() {
    return {
      name: SERVER_NAME,
      version: SERVER_VERSION,
      extensions: [
        'binary_tensor_data',
        'model_configuration',
        'system_shared_memory',
        'cuda_shared_memory',
        'statistics',
        ...(this.repository ? ['model_repository'] : []),
      ],
    }
  }
  live() {
    return !this.closed
  }
  ready() {
    return this.notReadyReason() === undefined
  }
  /** Why the server cannot take inference requests now, or undefined when it can. */
  notReadyReason(): string | undefined {
    if (this.closed) return 'the server is closed'
    if (this.draining) return 'the server is shutting down'
    if (this.restarting) return 'the backend is restarting after a crash'
    if (!this.opts.backend.isReady()) return 'the backend is not ready (starting)'
    return this.opts.backend.unresponsive?.()
  }
  models() {
    return this.serviceModels
  }
  modelStats(name?: string) {
    return this.metrics.modelStats(name)
  }
  modelReady(_name: string) {
    return this.ready()
  }
  invalid(model: ServiceModel) {
    this.metrics.requestFailed(model.name, model.version, 'INVALID')
  }
  /**
   * Accepts a request for its model's queue and answers with its outputs and parameters. A promise chain rather than
   * an async function: two microtask hops fewer per request on the event loop every request crosses.
   */
  infer(model: ServiceModel, req: DecodedRequest, receivedAt: number): Promise<InferOutcome> {
    const worker = this.workers.get(model.name)
    let accepted: Promise<Completion>
    try {
      if (!worker)
        throw new ProtocolError(404, this.unavailableReason(model.name) ?? `unknown model "${model.name}"`)
      if (this.closing.has(model.name)) {
        this.metrics.requestFailed(model.name, model.version, 'REJECTED')
        throw new RequestFailure(
          503,
          `model "${model.name}" is being unloaded: it takes no new requests (those it accepted are being answered)`,
          'REJECTED',
        )
      }
      if (!this.ready()) {
        this.metrics.requestFailed(model.name, model.version, 'REJECTED')
        throw new RequestFailure(
          503,
          this.draining
            ? 'the server is shutting down'
            : `${this.notReadyReason() ?? 'the backend is not ready'}; retry later`,
          'REJECTED',
          { 'retry-after': '1' },
        )
      }
      accepted = worker.submit(
        req.batch,
        req.inputs,
        receivedAt,
        req.timeoutUs !== undefined ? req.timeoutUs / 1000 : undefined,
        shmOutputsOf(req),
      )
    } catch (err) {
      if (worker) this.refused(model, err)
      return Promise.reject(err)
    }
    return accepted.then(outcome, (err: unknown) => {
      this.refused(model, err)
      throw err
    })
  }

  /** Counts a request the worker refused (a full queue) or could not take (a region unregistered meanwhile). */
  private refused(model: ServiceModel, err: unknown) {
    if (err instanceof RequestFailure && err.status === 429)
      this.metrics.requestFailed(model.name, model.version, 'REJECTED')
    else if (err instanceof ProtocolError && err.status === 400) this.invalid(model)
  }

  shmRegions() {
    return this.regions
  }
  registerSystemShm(name: string, spec: SystemRegionSpec) {
    return this.regions.registerSystem(name, spec)
  }
  unregisterSystemShm(name?: string) {
    return this.regions.unregister('system', name)
  }
  systemShmStatus(name?: string) {
    return this.regions.status('system', name)
  }
  registerCudaShm(name: string, spec: CudaRegionSpec) {
    return this.regions.registerCuda(name, spec)
  }
  unregisterCudaShm(name?: string) {
    return this.regions.unregister('cuda', name)
  }
  cudaShmStatus(name?: string) {
    return this.regions.status('cuda', name)
  }

  // ── lifecycle ─────────────────────────────────────────────────────────────────────────────────────────────
  /** Loads the backend's models. */
  async load(): Promise<void> {
    await this.opts.backend.load(this.opts.models, this.opts.plan, this.opts.live?.table)
  }

  /**
   * Listens for HTTP on `host:port`, and for gRPC (KServe v2 GRPCInferenceService, docs/serve-grpc.md) on
   * `grpcPort` of the same host when one is given (0: a free port; its address is then `grpcAddress`).
   */
  async listen(port: number, host: string, opts: { grpcPort?: number } = {}): Promise<string> {
    const url = await this.app.listen({ port, host })
    if (opts.grpcPort !== undefined) {
      const grpc = new GrpcFrontEnd(this, {
        maxMessageBytes: this.bodyLimit,
        ...(this.opts.maxJsonBytes !== undefined ? { maxJsonBytes: this.opts.maxJsonBytes } : {}),
        log: (err, msg) => this.app.log.error({ err }, msg),
      })
      try {
        this.grpcAddress = await grpc.listen(opts.grpcPort, host)
      } catch (err) {
        await grpc.close(0)
        throw Object.assign(err as Error, { grpcPort: opts.grpcPort })
      }
      this.grpc = grpc
    }
    return url
  }

  /** Stops taking requests, waits for every accepted one (up to `timeoutMs`), closes the backend. */
  async drain(timeoutMs = 30_000): Promise<{ answered: boolean }> {
    this.draining = true
    void this.answers.drain()
    const deadline = performance.now() + timeoutMs
    const idle = Promise.all([...this.workers.values()].map((w) => w.idle()))
    let timer: NodeJS.Timeout | undefined
    const answered = await Promise.race([
      idle.then(() => true),
      new Promise<boolean>((r) => {
        // a longer delay than a timer holds would fire at once and drop what was accepted
        timer = setTimeout(() => r(false), Math.min(timeoutMs, MAX_TIMER_MS))
      }),
    ])
    clearTimeout(timer)
    if (!answered)
      for (const w of this.workers.values())
        w.failAll(new RequestFailure(503, 'the server shut down before the request ran', 'REJECTED'))
    // what is left of the budget (0.1-1 s) for the last responses to leave before connections are cut
    await this.close(Math.max(100, Math.min(1000, deadline - performance.now())))
    return { answered }
  }

  /**
   * Closes the listener, every connection and the backend. A connection still inside a request (a client that sent
   * half a body) would hold the listener's close open until its request timeout: after `graceMs` it is cut.
   */
  async close(graceMs = 1000): Promise<void> {
    if (this.closed) return
    this.draining = true
    void this.answers.drain()
    clearTimeout(this.restartTimer)
    this.unsubscribe()
    const cut = setTimeout(() => this.app.server.closeAllConnections(), graceMs)
    try {
      await Promise.all([this.app.close(), this.grpc?.close()])
    } finally {
      clearTimeout(cut)
    }
    this.closed = true
    this.scheduler.close()
    await this.opts.backend.close()
    await this.opts.onClose?.()
  }

  private onCrash(reason: string) {
    const failure = new RequestFailure(
      503,
      `the backend crashed (${reason}); it is being restarted, retry later`,
      'BACKEND',
      { 'retry-after': '1' },
    )
    for (const w of this.workers.values()) w.failAll(failure)
    if (this.restarting || this.draining || this.closed) return
    this.restarting = true
    this.app.log.warn({ reason }, 'backend crashed; restarting')
    this.scheduleRestart(this.opts.restartDelayMs ?? 100)
  }

  private scheduleRestart(delayMs: number) {
    this.restartTimer = setTimeout(async () => {
      if (this.closed || this.draining) return
      try {
        await this.opts.backend.restart()
        this.restarting = false
        this.metrics.backendRestarted()
        this.app.log.info('backend restarted')
        for (const w of this.workers.values()) w.pump()
      } catch (err) {
        this.app.log.error({ err }, 'backend restart failed')
        this.scheduleRestart(Math.min(5000, delayMs * 2))
      }
    }, delayMs)
  }
}

/**
 * The listener's headers timeout, ms: the one given, else the default lowered to a shorter request timeout. One above a
 * nonzero request timeout is refused (Node cannot honour it; the serve config says so at validation).
 */
function headersTimeoutOf(http: HttpLimits | undefined): number {
  const request = http?.requestTimeoutMs ?? HTTP_LIMITS.requestTimeoutMs
  const problem = httpTimeoutError({ ...http, requestTimeoutMs: request })
  if (problem) throw new Error(problem.replace(/^\/http\/headersTimeoutMs: /, 'http.headersTimeoutMs '))
  return (
    http?.headersTimeoutMs ??
    (request > 0 ? Math.min(HTTP_LIMITS.headersTimeoutMs, request) : HTTP_LIMITS.headersTimeoutMs)
  )
}

function noModelControl() {
  return new ProtocolError(
    400,
    'model control is not available: this server serves a fixed set of models (policy eclip-live loads and unloads them, docs/live.md)',
  )
}

/** A completed request as the KServe layer answers it: its outputs and parameters, in the order clients see. */
function outcome(c: Completion): InferOutcome {
  // (built by assignment: no object spreads per request)
  const parameters: Record<string, unknown> = {}
  // only the simulator says so: a response of the GPU backend carries real outputs and measured times
  if (c.simulated) {
    parameters.simulated = true
    parameters.note = 'simulator backend: no model ran, there are no outputs; timings are modelled'
  }
  parameters.queue_us = Math.round(c.queueUs)
  parameters.compute_us = Math.round(c.computeUs)
  parameters.batched_requests = c.batchedWith
  // paris-elsa: the partition ELSA sent it to
  if (c.partition !== undefined) parameters.partition = c.partition
  return { outputs: c.outputs, parameters }
}

/** The requested outputs that go to shared memory, or undefined (nothing allocated for a request without any). */
function shmOutputsOf(req: DecodedRequest): ShmOutput[] | undefined {
  let out: ShmOutput[] | undefined
  if (req.outputs)
    for (const o of req.outputs)
      if (o.shm) {
        out ??= []
        out.push({ name: o.name, shm: o.shm })
      }
  return out
}
