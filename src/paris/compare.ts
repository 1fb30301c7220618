// The comparison of issue #7: for each number of GPUs, each scheme (a server layout + a dispatch policy) is driven
// with open-loop Poisson load; the headline is the highest load it sustains with ≤ 1% SLO violations, and a sweep of
// loads gives violation-rate and p99 curves. In the simulator (the default backend) the load is found by bisection
// and everything is seeded: the same scenario, options and seed give the same numbers. On a GPU (src/paris/gpu.ts)
// every run costs seconds of real time, so a fixed list of loads replaces the search (`rates`), each run a window
// of `windowS` seconds of arrivals; the same traces are generated either way. `bisect` (bisect.ts) finds each
// scheme's sustained load to a stated resolution instead, every probed load run several times on independent traces:
// on a GPU each of those runs is one window, so its cost is probes × repeats × window.
//
// The eclip-kw schemes (kernelwise.ts) are a different kind of server: every GPU hosts one worker per model, each
// running eclip's kernel-wise plans co-located with the others, and a query can only go to its model's workers. In
// the simulator their service times are the co-located latencies of the kernel-level simulator (`kernelWise`); on a
// GPU those are only the dispatcher's estimates, and each query replays its (model, batch) kernel-wise graph.
import type { Gpu } from '../formats/index.ts'
import {
  type Bisection,
  type BisectOutcome,
  bisectSustained,
  medianRun,
  type PassRule,
  type Probe,
  type Spread,
  spread,
} from './bisect.ts'
import { DEFAULT_ELSA } from './elsa.ts'
import { type KernelWise, type KernelWisePlans, kernelWiseWorkers } from './kernelwise.ts'
import {
  DEFAULT_PARIS,
  homogeneous,
  type ParisOptions,
  type ParisPlan,
  type Partition,
  paris,
  uniform,
} from './partition.ts'
import type { LoadedScenario, ModelLoad } from './scenario.ts'
import {
  type Dispatch,
  fixedLoads,
  makeTrace,
  maxSustainable,
  type SimMetrics,
  type SimOptions,
  type Sustained,
  simulate,
  type Trace,
} from './sim.ts'

/**
 * 'best-uniform': the best of several uniform sizes (UNIFORM_SLICES); 'paris-tuned': the best of PARIS plans over a
 * small grid of its two parameters (PARIS_GRID). Both are chosen per GPU count by sustained load in the simulator —
 * with hindsight (the trace that chooses is the one that scores), which flatters both alike.
 */
export type Layout = 'small' | 'whole' | 'paris' | 'best-uniform' | 'paris-tuned' | 'eclip-kw'

/** (kneeElasticity, sloHeadroom) pairs paris-tuned tries; the default (0.7, 0.5) is one of them. */
export const PARIS_GRID: [number, number][] = [0.5, 0.7, 0.9].flatMap((e) =>
  [0.3, 0.5, 0.7].map((h): [number, number] => [e, h]),
)

/** Partition sizes (in slices) the best-homogeneous baseline tries: 16, 24, 32, 40 and 56 SMs on H100. */
export const UNIFORM_SLICES = [2, 3, 4, 5, 7]

export interface Scheme {
  name: string
  label: string
  layout: Layout
  dispatch: Dispatch
  /** Set when the scheme stands in for something not simulated yet. */
  placeholder?: string
}

export const SCHEMES: Scheme[] = [
  { name: 'small/fifo', label: 'all 8-SM slices, FIFO', layout: 'small', dispatch: 'fifo' },
  {
    name: 'small/least-loaded',
    label: 'all 8-SM slices, least-loaded',
    layout: 'small',
    dispatch: 'least-loaded',
  },
  { name: 'whole/fifo', label: 'whole GPUs, FIFO', layout: 'whole', dispatch: 'fifo' },
  {
    name: 'whole/least-loaded',
    label: 'whole GPUs, least-loaded',
    layout: 'whole',
    dispatch: 'least-loaded',
  },
  {
    name: 'uniform/least-loaded',
    label: 'best uniform size, least-loaded',
    layout: 'best-uniform',
    dispatch: 'least-loaded',
  },
  { name: 'paris/fifo', label: 'PARIS partitions, FIFO', layout: 'paris', dispatch: 'fifo' },
  {
    name: 'paris/least-loaded',
    label: 'PARIS partitions, least-loaded',
    layout: 'paris',
    dispatch: 'least-loaded',
  },
  { name: 'paris/elsa', label: 'PARIS + ELSA', layout: 'paris', dispatch: 'elsa' },
  {
    name: 'paris-tuned/elsa',
    label: 'PARIS (parameters chosen in the simulator) + ELSA',
    layout: 'paris-tuned',
    dispatch: 'elsa',
  },
  {
    name: 'eclip-kw/fifo',
    label: 'eclip kernel-wise plans (all models on every GPU), FIFO per model',
    layout: 'eclip-kw',
    dispatch: 'fifo',
  },
  {
    name: 'eclip-kw/elsa',
    label: 'eclip kernel-wise plans (all models on every GPU), ELSA over the model’s workers',
    layout: 'eclip-kw',
    dispatch: 'elsa',
  },
]

/**
 * Runs one trace through one layout and policy: the simulator, or a GPU backend (src/paris/gpu.ts) that builds the
 * partitions (slice ids of one split per GPU) as green contexts, replays the trace's arrivals open-loop with the same
 * dispatch and returns the same metrics. It only reads the trace: compare() hands the same one to every run at a load.
 */
export type RunBackend = (
  models: ModelLoad[],
  partitions: Partition[],
  trace: Trace,
  opts: RunOptions,
  totalSms?: number,
) => SimMetrics | Promise<SimMetrics>

/** A run's options: the simulator's, and for eclip-kw on a GPU the server's plans (the simulator ignores them). */
export type RunOptions = SimOptions & { kernelWise?: KernelWisePlans }

export interface CompareOptions {
  gpus: number[]
  seed: number
  /** Queries per simulated run (the first 10% are warm-up). Default 20000. */
  queries: number
  /** σ of the log-normal service-time factor around the table latency. Default 0.05. */
  noise: number
  /** Violation rate that counts as sustained. Default 0.01. */
  target: number
  /** Bisection steps of the rate search. Default 7. */
  steps: number
  /** Loads of the sweep, as fractions of the best sustained load at that GPU count. */
  sweep: number[]
  schemes: Scheme[]
  paris: ParisOptions
  sloMargin: number
  /** Runs one trace through one layout and policy. Default: the simulator. */
  backend: RunBackend
  /**
   * Fixed loads instead of the bisection search: the total queries/s to try at a GPU count (each layout runs each
   * once; fixedLoads in sim.ts). Absent: bisection (maxSustainable) and the `sweep` fractions.
   */
  rates?: (gpus: number) => number[]
  /** With `rates`: seconds of arrivals per run; the run's queries are rate × windowS (at least 200). Default 5. */
  windowS: number
  /** Partition sizes (in slices) the best-uniform scheme tries. Default UNIFORM_SLICES. */
  uniformSlices: number[]
  /**
   * Each scheme's sustained load by bisection with repeats (bisect.ts) instead of the default search or `rates`;
   * `start` gives the first load probed (a scale) per GPU count and scheme. No sweep runs: the probes are the sweep.
   */
  bisect?: BisectSettings
  /** Runs are `windowS` seconds of arrivals (as with `rates`) rather than `queries` queries: a GPU's bisection. */
  windowed?: boolean
  /** Called after each (GPU count, scheme) with a one-line progress message (and, bisecting, after each probe). */
  progress?: (line: string) => void
  /** The co-located service times the eclip-kw schemes need (kernelwise.ts); required when one is compared. */
  kernelWise?: KernelWise
}

export interface BisectSettings {
  resolution: number
  repeats: number
  pass: PassRule
  start: (gpus: number, scheme: Scheme) => number
  maxDoublings?: number
  maxHalvings?: number
}

export const DEFAULT_COMPARE: Omit<CompareOptions, 'gpus' | 'seed'> = {
  queries: 20000,
  noise: 0.05,
  target: 0.01,
  steps: 7,
  sweep: [0.25, 0.5, 0.75, 0.9, 1, 1.1, 1.25, 1.5],
  schemes: SCHEMES,
  paris: DEFAULT_PARIS,
  sloMargin: DEFAULT_ELSA.sloMargin,
  backend: simulate,
  windowS: 5,
  uniformSlices: UNIFORM_SLICES,
}

export interface SchemeResult {
  scheme: string
  gpus: number
  /** Partition SM counts per GPU. */
  layout: number[][]
  /** Queries/s sustained with ≤ target violations; 0 when no load tried met it. */
  sustainedQps: number
  sustained: SimMetrics | null
  /** Violation rate at the lowest load tried: > target means the layout cannot meet some SLOs at all. */
  floorViolationRate: number
  runs: number
  /** For schemes that choose among layouts: which one won. */
  choice?: string
  /** With `bisect`: the bracket, the spread over the repeats at both of its ends and every probe. */
  search?: SearchReport
}

/** A bisection's bracket in queries/s (scale × the scenario's total rate: the offered Poisson rate). */
export interface BracketReport {
  /** The highest load that passed, q/s; 0 when none did. */
  lastPassQps: number
  /** The lowest load above it that failed, q/s; null when none did. */
  firstFailQps: number | null
  outcome: BisectOutcome
}

/** What the repeats of one probed load saw. */
export interface ProbeSpread {
  violationRate: Spread
  p99Ms: Spread
  /** The offered load each trace realised over its measured window (Poisson: it varies around the nominal one). */
  offeredQps: Spread
}

export interface SearchReport extends BracketReport {
  method: 'bisect'
  pass: PassRule
  repeats: number
  resolution: number
  target: number
  /** The repeats at the last pass and at the first fail (null where there is none). */
  atLastPass: ProbeSpread | null
  atFirstFail: ProbeSpread | null
  /** Every probe in the order run: nominal q/s, verdict and each repeat's violation rate and p99. */
  probes: { qps: number; pass: boolean; violationRate: number[]; p99Ms: number[] }[]
  /** With several candidate layouts (best uniform, paris-tuned): each one's bracket. */
  candidates?: (BracketReport & { choice: string; probes: number })[]
}

export interface SweepPoint {
  scheme: string
  gpus: number
  /** Load as a fraction of the best sustained load at this GPU count (of any scheme). */
  fraction: number
  offeredQps: number
  violationRate: number
  p50Ms?: number
  p99Ms: number
  utilisation: number
  goodputQps: number
  /** Bisecting: whether the probe passed, its repeats, and the least and most violations among them. */
  pass?: boolean
  repeats?: number
  violationMin?: number
  violationMax?: number
  /** GPU runs only: board power over the run and queries per joule. */
  powerW?: number | null
  queriesPerJ?: number | null
  dropped?: number
}

export interface Comparison {
  plans: ParisPlan[]
  results: SchemeResult[]
  sweep: SweepPoint[]
  /** With eclip-kw schemes: their co-located service times. */
  kernelWise?: KernelWise
  options: Omit<CompareOptions, 'progress' | 'schemes' | 'backend' | 'rates' | 'kernelWise' | 'bisect'> & {
    schemes: string[]
    /** With fixed loads: the queries/s tried at each GPU count. */
    rates?: { gpus: number; qps: number[] }[]
    /** With bisection: its settings, and the first load (q/s) each scheme probed at each GPU count. */
    bisect?: Omit<BisectSettings, 'start'> & { starts: { gpus: number; scheme: string; qps: number }[] }
  }
}

/**
 * One layout a scheme tries: its partitions, why it was chosen (when there was a choice) and, for eclip-kw, the model
 * each partition (a worker) serves (SimOptions.serves).
 */
export interface Candidate {
  parts: Partition[]
  choice?: string
  serves?: number[]
}

/** The layouts a scheme is tried with at g GPUs (several only for best-uniform). */
export function layoutsFor(
  sc: LoadedScenario,
  plan: ParisPlan,
  g: number,
  layout: Layout,
  uniformSlices: number[] = UNIFORM_SLICES,
  kw?: KernelWise,
): Candidate[] {
  if (layout === 'paris') return [{ parts: plan.partitions }]
  if (layout === 'eclip-kw') {
    if (!kw) throw new Error('eclip-kw: no co-located service times (CompareOptions.kernelWise)')
    return [
      {
        ...kernelWiseWorkers(sc, kw, g),
        choice: `one worker per model per GPU; layout = each worker's busy SMs (of ${sc.gpu.smCount}, shared)`,
      },
    ]
  }
  if (layout === 'best-uniform')
    return uniformSlices.map((k) => ({
      parts: uniform(sc.gpu, g, k),
      choice: `${k * sc.gpu.sliceSize}-SM partitions`,
    }))
  if (layout === 'paris-tuned') {
    // distinct layouts only: several parameter pairs often give the same partitions (the first pair names it)
    const seen = new Map<string, { parts: Partition[]; choice: string }>()
    for (const [kneeElasticity, sloHeadroom] of PARIS_GRID) {
      const parts = paris(sc, g, { kneeElasticity, sloHeadroom }).partitions
      const key = parts.map((p) => `${p.gpu}:${p.sms}`).join()
      if (!seen.has(key))
        seen.set(key, { parts, choice: `kneeElasticity ${kneeElasticity}, sloHeadroom ${sloHeadroom}` })
    }
    return [...seen.values()]
  }
  return [{ parts: homogeneous(sc.gpu, g, layout) }]
}

export const perGpu = (gpu: Gpu, g: number, parts: Partition[]): number[][] =>
  Array.from({ length: g }, (_, i) =>
    parts
      .filter((p) => p.gpu === i)
      .map((p) => p.sms)
      .sort((a, b) => b - a),
  ).map((row) => (row.length ? row : [gpu.smCount]))

/** A sweep point from one run's metrics. */
function sweepPoint(scheme: string, gpus: number, fraction: number, m: SimMetrics): SweepPoint {
  const e = m.gpu?.energyJ
  return {
    scheme,
    gpus,
    fraction,
    offeredQps: m.offeredQps,
    violationRate: m.violationRate,
    p50Ms: m.p50Ms,
    p99Ms: m.p99Ms,
    utilisation: m.utilisation,
    goodputQps: m.goodputQps,
    ...(m.gpu
      ? { powerW: m.gpu.powerW, queriesPerJ: e ? m.measured / e : null, dropped: m.gpu.dropped }
      : {}),
  }
}

export async function compare(
  sc: LoadedScenario,
  options: Partial<CompareOptions> & { gpus: number[]; seed: number },
): Promise<Comparison> {
  const o: CompareOptions = { ...DEFAULT_COMPARE, ...options }
  const kwSchemes = o.schemes.filter((s) => s.layout === 'eclip-kw')
  if (kwSchemes.length && !o.kernelWise)
    throw new Error(`${kwSchemes.map((s) => s.name).join(', ')}: compare() needs options.kernelWise`)
  const kwService = o.kernelWise?.latencyUs
  const totalRate = sc.models.reduce((a, m) => a + m.rate, 0)
  const plans: ParisPlan[] = []
  const results: SchemeResult[] = []
  const sweep: SweepPoint[] = []
  const ratesTried: { gpus: number; qps: number[] }[] = []
  const bis = o.bisect
  const starts: { gpus: number; scheme: string; qps: number }[] = []
  for (const g of o.gpus) {
    const plan = paris(sc, g, o.paris)
    plans.push(plan)
    const totalSms = g * sc.gpu.smCount
    const rates = o.rates?.(g)
    if (rates) ratesTried.push({ gpus: g, qps: rates })
    // with fixed loads (or a GPU's bisection) a run is a window of real time: as many queries as arrive in it
    const queries = (scale: number) =>
      rates || o.windowed ? Math.max(200, Math.round(scale * totalRate * o.windowS)) : o.queries
    // every scheme and candidate starts its search at the same loads (g, 2g, …; or the fixed ones), and a trace
    // depends on the load (and the repeat) alone: each is made once per GPU count (runs only read it). A bisection's
    // loads mostly differ between schemes: its traces are made afresh each run instead of kept
    const traces = new Map<string, Trace>()
    const traceAt = (scale: number, repeat: number) => {
      const key = `${scale}#${repeat}`
      const t = traces.get(key) ?? makeTrace(sc.models, scale, queries(scale), o.seed, o.noise, repeat)
      if (!bis) traces.set(key, t)
      return t
    }
    const run = ({ parts, serves }: Candidate, s: Scheme, scale: number, repeat = 0) =>
      o.backend(
        sc.models,
        parts,
        traceAt(scale, repeat),
        {
          dispatch: s.dispatch,
          sloMargin: o.sloMargin,
          ...(serves && kwService && o.kernelWise
            ? { serves, serviceUs: kwService, kernelWise: o.kernelWise.server }
            : {}),
        },
        totalSms,
      )
    const layouts = new Map<Scheme, Candidate>()
    const tried = new Map<Scheme, SimMetrics[]>()
    const bisected = new Map<Scheme, Bisection>()
    let best = 0
    const gpuLabel = `${g} GPU${g > 1 ? 's' : ''}`
    for (const s of o.schemes) {
      if (bis) {
        const start = bis.start(g, s)
        starts.push({ gpus: g, scheme: s.name, qps: start * totalRate })
        const candidates = layoutsFor(sc, plan, g, s.layout, o.uniformSlices, o.kernelWise)
        const brackets: NonNullable<SearchReport['candidates']> = []
        let chosen: { candidate: Candidate; b: Bisection } | undefined
        let runs = 0
        for (const candidate of candidates) {
          const name = `${gpuLabel}  ${s.name}${candidates.length > 1 ? ` (${candidate.choice})` : ''}`
          const b = await bisectSustained(
            (scale, repeat) => run(candidate, s, scale, repeat),
            {
              target: o.target,
              resolution: bis.resolution,
              repeats: bis.repeats,
              pass: bis.pass,
              start,
              ...(bis.maxDoublings !== undefined ? { maxDoublings: bis.maxDoublings } : {}),
              ...(bis.maxHalvings !== undefined ? { maxHalvings: bis.maxHalvings } : {}),
            },
            (p) => o.progress?.(`${name}: ${probeLine(p, totalRate)}`),
          )
          runs += b.probes.length * bis.repeats
          brackets.push({
            choice: candidate.choice ?? '',
            ...bracketOf(b, totalRate),
            probes: b.probes.length,
          })
          if (!chosen || betterBisection(b, chosen.b)) chosen = { candidate, b }
        }
        if (!chosen) continue
        const { candidate, b } = chosen
        bisected.set(s, b)
        const lowest = b.probes.reduce((a, p) => (p.scale < a.scale ? p : a))
        const search: SearchReport = {
          method: 'bisect',
          pass: bis.pass,
          repeats: bis.repeats,
          resolution: bis.resolution,
          target: o.target,
          ...bracketOf(b, totalRate),
          atLastPass: b.lastPass ? probeSpread(b.lastPass) : null,
          atFirstFail: b.firstFail ? probeSpread(b.firstFail) : null,
          probes: b.probes.map((p) => ({
            qps: p.scale * totalRate,
            pass: p.pass,
            violationRate: p.runs.map((m) => m.violationRate),
            p99Ms: p.runs.map((m) => m.p99Ms),
          })),
          ...(brackets.length > 1 ? { candidates: brackets } : {}),
        }
        const res: SchemeResult = {
          scheme: s.name,
          gpus: g,
          layout: perGpu(sc.gpu, g, candidate.parts),
          sustainedQps: search.lastPassQps,
          sustained: b.lastPass ? medianRun(b.lastPass) : null,
          floorViolationRate: lowest.violationRate,
          runs,
          ...(candidate.choice ? { choice: candidate.choice } : {}),
          search,
        }
        results.push(res)
        best = Math.max(best, res.sustainedQps)
        o.progress?.(`${gpuLabel}  ${s.name.padEnd(20)} ${bracketLine(search)} (${runs} runs)`)
        continue
      }
      let chosen: Candidate | undefined
      let r: Sustained | undefined
      let runs = 0
      for (const candidate of layoutsFor(sc, plan, g, s.layout, o.uniformSlices, o.kernelWise)) {
        const c = rates
          ? await fixedLoads(
              (scale) => run(candidate, s, scale),
              rates.map((q) => q / totalRate),
              { target: o.target },
            )
          : await maxSustainable((scale) => run(candidate, s, scale), {
              target: o.target,
              steps: o.steps,
              start: g,
            })
        runs += c.tried.length
        if (!r || better(c, r)) {
          r = c
          chosen = candidate
        }
      }
      if (!r || !chosen) continue
      const { parts, choice } = chosen
      layouts.set(s, chosen)
      tried.set(s, r.tried)
      const lowest = r.tried.reduce((a, m) => (m.scale < a.scale ? m : a))
      const res: SchemeResult = {
        scheme: s.name,
        gpus: g,
        layout: perGpu(sc.gpu, g, parts),
        sustainedQps: r.best?.offeredQps ?? 0,
        sustained: r.best,
        floorViolationRate: lowest.violationRate,
        runs,
        ...(choice ? { choice } : {}),
      }
      results.push(res)
      best = Math.max(best, res.sustainedQps)
      o.progress?.(
        `${g} GPU${g > 1 ? 's' : ''}  ${s.name.padEnd(20)} ${res.sustainedQps.toFixed(0).padStart(7)} q/s at ≤${
          o.target * 100
        }% violations (${runs} runs)`,
      )
    }
    for (const s of o.schemes) {
      const b = bisected.get(s)
      if (b) {
        // the probes are the sweep: the median repeat's run, at the nominal load, with the rule's statistic
        for (const p of b.probes) {
          const qps = p.scale * totalRate
          const v = spread(p.runs.map((m) => m.violationRate))
          sweep.push({
            ...sweepPoint(s.name, g, best > 0 ? qps / best : 0, medianRun(p)),
            offeredQps: qps,
            violationRate: p.violationRate,
            p99Ms: spread(p.runs.map((m) => m.p99Ms)).median,
            pass: p.pass,
            repeats: p.runs.length,
            violationMin: v.min,
            violationMax: v.max,
          })
        }
        continue
      }
      if (rates) {
        // the fixed loads are the sweep: no further runs
        for (const m of tried.get(s) ?? [])
          sweep.push(sweepPoint(s.name, g, best > 0 ? (m.scale * totalRate) / best : 0, m))
        continue
      }
      for (const f of o.sweep) {
        const qps = f * best
        if (!(qps > 0)) continue
        const m = await run(layouts.get(s) ?? { parts: [] }, s, qps / totalRate)
        sweep.push(sweepPoint(s.name, g, f, m))
      }
    }
  }
  const { progress: _p, backend: _b, rates: _r, bisect: _s, kernelWise, schemes, ...rest } = o
  return {
    plans,
    results,
    sweep,
    ...(kernelWise && kwSchemes.length ? { kernelWise } : {}),
    options: {
      ...rest,
      schemes: schemes.map((s) => s.name),
      ...(ratesTried.length ? { rates: ratesTried } : {}),
      ...(bis
        ? {
            bisect: {
              resolution: bis.resolution,
              repeats: bis.repeats,
              pass: bis.pass,
              ...(bis.maxDoublings !== undefined ? { maxDoublings: bis.maxDoublings } : {}),
              ...(bis.maxHalvings !== undefined ? { maxHalvings: bis.maxHalvings } : {}),
              starts,
            },
          }
        : {}),
    },
  }
}

/** A bisection's bracket in queries/s. */
function bracketOf(b: Bisection, totalRate: number): BracketReport {
  return {
    lastPassQps: b.lastPass ? b.lastPass.scale * totalRate : 0,
    firstFailQps: b.firstFail ? b.firstFail.scale * totalRate : null,
    outcome: b.outcome,
  }
}

function probeSpread(p: Probe): ProbeSpread {
  return {
    violationRate: spread(p.runs.map((m) => m.violationRate)),
    p99Ms: spread(p.runs.map((m) => m.p99Ms)),
    offeredQps: spread(p.runs.map((m) => m.offeredQps)),
  }
}

const pct1 = (x: number) => `${(x * 100).toFixed(1)}%`

/** "759 q/s: violations 0.8% (repeats 0.5–1.2%), p99 17.3 ms: pass". */
function probeLine(p: Probe, totalRate: number): string {
  const v = spread(p.runs.map((m) => m.violationRate))
  const p99 = spread(p.runs.map((m) => m.p99Ms))
  const reps = p.runs.length > 1 ? ` (repeats ${pct1(v.min)}–${pct1(v.max)})` : ''
  return (
    `${(p.scale * totalRate).toFixed(0)} q/s: violations ${pct1(p.violationRate)}${reps}, p99 ` +
    `${p99.median.toFixed(1)} ms: ${p.pass ? 'pass' : 'fail'}`
  )
}

/** "759 q/s sustained, crossing in [759, 797) q/s" and the outcomes that have no bracket. */
export function bracketLine(r: BracketReport): string {
  const lo = r.lastPassQps.toFixed(0)
  if (r.outcome === 'fails-at-lowest')
    return `fails even at the lowest load tried (${r.firstFailQps?.toFixed(0)} q/s)`
  if (r.outcome === 'passes-at-highest') return `${lo} q/s sustained: passes at the highest load tried`
  return `${lo.padStart(7)} q/s sustained, crossing in [${lo}, ${r.firstFailQps?.toFixed(0)}) q/s`
}

/**
 * Whether candidate layout `a`'s bisection beats `b`'s: the higher last pass; at equal ones the lower statistic
 * there; when neither passed, the fewer violations at the lowest load tried.
 */
function betterBisection(a: Bisection, b: Bisection): boolean {
  const qa = a.lastPass?.scale ?? 0
  const qb = b.lastPass?.scale ?? 0
  if (qa !== qb) return qa > qb
  if (a.lastPass && b.lastPass) return a.lastPass.violationRate < b.lastPass.violationRate
  const low = (x: Bisection) => x.probes.reduce((m, p) => (p.scale < m.scale ? p : m)).violationRate
  return low(a) < low(b)
}

/**
 * Whether candidate layout `a` beats `b`: the higher sustained load; at equal loads (common on a coarse grid of fixed
 * loads) the fewer violations summed over the loads both ran.
 */
function better(a: Sustained, b: Sustained): boolean {
  const qa = a.best?.offeredQps ?? 0
  const qb = b.best?.offeredQps ?? 0
  if (qa !== qb) return qa > qb
  const n = Math.min(a.tried.length, b.tried.length)
  const sum = (r: Sustained) => r.tried.slice(0, n).reduce((x, m) => x + m.violationRate, 0)
  return sum(a) < sum(b)
}
