// Serve config: what `eclip serve` serves and how. Written by people (YAML or JSON). Relative paths are relative to
// the config file.
import Type from 'typebox'
import { Priority } from './arrival.ts'
import { Dtype, ModelName } from './common.ts'
import { MAX_WEIGHT } from './mix.ts'
import { batchMixEntries, GpuLayoutRef, LatencySource, MODEL_LOAD_FIELDS } from './paris-scenario.ts'
import {
  DEFAULT_POLICY,
  MPS_POLICIES,
  POLICIES,
  type Policy,
  PRIORITY_POLICIES,
  TABLE_POLICIES,
} from './plan.ts'

/**
 * PARIS + ELSA (docs/design.md §5) as a serve policy: PARIS chooses heterogeneous partitions over all GPUs of the
 * host at start-up from each model's load (rate, batch mix, SLO) and latency table, and ELSA sends each request to
 * one of them. Not a plan policy: there is no per-kernel plan, every request runs whole on one partition.
 */
export const PARIS_ELSA = 'paris-elsa'

/**
 * The server runs every worker in one backend process: MPS's one process per worker is a bench policy only. Besides
 * the optimizer's policies, eclip-rt (real-time models beside best-effort ones, docs/workloads.md), eclip-live (a
 * plan per set of active models, docs/live.md) and paris-elsa.
 */
export const SERVE_POLICIES = [
  ...POLICIES.filter((p) => !(MPS_POLICIES as readonly string[]).includes(p)),
  ...PRIORITY_POLICIES,
  ...TABLE_POLICIES,
  PARIS_ELSA,
] as const
const ServePolicy = Type.Enum([...SERVE_POLICIES])
export type ServePolicy = Type.Static<typeof ServePolicy>

/** The per-model load of the paris-elsa policy (scenario files' fields, src/formats/paris-scenario.ts). */
const PARIS_MODEL_FIELDS = ['rate', 'sloMs', 'batches', 'latencyTable'] as const
/** The paris-elsa fields a real-time model of a plan policy also takes: its SLO and its expected rate. */
const REALTIME_MODEL_FIELDS: readonly string[] = ['rate', 'sloMs']
/** The server-wide fields of the paris-elsa policy. */
const PARIS_FIELDS = ['gpus', 'gpu', 'latency', 'paris'] as const

/**
 * The longest delay Node's timers hold, ms (2^31−1, about 24.8 days): a longer one fires at once. Every serve setting
 * in ms that arms a timer is at most this; the server clamps deadlines it computes to it.
 */
export const MAX_TIMER_MS = 2_147_483_647

/** A duration in ms that may arm a timer: at most MAX_TIMER_MS. */
const TimerMs = (minimum: number, defaultMs: number) =>
  Type.Integer({
    minimum,
    maximum: MAX_TIMER_MS,
    default: defaultMs,
    description: `ms, at most ${MAX_TIMER_MS} (2^31−1: Node's timer limit)`,
  })

/** The KServe v2 / Triton datatype names eclip accepts (BYTES, strings, is not used by any served model). */
export const KSERVE_DATATYPES = [
  'BOOL',
  'UINT8',
  'UINT16',
  'UINT32',
  'UINT64',
  'INT8',
  'INT16',
  'INT32',
  'INT64',
  'FP16',
  'BF16',
  'FP32',
  'FP64',
] as const
const KserveDatatype = Type.Enum([...KSERVE_DATATYPES])

/** A user model's tensor: shape without the batch dimension (the server puts the batch first). */
export const ServeTensor = Type.Object(
  {
    name: Type.String({ minLength: 1 }),
    datatype: KserveDatatype,
    shape: Type.Array(Type.Integer({ minimum: 1 })),
  },
  { additionalProperties: false },
)
export type ServeTensor = Type.Static<typeof ServeTensor>

export const ServeModel = Type.Object(
  {
    /** KServe model name clients use; defaults to `model` (must be unique in the config). */
    name: Type.Optional(Type.String({ minLength: 1, pattern: '^[A-Za-z0-9_.-]+$' })),
    /** A zoo name (albert, densenet201, …) or the name of a user model given with `source` + `inputs`/`outputs`. */
    model: ModelName,
    /** Batch the model is profiled, planned and run at: the most items one execution carries. */
    batch: Type.Optional(Type.Integer({ minimum: 1, default: 1 })),
    dtype: Type.Optional(Dtype),
    /** Planner: weight in system throughput, Σ weight · rate / solo rate (default 1; as a mix file's `weight`). */
    weight: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: MAX_WEIGHT })),
    /** Planner: least throughput under the plan ÷ under baseline co-location (default 0.9; as a mix's `minShare`). */
    minShare: Type.Optional(Type.Number({ minimum: 0 })),
    /** Requests that may wait for this model; one more gets 429 with Retry-After. */
    queueSize: Type.Optional(Type.Integer({ minimum: 1, default: 64 })),
    /** From acceptance to answer, ms (at most MAX_TIMER_MS); a request not answered by then gets 504. */
    timeoutMs: Type.Optional(TimerMs(1, 10000)),
    /** Most requests merged into one execution (their items up to `batch`); 1 turns dynamic batching off. */
    maxDynamicBatch: Type.Optional(Type.Integer({ minimum: 1 })),
    /** User models: the file the GPU backend loads (TorchScript .pt). */
    source: Type.Optional(Type.String({ minLength: 1 })),
    /** User models: input tensors, shapes without the batch dimension. */
    inputs: Type.Optional(Type.Array(ServeTensor, { minItems: 1 })),
    /** User models: output tensors, shapes without the batch dimension. */
    outputs: Type.Optional(Type.Array(ServeTensor, { minItems: 1 })),
    /**
     * Plan policies: realtime (a latency SLO, `sloMs`, the plan keeps; eclip-rt serves it first) or best-effort (the
     * default: what is left), as a mix file's workers say it (docs/workloads.md).
     */
    priority: Type.Optional(Priority),
    /**
     * Expected arrival rate, requests/s. paris-elsa: PARIS sizes the partitions by it. A real-time model: the planner
     * checks its demand and queueing (Poisson arrivals at this rate); without it the model counts as always busy.
     */
    rate: Type.Optional(MODEL_LOAD_FIELDS.rate),
    /**
     * Latency objective per request (arrival to answer), ms. paris-elsa: ELSA dispatches by it. A real-time model:
     * required; the plan is refused where the model cannot meet it.
     */
    sloMs: Type.Optional(MODEL_LOAD_FIELDS.sloMs),
    /**
     * paris-elsa: the batch-size mix (batch size → weight). Each size is captured as a graph on every partition; a
     * request runs at the smallest captured size ≥ its batch (zero-padded).
     */
    batches: Type.Optional(MODEL_LOAD_FIELDS.batches),
    /** paris-elsa: this model's latency-table file (relative to the config); default: from `latency`. */
    latencyTable: MODEL_LOAD_FIELDS.latencyTable,
    /**
     * eclip-live: false keeps the model in the repository without loading it at start-up; `POST
     * /v2/repository/models/{name}/load` loads it (docs/live.md). Default true.
     */
    loaded: Type.Optional(Type.Boolean({ default: true })),
  },
  { additionalProperties: false },
)
export type ServeModel = Type.Static<typeof ServeModel>

export const ServeConfig = Type.Object(
  {
    format: Type.Optional(Type.Literal('eclip.serve/1')),
    host: Type.Optional(Type.String({ minLength: 1, default: '127.0.0.1' })),
    port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535, default: 8000 })),
    /**
     * KServe v2 gRPC port (Triton's GRPCInferenceService) on the same host; null: no gRPC. Default 8001, or a free
     * port when `port` is 0.
     */
    grpcPort: Type.Optional(Type.Union([Type.Integer({ minimum: 0, maximum: 65535 }), Type.Null()])),
    /**
     * `sim`: no model runs, compute times from the profiles/plan, responses marked simulated. `gpu`: the GPU backend.
     */
    backend: Type.Optional(Type.Enum(['sim', 'gpu'])),
    /** How the models are planned; default eclip-fit (every model kept at its floor), eclip: the paper's policy. */
    policy: Type.Optional(ServePolicy),
    /**
     * Profile directory (gpu.json + one profile per model/batch/dtype). The sim backend without one uses synthetic
     * profiles.
     */
    profiles: Type.Optional(Type.String({ minLength: 1 })),
    /**
     * Plans from the profiles' GEMM-target times, each partitioned model's matrix products captured with kernels
     * picked for its partitions' SMs (docs/design.md §7); profiles without them are used as they are. false: the
     * profiles' default times, every GEMM picked for the whole GPU.
     */
    gemmTarget: Type.Optional(Type.Boolean({ default: true })),
    /** A ready plan for exactly these models, in this order; skips the optimizer. */
    plan: Type.Optional(Type.String({ minLength: 1 })),
    /** Largest request body accepted, bytes (a larger one gets 413). */
    maxBodyBytes: Type.Optional(Type.Integer({ minimum: 1024, default: 64 * 1024 * 1024 })),
    /**
     * Largest JSON part of an infer request, bytes: the whole body of a JSON request, or the JSON header of the
     * binary tensor extension (a larger one gets 413 with a hint to send tensors as binary data or in shared memory;
     * parsing it would hold every other request up, tens of ms per MB).
     */
    maxJsonBytes: Type.Optional(Type.Integer({ minimum: 1024, default: 8 * 1024 * 1024 })),
    /** How long SIGTERM waits for accepted requests before exiting anyway, ms (at most MAX_TIMER_MS). */
    drainTimeoutMs: Type.Optional(TimerMs(0, 30000)),
    /**
     * What a slow or hostile HTTP client may hold (defaults: src/serve/server.ts HTTP_LIMITS); times at most
     * MAX_TIMER_MS.
     */
    http: Type.Optional(
      Type.Object(
        {
          /** Headers and body must arrive within this, ms, or the request is answered 408 (0: no limit). */
          requestTimeoutMs: Type.Optional(TimerMs(0, 30000)),
          /**
           * Headers within this, ms: at most requestTimeoutMs unless that is 0 (default 10000, or requestTimeoutMs
           * when lower).
           */
          headersTimeoutMs: Type.Optional(TimerMs(1, 10000)),
          /** An idle keep-alive connection is closed after this, ms. */
          keepAliveTimeoutMs: Type.Optional(TimerMs(1, 75000)),
          /** Connections open at once; more are closed at accept. */
          maxConnections: Type.Optional(Type.Integer({ minimum: 1, default: 1024 })),
          /** Requests per keep-alive connection before it is closed (0: no limit). */
          maxRequestsPerSocket: Type.Optional(Type.Integer({ minimum: 0, default: 0 })),
        },
        { additionalProperties: false },
      ),
    ),
    /** The simulator's power model (W); its readings are reported as source="simulated". */
    simPower: Type.Optional(
      Type.Object(
        { idleW: Type.Number({ minimum: 0 }), maxW: Type.Number({ minimum: 0 }) },
        { additionalProperties: false },
      ),
    ),
    dashboard: Type.Optional(Type.Boolean({ default: true })),
    /** eclip-rt: how real-time models are kept near their latency alone (docs/workloads.md, `eclip bench --rt-*`). */
    /**
     * eclip-fit, and eclip-rt's plan of its best-effort models: what the planner maximises under every model's floor —
     * stp (default: Σ rate / solo rate) or requests (the total requests/s).
     */
    objective: Type.Optional(Type.Enum(['stp', 'requests'])),
    /**
     * eclip-fit: after its search, some models' CUDA streams raised to high priority where the simulator says it
     * gains (`eclip plan --stream-priorities`, docs/plan.md); default false.
     */
    streamPriorities: Type.Optional(Type.Boolean()),
    /**
     * eclip-fit (eclip-rt's best-effort plan, eclip-live's eclip-fit plans): every model's p95 under the plan ÷ its
     * p95 under baseline co-location, at most, as the simulator predicts both, kept like a floor (`eclip plan
     * --max-p95`; default: no cap per model). Not with a given plan or plan table (`eclip plan --max-p95` makes
     * those). eclip-rt keeps it where it plans its best-effort models among themselves (src/serve/setup.ts).
     */
    maxP95: Type.Optional(Type.Number({ minimum: 1 })),
    realtime: Type.Optional(
      Type.Object(
        {
          /**
           * gate (default: high-priority streams on the whole GPU, and best-effort models stop at their next gate
           * while a real-time request runs), priority (the same without gates) or partition (partitions of their own).
           */
          mechanism: Type.Optional(Type.Enum(['priority', 'partition', 'gate'])),
          /** priority: SMs, whole slices, no best-effort work runs on (default 0). */
          reserveSms: Type.Optional(Type.Integer({ minimum: 0 })),
          /** partition: a real-time model's latency target over its latency alone on the whole GPU (default 1.1). */
          factor: Type.Optional(Type.Number({ minimum: 1 })),
          /** gate: µs of a best-effort model's kernels between two of its gates (default 40). */
          gateUs: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
          /**
           * gate: how best-effort models share the GPU while no real-time request runs — eclip-fit (default: planned
           * among themselves on the simulator, each above its floor) or whole (each on the whole GPU).
           */
          bestEffort: Type.Optional(Type.Enum(['eclip-fit', 'whole'])),
          /**
           * gate, best-effort models planned: one whose every group runs on a partition of at most this many SMs keeps
           * no gates and runs beside the real-time requests (default 0: every best-effort model gated).
           */
          ungatedSms: Type.Optional(Type.Integer({ minimum: 0 })),
        },
        { additionalProperties: false },
      ),
    ),
    /** eclip-live: how the plan per set of active models is made and followed (docs/live.md). */
    live: Type.Optional(
      Type.Object(
        {
          /** A model stays in the active set this long after its last request was answered, ms (default 50). */
          holdMs: Type.Optional(Type.Number({ minimum: 0, maximum: 60000, default: 50 })),
          /** The policy of the table's plans of two or more models (default eclip-fit); a model alone: baseline. */
          tablePolicy: Type.Optional(
            Type.Enum([...POLICIES.filter((p) => !(MPS_POLICIES as readonly string[]).includes(p))]),
          ),
          /**
           * Above 6 loaded models, the most plans the table holds (default 64): the whole set's, then a plan for each
           * set of active models traffic shows, planned on demand in the background until there are this many.
           */
          maxPlans: Type.Optional(Type.Integer({ minimum: 1, maximum: 4096, default: 64 })),
          /**
           * eclip-fit's plans of two or more models keep the set's total requests/s ≥ this × baseline's in that set,
           * as the simulator predicts both (as a mix's `minTotalShare`; default 1.01, src/plan/table.ts).
           */
          minTotalShare: Type.Optional(Type.Number({ minimum: 0, maximum: 2 })),
          /**
           * A ready plan table (eclip.plan-table/1, relative to this file): `eclip plan --table`'s, or `eclip bench
           * --tune`'s with its set plans tuned on the GPU. Its workers are matched to these models by model, batch
           * and dtype, in order; its plans serve as they are, and only sets it has no plan for are planned here.
           */
          table: Type.Optional(Type.String({ minLength: 1 })),
        },
        { additionalProperties: false },
      ),
    ),
    /**
     * HTTP front-end processes that parse and answer requests in front of the one engine (queues, batching, plan,
     * backend); 0: one process does everything. `eclip serve`'s default: the cores but one, at most 8, 0 below 3 cores.
     */
    frontends: Type.Optional(Type.Integer({ minimum: 0, maximum: 256 })),
    /** paris-elsa: how many GPUs of the host PARIS partitions; `all` (the GPU backend's default): every one it sees. */
    gpus: Type.Optional(Type.Union([Type.Integer({ minimum: 1 }), Type.Literal('all')])),
    /**
     * paris-elsa: the slice layout of each GPU (a gpu file, relative to the config, or inline); default: the profile
     * directory's gpu.json, else the GPU backend's device, else (sim) a synthetic H100.
     */
    gpu: Type.Optional(GpuLayoutRef),
    /** paris-elsa: where latency tables come from (as in a PARIS scenario); default: synthetic (sim backend only). */
    latency: Type.Optional(LatencySource),
    /** paris-elsa: PARIS's and ELSA's parameters (src/paris/partition.ts, elsa.ts). */
    paris: Type.Optional(
      Type.Object(
        {
          /** PARIS's knee elasticity η (default 0.7): higher picks smaller partitions. */
          kneeElasticity: Type.Optional(Type.Number({ exclusiveMinimum: 0, exclusiveMaximum: 1 })),
          /** PARIS: fraction of the SLO a request may take on its preferred partition (default 0.5). */
          sloHeadroom: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1 })),
          /** ELSA: a partition meets the SLO when its estimated finish is within this fraction of it (default 0.5). */
          sloMargin: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1 })),
        },
        { additionalProperties: false },
      ),
    ),
    models: Type.Array(ServeModel, { minItems: 1 }),
  },
  { additionalProperties: false },
)
export type ServeConfig = Type.Static<typeof ServeConfig>

/** The config's policy, its default filled in. */
export const servePolicy = (c: ServeConfig): ServePolicy => c.policy ?? DEFAULT_POLICY

/** eclip-live's policy for its plans of two or more models, its default filled in. */
export const liveTablePolicy = (c: ServeConfig): Policy => c.live?.tablePolicy ?? DEFAULT_POLICY

export function serveConfigConsistencyErrors(c: ServeConfig): string[] {
  const errors: string[] = []
  const seen = new Set<string>()
  c.models.forEach((m, i) => {
    const name = m.name ?? m.model
    if (seen.has(name))
      errors.push(`/models/${i}/name: "${name}" is served twice; give each worker of one model its own name`)
    seen.add(name)
    if ((m.inputs === undefined) !== (m.outputs === undefined))
      errors.push(`/models/${i}: a user model gives both "inputs" and "outputs"`)
    if (m.maxDynamicBatch !== undefined && m.maxDynamicBatch > (m.batch ?? 1))
      errors.push(
        `/models/${i}/maxDynamicBatch: ${m.maxDynamicBatch} requests cannot fit in batch ${m.batch ?? 1}`,
      )
  })
  if (c.simPower && c.simPower.maxW < c.simPower.idleW) errors.push('/simPower/maxW: below idleW')
  const http = httpTimeoutError(c.http)
  if (http) errors.push(http)
  const policy = servePolicy(c)
  const live = (TABLE_POLICIES as readonly string[]).includes(policy)
  if (!live && c.live !== undefined)
    errors.push(`/live: only the eclip-live policy uses it (this config has policy ${policy})`)
  if (c.live?.minTotalShare !== undefined && liveTablePolicy(c) !== 'eclip-fit')
    errors.push(
      `/live/minTotalShare: only eclip-fit's plans keep it (this config's live.tablePolicy is ${liveTablePolicy(c)})`,
    )
  c.models.forEach((m, i) => {
    if (m.loaded === false && !live)
      errors.push(
        `/models/${i}/loaded: models are loaded and unloaded while serving under policy eclip-live only (this config has policy ${policy})`,
      )
  })
  if (live && c.models.every((m) => m.loaded === false))
    errors.push('/models: at least one model is loaded at start-up (loaded: false on every one)')
  if (live && c.plan !== undefined)
    errors.push(
      '/plan: eclip-live follows a plan table (a plan per set of active models: made at start-up, or live.table), not a plan',
    )
  if (c.objective !== undefined && policy !== 'eclip-fit' && policy !== 'eclip-rt')
    errors.push(
      `/objective: only eclip-fit and eclip-rt (its best-effort models' plan) search by an objective (this config has policy ${policy})`,
    )
  if (c.streamPriorities !== undefined && policy !== 'eclip-fit')
    errors.push(
      `/streamPriorities: only eclip-fit raises models' streams by it (this config has policy ${policy})`,
    )
  if (c.maxP95 !== undefined) {
    const fits =
      policy === 'eclip-fit' || policy === 'eclip-rt' || (live && liveTablePolicy(c) === 'eclip-fit')
    if (!fits)
      errors.push(
        `/maxP95: only eclip-fit's plans keep it (eclip-fit, eclip-rt's best-effort plan, eclip-live's eclip-fit plans; this config has policy ${policy}${live ? `, live.tablePolicy ${liveTablePolicy(c)}` : ''})`,
      )
    if (c.plan !== undefined)
      errors.push('/maxP95: the plan is given (/plan): make it with eclip plan --max-p95 instead')
    if (live && c.live?.table !== undefined)
      errors.push(
        '/maxP95: the plan table is given (/live/table): its plans serve as they are; make it with eclip plan --table --max-p95 instead',
      )
  }
  if (c.streamPriorities !== undefined && c.plan !== undefined)
    errors.push(
      '/streamPriorities: the plan is given (/plan): make it with eclip plan --stream-priorities instead',
    )
  // the planner's inputs mean nothing where the plan is given: refused rather than dropped
  if (c.plan !== undefined) {
    if (c.objective !== undefined)
      errors.push('/objective: the plan is given (/plan): make it with eclip plan --objective instead')
    if (c.realtime !== undefined)
      errors.push(
        '/realtime: the plan is given (/plan): make it with eclip plan --policy eclip-rt and its --rt-* options instead',
      )
    c.models.forEach((m, i) => {
      for (const f of ['minShare', 'weight'] as const)
        if (m[f] !== undefined)
          errors.push(
            `/models/${i}/${f}: the plan is given (/plan): give ${f} in the mix eclip plan reads instead`,
          )
    })
  }
  if (policy !== 'eclip-rt' && c.realtime !== undefined && c.plan === undefined)
    errors.push(`/realtime: only the eclip-rt policy uses it (this config has policy ${policy})`)
  if (policy === PARIS_ELSA) errors.push(...parisConsistencyErrors(c))
  else {
    // paris-elsa's fields elsewhere would be silently ignored: say so instead
    for (const f of PARIS_FIELDS)
      if (c[f] !== undefined)
        errors.push(`/${f}: only the ${PARIS_ELSA} policy uses it (this config has policy ${policy})`)
    c.models.forEach((m, i) => {
      const rt = m.priority === 'realtime'
      for (const f of PARIS_MODEL_FIELDS) {
        if (m[f] === undefined || (rt && REALTIME_MODEL_FIELDS.includes(f))) continue
        errors.push(
          `/models/${i}/${f}: only the ${PARIS_ELSA} policy uses it (this config has policy ${policy})${REALTIME_MODEL_FIELDS.includes(f) ? ', or a real-time model (priority: realtime): best-effort work takes what is left' : ''}`,
        )
      }
      if (rt && m.sloMs === undefined)
        errors.push(`/models/${i}: missing field(s) "sloMs": a real-time model needs its latency SLO`)
      if (m.priority !== undefined && live)
        errors.push(
          `/models/${i}/priority: eclip-live's plans per set of active models take no priorities; serve real-time models under eclip-rt`,
        )
    })
  }
  return errors
}

/** The default `http.requestTimeoutMs` (the server's HTTP_LIMITS take it from here). */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30000

/**
 * Node refuses a headers timeout above the request timeout (the headers are part of the request), unless the request
 * timeout is 0 (no limit); undefined when the two fit.
 */
export function httpTimeoutError(http: ServeConfig['http']): string | undefined {
  const headers = http?.headersTimeoutMs
  const request = http?.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS
  if (headers === undefined || request === 0 || headers <= request) return undefined
  return `/http/headersTimeoutMs: ${headers} is above requestTimeoutMs ${request}${http?.requestTimeoutMs === undefined ? ' (its default)' : ''}; the headers are part of the request: give at most requestTimeoutMs, or raise requestTimeoutMs (0: no limit)`
}

/** What PARIS and ELSA need of every model, and what they cannot do. */
function parisConsistencyErrors(c: ServeConfig): string[] {
  const errors: string[] = []
  const why = {
    rate: 'its expected requests/s (PARIS sizes the partitions by the load)',
    sloMs: 'its latency objective in ms (ELSA dispatches by it)',
    batches: 'its batch-size mix, batch size → weight (PARIS plans per batch size; each is captured)',
  }
  if (c.plan !== undefined)
    errors.push(`/plan: ${PARIS_ELSA} chooses its partitions at start-up (PARIS), not from a plan`)
  const models = new Map<string, number>()
  const dtype = c.models[0]?.dtype ?? 'fp16'
  c.models.forEach((m, i) => {
    const at = `/models/${i}`
    if (m.priority !== undefined)
      errors.push(
        `${at}/priority: ${PARIS_ELSA} dispatches every model by its sloMs; priorities are the plan policies' (eclip-rt)`,
      )
    for (const f of ['rate', 'sloMs', 'batches'] as const)
      if (m[f] === undefined) errors.push(`${at}/${f}: the ${PARIS_ELSA} policy needs ${why[f]}`)
    if (m.batches) {
      const mix = batchMixEntries(m.batches)
      if ('problem' in mix) errors.push(`${at}/batches: ${mix.problem}`)
      else {
        const largest = mix.entries.at(-1)?.[0] ?? 0
        if (m.batch !== undefined && m.batch < largest)
          errors.push(`${at}/batch: ${m.batch} is below the largest batch of its mix (${largest})`)
      }
    }
    if (m.maxDynamicBatch !== undefined && m.maxDynamicBatch > 1)
      errors.push(
        `${at}/maxDynamicBatch: ${PARIS_ELSA} dispatches each request as its own query (no dynamic batching)`,
      )
    if (m.source !== undefined || m.inputs !== undefined)
      errors.push(
        `${at}/source: ${PARIS_ELSA} serves zoo models (latency tables and captures are made by model name)`,
      )
    const seen = models.get(m.model)
    if (seen !== undefined)
      errors.push(
        `${at}/model: ${m.model} is served twice (also /models/${seen}); ${PARIS_ELSA} has one load and one latency table per model`,
      )
    else models.set(m.model, i)
    if ((m.dtype ?? 'fp16') !== dtype)
      errors.push(
        `${at}/dtype: ${m.dtype ?? 'fp16'}, not ${dtype} like /models/0: ${PARIS_ELSA} plans one dtype`,
      )
  })
  return errors
}

/** The model a serve config's error path points into ("model vgg19"), for the error's reason. */
export function serveConfigWhere(value: unknown, path: string): string | undefined {
  const m = /^\/models\/(\d+)/.exec(path)
  if (!m) return undefined
  const models = (value as { models?: unknown[] } | null)?.models
  const model = models?.[Number(m[1])] as { name?: unknown; model?: unknown } | undefined
  const name =
    typeof model?.name === 'string' ? model.name : typeof model?.model === 'string' ? model.model : undefined
  return name ? `model ${name}` : undefined
}
