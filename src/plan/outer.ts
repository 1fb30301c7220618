// The outer search that makes ECLIP's objective linear (docs/design.md §4).
//
// The objective is F = (1 + A/N) · S, with S = Σ_w Σ_k β_k (solo time at the chosen sizes), A = Σ_w CUAverage_w
// (α = A/N is shared by all workers: see instance.ts) and N the GPU's SMs: a product, not linear. For a multiplier
// λ ≥ 0 the problem  min S + λ·A  (switch budgets per worker) is linear and separates per worker — one DP or one
// small MILP each (the "oracle"). Every plan's point (A, S) lies on or above the lower convex hull of all plans'
// points, and the oracle at λ returns a hull vertex. On a hull edge between vertices p and q, S is affine in A, so
// (1 + A/N) · S is a product of an increasing and a decreasing affine function: concave, minimal at p or q. Hence
// the optimum of F is a hull vertex, and walking the hull (Eisner–Severance: λ = slope between two known
// vertices; a new vertex strictly below the edge splits it, none closes it) finds it exactly. Edges are pruned
// when a lower bound from the oracle's supporting lines S ≥ L − λ·A proves they cannot beat the incumbent by more
// than the MIP gap. The same lines give the reported gap when the time limit stops the walk, or when the oracle
// itself (HiGHS) hit its limit and returned only a bound.
import type { Assignment } from './instance.ts'

export interface OracleResult {
  assignments: Assignment[]
  /** A proven lower bound on min Σ_w (S_w + λ·A_w); equals the found plan's value when the oracle is exact. */
  bound: number
}
export type Oracle = (lambda: number, deadlineMs: number) => Promise<OracleResult>

interface Point {
  assignments: Assignment[]
  A: number
  S: number
  F: number
  /** Supporting line S + λA ≥ bound found with this point (absent for the min-A end). */
  line?: { lambda: number; bound: number }
}

export interface OuterResult {
  assignments: Assignment[]
  value: number
  lowerBound: number
  gap: number
  /** True when every hull edge was closed or pruned and the gap is within mipGap. */
  proven: boolean
  oracleCalls: number
  timedOut: boolean
}

export interface OuterOptions {
  smCount: number
  mipGap: number
  /** Absolute deadline (performance.now() ms). */
  deadlineMs: number
  /** The plan with every worker on its smallest configuration: the unique plan of least A. */
  minA: Assignment[]
}

const point = (assignments: Assignment[], N: number, line?: Point['line']): Point => {
  const S = assignments.reduce((a, x) => a + x.soloUs, 0)
  const A = assignments.reduce((a, x) => a + x.meanSms, 0)
  return { assignments, A, S, F: (1 + A / N) * S, ...(line ? { line } : {}) }
}

/** Least (1 + A/N)·S over plans with A in [l.A, r.A] allowed by the known lines (concave pieces: check kinks). */
function edgeLowerBound(l: Point, r: Point, N: number, extra?: Point['line']): number {
  const lines = [l.line, r.line, extra].filter((x): x is NonNullable<Point['line']> => x !== undefined)
  const h = (A: number) => lines.reduce((m, ln) => Math.max(m, ln.bound - ln.lambda * A), 0)
  const cands = [l.A, r.A]
  for (let i = 0; i < lines.length; i++)
    for (let j = i + 1; j < lines.length; j++) {
      const a = lines[i] as NonNullable<Point['line']>
      const b = lines[j] as NonNullable<Point['line']>
      if (a.lambda !== b.lambda) {
        const x = (a.bound - b.bound) / (a.lambda - b.lambda)
        if (x > l.A && x < r.A) cands.push(x)
      }
    }
  return Math.min(...cands.map((A) => (1 + A / N) * h(A)))
}

export async function outerSearch(oracle: Oracle, opts: OuterOptions): Promise<OuterResult> {
  const N = opts.smCount
  const eps = 1e-9
  let calls = 0
  let timedOut = false
  const left = point(opts.minA, N)
  let inc: Point = left
  const consider = (p: Point) => {
    if (p.F < inc.F) inc = p
  }

  calls++
  const r0 = await oracle(0, opts.deadlineMs)
  const right = point(r0.assignments, N, { lambda: 0, bound: r0.bound })
  consider(right)
  // plans with A ≥ right.A have S ≥ bound0
  const openBounds: number[] = [(1 + right.A / N) * r0.bound]

  const stack: [Point, Point][] = [[left, right]]
  while (stack.length > 0) {
    const [l, r] = stack.pop() as [Point, Point]
    const lb = edgeLowerBound(l, r, N)
    if (lb >= inc.F * (1 - opts.mipGap) - eps * inc.F) continue // pruned: cannot beat the incumbent
    if (r.A - l.A <= eps * Math.max(1, r.A) || l.S <= r.S) {
      // no room between them (or the oracle was not exact): nothing better is provable here
      openBounds.push(lb)
      continue
    }
    if (performance.now() >= opts.deadlineMs) {
      timedOut = true
      openBounds.push(lb)
      continue
    }
    const lambda = (l.S - r.S) / (r.A - l.A)
    calls++
    const res = await oracle(lambda, opts.deadlineMs)
    const q = point(res.assignments, N, { lambda, bound: res.bound })
    consider(q)
    const edge = l.S + lambda * l.A
    const tol = eps * Math.abs(edge)
    if (res.bound >= edge - tol) continue // no plan lies below this edge: closed
    if (q.S + lambda * q.A < edge - tol && q.A > l.A && q.A < r.A) {
      stack.push([l, q], [q, r])
    } else {
      openBounds.push(edgeLowerBound(l, r, N, q.line))
      if (performance.now() >= opts.deadlineMs) timedOut = true
    }
  }
  const lowerBound = Math.min(inc.F, ...openBounds)
  const gap = inc.F > 0 ? Math.max(0, (inc.F - lowerBound) / inc.F) : 0
  return {
    assignments: inc.assignments,
    value: inc.F,
    lowerBound,
    gap,
    proven: gap <= opts.mipGap + eps,
    oracleCalls: calls,
    timedOut,
  }
}
