// Serve results: what one `eclip serve-bench` writes. A run is one (mix, policy) served by `eclip serve` (in process,
// loopback) and driven through its KServe v2 API by closed-loop clients, `concurrency` per model, or — where the mix
// gives arrival sources (`loop`) — open-loop clients sending at each worker's scheduled times: warm-up, then a steady
// window in which every completed request is counted, with its client-side latency (request to full response; for an
// open-loop request, from its scheduled time). Energy is the server's own `nv_energy_consumption` counter (/metrics)
// at the window's edges: NVML on the GPU backend, a power model on the simulator. On the simulator no model runs:
// every run says `simulated: true`. With --url serve-bench starts nothing: the same clients measure a server already
// running (Triton, another eclip serve), the run named by its label in place of a policy (`external`).
import Type from 'typebox'
import { Arrival, Priority } from './arrival.ts'
import { CommandProvenance, Dtype, GpuRef, Provenance } from './common.ts'
import { Policy } from './plan.ts'
import { BackendName, Latency, Loop, RealtimeMetrics, SystemMetrics } from './results.ts'

const Num = Type.Number()
const NullableNum = Type.Union([Type.Number(), Type.Null()])
const Count = Type.Integer({ minimum: 0 })

/**
 * An open-loop worker's sending: its schedule against what went out. Counted over the requests scheduled inside the
 * window; none is dropped silently — each was answered (200, an error, a 429 refusal), or is counted unsent.
 */
export const ServeOpenLoop = Type.Object(
  {
    /** Requests scheduled inside the window, and that ÷ the window: the offered rate. */
    scheduled: Count,
    offeredRps: Num,
    /**
     * Of those: sent, sent more than 1 ms after their scheduled time (every slot busy, or the client's timer late),
     * never sent (every slot busy until the run ended).
     */
    sent: Count,
    late: Count,
    unsent: Count,
    /** Answered 429 (the server's queue full). */
    refused: Count,
    /** Send time − scheduled time over the sent ones, µs; null with none. */
    sendLagUs: Type.Union([Latency, Type.Null()]),
  },
  { additionalProperties: false },
)
export type ServeOpenLoop = Type.Static<typeof ServeOpenLoop>

export const ServeWorkerResult = Type.Object(
  {
    /** The mix's worker name ("albert#0"), as `eclip bench` names it. */
    name: Type.String({ minLength: 1 }),
    /** The KServe model name it was served under ("albert-0"). */
    served: Type.String({ minLength: 1 }),
    model: Type.String({ minLength: 1 }),
    /** Items per request: every request carries a full batch. */
    batch: Type.Integer({ minimum: 1 }),
    dtype: Dtype,
    /** Requests answered 200 inside the steady window. */
    requests: Type.Integer({ minimum: 0 }),
    items: Type.Integer({ minimum: 0 }),
    throughputRps: Num,
    itemsPerS: Num,
    /**
     * Client-side, µs; null when no request completed inside the window. An open-loop worker's: from each request's
     * scheduled time (not its send: waiting for a free slot counts), over its requests scheduled inside the window.
     */
    latencyUs: Type.Union([Latency, Type.Null()]),
    /** Requests answered otherwise (non-200, a malformed 200, no answer) inside the window. */
    errors: Type.Integer({ minimum: 0 }),
    /** The same over the whole run (warm-up and the requests in flight at the window's end included). */
    errorsTotal: Type.Integer({ minimum: 0 }),
    /** errorsTotal by HTTP status ("0": no answer; "200": an answer without the expected outputs). */
    errorStatuses: Type.Record(Type.String(), Type.Integer({ minimum: 1 })),
    /** Mean of the responses' `queue_us` / `compute_us` parameters over the window's requests (server-side), µs. */
    serverQueueUs: NullableNum,
    serverComputeUs: NullableNum,
    /** throughput / the same worker's under baseline in the same mix and batch; null without one. */
    normVsBaseline: NullableNum,
    /** p95 / the same worker's p95 under baseline; null without one. */
    p95VsBaseline: NullableNum,
    /**
     * The profile's request latency on the whole GPU, µs: the worker's solo reference (served runs have no solo run).
     */
    fullGpuUs: Type.Optional(Type.Number({ minimum: 0 })),
    /** SM·µs of one request with every kernel at its right-size: the STP bound's A_w. */
    packedAreaSmUs: Type.Optional(Type.Number({ minimum: 0 })),
    /** serve-bench --bench: the same worker's req/s in that `eclip bench` run, and this rate ÷ it. */
    benchRps: Type.Optional(Num),
    servedVsBench: Type.Optional(NullableNum),
    /** The bench's p99 latency (µs) and share within SLO for the same worker, where it has them. */
    benchP99Us: Type.Optional(NullableNum),
    benchWithinSlo: Type.Optional(NullableNum),
    /** The worker's source, priority and SLO, where its mix gives them (src/formats/arrival.ts). */
    arrival: Type.Optional(Arrival),
    priority: Type.Optional(Priority),
    sloMs: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
    /**
     * Share of its requests within its SLO: answered 200 within sloMs; an open-loop worker's over its requests
     * scheduled inside the window (errors and unsent ones count as misses); null with none.
     */
    withinSlo: Type.Optional(NullableNum),
    /** An open-loop worker's schedule against its sending. */
    open: Type.Optional(ServeOpenLoop),
  },
  { additionalProperties: false },
)
export type ServeWorkerResult = Type.Static<typeof ServeWorkerResult>

export const ServeRunMetrics = Type.Object(
  {
    requests: Type.Integer({ minimum: 0 }),
    errors: Type.Integer({ minimum: 0 }),
    errorsTotal: Type.Integer({ minimum: 0 }),
    /** nv_energy_consumption delta over the window, J; null when the server reported no energy. */
    energyJ: NullableNum,
    /** server: another server's counter, its source not stated in its labels (Triton's: DCGM). */
    energySource: Type.Union([Type.Enum(['nvml', 'simulated', 'server']), Type.Null()]),
    meanPowerW: NullableNum,
    requestsPerJ: NullableNum,
    /** Mean over workers of normVsBaseline; null without a baseline. */
    throughputVsBaseline: NullableNum,
    /** Mean over workers of p95VsBaseline; null without a baseline. */
    p95VsBaseline: NullableNum,
    /** Each worker's requests/J ÷ baseline's, averaged (as `eclip bench`); null without a baseline or power. */
    energyEffVsBaseline: NullableNum,
    /** requestsPerJ ÷ baseline's: total requests ÷ energy, the system's; null without a baseline (absent before). */
    requestsPerJVsBaseline: Type.Optional(NullableNum),
    /**
     * Busy share of the server's Node event loop over the window: near 1, the host process, not the backend, bounds
     * the rate. null: the server is not serve-bench's process (an external one).
     */
    eventLoopUtilisation: NullableNum,
    /** The server's and its event loop's CPU ms per request answered in the window (Linux /proc); absent before. */
    hostCpuMsPerRequest: Type.Optional(Type.Object({ server: NullableNum, eventLoop: NullableNum })),
    /**
     * The server process's Node runtime in the window, from its /metrics (absent where the server does not export
     * them, or before): garbage-collection pauses and their time; the longest event-loop delay seen (10-ms samples).
     */
    serverRuntime: Type.Optional(
      Type.Object(
        {
          gcPauses: Type.Number({ minimum: 0 }),
          gcMs: Type.Number({ minimum: 0 }),
          eventLoopDelayMaxMs: NullableNum,
        },
        { additionalProperties: false },
      ),
    ),
    /**
     * STP, worst worker, Jain… as `eclip bench` (src/measure/system.ts), solo rates from the profiles; absent before.
     */
    system: Type.Optional(Type.Union([SystemMetrics, Type.Null()])),
    /** Where the mix has real-time workers: DISB's metrics as `eclip bench` takes them (no alone run here: null). */
    realtime: Type.Optional(RealtimeMetrics),
  },
  { additionalProperties: false },
)
export type ServeRunMetrics = Type.Static<typeof ServeRunMetrics>

/** How the clients sent requests (serve-bench --transport); absent in files written before there was a choice: http. */
export const ServeTransport = Type.Enum(['http', 'grpc', 'grpc-stream', 'shm', 'cuda-shm'])
export type ServeTransport = Type.Static<typeof ServeTransport>

/**
 * Where a run was served: `eclip serve` started by serve-bench on the simulator or the GPU backend, or a server
 * already running that serve-bench only sent to (external: --url).
 */
export const ServeBackendName = Type.Enum(['sim', 'gpu', 'external'])
export type ServeBackendName = Type.Static<typeof ServeBackendName>

/**
 * serve-bench --url: the server measured, which serve-bench did not start; its plan, policy and backend are its own.
 */
export const ServeExternal = Type.Object(
  {
    /** The name the run goes by in place of a policy (--label): in its id, the tables' columns. */
    label: Type.String({ minLength: 1, pattern: '^[A-Za-z0-9_.:+-]+$' }),
    /** Its KServe v2 HTTP base URL; host:port of its gRPC listener where the grpc transport ran; its metrics URL. */
    url: Type.String({ minLength: 1 }),
    grpcUrl: Type.Optional(Type.String({ minLength: 1 })),
    metricsUrl: Type.Optional(Type.String({ minLength: 1 })),
    /** Its server metadata (GET /v2). */
    server: Type.Object(
      { name: Type.String(), version: Type.String(), extensions: Type.Array(Type.String()) },
      { additionalProperties: false },
    ),
    /** The processes whose CPU counts as the server's (--server-pids); absent: its CPU was not measured. */
    serverPids: Type.Optional(Type.Array(Type.Integer({ minimum: 1 }))),
  },
  { additionalProperties: false },
)
export type ServeExternal = Type.Static<typeof ServeExternal>

/**
 * The `eclip bench` run a served run is compared with (serve-bench --bench): same mix, policy and batch, and the same
 * loop (closed; or the workers' arrival sources, whose times are the same for the same seed).
 */
export const ServeVsBench = Type.Object(
  {
    /** The bench file, as given, and the run's id in it. */
    file: Type.String({ minLength: 1 }),
    runId: Type.String({ minLength: 1 }),
    /** Σ over workers of the bench's req/s, and the served Σ ÷ it (the mix in all). */
    benchRps: Num,
    servedVsBench: NullableNum,
    /** The bench's mean over workers of req/s ÷ baseline, beside this run's metrics.throughputVsBaseline. */
    benchThroughputVsBaseline: NullableNum,
    /** The bench's STP ÷ its baseline's STP, beside this run's metrics.system.stpVsBaseline (absent before). */
    benchStpVsBaseline: Type.Optional(NullableNum),
    /**
     * The bench run's backend and seed (an arrival run may be set beside a simulated bench of the same seed; an
     * external server's run beside the GPU's, else the simulator's).
     */
    backend: Type.Optional(BackendName),
    /** The bench run's policy, where it is not the run's own (an external server's: --bench-policy). */
    policy: Type.Optional(Policy),
    seed: Type.Optional(Type.Integer()),
    /** The bench run's real-time metrics, where the mix has real-time workers. */
    realtime: Type.Optional(RealtimeMetrics),
  },
  { additionalProperties: false },
)
export type ServeVsBench = Type.Static<typeof ServeVsBench>

/**
 * serve-bench --repeats / --server-starts: which window of which server start a run is, both counted from 1. The
 * windows of one server start run back to back after its one warm-up; each server start is a fresh `eclip serve`.
 */
export const ServeRepeat = Type.Object(
  { server: Type.Integer({ minimum: 1 }), window: Type.Integer({ minimum: 1 }) },
  { additionalProperties: false },
)
export type ServeRepeat = Type.Static<typeof ServeRepeat>

export const ServeRun = Type.Object(
  {
    /**
     * Unique in the file: `${mix}|${policy or external label}|b${batch ?? 'mix'}|${backend}`, and
     * `|s${server}w${window}` where the run is one window of several (`repeat`).
     */
    id: Type.String({ minLength: 1 }),
    mix: Type.String({ minLength: 1 }),
    /** The serve policy; null for an external server (its scheduling is its own: `external.label` names the run). */
    policy: Type.Union([Policy, Type.Null()]),
    backend: ServeBackendName,
    /**
     * True on the simulator: no model ran, responses had no outputs, compute times and power were modelled. An
     * external server's run: its answers said so (an eclip serve on the simulator).
     */
    simulated: Type.Boolean(),
    /** Batch override (serve-bench --batch), null when each worker kept its mix's batch. */
    batch: Type.Union([Type.Integer({ minimum: 1 }), Type.Null()]),
    /** The GPU of the profiles the plan was made from (an external server's run: its solo references). */
    gpu: GpuRef,
    /** The serve config the run used, relative to the results file; absent for an external server. */
    config: Type.Optional(Type.String({ minLength: 1 })),
    /** Closed-loop clients per model, each with one request in flight. */
    concurrency: Type.Integer({ minimum: 1 }),
    /**
     * How requests came: absent or closed, the closed loop; arrivals, each worker's source; open, --rate for every
     * worker.
     */
    loop: Type.Optional(Loop),
    /** Requests an open-loop worker may have outstanding (its clients' slots); set where some worker is open loop. */
    maxOutstanding: Type.Optional(Type.Integer({ minimum: 1 })),
    /**
     * From the clients' start (the request log's time 0) to the window's; the window is (warmupS, warmupS + windowS].
     */
    warmupS: Type.Number({ minimum: 0 }),
    windowS: Type.Number({ exclusiveMinimum: 0 }),
    /** From startServe to ready (plan, backend start, capture), s; an external server's run: the clients' start. */
    startS: Type.Number({ minimum: 0 }),
    planSolver: Type.String(),
    workers: Type.Array(ServeWorkerResult, { minItems: 1 }),
    metrics: ServeRunMetrics,
    transport: Type.Optional(ServeTransport),
    /** The server measured, where serve-bench did not start it (--url). */
    external: Type.Optional(ServeExternal),
    bench: Type.Optional(ServeVsBench),
    /** Which window of which server start (serve-bench --repeats, --server-starts); absent: the one window of one. */
    repeat: Type.Optional(ServeRepeat),
    notes: Type.Array(Type.String()),
  },
  { additionalProperties: false },
)
export type ServeRun = Type.Static<typeof ServeRun>

export const ServeResults = Type.Object(
  {
    format: Type.Literal('eclip.serve-results/1'),
    runs: Type.Array(ServeRun),
    /** The request log next to this file: every request of every run (warm-up and drain included), one CSV row each. */
    requestLog: Type.Union([Type.String(), Type.Null()]),
    /** `method`: 'simulated' or 'measured'; `simulated` says it again for readers that look for a flag. */
    provenance: Type.Intersect([
      Provenance,
      CommandProvenance,
      Type.Object({ backend: ServeBackendName, simulated: Type.Boolean() }),
    ]),
  },
  { additionalProperties: false },
)
export type ServeResults = Type.Static<typeof ServeResults>

export function serveRunId(
  mix: string,
  policy: string,
  batch: number | null,
  backend: string,
  repeat?: ServeRepeat,
): string {
  return `${mix}|${policy}|b${batch ?? 'mix'}|${backend}${repeat ? `|s${repeat.server}w${repeat.window}` : ''}`
}

/** The name a run goes by in tables and its id: its policy, or an external server's label. */
export const serveRunName = (r: Pick<ServeRun, 'policy' | 'external'>): string =>
  r.external?.label ?? r.policy ?? 'external'

export function serveResultsConsistencyErrors(r: ServeResults): string[] {
  const errors: string[] = []
  const ids = new Set<string>()
  r.runs.forEach((run, i) => {
    if (ids.has(run.id)) errors.push(`/runs/${i}/id: duplicate run id ${run.id}`)
    ids.add(run.id)
    const id = serveRunId(run.mix, serveRunName(run), run.batch, run.backend, run.repeat)
    if (run.id !== id) errors.push(`/runs/${i}/id: expected "${id}"`)
    const external = run.backend === 'external'
    if (external !== (run.policy === null) || external !== (run.external !== undefined))
      errors.push(
        `/runs/${i}: an external server's run (backend external) has policy null and an "external" field; any other has a policy and none`,
      )
    if (!external && run.simulated !== (run.backend === 'sim'))
      errors.push(
        `/runs/${i}/simulated: a ${run.backend} run is ${run.backend === 'sim' ? '' : 'not '}simulated`,
      )
    if (run.simulated && !r.provenance.simulated)
      errors.push(`/provenance/simulated: run ${run.id} is simulated`)
  })
  return errors
}
