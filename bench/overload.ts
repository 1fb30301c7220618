// Goodput under overload (issue #21): `eclip serve` on the simulator, its capacity found first (a closed loop on
// every model at once, or given), then offered open-loop load at rising multiples of it — seeded Poisson arrivals
// per model, sent whatever the server answers, so a 429's Retry-After is ignored as careless clients ignore it —
// each level for a warm-up and a window, one server throughout. Per level: offered rate, goodput (200s per second in
// the window), 429s, anything else, latency of the 200s, the server's and the generator's CPU, the server's event
// loop. The target: at every level at or above capacity the server keeps serving at least --target (0.9) of its
// capacity and sheds the rest. Exit 1 when it does not, or when any request is lost (no answer at all).
//
// node --import tsx bench/overload.ts [--workload text|image] [--levels 0.5,1,1.5,2,3,4] [--duration 15]
//   [--warmup 3] [--capacity NAME=RATE,...] [--capacity-duration 8] [--queue-size 64] [--target 0.9] [--seed 1]
//   [--recapacity] [--client-idle-ms 4000] [--frontends N] [--cli PATH/bin/eclip.mjs] [--out DIR]
// --recapacity: the capacity measured again before every level, each level offered and judged against its own (on a
// machine whose other jobs come and go, so a level and the capacity it is compared with see the same machine).
// The server's CPU per answer is fitted over the levels (seconds = a × 200s + b × 429s): what a 200 and a refusal
// cost it, whatever else ran, and from those the load at which one core would be spent.
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { join, resolve } from 'node:path'
import { createHistogram } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import {
  findCapacity,
  fmt,
  goodKinds,
  goodPicker,
  openLoop,
  parseCapacity,
  pctMs,
  ServerUnderTest,
  sender,
  WORKLOADS,
} from './serve-load.ts'

const { values: args } = parseArgs({
  options: {
    workload: { type: 'string', default: 'text' },
    levels: { type: 'string', default: '0.5,1,1.5,2,3,4' },
    duration: { type: 'string', default: '15' },
    warmup: { type: 'string', default: '3' },
    capacity: { type: 'string' },
    'capacity-duration': { type: 'string', default: '8' },
    'queue-size': { type: 'string', default: '64' },
    recapacity: { type: 'boolean', default: false },
    target: { type: 'string', default: '0.9' },
    seed: { type: 'string', default: '1' },
    'client-idle-ms': { type: 'string', default: '4000' },
    frontends: { type: 'string' },
    cli: { type: 'string' },
    out: { type: 'string' },
  },
})

const base = WORKLOADS[args.workload as string]
if (!base) throw new Error(`--workload: one of ${Object.keys(WORKLOADS).join(', ')}`)
// the server's default queue (the soak's workloads hold more, for the machine's hiccups at 80% of capacity)
const w = { ...base, models: base.models.map((m) => ({ ...m, queueSize: Number(args['queue-size']) })) }
const levels = (args.levels as string).split(',').map(Number)
const durationS = Number(args.duration)
const warmupS = Number(args.warmup)
const target = Number(args.target)
const seed = Number(args.seed)
if (levels.some((l) => !(l > 0)) || !(durationS > 0) || !(warmupS >= 0))
  throw new Error('--levels: positive multiples of capacity; --duration > 0; --warmup >= 0')
const log = (s: string) => console.log(`overload: ${s}`)

const server = await ServerUnderTest.start(w, {
  ...(args.cli ? { cli: resolve(args.cli) } : {}),
  ...(args.frontends !== undefined ? { frontends: Number(args.frontends) } : {}),
  seed,
})
log(`eclip serve pid ${server.pid} at ${server.url}; workload ${w.name}: ${w.description}`)
log(`queues: ${w.models.map((m) => `${m.name} ${m.queueSize}`).join(', ')}; machine: ${cpus().length} cores`)
// sockets enough for every queued request and the refusals in flight, within the server's connection cap (1024)
const s = sender(server.url, { idleMs: Number(args['client-idle-ms']), maxSockets: 1000 })
const goods = w.models.flatMap((m, i) => goodKinds(m, seed + i, server.shm.get(m.name)))

const measureCapacity = () => {
  const capS = Number(args['capacity-duration'])
  return findCapacity(s, w, goods, { warmupS: Math.min(2, capS / 4), durationS: capS, seed })
}
let capacity: Map<string, number>
if (args.capacity) {
  capacity = parseCapacity(args.capacity, w.models)
} else capacity = await measureCapacity()
let total = [...capacity.values()].reduce((a, b) => a + b, 0)
log(
  `capacity ${fmt(total)} req/s (${args.capacity ? 'given' : 'closed loop, every model at once'}): ` +
    [...capacity].map(([n, r]) => `${n} ${fmt(r)}`).join(', '),
)

interface Level {
  level: number
  /** The capacity this level was offered against (req/s). */
  capacity: number
  /** 200s and 429s answered in the whole level (warm-up included), and the server's CPU over it, s. */
  ok: number
  refused: number
  serverCpuS: number
  offered: number
  goodput: number
  ofCapacity: number
  rejected: number
  other: Record<string, number>
  lost: number
  /** Requests due that the generator did not send (too many in flight): the level was not offered in full. */
  notSent: number
  p50Ms: number
  p99Ms: number
  serverCpu: number
  clientCpu: number
  eventLoopP99Ms: number
  eventLoopMaxMs: number
  load1: number
  minSecond: number
}
const results: Level[] = []
for (const [li, level] of levels.entries()) {
  if (args.recapacity && !args.capacity && li > 0) {
    capacity = await measureCapacity()
    total = [...capacity.values()].reduce((a, b) => a + b, 0)
    log(`capacity again: ${fmt(total)} req/s`)
  }
  const streams = w.models.map((m, i) => ({
    rate: level * (capacity.get(m.name) as number),
    pick: goodPicker(goods, m, seed + 1000 * (li + 1) + i),
  }))
  const t0 = Date.now()
  const cpu0 = server.cpuS()
  const run = await openLoop(s, streams, {
    durationS: warmupS + durationS,
    seed: seed + 7 * (li + 1),
    kinds: goods,
    maxInFlight: 1000,
  })
  const serverCpuS = server.cpuS() - cpu0
  const window = run.seconds.slice(Math.ceil(warmupS), Math.ceil(warmupS) + Math.floor(durationS))
  const ok = window.reduce((a, x) => a + x.ok, 0)
  let sent = 0
  let rejected = 0
  let lost = 0
  const other: Record<string, number> = {}
  const lat = createHistogram()
  for (const k of run.kinds.values()) lat.add(k.latency)
  for (const k of run.kinds.values()) {
    sent += k.sent
    for (const [st, n] of k.statuses) {
      if (st === 200) continue
      if (st === 429) rejected += n
      else if (st === 0) lost += n
      else other[String(st)] = (other[String(st)] ?? 0) + n
    }
  }
  const el = server.samples().filter((x) => x.pid === server.pid && x.t >= t0 + warmupS * 1000)
  const r: Level = {
    level,
    capacity: total,
    ok: [...run.kinds.values()].reduce((a, k) => a + (k.statuses.get(200) ?? 0), 0),
    refused: [...run.kinds.values()].reduce((a, k) => a + (k.statuses.get(429) ?? 0), 0),
    serverCpuS,
    offered: sent / (warmupS + durationS),
    goodput: ok / Math.max(1, window.length),
    ofCapacity: ok / Math.max(1, window.length) / total,
    rejected: rejected / (warmupS + durationS),
    other,
    lost,
    notSent: run.notSent,
    p50Ms: pctMs(lat, 50),
    p99Ms: pctMs(lat, 99),
    serverCpu: serverCpuS / run.wallS,
    clientCpu: run.clientCpuS / run.wallS,
    eventLoopP99Ms: Math.max(0, ...el.map((x) => x.elP99Ms)),
    eventLoopMaxMs: Math.max(0, ...el.map((x) => x.elMaxMs)),
    load1: loadavg()[0] as number,
    minSecond: Math.min(...window.map((x) => x.ok)),
  }
  results.push(r)
  log(
    `${fmt(level, 1)}× offered ${fmt(r.offered)}/s: goodput ${fmt(r.goodput)}/s = ${fmt(r.ofCapacity * 100, 0)}% of capacity ` +
      `(worst second ${r.minSecond}), 429 ${fmt(r.rejected)}/s, other ${JSON.stringify(other)}, lost ${lost}, not sent ${run.notSent}; ` +
      `200s p50/p99 ${fmt(r.p50Ms)}/${fmt(r.p99Ms)} ms; CPU server ${fmt(r.serverCpu * 100, 0)}% ` +
      `generator ${fmt(r.clientCpu * 100, 0)}%; event loop p99 ≤ ${fmt(r.eventLoopP99Ms)} ms, max ${fmt(r.eventLoopMaxMs)} ms; load ${fmt(r.load1, 2)}`,
  )
}
s.agent.destroy()
const exitCode = await server.stop()

const problems: string[] = []
for (const r of results) {
  if (r.level >= 1 && r.ofCapacity < target)
    problems.push(`${r.level}×: goodput ${fmt(r.ofCapacity * 100, 0)}% of capacity (target ${target * 100}%)`)
  if (r.lost > 0) problems.push(`${r.level}×: ${r.lost} requests lost`)
  if (r.notSent > 0) problems.push(`${r.level}×: ${r.notSent} requests not sent (the generator fell behind)`)
  if (Object.keys(r.other).length > 0)
    problems.push(`${r.level}×: answers other than 200/429 ${JSON.stringify(r.other)}`)
}
if (exitCode !== 0) problems.push(`eclip serve exited ${exitCode} after SIGTERM`)
console.log(
  '\n| offered (× capacity) | offered req/s | goodput req/s | of capacity | 429/s | 200s p50 / p99 ms | server CPU | generator CPU |',
)
console.log('|---:|---:|---:|---:|---:|---:|---:|---:|')
for (const r of results)
  console.log(
    `| ${r.level} | ${fmt(r.offered, 0)} | ${fmt(r.goodput, 0)} | ${fmt(r.ofCapacity * 100, 0)}% | ${fmt(r.rejected, 0)} | ` +
      `${fmt(r.p50Ms)} / ${fmt(r.p99Ms)} | ${fmt(r.serverCpu * 100, 0)}% | ${fmt(r.clientCpu * 100, 0)}% |`,
  )
// what a 200 and a 429 cost the server (CPU s each), by least squares over the levels, and the load one core takes
const cost = costs(results)
const first = results[0] as Level
const knee = 1 + (1 - first.capacity * cost.ok) / (first.capacity * cost.refused)
log(
  `server CPU per answer (fit over the levels): ${fmt(cost.ok * 1000, 3)} ms a 200, ${fmt(cost.refused * 1000, 3)} ms a 429; ` +
    `at ${fmt(first.capacity)} req/s of 200s one core is spent at ${fmt(knee, 1)}× capacity`,
)
if (args.out) {
  const dir = resolve(args.out)
  mkdirSync(dir, { recursive: true })
  writeFileSync(
    join(dir, 'overload.json'),
    `${JSON.stringify({ workload: w, capacity: Object.fromEntries(capacity), target, durationS, warmupS, seed, results, cpuPerAnswerS: cost, oneCoreAtLevel: knee, problems }, null, 1)}\n`,
  )
  log(`wrote ${join(dir, 'overload.json')}`)
}
if (problems.length > 0) {
  log(`target not met: ${problems.join('; ')}`)
  process.exit(1)
}
log(
  `target met: goodput at or above ${target * 100}% of capacity at every level up to ${Math.max(...levels)}×`,
)

/** Least squares without intercept: serverCpuS ≈ ok × a + refused × b over the levels. */
function costs(rs: Level[]): { ok: number; refused: number } {
  let s11 = 0
  let s12 = 0
  let s22 = 0
  let y1 = 0
  let y2 = 0
  for (const r of rs) {
    s11 += r.ok * r.ok
    s12 += r.ok * r.refused
    s22 += r.refused * r.refused
    y1 += r.ok * r.serverCpuS
    y2 += r.refused * r.serverCpuS
  }
  const det = s11 * s22 - s12 * s12
  if (det === 0) return { ok: Number.NaN, refused: Number.NaN }
  return { ok: (y1 * s22 - y2 * s12) / det, refused: (s11 * y2 - s12 * y1) / det }
}
