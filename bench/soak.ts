// Soak of `eclip serve` on the simulator (issue #21): the real CLI in its own process, loaded open-loop at a share
// of its capacity (found first with a closed loop, or given) for a long time with good requests — JSON, binary
// tensors, gzip, shared memory — and bad ones (malformed JSON, wrong shapes and datatypes, too many items, unknown
// models, bodies over the limit, unsupported content types, broken binary headers, unknown shm regions, gzip that
// is not), while the server's RSS, V8 heap (and, every --gc-every s, its live heap after a full collection) and
// event-loop delay are sampled every second from inside it (bench/serve-probe.mjs). Passes when nothing is lost
// (every request answered; every good one 200, every bad one its own 4xx — or 429 if its model's queue was full at
// that moment), the server's own success count agrees, the memory is flat (least-squares slopes after the first
// --settle s, MB/min: the live heap's under --max-slope, RSS's under --max-rss-slope) and the server exits 0 on
// SIGTERM. Run by scripts/soak.sh (CI: a short form).
//
// node --import tsx bench/soak.ts [--duration 600] [--load 0.8] [--bad-fraction 0.2] [--workload text|image]
//   [--capacity NAME=RATE,...] [--capacity-duration 8] [--settle S] [--gc-every S] [--max-slope MB/min]
//   [--max-rss-slope MB/min] [--queue-size N] [--seed 1] [--client-idle-ms 4000] [--frontends N]
//   [--scrape-every S] [--cli PATH/bin/eclip.mjs] [--out DIR]
// --scrape-every: GET /metrics that often during the run, as a Prometheus would (default: only before and after).
// --client-idle-ms: clients close a connection idle this long (0: never, leaving it to the server; serve-load.ts
// sender says why that loses requests).
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import {
  badKinds,
  findCapacity,
  fitLine,
  fmt,
  goodKinds,
  goodPicker,
  metricSum,
  openLoop,
  type ProbeSample,
  parseCapacity,
  pctMs,
  picker,
  type RequestKind,
  type RunStats,
  rng,
  ServerUnderTest,
  sender,
  tally,
  WORKLOADS,
} from './serve-load.ts'

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '600' },
    load: { type: 'string', default: '0.8' },
    'bad-fraction': { type: 'string', default: '0.2' },
    workload: { type: 'string', default: 'text' },
    capacity: { type: 'string' },
    'capacity-duration': { type: 'string', default: '8' },
    settle: { type: 'string' },
    'max-slope': { type: 'string' },
    seed: { type: 'string', default: '1' },
    'client-idle-ms': { type: 'string', default: '4000' },
    'gc-every': { type: 'string' },
    'max-rss-slope': { type: 'string' },
    'queue-size': { type: 'string' },
    'scrape-every': { type: 'string', default: '0' },
    frontends: { type: 'string' },
    cli: { type: 'string' },
    out: { type: 'string' },
  },
})

const durationS = Number(args.duration)
const load = Number(args.load)
const badFraction = Number(args['bad-fraction'])
const seed = Number(args.seed)
const base = WORKLOADS[args.workload as string]
if (!base) throw new Error(`--workload: one of ${Object.keys(WORKLOADS).join(', ')}`)
const w =
  args['queue-size'] !== undefined
    ? { ...base, models: base.models.map((m) => ({ ...m, queueSize: Number(args['queue-size']) })) }
    : base
if (!(durationS > 0) || !(load > 0) || !(badFraction >= 0 && badFraction < 1))
  throw new Error('--duration > 0, --load > 0, 0 <= --bad-fraction < 1')
// the memory fits leave out the start, while V8's heap and the allocator grow to their working size
const settleS =
  args.settle !== undefined ? Number(args.settle) : Math.min(120, Math.max(15, durationS * 0.25))
const scrapeS = Number(args['scrape-every'])
const gcEveryS = args['gc-every'] !== undefined ? Number(args['gc-every']) : durationS >= 300 ? 10 : 5
// bounds on the slopes after the start, MB/min: the live heap (after a full collection) is what a leak grows, and
// it is steady enough to hold to a bound even in a short run (a loose one there: a few samples; a leak of 1 KB a
// request at a few hundred requests per second is tens of MB/min); RSS follows V8's and the allocator's sizing as
// well, so it is held to one only in a long run
const maxSlope = args['max-slope'] !== undefined ? Number(args['max-slope']) : durationS >= 300 ? 1 : 20
const maxRssSlope =
  args['max-rss-slope'] !== undefined ? Number(args['max-rss-slope']) : durationS >= 300 ? 5 : Infinity
const log = (s: string) => console.log(`soak: ${s}`)

const server = await ServerUnderTest.start(w, {
  ...(args.cli ? { cli: resolve(args.cli) } : {}),
  ...(args.frontends !== undefined ? { frontends: Number(args.frontends) } : {}),
  seed,
  ...(gcEveryS > 0 ? { gcEveryS } : {}),
})
log(`eclip serve pid ${server.pid} at ${server.url}; workload ${w.name}: ${w.description}`)
const s = sender(server.url, { idleMs: Number(args['client-idle-ms']) })
const goods = w.models.flatMap((m, i) => goodKinds(m, seed + i, server.shm.get(m.name)))
const bads = badFraction > 0 ? badKinds(w.models[0] as (typeof w.models)[0], w.maxBodyBytes, seed + 50) : []
const kinds: RequestKind[] = [...goods, ...bads]
if (w.models.some((m) => m.encodings.shm) && server.shm.size === 0)
  log('no /dev/shm here: shared-memory requests left out')

let capacity: Map<string, number>
if (args.capacity) {
  capacity = parseCapacity(args.capacity, w.models)
  log(`capacity given: ${[...capacity].map(([n, r]) => `${n} ${fmt(r)}/s`).join(', ')}`)
} else {
  const capS = Number(args['capacity-duration'])
  capacity = await findCapacity(s, w, goods, { warmupS: Math.min(2, capS / 4), durationS: capS, seed })
  log(
    `capacity (closed loop, ${capS} s, every model at once): ${[...capacity].map(([n, r]) => `${n} ${fmt(r)}/s`).join(', ')}`,
  )
}

const streams: { rate: number; pick: () => RequestKind }[] = w.models.map((m, i) => ({
  rate: load * (capacity.get(m.name) as number),
  pick: goodPicker(goods, m, seed + 200 + i),
}))
const goodRate = streams.reduce((a, x) => a + x.rate, 0)
if (bads.length > 0) {
  // bodies over the limit are a megabyte or more each: one in twenty bad requests
  const weighted = bads.map((k) => ({ item: k, weight: k.name === 'bad/oversize-body' ? 0.5 : 1 }))
  streams.push({
    rate: (goodRate * badFraction) / (1 - badFraction),
    pick: picker(weighted, rng(seed + 300)),
  })
}
if (scrapeS > 0) log(`/metrics scraped every ${scrapeS} s during the run`)
log(
  `open loop for ${durationS} s: good ${fmt(goodRate)} req/s (${load} of capacity)` +
    (bads.length > 0 ? `, bad ${fmt((streams.at(-1) as { rate: number }).rate)} req/s` : '') +
    `; ${kinds.length} request kinds; memory fit after ${settleS} s`,
)

const load0 = loadavg()
const before = await server.metrics()
const cpu0 = server.cpuS()
const t0 = Date.now()
// a Prometheus of sorts, if asked: /metrics every --scrape-every s during the run
let scrapes = 0
const scraper =
  scrapeS > 0
    ? setInterval(() => {
        server.metrics().then(
          () => scrapes++,
          () => {},
        )
      }, scrapeS * 1000)
    : undefined
const run: RunStats = await openLoop(s, streams, { durationS, seed: seed + 400, kinds })
clearInterval(scraper)
const serverCpuS = server.cpuS() - cpu0
const load1 = loadavg()
const after = await server.metrics()
const samples = server.samples().filter((x: ProbeSample) => x.pid === server.pid && x.t >= t0)
s.agent.destroy()
const exitCode = await server.stop()

// ── verdict ──────────────────────────────────────────────────────────────────────────────────────────────────
const t = tally(run.kinds.values())
const { sent, lost, goodOk, goodSent, bad429, cutOff } = t
const problems = [...t.problems]
const rows = [...run.kinds.values()].map((st) => {
  const got: Record<string, number> = Object.fromEntries([...st.statuses].sort((a, b) => a[0] - b[0]))
  const cut = t.cutOffByKind.get(st.kind.name) ?? 0
  if (cut > 0) got.cutOff = cut
  return (
    `  ${st.kind.name.padEnd(30)} sent ${String(st.sent).padStart(8)}  statuses ${JSON.stringify(got)}` +
    `  p50/p99 ${fmt(pctMs(st.latency, 50), 2)}/${fmt(pctMs(st.latency, 99), 2)} ms`
  )
})
if (run.notSent > 0) problems.push(`${run.notSent} requests not sent (the generator had too many in flight)`)
const serverOk =
  metricSum(after, 'nv_inference_request_success') - metricSum(before, 'nv_inference_request_success')
if (serverOk !== goodOk) problems.push(`the server counted ${serverOk} successes, the clients ${goodOk}`)
if (exitCode !== 0) problems.push(`eclip serve exited ${exitCode} after SIGTERM`)

const measured = samples.filter((x) => x.t >= t0 + settleS * 1000)
const minutes = measured.map((x) => (x.t - t0) / 60_000)
const rss = fitLine(
  minutes,
  measured.map((x) => x.rssMB),
)
const lives = measured.filter((x) => x.liveMB !== undefined)
const live = fitLine(
  lives.map((x) => (x.t - t0) / 60_000),
  lives.map((x) => x.liveMB as number),
)
const ext = fitLine(
  minutes,
  measured.map((x) => x.externalMB),
)
if (measured.length < 10) problems.push(`only ${measured.length} memory samples after the first ${settleS} s`)
else if (!(rss.slope <= maxRssSlope))
  problems.push(`RSS grows ${fmt(rss.slope, 2)} MB/min after the first ${settleS} s (bound ${maxRssSlope})`)
if (gcEveryS > 0) {
  if (lives.length < 3) problems.push(`only ${lives.length} live-heap samples after the first ${settleS} s`)
  else if (!(live.slope <= maxSlope))
    problems.push(
      `the live heap grows ${fmt(live.slope, 2)} MB/min after the first ${settleS} s (bound ${maxSlope})`,
    )
}
const el = {
  maxMs: Math.max(...samples.map((x) => x.elMaxMs)),
  p99OfSecondsMs: quantile(
    samples.map((x) => x.elP99Ms),
    0.99,
  ),
  medianP99Ms: quantile(
    samples.map((x) => x.elP99Ms),
    0.5,
  ),
  meanMs: samples.reduce((a, x) => a + x.elMeanMs, 0) / Math.max(1, samples.length),
}
const perSecondOk = run.seconds.slice(1, -1).map((x) => x.ok)

log(
  `${sent} requests in ${fmt(run.wallS)} s (${fmt(sent / durationS)} req/s offered), ${lost} lost` +
    (cutOff > 0
      ? `; ${cutOff} bodies over the limit cut off by the server's reset before its 413 was read (not counted as lost)`
      : ''),
)
for (const r of rows) console.log(r)
log(
  `good: ${goodOk} of ${goodSent} answered 200 (${fmt(goodOk / durationS)}/s; per second min ${Math.min(...perSecondOk)}, median ${quantile(perSecondOk, 0.5)}); bad answered 429 (queue full): ${bad429}`,
)
log(
  `server CPU ${fmt((serverCpuS / run.wallS) * 100, 0)}% of a core, generator ${fmt((run.clientCpuS / run.wallS) * 100, 0)}%; ` +
    `send lag p99 ${fmt(pctMs(run.sendLag, 99), 2)} ms; most in flight ${run.maxInFlight}`,
)
const first = measured.slice(0, 60).map((x) => x.rssMB)
const last = measured.slice(-60).map((x) => x.rssMB)
log(
  `memory after ${settleS} s: RSS ${fmt(quantile(first, 0.5))} → ${fmt(quantile(last, 0.5))} MB (medians of the first and last minute), ` +
    `slope ${fmt(rss.slope, 2)} MB/min; live heap ${lives.length > 0 ? `${fmt(lives[0]?.liveMB as number)} → ${fmt(lives.at(-1)?.liveMB as number)} MB, slope ${fmt(live.slope, 2)} MB/min (${lives.length} full collections)` : 'not sampled'}; ` +
    `external ${fmt(ext.slope, 2)} MB/min`,
)
log(
  `machine: ${cpus().length} cores, load average (1 min) ${fmt(load0[0] as number, 2)} at the start, ${fmt(load1[0] as number, 2)} at the end`,
)
log(
  `event loop delay: max ${fmt(el.maxMs)} ms, per-second p99 median ${fmt(el.medianP99Ms, 2)} ms (99th pct of seconds ${fmt(el.p99OfSecondsMs, 2)} ms), mean ${fmt(el.meanMs, 2)} ms`,
)

if (args.out) {
  const dir = resolve(args.out)
  mkdirSync(dir, { recursive: true })
  writeFileSync(
    join(dir, 'soak.json'),
    `${JSON.stringify(
      {
        workload: w,
        durationS,
        load,
        badFraction,
        seed,
        capacity: Object.fromEntries(capacity),
        kinds: [...run.kinds.values()].map((st) => ({
          name: st.kind.name,
          expect: st.kind.expect,
          sent: st.sent,
          statuses: Object.fromEntries(st.statuses),
          errors: Object.fromEntries(st.errors),
          p50Ms: pctMs(st.latency, 50),
          p99Ms: pctMs(st.latency, 99),
        })),
        lost,
        cutOff,
        scrapeEveryS: scrapeS,
        scrapes,
        loadAverage: { start: load0, end: load1 },
        cores: cpus().length,
        serverCpuS,
        clientCpuS: run.clientCpuS,
        memory: {
          settleS,
          gcEveryS,
          rssSlopeMBPerMin: rss.slope,
          liveHeapSlopeMBPerMin: live.slope,
          externalSlopeMBPerMin: ext.slope,
        },
        eventLoop: el,
        seconds: run.seconds,
        samples,
        problems,
      },
      null,
      1,
    )}\n`,
  )
  log(`wrote ${join(dir, 'soak.json')}`)
}
if (problems.length > 0) {
  log(`FAILED: ${problems.join('; ')}`)
  process.exit(1)
}
log('ok')

function quantile(xs: number[], q: number): number {
  if (xs.length === 0) return Number.NaN
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] as number
}
