// One served run of `eclip serve-bench`: a mix's workers served by `eclip serve` in this process (loopback), or by a
// server already running (--url, external.ts), driven through KServe v2 by clients in processes of their own
// (client-pool.ts): closed loop, or at each worker's scheduled arrival times where the mix gives sources
// (open-loop.ts); per-worker throughput and client-side latency over a steady window (or several back to back,
// --repeats: each a run of its own), energy from the server's /metrics at the window's edges, the server's event-loop
// utilisation and host CPU in the window. Then the ratios to the mix's baseline run, and the report.

import { writeFileSync } from 'node:fs'
import type { EventLoopUtilization } from 'node:perf_hooks'
import type {
  Dtype,
  Gpu,
  Mix,
  Policy,
  ServeConfig,
  ServeRun,
  ServeWorkerResult,
  WorkerSpec,
} from '../formats/index.ts'
import { expandWorkers, serveRunId, serveRunName } from '../formats/index.ts'
import { profileRefs } from '../measure/metrics.ts'
import { latencySummary, mean } from '../measure/stats.ts'
import { baselineRatios, profileSystemMetrics } from '../measure/system.ts'
import { DEFAULT_MIN_SHARE } from '../plan/fit.ts'
import { withGemmTarget } from '../profile/gemm-target.ts'
import { DEFAULT_TOLERANCE } from '../profile/rightsize.ts'
import { loadGpu, loadProfile } from '../profile/store.ts'
import { syntheticProfile } from '../profile/synthetic.ts'
import { gridTable } from '../report/tables.ts'
import type { GpuServeBackend, GpuServeOptions } from '../serve/gpu-backend.ts'
import { startServe } from '../serve/index.ts'
import type { Datatype } from '../serve/kserve/datatypes.ts'
import { loadOf, loopOfWorkers } from '../workload/arrivals.ts'
import { type ClientEvent, type ClientSpec, driveClients, type Scrape } from './client-driver.ts'
import { ClientPool, describeShares } from './client-pool.ts'
import { clientUnits, DEFAULT_CLIENT_PROCESSES } from './client-shares.ts'
import {
  type Call,
  type ClientModel,
  type CudaShmSender,
  overGrpc,
  type SendPlan,
  TRANSPORT_LABEL,
  type Transport,
} from './clients/index.ts'
import { type CpuSnapshot, clientBoundNote, cpuSnapshot, hostCpu, hostCpuNote } from './host-cpu.ts'
import { sendPlans, servedRealtime, workerArrivals } from './open-loop.ts'
import {
  armRuns,
  hostCpuTables,
  meanOverArms,
  repeated,
  repeatNote,
  summaryCell,
  windowWords,
} from './repeats.ts'
import { serverRuntime, serverRuntimeNote } from './server-runtime.ts'

export type { Call } from './clients/index.ts'

/** The policies serve-bench serves: every plan policy but the MPS ones (one process per worker), which bench runs. */
export type ServeBenchPolicy = Exclude<Policy, 'mps' | 'mps-unlimited'>

/** What a run's clients need, whichever server they measure: the mix, its load, the window, the clients' processes. */
export interface ClientsSpec {
  mix: Mix
  /** Overrides every worker's batch; null keeps the mix's. */
  batch: number | null
  /** Profile directory (absolute): the workers' solo references; undefined: the simulator's synthetic profiles. */
  profiles?: string
  /** Closed-loop clients per model (a worker whose source is a closed loop, or every worker without sources). */
  concurrency: number
  /** Open loop at this rate (req/s, Poisson) for every worker of a mix that gives no sources (bench's --rate). */
  rate?: number
  /** Requests an open-loop worker may have outstanding (default DEFAULT_MAX_OUTSTANDING). */
  maxOutstanding?: number
  warmupS: number
  windowS: number
  /** Windows back to back after the one warm-up (--repeats), each windowS long and a run of its own; absent: one. */
  windows?: number
  /** Which fresh server start of the (mix, policy) this is, and of how many (--server-starts); absent: the only one. */
  serverStart?: { index: number; of: number }
  /** Input tensors' and arrival schedules' seed (the bench's --seed: the same times). */
  seed: number
  /** Inputs that also accept this datatype are sent in it (FP32 images for FP16 models); default: their own. */
  inputDatatype?: Datatype
  /** Who sends the cuda-shm transport's requests (clients/cuda-shm.ts; default python). */
  cudaShmSender?: CudaShmSender
  /** Called at the window's edges (benchmarks of the host path read CPU counters there). */
  onWindow?: (edge: 'start' | 'end') => void
  /** Where the clients run: child processes of their own (default), or this process (sharing the server's loop). */
  clients?: 'process' | 'in-process'
  /**
   * Client processes the clients split over (client-shares.ts; at most one per closed-loop client or open-loop
   * model); absent: DEFAULT_CLIENT_PROCESSES (one).
   */
  clientProcesses?: number
  /** How the clients send requests (default http): clients/load.ts. */
  transport?: Transport
  /**
   * Several transports measured one after the other against the same server (one start-up, one plan, one backend:
   * back to back); each transport gets its own clients, warm-up and window.
   */
  transports?: Transport[]
}

/** A run of `eclip serve` started here for (mix, policy). */
export interface ServeBenchSpec extends ClientsSpec {
  /** A serve policy; eclip-rt's real-time models go into the config with their priority, SLO and rate. */
  policy: ServeBenchPolicy
  /** eclip-rt's options for the config's `realtime` (mechanism, reserved SMs, factor). */
  realtime?: ServeConfig['realtime']
  /** eclip-fit's and eclip-rt's best-effort plan's objective for the config's `objective`. */
  objective?: ServeConfig['objective']
  /** The floor of every model whose mix entry sets none (the config's per-model minShare; absent: serve's default). */
  minShare?: number
  /** eclip-live's options for the config's `live` (a ready plan table, the hold). */
  live?: ServeConfig['live']
  /** The config's gemmTarget (default on): plans from the profiles' GEMM-target times. */
  gemmTarget?: boolean
  backend: 'sim' | 'gpu'
  /** The serve config's per-model queueSize (default: serve's). */
  queueSize?: number
  /** HTTP (and gRPC) front-end processes in front of the engine (serve --frontends); 0 or absent: none. */
  frontends?: number
  /** Where the run's serve config is written. */
  configFile: string
  gpu?: GpuServeOptions
}

/**
 * The server a run's clients measure, as measureTransport needs it: `eclip serve` started here (serveBenchRuns), or
 * one already running that serve-bench only sends to (--url: external.ts). The measuring is the same for both.
 */
export interface ServedTarget {
  url: string
  /** host:port of its gRPC listener (the grpc transport). */
  grpcAddress?: string
  /** Where the window's edges read energy (ClientSpec's): absent, the server's own /metrics; null, none. */
  metricsUrl?: string | null
  /** Each mix worker's served model as the clients send to it, in mix order. */
  models: ClientModel[]
  /** Wait for the first energy reading before starting (the GPU backend's first NVML poll). */
  waitForEnergy: boolean
  /** The run's fields that say what served it. */
  run: Pick<ServeRun, 'policy' | 'backend' | 'gpu' | 'planSolver'> &
    Partial<Pick<ServeRun, 'config' | 'external'>>
  /** The server's processes for the host-CPU reading (cpuSnapshot's; the clients' are added). */
  cpuPids(): Omit<Parameters<typeof cpuSnapshot>[0], 'clients'>
  /** The server's event loop is this process's: its utilisation in the window is read. */
  ownEventLoop: boolean
  /** Whether the run is simulated (another server's: its answers say so). */
  simulated(calls: Call[][]): boolean
  /** A worker's solo references (the system metrics'), or none. */
  refs(w: WorkerSpec): { fullGpuUs: number; packedAreaSmUs: number } | Record<string, never>
  /** Notes on the server, taken after the window (the GPU backend's tensor paths are known then). */
  notes(): string[]
  /** What the GPU backend reported about itself; absent for any other server. */
  device?: ServeBenchOutcome['device']
}

export interface ServeBenchOutcome {
  /** One run per window, in time order (one unless spec.windows). */
  runs: ServeRun[]
  /** Every request of the clients (warm-up, every window and the drain), per worker in mix order. */
  calls: Call[][]
  /** What the GPU backend reported about itself (device name, driver, CUDA, torch); absent on the simulator. */
  device?: { gpu: string; versions: Record<string, string> }
}

/** Closed-loop clients per model unless told (2: the next request always waits in the server's queue). */
export const DEFAULT_CONCURRENCY = 2

/** Requests an open-loop worker may have outstanding unless told (its clients' connections or regions). */
export const DEFAULT_MAX_OUTSTANDING = 16

/** The KServe name a mix worker is served under: "albert#1" → "albert-1" (names are URL path segments). */
export const servedName = (worker: string) => worker.replace(/[^A-Za-z0-9_.-]/g, '-')

/** One transport's outcome of serveBenchRuns, or why its clients failed (the other transports still ran). */
export type TransportOutcome = ServeBenchOutcome | { transport: Transport; error: Error }

/**
 * A mix worker's priority as a serve config model says it: its priority, a real-time worker's SLO, and the mean rate
 * of an open-loop real-time source as the model's expected `rate` (the planner assumes Poisson arrivals at it); a
 * closed-loop one gives none (always busy, as the bench's planner counts it).
 */
export function priorityFields(
  w: WorkerSpec,
): Pick<ServeConfig['models'][number], 'priority' | 'sloMs' | 'rate'> {
  if (w.priority !== 'realtime') return w.priority !== undefined ? { priority: w.priority } : {}
  const load = loadOf(w.arrival)
  return {
    priority: 'realtime',
    ...(w.sloMs !== undefined ? { sloMs: w.sloMs } : {}),
    ...(!load.closed && load.rps > 0 ? { rate: load.rps * load.share } : {}),
  }
}

/** One served run with one transport (spec.transport, default http): its first window's run. */
export async function serveBenchRun(
  spec: ServeBenchSpec,
): Promise<Omit<ServeBenchOutcome, 'runs'> & { run: ServeRun }> {
  const [o] = await serveBenchRuns({ ...spec, transports: [spec.transport ?? 'http'] })
  if (!o || 'error' in o) throw o?.error ?? new Error('serve-bench: no run')
  const [run] = o.runs
  if (!run) throw new Error('serve-bench: no window')
  return { run, calls: o.calls, ...(o.device ? { device: o.device } : {}) }
}

/** The clients of one (mix, server): when each worker's requests go out, and how to make their processes. */
export interface ClientSetup {
  plans: SendPlan[] | undefined
  /** A pool of as many client processes as the run can use, or null for clients in this process. */
  newClients(): ClientPool | null
}

export function clientSetup(spec: ClientsSpec): ClientSetup {
  const workers = expandWorkers(spec.mix, spec.batch ?? undefined)
  // when each worker's requests go out, and so how many client processes its clients can use
  const loop = loopOfWorkers(workers, spec.rate, `mix ${spec.mix.name}`)
  const plans = sendPlans(loop, workers, spec.seed, spec.warmupS + (spec.windows ?? 1) * spec.windowS)
  const maxOutstanding = spec.maxOutstanding ?? DEFAULT_MAX_OUTSTANDING
  const units = clientUnits(
    { concurrency: spec.concurrency, ...(plans ? { plans, maxOutstanding } : {}) },
    workers.length,
  )
  const processes = Math.min(units, spec.clientProcesses ?? DEFAULT_CLIENT_PROCESSES)
  return { plans, newClients: () => (spec.clients === 'in-process' ? null : new ClientPool(processes)) }
}

/**
 * The server started once for (mix, policy), then each of spec.transports measured in turn with clients of its own
 * (warm-up, window); the server, its backend and front-ends are closed at the end. A failure to start the server
 * throws; a transport whose clients fail is returned with its error.
 */
export async function serveBenchRuns(spec: ServeBenchSpec): Promise<TransportOutcome[]> {
  const transports = spec.transports ?? [spec.transport ?? 'http']
  const workers = expandWorkers(spec.mix, spec.batch ?? undefined)
  const config: ServeConfig = {
    format: 'eclip.serve/1',
    host: '127.0.0.1',
    port: 0,
    backend: spec.backend,
    policy: spec.policy,
    ...(spec.profiles ? { profiles: spec.profiles } : {}),
    dashboard: false,
    // gRPC only where the clients use it (a free port, as HTTP's)
    grpcPort: transports.some(overGrpc) ? 0 : null,
    ...(spec.realtime && spec.policy === 'eclip-rt' ? { realtime: spec.realtime } : {}),
    ...(spec.objective && (spec.policy === 'eclip-rt' || spec.policy === 'eclip-fit')
      ? { objective: spec.objective }
      : {}),
    ...(spec.live && spec.policy === 'eclip-live' ? { live: spec.live } : {}),
    ...(spec.gemmTarget === false ? { gemmTarget: false } : {}),
    models: workers.map((w) => {
      const minShare = w.minShare ?? spec.minShare
      return {
        name: servedName(w.name),
        model: w.model,
        batch: w.batch,
        dtype: w.dtype,
        ...(spec.queueSize ? { queueSize: spec.queueSize } : {}),
        // the mix's planner fields, as bench plans them
        ...(w.weight !== undefined ? { weight: w.weight } : {}),
        ...(minShare !== undefined ? { minShare } : {}),
        ...priorityFields(w),
      }
    }),
  }
  writeFileSync(spec.configFile, `${JSON.stringify(config, null, 1)}\n`)
  const started = performance.now()
  const setup = clientSetup(spec)
  // the first clients' processes start now: their start-up overlaps the server's
  const early = setup.newClients()
  let running: Awaited<ReturnType<typeof startServe>>
  try {
    running = await startServe({
      config: spec.configFile,
      logger: { level: process.env.ECLIP_LOG_LEVEL ?? 'warn', stream: process.stderr },
      ...(spec.frontends ? { frontends: spec.frontends } : {}),
      gpu: { powerPeriodMs: 100, ...spec.gpu },
    })
  } catch (err) {
    await early?.close()
    throw err
  }
  const { server, frontends } = running
  try {
    return await measureTransports(spec, servedHere(spec, running), transports, setup, started, early)
  } finally {
    // the whole server, the GPU backend's Python process and the front-ends included, is gone before the next run
    await (frontends ?? server).close()
  }
}

/** `eclip serve` started here, as the clients measure it. */
function servedHere(spec: ServeBenchSpec, running: Awaited<ReturnType<typeof startServe>>): ServedTarget {
  const { server, url, grpcAddress, frontends } = running
  const gpuBackend = spec.backend === 'gpu' ? (server.opts.backend as GpuServeBackend) : null
  const gpu = server.opts.gpu
  const plan = server.opts.plan
  const proc = gpuBackend?.process
  return {
    url,
    ...(grpcAddress ? { grpcAddress } : {}),
    models: server.opts.models.map((m) => ({ name: m.name, io: m.io, batch: m.batch })),
    waitForEnergy: spec.backend === 'gpu',
    run: {
      policy: spec.policy,
      backend: spec.backend,
      gpu: gpu
        ? { name: gpu.name, smCount: gpu.smCount, sliceSize: gpu.sliceSize }
        : { name: 'unknown', smCount: 1, sliceSize: 1 },
      planSolver: plan ? `${plan.solver.name} ${plan.solver.status}` : 'none',
      config: spec.configFile,
    },
    cpuPids: () => ({
      ...(frontends ? { frontends: frontends.pids() } : {}),
      ...(gpuBackend?.process?.pid ? { backend: gpuBackend.process.pid } : {}),
    }),
    ownEventLoop: true,
    simulated: () => server.opts.backend.kind === 'sim',
    refs: (w) => servedProfileRefs(spec.profiles, gpu, w, plan?.params.tolerance, spec.gemmTarget !== false),
    notes: () => [
      ...(server.opts.notes ?? []),
      ...(frontends
        ? [
            `${frontends.opts.count} front-end processes in front of the engine: their CPU counts as the server's, the event loop is the engine's`,
          ]
        : []),
      ...(server.opts.backend.kind === 'sim'
        ? ['SIMULATED: no model ran; responses carried no outputs; compute times and power are modelled']
        : []),
      ...(gpuBackend
        ? [
            `tensors to and from the backend: ${[...gpuBackend.transports()].map(([n, how]) => `${n} ${how === 'shm' ? 'shared memory' : how}`).join(', ')}`,
          ]
        : []),
    ],
    ...(proc ? { device: { gpu: proc.gpu?.name ?? 'unknown', versions: proc.versions } } : {}),
  }
}

/**
 * Each of `transports` measured in turn against one running server, with clients of their own (`early`: the first
 * transport's, started before the server was up); a transport whose clients fail is returned with its error (one
 * alone throws it).
 */
export async function measureTransports(
  spec: ClientsSpec,
  target: ServedTarget,
  transports: Transport[],
  setup: ClientSetup,
  started: number,
  early: ClientPool | null = setup.newClients(),
): Promise<TransportOutcome[]> {
  const out: TransportOutcome[] = []
  let first: ClientPool | null = early
  try {
    for (const [i, transport] of transports.entries()) {
      const clients = first ?? setup.newClients()
      first = null
      try {
        // the first transport's start counts from the server's; a later one's from its own clients'
        out.push(
          await measureTransport(
            spec,
            target,
            transport,
            clients,
            setup.plans,
            i === 0 ? started : performance.now(),
          ),
        )
      } catch (err) {
        if (transports.length === 1) throw err
        out.push({ transport, error: err as Error })
      } finally {
        await clients?.close()
      }
    }
  } finally {
    await first?.close()
  }
  return out
}

/**
 * One transport's clients against the running server: warm-up, then spec.windows windows back to back (default
 * one), each window's numbers a run of its own.
 */
async function measureTransport(
  spec: ClientsSpec,
  target: ServedTarget,
  transport: Transport,
  clients: ClientPool | null,
  plans: SendPlan[] | undefined,
  started: number,
): Promise<ServeBenchOutcome> {
  const workers = expandWorkers(spec.mix, spec.batch ?? undefined)
  const loop = loopOfWorkers(workers, spec.rate, `mix ${spec.mix.name}`)
  const maxOutstanding = spec.maxOutstanding ?? DEFAULT_MAX_OUTSTANDING
  const windows = spec.windows ?? 1
  const clientSpec: ClientSpec = {
    url: target.url,
    models: target.models,
    concurrency: spec.concurrency,
    ...(plans ? { plans, maxOutstanding } : {}),
    warmupS: spec.warmupS,
    windowS: spec.windowS,
    ...(windows > 1 ? { windows } : {}),
    seed: spec.seed,
    ...(spec.inputDatatype ? { inputDatatype: spec.inputDatatype } : {}),
    waitForEnergy: target.waitForEnergy,
    ...(target.metricsUrl !== undefined ? { metricsUrl: target.metricsUrl } : {}),
    transport,
    ...(target.grpcAddress ? { grpcAddress: target.grpcAddress } : {}),
    ...(spec.cudaShmSender ? { cudaShmSender: spec.cudaShmSender } : {}),
  }
  let startS = 0
  // the server's event loop and the host's CPU at each edge of the windows (with the clients in their own process,
  // the event loop is the server's alone)
  const elus: EventLoopUtilization[] = []
  const cpus: CpuSnapshot[] = []
  // the clients' processes: their Node processes, and the cuda-shm client's Python ones
  let helpers: number[] = []
  const pids = () => ({ ...target.cpuPids(), clients: clients ? clients.pids() : helpers })
  const onEvent = (e: ClientEvent) => {
    if (e === 'ready') startS = (performance.now() - started) / 1000
    else if (e === 'window-start' || e === 'window-edge' || e === 'window-end') {
      if (target.ownEventLoop) elus.push(performance.eventLoopUtilization())
      cpus.push(cpuSnapshot(pids()))
      if (e !== 'window-edge') spec.onWindow?.(e === 'window-start' ? 'start' : 'end')
    }
  }
  const { calls, edges, shares } = clients
    ? await clients.run(clientSpec, onEvent)
    : {
        ...(await driveClients(clientSpec, onEvent, (p) => {
          helpers = p
        })),
        shares: null,
      }
  // what every window's run notes alike, taken after the last (the GPU backend's tensor paths are known then)
  const notes = [
    ...target.notes(),
    `clients: ${TRANSPORT_LABEL[transport]}`,
    shares
      ? describeShares(
          shares,
          clientSpec.models.map((m) => m.name),
        )
      : "the clients in the server's process",
  ]
  const firstErrors = new Map<string, string>()
  calls.flat().forEach((c) => {
    if (!c.ok && c.error && !firstErrors.has(String(c.status))) firstErrors.set(String(c.status), c.error)
  })
  for (const [s, e] of firstErrors) notes.push(`first error with status ${s}: ${e}`)
  const simulated = target.simulated(calls)
  const { policy, backend, gpu, planSolver, config, external } = target.run
  const server = spec.serverStart ?? { index: 1, of: 1 }
  const repeated = windows > 1 || server.of > 1
  const windowRun = (k: number): ServeRun => {
    const first = edges[k] as Scrape
    const last = edges[k + 1] as Scrape
    const from = first.atMs
    const to = last.atMs
    const windowS = (to - from) / 1000
    const inWindow = (c: Call) => c.endMs > from && c.endMs <= to
    const arrivals = workers.map((w, i) => workerArrivals(w, plans?.[i], calls[i] ?? [], from, to))
    const results: ServeWorkerResult[] = workers.map((w, i) => {
      const all = calls[i] ?? []
      const win = all.filter(inWindow)
      const ok = win.filter((c) => c.ok)
      const statuses: Record<string, number> = {}
      for (const c of all) if (!c.ok) statuses[c.status] = (statuses[c.status] ?? 0) + 1
      const means = (xs: (number | null)[]) => mean(xs.filter((x): x is number => x !== null))
      return {
        name: w.name,
        served: target.models[i]?.name ?? servedName(w.name),
        model: w.model,
        batch: w.batch,
        dtype: w.dtype,
        requests: ok.length,
        items: ok.length * w.batch,
        throughputRps: ok.length / windowS,
        itemsPerS: (ok.length * w.batch) / windowS,
        latencyUs: ok.length > 0 ? latencySummary(ok.map((c) => (c.endMs - c.startMs) * 1000)) : null,
        errors: win.length - ok.length,
        errorsTotal: all.length - all.filter((c) => c.ok).length,
        errorStatuses: statuses,
        serverQueueUs: means(ok.map((c) => c.queueUs)),
        serverComputeUs: means(ok.map((c) => c.computeUs)),
        normVsBaseline: null,
        p95VsBaseline: null,
        // the solo reference and right-sized area of the system metrics (no solo runs here: the profile's)
        ...target.refs(w),
        // source, priority, SLO; an open loop's latency from the scheduled times and its sending
        ...(plans || w.priority !== undefined ? arrivals[i]?.fields : {}),
      }
    })
    const realtime = servedRealtime(workers, arrivals, results, windowS)
    const e0 = first.metrics.get('nv_energy_consumption')
    const e1 = last.metrics.get('nv_energy_consumption')
    const energyJ = e0 && e1 ? e1.value - e0.value : null
    const labelled = /source="(nvml|simulated)"/.exec(e1?.labels ?? '')?.[1] as
      | 'nvml'
      | 'simulated'
      | undefined
    // another server's counter without eclip's source label (Triton's) is its own reading, source unstated
    const source = labelled ?? (target.run.backend === 'external' ? 'server' : undefined)
    const requests = results.reduce((a, w) => a + w.requests, 0)
    const elu0 = elus[k]
    const elu1 = elus[k + 1]
    const elu = elu0 && elu1 ? performance.eventLoopUtilization(elu1, elu0).utilization : null
    const cpu0 = cpus[k]
    const cpu1 = cpus[k + 1]
    const cpu = cpu0 && cpu1 ? hostCpu(cpu0, cpu1, requests) : null
    const clientBound =
      cpu &&
      clientBoundNote(
        cpu,
        // the Python clients' processes count with the clients (node-sent: they only hold the regions)
        transport === 'cuda-shm' && spec.cudaShmSender !== 'node' ? null : (shares?.length ?? null),
      )
    const runtime = serverRuntime(first.metrics, last.metrics)
    const repeat = repeated ? { server: server.index, window: k + 1 } : undefined
    return {
      id: serveRunId(spec.mix.name, serveRunName(target.run), spec.batch, backend, repeat),
      mix: spec.mix.name,
      policy,
      backend,
      simulated,
      batch: spec.batch,
      gpu,
      ...(config ? { config } : {}),
      concurrency: spec.concurrency,
      ...(loop.kind !== 'closed' ? { loop } : {}),
      ...(plans?.some((p) => p.kind === 'open') ? { maxOutstanding } : {}),
      warmupS: from / 1000,
      windowS,
      startS,
      planSolver,
      workers: results,
      transport,
      ...(external ? { external } : {}),
      metrics: {
        requests,
        errors: results.reduce((a, w) => a + w.errors, 0),
        errorsTotal: results.reduce((a, w) => a + w.errorsTotal, 0),
        energyJ,
        energySource: energyJ === null ? null : (source ?? null),
        meanPowerW: energyJ === null ? null : energyJ / windowS,
        requestsPerJ: energyJ ? requests / energyJ : null,
        throughputVsBaseline: null,
        p95VsBaseline: null,
        energyEffVsBaseline: null,
        requestsPerJVsBaseline: null,
        eventLoopUtilisation: elu,
        ...(cpu ? { hostCpuMsPerRequest: cpu.msPerRequest } : {}),
        ...(runtime ? { serverRuntime: runtime } : {}),
        ...(realtime ? { realtime } : {}),
      },
      ...(repeat ? { repeat } : {}),
      notes: [
        ...notes,
        ...(cpu ? [hostCpuNote(cpu)] : []),
        ...(clientBound ? [clientBound] : []),
        ...(runtime ? [serverRuntimeNote(runtime, windowS)] : []),
        ...(repeat ? [repeatNote(repeat, windows, server.of)] : []),
      ],
    }
  }
  const runs = Array.from({ length: edges.length - 1 }, (_, k) => windowRun(k))
  return { runs, calls, ...(target.device ? { device: target.device } : {}) }
}

/**
 * Ratios to the same worker under baseline (same mix, batch and backend; with repeats, baseline's window of the same
 * server start and index), and their means per run; each worker's requests/J ratio as `eclip bench` takes it (its
 * throughput ratio × baseline power / this power). Mutates `runs`.
 */
export function normaliseServeRuns(runs: ServeRun[]): ServeRun[] {
  const key = (r: ServeRun) =>
    `${r.mix}|${r.batch}|${r.backend}${r.repeat ? `|${r.repeat.server}|${r.repeat.window}` : ''}`
  const baseline = new Map<string, ServeRun>()
  for (const r of runs) if (r.policy === 'baseline') baseline.set(key(r), r)
  for (const r of runs) {
    const base = baseline.get(key(r))
    Object.assign(r.metrics, baselineRatios(r, base)) // and each worker's ratios
    r.metrics.system = profileSystemMetrics(r.workers, base?.workers ?? null, r.gpu.smCount)
    const rt = r.metrics.realtime
    const baseRps = base?.metrics.realtime?.overallRps
    if (rt) rt.overallVsBaseline = baseRps ? rt.overallRps / baseRps : null
  }
  return runs
}

type RatioMetric = 'throughputVsBaseline' | 'p95VsBaseline' | 'energyEffVsBaseline'

const RATIO_TABLES: { metric: RatioMetric; title: string }[] = [
  {
    metric: 'throughputVsBaseline',
    title: 'Normalised sustained throughput (mean over workers of req/s ÷ baseline)',
  },
  { metric: 'p95VsBaseline', title: 'Normalised p95 latency (mean over workers of p95 ÷ baseline)' },
  {
    metric: 'energyEffVsBaseline',
    title:
      "Normalised energy efficiency (each worker's requests/J ÷ baseline's, mean over workers: the paper's; read it beside total requests/J)",
  },
]

/**
 * The report: ratio tables (mix × policy, a means row), per-worker throughput and p95, errors; then every run in
 * detail. `label` says what the numbers are ("SIMULATED …" or "measured on …") and heads every table.
 */
export function serveReport(
  runs: ServeRun[],
  label: string,
  /** The rows and columns (a run that failed shows as –); default: those of `runs`. */
  axes: { mixes: string[]; policies: string[] } = {
    mixes: [...new Set(runs.map((r) => r.mix))],
    policies: [...new Set(runs.map(serveRunName))],
  },
): { tables: string; detail: string } {
  const { mixes, policies } = axes
  const f = (v: number | null | undefined, digits = 2) =>
    v === null || v === undefined ? '–' : v.toFixed(digits)
  // each cell summarises an arm's runs: one window's value as is; several windows' mean [min–max] (repeats.ts)
  const rep = repeated(runs)
  const grid = (
    title: string,
    cell: (rs: ServeRun[]) => string,
    summary?: [string, (rs: ServeRun[]) => string],
  ) =>
    gridTable(
      `${title} — ${label}`,
      ['mix', ...policies],
      [
        ...mixes.map((m) => [
          m,
          ...policies.map((p) => {
            const rs = armRuns(runs, m, p)
            return rs.length > 0 ? cell(rs) : '–'
          }),
        ]),
        ...(summary
          ? [[summary[0], ...policies.map((p) => summary[1](runs.filter((r) => serveRunName(r) === p)))]]
          : []),
      ],
    )
  const value =
    (v: (r: ServeRun) => number | null | undefined, digits = 2) =>
    (rs: ServeRun[]) =>
      summaryCell(rs.map(v), digits)
  const meanRow = (
    v: (r: ServeRun) => number | null | undefined,
    digits = 2,
  ): [string, (rs: ServeRun[]) => string] => ['mean', (rs) => f(meanOverArms(rs, v), digits)]
  // a worker's value in each cell: its mean over the arm's windows
  const perWorker = (v: (w: ServeWorkerResult) => number | null, digits: number) => (rs: ServeRun[]) =>
    (rs[0]?.workers ?? [])
      .map((_, i) =>
        f(
          mean(
            rs.flatMap((r) => {
              const w = r.workers[i]
              const x = w ? v(w) : null
              return x === null ? [] : [x]
            }),
          ),
          digits,
        ),
      )
      .join(' / ')
  // with repeats, what a ratio cell is: each window against baseline's window of the same server start and index
  const ratios = rep
    ? "; each window's ratio to baseline's window of the same server start and index, the mean of those per-window ratios [min–max]"
    : ''
  const windows = rep ? '; mean over windows [min–max]' : ''
  // the system metrics first (src/measure/system.ts; solo rates from the profiles), the per-worker mean after them;
  // a table none of whose runs has a value (ratios to a baseline an external server's runs do not have) is left out
  type SysKey = 'stp' | 'stpVsBaseline' | 'totalRpsVsBaseline' | 'jain' | 'stpVsBound' | 'stpVsBoundFloored'
  const has = (v: (r: ServeRun) => number | null | undefined) => runs.some((r) => typeof v(r) === 'number')
  const systemRows: [string, SysKey, number, string][] = [
    ['System throughput STP (Σ rate/solo, solo rates from the profiles)', 'stp', 2, windows],
    [
      'System throughput STP (Σ rate/solo, solo rates from the profiles) ÷ baseline STP',
      'stpVsBaseline',
      2,
      ratios,
    ],
    ['Total requests/s ÷ baseline (a sum over different models)', 'totalRpsVsBaseline', 2, ratios],
    ["Jain's fairness over rate/solo", 'jain', 3, windows],
    [
      'STP ÷ its bound (right-sized SM-time within the SMs, no worker above solo; above 1: the bound ignores overlap and memory contention)',
      'stpVsBound',
      2,
      windows,
    ],
    [
      `STP ÷ its floored bound (the same with every worker at ≥ ${DEFAULT_MIN_SHARE} of its rate under the mix's baseline)`,
      'stpVsBoundFloored',
      2,
      windows,
    ],
  ]
  const system = systemRows
    .filter(([, k]) => has((r) => r.metrics.system?.[k]))
    .map(([title, k, digits, how]) => {
      const v = (r: ServeRun) => r.metrics.system?.[k]
      return grid(`${title}, arithmetic mean over mixes${how}`, value(v, digits), meanRow(v, digits))
    })
  const worstOf = (r: ServeRun) => r.metrics.system?.worstVsBaseline
  const worst = has(worstOf)
    ? [
        grid(`Worst worker: its sustained throughput ÷ its baseline's (name)${ratios}`, (rs) => {
          if (!rs.some((r) => typeof worstOf(r) === 'number')) return '–'
          // the worker that was worst, in each window where it was (several: each named once)
          const names = new Set(
            rs.flatMap((r) =>
              r.policy !== 'baseline' && typeof worstOf(r) === 'number'
                ? [r.metrics.system?.worstWorker]
                : [],
            ),
          )
          return `${summaryCell(rs.map(worstOf))}${names.size > 0 ? ` ${[...names].join(', ')}` : ''}`
        }),
      ]
    : []
  // the system's requests/J (total requests ÷ energy), before the paper's per-worker mean of it
  const rpjOf = (r: ServeRun) => r.metrics.requestsPerJVsBaseline
  const rpj = has(rpjOf)
    ? [
        grid(
          `Requests/J (total requests ÷ the window's energy) ÷ baseline's, arithmetic mean over mixes${ratios}`,
          value(rpjOf),
          meanRow(rpjOf),
        ),
      ]
    : []
  const tables = [
    ...system.slice(0, 2),
    ...worst,
    ...system.slice(2),
    ...rpj,
    ...RATIO_TABLES.filter((t) => has((r) => r.metrics[t.metric])).map((t) => {
      const v = (r: ServeRun) => r.metrics[t.metric]
      return grid(`${t.title}, arithmetic mean over mixes${ratios}`, value(v), meanRow(v))
    }),
    grid(
      `Sustained throughput per worker, requests/s (workers in mix order${rep ? '; mean over windows' : ''})`,
      perWorker((w) => w.throughputRps, 1),
    ),
    grid(
      `p95 latency per worker, ms (client-side; workers in mix order${rep ? '; mean over windows' : ''})`,
      perWorker((w) => (w.latencyUs ? w.latencyUs.p95 / 1000 : null), 2),
    ),
    ...(has((r) => timeSplit(r)?.rest)
      ? [
          grid(
            `Where a request's time goes, µs (mean over workers${rep ? ' and windows' : ''}): at the client = queued (in the server, and in the backend behind its model's executions) + on the GPU (its execution's device time) + the rest (HTTP both ways, the server's and the clients' event loops, the hops to and from the backend, the GPU work of the model's execution ahead of it on the stream)`,
            (rs) => {
              const xs = rs.flatMap((r) => {
                const t = timeSplit(r)
                return t ? [t] : []
              })
              if (xs.length === 0) return '–'
              const m = (k: keyof TimeSplit) => f(mean(xs.map((x) => x[k])), 0)
              return `${m('latency')} = ${m('queue')} + ${m('compute')} + ${m('rest')}`
            },
          ),
        ]
      : []),
    grid(
      `Errors in the ${rep ? 'windows (all workers, summed over the windows' : 'window (all workers'}; non-200 or malformed answers)`,
      (rs) => String(rs.reduce((a, r) => a + r.metrics.errors, 0)),
      ['total', (rs) => String(rs.reduce((a, r) => a + r.metrics.errors, 0))],
    ),
    ...(rep ? [hostCpuTables(runs, label, axes)] : []),
  ].join('\n\n')

  const out: string[] = [
    `Runs in detail (latencies in µs, client-side; server queue/compute from the responses) — ${label}`,
  ]
  for (const r of runs) {
    const m = r.metrics
    out.push(
      '',
      `${r.mix} ${serveRunName(r)} [${r.backend}${r.simulated ? ', SIMULATED' : ''}, ${r.transport ?? 'http'}${r.repeat ? `, ${windowWords(r)}` : ''}]: ${m.requests} requests in ${f(r.windowS, 2)} s, ` +
        `${m.errors} errors (${m.errorsTotal} in the whole run), ${f(m.energyJ)} J (${m.energySource ?? 'no energy reading'}), ` +
        `${f(m.meanPowerW, 0)} W, ${f(m.requestsPerJ)} req/J${typeof m.requestsPerJVsBaseline === 'number' ? ` (${f(m.requestsPerJVsBaseline)} of baseline's)` : ''}, event loop ${m.eventLoopUtilisation === null ? 'not measured (not this process)' : `${f(m.eventLoopUtilisation * 100, 0)}% busy`}, ` +
        `concurrency ${r.concurrency}, start ${f(r.startS, 1)} s, plan ${r.planSolver}`,
    )
    const rows = [
      [
        'worker',
        'served',
        'requests',
        'req/s',
        'items/s',
        'p50',
        'p95',
        'p99',
        'mean',
        'queue',
        'compute',
        'errors',
        'thr/base',
        'p95/base',
      ],
      ...r.workers.map((w) => [
        w.name,
        w.served,
        String(w.requests),
        f(w.throughputRps, 1),
        f(w.itemsPerS, 1),
        f(w.latencyUs?.p50, 0),
        f(w.latencyUs?.p95, 0),
        f(w.latencyUs?.p99, 0),
        f(w.latencyUs?.mean, 0),
        f(w.serverQueueUs, 0),
        f(w.serverComputeUs, 0),
        `${w.errors}${
          Object.keys(w.errorStatuses).length
            ? ` (${Object.entries(w.errorStatuses)
                .map(([s, n]) => `${s}: ${n}`)
                .join(', ')})`
            : ''
        }`,
        f(w.normVsBaseline),
        f(w.p95VsBaseline),
      ]),
    ]
    out.push(
      gridTable('', rows[0] as string[], rows.slice(1))
        .split('\n')
        .slice(1)
        .map((l) => `  ${l}`)
        .join('\n'),
    )
    for (const n of r.notes) out.push(`  note: ${n}`)
  }
  return { tables, detail: out.join('\n') }
}

interface TimeSplit {
  latency: number
  queue: number
  compute: number
  rest: number
}

/**
 * A run's mean request time at the client split into the server's queue time, the execution's device time and the
 * rest, each the mean over its workers; null where a worker lacks the server's times (an external server that does
 * not report them).
 */
function timeSplit(r: ServeRun): TimeSplit | null {
  const ws = r.workers.filter((w) => w.requests > 0)
  if (ws.length === 0 || ws.some((w) => !w.latencyUs || w.serverQueueUs == null || w.serverComputeUs == null))
    return null
  const m = (v: (w: ServeWorkerResult) => number | null | undefined) =>
    mean(ws.map((w) => v(w) ?? 0)) as number
  const latency = m((w) => w.latencyUs?.mean)
  const queue = m((w) => w.serverQueueUs)
  const compute = m((w) => w.serverComputeUs)
  return { latency, queue, compute, rest: latency - queue - compute }
}

/**
 * A served worker's profile references (serve-bench: the server resolved its profiles itself): from the profile
 * directory, else the synthetic profile the simulator serves; none when neither is at hand (no system metrics then).
 * `gemmTarget`: the profile read as the server read it (its config's gemmTarget).
 */
export function servedProfileRefs(
  dir: string | undefined,
  gpu: Gpu | undefined,
  w: { model: string; batch: number; dtype: Dtype },
  tolerance: number = DEFAULT_TOLERANCE,
  gemmTarget = false,
): { fullGpuUs: number; packedAreaSmUs: number } | Record<string, never> {
  try {
    const read = (d: string) => loadProfile(d, loadGpu(d), w.model, w.batch, w.dtype)
    const p = dir
      ? gemmTarget
        ? withGemmTarget(read(dir))
        : read(dir)
      : gpu
        ? syntheticProfile({ model: w.model, batch: w.batch, dtype: w.dtype, gpu })
        : null
    return p ? profileRefs(p, tolerance) : {}
  } catch {
    return {}
  }
}
