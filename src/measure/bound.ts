// The ideal-packing bound (docs/design.md §6): with every kernel at its right-size, one round — one request of every worker —
// needs Σ_w Σ_k t_k·SM_k SM-seconds, so rounds per second ≤ SMs / that area, and no worker goes faster than alone.
import type { Profile } from '../formats/index.ts'

/**
 * Right-size of each kernel: the fewest profiled SMs whose time is within `tolerance` of the full-GPU time (docs/design.md
 * §1; the same rule as the optimizer's src/plan/rightsize.ts). Returns the size index per kernel.
 */
export function rightSizeIndices(profile: Profile, tolerance: number): number[] {
  const last = profile.sizes.length - 1
  return profile.kernels.map((k) => {
    const limit = (1 + tolerance) * (k.timesUs[last] ?? 0)
    for (let i = 0; i <= last; i++) if ((k.timesUs[i] ?? Number.POSITIVE_INFINITY) <= limit) return i
    return last
  })
}

/** Right-size in SMs of each kernel. */
export function rightSizes(profile: Profile, tolerance: number): number[] {
  return rightSizeIndices(profile, tolerance).map((i) => profile.sizes[i] ?? 0)
}

/** SM·µs one request needs with every kernel at its right-size. */
export function packedArea(profile: Profile, tolerance: number): number {
  const idx = rightSizeIndices(profile, tolerance)
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

/**
 * Rounds per second a run achieved: a round needs one request of every worker, so the rounds completed are the
 * requests of the worker with the fewest. It can exceed the bound when kernels run on fewer SMs than their
 * right-size (a kernel's SM-time is often smaller there, at a longer latency): the bound is docs/design.md §6's yardstick,
 * not a law.
 */
export function achievedRoundsPerS(rps: readonly number[]): number {
  return rps.length > 0 ? Math.min(...rps) : 0
}
