// The sustained load to a stated resolution (issue #18, part 6): the highest offered load whose SLO violations stay
// within the target, found by bisection between a load known to pass and one known to fail, each probed load run
// `repeats` times on independent traces. The grid of fixed loads (`--rates`) answers "the highest of these loads that
// passed", a lower bound as coarse as the grid; this answers "the crossing lies in [last pass, first fail)", a bracket
// whose width is the resolution, with the spread of what the repeats saw at both ends.
//
// The search, in the load's scale (a multiple of the scenario's rates):
//   1. probe the start; if it passes, double until a load fails (at most maxDoublings times: else the scheme
//      "passes at the highest load tried"); if it fails, halve until one passes (at most maxHalvings times: else it
//      "fails even at the lowest load tried");
//   2. while first fail / last pass > 1 + resolution, probe their geometric mean and move the end it lands on.
// From a bracket of 2× a resolution of 5% takes ⌈log2(ln 2 / ln 1.05)⌉ = 4 steps: 6 probes when the start's first
// doubling or halving brackets the crossing, one more per further doubling or halving.
//
// A probed load passes when the pass rule holds over its repeats' violation rates:
//   median  the median repeat is within the target (the mean of the middle two for an even count): one outlying run
//           (a GPU hiccup, a bursty trace) neither makes nor breaks a load, and the answer does not drift with the
//           number of repeats;
//   all     every repeat is within the target: conservative, and the more repeats the lower the load it finds.
// Violation rate against load is monotone only in expectation; each probe's repeats are fresh traces, so the bracket
// holds for the rule's statistic as observed, not for the expectation, and the spread over the repeats at both ends
// says how close to the target they were.
import type { SimMetrics } from './sim.ts'

export type PassRule = 'median' | 'all'
export const PASS_RULES: PassRule[] = ['median', 'all']

export interface BisectOptions {
  /** Violation rate that still counts as sustained (0.01: 1%). */
  target: number
  /** Relative width the bracket is narrowed to: stop once first fail ≤ last pass × (1 + resolution). */
  resolution: number
  /** Runs per probed load, each on its own trace. */
  repeats: number
  pass: PassRule
  /** First load probed (scale). */
  start: number
  /** How many times the load may double above the start looking for a failing one. Default 10 (1024×). */
  maxDoublings?: number
  /** How many times it may halve below the start looking for a passing one. Default 8 (1/256). */
  maxHalvings?: number
}

export const DEFAULT_BISECT = { maxDoublings: 10, maxHalvings: 8 }

/** One probed load: its repeats' runs and the rule's verdict. */
export interface Probe {
  scale: number
  pass: boolean
  /** The statistic the rule compares with the target: the median repeat's violation rate, or the worst one. */
  violationRate: number
  /** One run per repeat, in repeat order. */
  runs: SimMetrics[]
}

export type BisectOutcome = 'converged' | 'fails-at-lowest' | 'passes-at-highest'

export interface Bisection {
  /** The highest load that passed (null: none did). */
  lastPass: Probe | null
  /** The lowest load above it that failed (null: none did). */
  firstFail: Probe | null
  /** Every probe, in the order run. */
  probes: Probe[]
  outcome: BisectOutcome
}

export interface Spread {
  median: number
  min: number
  max: number
}

/** Median (the mean of the middle two for an even count), minimum and maximum; NaN for none. */
export function spread(xs: readonly number[]): Spread {
  if (xs.length === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN }
  const s = [...xs].sort((a, b) => a - b)
  const h = s.length >> 1
  const median = s.length % 2 ? (s[h] ?? 0) : ((s[h - 1] ?? 0) + (s[h] ?? 0)) / 2
  return { median, min: s[0] ?? 0, max: s[s.length - 1] ?? 0 }
}

/** The pass rule's statistic over the repeats' violation rates, and whether it is within the target. */
export function judge(violations: readonly number[], rule: PassRule, target: number) {
  const s = spread(violations)
  const stat = rule === 'all' ? s.max : s.median
  return { stat, pass: stat <= target }
}

/** Refuses options the search cannot run with (the CLI's checks give the user's wording first). */
export function checkBisectOptions(o: BisectOptions): void {
  if (!(o.target >= 0 && o.target < 1)) throw new RangeError(`bisect: target ${o.target} is not in [0, 1)`)
  if (!(o.resolution > 0)) throw new RangeError(`bisect: resolution ${o.resolution} is not > 0`)
  if (!(Number.isInteger(o.repeats) && o.repeats >= 1))
    throw new RangeError(`bisect: repeats ${o.repeats} is not an integer ≥ 1`)
  if (!PASS_RULES.includes(o.pass)) throw new RangeError(`bisect: unknown pass rule ${o.pass}`)
  if (!(o.start > 0 && Number.isFinite(o.start))) throw new RangeError(`bisect: start ${o.start} is not > 0`)
}

/** Bisection steps that narrow a bracket of `ratio` (last pass × ratio = first fail) to 1 + resolution. */
export function bisectionSteps(ratio: number, resolution: number): number {
  if (ratio <= 1 + resolution) return 0
  return Math.ceil(Math.log2(Math.log(ratio) / Math.log(1 + resolution)))
}

/**
 * The highest load that passes, bracketed to the resolution. `run(scale, repeat)` runs one trace of that load (repeat
 * r of it: a trace of its own); `onProbe` hears each probe as it completes (GPU runs are long: progress lines).
 */
export async function bisectSustained(
  run: (scale: number, repeat: number) => SimMetrics | Promise<SimMetrics>,
  opts: BisectOptions,
  onProbe?: (p: Probe) => void,
): Promise<Bisection> {
  checkBisectOptions(opts)
  const o = { ...DEFAULT_BISECT, ...opts }
  const probes: Probe[] = []
  const probe = async (scale: number): Promise<Probe> => {
    const runs: SimMetrics[] = []
    for (let r = 0; r < o.repeats; r++) runs.push(await run(scale, r))
    const { stat, pass } = judge(
      runs.map((m) => m.violationRate),
      o.pass,
      o.target,
    )
    const p: Probe = { scale, pass, violationRate: stat, runs }
    probes.push(p)
    onProbe?.(p)
    return p
  }
  let lastPass: Probe | null = null
  let firstFail: Probe | null = null
  const first = await probe(o.start)
  if (first.pass) {
    lastPass = first
    for (let i = 0; i < o.maxDoublings && !firstFail; i++) {
      const p = await probe(lastPass.scale * 2)
      if (p.pass) lastPass = p
      else firstFail = p
    }
  } else {
    firstFail = first
    for (let i = 0; i < o.maxHalvings && !lastPass; i++) {
      const p = await probe(firstFail.scale / 2)
      if (p.pass) lastPass = p
      else firstFail = p
    }
  }
  if (lastPass && firstFail)
    while (firstFail.scale > lastPass.scale * (1 + o.resolution)) {
      const p = await probe(Math.sqrt(lastPass.scale * firstFail.scale))
      if (p.pass) lastPass = p
      else firstFail = p
    }
  const outcome: BisectOutcome = !lastPass
    ? 'fails-at-lowest'
    : !firstFail
      ? 'passes-at-highest'
      : 'converged'
  return { lastPass, firstFail, probes, outcome }
}

/**
 * The run whose violation rate is the median of a probe's repeats (the lower middle one for an even count): the one
 * run that stands for the probe where a single run's metrics are shown.
 */
export function medianRun(p: Probe): SimMetrics {
  const sorted = [...p.runs].sort((a, b) => a.violationRate - b.violationRate)
  return sorted[(sorted.length - 1) >> 1] as SimMetrics
}

/** Where one scheme's bracket stands against another's. */
export type Verdict = 'beats' | 'ties' | 'loses'

interface Bracketed {
  lastPassQps: number
  firstFailQps: number | null
}

/** Whether A's bracket lies wholly above B's: A passed at a load where B had already failed. */
export function above(a: Bracketed, b: Bracketed): boolean {
  return (
    a.lastPassQps > 0 && (b.lastPassQps === 0 || (b.firstFailQps !== null && a.lastPassQps >= b.firstFailQps))
  )
}

/**
 * A against B beyond the resolution: A beats B when its bracket lies wholly above B's (it passed at a load where B had
 * already failed) and its sustained load (last pass) is at least (1 + resolution) × B's, or B passed at no load tried
 * while A did; loses in the mirror case; otherwise they tie at this resolution — including brackets that do not
 * overlap but whose last passes lie within the resolution of each other (ahead, by less than it can show). A scheme
 * that never failed has no first fail: nothing lies above it.
 */
export function verdict(a: Bracketed, b: Bracketed, resolution: number): Verdict {
  const ahead = (x: Bracketed, y: Bracketed) =>
    above(x, y) && (y.lastPassQps === 0 || x.lastPassQps >= (1 + resolution) * y.lastPassQps)
  if (ahead(a, b)) return 'beats'
  if (ahead(b, a)) return 'loses'
  return 'ties'
}
