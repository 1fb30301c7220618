// PARIS: choose a heterogeneous set of partitions for each GPU of an inference server from each model's latency table,
// batch-size mix, arrival rate and SLO. docs/design.md §5; the paper (Kim, Choi, Rhu, DAC 2022) is only public to us
// as its abstract, so the algorithm below is ours, built on the abstract's idea. README "PARIS + ELSA" says the same
// in prose.
//
// Partitions are unions of slices of one device-wide split (docs/design.md §7): on H100 k regular 8-SM slices
// (k = 1..15) plus a 12-SM remainder slice. Every partition can run every model (green contexts share memory, and the
// models of a scenario fit in one GPU's memory several times over), so PARIS decides only sizes and counts; ELSA
// decides which query runs where.
//
// The algorithm, per scenario and number of GPUs G:
//  1. Query classes. A class is (model m, batch b) with rate λ_m·P_m(b).
//  2. Knee of each class. latency(s) of a DNN request follows serial + parallel/s closely (docs/design.md §7's rows
//     fit it within a few %), so the SM-time of one query, s·latency(s) = serial·s + parallel, always grows with s
//     while its latency shrinks ever more slowly. The knee is the smallest size where more SMs buy less than
//     `kneeElasticity` (η, default 0.7) relative latency per relative SM added, measured over a doubling of the size:
//        ln(L(s) / L(2s)) / ln 2  <  η
//     For the Amdahl shape (in the limit of small steps) that is s = parallel·(1−η)/(η·serial), where the query costs
//     parallel/η SM-time (1.4× the ideal at η = 0.7) and takes serial/(1−η) latency (3.3× its floor). η trades SM
//     efficiency against latency; since the objective is throughput within the SLO, it leans to efficiency (η = 0.5,
//     2× on both sides, sustained 5–20% less in the simulator on examples/paris.yaml). Small batches have little
//     parallel work, so their knee is a small partition; large batches' knee is large. This is why a heterogeneous
//     set beats any single size.
//  3. SLO floor. A class must run within `sloHeadroom` (default ½) of its SLO on its partition, leaving the rest for
//     queueing; if its knee is slower than that it moves up to the smallest size that is fast enough (or the whole
//     GPU if none is). Its preferred size is max(knee, SLO floor).
//  4. Demand. Each class keeps λ·P(b)·L(b, s) partitions busy (Little's law on the service time), i.e. that times k
//     slices. Summed per preferred slice count k this gives the SM demand of each size.
//  5. Replicate in proportion to the load. The G·R regular slices are shared out to the sizes in proportion to their
//     slice demand: the target count of size k is demand_k · G·R / total demand. Spare capacity (or a shortfall) is
//     spread evenly, so the mix of sizes follows the mix of queries whatever the absolute rate.
//  6. Coverage. For every class, at least one partition must be able to run it within its SLO when idle: the
//     largest such requirement gets one partition even when its share rounds to zero.
//  7. Packing. Sizes are placed largest first, each on the GPU with the most free slices (spreads big partitions
//     over GPUs, so each GPU ends up with a similar heterogeneous mix). Integer parts first; then the free slices
//     go, one partition at a time, to the size with the largest unmet target that still fits somewhere; a partition
//     that fits nowhere gives its slices to the next smaller size. Slices still free at the end (fewer than any size
//     wanted) become one partition per GPU.
//  8. The remainder slice of each GPU joins that GPU's largest partition (a partition of all slices is the whole
//     GPU, as the latency table measures it), where the largest batches go.
//
// What it does not do: re-partition at run time (green contexts could be re-sized without draining; a hook for
// later), or weigh models' memory footprints (no isolation is needed; a model that does not fit would need it).
import type { Gpu } from '../formats/index.ts'
import { regularSlices } from '../formats/index.ts'
import { latencyUs } from './latency.ts'
import type { LoadedScenario, ModelLoad } from './scenario.ts'

/** One partition of one GPU of the server: the slices it is built from and its SM count. */
export interface Partition {
  /** "g<gpu>p<index>", unique in the server. */
  id: string
  gpu: number
  /** Slice ids (of the GPU's layout) this partition is the union of. */
  slices: number[]
  sms: number
}

export interface ParisOptions {
  /** η of step 2; higher picks smaller partitions. Default 0.7. */
  kneeElasticity: number
  /** Fraction of the SLO a class's execution may take on its preferred partition (step 3). Default 0.5. */
  sloHeadroom: number
}

export const DEFAULT_PARIS: ParisOptions = { kneeElasticity: 0.7, sloHeadroom: 0.5 }

/** Why a class got its size: one row per (model, batch). */
export interface ClassChoice {
  model: string
  batch: number
  /** Queries/s of this class at the scenario's rates. */
  rate: number
  kneeSms: number
  /** Smallest size that runs it within sloHeadroom·SLO; null if even the whole GPU cannot. */
  sloSms: number | null
  /** max(knee, SLO floor): the size this class asks for. */
  slices: number
  sms: number
  latencyUs: number
  /** Partitions it keeps busy at the scenario's rates (λ·P(b)·L). */
  busy: number
}

export interface ParisPlan {
  gpus: number
  partitions: Partition[]
  classes: ClassChoice[]
  /** Per preferred slice count: demanded busy partitions, target count after scaling, and placed count. */
  sizes: { slices: number; sms: number; demand: number; target: number; placed: number }[]
  /** Total slice demand over slice capacity at the scenario's rates (> 1: the scenario overloads this server). */
  plannedLoad: number
  options: ParisOptions
}

/** The candidate sizes: k regular slices for k = 1..R; k = R is the whole GPU (the remainder joins it). */
export function sliceSizes(gpu: Gpu): { slices: number; sms: number }[] {
  const r = regularSlices(gpu)
  return r.map((_, i) => ({ slices: i + 1, sms: i + 1 === r.length ? gpu.smCount : (i + 1) * gpu.sliceSize }))
}

/**
 * Step 2: the knee, as an index into `sms`: the first size where doubling the SMs (or going to the whole GPU, if
 * that is less than double) shortens latency with an arc elasticity ln(L(s)/L(s'))/ln(s'/s) below η. Comparing
 * against double the size rather than the next slice keeps table noise (a few % per cell) from faking a knee where
 * the steps are small.
 */
export function kneeIndex(lat: number[], sms: number[], eta: number): number {
  const last = lat.length - 1
  for (let j = 0; j < last; j++) {
    const s = sms[j] ?? 1
    let k = j + 1
    while (k < last && (sms[k] ?? 0) < 2 * s) k++
    const elasticity = Math.log((lat[j] ?? 1) / (lat[k] ?? 1)) / Math.log((sms[k] ?? 1) / s)
    if (elasticity < eta) return j
  }
  return last
}

/** Steps 1–3 for one model. */
export function classChoices(m: ModelLoad, gpu: Gpu, opts: ParisOptions): ClassChoice[] {
  const sizes = sliceSizes(gpu)
  const sms = sizes.map((s) => s.sms)
  return m.batches.map((b, i) => {
    const lat = sms.map((s) => latencyUs(m.table, b, s))
    const knee = kneeIndex(lat, sms, opts.kneeElasticity)
    const sloIdx = lat.findIndex((l) => l <= opts.sloHeadroom * m.sloUs)
    const j = Math.max(knee, sloIdx < 0 ? sizes.length - 1 : sloIdx)
    const rate = m.rate * (m.probs[i] ?? 0)
    const size = sizes[j] ?? { slices: 1, sms: gpu.sliceSize }
    return {
      model: m.model,
      batch: b,
      rate,
      kneeSms: sms[knee] ?? 0,
      sloSms: sloIdx < 0 ? null : (sms[sloIdx] ?? null),
      slices: size.slices,
      sms: size.sms,
      latencyUs: lat[j] ?? 0,
      busy: (rate * (lat[j] ?? 0)) / 1e6,
    }
  })
}

/** The whole PARIS plan for `nGpus` GPUs of the scenario's layout. */
export function paris(sc: LoadedScenario, nGpus: number, options: Partial<ParisOptions> = {}): ParisPlan {
  const opts = { ...DEFAULT_PARIS, ...options }
  const gpu = sc.gpu
  const R = regularSlices(gpu).length
  const capacity = R * nGpus
  const classes = sc.models.flatMap((m) => classChoices(m, gpu, opts))

  // step 4: busy partitions demanded per slice count
  const demand = new Map<number, number>()
  for (const c of classes) demand.set(c.slices, (demand.get(c.slices) ?? 0) + c.busy)
  const totalSlices = [...demand].reduce((a, [k, d]) => a + k * d, 0)
  // step 5: targets in partitions, scaled so that they fill the server
  const target = new Map<number, number>()
  for (const [k, d] of demand) target.set(k, totalSlices > 0 ? (d * capacity) / totalSlices : 0)

  // step 6: the smallest size at which every class can run within its SLO when alone
  const sizes = sliceSizes(gpu)
  let cover = 1
  for (const m of sc.models)
    for (const b of m.batches) {
      const k = sizes.find((s) => latencyUs(m.table, b, s.sms) <= m.sloUs)?.slices ?? R
      cover = Math.max(cover, k)
    }

  // step 7: packing
  const free = Array.from({ length: nGpus }, () => R)
  const placed: { gpu: number; slices: number }[] = []
  const count = new Map<number, number>()
  const place = (k: number): boolean => {
    let g = -1
    for (let i = 0; i < nGpus; i++)
      if ((free[i] ?? 0) >= k && (g < 0 || (free[i] ?? 0) > (free[g] ?? 0))) g = i
    if (g < 0) return false
    free[g] = (free[g] ?? 0) - k
    placed.push({ gpu: g, slices: k })
    count.set(k, (count.get(k) ?? 0) + 1)
    return true
  }
  // cover first, unless the targets already give a partition at least that large
  const largestTarget = Math.max(0, ...[...target].filter(([, t]) => t >= 1).map(([k]) => k))
  if (largestTarget < cover) place(cover)
  const want = [...target.keys()].sort((a, b) => b - a)
  let carry = 0 // slices of partitions that fit nowhere, handed to the next smaller size
  for (const k of want) {
    let n = Math.floor((target.get(k) ?? 0) + carry / k) - (count.get(k) ?? 0)
    carry = 0
    for (; n > 0; n--) if (!place(k)) carry += k
  }
  // remaining free slices: the size with the largest unmet target that still fits somewhere
  for (;;) {
    const maxFree = Math.max(...free)
    const fits = want.filter((k) => k <= maxFree)
    if (fits.length === 0) break
    let best = fits[0] ?? 1
    for (const k of fits) {
      const deficit = (target.get(k) ?? 0) - (count.get(k) ?? 0)
      const bestDeficit = (target.get(best) ?? 0) - (count.get(best) ?? 0)
      if (deficit > bestDeficit) best = k
    }
    place(best)
  }
  free.forEach((f, g) => {
    if (f > 0) {
      placed.push({ gpu: g, slices: f })
      free[g] = 0
    }
  })

  return {
    gpus: nGpus,
    partitions: buildPartitions(gpu, nGpus, placed),
    classes,
    sizes: want
      .map((k) => ({
        slices: k,
        sms: sizes[k - 1]?.sms ?? k * gpu.sliceSize,
        demand: demand.get(k) ?? 0,
        target: target.get(k) ?? 0,
        placed: placed.filter((p) => p.slices === k).length,
      }))
      .sort((a, b) => a.slices - b.slices),
    plannedLoad: totalSlices / capacity,
    options: opts,
  }
}

/** Step 8 and slice ids: partitions of each GPU, largest first, over consecutive regular slices. */
function buildPartitions(gpu: Gpu, nGpus: number, placed: { gpu: number; slices: number }[]): Partition[] {
  const regular = regularSlices(gpu)
  const remainder = gpu.slices.find((s) => s.remainder)
  const out: Partition[] = []
  for (let g = 0; g < nGpus; g++) {
    const mine = placed.filter((p) => p.gpu === g).sort((a, b) => b.slices - a.slices)
    let next = 0
    mine.forEach((p, i) => {
      const ids = regular.slice(next, next + p.slices).map((s) => s.id)
      next += p.slices
      let sms = p.slices * gpu.sliceSize
      if (i === 0 && remainder) {
        ids.push(remainder.id)
        sms += remainder.sms
      }
      out.push({ id: `g${g}p${i}`, gpu: g, slices: ids, sms })
    })
  }
  return out
}

/**
 * Homogeneous layouts for comparison: every regular slice its own partition (`uniform` with k = 1: the remainder
 * slice joins the last one, on an H100 14 × 8 SMs + 20, for the reason `uniform` gives), or whole GPUs.
 */
export function homogeneous(gpu: Gpu, nGpus: number, kind: 'small' | 'whole'): Partition[] {
  if (kind === 'small') return uniform(gpu, nGpus, 1)
  return Array.from({ length: nGpus }, (_, g) => ({
    id: `g${g}p0`,
    gpu: g,
    slices: gpu.slices.map((s) => s.id),
    sms: gpu.smCount,
  }))
}

/**
 * A uniform layout of `k`-slice partitions: ⌊R/k⌋ per GPU, the regular slices left over plus the remainder slice as
 * one extra partition. Where no regular slice is left over, the remainder joins the last partition instead of
 * standing alone: on an H100 a green context of the 12-SM remainder alone failed in cuDNN
 * (CUDNN_STATUS_EXECUTION_FAILED in its first eager forward; likely because 12 SMs are not a multiple of the 8-SM
 * co-scheduling alignment). The "best homogeneous" baseline tries several k.
 */
export function uniform(gpu: Gpu, nGpus: number, k: number): Partition[] {
  const regular = regularSlices(gpu)
  const remainder = gpu.slices.find((s) => s.remainder)
  const out: Partition[] = []
  for (let g = 0; g < nGpus; g++) {
    const n = Math.floor(regular.length / k)
    for (let i = 0; i < n; i++) {
      const ids = regular.slice(i * k, (i + 1) * k).map((s) => s.id)
      out.push({ id: `g${g}p${i}`, gpu: g, slices: ids, sms: ids.length * gpu.sliceSize })
    }
    const left = regular.slice(n * k)
    const last = out[out.length - 1]
    if (left.length === 0 && remainder && n > 0 && last) {
      last.slices = [...last.slices, remainder.id]
      last.sms += remainder.sms
      continue
    }
    const rest = [...left, ...(remainder ? [remainder] : [])]
    if (rest.length > 0)
      out.push({
        id: `g${g}p${n}`,
        gpu: g,
        slices: rest.map((s) => s.id),
        sms: rest.reduce((a, s) => a + s.sms, 0),
      })
  }
  return out
}

/** Checks a server layout: slices within a GPU disjoint and existing, SMs matching the slices. */
export function partitionErrors(gpu: Gpu, parts: Partition[]): string[] {
  const errors: string[] = []
  const byId = new Map(gpu.slices.map((s) => [s.id, s]))
  const used = new Set<string>()
  for (const p of parts) {
    let sms = 0
    for (const id of p.slices) {
      const s = byId.get(id)
      if (!s) errors.push(`${p.id}: no slice ${id}`)
      else sms += s.sms
      if (used.has(`${p.gpu}:${id}`)) errors.push(`${p.id}: slice ${id} of GPU ${p.gpu} used twice`)
      used.add(`${p.gpu}:${id}`)
    }
    if (sms !== p.sms) errors.push(`${p.id}: slices hold ${sms} SMs, partition says ${p.sms}`)
  }
  return errors
}
