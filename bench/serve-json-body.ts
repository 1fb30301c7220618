// Issue #21's case: large legal JSON infer bodies against a server on the simulator, in this process. While `--count`
// JSON bodies of `--mb` MB each are sent at once, a probe asks /v2/health/live every 5 ms: the worst time between two
// of its answers is how long the event loop (every other request) was held; the process's peak resident memory is
// read at the end. Then what the big requests were answered. --root CHECKOUT measures another checkout's server
// (before/after comparisons).
//
// Run: node --import tsx bench/serve-json-body.ts [--mb 62] [--count 1] [--root DIR]
import http from 'node:http'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'

const { values: args } = parseArgs({
  options: {
    mb: { type: 'string', default: '62' },
    count: { type: 'string', default: '1' },
    root: { type: 'string' },
  },
})
const root = resolve(args.root ?? join(import.meta.dirname, '..'))
// a serving process's heap growing factor, as eclip serve sets it (where the checkout measured has src/serve/heap.ts)
await import(join(root, 'src/serve/heap.ts')).then(
  (m: typeof import('../src/serve/heap.ts')) => m.applyServingHeapGrowth(),
  () => undefined,
)
const { EclipServer } = await import(join(root, 'src/serve/server.ts'))
const { SimServeBackend } = await import(join(root, 'src/serve/sim-backend.ts'))
const { fixedComputeTimes } = await import(join(root, 'src/serve/compute-time.ts'))
const { zooIO } = await import(join(root, 'src/serve/io-specs.ts'))

const times = new Map([['resnet152', { us: 1000, source: 'bench' }]])
const server = new EclipServer({
  models: [
    {
      name: 'resnet152',
      model: 'resnet152',
      version: '1',
      batch: 256,
      dtype: 'fp16',
      io: zooIO('resnet152', 'fp16'),
    },
  ],
  workerOptions: new Map([['resnet152', { queueSize: 64, timeoutMs: 60_000, maxDynamicBatch: 1 }]]),
  backend: new SimServeBackend(fixedComputeTimes(times)),
  computeSources: times,
  maxBodyBytes: 64 * 1024 * 1024,
  dashboard: false,
  logger: false,
})
await server.load()
const url = new URL(await server.listen(0, '127.0.0.1'))

// a legal JSON body of about --mb MB: n images of 0.123 (6 characters an element)
const perImage = 3 * 224 * 224
const n = Math.max(1, Math.round((Number(args.mb) * 2 ** 20) / (perImage * 6)))
const text = `{"inputs":[{"name":"input","datatype":"FP16","shape":[${n},3,224,224],"data":[${new Array(n * perImage).fill('0.123').join(',')}]}]}`
const body = Buffer.from(text)
const agent = new http.Agent({ keepAlive: true })
const send = (path: string, method: string, payload?: Buffer) =>
  new Promise<{ status: number; text: string }>((done) => {
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        path,
        method,
        agent,
        headers: payload
          ? { 'content-type': 'application/json', 'content-length': String(payload.length) }
          : {},
      },
      (res) => {
        let t = ''
        res.on('data', (d) => {
          t += d
        })
        res.on('end', () => done({ status: res.statusCode ?? 0, text: t.slice(0, 200) }))
      },
    )
    req.on('error', (e) => done({ status: 0, text: e.message }))
    req.end(payload)
  })

let worstProbeMs = 0
let probing = true
const probe = (async () => {
  // the worst gap between two answered probes (a probe's sleep included): how long nothing else was served
  let last = performance.now()
  while (probing) {
    await send('/v2/health/live', 'GET')
    const now = performance.now()
    worstProbeMs = Math.max(worstProbeMs, now - last)
    last = now
    await new Promise((r) => setTimeout(r, 5))
  }
})()
const rss0 = process.resourceUsage().maxRSS
const t0 = performance.now()
const answers = await Promise.all(
  Array.from({ length: Number(args.count) }, () => send('/v2/models/resnet152/infer', 'POST', body)),
)
const ms = performance.now() - t0
await new Promise((r) => setTimeout(r, 50))
probing = false
await probe
agent.destroy()
await server.close()
console.log(
  JSON.stringify({
    root,
    bodyMB: Number((body.length / 2 ** 20).toFixed(1)),
    count: Number(args.count),
    answeredMs: Math.round(ms),
    statuses: answers.map((a) => a.status),
    first: answers[0]?.text,
    worstProbeMs: Math.round(worstProbeMs),
    // the peak's growth while the requests ran (over the body built above), MB
    peakRssGrowthMB: Math.round((process.resourceUsage().maxRSS - rss0) / 1024),
  }),
)
