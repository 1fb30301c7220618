// The engine's share of the served path, without HTTP, clients or a GPU: an EclipServer in this process with the GPU
// backend adapter (src/serve/gpu-backend.ts, the real BackendProcess and frames) whose child is
// bench/serve_echo_backend.py (the real Python frame loop and Serving; echo workers, no model). Requests go to
// server.infer as a front-end hands them over on the system shared-memory path: each input in a registered region,
// its output written into the region, so only frame headers cross the pipes. Closed loop, `--concurrency` requests
// outstanding per model. Per request answered in the window: this process's CPU (the engine's event loop: the
// harness adds only the calls to server.infer), the backend process's CPU, and the read and write system calls of
// both (/proc/PID/io: the messages per request). NOT a GPU result: no model runs.
//
// --via frontend: the requests come as a front-end sends them (src/serve/frontends/: WireRequest frames on a socket
// into FrontendPool's handler, replies back the same way), from a worker thread playing the front-end; the engine's
// CPU is then its main thread's alone (/proc/PID/task/PID), the event loop.
// Run: node --import tsx bench/engine-path-bench.ts [--via direct|frontend] [--root CHECKOUT]
//      [--models alexnet,alexnet,alexnet] [--concurrency 4] [--duration 5] [--warmup 1] [--backend echo|instant]
//      [--service-us 0]
// --backend instant: bench/instant_backend.py answers every infer at once (no Serving, no threads), so the server's
// event loop is what saturates, as on the GPU machine at batch 1 with small models.
// --service-us S: the echo backend's requests take S µs of service each (ECLIP_ECHO_SERVICE_US), replies spread out
// at a GPU's pace rather than coalesced.
// --root: measure another checkout's server and Python backend (A/B: run both in turn, same flags).
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { connect, createServer, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads'

// the worker thread plays the front-end and never runs the rest (its socket keeps it alive until terminated)
if (!isMainThread) await frontEnd().then(() => new Promise(() => {}))

const { values: args } = parseArgs({
  options: {
    root: { type: 'string', default: resolve(import.meta.dirname, '..') },
    models: { type: 'string', default: 'alexnet,alexnet,alexnet' },
    concurrency: { type: 'string', default: '4' },
    duration: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '1' },
    backend: { type: 'string', default: 'echo' },
    via: { type: 'string', default: 'direct' },
    'service-us': { type: 'string', default: '0' },
  },
})
const root = resolve(args.root)
process.env.ECLIP_ECHO_SERVICE_US = args['service-us']
// a serving process's heap growing factor, as eclip serve sets it (where the checkout measured has src/serve/heap.ts)
await import(`${root}/src/serve/heap.ts`).then(
  (m: typeof import('../src/serve/heap.ts')) => m.applyServingHeapGrowth(),
  () => undefined,
)
// the modules of the checkout measured (typed as this one's)
const { EclipServer } = (await import(
  `${root}/src/serve/server.ts`
)) as typeof import('../src/serve/server.ts')
const { GpuServeBackend } = (await import(
  `${root}/src/serve/gpu-backend.ts`
)) as typeof import('../src/serve/gpu-backend.ts')
const { backendPython, servedModels } = (await import(
  `${root}/test/serve/helpers.ts`
)) as typeof import('../test/serve/helpers.ts')

const conc = Number(args.concurrency)
const names = args.models.split(',').map((m, i) => ({ name: `${m}-${i}`, model: m }))
const { models, opts } = servedModels(
  names.map((n) => ({ ...n, batch: 1, maxDynamicBatch: 1, queueSize: 4096 })),
)
// --backend instant: this checkout's bench/instant_backend.py (answers at once), whatever --root is: the server alone
const script =
  args.backend === 'instant'
    ? resolve(import.meta.dirname, 'instant_backend.py')
    : `${root}/bench/serve_echo_backend.py`
const backend = new GpuServeBackend({ python: backendPython({ script }), transport: 'pipe' })
const server = new EclipServer({ models, workerOptions: opts, backend, logger: false })
await server.load()

// one region: per model and slot an input and an output span
const spec = (m: (typeof models)[number]) => {
  const i = m.io.inputs[0] as (typeof m.io.inputs)[number]
  const o = m.io.outputs[0] as (typeof m.io.outputs)[number]
  const bytes = (t: { shape: number[] }) => t.shape.slice(1).reduce((a: number, b: number) => a * b, 1) * 2
  return {
    inName: i.name,
    inShape: [1, ...i.shape.slice(1)],
    inBytes: bytes(i),
    outName: o.name,
    outBytes: bytes(o),
  }
}
const specs = models.map(spec)
const slotBytes = specs.map((s) => s.inBytes + s.outBytes)
const total = slotBytes.reduce((a, b) => a + b, 0) * conc
const key = `/eclip-engine-bench-${process.pid}`
writeFileSync(`/dev/shm${key}`, Buffer.alloc(total))
await server.registerSystemShm('bench', { key, offset: 0, byteSize: total })
const region = server.regions.region('bench') as NonNullable<ReturnType<typeof server.regions.region>>

const pid = backend.process?.pid as number
const io = (p: number | 'self') => {
  const t = readFileSync(`/proc/${p}/io`, 'utf8')
  const n = (k: string) => Number(new RegExp(`${k}: (\\d+)`).exec(t)?.[1] ?? 0)
  return { r: n('syscr'), w: n('syscw') }
}
const backendCpuS = () => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
  return (Number(f[11]) + Number(f[12])) / 100 // utime + stime, clock ticks (100 Hz)
}

let counting = false
let done = 0
let errors = 0
let stop = false
const service = models.map((m) => server.models().find((s: { name: string }) => s.name === m.name))
let base = 0
const loops: Promise<void>[] = []
const slots: { model: string; s: ReturnType<typeof spec>; at: number }[] = []
for (const [mi, m] of models.entries()) {
  const s = specs[mi] as ReturnType<typeof spec>
  for (let k = 0; k < conc; k++) {
    const at = base
    base += s.inBytes + s.outBytes
    slots.push({ model: m.name, s, at })
    if (args.via === 'frontend') continue
    loops.push(
      (async () => {
        while (!stop) {
          const req: import('../src/serve/kserve/tensors.ts').DecodedRequest = {
            batch: 1,
            inputs: [
              {
                name: s.inName,
                datatype: 'FP16' as const,
                shape: s.inShape,
                data: Buffer.alloc(0),
                shm: { region, offset: at, bytes: s.inBytes },
              },
            ],
            outputs: [
              { name: s.outName, binary: true, shm: { region, offset: at + s.inBytes, bytes: s.outBytes } },
            ],
            binaryOutputs: true,
            parameters: {},
          }
          try {
            await server.infer(service[mi] as (typeof service)[number] & object, req, performance.now())
            if (counting) done++
          } catch {
            errors++
          }
        }
      })(),
    )
  }
}
// --via frontend: a front-end's channel into the engine (FrontendPool's frame handler), the front-end a worker thread
let fe: Worker | undefined
let feCount = () => Promise.resolve(0)
if (args.via === 'frontend') {
  const { FrontendPool } = await import(`${root}/src/serve/frontends/engine.ts`)
  const { FrameChannel } = await import(`${root}/src/serve/frontends/protocol.ts`)
  const pool = new FrontendPool(server, { count: 1, port: 0, host: '127.0.0.1', stagingBytes: 0 })
  const path = join(tmpdir(), `eclip-engine-bench-${process.pid}.sock`)
  rmSync(path, { force: true })
  const listener = createServer((sock: Socket) => {
    const f: Record<string, unknown> = { index: 0, worker: {}, startedAt: Date.now(), acked: 0 }
    f.channel = new FrameChannel(sock, (h: unknown, b: Buffer) => pool.onFrame(f, h, b))
  })
  await new Promise<void>((r) => listener.listen(path, r))
  listener.unref()
  // (a thread does not inherit --import tsx: it registers tsx itself, then loads this file)
  const boot = `import('tsx/esm/api').then((t) => { t.register(); return import(${JSON.stringify(import.meta.url)}) })`
  fe = new Worker(boot, { eval: true, workerData: { root, path, slots } })
  await new Promise<void>((r) => fe?.once('message', () => r()))
  feCount = () =>
    new Promise((r) => {
      fe?.once('message', (n: number) => r(n))
      fe?.postMessage('count')
    })
}
await new Promise((r) => setTimeout(r, Number(args.warmup) * 1000))
const t0 = performance.now()
const mainCpuS = () => {
  const f =
    readFileSync(`/proc/${process.pid}/task/${process.pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
  return (Number(f[11]) + Number(f[12])) / 100
}
const main0 = mainCpuS()
const n0 = await feCount()
const cpu0 = process.cpuUsage()
const b0 = backendCpuS()
const e0 = io('self')
const p0 = io(pid)
counting = true
await new Promise((r) => setTimeout(r, Number(args.duration) * 1000))
counting = false
const cpu = process.cpuUsage(cpu0)
const mainS = mainCpuS() - main0
if (fe) done = (await feCount()) - n0
const span = (performance.now() - t0) / 1000
const b = backendCpuS() - b0
const e1 = io('self')
const p1 = io(pid)
stop = true
await Promise.all(loops)
await fe?.terminate()
const per = (x: number) => Number((x / done).toFixed(2))
const row = {
  root,
  backend: args.backend,
  models: args.models,
  concurrency: conc,
  reqPerS: Math.round(done / span),
  via: args.via,
  /** The whole process (with --via frontend: the front-end thread too), and its main thread: the event loop. */
  processUsPerReq: Math.round((cpu.user + cpu.system) / done),
  eventLoopUsPerReq: Math.round((mainS * 1e6) / done),
  backendUsPerReq: Math.round((b * 1e6) / done),
  engineSyscalls: { readsPerReq: per(e1.r - e0.r), writesPerReq: per(e1.w - e0.w) },
  backendSyscalls: { readsPerReq: per(p1.r - p0.r), writesPerReq: per(p1.w - p0.w) },
  errors,
}
console.log(JSON.stringify(row))
await server.close()
rmSync(`/dev/shm${key}`, { force: true })
process.exit(0)

/** The worker thread playing a front-end: closed loop per slot, infer frames as FrontendService sends them. */
async function frontEnd(): Promise<void> {
  const { root, path, slots } = workerData as {
    root: string
    path: string
    slots: {
      model: string
      s: { inName: string; inShape: number[]; inBytes: number; outName: string; outBytes: number }
      at: number
    }[]
  }
  // the checkout's own frames: compact headers where its protocol has them (inferHeader), objects before
  const { FrameChannel, inferHeader, frontendFrame } = await import(`${root}/src/serve/frontends/protocol.ts`)
  // arrival times as the checkout's front-ends send them: on the monotonic clock where it has toMonotonicMs, else as
  // wall-clock epoch ms (as do the checkouts old enough to send object frames, in receivedAtEpochMs)
  const clock = existsSync(`${root}/src/clock.ts`) ? await import(`${root}/src/clock.ts`) : {}
  const arrival: () => number = clock.toMonotonicMs
    ? () => clock.toMonotonicMs(performance.now())
    : () => performance.timeOrigin + performance.now()
  const sock = connect(path)
  await new Promise((r) => sock.once('connect', r))
  let answered = 0
  let next = 0
  const bySlot = new Map<number, number>()
  const send = (k: number) => {
    const { model, s, at } = slots[k] as (typeof slots)[number]
    const id = ++next
    bySlot.set(id, k)
    const req = {
      batch: 1,
      inputs: [
        {
          name: s.inName,
          datatype: 'FP16',
          shape: s.inShape,
          shm: { region: 'bench', offset: at, bytes: s.inBytes },
        },
      ],
      outputs: [
        {
          name: s.outName,
          binary: true,
          shm: { region: 'bench', offset: at + s.inBytes, bytes: s.outBytes },
        },
      ],
      binaryOutputs: true,
      parameters: {},
    }
    const now = arrival()
    if (inferHeader) ch.send(inferHeader(id, model, req, now, []))
    else ch.send({ t: 'infer', id, model, req, receivedAtEpochMs: now })
  }
  const ch = new FrameChannel(sock, (header: unknown, body: Buffer) => {
    const h = (frontendFrame ? frontendFrame(header, body) : header) as { id: number; ok: boolean }
    const k = bySlot.get(h.id) as number
    bySlot.delete(h.id)
    if (h.ok) answered++
    send(k)
  })
  parentPort?.on('message', () => parentPort?.postMessage(answered))
  for (let k = 0; k < slots.length; k++) send(k)
  parentPort?.postMessage('started')
}
