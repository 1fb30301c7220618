// Shared pieces of the serve tests: servers over the simulator with chosen compute times, a backend that crashes on
// purpose, a baseline plan built from profiles (for configs that give a plan file), and a "python" that runs a
// stand-in GPU backend, and eclip-live's model control scenarios.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { chmodSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import * as grpc from '@grpc/grpc-js'
import * as protoLoader from '@grpc/proto-loader'
import YAML from 'yaml'
import type { Gpu } from '../../src/formats/gpu.ts'
import type { WorkerSpec } from '../../src/formats/mix.ts'
import type { Plan } from '../../src/formats/plan.ts'
import type { Profile } from '../../src/formats/profile.ts'
import type {
  BackendEvent,
  ExecRequest,
  ExecResult,
  PowerReading,
  ServeBackend,
  ServedModel,
} from '../../src/serve/backend.ts'
import { BackendUnavailableError } from '../../src/serve/backend.ts'
import { fixedComputeTimes } from '../../src/serve/compute-time.ts'
import { inferenceProtoPath, PROTO_OPTIONS } from '../../src/serve/grpc/server.ts'
import { zooIO } from '../../src/serve/io-specs.ts'
import { EclipServer, type ServerOptions } from '../../src/serve/server.ts'
import { SimServeBackend } from '../../src/serve/sim-backend.ts'
import type { WorkerOptions } from '../../src/serve/worker.ts'

export interface TestModel {
  name: string
  model: string
  batch?: number
  dtype?: 'fp16' | 'fp32' | 'bf16'
  computeUs?: number
  queueSize?: number
  timeoutMs?: number
  maxDynamicBatch?: number
}

export function servedModels(models: TestModel[]): {
  models: ServedModel[]
  opts: Map<string, WorkerOptions>
} {
  const out: ServedModel[] = []
  const opts = new Map<string, WorkerOptions>()
  for (const m of models) {
    const dtype = m.dtype ?? 'fp16'
    const io = zooIO(m.model, dtype)
    if (!io) throw new Error(`no zoo model ${m.model}`)
    out.push({ name: m.name, model: m.model, version: '1', batch: m.batch ?? 1, dtype, io })
    opts.set(m.name, {
      queueSize: m.queueSize ?? 64,
      timeoutMs: m.timeoutMs ?? 5000,
      maxDynamicBatch: m.maxDynamicBatch ?? m.batch ?? 1,
    })
  }
  return { models: out, opts }
}

/** An EclipServer over the simulator (or `backend`), loaded, not listening. */
export async function testServer(
  models: TestModel[],
  extra: Partial<ServerOptions> & { backend?: ServeBackend } = {},
): Promise<EclipServer> {
  const { models: served, opts } = servedModels(models)
  const times = new Map(models.map((m) => [m.name, { us: m.computeUs ?? 1000, source: 'test' }]))
  const backend = extra.backend ?? new SimServeBackend(fixedComputeTimes(times))
  const server = new EclipServer({
    models: served,
    workerOptions: opts,
    backend,
    computeSources: times,
    logger: false,
    ...extra,
  })
  await server.load()
  return server
}

/** A KServe JSON infer body for a zoo vision model ([n,3,224,224]) filled with one value. */
/** A POST through fastify inject() (no socket): JSON bodies serialised, buffers sent as they are. */
export const post = (s: EclipServer, url: string, body: unknown, headers: Record<string, string> = {}) =>
  s.app.inject({
    method: 'POST',
    url,
    payload: Buffer.isBuffer(body) ? body : JSON.stringify(body),
    headers: { 'content-type': 'application/json', ...headers },
  })
export const get = (s: EclipServer, url: string) => s.app.inject({ method: 'GET', url })

export function visionBody(n = 1, datatype = 'FP16', value = 0.5): Record<string, unknown> {
  return {
    inputs: [
      { name: 'input', datatype, shape: [n, 3, 224, 224], data: new Array(n * 3 * 224 * 224).fill(value) },
    ],
  }
}

/** A KServe JSON infer body for albert ([n,128] INT64 token ids). */
export function albertBody(n = 1, token = 7): Record<string, unknown> {
  return {
    inputs: [{ name: 'input_ids', datatype: 'INT64', shape: [n, 128], data: new Array(n * 128).fill(token) }],
  }
}

/**
 * A backend that executes like the simulator but crashes on demand: `crash()` kills it (every execution in flight
 * never settles, as with a dead process), and restarts succeed after `restartMs` (or fail `failRestarts` times first).
 */
export class CrashingBackend implements ServeBackend {
  readonly kind = 'sim' as const
  private ready = false
  private listeners = new Set<(e: BackendEvent) => void>()
  private timers = new Set<NodeJS.Timeout>()
  restarts = 0
  restartAttempts = 0
  executions = 0

  constructor(
    private readonly computeUs: number,
    private readonly opts: { restartMs?: number; failRestarts?: number; outputs?: boolean } = {},
  ) {}

  async load(_models: ServedModel[]): Promise<void> {
    this.ready = true
  }
  infer(req: ExecRequest): Promise<ExecResult> {
    if (!this.ready) return Promise.reject(new BackendUnavailableError('dead'))
    this.executions++
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.timers.delete(t)
        // outputs: echo the first input, so batching splits can be checked
        const outputs = this.opts.outputs
          ? req.inputs.map((x) => ({ ...x, name: x.name === 'input_ids' ? 'last_hidden_state' : 'logits' }))
          : []
        resolve({ outputs, simulated: !this.opts.outputs, computeUs: this.computeUs })
      }, this.computeUs / 1000)
      this.timers.add(t)
    })
  }
  /** Dies: in-flight executions never settle (the server must answer them itself). */
  crash(reason = 'test crash') {
    this.ready = false
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
    for (const l of this.listeners) l({ type: 'crash', reason })
  }
  isReady() {
    return this.ready
  }
  onEvent(listener: (e: BackendEvent) => void) {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }
  async restart(): Promise<void> {
    this.restartAttempts++
    await new Promise((r) => setTimeout(r, this.opts.restartMs ?? 50))
    if (this.restartAttempts <= (this.opts.failRestarts ?? 0)) throw new Error('restart failed on purpose')
    this.restarts++
    this.ready = true
    for (const l of this.listeners) l({ type: 'ready' })
  }
  power(): PowerReading | undefined {
    return undefined
  }
  async close() {
    for (const t of this.timers) clearTimeout(t)
    this.ready = false
  }
}

/** The baseline plan (every worker on the whole GPU) for `workers`, as a plan file would hold it. */
export function baselinePlan(gpu: Gpu, workers: WorkerSpec[], profiles: Profile[]): Plan {
  const all = gpu.slices.map((s) => s.id)
  return {
    format: 'eclip.plan/1',
    policy: 'baseline',
    gpu: { name: gpu.name, smCount: gpu.smCount, sliceSize: gpu.sliceSize },
    mix: 'test',
    pool: { partitions: [{ id: 0, slices: all, sms: gpu.smCount }] },
    workers: workers.map((w, i) => {
      const p = profiles[i] as Profile
      const full = p.kernels.reduce((a, k) => a + (k.timesUs[k.timesUs.length - 1] ?? 0), 0)
      return {
        name: w.name,
        model: w.model,
        batch: w.batch,
        dtype: w.dtype,
        fingerprint: p.fingerprint,
        kernels: p.kernels.length,
        partitions: [0],
        groups: [{ first: 0, last: p.kernels.length - 1, partition: 0 }],
        switches: 0,
        soloUs: full,
        predictedUs: full,
        soloFullUs: full,
        meanSms: gpu.smCount,
        alpha: 0,
      }
    }),
    repartitionAtSwitch: false,
    params: { tolerance: 0.05, switchMax: 14, modelWiseFactor: 1, timeLimitS: 0, mipGap: 0 },
    solver: { name: 'none', status: 'not-needed', gap: 0, solveMs: 0 },
    createdAt: new Date(0).toISOString(),
  }
}

const root = join(import.meta.dirname, '..', '..')
/** The fake GPU backend: the real frame loop and Serving of gpu/eclip_gpu with fake captures (no GPU). */
export const FAKE_BACKEND = join(import.meta.dirname, 'gpu_backend_fake.py')
/** The echo backend: the real frame loop and Serving with echo workers that run no model. */
export const ECHO_BACKEND = join(root, 'bench', 'serve_echo_backend.py')

/**
 * A "python" for the GPU backend adapter to spawn (its arguments are ignored): runs `script` (default the fake
 * backend) with `env` exported, on the repo's venv where there is one; in `dir` (default a fresh temporary one). With
 * `pidFile`, it writes its pid there first (exec keeps it: a test can tell whether the process is gone).
 */
export function backendPython(
  o: { script?: string; env?: Record<string, string>; dir?: string; pidFile?: string } = {},
): string {
  const venv = join(root, '.venv', 'bin', 'python')
  const f = join(o.dir ?? mkdtempSync(join(tmpdir(), 'eclip-fakegpu-')), 'python')
  const exports = Object.entries(o.env ?? {})
    .map(([k, v]) => `export ${k}='${v}'\n`)
    .join('')
  const pid = o.pidFile ? `echo $$ > '${o.pidFile}'\n` : ''
  writeFileSync(
    f,
    `#!/usr/bin/env bash\n${exports}${pid}exec '${existsSync(venv) ? venv : 'python3'}' '${o.script ?? FAKE_BACKEND}'\n`,
  )
  chmodSync(f, 0o755)
  return f
}

/**
 * Runs `f` with $ECLIP_PYTHON set to a "python" that runs serve-bench's real cuda-shm client with host memory in place
 * of device buffers (cuda_shm_client_fake.py; `-m eclip_gpu.loadgen_cuda_shm` dropped, its other arguments kept).
 * Processes started inside `f` inherit it.
 */
export async function withCudaShmFake<T>(f: () => Promise<T>): Promise<T> {
  const venv = join(root, '.venv', 'bin', 'python')
  const python = join(mkdtempSync(join(tmpdir(), 'eclip-cudashm-')), 'python')
  writeFileSync(
    python,
    `#!/usr/bin/env bash\nshift 2\nexec '${existsSync(venv) ? venv : 'python3'}' '${join(import.meta.dirname, 'cuda_shm_client_fake.py')}' "$@"\n`,
  )
  chmodSync(python, 0o755)
  const saved = process.env.ECLIP_PYTHON
  process.env.ECLIP_PYTHON = python
  try {
    return await f()
  } finally {
    if (saved === undefined) delete process.env.ECLIP_PYTHON
    else process.env.ECLIP_PYTHON = saved
  }
}

/** Sends `head` (request line and headers) and `first` bytes of the body, never the rest; what came back in 2 s. */
export function partialRequest(url: URL, head: string, first: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(Number(url.port), url.hostname, () => sock.write(`${head}\r\n\r\n${first}`))
    let got = ''
    sock.on('data', (d) => {
      got += d.toString()
    })
    sock.on('close', () => resolve(got))
    sock.on('error', reject)
    setTimeout(() => {
      sock.destroy()
      resolve(got)
    }, 2000)
  })
}

/**
 * A POST to `path` whose headers state a body of `bytes`, of which only a few bytes come (an answer sent before it).
 */
export const unreadBody = (url: URL, path: string, bytes: number, type = 'application/json') =>
  partialRequest(
    url,
    `POST ${path} HTTP/1.1\r\nhost: x\r\ncontent-type: ${type}\r\ncontent-length: ${bytes}`,
    '{"inputs": [',
  )

/** Runs a Python check script to its end: exit status and what it printed. */
export function runScript(
  python: string,
  args: string[],
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(python, args)
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => {
      stdout += d
    })
    child.stderr.on('data', (d: Buffer) => {
      stderr += d
    })
    child.on('exit', (status) => resolve({ status, stdout, stderr }))
  })
}

/**
 * eclip-live's burst of model control (docs/live.md): seven loads and unloads sent at once, with alexnet's requests
 * going on. Each must answer 200 (they run one after another), alexnet's requests are each answered (served, or
 * refused while it is unloaded: never left hanging), and the server ends serving alexnet, vgg19 and shufflenet under
 * a table of every set of them, each model answering. Returns the served names.
 */
export async function controlBurst(s: EclipServer): Promise<string[]> {
  const ops: [string, string][] = [
    ['load', 'shufflenet'],
    ['unload', 'vgg19'],
    ['load', 'vgg19'],
    ['unload', 'shufflenet'],
    ['load', 'shufflenet'],
    ['unload', 'alexnet'],
    ['load', 'alexnet'],
  ]
  const traffic = Array.from({ length: 20 }, () => post(s, '/v2/models/alexnet/infer', visionBody()))
  const res = await Promise.all(ops.map(([op, m]) => post(s, `/v2/repository/models/${m}/${op}`, {})))
  for (const [i, r] of res.entries()) assert.equal(r.statusCode, 200, `${ops[i]?.join(' ')}: ${r.body}`)
  for (const r of await Promise.all(traffic)) assert.ok([200, 404, 503].includes(r.statusCode), r.body)
  const served = s.models().map((m) => m.name)
  assert.deepEqual(served, ['alexnet', 'vgg19', 'shufflenet'])
  const table = s.opts.live?.table
  assert.deepEqual(
    table?.workers.map((w) => w.name),
    served,
  )
  assert.equal(table?.plans.length, 7)
  for (const m of served)
    assert.equal((await post(s, `/v2/models/${m}/infer`, visionBody())).statusCode, 200, m)
  return served
}

/**
 * eclip-live: vgg19 unloaded with `n` of its requests accepted: a request meanwhile is refused at once (503, not
 * queued), a second unload is refused (400, being unloaded already), every accepted request is answered 200, then
 * the unload answers 200.
 */
export async function unloadWithRequestsQueued(s: EclipServer, n: number): Promise<void> {
  const accepted = Array.from({ length: n }, () => post(s, '/v2/models/vgg19/infer', visionBody()))
  // let them be accepted (parsed and queued) before the unload comes
  await new Promise((r) => setTimeout(r, 5))
  const unload = post(s, '/v2/repository/models/vgg19/unload', {})
  await new Promise((r) => setImmediate(r))
  const during = await post(s, '/v2/models/vgg19/infer', visionBody())
  assert.equal(during.statusCode, 503)
  assert.match(during.body, /vgg19.*is being unloaded/)
  const again = await post(s, '/v2/repository/models/vgg19/unload', {})
  assert.equal(again.statusCode, 400)
  assert.match(again.body, /being unloaded already/)
  for (const r of await Promise.all(accepted)) assert.equal(r.statusCode, 200, r.body)
  assert.equal((await unload).statusCode, 200)
}

/** A stream that records each write it is asked for (a writev counts once, its chunks joined) and what it carried. */
export function recorder() {
  const writes: Buffer[] = []
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      writes.push(chunk)
      cb()
    },
    writev(chunks, cb) {
      writes.push(Buffer.concat(chunks.map((c) => c.chunk as Buffer)))
      cb()
    },
  })
  return { stream, writes }
}

export type GrpcTestClient = grpc.Client & Record<string, (...a: unknown[]) => unknown>
/** A plain @grpc/grpc-js client of the server's gRPC service (the proto it serves). */
export function grpcClient(address: string): GrpcTestClient {
  const def = protoLoader.loadSync(inferenceProtoPath(), PROTO_OPTIONS)
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    inference: { GRPCInferenceService: new (a: string, c: grpc.ChannelCredentials) => GrpcTestClient }
  }
  return new pkg.inference.GRPCInferenceService(address, grpc.credentials.createInsecure())
}
/** One unary call; resolves with the answer, rejects with the ServiceError. */
// biome-ignore lint/suspicious/noExplicitAny: the answers are proto-loader's plain objects
export function grpcCall(c: GrpcTestClient, method: string, req: unknown): Promise<any> {
  return new Promise((resolve, reject) =>
    c[method]?.(req, (err: grpc.ServiceError | null, res: unknown) => (err ? reject(err) : resolve(res))),
  )
}
/** Rejects with the error's gRPC code and message. */
export async function grpcRefused(p: Promise<unknown>, code: grpc.status, message: RegExp) {
  await assert.rejects(p, (err: grpc.ServiceError) => {
    assert.equal(grpc.status[err.code], grpc.status[code], err.details)
    assert.match(err.details, message)
    return true
  })
}

/** A serve config file on the simulator: albert at batch 2 and vgg19 at batch 4, model-wise (a fresh directory). */
export function twoModelSimConfig(prefix = 'eclip-serve-'): string {
  const f = join(mkdtempSync(join(tmpdir(), prefix)), 'serve.yaml')
  writeFileSync(
    f,
    YAML.stringify({
      policy: 'model-wise',
      models: [
        { model: 'albert', batch: 2 },
        { model: 'vgg19', batch: 4 },
      ],
    }),
  )
  return f
}
