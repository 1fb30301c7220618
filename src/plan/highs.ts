// The HiGHS MILP for one worker, and the worker thread that solves it under a watchdog (STACK.md).
//
// Model (ECLIP's per-worker formulation at a fixed multiplier, docs/design.md §4), over the worker's units u and ladder
// configurations c:
//   x[u,c] ∈ {0,1}, Σ_c x[u,c] = 1                      one partition per unit
//   d[u,c] ≥ x[u,c] − x[u−1,c], d ≥ 0   (u ≥ 1)          the positive part of each change
//   Σ_u Σ_c d[u,c] ≤ switchMax                           switch budget per request
//   min Σ (β[u,c] + λ·w_u·SMs_c/K) x[u,c]                 solo time (+ the outer search's price on mean SMs)
// Since Σ_c x[u,c] = Σ_c x[u−1,c] = 1, Σ_c (x[u,c] − x[u−1,c])⁺ = Σ_c |x[u,c] − x[u−1,c]| / 2: this is the paper's
// switchTotal linearised exactly, and at an integral x each switch costs exactly 1. d needs no integrality. It solves
// several times faster than one indicator per unit with y[u] ≥ x[u,c] − x[u−1,c], whose LP relaxation is weaker.
import { Worker } from 'node:worker_threads'
import { type Assignment, evaluate, unitCount, type WorkerInstance } from './instance.ts'

export interface MilpResult {
  /** Absent when HiGHS found no feasible assignment in time (or was killed). */
  assignment?: Assignment
  /** HiGHS objective of the assignment (Σ cost + λ·meanSms). */
  objective?: number
  /** Proven lower bound on the objective: HiGHS's dual bound, at least the switch-free relaxation. */
  bound: number
  status: string
  killed: boolean
}

interface ModelArrays {
  numCols: number
  numRows: number
  colCost: Float64Array
  colLower: Float64Array
  colUpper: Float64Array
  rowLower: Float64Array
  rowUpper: Float64Array
  matrix: {
    format: 'csr'
    numRows: number
    numCols: number
    starts: Int32Array
    indices: Int32Array
    values: Float64Array
  }
  integrality: Int32Array
}

export function workerMilp(w: WorkerInstance, switchMax: number, lambda: number): ModelArrays {
  const U = unitCount(w)
  const C = w.configs.length
  const nx = U * C
  const nd = Math.max(0, U - 1) * C
  const numCols = nx + nd
  const colCost = new Float64Array(numCols)
  for (let u = 0; u < U; u++)
    for (let c = 0; c < C; c++)
      colCost[u * C + c] =
        (w.cost[u * C + c] as number) + (lambda * (w.weight[u] as number) * (w.sms[c] as number)) / w.kernels
  const colLower = new Float64Array(numCols)
  const colUpper = new Float64Array(numCols).fill(1)
  const integrality = new Int32Array(numCols)
  integrality.fill(1, 0, nx)
  const rows = U + nd + (nd > 0 ? 1 : 0)
  const rowLower = new Float64Array(rows)
  const rowUpper = new Float64Array(rows)
  const starts = new Int32Array(rows + 1)
  const nnz = U * C + nd * 3 + nd
  const indices = new Int32Array(nnz)
  const values = new Float64Array(nnz)
  let r = 0
  let k = 0
  const endRow = (lo: number, hi: number) => {
    rowLower[r] = lo
    rowUpper[r] = hi
    r++
    starts[r] = k
  }
  for (let u = 0; u < U; u++) {
    for (let c = 0; c < C; c++) {
      indices[k] = u * C + c
      values[k++] = 1
    }
    endRow(1, 1)
  }
  const INF = Number.POSITIVE_INFINITY
  for (let u = 1; u < U; u++)
    for (let c = 0; c < C; c++) {
      // d[u,c] − x[u,c] + x[u−1,c] ≥ 0, columns in ascending order
      indices[k] = (u - 1) * C + c
      values[k++] = 1
      indices[k] = u * C + c
      values[k++] = -1
      indices[k] = nx + (u - 1) * C + c
      values[k++] = 1
      endRow(0, INF)
    }
  if (nd > 0) {
    for (let j = 0; j < nd; j++) {
      indices[k] = nx + j
      values[k++] = 1
    }
    endRow(-INF, switchMax)
  }
  return {
    numCols,
    numRows: rows,
    colCost,
    colLower,
    colUpper,
    rowLower,
    rowUpper,
    matrix: { format: 'csr', numRows: rows, numCols, starts, indices, values },
    integrality,
  }
}

/** A bound every assignment meets: each unit on its cheapest configuration, switches ignored. */
export function relaxedBound(w: WorkerInstance, lambda: number): number {
  const U = unitCount(w)
  const C = w.configs.length
  let sum = 0
  for (let u = 0; u < U; u++) {
    let m = Number.POSITIVE_INFINITY
    for (let c = 0; c < C; c++)
      m = Math.min(
        m,
        (w.cost[u * C + c] as number) + (lambda * (w.weight[u] as number) * (w.sms[c] as number)) / w.kernels,
      )
    sum += m
  }
  return sum
}

/** One HiGHS worker thread, restarted after a watchdog kill. */
export class HighsRunner {
  private worker: Worker | undefined
  private ready: Promise<void> | undefined
  private nextId = 1
  /** Seconds a solve may overrun its own time_limit before the watchdog terminates it. */
  constructor(private readonly marginS = 2) {}

  private start(): Promise<void> {
    if (this.ready) return this.ready
    const worker = new Worker(new URL('./highs-worker.mjs', import.meta.url))
    this.worker = worker
    worker.unref()
    this.ready = new Promise((resolve, reject) => {
      const onMsg = (m: { ready?: boolean }) => {
        if (m.ready) {
          worker.off('message', onMsg)
          resolve()
        }
      }
      worker.on('message', onMsg)
      worker.once('error', reject)
    })
    return this.ready
  }

  async solve(
    w: WorkerInstance,
    switchMax: number,
    lambda: number,
    timeLimitS: number,
    mipGap: number,
  ): Promise<MilpResult> {
    await this.start()
    const worker = this.worker as Worker
    const model = workerMilp(w, switchMax, lambda)
    const id = this.nextId++
    const limit = Math.max(0.01, timeLimitS)
    type Reply = {
      id: number
      status?: string
      objective?: number | null
      dualBound?: number
      colValue?: Float64Array | null
      error?: string
    }
    const reply = await new Promise<Reply | 'killed'>((resolve, reject) => {
      const timer = setTimeout(
        () => {
          worker.off('message', onMsg)
          this.kill()
          resolve('killed')
        },
        (limit + this.marginS) * 1000,
      )
      const onMsg = (m: Reply) => {
        if (m.id !== id) return
        clearTimeout(timer)
        worker.off('message', onMsg)
        if (m.error) reject(new Error(`HiGHS: ${m.error}`))
        else resolve(m)
      }
      worker.on('message', onMsg)
      worker.postMessage({ id, model, options: { time_limit: limit, mip_rel_gap: mipGap } })
    })
    if (reply === 'killed')
      return { bound: relaxedBound(w, lambda), status: 'killed by watchdog', killed: true }
    const U = unitCount(w)
    const C = w.configs.length
    const trivial = relaxedBound(w, lambda)
    const bound = Math.max(trivial, Number.isFinite(reply.dualBound) ? (reply.dualBound as number) : 0)
    if (!reply.colValue) return { bound, status: reply.status ?? 'unknown', killed: false }
    const choice = new Int32Array(U)
    for (let u = 0; u < U; u++) {
      let best = 0
      for (let c = 1; c < C; c++)
        if ((reply.colValue[u * C + c] as number) > (reply.colValue[u * C + best] as number)) best = c
      choice[u] = best
    }
    const assignment = evaluate(w, choice)
    return {
      assignment,
      objective: reply.objective ?? undefined,
      bound,
      status: reply.status ?? 'unknown',
      killed: false,
    } as MilpResult
  }

  kill() {
    this.worker?.terminate()
    this.worker = undefined
    this.ready = undefined
  }

  close() {
    this.kill()
  }
}
