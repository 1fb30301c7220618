// Pool builder: the partitions allocated once at start-up (docs/design.md §1 "pool") and, per worker, its ladder — the
// partitions the optimizer may put that worker's kernels on.
//
// Layout rules (ECLIP §4 generalised from 4 shader engines and 2 workers to n slices and k workers):
//  1. The whole GPU (every slice, the remainder included) is one partition shared by all workers, like ECLIP's
//     default stream; it is the top of every ladder.
//  2. Every worker gets the same ladder lengths (in regular slices). Its partition of length L is the contiguous
//     window of L slices starting at round(w/(k-1) · (n-L)): worker 0 is anchored at the low end of the slice
//     list, worker k-1 at the high end, the others evenly in between. Short windows of different workers are
//     therefore disjoint (the smallest ones always are when k ≤ n) and long ones grow towards each other, so
//     workers overlap as little as their sizes allow. (ECLIP: worker 1 SE1 / SE1+3 / SE1+2+3, worker 2 SE4 /
//     SE2+4 / SE2+3+4.)
//  3. Ladder lengths are profiled sizes only (L slices = L·sliceSize SMs must be a profiled size), spread
//     geometrically from 1 slice to the longest window that still leaves one slice to every other worker
//     (n - (k-1)); with one worker the ladder is every profiled size. Right-sizes crowd at the small end
//     (many kernels fit in one slice, docs/design.md §7), hence geometric rather than even steps.
//  4. At most `maxPartitions` distinct partitions (identical windows of different workers are one partition): the
//     ladder is shortened until the pool fits. With fewer than k+1 allowed, every worker gets only the whole GPU.
// Default cap 16: H100 showed no slowdown with 12 partitions busy at once (docs/design.md §7), and a plan keeps at
// most one partition per worker busy at a time, so the cap bounds only start-up cost (≈1.8 ms per partition) and the
// optimizer's size; 16 also lets a lone worker use all 16 profiled H100 sizes. ECLIP's MI50 needed 7 (8 queues).
import type { Gpu } from '../formats/gpu.ts'
import { regularSlices } from '../formats/gpu.ts'
import type { Partition } from '../formats/plan.ts'

export const DEFAULT_MAX_PARTITIONS = 16

/** The id of the pool partition over exactly these slices, added to the pool if it is not there yet. */
export function internPartition(
  partitions: Partition[],
  byKey: Map<string, number>,
  slices: readonly { id: number; sms: number }[],
): number {
  const key = slices.map((s) => s.id).join(',')
  let id = byKey.get(key)
  if (id === undefined) {
    id = partitions.length
    byKey.set(key, id)
    partitions.push({ id, slices: slices.map((s) => s.id), sms: slices.reduce((a, s) => a + s.sms, 0) })
  }
  return id
}

export interface PoolLayout {
  partitions: Partition[]
  /** Per worker: partition ids, ascending in SMs, the whole GPU last. */
  ladders: number[][]
}

export interface PoolOptions {
  maxPartitions?: number
  /** Profiled partition sizes in SMs (what every worker's profile has); default: every size the GPU allows. */
  sizes?: readonly number[]
}

/** Ladder lengths (in slices) for k workers: rule 3, `m` lengths from the allowed ones. */
export function ladderLengths(allowed: readonly number[], n: number, k: number, m: number): number[] {
  if (m <= 0 || allowed.length === 0) return []
  const top = k === 1 ? n : n - (k - 1)
  const cand = allowed.filter((l) => l <= top)
  if (cand.length === 0) return [allowed[0] as number]
  if (m >= cand.length) return [...cand]
  if (m === 1) {
    // one length: the worker's equal share of the slices (its home), so ladders stay disjoint
    const home = Math.max(1, Math.floor(n / k))
    return [cand.reduce((b, l) => (Math.abs(l - home) < Math.abs(b - home) ? l : b), cand[0] as number)]
  }
  const lo = cand[0] as number
  const hi = cand[cand.length - 1] as number
  const chosen = new Set<number>([lo, hi])
  for (let i = 1; i < m - 1; i++) {
    const t = Math.log(lo) + ((Math.log(hi) - Math.log(lo)) * i) / (m - 1)
    let best = -1
    for (const l of cand)
      if (!chosen.has(l) && (best < 0 || Math.abs(Math.log(l) - t) < Math.abs(Math.log(best) - t))) best = l
    if (best > 0) chosen.add(best)
  }
  return [...chosen].sort((a, b) => a - b)
}

export function buildPool(gpu: Gpu, workers: number, opts: PoolOptions = {}): PoolLayout {
  if (!Number.isInteger(workers) || workers < 1) throw new RangeError(`workers must be ≥ 1, got ${workers}`)
  const cap = opts.maxPartitions ?? DEFAULT_MAX_PARTITIONS
  if (!Number.isInteger(cap) || cap < 1) throw new RangeError(`maxPartitions must be ≥ 1, got ${cap}`)
  const reg = regularSlices(gpu)
  const n = reg.length
  const sizes = new Set(opts.sizes ?? [])
  if (opts.sizes && !sizes.has(gpu.smCount))
    throw new RangeError(`the whole GPU (${gpu.smCount} SMs) is not among the profiled sizes`)
  // allowed window lengths: profiled, and smaller than the whole GPU (a window of all slices without a remainder
  // would be the whole GPU again)
  const allowed: number[] = []
  let sum = 0
  reg.forEach((s, i) => {
    sum += s.sms
    if (sum < gpu.smCount && (!opts.sizes || sizes.has(sum))) allowed.push(i + 1)
  })
  const whole: Partition = { id: 0, slices: gpu.slices.map((s) => s.id), sms: gpu.smCount }

  for (let m = Math.min(allowed.length, Math.floor((cap - 1) / workers)); m >= 0; m--) {
    const lengths = ladderLengths(allowed, n, workers, m)
    const partitions: Partition[] = [whole]
    const byKey = new Map<string, number>([[whole.slices.join(','), 0]])
    const ladders: number[][] = []
    for (let w = 0; w < workers; w++) {
      const ladder: number[] = []
      for (const L of lengths) {
        const start = workers === 1 ? 0 : Math.round((w / (workers - 1)) * (n - L))
        ladder.push(internPartition(partitions, byKey, reg.slice(start, start + L)))
      }
      ladder.push(0)
      ladders.push(ladder)
    }
    if (partitions.length <= cap) return { partitions, ladders }
  }
  // unreachable: m = 0 gives a pool of one partition and cap ≥ 1
  throw new Error('pool builder: no layout fits')
}
