// What bench/soak.ts and bench/overload.ts share: `eclip serve` on the simulator started as a user starts it (the
// real CLI in its own process, with bench/serve-probe.mjs loaded to sample its memory and event-loop delay), a
// catalogue of good and bad KServe v2 requests each with the status it must get, an open-loop load generator
// (seeded Poisson arrivals sent whatever the server answers: clients that ignore Retry-After), a closed-loop
// capacity finder, and the arithmetic (least-squares slopes, the process's CPU from /proc).
//
// Everything runs on loopback on one machine: the load generator's CPU is taken from the same cores as the
// server's, so every result says how busy both were.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs'
import http from 'node:http'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createHistogram, type RecordableHistogram } from 'node:perf_hooks'
import { pathToFileURL } from 'node:url'
import { gzipSync } from 'node:zlib'
import YAML from 'yaml'
import { mulberry32 } from '../src/random.ts'
import { type ModelIO, zooIO } from '../src/serve/io-specs.ts'
import { type Datatype, ELEMENT_BYTES, encodeElements } from '../src/serve/kserve/datatypes.ts'

export const ROOT = resolve(import.meta.dirname, '..')
const BINARY_HEADER = 'inference-header-content-length'

// ── workloads ────────────────────────────────────────────────────────────────────────────────────────────────────

/** One served model of a workload and the good requests sent to it. */
export interface ServedSpec {
  name: string
  model: string
  batch: number
  queueSize: number
  timeoutMs: number
  maxDynamicBatch?: number
  /** Items per good request. */
  items: number
  /** Relative weights of the good requests' encodings (absent or 0: not sent). */
  encodings: Partial<Record<Encoding, number>>
}

export type Encoding = 'json' | 'binary' | 'gzip' | 'shm'

export interface Workload {
  name: string
  description: string
  /** Profile directory (relative to the checkout) the simulator takes compute times from. */
  profiles: string
  policy: string
  maxBodyBytes: number
  models: ServedSpec[]
}

/**
 * text: two albert models (token ids: small bodies), one batching 4-item requests up to its batch of 8, one taking
 * single items; every encoding. The simulated GPU, not the host, bounds it: the case the server should shed well.
 * image: shufflenet at batch 8 taking single 224×224 FP16 images (294 KiB a request, binary or shared memory) —
 * the host path, not the simulated GPU, bounds it on a small machine.
 */
export const WORKLOADS: Record<string, Workload> = {
  text: {
    name: 'text',
    description: 'albert b8 (4-item requests, dynamic batching) + albert b1; JSON, binary, gzip, shm',
    profiles: 'profiles/h100',
    policy: 'eclip',
    maxBodyBytes: 1024 * 1024,
    models: [
      {
        name: 'albert',
        model: 'albert',
        batch: 8,
        queueSize: 256,
        timeoutMs: 10_000,
        items: 4,
        encodings: { json: 3, binary: 3, gzip: 1, shm: 1 },
      },
      {
        name: 'albert-b1',
        model: 'albert',
        batch: 1,
        queueSize: 256,
        timeoutMs: 10_000,
        items: 1,
        encodings: { json: 1, binary: 1 },
      },
    ],
  },
  image: {
    name: 'image',
    description: 'shufflenet b8 (1-image FP16 requests, dynamic batching); binary, shm',
    profiles: 'profiles/h100',
    policy: 'eclip',
    maxBodyBytes: 4 * 1024 * 1024,
    models: [
      {
        name: 'shufflenet',
        model: 'shufflenet',
        batch: 8,
        queueSize: 64,
        timeoutMs: 10_000,
        items: 1,
        encodings: { binary: 3, shm: 1 },
      },
    ],
  },
}

/** The serve config of a workload (eclip.serve/1). */
export function serveConfig(w: Workload): Record<string, unknown> {
  return {
    format: 'eclip.serve/1',
    host: '127.0.0.1',
    backend: 'sim',
    policy: w.policy,
    profiles: join(ROOT, w.profiles),
    maxBodyBytes: w.maxBodyBytes,
    models: w.models.map((m) => ({
      name: m.name,
      model: m.model,
      batch: m.batch,
      queueSize: m.queueSize,
      timeoutMs: m.timeoutMs,
      ...(m.maxDynamicBatch !== undefined ? { maxDynamicBatch: m.maxDynamicBatch } : {}),
    })),
  }
}

// ── requests ─────────────────────────────────────────────────────────────────────────────────────────────────────

/** One kind of request, sent again and again: its bytes are made once. */
export interface RequestKind {
  name: string
  /** A good request: it must be answered 200 (under overload, 429 is the other right answer). */
  good: boolean
  /** The status a bad request must get (good: 200). */
  expect: number
  /** The served model it is for (the one whose queue a full-queue 429 comes from). */
  model: string
  /**
   * A body over the server's limit: the server answers 413 and closes the connection without reading the rest, so
   * a client still sending it may see the reset instead of the answer (counted apart, as cut off, not as lost).
   */
  cutOffOk?: boolean
  path: string
  headers: Record<string, string>
  body: Buffer
}

/** The same seed sends the same requests at the same times (the project's one seeded generator). */
export const rng: (seed: number) => () => number = mulberry32

function ioOf(m: ServedSpec): ModelIO {
  const io = zooIO(m.model, 'fp16')
  if (!io) throw new Error(`no tensors known for model ${m.model}`)
  return io
}

function inputOf(m: ServedSpec) {
  const spec = ioOf(m).inputs[0]
  if (!spec) throw new Error(`model ${m.model} has no input`)
  return spec
}

/** An input's values for `items` items: ids in range for albert, floats in [-1, 1) for images. */
function values(m: ServedSpec, items: number, r: () => number): { shape: number[]; values: number[] } {
  const spec = inputOf(m)
  const shape = [items, ...spec.shape.slice(1)]
  const n = shape.reduce((a, b) => a * b, 1)
  const [lo, hi] = spec.range ?? [-1, 1]
  const vs = Array.from({ length: n }, () =>
    spec.range ? lo + Math.floor(r() * (hi - lo + 1)) : Math.round((r() * 2 - 1) * 1000) / 1000,
  )
  return { shape, values: vs }
}

function jsonBody(
  name: string,
  datatype: string,
  shape: number[],
  data: number[] | undefined,
  params?: object,
): Buffer {
  return Buffer.from(
    JSON.stringify({
      inputs: [
        { name, datatype, shape, ...(data ? { data } : {}), ...(params ? { parameters: params } : {}) },
      ],
    }),
  )
}

function binaryRequest(inputName: string, datatype: Datatype, shape: number[], data: Buffer) {
  const header = Buffer.from(
    JSON.stringify({
      inputs: [{ name: inputName, datatype, shape, parameters: { binary_data_size: data.length } }],
    }),
  )
  return {
    body: Buffer.concat([header, data]),
    headers: { 'content-type': 'application/octet-stream', [BINARY_HEADER]: String(header.length) },
  }
}

const JSON_HEADERS = { 'content-type': 'application/json' }

/** A system shared-memory region a workload's shm requests name: a /dev/shm file, registered with the server. */
export interface ShmFile {
  name: string
  key: string
  path: string
  byteSize: number
}

/** How a connection reset reads in an error of sendOne (the server closed it while the request was sent). */
export const RESET_ERRORS = ['EPIPE', 'ECONNRESET']

/** Where shared-memory requests can be made (a /dev/shm to write to). */
export const SHM_DIR = '/dev/shm'

/** The good requests of one served model, each encoding it sends, with the shm region its shm requests name. */
export function goodKinds(m: ServedSpec, seed: number, shm?: ShmFile): RequestKind[] {
  const r = rng(seed)
  const spec = inputOf(m)
  const { shape, values: vs } = values(m, m.items, r)
  const path = `/v2/models/${m.name}/infer`
  const out: RequestKind[] = []
  const kind = (encoding: Encoding, headers: Record<string, string>, body: Buffer): RequestKind => ({
    name: `${m.name}/${encoding}`,
    good: true,
    expect: 200,
    model: m.name,
    path,
    headers,
    body,
  })
  const json = jsonBody(spec.name, spec.datatype, shape, vs)
  for (const enc of ['json', 'binary', 'gzip', 'shm'] as const) {
    if (!m.encodings[enc]) continue
    if (enc === 'json') out.push(kind(enc, JSON_HEADERS, json))
    if (enc === 'gzip') out.push(kind(enc, { ...JSON_HEADERS, 'content-encoding': 'gzip' }, gzipSync(json)))
    if (enc === 'binary') {
      const b = binaryRequest(spec.name, spec.datatype, shape, encodeElements(spec.datatype, vs))
      out.push(kind(enc, b.headers, b.body))
    }
    if (enc === 'shm' && shm) {
      const params = { shared_memory_region: shm.name, shared_memory_byte_size: shm.byteSize }
      out.push(kind(enc, JSON_HEADERS, jsonBody(spec.name, spec.datatype, shape, undefined, params)))
    }
  }
  return out
}

/** The bytes of one good request's input, as its shm region holds them. */
export function shmBytes(m: ServedSpec, seed: number): Buffer {
  const spec = inputOf(m)
  const { values: vs } = values(m, m.items, rng(seed))
  return encodeElements(spec.datatype, vs)
}

/**
 * Bad requests for served model `m` (of a server whose body limit is `maxBodyBytes`), each with the status eclip
 * serve answers it with: malformed JSON, wrong shapes, datatypes and batch sizes, an unknown model, a body over the
 * limit, an unsupported content type, a binary header longer than the body, an unknown shm region, gzip that is not.
 */
export function badKinds(m: ServedSpec, maxBodyBytes: number, seed: number): RequestKind[] {
  const r = rng(seed)
  const spec = inputOf(m)
  const path = `/v2/models/${m.name}/infer`
  const kind = (
    name: string,
    expect: number,
    headers: Record<string, string>,
    body: Buffer,
    p = path,
  ): RequestKind => ({
    name: `bad/${name}`,
    good: false,
    expect,
    model: m.name,
    path: p,
    headers,
    body,
    ...(expect === 413 ? { cutOffOk: true } : {}),
  })
  const one = values(m, 1, r)
  const good = binaryRequest(spec.name, spec.datatype, one.shape, encodeElements(spec.datatype, one.values))
  // a shape the model does not take: the last dimension halved (bytes to match, so only the shape is wrong)
  const wrongShape = [...one.shape.slice(0, -1), Math.max(1, Math.floor((one.shape.at(-1) ?? 2) / 2))]
  const wrongCount = wrongShape.reduce((a, b) => a * b, 1)
  const shaped = binaryRequest(
    spec.name,
    spec.datatype,
    wrongShape,
    encodeElements(spec.datatype, one.values.slice(0, wrongCount)),
  )
  // a datatype it does not accept, bytes to match
  const otherType: Datatype = spec.datatype === 'INT64' ? 'INT32' : 'INT64'
  const typed = binaryRequest(
    spec.name,
    otherType,
    one.shape,
    Buffer.alloc(one.values.length * ELEMENT_BYTES[otherType]),
  )
  // one item more than the model's batch (413 rather than 400 when that many items are over the body limit)
  const over = values(m, m.batch + 1, r)
  const many = binaryRequest(spec.name, spec.datatype, over.shape, encodeElements(spec.datatype, over.values))
  const oversize = Buffer.alloc(maxBodyBytes + 1024, 0x20)
  return [
    kind('malformed-json', 400, JSON_HEADERS, Buffer.from('{"inputs": [{"name": "input_ids", "shape": [1,')),
    kind('wrong-shape', 400, shaped.headers, shaped.body),
    kind('wrong-datatype', 400, typed.headers, typed.body),
    kind('too-many-items', many.body.length > maxBodyBytes ? 413 : 400, many.headers, many.body),
    kind('unknown-model', 404, good.headers, good.body, '/v2/models/no-such-model/infer'),
    kind(
      'oversize-body',
      413,
      { 'content-type': 'application/octet-stream', [BINARY_HEADER]: '16' },
      oversize,
    ),
    kind('content-type', 415, { 'content-type': 'image/png' }, good.body),
    kind(
      'binary-header-past-body',
      400,
      { 'content-type': 'application/octet-stream', [BINARY_HEADER]: String(good.body.length + 1) },
      good.body,
    ),
    kind(
      'unknown-shm-region',
      400,
      JSON_HEADERS,
      jsonBody(spec.name, spec.datatype, one.shape, undefined, {
        shared_memory_region: 'no-such-region',
        shared_memory_byte_size: good.body.length,
      }),
    ),
    kind(
      'gzip-not-gzip',
      400,
      { ...JSON_HEADERS, 'content-encoding': 'gzip' },
      Buffer.from('this is not gzip data'),
    ),
  ]
}

/** Picks a kind by weight. */
export function picker<T>(items: { item: T; weight: number }[], r: () => number): () => T {
  const total = items.reduce((a, x) => a + x.weight, 0)
  if (items.length === 0 || !(total > 0)) throw new Error('nothing to pick from')
  return () => {
    let x = r() * total
    for (const it of items) {
      x -= it.weight
      if (x < 0) return it.item
    }
    return (items.at(-1) as { item: T }).item
  }
}

// ── the server under test ────────────────────────────────────────────────────────────────────────────────────────

export interface ProbeSample {
  t: number
  pid: number
  rssMB: number
  heapUsedMB: number
  heapTotalMB: number
  externalMB: number
  elP50Ms: number
  elP99Ms: number
  elMaxMs: number
  elMeanMs: number
  /** V8's heap right after a full collection (only on lines where the probe collected: ECLIP_LOAD_PROBE_GC_S). */
  liveMB?: number
}

export class ServerUnderTest {
  private constructor(
    readonly url: string,
    readonly child: ChildProcess,
    readonly dir: string,
    readonly probeFile: string,
    private readonly exited: Promise<number | null>,
    readonly log: () => string,
    readonly shm: Map<string, ShmFile>,
  ) {}

  get pid(): number {
    return this.child.pid as number
  }

  /**
   * Starts `eclip serve` (this checkout's bin/eclip.mjs, or `cli`) on a free port with the workload's config, the
   * probe loaded, and registers one system shared-memory region per model that sends shm requests.
   */
  static async start(
    w: Workload,
    opts: { cli?: string; frontends?: number; probeMs?: number; gcEveryS?: number; seed?: number } = {},
  ): Promise<ServerUnderTest> {
    const dir = mkdtempSync(join(tmpdir(), 'eclip-load-'))
    const config = join(dir, 'serve.yaml')
    writeFileSync(config, YAML.stringify(serveConfig(w)))
    const probeFile = join(dir, 'probe.jsonl')
    const cli = opts.cli ?? join(ROOT, 'bin', 'eclip.mjs')
    const args = [
      ...(opts.gcEveryS ? ['--expose-gc'] : []),
      '--import',
      pathToFileURL(join(ROOT, 'bench', 'serve-probe.mjs')).href,
      cli,
      'serve',
      '--config',
      config,
      '--port',
      '0',
      '--grpc-port',
      'off',
      ...(opts.frontends !== undefined ? ['--frontends', String(opts.frontends)] : []),
    ]
    const child = spawn(process.execPath, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        ECLIP_LOAD_PROBE: probeFile,
        ECLIP_LOAD_PROBE_MS: String(opts.probeMs ?? 1000),
        ...(opts.gcEveryS ? { ECLIP_LOAD_PROBE_GC_S: String(opts.gcEveryS) } : {}),
      },
    })
    let out = ''
    const keep = (d: Buffer) => {
      out += d
      if (out.length > 1e6) out = out.slice(-5e5)
    }
    child.stdout?.on('data', keep)
    child.stderr?.on('data', keep)
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)))
    const url = await new Promise<string>((resolveUrl, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`eclip serve did not start in 120 s:\n${out}`)),
        120_000,
      )
      const look = () => {
        const m = out.match(/listening on (http:\/\/\S+)/)
        if (m) {
          clearTimeout(timer)
          resolveUrl(m[1] as string)
        }
      }
      child.stdout?.on('data', look)
      child.on('exit', (code) => {
        clearTimeout(timer)
        reject(new Error(`eclip serve exited ${code} before listening:\n${out}`))
      })
    })
    let shm: Map<string, ShmFile>
    try {
      shm = await registerShm(url, w.models, opts.seed ?? 1)
    } catch (err) {
      child.kill('SIGKILL')
      throw err
    }
    return new ServerUnderTest(url, child, dir, probeFile, exited, () => out, shm)
  }

  /** Every probe line so far (of the server's process and, with front-ends, theirs). */
  samples(): ProbeSample[] {
    if (!existsSync(this.probeFile)) return []
    return readFileSync(this.probeFile, 'utf8')
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l) as ProbeSample)
  }

  /** CPU seconds the server's processes (it and its children) have used so far. */
  cpuS(): number {
    return treeCpuS(this.pid)
  }

  /** The server's Prometheus text. */
  async metrics(): Promise<string> {
    const r = await get(this.url, '/metrics')
    return r.body
  }

  /** SIGTERM, then the exit code (a draining server exits 0); removes the shm files and the temporary folder. */
  async stop(): Promise<number | null> {
    await releaseShm(this.url, this.shm)
    this.child.kill('SIGTERM')
    const code = await this.exited
    rmSync(this.dir, { recursive: true, force: true })
    return code
  }
}

/**
 * One system shared-memory region per model that sends shm requests, holding its good request's input (the bytes
 * goodKinds' shm request names), registered with the server at `url`; none where there is no /dev/shm.
 */
export async function registerShm(
  url: string,
  models: ServedSpec[],
  seed: number,
): Promise<Map<string, ShmFile>> {
  const shm = new Map<string, ShmFile>()
  if (!existsSync(SHM_DIR)) return shm
  for (const [i, m] of models.entries()) {
    if (!m.encodings.shm) continue
    const bytes = shmBytes(m, seed + i)
    const name = `load-${m.name}`
    const key = `/eclip-load-${process.pid}-${m.name}`
    const file: ShmFile = { name, key, path: join(SHM_DIR, key.slice(1)), byteSize: bytes.length }
    writeFileSync(file.path, bytes)
    const r = await post(
      url,
      `/v2/systemsharedmemory/region/${name}/register`,
      Buffer.from(JSON.stringify({ key, offset: 0, byte_size: bytes.length })),
    )
    if (r.status !== 200) {
      unlinkSync(file.path)
      await releaseShm(url, shm)
      throw new Error(`registering shm region ${name}: HTTP ${r.status} ${r.body}`)
    }
    shm.set(m.name, file)
  }
  return shm
}

/** Unregisters the regions of registerShm and removes their files. */
export async function releaseShm(url: string, shm: Map<string, ShmFile>): Promise<void> {
  for (const f of shm.values()) {
    await post(url, `/v2/systemsharedmemory/region/${f.name}/unregister`, Buffer.alloc(0)).catch(() => {})
    rmSync(f.path, { force: true })
  }
  shm.clear()
}

/** Sum of the samples of `name` (optionally only lines containing `filter`) in Prometheus text. */
export function metricSum(text: string, name: string, filter = ''): number {
  let sum = 0
  for (const l of text.split('\n'))
    if ((l.startsWith(`${name}{`) || l.startsWith(`${name} `)) && l.includes(filter))
      sum += Number(l.split(' ').at(-1))
  return sum
}

let clockTicks: number | undefined
/** CPU seconds of a process and its descendants (Linux /proc; 0 elsewhere). */
export function treeCpuS(pid: number): number {
  clockTicks ??= (() => {
    try {
      return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
    } catch {
      return 100
    }
  })()
  const stats = new Map<number, { ppid: number; ticks: number }>()
  let entries: string[] = []
  try {
    entries = readdirSync('/proc').filter((d) => /^\d+$/.test(d))
  } catch {
    return 0
  }
  for (const d of entries) {
    try {
      const s = readFileSync(`/proc/${d}/stat`, 'utf8')
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ')
      stats.set(Number(d), { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) })
    } catch {}
  }
  let ticks = 0
  const todo = [pid]
  while (todo.length > 0) {
    const p = todo.pop() as number
    ticks += stats.get(p)?.ticks ?? 0
    for (const [c, s] of stats) if (s.ppid === p) todo.push(c)
  }
  return ticks / clockTicks
}

// ── HTTP ─────────────────────────────────────────────────────────────────────────────────────────────────────────

function get(url: string, path: string): Promise<{ status: number; body: string }> {
  return simple(url, 'GET', path)
}

function post(url: string, path: string, body: Buffer): Promise<{ status: number; body: string }> {
  return simple(url, 'POST', path, body)
}

function simple(url: string, method: string, path: string, body?: Buffer) {
  return new Promise<{ status: number; body: string }>((resolveReq, reject) => {
    const req = http.request(
      `${url}${path}`,
      {
        method,
        headers: body ? { 'content-type': 'application/json', 'content-length': String(body.length) } : {},
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () =>
          resolveReq({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        )
        res.on('error', reject)
      },
    )
    req.on('error', reject)
    req.end(body)
  })
}

/** Answers per status of one request kind, and the latency of those that got the status they should. */
export interface KindStats {
  kind: RequestKind
  sent: number
  statuses: Map<number, number>
  /** No answer: the connection failed or the client's timeout passed (status 0), by error message. */
  errors: Map<string, number>
  /** Latency from the scheduled send time to the answer, µs, of answers with the expected status. */
  latency: RecordableHistogram
}

/** One second of a run: answers that came in it, by what they were. */
export interface Second {
  ok: number
  rejected: number
  /** Expected statuses of bad requests. */
  badOk: number
  other: number
  lost: number
}

export interface RunStats {
  kinds: Map<string, KindStats>
  seconds: Second[]
  /** Requests due but not sent because `maxInFlight` were in flight (the generator could not keep up). */
  notSent: number
  /** How late requests were sent after their scheduled time, µs. */
  sendLag: RecordableHistogram
  /** Wall time from the first scheduled request to the last answer, s. */
  wallS: number
  /** The generator's own CPU in the run, s. */
  clientCpuS: number
  /** Requests in flight at most. */
  maxInFlight: number
}

export interface Sender {
  agent: http.Agent
  host: string
  port: number
  timeoutMs: number
}

/**
 * Keep-alive connections to `url`. An idle connection is closed after `idleMs` (default 4 s): eclip serve closes
 * one after 5 s (it says so: `Keep-Alive: timeout=5`), and a client that reuses a connection the server is closing
 * at that moment loses its request to a reset — a window as wide as the server's event loop is late. Node 20's agent
 * does not read that hint; `idleMs: 0` keeps idle connections until the server closes them, as it would.
 */
export function sender(
  url: string,
  opts: { maxSockets?: number; timeoutMs?: number; idleMs?: number } = {},
): Sender {
  const u = new URL(url)
  const idleMs = opts.idleMs ?? 4000
  return {
    agent: new http.Agent({
      keepAlive: true,
      maxSockets: opts.maxSockets ?? 512,
      ...(idleMs > 0 ? { timeout: idleMs } : {}),
    }),
    host: u.hostname,
    port: Number(u.port),
    timeoutMs: opts.timeoutMs ?? 30_000,
  }
}

/** Sends one request; calls `done` exactly once with its status (0: no answer, with why). Never throws. */
export function sendOne(s: Sender, k: RequestKind, done: (status: number, error?: string) => void) {
  let settled = false
  const finish = (status: number, error?: string) => {
    if (settled) return
    settled = true
    done(status, error)
  }
  const req = http.request(
    {
      host: s.host,
      port: s.port,
      path: k.path,
      method: 'POST',
      agent: s.agent,
      headers: { ...k.headers, 'content-length': String(k.body.length) },
    },
    (res) => {
      res.resume()
      res.on('end', () => finish(res.statusCode ?? 0))
      res.on('error', (e) => finish(0, e.message))
    },
  )
  req.setTimeout(s.timeoutMs, () => req.destroy(new Error(`no answer within ${s.timeoutMs} ms`)))
  // an error after the response came (the server closed the connection while the rest of the body was being
  // written: its early 429 for a large body) is not a lost request; finish() ignores it
  req.on('error', (e) => finish(0, (e as NodeJS.ErrnoException).code ?? e.message))
  req.end(k.body)
}

function newStats(kinds: RequestKind[]): Map<string, KindStats> {
  return new Map(
    kinds.map((k) => [
      k.name,
      { kind: k, sent: 0, statuses: new Map(), errors: new Map(), latency: createHistogram() },
    ]),
  )
}

/**
 * Open loop: requests of `streams` (each a rate in req/s and a picker of kinds) arrive as seeded Poisson processes
 * for `durationS` seconds and are sent when due, whatever is still unanswered (up to `maxInFlight`; past it a due
 * request is counted as not sent). Resolves once every request sent is answered or has timed out.
 */
export async function openLoop(
  s: Sender,
  streams: { rate: number; pick: () => RequestKind }[],
  opts: { durationS: number; seed: number; maxInFlight?: number; kinds: RequestKind[] },
): Promise<RunStats> {
  const r = rng(opts.seed)
  const stats = newStats(opts.kinds)
  const seconds: Second[] = []
  const sendLag = createHistogram()
  const maxInFlight = opts.maxInFlight ?? 4096
  let inFlight = 0
  let peak = 0
  let notSent = 0
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  const end = t0 + opts.durationS * 1000
  const next = streams.map((st) => (st.rate > 0 ? t0 - (Math.log(1 - r()) / st.rate) * 1000 : Infinity))
  let all: () => void = () => {}
  const drained = new Promise<void>((res) => {
    all = res
  })
  let scheduling = true
  const second = (t: number): Second => {
    const i = Math.max(0, Math.floor((t - t0) / 1000))
    while (seconds.length <= i) seconds.push({ ok: 0, rejected: 0, badOk: 0, other: 0, lost: 0 })
    return seconds[i] as Second
  }
  const fire = (k: RequestKind, due: number) => {
    const st = stats.get(k.name) as KindStats
    if (inFlight >= maxInFlight) {
      notSent++
      return
    }
    st.sent++
    inFlight++
    peak = Math.max(peak, inFlight)
    sendLag.record(Math.max(1, Math.round((performance.now() - due) * 1000)))
    sendOne(s, k, (status, error) => {
      const now = performance.now()
      st.statuses.set(status, (st.statuses.get(status) ?? 0) + 1)
      const sec = second(now)
      if (status === 0) {
        st.errors.set(error ?? '?', (st.errors.get(error ?? '?') ?? 0) + 1)
        sec.lost++
      } else if (status === k.expect) {
        st.latency.record(Math.max(1, Math.round((now - due) * 1000)))
        if (k.good) sec.ok++
        else sec.badOk++
      } else if (status === 429) sec.rejected++
      else sec.other++
      inFlight--
      if (!scheduling && inFlight === 0) all()
    })
  }
  await new Promise<void>((done) => {
    const tick = () => {
      const now = performance.now()
      for (;;) {
        let j = -1
        for (let i = 0; i < next.length; i++)
          if ((next[i] as number) <= now && (j < 0 || (next[i] as number) < (next[j] as number))) j = i
        if (j < 0) break
        const due = next[j] as number
        if (due >= end) {
          next[j] = Infinity
          continue
        }
        const st = streams[j] as { rate: number; pick: () => RequestKind }
        fire(st.pick(), due)
        next[j] = due - (Math.log(1 - r()) / st.rate) * 1000
      }
      const soonest = Math.min(...next)
      if (soonest === Infinity) return done()
      setTimeout(tick, Math.max(0, Math.min(soonest - performance.now(), 2)))
    }
    tick()
  })
  scheduling = false
  if (inFlight > 0) await drained
  const cpu = process.cpuUsage(cpu0)
  return {
    kinds: stats,
    seconds,
    notSent,
    sendLag,
    wallS: (performance.now() - t0) / 1000,
    clientCpuS: (cpu.user + cpu.system) / 1e6,
    maxInFlight: peak,
  }
}

/**
 * Closed loop on each served model at once: `concurrency[m]` clients per model, each sending its next good request
 * as soon as the last is answered, for `warmupS` + `durationS`. Returns each model's rate of 200s over the last
 * `durationS` (its capacity) and any other answers (there should be none: the concurrency stays within the queue).
 */
export async function closedLoop(
  s: Sender,
  models: { name: string; concurrency: number; pick: () => RequestKind }[],
  opts: { warmupS: number; durationS: number },
): Promise<{ rates: Map<string, number>; others: Map<string, number> }> {
  const t0 = performance.now()
  const from = t0 + opts.warmupS * 1000
  const to = from + opts.durationS * 1000
  const ok = new Map(models.map((m) => [m.name, 0]))
  const others = new Map<string, number>()
  const client = (m: { name: string; pick: () => RequestKind }) =>
    new Promise<void>((done) => {
      const loop = () => {
        if (performance.now() >= to) return done()
        const k = m.pick()
        sendOne(s, k, (status, error) => {
          const now = performance.now()
          if (status === 200) {
            if (now >= from && now < to) ok.set(m.name, (ok.get(m.name) ?? 0) + 1)
          } else {
            const why = `${k.name}: ${status || error}`
            others.set(why, (others.get(why) ?? 0) + 1)
          }
          loop()
        })
      }
      loop()
    })
  await Promise.all(models.flatMap((m) => Array.from({ length: m.concurrency }, () => client(m))))
  return { rates: new Map([...ok].map(([k, v]) => [k, v / opts.durationS])), others }
}

/** Clients enough to keep a model's executions full back to back: four executions' worth, within its queue. */
export function saturatingConcurrency(m: ServedSpec): number {
  const perExecution = Math.max(1, Math.min(m.maxDynamicBatch ?? m.batch, Math.floor(m.batch / m.items)))
  return Math.min(m.queueSize, Math.max(4, 4 * perExecution))
}

/** The good-request picker of a served model (its encodings by weight). */
export function goodPicker(kinds: RequestKind[], m: ServedSpec, seed: number): () => RequestKind {
  const items = kinds
    .filter((k) => k.good && k.model === m.name)
    .map((k) => ({ item: k, weight: m.encodings[k.name.split('/').at(-1) as Encoding] ?? 0 }))
    .filter((x) => x.weight > 0)
  return picker(items, rng(seed))
}

/**
 * Each served model's capacity: the rate of 200s it sustains in a closed loop with every model loaded at once (so
 * they share the host as they will under load).
 */
export async function findCapacity(
  s: Sender,
  w: Workload,
  kinds: RequestKind[],
  opts: { warmupS: number; durationS: number; seed: number },
): Promise<Map<string, number>> {
  const { rates, others } = await closedLoop(
    s,
    w.models.map((m, i) => ({
      name: m.name,
      concurrency: saturatingConcurrency(m),
      pick: goodPicker(kinds, m, opts.seed + 100 + i),
    })),
    opts,
  )
  if (others.size > 0)
    throw new Error(`capacity run: answers other than 200: ${JSON.stringify(Object.fromEntries(others))}`)
  return rates
}

/** A run's answers judged: what was lost, what got a status it should not have. */
export interface Tally {
  sent: number
  /** No answer at all (bodies over the limit cut off by the server's reset are counted apart). */
  lost: number
  goodSent: number
  goodOk: number
  /** Bad requests answered 429 (their model's queue was full: the server refuses those before reading them). */
  bad429: number
  cutOff: number
  cutOffByKind: Map<string, number>
  problems: string[]
}

/**
 * Judges answers: a good request must get 200, a bad one its own status or 429 (refused unread while its model's
 * queue was full); no request may go unanswered, but for a body over the limit whose 413 the server's own reset cut
 * off (RequestKind.cutOffOk).
 */
export function tally(stats: Iterable<KindStats>): Tally {
  const t: Tally = {
    sent: 0,
    lost: 0,
    goodSent: 0,
    goodOk: 0,
    bad429: 0,
    cutOff: 0,
    cutOffByKind: new Map(),
    problems: [],
  }
  for (const st of stats) {
    t.sent += st.sent
    const cut = st.kind.cutOffOk ? RESET_ERRORS.reduce((a, e) => a + (st.errors.get(e) ?? 0), 0) : 0
    if (cut > 0) t.cutOffByKind.set(st.kind.name, cut)
    t.cutOff += cut
    const lost = (st.statuses.get(0) ?? 0) - cut
    t.lost += lost
    const right = st.statuses.get(st.kind.expect) ?? 0
    const refused = st.kind.good ? 0 : (st.statuses.get(429) ?? 0)
    if (st.kind.good) {
      t.goodSent += st.sent
      t.goodOk += right
    } else t.bad429 += refused
    const wrong = st.sent - right - lost - cut - refused
    if (wrong > 0) {
      const seen = [...st.statuses]
        .filter(([k]) => k !== 0 && k !== st.kind.expect)
        .map(([k, n]) => `${n}× ${k}`)
      t.problems.push(`${st.kind.name}: ${wrong} answered other than ${st.kind.expect} (${seen.join(', ')})`)
    }
    if (lost > 0)
      t.problems.push(`${st.kind.name}: ${lost} lost (${JSON.stringify(Object.fromEntries(st.errors))})`)
  }
  return t
}

// ── arithmetic ───────────────────────────────────────────────────────────────────────────────────────────────────

/** Least-squares line through (x, y): its slope and intercept (NaN slope with fewer than two distinct x). */
export function fitLine(xs: number[], ys: number[]): { slope: number; intercept: number } {
  const n = Math.min(xs.length, ys.length)
  if (n < 2) return { slope: Number.NaN, intercept: Number.NaN }
  let sx = 0
  let sy = 0
  for (let i = 0; i < n; i++) {
    sx += xs[i] as number
    sy += ys[i] as number
  }
  const mx = sx / n
  const my = sy / n
  let sxx = 0
  let sxy = 0
  for (let i = 0; i < n; i++) {
    const dx = (xs[i] as number) - mx
    sxx += dx * dx
    sxy += dx * ((ys[i] as number) - my)
  }
  if (sxx === 0) return { slope: Number.NaN, intercept: Number.NaN }
  const slope = sxy / sxx
  return { slope, intercept: my - slope * mx }
}

/** µs histogram percentile as ms (NaN when empty). */
export function pctMs(h: RecordableHistogram, p: number): number {
  return h.count > 0 ? h.percentile(p) / 1000 : Number.NaN
}

export function fmt(x: number, digits = 1): string {
  return Number.isFinite(x) ? x.toFixed(digits) : 'n/a'
}

/** `--capacity NAME=RATE[,NAME=RATE]`: each served model's capacity, req/s (every model must have one). */
export function parseCapacity(spec: string, models: readonly { name: string }[]): Map<string, number> {
  const capacity = new Map(
    spec.split(',').map((p) => {
      const [name, rate] = p.split('=')
      if (!name || !(Number(rate) > 0)) throw new Error(`--capacity: NAME=RATE[,NAME=RATE], got "${p}"`)
      return [name, Number(rate)] as [string, number]
    }),
  )
  for (const m of models) if (!capacity.has(m.name)) throw new Error(`--capacity: no rate for ${m.name}`)
  return capacity
}
