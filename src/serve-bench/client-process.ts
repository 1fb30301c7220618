// The client side of one `eclip serve-bench` run: KServe v2 clients per model (full batches; closed loop, or open
// loop at the times of the model's arrival schedule) over the transport asked for (clients/load.ts: HTTP binary tensors, gRPC, system or CUDA shared memory), the warm-up, and
// the window's edges as /metrics readings. By default it runs in a child process of its own (`eclip
// serve-bench-clients`, spoken to over Node's IPC channel), so that the server's event loop and heap are the
// server's alone: with the clients in the server's process, the bench measured the clients' HTTP work, copies and
// garbage collection as the server's (92% busy on the H100 with mix3 at batch 8).
import { type ChildProcess, spawn } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { ModelIO } from '../serve/io-specs.ts'
import { KserveClient } from '../serve/kserve/client.ts'
import type { Datatype } from '../serve/kserve/datatypes.ts'
import { type Call, type LoadGen, openClients, type SendPlan, type Transport } from './clients/index.ts'

export type { Call } from './clients/index.ts'

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
  warmupS: number
  windowS: number
  seed: number
  inputDatatype?: Datatype
  /** Wait for the first energy reading in /metrics before starting (the GPU backend's first NVML poll). */
  waitForEnergy: boolean
  /** How requests reach the server (default http). */
  transport?: Transport
  /** host:port of the server's gRPC listener (the grpc transport). */
  grpcAddress?: string
}

/** A /metrics reading: its time (the midpoint of the request, ms on the calls' time base) and samples by name. */
export interface Scrape {
  atMs: number
  metrics: Map<string, { value: number; labels: string }>
}

export interface ClientOutcome {
  calls: Call[][]
  first: Scrape
  last: Scrape
}

/**
 * What the clients report as they go: readiness seen, clients open (connections made, regions registered), and the
 * window's edges (the server measures between them).
 */
export type ClientEvent = 'ready' | 'clients-open' | 'window-start' | 'window-end'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)))

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

/**
 * Waits for readiness, opens the clients, drives every model for warm-up + window, reads /metrics at the window's
 * edges. `onHelper` learns the pids of processes doing the clients' work besides this one (the cuda-shm client).
 */
export async function driveClients(
  spec: ClientSpec,
  onEvent: (e: ClientEvent) => void = () => {},
  onHelper: (pids: number[]) => void = () => {},
): Promise<ClientOutcome> {
  const { url } = spec
  const client = new KserveClient(url)
  let load: LoadGen | null = null
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
    while (spec.waitForEnergy && !(await hasEnergy())) {
      if (performance.now() > deadline) throw new Error(`${url}: no GPU energy reading after 60 s`)
      await sleep(50)
    }
    onEvent('ready')
    load = await openClients({
      transport: spec.transport ?? 'http',
      url,
      ...(spec.grpcAddress ? { grpcAddress: spec.grpcAddress } : {}),
      models: spec.models,
      concurrency: spec.concurrency,
      ...(spec.plans ? { plans: spec.plans } : {}),
      ...(spec.maxOutstanding ? { maxOutstanding: spec.maxOutstanding } : {}),
      seed: spec.seed,
      ...(spec.inputDatatype ? { inputDatatype: spec.inputDatatype } : {}),
    })
    if (load.pids.length > 0) onHelper(load.pids)
    onEvent('clients-open')
    // times from here: the request log's and the window's time base (as eclip bench's: warm-up, then the window)
    const t0 = performance.now()
    const at = () => performance.now() - t0
    load.start(at)
    // the window's edges are the /metrics readings (their midpoints), so energy and requests cover the same span
    const scrape = async (): Promise<Scrape> => {
      const before = at()
      const r = await client.get('/metrics')
      if (r.status !== 200) throw new Error(`/metrics answered ${r.status}`)
      return { atMs: (before + at()) / 2, metrics: parseMetrics(r.body.toString('utf8')) }
    }
    await sleep(spec.warmupS * 1000)
    const first = await scrape()
    onEvent('window-start')
    await sleep(spec.windowS * 1000 - (at() - first.atMs))
    const last = await scrape()
    onEvent('window-end')
    const calls = await load.stop()
    return { calls, first, last }
  } finally {
    await load?.close()
    client.close()
  }
}

// ── the child process ───────────────────────────────────────────────────────────────────────────────────────────
type ToClients = { type: 'start'; spec: ClientSpec }
type FromClients =
  | { type: 'event'; event: ClientEvent }
  | { type: 'helpers'; pids: number[] }
  | { type: 'done'; outcome: ClientOutcome }
  | { type: 'error'; message: string }

/** The CLI that can run `serve-bench-clients`: this bundle (on the GPU machine), or bin/eclip.mjs from the sources. */
function cliEntry(): string {
  const self = fileURLToPath(import.meta.url)
  return self.endsWith('.ts') ? join(import.meta.dirname, '..', '..', 'bin', 'eclip.mjs') : self
}

/**
 * Runs `driveClients` in a child process (`eclip serve-bench-clients`). Rejects if the clients fail or the child
 * dies; the child is gone when this settles (and dies with its parent: the IPC channel closing ends it).
 */
export class ClientProcess {
  private readonly child: ChildProcess
  private readonly exited: Promise<void>
  private settle: { resolve: (o: ClientOutcome) => void; reject: (e: Error) => void } | null = null
  private onEvent: (e: ClientEvent) => void = () => {}
  /** Processes the clients started to do their work (the cuda-shm client), once they are open. */
  helperPids: number[] = []

  /** Spawned early: the CLI's start-up (a second or so from the sources) overlaps the server's. */
  constructor() {
    this.child = spawn(process.execPath, [cliEntry(), 'serve-bench-clients'], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'advanced', // Maps and typed arrays as they are
    })
    this.child.on('message', (m: FromClients) => {
      if (m.type === 'event') this.onEvent(m.event)
      else if (m.type === 'helpers') this.helperPids = m.pids
      else if (m.type === 'done') this.settle?.resolve(m.outcome)
      else this.settle?.reject(new Error(`serve-bench clients: ${m.message}`))
      if (m.type === 'done' || m.type === 'error') this.settle = null
    })
    this.exited = new Promise((resolve) =>
      this.child.once('exit', (code, signal) => {
        this.settle?.reject(
          new Error(
            `the serve-bench client process exited (${signal ? `signal ${signal}` : `code ${code}`}) before it finished`,
          ),
        )
        this.settle = null
        resolve()
      }),
    )
    this.child.on('error', (err) => {
      this.settle?.reject(new Error(`cannot start the serve-bench client process: ${err.message}`))
      this.settle = null
    })
  }

  get pid(): number | undefined {
    return this.child.pid
  }

  run(spec: ClientSpec, onEvent: (e: ClientEvent) => void): Promise<ClientOutcome> {
    this.onEvent = onEvent
    return new Promise((resolve, reject) => {
      this.settle = { resolve, reject }
      this.child.send({ type: 'start', spec } satisfies ToClients)
    })
  }

  async close(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill()
    await this.exited
  }
}

/** `eclip serve-bench-clients` (hidden): the child's side; one run, then exit. */
export function clientProcessMain(): void {
  if (!process.send)
    throw new Error('serve-bench-clients runs as the child of eclip serve-bench (IPC channel)')
  process.on('disconnect', () => process.exit(0)) // the parent is gone (or has everything)
  // stopped by the parent (a failed run): exit through 'exit' handlers, which remove the shm clients' files
  process.once('SIGTERM', () => process.exit(143))
  const last = (m: FromClients) => process.send?.(m, undefined, {}, () => process.disconnect())
  process.once('message', (m: ToClients) => {
    driveClients(
      m.spec,
      (event) => process.send?.({ type: 'event', event } satisfies FromClients),
      (pids) => process.send?.({ type: 'helpers', pids } satisfies FromClients),
    ).then(
      (outcome) => last({ type: 'done', outcome }),
      (err: unknown) => last({ type: 'error', message: err instanceof Error ? err.message : String(err) }),
    )
  })
}
