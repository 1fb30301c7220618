// One process's part of a serve-bench run's clients: KServe v2 clients per model (full batches; closed loop, or open
// loop at the times of the model's arrival schedule) over the transport asked for (clients/: HTTP binary tensors,
// gRPC, system or CUDA shared memory), each model with the slots of this process's share; the warm-up, and the
// windows' edges as /metrics readings (read by one process of the run; several windows back to back: --repeats). Its
// phases — open, start on the run's time base, the window's edges, stop — are driven in a client process
// (client-process.ts, several as one: client-pool.ts), or all at once in the server's own process (driveClients).

import { toMonotonicMs } from '../clock.ts'
import type { ModelIO } from '../serve/io-specs.ts'
import { KserveClient } from '../serve/kserve/client.ts'
import type { Datatype } from '../serve/kserve/datatypes.ts'
import {
  type Call,
  type CudaShmSender,
  type LoadGen,
  openClients,
  type SendPlan,
  type TimeBase,
  type Transport,
} from './clients/index.ts'

export interface ClientSpec {
  url: string
  /** The served models, in mix order. */
  models: { name: string; io: ModelIO; batch: number }[]
  /** Closed-loop clients per model. */
  concurrency: number
  /** When each model's requests go out (clients/load.ts), in mix order; absent: every model closed loop. */
  plans?: SendPlan[]
  /** Requests an open-loop model may have outstanding. */
  maxOutstanding?: number
  /** This process's slots per model (client-shares.ts); absent: all of them. */
  share?: number[]
  warmupS: number
  windowS: number
  /** Windows back to back after the one warm-up, each windowS long (serve-bench --repeats); absent: one. */
  windows?: number
  seed: number
  inputDatatype?: Datatype
  /** Wait for the first energy reading in the server's /metrics before starting (the GPU backend's first NVML poll). */
  waitForEnergy: boolean
  /**
   * Where the Prometheus text is read at the window's edges (energy): absent, the server's own `/metrics`; null, none
   * is read (the edges are times only).
   */
  metricsUrl?: string | null
  /** How requests reach the server (default http). */
  transport?: Transport
  /** host:port of the server's gRPC listener (the grpc transport). */
  grpcAddress?: string
  /** Who sends the cuda-shm transport's requests (clients/cuda-shm.ts; default python). */
  cudaShmSender?: CudaShmSender
}

/** A /metrics reading: its time (the midpoint of the request, ms on the calls' time base) and samples by name. */
export interface Scrape {
  atMs: number
  metrics: Map<string, { value: number; labels: string }>
}

export interface ClientOutcome {
  calls: Call[][]
  /** The windows' edges in time order: windows + 1 readings, window k between edges k and k + 1. */
  edges: Scrape[]
}

/**
 * What the clients report as they go: readiness seen, clients open (connections made, regions registered), and the
 * windows' edges (the server measures between them): the first window's start, each edge between two windows
 * back to back (one's end, the next one's start), the last window's end.
 */
export type ClientEvent = 'ready' | 'clients-open' | 'window-start' | 'window-edge' | 'window-end'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)))
/** Sleeps until `at()` reaches `ms`: a timer may fire a fraction of a millisecond early against the monotonic clock. */
async function sleepUntil(ms: number, at: () => number): Promise<void> {
  while (at() < ms) await sleep(Math.max(1, ms - at()))
}

/** Sums of Prometheus samples per metric name, with the labels of the first sample. */
export function parseMetrics(text: string): Map<string, { value: number; labels: string }> {
  const out = new Map<string, { value: number; labels: string }>()
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line)
    if (!m) continue
    const value = Number(m[3])
    const prev = out.get(m[1] as string)
    out.set(m[1] as string, { value: (prev?.value ?? 0) + value, labels: prev?.labels ?? m[2] ?? '' })
  }
  return out
}

/** GETs a metrics URL (a full one: another server's may be on a port of its own, as Triton's :8002/metrics). */
export async function getMetrics(client: KserveClient, url: string): Promise<string> {
  const u = new URL(url)
  const r = await client.get(`${u.pathname}${u.search}`)
  if (r.status !== 200) throw new Error(`${url} answered ${r.status || r.error}`)
  return r.body.toString('utf8')
}

/** The URL the window's edges read, or null for none. */
const metricsOf = (spec: Pick<ClientSpec, 'url' | 'metricsUrl'>): string | null =>
  spec.metricsUrl === undefined ? `${spec.url.replace(/\/$/, '')}/metrics` : spec.metricsUrl

/**
 * The run's time base: ms since `t0Ns` on CLOCK_MONOTONIC (process.hrtime's clock, and performance.now()'s, the same
 * in every process of the host: the cuda-shm client's Python reads it too), so that the calls and the window's edges
 * of several client processes compare.
 */
export function timeBase(t0Ns: bigint): TimeBase {
  const t0Ms = Number(t0Ns) / 1e6
  return Object.assign(() => toMonotonicMs(performance.now()) - t0Ms, { t0Ns })
}

/**
 * Waits for readiness (and, where this process reads the window's edges on the GPU, the first energy reading), then
 * opens this process's clients. `onHelper` learns the pids of processes doing the clients' work besides this one
 * (the cuda-shm client).
 */
export async function openShare(
  spec: ClientSpec,
  scrapes: boolean,
  onEvent: (e: ClientEvent) => void,
  onHelper: (pids: number[]) => void,
): Promise<LoadGen> {
  const { url } = spec
  const client = new KserveClient(url)
  try {
    const deadline = performance.now() + 60_000
    while ((await client.get('/v2/health/ready')).status !== 200) {
      if (performance.now() > deadline) throw new Error(`${url}: not ready after 60 s`)
      await sleep(50)
    }
    // the window's energy is the difference of two /metrics readings, and the GPU backend's first NVML reading
    // comes with its first power poll, which can land after readiness (it did on a loaded CI core)
    const hasEnergy = async () =>
      parseMetrics((await client.get('/metrics')).body.toString('utf8')).has('nv_energy_consumption')
    while (scrapes && spec.waitForEnergy && !(await hasEnergy())) {
      if (performance.now() > deadline) throw new Error(`${url}: no GPU energy reading after 60 s`)
      await sleep(50)
    }
  } finally {
    client.close()
  }
  onEvent('ready')
  const load = await openClients({
    transport: spec.transport ?? 'http',
    url,
    ...(spec.grpcAddress ? { grpcAddress: spec.grpcAddress } : {}),
    models: spec.models,
    concurrency: spec.concurrency,
    ...(spec.plans ? { plans: spec.plans } : {}),
    ...(spec.maxOutstanding ? { maxOutstanding: spec.maxOutstanding } : {}),
    ...(spec.share ? { share: spec.share } : {}),
    seed: spec.seed,
    ...(spec.inputDatatype ? { inputDatatype: spec.inputDatatype } : {}),
    ...(spec.cudaShmSender ? { cudaShmSender: spec.cudaShmSender } : {}),
  })
  if (load.pids.length > 0) onHelper(load.pids)
  onEvent('clients-open')
  return load
}

/**
 * The warm-up from the time base's 0, then the windows' edges, back to back: /metrics read at each (their midpoints
 * are the edges), so energy and requests cover the same span; with no metrics URL, the edges are their times. Each
 * window is timed from its own start edge, so a slow reading does not shorten the next.
 */
export async function windowEdges(
  spec: Pick<ClientSpec, 'url' | 'metricsUrl' | 'warmupS' | 'windowS' | 'windows'>,
  at: () => number,
  onEvent: (e: ClientEvent) => void,
): Promise<Scrape[]> {
  const metrics = metricsOf(spec)
  const client = metrics === null ? null : new KserveClient(new URL(metrics).origin)
  const windows = spec.windows ?? 1
  try {
    const scrape = async (): Promise<Scrape> => {
      const before = at()
      const text = client && metrics !== null ? await getMetrics(client, metrics) : ''
      return { atMs: (before + at()) / 2, metrics: parseMetrics(text) }
    }
    await sleepUntil(spec.warmupS * 1000, at)
    const edges = [await scrape()]
    onEvent('window-start')
    for (let k = 1; k <= windows; k++) {
      await sleepUntil((edges[k - 1] as Scrape).atMs + spec.windowS * 1000, at)
      edges.push(await scrape())
      onEvent(k === windows ? 'window-end' : 'window-edge')
    }
    return edges
  } finally {
    client?.close()
  }
}

/** Every phase in this process, for every model (the clients in the server's own process). */
export async function driveClients(
  spec: ClientSpec,
  onEvent: (e: ClientEvent) => void = () => {},
  onHelper: (pids: number[]) => void = () => {},
): Promise<ClientOutcome> {
  let load: LoadGen | null = null
  try {
    load = await openShare(spec, true, onEvent, onHelper)
    // times from here: the request log's and the window's time base (as eclip bench's: warm-up, then the window)
    const at = timeBase(process.hrtime.bigint())
    load.start(at)
    const edges = await windowEdges(spec, at, onEvent)
    return { calls: await load.stop(), edges }
  } finally {
    await load?.close()
  }
}
