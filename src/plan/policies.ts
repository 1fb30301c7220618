// The paper's comparison scenarios (docs/design.md §4), made from the same profiles as ECLIP's plan.
import type { Gpu } from '../formats/gpu.ts'
import { regularSlices } from '../formats/gpu.ts'
import type { Partition } from '../formats/plan.ts'
import type { Profile } from '../formats/profile.ts'
import { rightSizeIndex } from '../profile/rightsize.ts'
import { type Assignment, evaluate, unitCount, type WorkerInstance } from './instance.ts'
import { internPartition } from './pool.ts'

/**
 * kw-prealloc / kw-ioctl: every kernel on its right-size, no switch budget. The right-size is taken over the
 * worker's ladder (the smallest ladder partition within the tolerance of the whole GPU), since only pool partitions
 * exist. When switches are allowed only at op starts, a unit takes the largest right-size of its kernels, so no
 * kernel runs slower than its tolerance allows.
 */
export function rightSizedAssignment(w: WorkerInstance, profile: Profile, tolerance: number): Assignment {
  const sizeIdx = w.sms.map((s) => profile.sizes.indexOf(s))
  const ladder = sizeIdx.map((_, c) => c)
  const U = unitCount(w)
  const choice = new Int32Array(U)
  for (let u = 0; u < U; u++) {
    const first = w.unitFirst[u] as number
    const end = u + 1 < U ? (w.unitFirst[u + 1] as number) : w.kernels
    let c = 0
    for (let k = first; k < end; k++) {
      const t = (profile.kernels[k] as { timesUs: number[] }).timesUs
      const times = sizeIdx.map((i) => t[i] as number)
      c = Math.max(c, rightSizeIndex(times, tolerance, ladder))
    }
    choice[u] = c
  }
  return evaluate(w, choice)
}

export interface ModelWiseLayout {
  partitions: Partition[]
  /** Partition id per worker. */
  assigned: number[]
  notes: string[]
}

/**
 * model-wise (GPUlet/GSlice/PARIS style): each worker one partition for its whole request, the smallest whose solo
 * request latency is ≤ factor × its full-GPU latency. The partitions are disjoint runs of regular slices, in
 * worker order, when they fit; when they do not, the worker that loses least (latency at one length less over
 * its full-GPU latency) gives up a step, until they fit. More workers than slices cannot be disjoint: they then
 * overlap, placed like the pool's smallest windows. A lone worker that needs the whole GPU gets it.
 */
export function modelWiseLayout(gpu: Gpu, profiles: readonly Profile[], factor: number): ModelWiseLayout {
  const reg = regularSlices(gpu)
  const n = reg.length
  const k = profiles.length
  const notes: string[] = []
  // candidate lengths in slices (profiled by every worker); n+1 stands for the whole GPU
  const WHOLE = n + 1
  const smsOf = (L: number) => (L === WHOLE ? gpu.smCount : reg.slice(0, L).reduce((a, s) => a + s.sms, 0))
  const reqAt = (p: Profile, L: number) => {
    const i = p.sizes.indexOf(smsOf(L))
    return i < 0 ? Number.POSITIVE_INFINITY : (p.requestUs[i] as number)
  }
  const lengths: number[] = []
  for (let L = 1; L <= n; L++)
    if (smsOf(L) < gpu.smCount && profiles.every((p) => p.sizes.includes(smsOf(L)))) lengths.push(L)
  lengths.push(WHOLE)
  const full = (p: Profile) => p.requestUs[p.requestUs.length - 1] as number
  const need = profiles.map((p) => lengths.find((L) => reqAt(p, L) <= factor * full(p)) ?? WHOLE)
  const whole: Partition = { id: 0, slices: gpu.slices.map((s) => s.id), sms: gpu.smCount }
  if (k === 1 && need[0] === WHOLE) return { partitions: [whole], assigned: [0], notes }

  // as slices: the whole GPU cannot be shared disjointly, so it stands for the longest window
  const regLengths = lengths.filter((L) => L !== WHOLE)
  const len = need.map((L) => (L === WHOLE ? (regLengths[regLengths.length - 1] ?? 1) : L))
  const sum = () => len.reduce((a, b) => a + b, 0)
  while (sum() > n) {
    let best = -1
    let bestRatio = Number.POSITIVE_INFINITY
    len.forEach((L, w) => {
      const i = regLengths.indexOf(L)
      if (i <= 0) return
      const r = reqAt(profiles[w] as Profile, regLengths[i - 1] as number) / full(profiles[w] as Profile)
      if (r < bestRatio) {
        bestRatio = r
        best = w
      }
    })
    if (best < 0) break
    len[best] = regLengths[regLengths.indexOf(len[best] as number) - 1] as number
  }
  const shrunk = len.filter((L, w) => L < (need[w] === WHOLE ? n + 1 : (need[w] as number))).length
  if (shrunk > 0)
    notes.push(`${shrunk} worker(s) got less than their factor target so that all fit disjointly`)
  const partitions: Partition[] = []
  const byKey = new Map<string, number>()
  const assigned: number[] = []
  const disjoint = sum() <= n
  if (!disjoint) notes.push(`${k} workers do not fit disjointly in ${n} slices: partitions overlap`)
  let next = 0
  len.forEach((L, w) => {
    const start = disjoint ? next : k === 1 ? 0 : Math.round((w / (k - 1)) * (n - L))
    next += L
    assigned.push(internPartition(partitions, byKey, reg.slice(start, start + L)))
  })
  if (disjoint && sum() < n) notes.push(`${n - sum()} regular slice(s) and the remainder unused`)
  return { partitions, assigned, notes }
}
