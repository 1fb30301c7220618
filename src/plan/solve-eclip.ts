// solveEclip: ECLIP's solve over prepared worker instances (make-plan.ts's eclip planner calls it).
// The outer search (outer.ts) over per-worker subproblems, each answered by the exact DP (dp.ts) or HiGHS
// (highs.ts), with workers that pose the same subproblem solved once.

import { solveWorkerDp } from './dp.ts'
import { HighsRunner } from './highs.ts'
import { type Assignment, evaluate, unitCount, type WorkerInstance } from './instance.ts'
import type { SolverChoice } from './options.ts'
import { type OracleResult, type OuterResult, outerSearch } from './outer.ts'

export interface EclipSolveOptions {
  smCount: number
  switchMax: number
  mipGap: number
  timeLimitS: number
  solver: SolverChoice
}

export type EclipSolveResult = OuterResult & { solver: 'dp' | 'highs' }

/** ECLIP's optimizer over prepared worker instances (exported for tests and the benchmark). */
export async function solveEclip(
  instances: WorkerInstance[],
  o: EclipSolveOptions,
): Promise<EclipSolveResult> {
  const deadlineMs = performance.now() + o.timeLimitS * 1000
  const minA = instances.map((w) => evaluate(w, new Int32Array(unitCount(w))))
  let runner: HighsRunner | undefined
  // Workers with the same profile and ladder sizes (mix1's two alberts, mix7's three alexnets) have the same
  // subproblem: solve it once per λ and share the answer (a configuration index means the same size for both).
  const twinOf = instances.map((w, i) => instances.findIndex((v, j) => j <= i && sameSubproblem(v, w)))
  const solveShared = async (
    solve: (w: WorkerInstance, i: number) => Promise<{ a: Assignment; bound: number }>,
  ) => {
    const memo = new Map<number, { a: Assignment; bound: number }>()
    const out: Assignment[] = []
    let bound = 0
    for (const [i, w] of instances.entries()) {
      const t = twinOf[i] as number
      let r = memo.get(t)
      if (!r) {
        r = await solve(w, i)
        memo.set(t, r)
      }
      out.push(t === i ? r.a : evaluate(w, r.a.choice))
      bound += r.bound
    }
    return { assignments: out, bound }
  }
  const dpOracle = (lambda: number): Promise<OracleResult> =>
    solveShared(async (w) => {
      const r = solveWorkerDp(w, o.switchMax, lambda)
      return { a: r.assignment, bound: r.value }
    })
  const highsOracle = (lambda: number, deadline: number): Promise<OracleResult> =>
    solveShared(async (w, i) => {
      runner ??= new HighsRunner()
      const left = Math.max(0.05, (deadline - performance.now()) / 1000)
      // a tenth of the plan's gap per subproblem, so the outer search's bounds can close within the plan's gap
      const r = await runner.solve(w, o.switchMax, lambda, left, o.mipGap / 10)
      // no incumbent in time: the worker's smallest-partition plan is feasible (0 switches)
      return { a: r.assignment ?? (minA[i] as Assignment), bound: r.bound }
    })
  try {
    const res = await outerSearch(o.solver === 'highs' ? highsOracle : dpOracle, {
      smCount: o.smCount,
      mipGap: o.mipGap,
      deadlineMs,
      minA,
    })
    return { ...res, solver: o.solver }
  } finally {
    runner?.close()
  }
}

const sameArray = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** Same costs, units and ladder sizes: the DP and the MILP see the same problem. */
function sameSubproblem(a: WorkerInstance, b: WorkerInstance): boolean {
  return (
    a === b ||
    (a.kernels === b.kernels &&
      sameArray(a.sms, b.sms) &&
      sameArray(a.unitFirst, b.unitFirst) &&
      sameArray(a.weight, b.weight) &&
      sameArray(a.cost, b.cost))
  )
}
