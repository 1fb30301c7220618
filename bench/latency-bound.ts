// The capped STP bound with each worker's SM-time taken at the latency its rate allows (docs/design.md §6).
//
// Why. The bound of src/profile/bound.ts charges every request its kernels' SM-time at their 5% right-sizes whatever
// the worker's rate, while letting the rate reach solo: too little SM-time for a worker near its solo rate (its
// kernels then need their fastest sizes), too much for one well below it (with latency to spare its kernels fit on
// fewer SMs). Runs landed above that estimate in six of the 13 mixes at batch 8.
// What. A worker at share x of its solo rate (closed loop, one request in flight) has 1 / (x · solo) per request. Less
// the time its request spends outside kernels (its whole-GPU latency less the sum of its kernels' whole-GPU times),
// that is the kernels' budget; kernels stretched by what the worker keeps beside its neighbours (cap c: each kernel
// takes 1 / c of its solo time, and holds its SMs that long) get c × the budget of solo time. The fewest SM·µs a
// request needs within a budget T is at least the lower convex hull of the (Σ time, Σ time × SMs) the kernels'
// sizes allow, which a Lagrangian sweep gives exactly (each kernel at the size minimising time × (SMs + λ)). STP is
// then max Σ x_w, m_w ≤ x_w ≤ c_w, Σ_w x_w · solo_w · A_w(c_w · (1 / (x_w · solo_w) − overhead_w)) / c_w ≤ SMs: each
// term convex in x_w, so a Lagrangian over a grid of shares solves it. An estimate, as the capped bound is: the
// caps were measured on equal disjoint partitions, and blocks of two kernels sharing an SM are not counted.
import type { Profile } from '../src/formats/index.ts'

/** A point of a request's (kernel time, SM-time) hull: µs, SM·µs. */
export interface HullPoint {
  timeUs: number
  areaSmUs: number
}

/** Per kernel, its time at each profiled size: the default GEMMs' or the partition-targeted ones', the faster. */
function kernelTimes(p: Profile): number[][] {
  const t = p.gemmTarget?.timesUs
  return p.kernels.map((k, j) => k.timesUs.map((x, i) => Math.min(x, t?.[j]?.[i] ?? x)))
}

/**
 * The lower convex hull of a request's (Σ kernel time, Σ kernel time × SMs) over its kernels' sizes, time ascending.
 */
export function latencyAreaHull(p: Profile): HullPoint[] {
  const times = kernelTimes(p)
  const lambdas = [0, ...Array.from({ length: 241 }, (_, e) => 10 ** (-4 + e / 30)), Number.POSITIVE_INFINITY]
  const pts = new Map<string, HullPoint>()
  for (const lam of lambdas) {
    let timeUs = 0
    let areaSmUs = 0
    for (const t of times) {
      let best = 0
      const cost = (i: number) =>
        lam === Number.POSITIVE_INFINITY ? (t[i] ?? 0) : (t[i] ?? 0) * ((p.sizes[i] ?? 0) + lam)
      for (let i = 1; i < t.length; i++) if (cost(i) < cost(best)) best = i
      timeUs += t[best] ?? 0
      areaSmUs += (t[best] ?? 0) * (p.sizes[best] ?? 0)
    }
    pts.set(`${timeUs}|${areaSmUs}`, { timeUs, areaSmUs })
  }
  const sorted = [...pts.values()].sort((a, b) => a.timeUs - b.timeUs || a.areaSmUs - b.areaSmUs)
  // keep the non-dominated points (less time must cost more SM-time)
  const out: HullPoint[] = []
  for (const q of sorted)
    if (out.length === 0 || q.areaSmUs < (out[out.length - 1] as HullPoint).areaSmUs) out.push(q)
  return out
}

/** The least SM·µs a request needs with its kernels' time within `budgetUs`: Infinity below the fastest. */
export function areaWithin(hull: readonly HullPoint[], budgetUs: number): number {
  const first = hull[0]
  if (!first || budgetUs < first.timeUs * (1 - 1e-12)) return Number.POSITIVE_INFINITY
  for (let i = 1; i < hull.length; i++) {
    const a = hull[i - 1] as HullPoint
    const b = hull[i] as HullPoint
    if (budgetUs <= b.timeUs)
      return a.areaSmUs + ((b.areaSmUs - a.areaSmUs) * (budgetUs - a.timeUs)) / (b.timeUs - a.timeUs)
  }
  return (hull[hull.length - 1] as HullPoint).areaSmUs
}

/** One worker as the estimate sees it. */
export interface LatencyWorker {
  hull: HullPoint[]
  /** Its request's whole-GPU latency alone, µs (1 / its solo rate). */
  fullUs: number
  /** Time its request spends outside kernels, µs. */
  overheadUs: number
  /** Share of its solo rate it keeps beside its neighbours, (0, 1]. */
  cap: number
  /** Least share of its solo rate (its floor); 0: none. */
  floor: number
}

export function latencyWorker(p: Profile, fullUs: number, cap: number, floor = 0): LatencyWorker {
  const kernelsUs = p.kernels.reduce((a, k) => a + (k.timesUs[k.timesUs.length - 1] ?? 0), 0)
  return {
    hull: latencyAreaHull(p),
    fullUs,
    overheadUs: Math.max(0, fullUs - kernelsUs),
    cap: Math.min(1, cap),
    floor,
  }
}

/** SM·µs per second worker `w` needs at share `x` of its solo rate. */
export function smTimeAt(w: LatencyWorker, x: number): number {
  const budget = w.cap * (w.fullUs / x - w.overheadUs)
  return ((x * 1e6) / w.fullUs) * (areaWithin(w.hull, budget) / w.cap)
}

/** max Σ x_w within the SMs (header), on a grid of `step`; null when the floors alone do not fit. */
export function latencyStpBound(
  workers: readonly LatencyWorker[],
  smCount: number,
  step = 0.001,
): { stp: number; shares: number[] } | null {
  const options = workers.map((w) => {
    const out: { x: number; cost: number }[] = []
    for (let k = Math.ceil(w.floor / step - 1e-9); k * step <= w.cap + 1e-12; k++) {
      const x = k * step
      const cost = x === 0 ? 0 : smTimeAt(w, x)
      if (Number.isFinite(cost)) out.push({ x, cost })
    }
    return out
  })
  if (options.some((o) => o.length === 0)) return null
  const budget = smCount * 1e6
  const pick = (nu: number) => {
    let cost = 0
    const shares = options.map((o) => {
      let best = o[0] as { x: number; cost: number }
      for (const c of o) if (c.x - nu * c.cost > best.x - nu * best.cost) best = c
      cost += best.cost
      return best.x
    })
    return { cost, shares }
  }
  const least = options.reduce((a, o) => a + Math.min(...o.map((c) => c.cost)), 0)
  if (least > budget) return null
  let r = pick(0)
  if (r.cost > budget) {
    let lo = 0
    let hi = 1e-9
    while (pick(hi).cost > budget) hi *= 4
    for (let i = 0; i < 80; i++) {
      const mid = (lo + hi) / 2
      if (pick(mid).cost > budget) lo = mid
      else hi = mid
    }
    r = pick(hi)
  }
  return { stp: r.shares.reduce((a, x) => a + x, 0), shares: r.shares }
}
