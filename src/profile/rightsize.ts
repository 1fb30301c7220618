// Right-sizing (docs/design.md §1): the fewest SMs at which a kernel's solo time is within a tolerance of its full-GPU
// time. ECLIP's "without noticeable slowdown" has no number in the paper; eclip uses a tolerance, 5% by default.

export const DEFAULT_TOLERANCE = 0.05

/**
 * Index (into `timesUs`, sizes ascending, the last the whole GPU) of the smallest size whose time is at most
 * (1 + tolerance) × the full-GPU time. `candidates` restricts the choice to some size indices (a worker's ladder);
 * the last candidate is returned when none meets the tolerance (it should be the whole GPU).
 */
export function rightSizeIndex(
  timesUs: readonly number[],
  tolerance: number = DEFAULT_TOLERANCE,
  candidates?: readonly number[],
): number {
  if (!(tolerance >= 0)) throw new RangeError(`tolerance must be ≥ 0, got ${tolerance}`)
  const full = timesUs[timesUs.length - 1] ?? 0
  const limit = (1 + tolerance) * full
  const idx = candidates ?? timesUs.map((_, i) => i)
  for (const i of idx) if ((timesUs[i] ?? Number.POSITIVE_INFINITY) <= limit) return i
  return idx[idx.length - 1] ?? timesUs.length - 1
}

/** Right-size in SMs of every kernel of a profile (over all its profiled sizes). */
export function rightSizes(
  profile: { sizes: readonly number[]; kernels: readonly { timesUs: readonly number[] }[] },
  tolerance: number = DEFAULT_TOLERANCE,
): number[] {
  return profile.kernels.map((k) => profile.sizes[rightSizeIndex(k.timesUs, tolerance)] ?? 0)
}
