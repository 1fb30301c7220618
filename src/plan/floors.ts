// What eclip-fit and eclip hold a plan to on an evaluator, and what a plan's notes say of it: the mix's objective
// (weights, floors, guard on total requests/s) on the workers' solo rates, STP beside its bounds, and the workers
// short of their floors.

import { UserError } from '../formats/errors.ts'
import type { WorkerSpec } from '../formats/mix.ts'
import type { Profile } from '../formats/profile.ts'
import { packedArea, stpBound } from '../profile/bound.ts'
import { DEFAULT_MIN_SHARE, type FitMetrics, type FitObjective, type FitScore, fitMetrics } from './fit.ts'
import type { PlanEvaluator, PlanOptions } from './options.ts'

/**
 * The workers' weights (absent: 1) relative to the largest: equal weights are all 1 whatever their size, and no sum
 * of weighted terms can overflow. Only their ratios mean anything to an objective.
 */
export function relativeWeights(workers: readonly WorkerSpec[]): number[] {
  const given = workers.map((w) => w.weight ?? 1)
  const top = Math.max(...given)
  return given.map((x) => (x === top ? 1 : x / top))
}

/**
 * STP's weights and the floors of a mix's workers (plan order), with the solo rates given. The `requests` objective
 * weighs each worker by its solo rate on top of its own weight: Σ weight · solo · rate / solo is then the total
 * requests/s (DISB's overall throughput), still under every worker's floor. Weights relative to the largest
 * (relativeWeights); the `requests` objective's scaled to a mean of 1.
 */
export function objectiveOf(workers: readonly WorkerSpec[], soloRps: number[], o: PlanOptions): FitObjective {
  const rel = relativeWeights(workers)
  const raw = rel.map((x, i) => x * (o.objective === 'requests' ? (soloRps[i] ?? 1) : 1))
  const mean = raw.reduce((a, x) => a + x, 0) / Math.max(1, raw.length)
  return {
    soloRps,
    weights: o.objective === 'requests' ? raw.map((x) => x / mean) : raw,
    floors: workers.map((w) => w.minShare ?? o.minShare ?? DEFAULT_MIN_SHARE),
    // eclip-fit's guard: the other policies search nothing it could steer
    ...(o.policy === 'eclip-fit' && o.minTotalShare !== undefined ? { minTotal: o.minTotalShare } : {}),
    ...(o.policy === 'eclip-fit' && o.maxP95 !== undefined ? { maxP95: o.maxP95 } : {}),
  }
}

/** Each worker alone on the whole GPU, requests/s: the evaluator's, else 1 / the profile's whole-GPU latency. */
export async function soloRates(evaluator: PlanEvaluator, profiles: readonly Profile[]): Promise<number[]> {
  const out: number[] = []
  for (const [i, p] of profiles.entries()) {
    const r = evaluator.soloRps ? await evaluator.soloRps(i) : 0
    out.push(r > 0 ? r : 1e6 / Math.max(1e-9, p.requestUs[p.requestUs.length - 1] ?? 0))
  }
  return out
}

/** Unweighted STP of the plan and of baseline as the evaluator saw them, and the mix's STP bound. */
export function stpInfo(
  m: FitMetrics,
  base: FitScore,
  obj: FitObjective,
  profiles: readonly Profile[],
  N: number,
  tol: number,
) {
  const plain = { ...obj, weights: obj.weights.map(() => 1) }
  const value = fitMetrics(
    { ...base, throughputRps: base.throughputRps.map((b, i) => b * (m.ratios[i] ?? 0)) },
    base,
    plain,
  ).stp
  const baseline = fitMetrics(base, base, plain).stp
  const areas = profiles.map((p) => packedArea(p, tol))
  const bound = stpBound(obj.soloRps, areas, N).stp
  // the same with every worker at its floor of its (evaluated) baseline rate at least: the yardstick of a floored plan
  const floored =
    stpBound(
      obj.soloRps,
      areas,
      N,
      obj.soloRps.map((s, i) => ((obj.floors[i] ?? 0) * (base.throughputRps[i] ?? 0)) / s),
    )?.stp ?? null
  return { value, baseline, bound, floored }
}

/** A plan note's floored bound: ", 0.912 of the floored bound 1.402 (every worker at its floor at least)". */
export const flooredText = (stp: { value: number; floored: number | null }) =>
  stp.floored === null
    ? ', no floored bound (the floors alone need more than the SMs at right-sizes)'
    : `, ${(stp.value / stp.floored).toFixed(3)} of the floored bound ${stp.floored.toFixed(3)} (every worker at its floor at least)`

/**
 * The workers that miss their floors, each with its ratio to baseline, its floor and the shortfall, then the total
 * requests/s if short of minTotal, then the workers whose p95 is past the cap (maxP95); [] if none.
 */
export function floorShortfalls(workers: readonly WorkerSpec[], m: FitMetrics, obj: FitObjective): string[] {
  const short = workers.flatMap((w, i) => floorShortfall(w, m.ratios[i] ?? 0, obj.floors[i] ?? 0) ?? [])
  // as fitMetrics counts it (baseline's placement, the guard's reference, is never short)
  if (m.totalShortfall > 0)
    short.push(
      `total requests/s at ${m.totalRatio.toFixed(3)}× baseline's, minTotalShare ${obj.minTotal} (short by ${m.totalShortfall.toFixed(3)})`,
    )
  const cap = obj.maxP95
  if (cap !== undefined && m.p95Shortfall > 0)
    for (const [i, w] of workers.entries()) {
      const r = m.p95Ratios[i] ?? Number.POSITIVE_INFINITY
      if (r > cap + 1e-9)
        short.push(
          `${w.name} (${w.model}) at a p95 ${r.toFixed(3)}× baseline's, cap ${cap}× (past it by ${(r - cap).toFixed(3)})`,
        )
    }
  return short
}

/** A worker whose rate ÷ its baseline rate is under its floor, named with both and the shortfall; null if it is not. */
export function floorShortfall(w: WorkerSpec, ratio: number, floor: number): string | null {
  return ratio + 1e-9 < floor
    ? `${w.name} (${w.model}) at ${ratio.toFixed(3)}× its baseline throughput, floor ${floor.toFixed(2)}× (short by ${(floor - ratio).toFixed(3)})`
    : null
}

/**
 * The objective's floors, guard on total requests/s and p95 cap, as a plan's notes give them: "0.9×, total
 * requests/s ≥ …".
 */
export const floorsText = (obj: FitObjective) =>
  `${[...new Set(obj.floors)].map((x) => `${x}×`).join('/')}${obj.minTotal !== undefined ? `, total requests/s ≥ ${obj.minTotal}× baseline's` : ''}${obj.maxP95 !== undefined ? `, every p95 ≤ ${obj.maxP95}× baseline's` : ''}`

/**
 * Whether the floors and the guard were met, as a plan's notes say it: "floors met (0.9×, total requests/s ≥ 1.05×
 * baseline's)". `met`: as the ranking held them. The baseline's placement (`fellBack`) is the guard's reference: its
 * total is baseline's, so a guard above 1 it does not meet, and the note says that it was kept and where its total
 * stands instead of calling the guard met (it is kept when it scores best, or the p95 hold takes it, whether or not
 * some plan met the guard).
 * `held`: appended inside the parentheses (how the floors were held); `why`: why it was kept.
 */
export function floorsMetText(
  obj: FitObjective,
  met: boolean,
  fellBack: boolean,
  held = '',
  why = 'it scored best',
): string {
  const floors = [...new Set(obj.floors)].map((x) => `${x}×`).join('/')
  if (fellBack && met && obj.minTotal !== undefined && obj.minTotal > 1)
    return (
      `floors met (${floors}${held}), the baseline's placement kept: ${why}, and the guard on total ` +
      `requests/s (≥ ${obj.minTotal}× baseline's) is measured against it (1× baseline's)`
    )
  return `floors ${met ? 'met' : 'NOT met'} (${floorsText(obj)}${held})`
}

/** A plan short of its floors: refused with the workers and shortfalls named, or (acceptShortfall) a warning note. */
export function shortfallOrThrow(
  what: string,
  short: string[],
  o: PlanOptions,
  notes: string[],
  how = 'simulated',
) {
  if (short.length === 0) return
  // one plan note (notes are joined by '; ', so none inside it)
  const msg = `${what} misses ${short.length} throughput floor(s) (${how}): ${short.join(' and ')}`
  if (!o.acceptShortfall)
    throw new UserError(
      `${msg}. Lower the worker's minShare (or the minTotalShare) in the mix file or serve config, or every worker's with --min-share (0 accepts any rate), or plan with acceptShortfall`,
    )
  notes.push(`WARNING: ${msg}, accepted`)
}
