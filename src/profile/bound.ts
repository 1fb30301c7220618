// What the profiles say a mix can reach at best, from every kernel at its right-size (docs/design.md §6): the planner
// states it in a plan's prediction, the metrics compare a run with it.
// - The ideal-packing bound: one round — one request of every worker — needs Σ_w Σ_k t_k·SM_k SM-seconds, so rounds
//   per second ≤ SMs / that area, and no worker goes faster than alone.
// - The STP bound: a request of worker w needs A_w SM·µs, so max Σ_w x_w subject to 0 ≤ x_w ≤ 1 (no worker beats its
//   solo rate) and Σ_w x_w·solo_w·A_w ≤ SMs. One constraint and unit values: a fractional knapsack, filled greedily by
//   the smallest solo_w·A_w. It ignores overlap inside a graph and memory contention, so a run can land above it: it
//   is a yardstick, not a law.
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
 * The STP upper bound: max Σ x_w, 0 ≤ x_w ≤ 1, Σ x_w·solo_w·A_w ≤ SMs. `soloRps` in requests/s, `areaSmUs` in SM·µs
 * per request, `smCount` SMs (so SMs·1e6 SM·µs per second are available).
 */
export function stpBound(soloRps: readonly number[], areaSmUs: readonly number[], smCount: number): StpBound {
  if (soloRps.length !== areaSmUs.length)
    throw new RangeError(`stpBound: ${soloRps.length} solo rates but ${areaSmUs.length} areas`)
  if (!(smCount > 0)) throw new RangeError(`stpBound: smCount ${smCount} must be > 0`)
  // SM·µs per second worker w needs to run at its solo rate
  const cost = soloRps.map((s, i) => {
    const a = areaSmUs[i] as number
    if (!(s > 0) || !(a >= 0)) throw new RangeError(`stpBound: worker ${i}: solo rate ${s}, area ${a}`)
    return s * a
  })
  const shares = cost.map(() => 0)
  let left = smCount * 1e6
  for (const i of cost.map((_, i) => i).sort((a, b) => (cost[a] as number) - (cost[b] as number))) {
    const c = cost[i] as number
    const x = c === 0 ? 1 : Math.min(1, left / c)
    shares[i] = x
    left -= x * c
    if (left <= 0) break
  }
  return { stp: shares.reduce((a, b) => a + b, 0), shares }
}
