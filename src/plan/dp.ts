// The exact dynamic program for one worker at fixed α (docs/design.md §3: cross-checks the ILP and is the fast path):
// state (unit, configuration, switches used), value = least Σ cost so far. With α fixed the objective separates
// per worker (every worker's sum is scaled by the same 1 + α), so this is the whole problem for that worker.
// `lambda` adds λ · (kernels in unit / K) · SMs to each unit's cost: the Lagrangian term the outer search
// (outer.ts) uses to trade solo time against mean SMs. `switchCost` adds a fixed cost per switch (eclip-fit: the
// executor's measured cost of a partition change; ECLIP's objective has none, only the budget).
// O(U · C · (B+1)) time, U · C · (B+1) bytes of back-pointers.
import { type Assignment, evaluate, unitCount, type WorkerInstance } from './instance.ts'

export interface DpResult {
  assignment: Assignment
  /** Min of Σ_u cost + λ · meanSms + switchCost · switches (the DP's own objective). */
  value: number
}

export function solveWorkerDp(w: WorkerInstance, switchMax: number, lambda = 0, switchCost = 0): DpResult {
  const U = unitCount(w)
  const C = w.configs.length
  const B = Math.max(0, Math.min(switchMax, U - 1))
  const S = B + 1
  const INF = Number.POSITIVE_INFINITY
  let prev = new Float64Array(C * S).fill(INF)
  let cur = new Float64Array(C * S)
  // parent[(u*C + c)*S + s]: configuration of unit u-1 (C ≤ 127)
  if (C > 127) throw new RangeError('at most 127 configurations per worker')
  const parent = new Int8Array(U * C * S)
  const unitCost = (u: number, c: number) =>
    (w.cost[u * C + c] as number) + (lambda * (w.weight[u] as number) * (w.sms[c] as number)) / w.kernels
  for (let c = 0; c < C; c++) prev[c * S] = unitCost(0, c)
  for (let u = 1; u < U; u++) {
    for (let s = 0; s < S; s++) {
      // best and second-best configuration at s-1 switches, to switch in from any other configuration
      let b1 = INF
      let a1 = -1
      let b2 = INF
      if (s > 0)
        for (let c = 0; c < C; c++) {
          const v = prev[c * S + s - 1] as number
          if (v < b1) {
            b2 = b1
            b1 = v
            a1 = c
          } else if (v < b2) b2 = v
        }
      for (let c = 0; c < C; c++) {
        const stay = prev[c * S + s] as number
        const moveFrom = (a1 === c ? b2 : b1) + switchCost
        let best = stay
        let from = c
        // ties keep the partition: fewer switches for the same cost
        if (moveFrom < stay) {
          best = moveFrom
          // the argmin other than c
          from = a1 === c ? secondArg(prev, C, S, s - 1, c) : a1
        }
        cur[c * S + s] = best + unitCost(u, c)
        parent[(u * C + c) * S + s] = from
      }
    }
    const t = prev
    prev = cur
    cur = t
  }
  let best = INF
  let bc = 0
  let bs = 0
  for (let s = 0; s < S; s++)
    for (let c = 0; c < C; c++) {
      const v = prev[c * S + s] as number
      if (v < best) {
        best = v
        bc = c
        bs = s
      }
    }
  const choice = new Int32Array(U)
  let c = bc
  let s = bs
  for (let u = U - 1; u >= 0; u--) {
    choice[u] = c
    if (u === 0) break
    const p = parent[(u * C + c) * S + s] as number
    if (p !== c) s--
    c = p
  }
  return { assignment: evaluate(w, choice), value: best }
}

function secondArg(prev: Float64Array, C: number, S: number, s: number, exclude: number): number {
  let b = Number.POSITIVE_INFINITY
  let a = -1
  for (let c = 0; c < C; c++) {
    if (c === exclude) continue
    const v = prev[c * S + s] as number
    if (v < b) {
      b = v
      a = c
    }
  }
  return a
}
