// The comparison of issue #7 in the simulator: for each number of GPUs, each scheme (a server layout + a dispatch
// policy) is driven with open-loop Poisson load; the headline is the highest load it sustains with ≤ 1% SLO
// violations, and a sweep of loads gives violation-rate and p99 curves. Everything is seeded: the same scenario,
// options and seed give the same numbers.
import type { Gpu } from '../formats/index.ts'
import { DEFAULT_ELSA } from './elsa.ts'
import {
  DEFAULT_PARIS,
  homogeneous,
  type ParisOptions,
  type ParisPlan,
  type Partition,
  paris,
  uniform,
} from './partition.ts'
import type { LoadedScenario } from './scenario.ts'
import { type Dispatch, makeTrace, maxSustainable, type SimMetrics, simulate } from './sim.ts'

/**
 * 'best-uniform': the best of several uniform sizes (UNIFORM_SLICES); 'paris-tuned': the best of PARIS plans over a
 * small grid of its two parameters (PARIS_GRID). Both are chosen per GPU count by sustained load in the simulator —
 * with hindsight (the trace that chooses is the one that scores), which flatters both alike.
 */
export type Layout = 'small' | 'whole' | 'paris' | 'best-uniform' | 'paris-tuned'

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
    name: 'eclip-kw/elsa',
    label: 'eclip kernel-wise (placeholder)',
    layout: 'whole',
    dispatch: 'elsa',
    placeholder:
      'whole GPUs behind an ELSA-like dispatcher; eclip kernel-wise plans (several queries sharing one GPU, each ' +
      'kernel on its right-size partition) are not simulated at request level yet',
  },
]

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
  /**
   * Runs one trace through one layout and policy. Default: the simulator. The hook for real GPUs: a backend that
   * builds the partitions (slice ids of one split per GPU) as green contexts, replays the trace's arrivals open-loop
   * with the same dispatch and returns the same metrics, so a measured comparison is this one with another backend.
   */
  backend: typeof simulate
  /** Called after each (GPU count, scheme) with a one-line progress message. */
  progress?: (line: string) => void
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
}

export interface SweepPoint {
  scheme: string
  gpus: number
  fraction: number
  offeredQps: number
  violationRate: number
  p99Ms: number
  utilisation: number
  goodputQps: number
}

export interface Comparison {
  plans: ParisPlan[]
  results: SchemeResult[]
  sweep: SweepPoint[]
  options: Omit<CompareOptions, 'progress' | 'schemes' | 'backend'> & { schemes: string[] }
}

/** The layouts a scheme is tried with at g GPUs (several only for best-uniform). */
export function layoutsFor(
  sc: LoadedScenario,
  plan: ParisPlan,
  g: number,
  layout: Layout,
): { parts: Partition[]; choice?: string }[] {
  if (layout === 'paris') return [{ parts: plan.partitions }]
  if (layout === 'best-uniform')
    return UNIFORM_SLICES.map((k) => ({
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

export function compare(
  sc: LoadedScenario,
  options: Partial<CompareOptions> & { gpus: number[]; seed: number },
) {
  const o: CompareOptions = { ...DEFAULT_COMPARE, ...options }
  const totalRate = sc.models.reduce((a, m) => a + m.rate, 0)
  const plans: ParisPlan[] = []
  const results: SchemeResult[] = []
  const sweep: SweepPoint[] = []
  for (const g of o.gpus) {
    const plan = paris(sc, g, o.paris)
    plans.push(plan)
    const totalSms = g * sc.gpu.smCount
    const run = (parts: Partition[], s: Scheme, scale: number) =>
      o.backend(
        sc.models,
        parts,
        makeTrace(sc.models, scale, o.queries, o.seed, o.noise),
        {
          dispatch: s.dispatch,
          sloMargin: o.sloMargin,
        },
        totalSms,
      )
    const layouts = new Map<Scheme, Partition[]>()
    let best = 0
    for (const s of o.schemes) {
      let parts: Partition[] = []
      let r: ReturnType<typeof maxSustainable> | undefined
      let runs = 0
      let choice: string | undefined
      for (const candidate of layoutsFor(sc, plan, g, s.layout)) {
        const c = maxSustainable((scale) => run(candidate.parts, s, scale), {
          target: o.target,
          steps: o.steps,
          start: g,
        })
        runs += c.tried.length
        if (!r || (c.best?.offeredQps ?? 0) > (r.best?.offeredQps ?? 0)) {
          r = c
          parts = candidate.parts
          choice = candidate.choice
        }
      }
      if (!r) continue
      layouts.set(s, parts)
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
    for (const s of o.schemes)
      for (const f of o.sweep) {
        const qps = f * best
        if (!(qps > 0)) continue
        const m = run(layouts.get(s) ?? [], s, qps / totalRate)
        sweep.push({
          scheme: s.name,
          gpus: g,
          fraction: f,
          offeredQps: m.offeredQps,
          violationRate: m.violationRate,
          p99Ms: m.p99Ms,
          utilisation: m.utilisation,
          goodputQps: m.goodputQps,
        })
      }
  }
  const { progress: _p, backend: _b, schemes, ...rest } = o
  return {
    plans,
    results,
    sweep,
    options: { ...rest, schemes: schemes.map((s) => s.name) },
  } satisfies Comparison
}
