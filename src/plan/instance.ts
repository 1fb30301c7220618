// The optimizer's view of one worker: its request cut into units (runs of kernels that must share a partition:
// the GPU executor can switch partition only where a new op starts, profile.opStarts), the configurations of its
// ladder, and the solo time of every unit on every configuration. All solvers (DP, HiGHS, brute force) read this.
import type { Profile } from '../formats/profile.ts'

export interface WorkerInstance {
  name: string
  /** Kernels in the request (K_w: CUAverage is a mean over kernels, not units). */
  kernels: number
  /** Unit u covers kernels unitFirst[u] … unitFirst[u+1]-1. */
  unitFirst: Int32Array
  /** Kernels per unit. */
  weight: Float64Array
  /** Partition ids of the ladder (configurations c), and their SMs. */
  configs: number[]
  sms: number[]
  /** cost[u*C + c]: Σ solo µs of unit u's kernels on configuration c (β of the paper). */
  cost: Float64Array
  /** Σ kernel µs on the whole GPU. */
  fullUs: number
}

export const unitCount = (w: WorkerInstance) => w.weight.length

/** Switch points of a profile: kernel 0, then every op start (or every kernel when opStarts is absent). */
export function switchPoints(profile: Profile): number[] {
  const n = profile.kernels.length
  if (!profile.opStarts) return Array.from({ length: n }, (_, i) => i)
  const s = new Set<number>([0])
  for (const i of profile.opStarts) if (i > 0 && i < n) s.add(i)
  return [...s].sort((a, b) => a - b)
}

export function buildInstance(
  name: string,
  profile: Profile,
  configs: readonly number[],
  configSms: readonly number[],
): WorkerInstance {
  const sizeIndex = configSms.map((sms) => {
    const i = profile.sizes.indexOf(sms)
    if (i < 0)
      throw new RangeError(
        `${profile.model} b${profile.batch}: partition size ${sms} SMs was not profiled (sizes ${profile.sizes.join(', ')})`,
      )
    return i
  })
  const starts = switchPoints(profile)
  const U = starts.length
  const C = configs.length
  const K = profile.kernels.length
  const cost = new Float64Array(U * C)
  const weight = new Float64Array(U)
  for (let u = 0; u < U; u++) {
    const end = u + 1 < U ? (starts[u + 1] as number) : K
    weight[u] = end - (starts[u] as number)
    for (let k = starts[u] as number; k < end; k++) {
      const t = (profile.kernels[k] as { timesUs: number[] }).timesUs
      for (let c = 0; c < C; c++)
        cost[u * C + c] = (cost[u * C + c] as number) + (t[sizeIndex[c] as number] as number)
    }
  }
  const last = profile.sizes.length - 1
  const fullUs = profile.kernels.reduce((a, k) => a + (k.timesUs[last] ?? 0), 0)
  return {
    name,
    kernels: K,
    unitFirst: Int32Array.from(starts),
    weight,
    configs: [...configs],
    sms: [...configSms],
    cost,
    fullUs,
  }
}

/** A worker's assignment: configuration per unit. */
export interface Assignment {
  choice: Int32Array
  /** Σ solo µs (S_w). */
  soloUs: number
  /** Kernel-weighted mean SMs (CUAverage_w, A_w). */
  meanSms: number
  switches: number
}

export function evaluate(w: WorkerInstance, choice: Int32Array): Assignment {
  const C = w.configs.length
  let soloUs = 0
  let smSum = 0
  let switches = 0
  for (let u = 0; u < choice.length; u++) {
    const c = choice[u] as number
    soloUs += w.cost[u * C + c] as number
    smSum += (w.weight[u] as number) * (w.sms[c] as number)
    if (u > 0 && c !== choice[u - 1]) switches++
  }
  return { choice, soloUs, meanSms: smSum / w.kernels, switches }
}

/**
 * The paper's objective for all workers: Σ_w Σ_k β_k (1 + α) with α = Σ_w CUAverage_w / SMs (docs/design.md §4:
 * CUOverlap_w = CUAverage_w + Σ_{w'≠w} CUAverage_{w'} is the same sum for every worker, so α is shared).
 */
export function objective(assignments: readonly Assignment[], smCount: number) {
  const S = assignments.reduce((a, x) => a + x.soloUs, 0)
  const A = assignments.reduce((a, x) => a + x.meanSms, 0)
  return { S, A, alpha: A / smCount, value: (1 + A / smCount) * S }
}
