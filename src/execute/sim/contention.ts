// The simulator's contention model: how kernels of different workers that run at the same time share SMs.
//
// Slices are the shared resources (a partition is a set of slices, docs/design.md §1). Each running kernel asks for its
// *demand*: the fewest profiled SMs at which it already runs at (almost) its full-GPU speed — a kernel with a small
// grid cannot use more. Kernels on disjoint partitions each get their whole partition (docs/design.md §7: 12 partitions
// busy at once, no slowdown), apart from the memory-interference term below. Where partitions overlap, the SMs of a
// shared slice are divided by one of three rules (the calibration's sharing; a profile directory's
// sim-calibration.json names it, the H100's 'coresident'):
// - 'fifo' (neutral default): in kernel start order, each kernel takes up to its demand of its slices' free SMs;
//   a later kernel gets what is left, possibly nothing until an earlier one ends. That is how the block scheduler
//   treats kernels of different streams on the same SMs (the first-launched kernel's thread blocks go first), and it
//   is the head-of-line blocking that partitioning removes; it is also what docs/design.md §7 measured: equal
//   model-wise partitions beat all-on-the-full-GPU by 8–12% req/s, which a fair-sharing model cannot reproduce.
//   With a footprint constant (CALIBRATION.footprint) a kernel takes not its demand but what its resident blocks
//   fill, at least its demand: the block scheduler spreads a grid over every SM of its partition, so a kernel with
//   many blocks that would be as fast on 48 SMs (memory-bound elementwise work, say) holds all 132 of the whole GPU
//   for its time. Confining it to a partition of 48 leaves the other 84 to the other workers — a gain of partitioning
//   the demand alone does not see (the recorded H100 runs: results/vm/sim-gain/).
// - 'coresident': kernels of different streams share SMs as far as their blocks leave room. A kernel's occupancy is
//   the share of an SM's resources its blocks hold when spread over its demand — the most binding of thread slots
//   (× ρ, the calibration's residency, for what profiles do not record: registers and static shared memory hold
//   more than threads say, blocks that retire unevenly hold less on average), dynamic shared memory and block
//   slots, at most all. In kernel start order each kernel takes its demand ×
//   occupancy (or its footprint) of its slices' free capacity, in SM-equivalents, and runs on got ÷ occupancy
//   effective SMs: small kernels co-reside, a kernel whose blocks fill its SMs keeps later ones off them as under
//   'fifo'. Co-resident kernels slow each other (warp schedulers, L1 and shared-memory bandwidth of the same SMs):
//   a kernel's rate is divided by 1 + κ · √(the share of its slices' capacity the other kernels took, at most the
//   room its own blocks leave on its SMs) (κ: the calibration's coresidency; the square root: the first co-resident
//   blocks cost the most), which kernels on disjoint partitions never pay. The memory term counts each kernel's
//   effective SMs of work (capped at the GPU's SMs), so disjoint partitions see the same slowdown as under 'fifo'.
// - 'fair': max-min fair shares per slice (progressive filling: equal shares; a kernel that gets more than its
//   demand keeps its demand and hands the surplus back to the others on those slices): an idealised,
//   work-conserving scheduler, an optimistic bound for the unpartitioned baseline.
// Kernels of high-priority streams (the first `nHigh` of the running list) take their demand first, in start order,
// under any rule; the rule divides what they leave among the others.
// A kernel's effective SMs is the sum of what it got; it progresses at the rate its profile gives at that many SMs
// (1 / solo time, linear in rate between profiled sizes, proportional to SMs below the smallest), or at its
// uncontended rate on its partition once it gets its whole demand.
//
// What the model leaves out: memory bandwidth, L2 and DRAM contention between concurrent kernels (a kernel alone on 8
// SMs may use far more than 8/132 of the bandwidth), block-scheduling granularity, and tail effects. They enter
// through CALIBRATION, whose constants are to be fitted against GPU measurements of the same runs (issue #5 writes
// results with the same `key`); until then they are neutral and results are labelled simulated.

import { type Primitives, profileFileName, type SimCalibration } from '../../formats/index.ts'

/**
 * How the SMs of a slice are divided among the running kernels that may use it:
 * - 'fifo': in kernel start order, each kernel takes what it demands of its slices' free SMs and later kernels get
 *   what is left (nothing, if an earlier kernel fills them). This is how the hardware block scheduler treats kernels
 *   of different streams on the same SMs: it dispatches the thread blocks of the kernel launched first, and the
 *   next kernel's blocks only fill SMs the first cannot use — head-of-line blocking, which partitions avoid.
 * - 'fair': max-min fair shares (processor sharing per slice): an idealised, work-conserving scheduler.
 * - 'coresident': 'fifo' over each SM's resources instead of whole SMs: kernels whose blocks leave room share SMs,
 *   each slowed by how much of its SMs the others hold (κ, `coresidency`).
 */
export type Sharing = 'fifo' | 'fair' | 'coresident'

/** Constants of the contention model, to be fitted to GPU measurements. */
export interface Calibration {
  sharing: Sharing
  /** A kernel's demand = fewest profiled SMs with time ≤ full-GPU time × (1 + this). */
  saturationTolerance: number
  /**
   * Memory/L2 interference γ: a running kernel's rate is divided by (1 + γ · busy SMs of the other running kernels /
   * SM count). 0 = disjoint partitions never slow each other.
   */
  memoryInterference: number
  /**
   * γ per profile (profileKey: model.bBATCH.dtype), in place of memoryInterference for that profile's kernels: how
   * much a model's kernels slow when others run beside them differs by model (a small-batch transformer whose weights
   * live in L2 alone loses more than a large convolution); absent for a profile: memoryInterference.
   */
  profileInterference?: Readonly<Record<string, number>>
  /**
   * Aggressor weight a per profile (absent, or a profile not named: 1): in every other kernel's γ term a kernel's
   * busy SMs count × its profile's a — rate ÷ (1 + γ_w · min(Σ_{j≠w} a_j · busy_j, SMs) / SMs) — so that a model
   * that loads memory and L2 little slows its neighbours less than its SMs say. Absent: today's term.
   */
  aggressorWeight?: Readonly<Record<string, number>>
  /**
   * The γ term's shape in the others' load (absent: the linear term above, exactly). With it a kernel's rate is
   * divided by (1 + γ_w · u^p ÷ max(1, n ÷ n₀)^q): u = min(Σ_{j≠w} a_j · busy_j, SMs) ÷ SMs as before, n the number
   * of other running kernels that hold SMs, p = `exponent`, q = `neighbourExponent`, n₀ = `neighbourFrom`. p < 1
   * makes the loss saturate with the others' load; q > 0 shares it out among neighbours past the n₀-th, so a γ
   * fitted where at most n₀ others run is kept there and slows a kernel less among more (interferenceShare).
   */
  interferenceLoad?: InterferenceLoad
  /**
   * κ per profile (profileKey), in place of coresidency for that profile's kernels; absent for a profile:
   * coresidency.
   */
  coresidencyByProfile?: Readonly<Record<string, number>>
  /**
   * Block residency ρ (absent: none): under 'fifo' sharing a kernel takes, of its SMs, only the share of their
   * resources its blocks hold — its thread slots at its demand × ρ (registers and shared memory hold more than
   * threads say), at most all — and leaves the rest to the next kernel.
   */
  residency?: number
  /**
   * Footprint ρ_f (absent: none): under 'fifo' sharing a kernel takes of its partition's free SMs what its resident
   * blocks fill — blocks × threads × ρ_f ÷ 2048 SM-equivalents, at least its demand, at most its partition — not
   * only its demand: the block scheduler spreads a grid over every SM it may use, so a kernel that would be as fast
   * on fewer SMs still keeps the others from the kernels launched after it. A partition confines that footprint.
   */
  footprint?: number
  /**
   * Co-residency slowdown κ (absent: 0), under 'coresident' sharing: a kernel's rate is divided by (1 + κ · √(the
   * share of its slices' capacity that other running kernels took, at most 1 − its own occupancy)).
   */
  coresidency?: number
  /**
   * A graph edge between partitions inside a request's CUDA graph, µs, fitted to whole requests (absent: the
   * primitives file's micro-benchmark `switchGraphEdge`).
   */
  switchGraphEdgeUs?: number
  /** Real-time work: the host's and the block scheduler's delays (absent: none). */
  realtime?: RealtimeCalibration
  /**
   * Per batch size, a worker's rate as its own MPS client ÷ its rate beside the others in one process, caps aside
   * (absent: 1): the MPS policies' requests run 1 ÷ this as long (src/execute/sim/mps.ts).
   */
  mpsClientRate?: Readonly<Record<number, number>>
  fitted: boolean
  source: string
}

/** The γ term's shape (Calibration.interferenceLoad): p, q and n₀ of u^p ÷ max(1, n ÷ n₀)^q; p = 1, q = 0 is linear. */
export interface InterferenceLoad {
  exponent: number
  neighbourExponent: number
  neighbourFrom: number
}

/** The linear term's shape: what a file's or a flag's absent p, q and n₀ stand for. */
export const LINEAR_LOAD: Readonly<InterferenceLoad> = { exponent: 1, neighbourExponent: 0, neighbourFrom: 1 }

/** What multiplies γ_w in a kernel's slowdown under a load shape (Calibration.interferenceLoad says the terms). */
export function interferenceShare(others: number, n: number, smCount: number, s: InterferenceLoad): number {
  const u = Math.min(others, smCount) / smCount
  if (u <= 0) return 0
  return u ** s.exponent / Math.max(1, n / s.neighbourFrom) ** s.neighbourExponent
}

/**
 * Constants of real-time work, fitted to GPU runs with open-loop arrivals and stream priorities (DISB):
 * - openLoopIssueUs: from an open-loop request's arrival at an idle worker to its issue — the worker's thread sleeps
 *   until the arrival, wakes late and enqueues slowly from cold caches; a request that arrived while the previous one
 *   ran is issued at its end without that delay (the thread did not sleep).
 * - openLoopIssueJitterUs: the random part of that delay (absent: 0, the delay is fixed) — the thread's wake-up and
 *   launch vary, giving real-time latency a tail. The delay is openLoopIssueUs − jitter plus an exponential draw of
 *   mean jitter, seeded per run and worker: its mean stays openLoopIssueUs. At most openLoopIssueUs.
 * - priorityDrainUs: how long a high-priority kernel waits for the SMs that running normal-priority kernels hold —
 *   the block scheduler dispatches its blocks first but preempts none, so it takes those SMs only as their blocks
 *   end; until then it runs on what is free (the reserved SMs, idle ones), as a normal kernel launched then would.
 * - gateWaitUs: what one gate of eclip-rt's gate mechanism (a stream wait on memory inside a best-effort graph) adds
 *   to that graph as it passes it open (absent: 0).
 */
export interface RealtimeCalibration {
  openLoopIssueUs: number
  openLoopIssueJitterUs?: number
  priorityDrainUs: number
  gateWaitUs?: number
}

/** A calibration file (format eclip.sim-calibration/1) as the simulator's constants. */
export function calibrationFrom(c: SimCalibration): Calibration {
  return {
    sharing: c.sharing,
    saturationTolerance: c.saturationTolerance,
    memoryInterference: c.memoryInterference,
    ...(c.profileInterference ? { profileInterference: c.profileInterference.gamma } : {}),
    ...(c.profileInterference?.aggressor ? { aggressorWeight: c.profileInterference.aggressor } : {}),
    ...(c.interferenceLoad
      ? {
          interferenceLoad: {
            exponent: c.interferenceLoad.exponent ?? LINEAR_LOAD.exponent,
            neighbourExponent: c.interferenceLoad.neighbourExponent ?? LINEAR_LOAD.neighbourExponent,
            neighbourFrom: c.interferenceLoad.neighbourFrom ?? LINEAR_LOAD.neighbourFrom,
          },
        }
      : {}),
    ...(c.residency !== undefined ? { residency: c.residency } : {}),
    ...(c.footprint !== undefined ? { footprint: c.footprint } : {}),
    ...(c.coresidency !== undefined ? { coresidency: c.coresidency } : {}),
    ...(c.profileCoresidency ? { coresidencyByProfile: c.profileCoresidency.kappa } : {}),
    ...(c.switchGraphEdgeUs !== undefined ? { switchGraphEdgeUs: c.switchGraphEdgeUs } : {}),
    ...(c.mps ? { mpsClientRate: mpsClientRateOf(c.mps) } : {}),
    ...(c.realtime
      ? {
          realtime: {
            openLoopIssueUs: c.realtime.openLoopIssueUs,
            ...(c.realtime.openLoopIssueJitterUs !== undefined
              ? { openLoopIssueJitterUs: c.realtime.openLoopIssueJitterUs }
              : {}),
            priorityDrainUs: c.realtime.priorityDrainUs,
            ...(c.realtime.gateWaitUs !== undefined ? { gateWaitUs: c.realtime.gateWaitUs } : {}),
          },
        }
      : {}),
    fitted: c.fitted,
    source:
      `${c.fitted ? 'fitted' : 'not fitted'} on ${c.gpu.name}: ${c.measured.method} (${c.measured.date})` +
      (c.profileInterference ? `; γ per profile (${c.profileInterference.measured.date})` : '') +
      (c.interferenceLoad ? `; γ term's load shape (${c.interferenceLoad.measured.date})` : '') +
      (c.profileCoresidency ? `; κ per profile (${c.profileCoresidency.measured.date})` : '') +
      (c.mps ? `; MPS client rate (${c.mps.measured.date})` : ''),
  }
}

/** A calibration file's MPS client rates keyed by batch size. */
export function mpsClientRateOf(mps: NonNullable<SimCalibration['mps']>): Record<number, number> {
  return Object.fromEntries(Object.entries(mps.clientRate).map(([b, r]) => [Number(b), r]))
}

/** `cal` with one memory interference γ, `g`, for every profile (its per-profile γ and aggressor weights dropped). */
export function withCommonGamma(cal: Calibration, g: number): Calibration {
  const { profileInterference: _perProfile, aggressorWeight: _aggressor, ...rest } = cal
  return { ...rest, memoryInterference: g }
}

/** A profile's key in Calibration.profileInterference: its profile file's name without `.json` (albert.b1.fp16). */
export const profileKey = (w: { model: string; batch: number; dtype: string }) =>
  profileFileName(w.model, w.batch, w.dtype).replace(/\.json$/, '')

/**
 * µs a switch between partitions costs inside a CUDA graph: the calibration's fit, else the primitives' measurement.
 */
export function graphEdgeUs(prim: Primitives, cal: Pick<Calibration, 'switchGraphEdgeUs'>): number {
  return cal.switchGraphEdgeUs ?? prim.switchGraphEdge?.medianUs ?? 0
}

export const CALIBRATION: Calibration = {
  sharing: 'fifo',
  saturationTolerance: 0.01,
  memoryInterference: 0,
  fitted: false,
  source: 'neutral defaults: not fitted to GPU measurements yet',
}

/**
 * Max-min fair sharing of slices among running kernels. Works on the engine's arrays, indexed by worker: the hot loop
 * calls it at every kernel start and end, so it allocates nothing.
 */
export class SliceSharing {
  private readonly free: Float64Array
  private readonly users: Int32Array
  private readonly got: Float64Array
  private readonly contrib: Float64Array
  private readonly active: Uint8Array
  /** takeInOrder's scratch: per position in `running`, the slices of the kernels after it */
  private later: Int32Array

  constructor(
    private readonly sliceSms: readonly number[],
    workers: number,
    private readonly sharing: Sharing = 'fair',
  ) {
    if (sliceSms.length > 31) throw new Error('the simulator supports at most 31 slices (bitmask)')
    this.free = new Float64Array(sliceSms.length)
    this.users = new Int32Array(sliceSms.length)
    this.got = new Float64Array(workers)
    this.contrib = new Float64Array(workers * sliceSms.length)
    this.active = new Uint8Array(workers)
    this.later = new Int32Array(workers)
  }

  /**
   * Fills x[w] (effective SMs) for the m running workers listed in `running`; `mask[w]` is the slice bitmask of the
   * partition its kernel runs on, `partSms[w]` that partition's SMs, `demand[w]` the kernel's demand (≤ partSms).
   * The first `nHigh` of `running` are high-priority kernels: served first, in their order. Returns true when the
   * partitions overlap (shared slices), false on the disjoint fast path (x = partSms).
   */
  allocate(
    running: Int32Array,
    m: number,
    mask: Int32Array,
    partSms: Float64Array,
    demand: Float64Array,
    x: Float64Array,
    nHigh = 0,
    occ?: Float64Array,
    take?: Float64Array,
    load?: Float64Array,
  ): boolean {
    let acc = 0
    let overlap = false
    let same = true
    const m0 = m > 0 ? (mask[running[0] as number] as number) : 0
    for (let i = 0; i < m; i++) {
      const w = running[i] as number
      if ((acc & (mask[w] as number)) !== 0) overlap = true
      if (mask[w] !== m0) same = false
      acc |= mask[w] as number
    }
    if (!overlap) {
      for (let i = 0; i < m; i++) {
        const w = running[i] as number
        x[w] = partSms[w] as number
        if (load) load[w] = 0
      }
      return false
    }
    if (this.sharing === 'coresident') {
      this.coresident(running, m, acc, mask, partSms, demand, x, occ, take, load)
      return true
    }
    if (this.sharing === 'fifo') {
      this.takeInOrder(running, m, acc, mask, demand, x, occ, take)
      return true
    }
    if (same && nHigh === 0) {
      // one shared partition (baseline: the whole GPU): water-filling on a single resource, the same answer as the
      // progressive filling below, without going slice by slice
      const { active } = this
      // the SMs of the shared slices, not partSms: under MPS a worker's partSms is only its cap (sim/mps.ts)
      let free = 0
      for (let b = m0; b !== 0; b &= b - 1) free += this.sliceSms[31 - Math.clz32(b & -b)] as number
      let n = m
      for (let i = 0; i < m; i++) active[running[i] as number] = 1
      while (n > 0) {
        const share = free / n
        let capped = false
        for (let i = 0; i < m; i++) {
          const w = running[i] as number
          if (active[w] === 1 && (demand[w] as number) <= share + 1e-9) {
            x[w] = demand[w] as number
            free -= demand[w] as number
            active[w] = 0
            n--
            capped = true
          }
        }
        if (!capped) {
          for (let i = 0; i < m; i++) {
            const w = running[i] as number
            if (active[w] === 1) x[w] = share
          }
          break
        }
      }
      return true
    }
    const S = this.sliceSms.length
    const { free, users, got, contrib, active } = this
    for (let b = acc; b !== 0; b &= b - 1) {
      const s = 31 - Math.clz32(b & -b)
      free[s] = this.sliceSms[s] as number
    }
    for (let i = 0; i < m; i++) {
      const w = running[i] as number
      x[w] = 0
      active[w] = 1
    }
    // high-priority kernels first, each up to its demand, in order; the fair shares divide what they leave
    for (let i = 0; i < nHigh; i++) {
      const w = running[i] as number
      let want = demand[w] as number
      let got = 0
      for (let b = mask[w] as number; b !== 0 && want > 1e-9; b &= b - 1) {
        const s = 31 - Math.clz32(b & -b)
        const take = Math.min(free[s] as number, want)
        free[s] = (free[s] as number) - take
        got += take
        want -= take
      }
      x[w] = got
      active[w] = 0
    }
    for (let round = 0; round < 8; round++) {
      for (let b = acc; b !== 0; b &= b - 1) users[31 - Math.clz32(b & -b)] = 0
      for (let i = 0; i < m; i++) {
        const w = running[i] as number
        if (active[w] === 0) continue
        for (let b = mask[w] as number; b !== 0; b &= b - 1) (users[31 - Math.clz32(b & -b)] as number)++
      }
      let handed = false
      for (let i = 0; i < m; i++) {
        const w = running[i] as number
        if (active[w] === 0) continue
        let g = 0
        for (let b = mask[w] as number; b !== 0; b &= b - 1) {
          const s = 31 - Math.clz32(b & -b)
          const share = (free[s] as number) / (users[s] as number)
          contrib[w * S + s] = share
          g += share
        }
        got[w] = g
        x[w] = (x[w] as number) + g
        if (g > 0) handed = true
      }
      if (!handed) break
      for (let b = acc; b !== 0; b &= b - 1) {
        const s = 31 - Math.clz32(b & -b)
        if ((users[s] as number) > 0) free[s] = 0
      }
      let capped = false
      for (let i = 0; i < m; i++) {
        const w = running[i] as number
        if (active[w] === 0) continue
        const d = demand[w] as number
        const xw = x[w] as number
        if (xw > d + 1e-9) {
          // hand the surplus back to the slices it came from, in proportion to this round's shares
          const frac = (xw - d) / (got[w] as number)
          for (let b = mask[w] as number; b !== 0; b &= b - 1) {
            const s = 31 - Math.clz32(b & -b)
            free[s] = (free[s] as number) + (contrib[w * S + s] as number) * frac
          }
          x[w] = d
          active[w] = 0
          capped = true
        }
      }
      if (!capped) break
    }
    return true
  }

  /**
   * `running` is in (priority, kernel start) order: each kernel takes up to `take[w]` (else its demand × occupancy)
   * from its slices' free SMs and runs on got ÷ occupancy effective SMs (x). It takes the slices no later kernel can
   * use first, so a kernel on a wide partition does not needlessly starve a later one on a narrow partition inside
   * it.
   */
  private takeInOrder(
    running: Int32Array,
    m: number,
    acc: number,
    mask: Int32Array,
    demand: Float64Array,
    x: Float64Array,
    occ: Float64Array | undefined,
    take: Float64Array | undefined,
  ): void {
    const { free } = this
    for (let b = acc; b !== 0; b &= b - 1) {
      const s = 31 - Math.clz32(b & -b)
      free[s] = this.sliceSms[s] as number
    }
    if (this.later.length < m) this.later = new Int32Array(m)
    const later = this.later
    let after = 0
    for (let i = m - 1; i >= 0; i--) {
      later[i] = after
      after |= mask[running[i] as number] as number
    }
    for (let i = 0; i < m; i++) {
      const w = running[i] as number
      const mw = mask[w] as number
      const lw = later[i] as number
      const o = occ ? (occ[w] as number) : 1
      let want = take ? (take[w] as number) : (demand[w] as number) * o
      let got = 0
      for (let pass = 0; pass < 2; pass++) {
        for (let b = pass === 0 ? mw & ~lw : mw & lw; b !== 0 && want > 1e-9; b &= b - 1) {
          const s = 31 - Math.clz32(b & -b)
          const f = free[s] as number
          const t = Math.min(f, want)
          free[s] = f - t
          got += t
          want -= t
        }
      }
      x[w] = got / o
    }
  }

  /**
   * 'coresident' sharing: fifo over SM capacity (SM-equivalents of resources). Each kernel, in `running` order, takes
   * up to `take[w]` (else demand × occupancy) of its slices' free capacity and runs on got ÷ occupancy effective SMs;
   * `load[w]` is then the share of its slices' capacity the other kernels took.
   */
  private coresident(
    running: Int32Array,
    m: number,
    acc: number,
    mask: Int32Array,
    partSms: Float64Array,
    demand: Float64Array,
    x: Float64Array,
    occ: Float64Array | undefined,
    take: Float64Array | undefined,
    load: Float64Array | undefined,
  ): void {
    const { free } = this
    this.takeInOrder(running, m, acc, mask, demand, x, occ, take)
    if (!load) return
    // per slice mask (workers on one partition share it: computed once), its capacity and what all kernels took of it
    let lastMask = -1
    let cap = 0
    let taken = 0
    for (let i = 0; i < m; i++) {
      const w = running[i] as number
      const mw = mask[w] as number
      if (mw !== lastMask) {
        lastMask = mw
        cap = 0
        taken = 0
        for (let b = mw; b !== 0; b &= b - 1) {
          const s = 31 - Math.clz32(b & -b)
          cap += this.sliceSms[s] as number
          taken += (this.sliceSms[s] as number) - (free[s] as number)
        }
      }
      const o = occ ? (occ[w] as number) : 1
      // what the other kernels hold of w's slices: all that was taken there but w's own (x = what w took ÷ o)
      const held = taken - (x[w] as number) * o
      // w's blocks spread over the SMs it may use (its partition, or under MPS its cap of the slices): the others'
      // blocks are on those SMs only as far as the rest of the slices cannot hold them, and beside w's only in the
      // room w's leave there
      const span = Math.min(partSms[w] as number, cap)
      const beside = held - (cap - span)
      load[w] = span > 0 && beside > 0 ? Math.min(1 - o, beside / span) : 0
    }
  }
}
