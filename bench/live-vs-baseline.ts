// eclip-live's active sets against baseline's requests in the same sets of the same traffic, for benches recorded
// before the bench compared them itself (Run.metrics.activeSets): from a recorded results.json and its request log —
// raw (requests.csv) or compacted (requests.csv.gz, scripts/compact-request-log.py) — baseline's traffic's sets are
// rebuilt with eclip-live's hold by the bench's own functions (measure/active-set.ts, normalise), nothing re-run. A
// check rebuilds eclip-live's own requests' sets the same way and counts those in another set than the run reported
// (0: the rule rebuilds what the run followed). Then, per mix and batch across the directories given, STP and total
// requests against baseline: each run's, their mean and spread. A compacted log keeps no arrival times: each request
// counts as arriving when it started (exact for a closed loop, a queued open-loop request's wait is not seen).
//   node --import tsx bench/live-vs-baseline.ts DIR...
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { gunzipSync } from 'node:zlib'
import type { WorkerRequests } from '../src/execute/backend.ts'
import { REQUEST_LOG_HEADER, type Results, type Run, readFile } from '../src/formats/index.ts'
import { activeSetMetrics, activeSetTimeline, requestsBySet } from '../src/measure/active-set.ts'
import { normalise } from '../src/measure/metrics.ts'
import { mean, spreadOf } from '../src/measure/stats.ts'
import { policyLabel } from '../src/report/plots.ts'
import { gridTable } from '../src/report/tables.ts'

/** Per run id, per worker name: its requests in the log's order. */
export type RequestLog = Map<string, Map<string, WorkerRequests>>

const COMPACT_HEADER = 'run,worker,request,gap_us,latency_us'

/** A bench's request log, raw or compacted (the text of the file, gunzipped). */
export function parseRequestLog(text: string, where: string): RequestLog {
  const lines = text.split('\n').filter((l) => l.length > 0)
  const log: RequestLog = new Map()
  const workerOf = (run: string, worker: string) => {
    const ws = log.get(run) ?? new Map<string, WorkerRequests>()
    log.set(run, ws)
    const w = ws.get(worker) ?? { arrivalUs: [], startUs: [], endUs: [] }
    ws.set(worker, w)
    return w
  }
  const number = (x: string | undefined, line: number) => {
    const v = Number(x)
    if (x === undefined || x === '' || !Number.isFinite(v))
      throw new Error(`${where}:${line}: not a number: "${x}"`)
    return v
  }
  if (lines[0] === REQUEST_LOG_HEADER) {
    lines.slice(1).forEach((l, i) => {
      const [run, worker, , arrival, start, end] = l.split(',')
      const w = workerOf(run as string, worker as string)
      w.arrivalUs.push(number(arrival, i + 2))
      w.startUs.push(number(start, i + 2))
      w.endUs.push(number(end, i + 2))
    })
    return log
  }
  // compacted: per (run, worker), each request's start is the previous one's end plus its gap
  const runs = lines[0]?.startsWith('# runs: ') ? lines[0].slice('# runs: '.length).split(' ') : null
  if (!runs || lines[1] !== COMPACT_HEADER)
    throw new Error(
      `${where}: neither a request log ("${REQUEST_LOG_HEADER}") nor a compacted one ("# runs: …")`,
    )
  const lastEnd = new Map<WorkerRequests, number>()
  lines.slice(2).forEach((l, i) => {
    const [ri, worker, , gap, latency] = l.split(',')
    const run = runs[number(ri, i + 3)]
    if (run === undefined) throw new Error(`${where}:${i + 3}: run index ${ri} not in the runs line`)
    const w = workerOf(run, worker as string)
    const start = (lastEnd.get(w) ?? 0) + number(gap, i + 3)
    const end = start + number(latency, i + 3)
    lastEnd.set(w, end)
    w.arrivalUs.push(start)
    w.startUs.push(start)
    w.endUs.push(end)
  })
  return log
}

/** A bench directory's request log: requests.csv, else requests.csv.gz. */
export function readRequestLog(dir: string): RequestLog {
  const raw = join(dir, 'requests.csv')
  if (existsSync(raw)) return parseRequestLog(readFileSync(raw, 'utf8'), raw)
  const gz = `${raw}.gz`
  return parseRequestLog(gunzipSync(readFileSync(gz)).toString('utf8'), gz)
}

/** How a table-following run's sets rebuilt from its log compare with those it reported. */
export interface RebuildCheck {
  run: string
  /** Its requests in the window, and those the rebuilt rule puts in another set than the run's. */
  requests: number
  elsewhere: number
}

/**
 * One worker in one set, eclip-live's requests against baseline's (both by the rebuilt rule): the ratio of their
 * medians (baseline's ÷ here, as speedVsBaseline) and the half-width of a 95% interval of the ratio of their means
 * (normal approximation: each mean's standard error, combined in relative terms).
 */
export interface SetSpread {
  medianVsBaseline: number | null
  meanHalf95: number | null
}

/** A run's workers' requests from the log, in its workers' order; null where the log lacks the run. */
function requestsOf(run: Run, log: RequestLog): WorkerRequests[] | null {
  const ws = log.get(run.id)
  if (!ws) return null
  return run.workers.map((w) => ws.get(w.name) ?? { arrivalUs: [], startUs: [], endUs: [] })
}

/** `run`'s window and worker names, and its requests' times by set (`${set}|${worker}`) rebuilt with hold `holdMs`. */
function bySet(run: Run, reqs: WorkerRequests[], holdMs: number) {
  const startUs = run.warmupS * 1e6
  const names = run.workers.map((w) => w.name)
  const edges = [startUs, startUs + run.windowS * 1e6] as const
  return {
    sets: activeSetMetrics(reqs, names, holdMs * 1000, ...edges),
    times: requestsBySet(reqs, names, activeSetTimeline(reqs, names, holdMs * 1000), ...edges),
  }
}

/** The exact median; null without a value. */
function median(xs: number[]): number | null {
  if (xs.length === 0) return null
  const ys = [...xs].sort((a, b) => a - b)
  const m = ys.length >> 1
  return ys.length % 2 === 1 ? (ys[m] as number) : ((ys[m - 1] as number) + (ys[m] as number)) / 2
}

/** Relative standard error of the mean of xs; null under two values. */
export function relSe(xs: number[]): number | null {
  const m = mean(xs)
  if (m === null || xs.length < 2 || m === 0) return null
  const v = xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1)
  return Math.sqrt(v / xs.length) / m
}

function spreadOfSet(here: number[], there: number[]): SetSpread {
  const mh = median(here)
  const mt = median(there)
  const mh2 = mean(here)
  const mt2 = mean(there)
  const a = relSe(here)
  const b = relSe(there)
  return {
    medianVsBaseline: mh && mt !== null ? mt / mh : null,
    meanHalf95:
      mh2 && mt2 !== null && a !== null && b !== null ? 1.96 * (mt2 / mh2) * Math.hypot(a, b) : null,
  }
}

/** A table-following run's baseline: the same mix, batch and backend. */
const baselineOf = (runs: Run[], r: Run) =>
  runs.find(
    (b) =>
      b.role === 'mix' &&
      b.policy === 'baseline' &&
      b.mix === r.mix &&
      b.batch === r.batch &&
      b.backend === r.backend,
  )

/**
 * The runs (a copy) with baseline's traffic's sets rebuilt from the log beside each table-following run of the same
 * mix, batch and backend, all normalised (so each eclip-live set has its speedVsBaseline); each table-following run's
 * check of its own sets; and per run id and `${set}|${worker}`, the spread of the comparison.
 */
export function recompute(
  recorded: Run[],
  log: RequestLog,
): { runs: Run[]; checks: RebuildCheck[]; spreads: Map<string, Map<string, SetSpread>> } {
  const runs = structuredClone(recorded)
  const checks: RebuildCheck[] = []
  const spreads = new Map<string, Map<string, SetSpread>>()
  for (const r of runs) {
    const lv = r.metrics.live
    if (r.role !== 'mix' || !lv) continue
    const base = baselineOf(runs, r)
    const baseReqs = base ? requestsOf(base, log) : null
    const there = base && baseReqs ? bySet(base, baseReqs, lv.holdMs) : null
    if (base && there) base.metrics.activeSets = there.sets
    const own = requestsOf(r, log)
    if (!own) continue
    const here = bySet(r, own, lv.holdMs)
    let requests = 0
    let same = 0
    const spread = new Map<string, SetSpread>()
    for (const s of lv.sets)
      for (const w of s.workers) {
        requests += w.requests
        const k = `${s.key}|${w.name}`
        same += Math.min(w.requests, here.times.get(k)?.length ?? 0)
        if (there) spread.set(k, spreadOfSet(here.times.get(k) ?? [], there.times.get(k) ?? []))
      }
    checks.push({ run: r.id, requests, elsewhere: requests - same })
    spreads.set(r.id, spread)
  }
  return { runs: normalise(runs), checks, spreads }
}

const f = (v: number | null | undefined, d = 3) => (v === null || v === undefined ? '–' : v.toFixed(d))

/**
 * Per table-following run: each set's time, requests, mean request µs and speed here against baseline there (with
 * the medians' ratio and a 95% interval), and against held.
 */
export function setsText(
  label: string,
  runs: Run[],
  checks: RebuildCheck[],
  spreads: Map<string, Map<string, SetSpread>>,
): string {
  const out: string[] = []
  for (const r of runs) {
    const lv = r.metrics.live
    if (r.role !== 'mix' || !lv) continue
    const traffic = baselineOf(runs, r)?.metrics.activeSets
    const c = checks.find((x) => x.run === r.id)
    const sp = spreads.get(r.id)
    const y = r.metrics.system
    const body = lv.sets.map((s) => {
      const there = traffic?.sets.find((x) => x.key === s.key)
      const each = (g: (w: (typeof s.workers)[number], x: SetSpread | undefined) => string) =>
        s.workers.map((w) => g(w, sp?.get(`${s.key}|${w.name}`))).join(', ') || '–'
      return [
        s.key === '' ? '(none active)' : s.key,
        `${f(s.share * 100, 1)}% / ${f(there ? there.share * 100 : null, 1)}%`,
        each((w) => `${w.requests}/${w.baselineRequests ?? '–'}`),
        each((w) => `${f(w.serviceUs, 0)}/${f(w.baselineServiceUs, 0)}/${f(w.heldServiceUs, 0)}`),
        each((w, x) => `${f(w.speedVsBaseline)} ± ${f(x?.meanHalf95)}`),
        each((_, x) => f(x?.medianVsBaseline)),
        f(s.speedVsBaseline),
        f(s.speedVsHeld),
      ]
    })
    out.push(
      gridTable(
        `${label}: ${r.mix} ${policyLabel(r)} b${r.batch ?? 'mix'} [${r.backend}], seed ${r.seed}, ${+r.windowS.toFixed(3)}-s window, hold ${lv.holdMs} ms: STP ÷ baseline ${f(y?.stpVsBaseline)}, total req/s ÷ baseline ${f(y?.totalRpsVsBaseline)}; ${c ? `its ${c.requests} requests' sets rebuilt from the log: ${c.elsewhere} in another set than the run reported` : 'not in the log'}. Per set: share of the window here / under baseline; per worker requests here/baseline's, mean request µs here/baseline's/held (the set's plan alone, closed loop), speed vs baseline (baseline's mean ÷ here) ± half a 95% interval, the medians' ratio; the slowest worker's speed vs baseline, and vs held`,
        [
          'active set',
          'time',
          'requests',
          'µs here/baseline/held',
          'vs baseline ± 95%',
          'median vs baseline',
          'slowest',
          'vs held',
        ],
        body,
      ),
    )
  }
  return out.join('\n\n')
}

/** One table-following run's figures against the issue's targets, for the spread across repeats. */
export interface RepeatRow {
  label: string
  mix: string
  batch: number | null
  seed: number
  windowS: number
  stpVsBaseline: number | null
  totalRpsVsBaseline: number | null
  /** STP and total req/s ÷ the best static plan's (the highest STP of the other policies but baseline). */
  stpVsStatic: number | null
  totalVsStatic: number | null
  /** The lowest speedVsHeld over the sets; the largest p99 by the set a request ended in ÷ held. */
  heldLowest: number | null
  p99EndedHighest: number | null
  /** The lowest speedVsBaseline of the sets of one worker (a model alone), and of all sets. */
  aloneVsBaseline: number | null
  anyVsBaseline: number | null
}

const low = (xs: (number | null | undefined)[]) => {
  const ys = xs.filter((x): x is number => typeof x === 'number')
  return ys.length > 0 ? Math.min(...ys) : null
}
const high = (xs: (number | null | undefined)[]) => {
  const ys = xs.filter((x): x is number => typeof x === 'number')
  return ys.length > 0 ? Math.max(...ys) : null
}

export function repeatRows(label: string, runs: Run[]): RepeatRow[] {
  return runs.flatMap((r) => {
    const lv = r.metrics.live
    if (r.role !== 'mix' || !lv) return []
    const best = runs
      .filter(
        (x) =>
          x.role === 'mix' &&
          x.mix === r.mix &&
          x.batch === r.batch &&
          x.backend === r.backend &&
          !x.metrics.live,
      )
      .filter((x) => x.policy !== 'baseline')
      .reduce<Run | undefined>(
        (b, x) => ((x.metrics.system?.stp ?? -1) > (b?.metrics.system?.stp ?? -1) ? x : b),
        undefined,
      )
    const stp = r.metrics.system?.stp
    const bestStp = best?.metrics.system?.stp
    return [
      {
        label,
        mix: r.mix,
        batch: r.batch,
        seed: r.seed,
        windowS: r.windowS,
        stpVsBaseline: r.metrics.system?.stpVsBaseline ?? null,
        totalRpsVsBaseline: r.metrics.system?.totalRpsVsBaseline ?? null,
        stpVsStatic: stp && bestStp ? stp / bestStp : null,
        totalVsStatic:
          r.metrics.system && best?.metrics.system?.totalRps
            ? r.metrics.system.totalRps / best.metrics.system.totalRps
            : null,
        heldLowest: low(lv.sets.map((s) => s.speedVsHeld)),
        p99EndedHighest: high(lv.sets.flatMap((s) => s.workers.map((w) => w.p99EndedVsHeld))),
        aloneVsBaseline: low(lv.sets.filter((s) => s.workers.length === 1).map((s) => s.speedVsBaseline)),
        anyVsBaseline: low(lv.sets.map((s) => s.speedVsBaseline)),
      },
    ]
  })
}

/** Per (mix, batch): each run's figures, then their mean (lowest–highest, sd). */
export function repeatsText(rows: RepeatRow[]): string {
  const groups = new Map<string, RepeatRow[]>()
  for (const r of rows) {
    const k = `${r.mix} b${r.batch ?? 'mix'}`
    groups.set(k, [...(groups.get(k) ?? []), r])
  }
  const fields: (keyof RepeatRow)[] = [
    'stpVsBaseline',
    'totalRpsVsBaseline',
    'stpVsStatic',
    'totalVsStatic',
    'heldLowest',
    'p99EndedHighest',
    'aloneVsBaseline',
    'anyVsBaseline',
  ]
  const summary = (xs: (number | null)[]) => {
    const s = spreadOf(xs.filter((x): x is number => x !== null))
    return s ? `${f(s.mean)} (${f(s.min)}–${f(s.max)}, sd ${f(s.sd)})` : '–'
  }
  const body: string[][] = []
  for (const [k, rs] of groups) {
    for (const r of rs)
      body.push([
        k,
        `${r.label} (seed ${r.seed}, ${+r.windowS.toFixed(3)} s)`,
        ...fields.map((x) => f(r[x] as number | null)),
      ])
    if (rs.length > 1)
      body.push([
        k,
        `mean of ${rs.length} (lowest–highest, sd)`,
        ...fields.map((x) => summary(rs.map((r) => r[x] as number | null))),
      ])
  }
  return gridTable(
    "eclip-live against the issue's targets, per run and across the runs of each mix and batch: STP and total requests ÷ baseline and ÷ the best static plan; the lowest speed vs held of any set; the largest p99 by the set a request ended in ÷ held; the lowest speed vs baseline in the same set of a model alone, and of any set",
    [
      'mix',
      'run',
      'STP ÷ base',
      'req ÷ base',
      'STP ÷ static',
      'req ÷ static',
      'vs held (lowest)',
      'p99 ended ÷ held (highest)',
      'alone vs base (lowest)',
      'any set vs base (lowest)',
    ],
    body,
  )
}

function main() {
  const dirs = process.argv.slice(2)
  if (dirs.length === 0)
    throw new Error('usage: live-vs-baseline.ts DIR... (bench directories: results.json and a request log)')
  const rows: RepeatRow[] = []
  for (const dir of dirs) {
    const recorded = readFile<Results>('results', join(dir, 'results.json')).runs
    const { runs, checks, spreads } = recompute(recorded, readRequestLog(dir))
    console.log(`${setsText(dir, runs, checks, spreads)}\n`)
    rows.push(...repeatRows(dir, runs))
  }
  console.log(repeatsText(rows))
}

if (process.argv[1] && import.meta.filename === process.argv[1]) main()
