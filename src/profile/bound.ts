// What the profiles say a mix can reach at best, from every kernel at its right-size (docs/design.md §6): the planner
// states it in a plan's prediction, the metrics compare a run with it.
// - The ideal-packing bound: one round — one request of every worker — needs Σ_w Σ_k t_k·SM_k SM-seconds, so rounds
//   per second ≤ SMs / that area, and no worker goes faster than alone.
// - The STP bound: a request of worker w needs A_w SM·µs, so max Σ_w x_w subject to 0 ≤ x_w ≤ 1 (no worker beats its
//   solo rate) and Σ_w x_w·solo_w·A_w ≤ SMs. One constraint and unit values: a fractional knapsack, filled greedily by
//   the smallest solo_w·A_w. It ignores overlap inside a graph and memory contention, so a run can land above it: it
//   is a yardstick, not a law. Left alone it starves the workers whose requests need the most SM-time (their x_w is
//   0), so it is no yardstick for a plan that must keep every worker above a floor.
// - The floored STP bound: the same with x_w ≥ m_w, every worker's floor as a share of its solo rate (a plan's floor
//   of 0.9 × its rate under baseline: m_w = 0.9 × baseline rate_w ÷ solo_w). The floors take their SM-time first,
//   what is left is filled greedily as above; still a fractional knapsack, still optimal. Where the floors alone need
//   more than the SMs, no floored plan fits the yardstick and there is no floored bound (null).
// - Caps: x_w ≤ c_w instead of 1, for what a worker keeps of its solo rate beside its neighbours whatever its SMs
//   (measured on disjoint partitions: results/h100/interference/). Same knapsack, filled up to the caps.
import type { Profile } from '../formats/index.ts'
import { rightSizeIndex } from './rightsize.ts'

/** SM·µs one request needs with every kernel at its right-size. */
export function packedArea(profile: Profile, tolerance: number): number {
  const idx = profile.kernels.map((k) => rightSizeIndex(k.timesUs, tolerance))
  let a = 0
  profile.kernels.forEach((k, j) => {
    const i = idx[j] as number
    a += (k.timesUs[i] ?? 0) * (profile.sizes[i] ?? 0)
  })
  return a
}

export interface PackingBound {
  /** Per worker, SM·µs per request at right-sizes. */
  areas: number[]
  /** Rounds per second the SMs allow: SMs / Σ area. */
  areaRoundsPerS: number
  /** Rounds per second the slowest worker allows alone (1 / its full-GPU request latency). */
  soloRoundsPerS: number
  idealRoundsPerS: number
}

export function packingBound(profiles: readonly Profile[], smCount: number, tolerance: number): PackingBound {
  const areas = profiles.map((p) => packedArea(p, tolerance))
  const total = areas.reduce((a, b) => a + b, 0)
  const areaRoundsPerS = total > 0 ? (smCount * 1e6) / total : Number.POSITIVE_INFINITY
  const soloRoundsPerS = Math.min(
    ...profiles.map((p) => 1e6 / Math.max(1e-9, p.requestUs[p.requestUs.length - 1] ?? 0)),
  )
  return { areas, areaRoundsPerS, soloRoundsPerS, idealRoundsPerS: Math.min(areaRoundsPerS, soloRoundsPerS) }
}

export interface StpBound {
  /** max Σ_w x_w. */
  stp: number
  /** x_w at the optimum (rate_w / solo_w), in worker order. */
  shares: number[]
}

/**
 * The STP upper bound: max Σ x_w, m_w ≤ x_w ≤ 1, Σ x_w·solo_w·A_w ≤ SMs. `soloRps` in requests/s, `areaSmUs` in SM·µs
 * per request, `smCount` SMs (so SMs·1e6 SM·µs per second are available); `minShares` (absent: 0 for every worker)
 * the floored bound's m_w, each capped at 1; `maxShares` (absent: 1) each worker's cap c_w. Null only with floors
 * whose SM-time alone exceeds the SMs, or a floor above its worker's cap.
 */
export function stpBound(soloRps: readonly number[], areaSmUs: readonly number[], smCount: number): StpBound
export function stpBound(
  soloRps: readonly number[],
  areaSmUs: readonly number[],
  smCount: number,
  minShares: readonly number[] | undefined,
  maxShares?: readonly number[],
): StpBound | null
export function stpBound(
  soloRps: readonly number[],
  areaSmUs: readonly number[],
  smCount: number,
  minShares?: readonly number[],
  maxShares?: readonly number[],
): StpBound | null {
  if (soloRps.length !== areaSmUs.length)
    throw new RangeError(`stpBound: ${soloRps.length} solo rates but ${areaSmUs.length} areas`)
  if (minShares && minShares.length !== soloRps.length)
    throw new RangeError(`stpBound: ${soloRps.length} solo rates but ${minShares.length} floors`)
  if (maxShares && maxShares.length !== soloRps.length)
    throw new RangeError(`stpBound: ${soloRps.length} solo rates but ${maxShares.length} caps`)
  if (!(smCount > 0)) throw new RangeError(`stpBound: smCount ${smCount} must be > 0`)
  // SM·µs per second worker w needs to run at its solo rate
  const cost = soloRps.map((s, i) => {
    const a = areaSmUs[i] as number
    if (!(s > 0) || !(a >= 0)) throw new RangeError(`stpBound: worker ${i}: solo rate ${s}, area ${a}`)
    return s * a
  })
  const caps = cost.map((_, i) => {
    const c = maxShares?.[i] ?? 1
    if (!(c >= 0)) throw new RangeError(`stpBound: worker ${i}: cap ${c} must be ≥ 0`)
    return Math.min(1, c)
  })
  const shares = cost.map((_, i) => {
    const m = minShares?.[i] ?? 0
    if (!(m >= 0)) throw new RangeError(`stpBound: worker ${i}: floor ${m} must be ≥ 0`)
    return Math.min(1, m)
  })
  // a floor above its cap: no share vector keeps both
  if (shares.some((m, i) => m > (caps[i] as number) + 1e-12)) return null
  let left = smCount * 1e6 - shares.reduce((a, x, i) => a + x * (cost[i] as number), 0)
  // the floors' own SM-time past the SMs (beyond rounding): nothing that keeps them fits
  if (left < -1e-9 * smCount * 1e6) return null
  for (const i of cost.map((_, i) => i).sort((a, b) => (cost[a] as number) - (cost[b] as number))) {
    const c = cost[i] as number
    if (left <= 0 && c > 0) break
    const cap = caps[i] as number
    const x = c === 0 ? cap : Math.min(cap, (shares[i] as number) + Math.max(0, left) / c)
    left -= (x - (shares[i] as number)) * c
    shares[i] = x
  }
  return { stp: shares.reduce((a, b) => a + b, 0), shares }
}
