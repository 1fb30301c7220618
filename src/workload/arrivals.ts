// From a worker's arrival source (src/formats/arrival.ts) to the times its requests come in one run: the schedule
// both backends execute — the simulator (src/execute/sim/engine.ts) and the GPU executor (gpu/eclip_gpu/arrivals.py,
// sent in the run message) — so a simulated and a measured run of one seed see the same arrivals. Also what a source
// asks of the GPU on average (the planner's real-time checks, src/plan/realtime.ts), and trace files.
//
// Random draws come from streams named by the seed, the worker's name and what is drawn (periods, arrivals), so a
// worker's arrivals do not change when another worker is added or removed (a real-time worker's run alone sees the
// arrivals it saw beside the best-effort ones), nor its busy periods when its rate while busy changes.
import { readFileSync } from 'node:fs'
import { isAbsolute, join } from 'node:path'
import type { Arrival, Period, TraceArrival, WhileOn } from '../formats/arrival.ts'
import { UserError } from '../formats/errors.ts'
import {
  arrivalRecord,
  hasLoadFields,
  type LoadedArrival,
  type Mix,
  type MixWorker,
  type WorkerSpec,
} from '../formats/mix.ts'
import type { Loop } from '../formats/results.ts'
import { exponential, stringSeeded } from '../random.ts'

/**
 * One worker's requests in one run, µs from the run's start. closed: a closed loop inside each period
 * [periodsUs[2i], periodsUs[2i+1]) — a request starts only inside one; one in flight at a period's end completes.
 * open: a request arrives at each time (ascending); they queue for the worker's one request in flight.
 */
export type Schedule = { kind: 'closed'; periodsUs: number[] } | { kind: 'open'; arrivalsUs: number[] }

/** True for the paper's closed loop from the start: no source, or `closed`. */
export const isPlainClosed = (a: Arrival | LoadedArrival | undefined) =>
  a === undefined || a.kind === 'closed'

/**
 * True where requests arrive at scheduled times whatever the answers (poisson, uniform, a trace, on/off sending one of
 * those while on); false for a closed loop, always or inside on/off periods.
 */
export const isOpenSource = (a: Arrival | LoadedArrival | undefined) =>
  a !== undefined && a.kind !== 'closed' && (a.kind !== 'onoff' || (a.whileOn?.kind ?? 'closed') !== 'closed')

/**
 * The most requests one worker's schedule may hold in one run: the schedule is made whole before the run (and sent to
 * the GPU backend in its run message), so a rate × run length past this would exhaust memory rather than run.
 */
export const MAX_SCHEDULED_ARRIVALS = 10_000_000

function tooManyArrivals(stream: string, n: number, what: string): UserError {
  return new UserError(
    `${stream}: ${what} give ${n.toPrecision(3)} requests in one run, more than the ${MAX_SCHEDULED_ARRIVALS} a ` +
      'schedule holds: lower the rate or the run length (--duration, --warmup)',
  )
}

/** Open-loop arrivals of `src` in [fromUs, toUs). */
function openArrivals(
  src: Exclude<WhileOn, { kind: 'closed' }>,
  u: () => number,
  fromUs: number,
  toUs: number,
  stream: string,
) {
  const expected = (src.rate * (toUs - fromUs)) / 1e6
  if (expected > MAX_SCHEDULED_ARRIVALS)
    throw tooManyArrivals(
      stream,
      expected,
      `${src.rate} req/s over ${((toUs - fromUs) / 1e6).toPrecision(3)} s`,
    )
  const out: number[] = []
  const gap = 1e6 / src.rate
  if (src.kind === 'uniform') {
    // times as first + i · gap, not summed gaps: no rounding drift over a long run
    const first = fromUs + (src.offsetS ?? 0) * 1e6
    for (let i = 0; first + i * gap < toUs; i++) out.push(first + i * gap)
    return out
  }
  for (let t = fromUs + exponential(u, gap); t < toUs; t += exponential(u, gap)) out.push(t)
  return out
}

/** Busy periods of an on/off source in [0, horizonUs), flat [start, end, …]. */
export function onOffPeriods(
  a: { on: Period; off: Period; start?: 'on' | 'off' | 'random' },
  u: () => number,
  horizonUs: number,
  stream = 'an on/off source',
): number[] {
  const draw = (p: Period) => (p.dist === 'fixed' ? p.meanS : exponential(u, p.meanS)) * 1e6
  const start = a.start ?? 'random'
  let on = start === 'on' || (start === 'random' && u() < a.on.meanS / (a.on.meanS + a.off.meanS))
  // random: the first period is what is left of one in progress — a fresh draw (exponential: memoryless) or a uniform
  // part of a fixed one
  const first = (p: Period) => (p.dist === 'fixed' ? p.meanS * 1e6 * u() : draw(p))
  let len = start === 'random' ? first(on ? a.on : a.off) : draw(on ? a.on : a.off)
  const out: number[] = []
  let t = 0
  while (t < horizonUs) {
    if (out.length > 2 * MAX_SCHEDULED_ARRIVALS)
      throw tooManyArrivals(stream, out.length / 2, `busy periods (on ${a.on.meanS} s, off ${a.off.meanS} s)`)
    if (on && len > 0) out.push(t, Math.min(t + len, horizonUs))
    t += len
    on = !on
    len = draw(on ? a.on : a.off)
  }
  return out
}

/** A trace's times repeated every `repeatS` (when given), up to the horizon. */
function traceTimes(a: TraceArrival & { timesUs: number[] }, horizonUs: number, stream: string): number[] {
  const out: number[] = []
  const period = a.repeatS === undefined ? 0 : a.repeatS * 1e6
  const most = period > 0 ? a.timesUs.length * Math.ceil(horizonUs / period) : a.timesUs.length
  if (most > MAX_SCHEDULED_ARRIVALS)
    throw tooManyArrivals(stream, most, `trace ${a.file} repeated every ${a.repeatS} s`)
  for (let base = 0; base < horizonUs; base += period) {
    for (const t of a.timesUs) {
      if (base + t >= horizonUs) return out
      out.push(base + t)
    }
    if (period <= 0) break
  }
  return out
}

export interface ScheduleOptions {
  seed: number
  /** Names the worker's random streams (its name in the mix: "vgg19#0"). */
  stream: string
  /** The run's end (warm-up + window), µs: nothing arrives after it. */
  horizonUs: number
}

/** The schedule of one worker's source in one run (deterministic in the seed and the worker's name). */
export function scheduleOf(a: LoadedArrival | undefined, o: ScheduleOptions): Schedule {
  const h = o.horizonUs
  if (a === undefined || a.kind === 'closed') return { kind: 'closed', periodsUs: [0, h] }
  const arrivalsRng = () => stringSeeded(`${o.seed}|${o.stream}|arrivals`)
  if (a.kind === 'poisson' || a.kind === 'uniform')
    return { kind: 'open', arrivalsUs: openArrivals(a, arrivalsRng(), 0, h, o.stream) }
  if (a.kind === 'trace') {
    if (!('timesUs' in a)) throw new Error(`trace ${(a as TraceArrival).file}: its times were not loaded`)
    return { kind: 'open', arrivalsUs: traceTimes(a, h, o.stream) }
  }
  const periods = onOffPeriods(a, stringSeeded(`${o.seed}|${o.stream}|periods`), h, o.stream)
  const w = a.whileOn ?? { kind: 'closed' as const }
  if (w.kind === 'closed') return { kind: 'closed', periodsUs: periods }
  // what the busy periods ask, before any arrival is drawn (as for a source always on)
  let busyUs = 0
  for (let i = 0; i < periods.length; i += 2) busyUs += (periods[i + 1] as number) - (periods[i] as number)
  const expected = (w.rate * busyUs) / 1e6
  if (expected > MAX_SCHEDULED_ARRIVALS)
    throw tooManyArrivals(o.stream, expected, `${w.rate} req/s over ${(busyUs / 1e6).toPrecision(3)} s busy`)
  const u = arrivalsRng()
  const arrivalsUs: number[] = []
  for (let i = 0; i < periods.length; i += 2)
    for (const t of openArrivals(w, u, periods[i] as number, periods[i + 1] as number, o.stream))
      arrivalsUs.push(t)
  return { kind: 'open', arrivalsUs }
}

/**
 * What a source asks of a worker on average: `share` of the time it is busy (on/off), and while busy either a closed
 * loop or `rps` requests/s arriving as `process` says (a trace counts as Poisson: its gaps are unknown in advance).
 */
export interface Load {
  closed: boolean
  share: number
  rps: number
  process: 'closed' | 'poisson' | 'uniform'
}

export function loadOf(a: LoadedArrival | undefined): Load {
  if (a === undefined || a.kind === 'closed') return { closed: true, share: 1, rps: 0, process: 'closed' }
  if (a.kind === 'poisson' || a.kind === 'uniform')
    return { closed: false, share: 1, rps: a.rate, process: a.kind }
  if (a.kind === 'trace') {
    const t = a.timesUs
    const n = t.length
    const span =
      a.repeatS !== undefined ? a.repeatS * 1e6 : n > 1 ? (t[n - 1] as number) - (t[0] as number) : 0
    const count = a.repeatS !== undefined ? n : n - 1
    return { closed: false, share: 1, rps: span > 0 ? (count * 1e6) / span : 0, process: 'poisson' }
  }
  const share = a.on.meanS / (a.on.meanS + a.off.meanS)
  const w = a.whileOn ?? { kind: 'closed' as const }
  return w.kind === 'closed'
    ? { closed: true, share, rps: 0, process: 'closed' }
    : { closed: false, share, rps: w.rate, process: w.kind }
}

/** One line of words for a source: "poisson 20 req/s", "on/off (exponential 2 s / fixed 1 s), closed loop while on". */
export function describeArrival(a: Arrival | LoadedArrival | undefined): string {
  if (a === undefined || a.kind === 'closed') return 'closed loop'
  if (a.kind === 'poisson') return `poisson ${a.rate} req/s`
  if (a.kind === 'uniform') return `uniform ${a.rate} req/s`
  if (a.kind === 'trace')
    return `trace ${a.file}${'timesUs' in a ? ` (${a.timesUs.length} requests)` : ''}${a.repeatS ? `, every ${a.repeatS} s` : ''}`
  const p = (x: Period) => `${x.dist} ${x.meanS} s`
  return `on/off (on ${p(a.on)}, off ${p(a.off)}), ${describeArrival(a.whileOn)} while on`
}

const UNIT_US = { s: 1e6, ms: 1e3, us: 1 } as const

/**
 * A trace file's times, µs from the trace's start: one number per line in `unit`, ascending; blank lines and lines
 * starting with '#' are skipped. Refused with the file and line of the first bad entry.
 */
export function loadTrace(file: string, unit: 's' | 'ms' | 'us' = 's'): number[] {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new UserError(`trace ${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`)
  }
  const out: number[] = []
  const lines = text.split(/\r?\n/)
  for (const [i, raw] of lines.entries()) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) continue
    const x = Number(line)
    if (!Number.isFinite(x) || x < 0)
      throw new UserError(`trace ${file}:${i + 1}: not a time ≥ 0 in ${unit}: ${JSON.stringify(line)}`)
    const us = x * UNIT_US[unit]
    const prev = out[out.length - 1]
    if (prev !== undefined && us < prev)
      throw new UserError(
        `trace ${file}:${i + 1}: times must not decrease (${line} ${unit} after ${prev / UNIT_US[unit]} ${unit})`,
      )
    out.push(us)
  }
  if (out.length === 0) throw new UserError(`trace ${file}: no request times in it`)
  return out
}

/** A worker's source ready to run: a trace's file found (relative to `baseDir`, the file naming it) and read. */
export function loadArrival(a: Arrival | undefined, baseDir: string, who: string): LoadedArrival | undefined {
  if (a === undefined || a.kind !== 'trace') return a
  const file = isAbsolute(a.file) ? a.file : join(baseDir, a.file)
  let timesUs: number[]
  try {
    timesUs = loadTrace(file, a.unit ?? 's')
  } catch (err) {
    throw new UserError(`${who}: ${(err as Error).message}`)
  }
  const last = timesUs[timesUs.length - 1] as number
  if (a.repeatS !== undefined && a.repeatS * 1e6 <= last)
    throw new UserError(
      `${who}: trace ${file}: repeatS ${a.repeatS} s must be more than its last time (${last / 1e6} s)`,
    )
  return { ...a, file, timesUs }
}

/**
 * A mix whose workers' trace sources are read (`baseDir`: the directory of the file that holds the mix; `what`: what
 * errors call it, a mix or a workload).
 */
export function loadMixArrivals(mix: Mix, baseDir: string, what: 'mix' | 'workload' = 'mix'): Mix {
  if (!mix.workers.some((w) => w.arrival?.kind === 'trace')) return mix
  return {
    ...mix,
    workers: mix.workers.map(
      (w): MixWorker => ({
        ...w,
        ...(w.arrival
          ? { arrival: loadArrival(w.arrival, baseDir, `${what} ${mix.name}, model ${w.model}`) }
          : {}),
      }),
    ),
  }
}

/**
 * Every worker's schedule in one run (plan order): the closed loop, the bench's --rate (Poisson at that rate for every
 * worker), or each worker's own source (its spec's, loaded; else the one the loop records, as a run re-simulated from
 * a results file has it — a trace's times then are not at hand, and it is refused). A closed loop from the start is
 * marked `plain`.
 */
export function runSchedules(
  loop: Loop,
  workers: readonly WorkerSpec[],
  seed: number,
  horizonUs: number,
): (Schedule & { plain?: boolean })[] {
  if (loop.kind === 'arrivals' && loop.sources.length !== workers.length)
    throw new Error(`${loop.sources.length} arrival sources for ${workers.length} workers`)
  return workers.map((w, i) => {
    const source: LoadedArrival | undefined =
      loop.kind === 'closed'
        ? undefined
        : loop.kind === 'open'
          ? { kind: 'poisson', rate: loop.ratePerWorker }
          : (w.arrival ?? (loop.sources[i] as LoadedArrival))
    const s = scheduleOf(source, { seed, stream: w.name, horizonUs })
    return isPlainClosed(source) ? { ...s, plain: true } : s
  })
}

/**
 * The loop a run of these workers records: their own sources where they give any (or priorities: a worker without a
 * source is a closed loop among them), else an open loop at `rate` per worker (bench's and serve-bench's --rate), else
 * the closed loop. Both at once is refused (`who`: the mix, for the message).
 */
export function loopOfWorkers(workers: readonly WorkerSpec[], rate: number | undefined, who: string): Loop {
  if (hasLoadFields(workers)) {
    if (rate !== undefined)
      throw new UserError(
        `${who}: its workers give their own arrivals; an open loop for every worker (--rate) would replace them`,
      )
    return { kind: 'arrivals', sources: workers.map((w) => arrivalRecord(w.arrival)) }
  }
  return rate !== undefined ? { kind: 'open', ratePerWorker: rate } : { kind: 'closed' }
}
