// eclip-fit's stream priorities: which workers' CUDA streams run at high priority beside the others. The GPU's block
// scheduler hands freed SMs to the highest-priority stream with blocks waiting, so a light worker's short kernels,
// raised, stop queueing behind a heavy neighbour's many blocks and run nearer their solo pace, at a small cost to the
// heavy one (docs/plan.md, "Stream priorities"). Priorities cost nothing at run time (the backend captures a raised
// worker's graphs on high-priority streams), so after the search settles on its partitions and groups, every set of
// raised workers below is scored with the same evaluator and ranked as the search ranks candidates (floors first).
import type { FitMetrics } from './fit.ts'

/**
 * A set of raised workers must beat the plan with none raised by this much of the search's value (its objective's
 * ratio to baseline's, STP by default).
 */
export const PRIORITY_MARGIN = 0.005
/**
 * A lowered worker pays in latency: the target for every worker's p95, × its p95 under baseline co-location. A
 * set is taken only if every worker's p95 stays within this less P95_MARGIN (HELD_P95_CAP), or within what it was with
 * none raised where that was already more (a worker whose p95 with none raised is not finite is not capped). Without it
 * the floor on throughput alone (0.9 by default) lets a lowered worker's p95 reach about 1 / 0.9 of baseline's in a
 * closed loop.
 */
export const PRIORITY_P95_CAP = 1.1
/**
 * A set is held to PRIORITY_P95_CAP less this, whether its p95 is predicted or measured: the simulator's p95 of a
 * lowered worker misses the GPU's by a few hundredths either way, and the tuning sees one short window per set, whose
 * p95 within the cap can land past it in the plan's own, longer run (docs/plan.md, "Stream priorities").
 */
export const P95_MARGIN = 0.03

/**
 * Predicted, a worker's p95 is the mean of its ratios to baseline's on the evaluator's own run and on these seeds of
 * the simulator: a closed loop of a few workers settles into phases the seed sets, and one seed's can spare a lowered
 * worker's tail that the GPU's run does not (docs/plan.md, "Stream priorities").
 */
export const P95_SEEDS = [102, 103, 104, 105]

/** The cap a set's predicted or measured p95 is held to (× baseline's p95), and the tuning's choice. */
export const HELD_P95_CAP = PRIORITY_P95_CAP - P95_MARGIN

/**
 * The cap sets and the tuning's choice are held to for a plan: the user's own per-worker p95 cap where the plan has one
 * (`--max-p95`, PlanOptions.maxP95: their latency target, held as given), else HELD_P95_CAP.
 */
export const heldP95Cap = (maxP95: number | undefined): number => maxP95 ?? HELD_P95_CAP

/**
 * The sets of workers (indices) worth raising: every proper non-empty subset of up to three workers; with more, each
 * worker alone and all but each one (2n sets instead of 2^n − 2). Raising every worker is the same as raising none.
 */
export function raisedSets(n: number): number[][] {
  const all = Array.from({ length: n }, (_, i) => i)
  if (n < 2) return []
  if (n <= 3) {
    const out: number[][] = []
    for (let mask = 1; mask < (1 << n) - 1; mask++) out.push(all.filter((i) => mask & (1 << i)))
    return out.sort((a, b) => a.length - b.length)
  }
  return [...all.map((i) => [i]), ...all.map((i) => all.filter((j) => j !== i))]
}

export interface PriorityChoice {
  /** Per worker, whether its streams run at high priority; undefined: none raised. */
  high: boolean[] | undefined
  /** The evaluator's metrics of the plan with that choice. */
  metrics: FitMetrics
  /** Sets scored besides none raised. */
  tried: number
  /** Sets that beat none raised by the margin but lift a worker's p95 past the cap: refused. */
  capped: number
  /** The p95 cap the sets were held to (× baseline's p95). */
  p95Cap: number
  /**
   * Each worker's p95 with none raised as held to the cap (× baseline's; `tail`'s where given): unless `strict`, a set
   * may keep a worker this high where it is past p95Cap. Undefined where no set gained.
   */
  plainP95?: number[]
}

/**
 * The best set of raised workers for a plan whose metrics with none raised are `plain`: each of raisedSets(n) scored
 * by `score` (the plan with those workers raised) and ranked by `value` (the search's ranking: floors first, then its
 * objective); one must keep every worker's p95 under `p95Cap` (HELD_P95_CAP), or where `plain` had it higher no higher
 * than that unless `strict`, and beat none raised by `margin` to be taken (PRIORITY_MARGIN on the simulator; a
 * measuring evaluator passes its noise, --tune's margin). `tail`, where given, gives the p95s held to the cap (the
 * simulator's over several seeds) for a set that gains and for none raised. `capped` counts the sets that would have
 * gained but were refused for a worker's p95.
 */
export async function choosePriorities(
  n: number,
  plain: FitMetrics,
  score: (high: boolean[]) => Promise<FitMetrics>,
  value: (m: FitMetrics) => number,
  margin = PRIORITY_MARGIN,
  p95Cap = HELD_P95_CAP,
  strict = false,
  tail?: (high: boolean[] | undefined, m: FitMetrics) => Promise<FitMetrics>,
): Promise<PriorityChoice> {
  let best: Omit<PriorityChoice, 'tried' | 'capped' | 'p95Cap'> = { high: undefined, metrics: plain }
  const gain = value(plain) + margin
  let bestValue = gain
  let capped = 0
  // the p95s held to the cap: `tail`'s (asked only of a set that gains, and of none raised once), else the score's
  let plainHeld: FitMetrics | undefined
  const sets = raisedSets(n)
  for (const set of sets) {
    const high = Array.from({ length: n }, (_, i) => set.includes(i))
    const scored = await score(high)
    const v = value(scored)
    if (v <= gain) continue
    const metrics = tail ? await tail(high, scored) : scored
    plainHeld ??= tail ? await tail(undefined, plain) : plain
    const before = plainHeld.p95Ratios
    const p95Held = metrics.p95Ratios.every(
      (r, i) => r <= (strict ? p95Cap : Math.max(p95Cap, before[i] ?? p95Cap)) + 1e-9,
    )
    if (!p95Held) {
      capped++
      continue
    }
    if (v > bestValue) [best, bestValue] = [{ high, metrics }, v]
  }
  return {
    ...best,
    tried: sets.length,
    capped,
    p95Cap,
    ...(plainHeld ? { plainP95: plainHeld.p95Ratios } : {}),
  }
}

/**
 * Whether a runner-up plan's priority choice `alt` replaces the best plan's (its metrics `best`, raised or not): only a
 * raised set, ranked higher by `value` by more than `margin`, with every worker's p95 within `p95Cap` itself (the
 * chooser lets a p95 stay where the runner-up had it unraised, which the best plan's choice was not allowed).
 */
export function beatsBest(
  alt: PriorityChoice | undefined,
  best: FitMetrics,
  value: (m: FitMetrics) => number,
  margin: number,
  p95Cap: number,
): alt is PriorityChoice & { high: boolean[] } {
  if (!alt?.high) return false
  if (!alt.metrics.p95Ratios.every((r) => r <= p95Cap + 1e-9)) return false
  return value(alt.metrics) > value(best) + margin
}
