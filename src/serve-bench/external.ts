// serve-bench --url: a KServe v2 server already running (Triton, or an eclip serve started elsewhere) measured by the
// same clients as eclip serve, back to back: nothing is started, planned or loaded here. Before any client starts the
// server must answer and be ready, and each mix worker's served name ("albert#1" → "albert-1"; or its model's,
// "albert", where the mix has one worker of that model) must be one of its models, ready, whose metadata
// (GET /v2/models/{name}) gives tensors the clients can generate and check at the run's batch. Its CPU is read only
// for the processes named (--server-pids), its energy only from a metrics URL given.
import { connect } from 'node:net'
import {
  ALL_POLICIES,
  expandWorkers,
  type Mix,
  type Policy,
  type ServeExternal,
  UserError,
} from '../formats/index.ts'
import { loadGpu } from '../profile/store.ts'
import type { ModelIO, TensorSpec } from '../serve/io-specs.ts'
import { KserveClient } from '../serve/kserve/client.ts'
import { DATATYPES, isDatatype } from '../serve/kserve/datatypes.ts'
import { getMetrics, parseMetrics } from './client-driver.ts'
import { type ClientModel, overGrpc, type Transport } from './clients/index.ts'
import { readableProcess } from './host-cpu.ts'
import {
  type ClientsSpec,
  clientSetup,
  measureTransports,
  type ServedTarget,
  servedName,
  servedProfileRefs,
  type TransportOutcome,
} from './serve-bench.ts'

export interface ExternalOptions {
  /** The server's KServe v2 HTTP base URL (http://host:port). */
  url: string
  /** host:port of its gRPC listener: needed for the grpc transport. */
  grpcUrl?: string
  /** Its Prometheus text (Triton's http://host:8002/metrics): energy at the window's edges; absent, none. */
  metricsUrl?: string
  /** The name its runs go by in place of a policy. */
  label: string
  /** The server's processes on this host, whose CPU is read as the server's; absent, not measured. */
  serverPids?: number[]
  /** The `eclip bench` policy its runs are set beside with --bench (default baseline). */
  benchPolicy?: Policy
}

/** The server as checked: what the results record of it, and each mix's models as the clients send to them. */
export interface ExternalServer {
  external: ServeExternal
  /** Each mix's workers' models, in mix order, by mix name. */
  models: Map<string, ClientModel[]>
  /** What the results must say (no energy at the metrics URL). */
  warnings: string[]
}

const TIMEOUT_MS = 10_000

/**
 * Why `label` cannot name the runs, or undefined: a run id's segment, and no policy's name (the ratios key on those).
 */
export function labelProblem(label: string): string | undefined {
  if (!/^[A-Za-z0-9_.:+-]+$/.test(label))
    return `--label "${label}": letters, digits and _ . : + - only (it is a segment of the runs' ids)`
  if ((ALL_POLICIES as readonly string[]).includes(label))
    return `--label ${label}: a policy's name; name the server measured (triton, …)`
  return undefined
}

/** An answer's error text, short: the server's `error` field where it gives one. */
function said(r: { status: number; body: Buffer; error: string }): string {
  if (r.status === 0) return r.error
  const text = r.body.toString('utf8').trim()
  let error: unknown
  try {
    error = (JSON.parse(text) as { error?: unknown }).error
  } catch {}
  const why = typeof error === 'string' ? error : text.slice(0, 200)
  return `${r.status}${why ? `: ${why}` : ''}`
}

/**
 * A model's tensors from its KServe v2 metadata at `batch` items per request, the first dimension written -1 as the
 * clients take it: one the server reports as -1 (Triton's models with max_batch_size > 0) or equal to the batch.
 * Problems are named (a datatype the clients cannot generate, a first dimension that contradicts the batch, a
 * variable dimension past the first).
 */
export function ioFromMetadata(
  model: string,
  meta: unknown,
  batch: number,
): { io: ModelIO } | { problems: string[] } {
  const problems: string[] = []
  const m = meta as { inputs?: unknown; outputs?: unknown }
  const tensors = (kind: 'input' | 'output', list: unknown): TensorSpec[] => {
    if (!Array.isArray(list) || (kind === 'input' && list.length === 0)) {
      problems.push(`model "${model}": its metadata lists no ${kind}s`)
      return []
    }
    return list.flatMap((t: { name?: unknown; datatype?: unknown; shape?: unknown }) => {
      const name = String(t.name)
      const what = `model "${model}" ${kind} "${name}"`
      const shape = Array.isArray(t.shape) ? (t.shape as unknown[]) : null
      if (typeof t.name !== 'string' || !shape || !shape.every((d) => Number.isInteger(d))) {
        problems.push(`${what}: its metadata gives no name, or no shape of whole numbers`)
        return []
      }
      if (!isDatatype(t.datatype)) {
        problems.push(
          `${what} is ${String(t.datatype)}: the clients generate ${DATATYPES.join(', ')} tensors only`,
        )
        return []
      }
      const dims = shape as number[]
      const [lead, ...rest] = dims
      if (lead === undefined) {
        problems.push(`${what} has no dimensions: the clients send a batch along the first`)
        return []
      }
      if (lead !== -1 && lead !== batch) {
        problems.push(
          `${what} has shape [${dims}]: its first (batch) dimension ${lead} contradicts the run's batch ${batch} (--batch, or the mix's)`,
        )
        return []
      }
      if (rest.some((d) => d < 0)) {
        problems.push(
          `${what} has shape [${dims}]: a variable dimension past the first, which the clients cannot size`,
        )
        return []
      }
      return [{ name, datatype: t.datatype, shape: [-1, ...rest] }]
    })
  }
  const inputs = tensors('input', m?.inputs)
  const outputs = tensors('output', m?.outputs)
  return problems.length > 0 ? { problems } : { io: { inputs, outputs } }
}

/** A TCP connection to host:port opens, or why not. */
function reachable(address: string): Promise<string | null> {
  const i = address.lastIndexOf(':')
  const host = address.slice(0, i).replace(/^\[(.*)\]$/, '$1')
  const port = Number(address.slice(i + 1))
  return new Promise((resolve) => {
    const s = connect({ host, port, timeout: TIMEOUT_MS })
    s.once('connect', () => {
      s.destroy()
      resolve(null)
    })
    s.once('timeout', () => {
      s.destroy()
      resolve(`no answer within ${TIMEOUT_MS} ms`)
    })
    s.once('error', (e) => resolve(e.message))
  })
}

/** A URL the clients can reach (node:http: http only), or a clear error naming the flag. */
function httpUrl(flag: string, url: string): URL {
  let u: URL
  try {
    u = new URL(url)
  } catch {
    throw new UserError(`${flag} ${url}: not a URL (give http://host:port)`)
  }
  if (u.protocol !== 'http:') throw new UserError(`${flag} ${url}: the clients speak http:// only`)
  return u
}

/**
 * Checks everything before any client starts: the options, the server's readiness and metadata, each mix's models
 * (present, ready, their tensors at the batch, their max_batch_size), the gRPC listener where the grpc transport
 * runs, the metrics URL, the server's pids. Every problem is a UserError naming what was wrong.
 */
export async function connectExternal(
  o: ExternalOptions,
  mixes: Mix[],
  batch: number | undefined,
  transports: Transport[],
): Promise<ExternalServer> {
  const bad = labelProblem(o.label)
  if (bad) throw new UserError(bad)
  const base = httpUrl('--url', o.url)
  const url = base.origin
  const grpcTransport = transports.find(overGrpc)
  if (grpcTransport && !o.grpcUrl)
    throw new UserError(
      `--transport ${grpcTransport} with --url: give the server's gRPC listener, --grpc-url host:port (Triton's: 8001)`,
    )
  if (o.grpcUrl !== undefined && !/^(\[[0-9A-Fa-f:.]+\]|[^:/\s]+):\d+$/.test(o.grpcUrl))
    throw new UserError(`--grpc-url ${o.grpcUrl}: give host:port (Triton's default port is 8001)`)
  for (const pid of o.serverPids ?? [])
    if (!readableProcess(pid))
      throw new UserError(`--server-pids: process ${pid} is not one this host's /proc shows`)
  const client = new KserveClient(url, TIMEOUT_MS)
  const warnings: string[] = []
  try {
    const ready = await client.get('/v2/health/ready')
    if (ready.status === 0) throw new UserError(`--url ${url}: no server answers there (${ready.error})`)
    if (ready.status !== 200)
      throw new UserError(
        `--url ${url}: the server is not ready (GET /v2/health/ready answered ${said(ready)})`,
      )
    const meta = await client.get('/v2')
    let server: { name?: unknown; version?: unknown; extensions?: unknown } = {}
    try {
      server = JSON.parse(meta.body.toString('utf8'))
    } catch {}
    if (meta.status !== 200 || typeof server !== 'object' || server === null)
      throw new UserError(`--url ${url}: GET /v2 (server metadata) answered ${said(meta)}`)
    const models = new Map<string, ClientModel[]>()
    const problems: string[] = []
    const missing: string[] = []
    const seen = new Map<string, { meta: unknown; maxBatch: number | null } | null>()
    /** What the server answered for a name it has no model by. */
    const absent = new Map<string, string>()
    /** GET /v2/models/{name}: its metadata (and readiness, max batch) once per name; null where it has none. */
    const lookUp = async (name: string) => {
      if (seen.has(name)) return seen.get(name) ?? null
      const path = `/v2/models/${encodeURIComponent(name)}`
      const m = await client.get(path)
      if (m.status !== 200) {
        seen.set(name, null)
        absent.set(name, `GET ${path} answered ${said(m)}`)
        return null
      }
      const r = await client.get(`${path}/ready`)
      if (r.status !== 200)
        problems.push(`model "${name}" is not ready (GET ${path}/ready answered ${said(r)})`)
      // Triton's model configuration: max_batch_size > 0 bounds the items of one request
      const c = await client.get(`${path}/config`)
      let maxBatch: number | null = null
      try {
        const v = (JSON.parse(c.body.toString('utf8')) as { max_batch_size?: unknown }).max_batch_size
        if (c.status === 200 && typeof v === 'number' && v > 0) maxBatch = v
      } catch {}
      const got = { meta: JSON.parse(m.body.toString('utf8')) as unknown, maxBatch }
      seen.set(name, got)
      return got
    }
    for (const mix of mixes) {
      const workers = expandWorkers(mix, batch)
      const mine: ClientModel[] = []
      for (const w of workers) {
        // the worker's served name; where the mix has one worker of its model, the model's own name too (a config
        // that names its models plainly: examples/serve-gpu.yaml)
        const candidates = [servedName(w.name)]
        if (workers.filter((x) => x.model === w.model).length === 1) candidates.push(w.model)
        let name: string | undefined
        let got: { meta: unknown; maxBatch: number | null } | null = null
        for (const c of candidates) {
          got = await lookUp(c)
          if (got) {
            name = c
            break
          }
        }
        if (name === undefined || !got) {
          missing.push(
            `${candidates.map((c) => `"${c}"`).join(' or ')} (mix ${mix.name}; ${candidates.map((c) => absent.get(c)).join('; ')})`,
          )
          continue
        }
        if (got.maxBatch !== null && w.batch > got.maxBatch)
          problems.push(
            `model "${name}" takes at most max_batch_size ${got.maxBatch} items per request; mix ${mix.name} sends ${w.batch}`,
          )
        const io = ioFromMetadata(name, got.meta, w.batch)
        if ('problems' in io) problems.push(...io.problems)
        else mine.push({ name, io: io.io, batch: w.batch })
      }
      models.set(mix.name, mine)
    }
    if (missing.length > 0) {
      const index = await client.post('/v2/repository/index', Buffer.from('{}'))
      let has = `it gives no repository index (POST /v2/repository/index answered ${said(index)})`
      if (index.status === 200)
        try {
          const list = JSON.parse(index.body.toString('utf8')) as { name?: string; state?: string }[]
          has = `it has ${list.length > 0 ? list.map((e) => `${e.name}${e.state ? ` (${e.state})` : ''}`).join(', ') : 'none'}`
        } catch {}
      problems.unshift(
        `the server has no model ${missing.join(', ')}: serve-bench sends each mix worker to its name ("albert#1" → "albert-1"), or to its model's ("albert") where the mix has one worker of it; ${has}`,
      )
    }
    if (problems.length > 0) throw new UserError(`--url ${url}: ${problems.join('; ')}`)
    if (o.grpcUrl && grpcTransport) {
      const why = await reachable(o.grpcUrl)
      if (why) throw new UserError(`--grpc-url ${o.grpcUrl}: nothing answers there (${why})`)
    }
    if (o.metricsUrl) {
      const mu = httpUrl('--metrics-url', o.metricsUrl)
      const mc = new KserveClient(mu.origin, TIMEOUT_MS)
      try {
        let text: string
        try {
          text = await getMetrics(mc, o.metricsUrl)
        } catch (e) {
          throw new UserError(`--metrics-url ${(e as Error).message}`)
        }
        if (!parseMetrics(text).has('nv_energy_consumption'))
          warnings.push(
            `--metrics-url ${o.metricsUrl} has no nv_energy_consumption: no energy (Triton: GPU metrics off, or no GPU it sees)`,
          )
      } finally {
        mc.close()
      }
    }
    const words = (v: unknown) => (typeof v === 'string' ? v : 'unknown')
    return {
      external: {
        label: o.label,
        url,
        ...(o.grpcUrl && grpcTransport ? { grpcUrl: o.grpcUrl } : {}),
        ...(o.metricsUrl ? { metricsUrl: o.metricsUrl } : {}),
        server: {
          name: words(server.name),
          version: words(server.version),
          extensions: Array.isArray(server.extensions) ? server.extensions.map(String) : [],
        },
        ...(o.serverPids && o.serverPids.length > 0 ? { serverPids: o.serverPids } : {}),
      },
      models,
      warnings,
    }
  } finally {
    client.close()
  }
}

/**
 * The external server as one mix's clients measure it; `profiles`: the directory whose profiles give the workers'
 * solo references (the system metrics: STP), else none.
 */
export function externalTarget(server: ExternalServer, mix: Mix, profiles: string | undefined): ServedTarget {
  const { external } = server
  const gpu = profiles ? loadGpu(profiles) : undefined
  const pids = external.serverPids ?? null
  return {
    url: external.url,
    ...(external.grpcUrl ? { grpcAddress: external.grpcUrl } : {}),
    metricsUrl: external.metricsUrl ?? null,
    models: server.models.get(mix.name) ?? [],
    waitForEnergy: false,
    run: {
      policy: null,
      backend: 'external',
      gpu: gpu
        ? { name: gpu.name, smCount: gpu.smCount, sliceSize: gpu.sliceSize }
        : { name: 'unknown', smCount: 1, sliceSize: 1 },
      planSolver: 'none',
      external,
    },
    cpuPids: () => ({ server: pids }),
    ownEventLoop: false,
    // an eclip serve on the simulator says so in its answers
    simulated: (calls) => calls.some((cs) => cs.some((c) => c.ok && c.simulated)),
    refs: (w) => (profiles ? servedProfileRefs(profiles, gpu, w) : {}),
    notes: () => [
      `external server ${external.url} (${external.server.name} ${external.server.version}; extensions: ${external.server.extensions.join(', ') || 'none'}), not started by serve-bench: its batching, scheduling and placement are its own`,
      pids
        ? `server CPU: processes ${pids.join(', ')} (--server-pids)`
        : 'server CPU not measured (no --server-pids)',
      external.metricsUrl
        ? `energy: nv_energy_consumption at ${external.metricsUrl}`
        : 'no energy (no --metrics-url)',
      ...(profiles ? [`solo references (STP): the profiles in ${profiles}`] : []),
    ],
  }
}

/** One mix's runs against the external server, each transport in turn with clients of its own. */
export function externalRuns(
  spec: ClientsSpec,
  target: ServedTarget,
  transports: Transport[],
): Promise<TransportOutcome[]> {
  return measureTransports(spec, target, transports, clientSetup(spec), performance.now())
}
