// The messages of the boundary with the Python GPU backend, as TypeBox schemas (like every file format): the types
// both sides speak, exported to schemas/backend-protocol.schema.json (`eclip schemas`), which the Python side
// validates every request with (gpu/eclip_gpu/protocol.py). This side validates every reply (client.ts). Frames:
// frames.ts. Requests allow no field the schema does not name (a typo is refused by Python, naming it); replies may
// carry more (a newer backend's), the fields named here are checked.
// Who sends what: bench's hello/run/shutdown; serve's load/infer/power/shm-register/shm-unregister and, under
// eclip-live, load-model/unload-model/add-plans; paris's paris-table/paris-run/paris-gpus. hello/run/load/paris-* are
// answered one at a time, in order; infer, power, shm-(un)register and the model-control requests carry an `id` their
// reply echoes, so several can be in flight (infer replies of different workers come back in any order; model
// control runs one request at a time, in order, while infers go on). `progress` may precede a reply; `error` answers
// any request.
import Type, { type TSchema } from 'typebox'
import { Compile } from 'typebox/compile'
import { Dtype, Gpu, KSERVE_DATATYPES, LatencyTable, ModelName, Plan } from '../../formats/index.ts'

/** A KServe tensor datatype: tensors cross the boundary as raw little-endian bytes of one of these. */
export const TensorDatatype = Type.Enum([...KSERVE_DATATYPES])
export type TensorDatatype = Type.Static<typeof TensorDatatype>

const strict = { additionalProperties: false } as const
const Id = Type.Integer({ minimum: 0 })
const Count = Type.Integer({ minimum: 0 })
const Key = Type.String()
const Numbers = Type.Array(Type.Number())

// ── requests (TS → Python) ──────────────────────────────────────────────────────────────────────────────────────

export const HelloMessage = Type.Object({ type: Type.Literal('hello') }, strict)
export type HelloMessage = Type.Static<typeof HelloMessage>

/** A worker's arrivals (src/workload/arrivals.ts, gpu/eclip_gpu/arrivals.py), µs from the run's origin. */
export const Schedule = Type.Union([
  Type.Object({ kind: Type.Literal('closed'), periodsUs: Numbers }, strict),
  Type.Object({ kind: Type.Literal('open'), arrivalsUs: Numbers }, strict),
])

/** A plan of a plan table with its key (the names of the set of workers it is for: src/formats/plan-table.ts). */
export const KeyedPlan = Type.Object({ key: Type.String({ minLength: 1 }), plan: Plan }, strict)
export type KeyedPlan = Type.Static<typeof KeyedPlan>

/**
 * eclip-live: the plan table a run follows (gpu/eclip_gpu/live.py). Sets are bit masks over the run plan's workers
 * (bit i: worker i); `sets[mask]` is the key of the plan that set runs under (its own, or a planned superset's: the
 * TypeScript side resolves them, src/formats/plan-table.ts lookupPlan), `sets[0]` (none active) is ''.
 */
export const RunLive = Type.Object(
  {
    /** A worker is active while it has a request queued or in flight, and this long after its last one ends. */
    holdUs: Type.Number({ minimum: 0 }),
    /** The plans `sets` names, each worker captured under every one that lists it. */
    plans: Type.Array(KeyedPlan, { minItems: 1 }),
    sets: Type.Array(Type.String(), { minItems: 2 }),
  },
  strict,
)
export type RunLive = Type.Static<typeof RunLive>

/** bench: one run of a plan, closed loop or driven by `arrivals`. */
export const RunMessage = Type.Object(
  {
    type: Type.Literal('run'),
    key: Key,
    plan: Plan,
    mode: Type.Union([Type.Literal('stream'), Type.Literal('graph'), Type.Null()]),
    warmupS: Type.Number({ minimum: 0 }),
    windowS: Type.Number({ exclusiveMinimum: 0 }),
    checkOutputs: Type.Boolean(),
    /** Per plan worker, when its requests come; absent: the paper's closed loop for every worker. */
    arrivals: Type.Optional(Type.Array(Schedule)),
    /** Follow a plan table (eclip-live): each request under the plan of the set active when it starts. */
    live: Type.Optional(RunLive),
  },
  strict,
)
export type RunMessage = Type.Static<typeof RunMessage>

/** One served worker to build and capture. */
export const LoadWorker = Type.Object(
  {
    name: Type.String({ minLength: 1 }),
    model: Type.String({ minLength: 1 }),
    batch: Type.Integer({ minimum: 1 }),
    dtype: Dtype,
    /** User model: a TorchScript file, built with `inputShape` (without the batch dimension). */
    source: Type.Optional(Type.String()),
    inputShape: Type.Optional(Type.Array(Type.Integer())),
    /** paris-elsa: the batch sizes to capture besides `batch` (the model's batch-size mix). */
    batches: Type.Optional(Type.Array(Type.Integer({ minimum: 1 }))),
  },
  strict,
)
export type LoadWorker = Type.Static<typeof LoadWorker>

/**
 * A partition of a PARIS server (paris-elsa's load, paris-run): slice ids of GPU `gpu`'s one split (a CUDA ordinal
 * of the backend process).
 */
export const ServePartition = Type.Object(
  {
    id: Type.String({ minLength: 1 }),
    gpu: Count,
    slices: Type.Array(Count, { minItems: 1 }),
    /** SMs of its slices; eclip-kw's dedicated workers: the worker's mean busy SMs (what ELSA ranks by), not whole. */
    sms: Type.Number({ exclusiveMinimum: 0 }),
  },
  strict,
)
export type ServePartition = Type.Static<typeof ServePartition>

/** A worker's shared-memory ring (src/serve/shm-ring.ts): a file the backend maps, then unlinks. */
export const RingSpec = Type.Object({ path: Type.String(), bytes: Type.Integer({ minimum: 1 }) }, strict)

/**
 * serve: build, partition (the plan's pool, once) and capture every worker; no plan: each on the whole GPU. With
 * `partitions` (policy paris-elsa, gpu/eclip_gpu/paris_serve.py): every worker on every partition at each of its
 * batches, and each infer names its partition.
 */
export const LoadMessage = Type.Object(
  {
    type: Type.Literal('load'),
    plan: Type.Union([Plan, Type.Null()]),
    workers: Type.Array(LoadWorker),
    partitions: Type.Optional(Type.Array(ServePartition)),
    /** Shared-memory rings by worker name (src/serve/shm-ring.ts): files the backend maps, then unlinks. */
    rings: Type.Optional(Type.Record(Type.String(), RingSpec)),
    /**
     * The plan per set of active models: each worker is also captured under every plan that lists it (its captures
     * share its static input, stream and memory pool), and an infer naming `plan` runs that capture.
     */
    plans: Type.Optional(Type.Array(KeyedPlan)),
    /**
     * eclip-live: models a later load-model may build (the repository's models not loaded at start: zoo names or
     * module:function factories). The libraries they import are imported now, before serving, so that such a load
     * holds the backend's interpreter for the build alone, not for seconds of imports while the others serve.
     */
    prepare: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
  },
  strict,
)
export type LoadMessage = Type.Static<typeof LoadMessage>

/**
 * serve, eclip-live (model control, gpu/eclip_gpu/model_control.py): one more worker, built and captured while the
 * others serve. Partitions the plans need and the process lacks are created first; the worker is captured under
 * every plan that lists it (its default capture: the plan of most workers), every loaded worker under each plan that
 * lists it and is new to it; only then are they all put in place. A load that fails leaves everything as it was.
 */
export const LoadModelMessage = Type.Object(
  {
    type: Type.Literal('load-model'),
    id: Id,
    worker: LoadWorker,
    /** The table's plans that list the worker (and any other plan new to the loaded workers). */
    plans: Type.Array(KeyedPlan, { minItems: 1 }),
    ring: Type.Optional(RingSpec),
  },
  strict,
)
export type LoadModelMessage = Type.Static<typeof LoadModelMessage>

/**
 * serve, eclip-live: a worker goes. From this request on an infer naming it is refused; those it holds are finished
 * and answered, then its thread stops and its model, captures and ring are freed. The others' captures under plans
 * that listed it are retired (the server follows a table without it from before it sends this).
 */
export const UnloadModelMessage = Type.Object(
  { type: Type.Literal('unload-model'), id: Id, name: Type.String({ minLength: 1 }) },
  strict,
)
export type UnloadModelMessage = Type.Static<typeof UnloadModelMessage>

/**
 * serve, eclip-live: every loaded worker captured under each of these plans that lists it (a table grown on demand).
 */
export const AddPlansMessage = Type.Object(
  { type: Type.Literal('add-plans'), id: Id, plans: Type.Array(KeyedPlan, { minItems: 1 }) },
  strict,
)
export type AddPlansMessage = Type.Static<typeof AddPlansMessage>

/** Where an infer's tensors lie in its worker's ring: the input, and room for the output. */
export const InferShm = Type.Object(
  { offset: Count, bytes: Count, outOffset: Count, outBytes: Count },
  strict,
)
export type InferShm = Type.Static<typeof InferShm>

/**
 * A tensor in a client's registered shared-memory region (gpu/eclip_gpu/regions.py): `region` is the registration's
 * id (shm-register's name), `offset` from the region's start; `range`: the input's allowed values (token ids),
 * checked by the backend since the server never reads such an input.
 */
export const RegionSpan = Type.Object(
  {
    region: Type.String(),
    offset: Count,
    bytes: Count,
    range: Type.Optional(Type.Tuple([Type.Number(), Type.Number()])),
  },
  strict,
)
export type RegionSpan = Type.Static<typeof RegionSpan>

/**
 * serve: one execution; the input's first `n` items as raw `dtype` bytes are the frame's body, or, with `shm`, in
 * the worker's ring (the frame has no body then), or, with `input`, in a client's region. With `output`, the output
 * is written into a client's region (the reply has no body then).
 */
export const InferMessage = Type.Object(
  {
    type: Type.Literal('infer'),
    name: Type.String(),
    id: Id,
    n: Type.Integer({ minimum: 1 }),
    dtype: TensorDatatype,
    shm: Type.Optional(InferShm),
    input: Type.Optional(RegionSpan),
    output: Type.Optional(RegionSpan),
    /** paris-elsa: the partition (id) the server's dispatcher chose; it runs the smallest captured batch ≥ n. */
    partition: Type.Optional(Type.String()),
    /** The key of a plan of the load's `plans` to run under; absent: the default capture. */
    plan: Type.Optional(Type.String()),
  },
  strict,
)
export type InferMessage = Type.Static<typeof InferMessage>

/** serve: NVML board power and energy (summed over the GPUs of a paris-elsa load); also the backend's ping. */
export const PowerMessage = Type.Object({ type: Type.Literal('power'), id: Id }, strict)
export type PowerMessage = Type.Static<typeof PowerMessage>

/**
 * serve: a client's shared-memory region, opened once by the backend (system: the file at `path`, checked by the
 * server, mapped from `offset`; cuda: the base64 cudaIpcMemHandle_t on `deviceId`). `name` is unique per
 * registration (the client's name may be registered again while the old region drains).
 */
export const ShmRegisterMessage = Type.Object(
  {
    type: Type.Literal('shm-register'),
    id: Id,
    name: Type.String({ minLength: 1 }),
    kind: Type.Enum(['system', 'cuda']),
    bytes: Count,
    key: Type.Optional(Type.String()),
    path: Type.Optional(Type.String()),
    offset: Type.Optional(Count),
    rawHandle: Type.Optional(Type.String()),
    deviceId: Type.Optional(Count),
  },
  strict,
)
export type ShmRegisterMessage = Type.Static<typeof ShmRegisterMessage>

/** serve: closes a region now, or once the requests holding it are done. */
export const ShmUnregisterMessage = Type.Object(
  { type: Type.Literal('shm-unregister'), id: Id, name: Type.String({ minLength: 1 }) },
  strict,
)
export type ShmUnregisterMessage = Type.Static<typeof ShmUnregisterMessage>

/** paris: one model's latency table measured at `batches` on every partition size of the slice layout. */
export const ParisTableMessage = Type.Object(
  {
    type: Type.Literal('paris-table'),
    key: Key,
    model: ModelName,
    batches: Type.Array(Type.Integer({ minimum: 1 }), { minItems: 1 }),
    dtype: Type.String(),
    /** Time budget of the timed replays of one cell (batch × size), ms. */
    cellMs: Type.Number({ exclusiveMinimum: 0 }),
  },
  strict,
)
export type ParisTableMessage = Type.Static<typeof ParisTableMessage>

/**
 * paris: the number of GPUs the backend process sees, and the slice layouts of the first `count` (each read off its
 * device), before a comparison puts partitions on them.
 */
export const ParisGpusMessage = Type.Object(
  { type: Type.Literal('paris-gpus'), key: Key, count: Type.Integer({ minimum: 1 }) },
  strict,
)
export type ParisGpusMessage = Type.Static<typeof ParisGpusMessage>

/** paris: replay one trace open-loop on these partitions with this dispatch (gpu/eclip_gpu/paris.py). */
export const ParisRunMessage = Type.Object(
  {
    type: Type.Literal('paris-run'),
    key: Key,
    /**
     * The server's partitions: each on GPU `gpu` (a CUDA ordinal of the backend process; one process drives every
     * GPU of the server, with one dispatcher over all the partitions), as slice ids of that GPU's one split.
     */
    partitions: Type.Array(ServePartition, { minItems: 1 }),
    models: Type.Array(
      Type.Object(
        { model: ModelName, batches: Type.Array(Type.Integer({ minimum: 1 })), sloUs: Type.Number() },
        strict,
      ),
    ),
    dtype: Type.String(),
    /** estUs[partition][model][batchIdx]: the latency-table estimates ELSA and least-loaded dispatch on, µs. */
    estUs: Type.Array(Type.Array(Numbers)),
    dispatch: Type.Enum(['fifo', 'least-loaded', 'elsa']),
    sloMargin: Type.Number(),
    /** A query that has waited this many times its SLO when its partition reaches it is dropped unexecuted. */
    dropAfterSlo: Type.Number(),
    /** Index of the first measured query: the energy window starts at its release. */
    firstMeasured: Count,
    /** Arrival µs from the trace's origin (ascending), model index, batch index per query. */
    trace: Type.Object({ arrivalUs: Numbers, model: Type.Array(Count), batchIdx: Type.Array(Count) }, strict),
    /** eclip-kw: partition i is a dedicated worker of model serves[i] (src/paris/kernelwise.ts). */
    serves: Type.Optional(Type.Array(Count)),
    /**
     * eclip-kw: the pool every GPU of the server holds (green contexts) and, per model and batch index, the groups of
     * its plan there (partition ids of that pool) with the kernel sequence they were planned for.
     */
    kernelWise: Type.Optional(
      Type.Object(
        {
          pool: Type.Array(
            Type.Object({ id: Count, slices: Type.Array(Count), sms: Type.Integer() }, strict),
          ),
          plans: Type.Array(
            Type.Array(
              Type.Object(
                {
                  groups: Type.Array(Type.Object({ first: Count, last: Count, partition: Count }, strict)),
                  fingerprint: Type.String(),
                },
                strict,
              ),
            ),
          ),
        },
        strict,
      ),
    ),
  },
  strict,
)
export type ParisRunMessage = Type.Static<typeof ParisRunMessage>

export const ShutdownMessage = Type.Object({ type: Type.Literal('shutdown') }, strict)
export type ShutdownMessage = Type.Static<typeof ShutdownMessage>

/** Every request by its `type`. */
export const REQUESTS = {
  hello: HelloMessage,
  run: RunMessage,
  load: LoadMessage,
  'load-model': LoadModelMessage,
  'unload-model': UnloadModelMessage,
  'add-plans': AddPlansMessage,
  infer: InferMessage,
  power: PowerMessage,
  'shm-register': ShmRegisterMessage,
  'shm-unregister': ShmUnregisterMessage,
  'paris-table': ParisTableMessage,
  'paris-gpus': ParisGpusMessage,
  'paris-run': ParisRunMessage,
  shutdown: ShutdownMessage,
} as const
export type ToBackend = {
  [K in keyof typeof REQUESTS]: Type.Static<(typeof REQUESTS)[K]>
}[keyof typeof REQUESTS]

// ── replies (Python → TS) ───────────────────────────────────────────────────────────────────────────────────────

/** hello's answer: the GPU (slice layout read off the device) and the backend's library versions. */
export const ReadyReply = Type.Object({
  type: Type.Literal('ready'),
  gpu: Gpu,
  versions: Type.Record(Type.String(), Type.String()),
})
export type ReadyReply = Type.Static<typeof ReadyReply>

/** A serial request's progress, for the log. */
export const ProgressReply = Type.Object({ type: Type.Literal('progress'), key: Key, message: Type.String() })
export type ProgressReply = Type.Static<typeof ProgressReply>

export const WorkerTimes = Type.Object({
  name: Type.String(),
  /** Open loop: each request's scheduled arrival (latency counts from it); absent for a closed loop (= startUs). */
  arrivalUs: Type.Optional(Numbers),
  startUs: Numbers,
  endUs: Numbers,
  /** Host CPU time of the worker's thread spent enqueuing each request, µs (absent from MPS runs). */
  cpuUs: Type.Optional(Numbers),
})
export type WorkerTimes = Type.Static<typeof WorkerTimes>

/** run's answer: raw request times per worker, the measurement window and its NVML energy. */
export const RunReply = Type.Object({
  type: Type.Literal('result'),
  key: Key,
  mode: Type.String(),
  workers: Type.Array(WorkerTimes),
  windowStartUs: Type.Number(),
  windowEndUs: Type.Number(),
  energyJ: Type.Union([Type.Number(), Type.Null()]),
  wallS: Type.Number(),
  clocks: Type.Unknown(),
  switches: Type.Array(Type.Number()),
  notes: Type.Array(Type.String()),
  outputCheck: Type.Optional(
    Type.Array(
      Type.Object({
        name: Type.String(),
        relErr: Type.Union([Type.Number(), Type.Null()]),
        bitwise: Type.Boolean(),
      }),
    ),
  ),
  /** A run with `live`: what the active set was (masks as in RunLive's `sets`). */
  live: Type.Optional(
    Type.Object({
      /** Per worker, per completed request (endUs's order): the mask of the set active when it started. */
      requestSets: Type.Array(Type.Array(Type.Integer({ minimum: 1 }))),
      /** Per mask: µs inside the window the active set was that set. */
      setTimeUs: Numbers,
      /** Changes of the active set inside the window, and over the whole run. */
      switches: Count,
      switchesTotal: Count,
    }),
  ),
})
export type RunReply = Type.Static<typeof RunReply>

/** One captured worker: its static input and output (batch dimension = the captured batch). */
export const LoadedWorker = Type.Object({
  name: Type.String(),
  inputShape: Type.Array(Type.Integer()),
  inputDtype: TensorDatatype,
  outputShape: Type.Array(Type.Integer()),
  outputDtype: TensorDatatype,
  fingerprint: Type.String(),
  mode: Type.Optional(Type.String()),
  kernels: Type.Optional(Count),
  switches: Type.Optional(Count),
  /** paris-elsa: the batch sizes captured on every partition. */
  batches: Type.Optional(Type.Array(Type.Integer({ minimum: 1 }))),
  /** Its captures under the load's keyed `plans`. */
  plans: Type.Optional(Type.Record(Type.String(), Type.Object({ mode: Type.String(), switches: Count }))),
  /** GPU memory its model and captures took (what torch reserved for them), bytes. */
  memoryBytes: Type.Optional(Type.Integer()),
  /** Who runs its requests: "native" (the backend's C request path) or "python …" (why not native). */
  requestPath: Type.Optional(Type.String()),
  /** The priority of its streams (the plan worker's streamPriority; normal without one). */
  streamPriority: Type.Optional(Type.Enum(['normal', 'high'])),
})
export type LoadedWorker = Type.Static<typeof LoadedWorker>

export const LoadedReply = Type.Object({
  type: Type.Literal('loaded'),
  workers: Type.Array(LoadedWorker),
  /** Per ring of the load: true when mapped, else why not (that worker's tensors then go through the pipe). */
  rings: Type.Optional(Type.Record(Type.String(), Type.Union([Type.Literal(true), Type.String()]))),
  /** Executions of one worker the backend overlaps on its stream (its pipeline depth); absent: one at a time. */
  pipelineDepth: Type.Optional(Type.Integer({ minimum: 1 })),
  /** The backend's request path: "native" (C, gpu/eclip_gpu/native/hotpath.c) or "python (why not native)". */
  requestPath: Type.Optional(Type.String()),
})
export type LoadedReply = Type.Static<typeof LoadedReply>

/** Plan keys per loaded worker: the captures a model-control request put in place, or retired. */
const KeysByWorker = Type.Record(Type.String(), Type.Array(Type.String()))

/** load-model's answer: the new worker as `loaded` lists one, and the loaded workers' captures under its plans. */
export const ModelLoadedReply = Type.Object({
  type: Type.Literal('model-loaded'),
  id: Id,
  worker: LoadedWorker,
  captured: KeysByWorker,
  /** Green contexts (partitions) the load made: the workers' own of slice sets they had none of. */
  partitionsCreated: Count,
  /** The ring, when the request gave one: true when mapped, else why not (its tensors then go through the pipe). */
  ring: Type.Optional(Type.Union([Type.Literal(true), Type.String()])),
})
export type ModelLoadedReply = Type.Static<typeof ModelLoadedReply>

/** unload-model's answer, once the worker's thread has stopped. */
export const ModelUnloadedReply = Type.Object({
  type: Type.Literal('model-unloaded'),
  id: Id,
  name: Type.String(),
  /** The other workers' captures under plans that listed it, retired. */
  retired: KeysByWorker,
  /** Infers that reached it after it was taken out, answered with an error (the server sends none). */
  refused: Count,
})
export type ModelUnloadedReply = Type.Static<typeof ModelUnloadedReply>

export const PlansAddedReply = Type.Object({
  type: Type.Literal('plans-added'),
  id: Id,
  captured: KeysByWorker,
  /** Green contexts (partitions) the captures made, as load-model's. */
  partitionsCreated: Count,
})
export type PlansAddedReply = Type.Static<typeof PlansAddedReply>

/**
 * The output's first `n` items as raw `datatype` bytes: the body, or, with `shm`, at `shm.offset` of the worker's
 * ring (inside the request's `outOffset`/`outBytes`); computeUs is the replay's device time, waitedUs (absent: none)
 * how long the execution waited in the backend for its model's executions in flight before it was started.
 */
export const OutputReply = Type.Object({
  type: Type.Literal('output'),
  id: Id,
  shape: Type.Array(Type.Integer({ minimum: 0 })),
  datatype: TensorDatatype,
  computeUs: Type.Number(),
  waitedUs: Type.Optional(Type.Number({ minimum: 0 })),
  shm: Type.Optional(Type.Object({ offset: Count, bytes: Count })),
  /** The output went into the client's region the infer named (`bytes` written). */
  output: Type.Optional(RegionSpan),
})
export type OutputReply = Type.Static<typeof OutputReply>

export const PowerReply = Type.Object({
  type: Type.Literal('power'),
  id: Id,
  /** NVML board power, W. */
  powerW: Type.Number(),
  /** NVML energy since this process's first power reading, J. */
  energyJ: Type.Number(),
})
export type PowerReply = Type.Static<typeof PowerReply>

export const ShmRegisteredReply = Type.Object({
  type: Type.Literal('shm-registered'),
  id: Id,
  name: Type.String(),
  /** e.g. the mapping could not be page-locked (copies then go through pageable memory). */
  note: Type.Optional(Type.String()),
})
export type ShmRegisteredReply = Type.Static<typeof ShmRegisteredReply>

export const ShmUnregisteredReply = Type.Object({
  type: Type.Literal('shm-unregistered'),
  id: Id,
  name: Type.String(),
  /** False: closed later, once the requests holding it are done. */
  closed: Type.Boolean(),
})
export type ShmUnregisteredReply = Type.Static<typeof ShmUnregisteredReply>

/** paris-table's answer: one model's eclip.latency-table/1, measured. */
export const LatencyTableReply = Type.Object({
  type: Type.Literal('latency-table'),
  key: Key,
  table: LatencyTable,
  wallS: Type.Number(),
})
export type LatencyTableReply = Type.Static<typeof LatencyTableReply>

/** paris-run's answer: per query, µs from the trace's origin on the backend's host clock. */
export const ParisRunReply = Type.Object({
  type: Type.Literal('paris-result'),
  key: Key,
  /** When the dispatcher released it (its trace arrival + the dispatcher's lag). */
  releaseUs: Numbers,
  /** When its partition took it up (launched its graph or dropped it). */
  startUs: Numbers,
  /** When its graph had completed (event synchronized); for a dropped query, startUs. */
  endUs: Numbers,
  /** The partition (index into the message's partitions) that ran or dropped it. */
  partition: Type.Array(Type.Integer()),
  /** The dispatcher's choice at release: a partition index, or -1 for the central FIFO. */
  assigned: Type.Array(Type.Integer()),
  /** 1 where the query was dropped unexecuted. */
  dropped: Type.Array(Type.Integer()),
  /**
   * NVML energy from energyFromUs (first measured release) to energyToUs (last completion), J: summed over the
   * server's GPUs (`gpus`), and per GPU in energyPerGpuJ.
   */
  energyJ: Type.Union([Type.Number(), Type.Null()]),
  energyPerGpuJ: Type.Optional(Type.Union([Numbers, Type.Null()])),
  /** The server's GPUs: 0..the highest any partition is on. */
  gpus: Type.Optional(Type.Array(Count)),
  energyFromUs: Type.Number(),
  energyToUs: Type.Number(),
  /** Graphs captured for this run (the rest were kept from earlier runs on the same slices) and their cost. */
  captures: Count,
  captureS: Type.Number(),
  /** Graphs alive after this run. */
  graphs: Count,
  wallS: Type.Number(),
  clocks: Type.Unknown(),
  notes: Type.Array(Type.String()),
})
export type ParisRunReply = Type.Static<typeof ParisRunReply>

export const ParisGpusReply = Type.Object({
  type: Type.Literal('paris-gpus'),
  key: Key,
  /** GPUs the backend process sees (after CUDA_VISIBLE_DEVICES). */
  deviceCount: Count,
  /** eclip.gpu/1 of GPUs 0..min(count, deviceCount)-1. */
  gpus: Type.Array(Gpu),
})
export type ParisGpusReply = Type.Static<typeof ParisGpusReply>

/** Any request's failure; `fatal`: the CUDA context is poisoned, the process exits 3 right after. */
export const ErrorReply = Type.Object({
  type: Type.Literal('error'),
  key: Type.Optional(Type.Union([Key, Type.Null()])),
  /** Set when the error answers a request with an id (infer, power, shm-(un)register, model control). */
  id: Type.Optional(Type.Union([Id, Type.Null()])),
  message: Type.String(),
  fatal: Type.Boolean(),
  trace: Type.Optional(Type.String()),
})
export type ErrorReply = Type.Static<typeof ErrorReply>

/** Every reply by its `type`. */
export const REPLIES = {
  ready: ReadyReply,
  progress: ProgressReply,
  result: RunReply,
  loaded: LoadedReply,
  'model-loaded': ModelLoadedReply,
  'model-unloaded': ModelUnloadedReply,
  'plans-added': PlansAddedReply,
  output: OutputReply,
  power: PowerReply,
  'shm-registered': ShmRegisteredReply,
  'shm-unregistered': ShmUnregisteredReply,
  'latency-table': LatencyTableReply,
  'paris-result': ParisRunReply,
  'paris-gpus': ParisGpusReply,
  error: ErrorReply,
} as const
export type FromBackend = {
  [K in keyof typeof REPLIES]: Type.Static<(typeof REPLIES)[K]>
}[keyof typeof REPLIES]
export type ReplyOf<K extends keyof typeof REPLIES> = Type.Static<(typeof REPLIES)[K]>

/** Replies matched to their request by `id` (the others answer the one serial request in flight). */
export function repliesById(
  m: FromBackend,
): m is
  | OutputReply
  | PowerReply
  | ShmRegisteredReply
  | ShmUnregisteredReply
  | ModelLoadedReply
  | ModelUnloadedReply
  | PlansAddedReply
  | (ErrorReply & { id: number }) {
  return BY_ID.has(m.type) && typeof (m as { id?: unknown }).id === 'number'
}

const BY_ID = new Set<string>([
  'output',
  'power',
  'error',
  'shm-registered',
  'shm-unregistered',
  'model-loaded',
  'model-unloaded',
  'plans-added',
])

/** A message that does not follow the protocol: names its type, the field and the reason. */
export class ProtocolError extends Error {
  override name = 'ProtocolError'
}

type Checker = ReturnType<typeof Compile>
const compiled = new Map<TSchema, Checker>()
function checker(schema: TSchema): Checker {
  let c = compiled.get(schema)
  if (!c) {
    c = Compile(schema)
    compiled.set(schema, c)
  }
  return c
}

/**
 * Checks one message against its type's schema (`replies`: a reply, else a request); returns it typed, or throws
 * ProtocolError naming the field ("output reply /shape/0: expected integer"). The schema's compiled check is all a
 * valid message costs; errors are collected only for an invalid one.
 */
export function checkMessage(value: unknown, replies: true): FromBackend
export function checkMessage(value: unknown, replies: false): ToBackend
export function checkMessage(value: unknown, replies: boolean): FromBackend | ToBackend {
  const table: Record<string, TSchema> = replies ? REPLIES : REQUESTS
  const what = replies ? 'reply' : 'request'
  const type = typeof value === 'object' && value !== null ? (value as { type?: unknown }).type : undefined
  const schema = typeof type === 'string' && Object.hasOwn(table, type) ? table[type] : undefined
  if (!schema) throw new ProtocolError(`unknown ${what} type ${JSON.stringify(type) ?? 'undefined'}`)
  const c = checker(schema)
  if (c.Check(value)) return value as FromBackend & ToBackend
  const e = c.Errors(value)[0]
  const reason = e ? explain(e) : 'does not match its schema'
  throw new ProtocolError(`${type} ${what} ${e?.instancePath || '/'}: ${reason}`)
}

// biome-ignore lint/suspicious/noExplicitAny: typebox's error params differ per keyword
function explain(e: { keyword: string; message: string; params: any }): string {
  if (e.keyword === 'additionalProperties' && e.params?.additionalProperties)
    return `unknown field(s) ${e.params.additionalProperties.map((p: string) => `"${p}"`).join(', ')}`
  if (e.keyword === 'required' && e.params?.requiredProperties)
    return `missing field(s) ${e.params.requiredProperties.map((p: string) => `"${p}"`).join(', ')}`
  // a field the schema does not name is reported at its own path
  if (e.message === 'schema is false') return 'unknown field'
  return e.message
}

/**
 * schemas/backend-protocol.schema.json: every message's schema under `definitions` ("request.<type>",
 * "reply.<type>"), the document itself accepting any of them. The Python side validates a request with its type's
 * definition.
 */
export function protocolSchema(): object {
  const definitions: Record<string, unknown> = {}
  for (const [t, s] of Object.entries(REQUESTS)) definitions[`request.${t}`] = s
  for (const [t, s] of Object.entries(REPLIES)) definitions[`reply.${t}`] = s
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $id: 'https://eclip.dev/schemas/backend-protocol.schema.json',
    title: 'eclip backend protocol',
    description:
      'The frame headers between eclip (TypeScript) and its GPU backend (Python): src/execute/gpu/protocol.ts',
    definitions: JSON.parse(JSON.stringify(definitions)),
    anyOf: Object.keys(definitions).map((k) => ({ $ref: `#/definitions/${k}` })),
  }
}
