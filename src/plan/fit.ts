// eclip-fit: kernel-wise partitioning that starts from model-wise's disjoint partitions instead of ECLIP's
// overlapping ladders, and prices overlap by the SMs it takes from the other workers.
//
// Why. On the H100 (results/h100/README.md) ECLIP's plans lost to model-wise in several mixes at batch 8, and the
// calibrated simulator predicts the same from those plans: the paper's objective,
// time × (1 + mean SMs in use / all SMs), rewards small mean SMs but does not see *whose* SMs a partition takes, so
// its plans run workers on large overlapping windows where a wide kernel of one worker holds the others' SMs (the
// block scheduler serves the first launched kernel first: head-of-line blocking). Model-wise avoids that with
// disjoint partitions, but idles a worker's SMs whenever its kernels are too small to fill them and never lets a
// worker's wide kernels use more.
//
// What. (a) Every worker gets a *home*: model-wise's disjoint partition (modelWiseLayout). Its ladder is runs of
// slices inside the home (right-sizing without touching anybody else's SMs), the home, and the whole GPU (the one
// shared partition). (b) A unit's cost is its solo time β at the size — scaled, as the simulator does, so that a
// request's kernels add up to no more than its measured latency there — times (1 + λ_w · overlap / SMs), overlap =
// SMs of the partition inside other workers' homes (the paper's α from the partitions actually shared, not from
// mean SMs), plus μ · β · SMs / all SMs (the SM-time a kernel holds: energy) and the executor's cost per switch.
// At fixed prices this separates per worker and the exact DP (dp.ts) solves it under the switch budget; λ_w = ∞
// keeps worker w at home. (c) What overlap is worth depends on how the workers' kernels interleave, which no
// per-worker price sees (vgg19's wide convolutions starve their neighbours; alexnet's tiny kernels do not), and no
// single λ suits every mix. So λ per worker, μ, and the homes' sizes (one slice at a time) are chosen by a
// coordinate search, climbing from several starts at once (one slice per move cannot walk from model-wise's homes to
// a one-slice home when every step on the way loses), that scores whole plans with an injected evaluator — the CLI
// passes the simulator with the profile directory's calibrated contention model (src/execute/sim/evaluator.ts) —
// maximising system throughput under a floor per worker (below: "The objective"), mean p95 never above max(1, the
// start's) + 2% (the start: model-wise's homes, nobody on the shared partition). Until issue #18 the score was mean
// throughput + ½ mean requests/J; the recorded results linked below were planned with it.
// Without an evaluator every worker stays home (FIT_DEFAULT). Tuned (tune.ts), the search goes on from its best
// candidates on the backend that will run the plan, where the simulator under-rates the gain.
//
// What it achieves, simulated and measured, and the ablation showing that (c) is what beats model-wise (neither
// homes alone nor one price for every mix does): results/sim/eclip-fit/README.md (bench/fit-robustness.ts re-runs
// it) and results/h100/eclip-fit-v2/README.md. The simulated requests/J rest on the work-based power model
// (eclip.power/2, src/execute/sim/power.ts), which does not count SMs a partition holds but does not fill as saved.
//
// The objective (issue #18.3). The score above, the mean of per-worker throughput ratios to baseline, learned to
// sacrifice a model (vgg19 in mix3 at about half its baseline rate) for a larger mean. The search now maximises
// system throughput STP = Σ_w weight_w · rate_w / solo_w (solo: the worker alone on the whole GPU, as the evaluator
// predicts it; docs/design.md §6), normalised to baseline's, subject to a floor per worker: rate_w under the plan
// ≥ minShare_w × rate_w under baseline co-location (default DEFAULT_MIN_SHARE). Floors come first: a candidate that
// misses one ranks below every candidate that meets them all, by its total shortfall. The baseline's placement
// (every kernel on the whole GPU) meets any floor ≤ 1 at baseline's STP: the fallback when the search ends short of
// a floor or below baseline.
//
// Total requests (issue #19). STP may rise while the sum of requests falls: a plan that trades some of a fast
// model's rate (many requests each worth little STP) for a slow one's. An optional guard, minTotal, counts like a
// floor — Σ_w rate_w under the plan ≥ minTotal × Σ_w rate_w under baseline, its shortfall added to the floors' —
// so such a trade ranks below every plan that keeps the total. eclip-live's set plans take it by default
// (src/plan/table.ts); a static plan only when its mix asks. Baseline's placement, the reference, always meets it:
// above 1 the guard asks for a margin over baseline's requests, or baseline's placement.
//
// A p95 cap (optional, maxP95): a worker's rate may stay above its floor while its p95 grows past the cap the user
// holds latency to (a closed loop's p95 can reach about 1 / floor of baseline's). Each worker's p95 ratio past the cap
// counts like a floor's shortfall; baseline's placement, the reference, meets it by definition.
import type { Gpu } from '../formats/gpu.ts'
import { regularSlices } from '../formats/gpu.ts'
import type { Partition } from '../formats/plan.ts'
import type { Profile } from '../formats/profile.ts'
import { solveWorkerDp } from './dp.ts'
import { type Assignment, evaluate, unitCount, type WorkerInstance } from './instance.ts'
import { modelWiseLayout } from './policies.ts'
import { internPartition } from './pool.ts'

/** A candidate plan's co-run behaviour, as an evaluator (the simulator) reports it. */
export interface FitScore {
  /** Requests per second, per worker (plan order). */
  throughputRps: number[]
  /** p95 latency, µs, per worker. */
  p95Us: number[]
  /** Mean power over the window, W. */
  powerW: number
}

/** Overlap prices tried per worker; Infinity keeps the worker inside its home. */
export const FIT_LAMBDAS: readonly number[] = [0, 0.5, 1, 2, Number.POSITIVE_INFINITY]
/** SM-time prices tried (one for all workers). */
export const FIT_MUS: readonly number[] = [0, 0.5, 1]
/** Mean p95 (vs baseline) a candidate may exceed the cap by: the evaluator's noise over a short window. */
export const FIT_P95_SLACK = 0.02
/** Weight of requests per joule (vs baseline) next to STP (vs baseline) in the search's score: STP alone. */
export const FIT_ENERGY_WEIGHT = 0
/** Where eclip-fit's search climbs from: model-wise's start only, or several (FitSpace.starts). */
export const FIT_STARTS_CHOICES = ['one', 'several'] as const
export type FitStarts = (typeof FIT_STARTS_CHOICES)[number]
export const FIT_STARTS: FitStarts = 'several'
/** A worker's default floor: its throughput under the plan ≥ this × its throughput under baseline co-location. */
export const DEFAULT_MIN_SHARE = 0.9
/**
 * Used when no evaluator is given: every worker in its home, each unit on its fastest size there, a switch priced
 * at docs/design.md §7's ≈1 µs — model-wise's partitions, with a switch only where a smaller run of the home is faster.
 */
export const FIT_DEFAULT = { lambda: Number.POSITIVE_INFINITY, mu: 0, switchCostUs: 1 }

export interface FitLayout {
  partitions: Partition[]
  /** Per worker: partition ids, ascending in SMs: runs inside the home, the home, then the whole GPU (id 0). */
  ladders: number[][]
  /** Per worker: its home's partition id. */
  homes: number[]
  /** Per worker: its home's length in regular slices. */
  homeLengths: number[]
  /** Per worker and ladder entry: SMs of that partition that lie in other workers' homes. */
  overlapSms: number[][]
  /** True when the homes are disjoint runs of slices in worker order (then the search may resize them). */
  disjoint: boolean
  notes: string[]
}

/**
 * The pool: the whole GPU (id 0), every worker's home and, inside each home, runs of its first slices of
 * geometrically spread lengths (as many as `maxPartitions` leaves: (cap − 1) / workers − 1 each). Homes are
 * model-wise's partitions, or, given `lengths`, disjoint runs of that many regular slices in worker order. Only
 * profiled sizes are used.
 */
export function fitLayout(
  gpu: Gpu,
  profiles: readonly Profile[],
  factor: number,
  maxPartitions: number,
  lengths?: readonly number[],
): FitLayout {
  const k = profiles.length
  const reg = regularSlices(gpu)
  const notes: string[] = []
  let homeSlices: number[][]
  if (lengths) {
    let next = 0
    homeSlices = lengths.map((L) => {
      const ids = reg.slice(next, next + L).map((s) => s.id)
      next += L
      return ids
    })
  } else {
    const mw = modelWiseLayout(gpu, profiles, factor)
    homeSlices = mw.assigned.map((id) => (mw.partitions[id] as Partition).slices)
    notes.push(...mw.notes)
  }
  const partitions: Partition[] = []
  const byKey = new Map<string, number>()
  const whole = internPartition(partitions, byKey, gpu.slices)
  const sliceById = new Map(gpu.slices.map((s) => [s.id, s]))
  const sizes = new Set(profiles[0]?.sizes ?? [])
  for (const p of profiles) for (const s of [...sizes]) if (!p.sizes.includes(s)) sizes.delete(s)
  const subsPerWorker = Math.max(0, Math.floor((maxPartitions - 1) / k) - 1)
  const homes: number[] = []
  const ladders = homeSlices.map((slices) => {
    const runs = slices.map((id) => sliceById.get(id) as { id: number; sms: number })
    const L = runs.length
    const lens = new Set<number>()
    for (let i = 0; i < subsPerWorker && L > 1; i++) {
      const l = Math.round(Math.exp((Math.log(L - 1) * i) / Math.max(1, subsPerWorker - 1)))
      const sms = runs.slice(0, l).reduce((a, s) => a + s.sms, 0)
      if (l >= 1 && l < L && sizes.has(sms)) lens.add(l)
    }
    const ladder = [...lens]
      .sort((a, b) => a - b)
      .map((l) => internPartition(partitions, byKey, runs.slice(0, l)))
    const home = internPartition(partitions, byKey, runs)
    homes.push(home)
    if (home !== whole) ladder.push(home)
    ladder.push(whole)
    return ladder
  })
  const owner = new Map<number, number[]>()
  homeSlices.forEach((slices, w) => {
    for (const s of slices) owner.set(s, [...(owner.get(s) ?? []), w])
  })
  const overlapSms = ladders.map((ladder, w) =>
    ladder.map((id) =>
      (partitions[id] as Partition).slices.reduce(
        (a, s) => a + ((owner.get(s) ?? []).some((v) => v !== w) ? (sliceById.get(s)?.sms ?? 0) : 0),
        0,
      ),
    ),
  )
  const regIds = new Set(reg.map((s) => s.id))
  let next = 0
  const disjoint =
    k > 1 &&
    homeSlices.every((sl) => {
      const ok = sl.every((id, j) => id === (reg[next + j]?.id ?? -1) && regIds.has(id))
      next += sl.length
      return ok
    })
  return {
    partitions,
    ladders,
    homes,
    homeLengths: homeSlices.map((sl) => sl.length),
    overlapSms,
    disjoint,
    notes,
  }
}

/**
 * One worker's plan at overlap price λ and SM-time price μ: the DP (dp.ts) on costs β · (1 + λ · overlap / N) +
 * μ · β · SMs / N, plus the executor's cost per switch, under the switch budget; λ = ∞ removes every
 * configuration that overlaps another worker's home.
 * Returns the assignment with its true (solo) times.
 */
export function fitAssignment(
  w: WorkerInstance,
  overlapSms: readonly number[],
  smCount: number,
  lambda: number,
  mu: number,
  switchMax: number,
  switchCostUs = 0,
): Assignment {
  const C = w.configs.length
  const cost = new Float64Array(w.cost.length)
  for (let u = 0; u < unitCount(w); u++)
    for (let c = 0; c < C; c++) {
      const b = w.cost[u * C + c] as number
      const o = overlapSms[c] as number
      const price = o === 0 ? 0 : lambda === Number.POSITIVE_INFINITY ? Number.POSITIVE_INFINITY : lambda * o
      cost[u * C + c] = b * (1 + price / smCount) + (mu * b * (w.sms[c] as number)) / smCount
    }
  // a configuration priced out everywhere (λ = ∞) is never chosen: the home has no overlap, so a finite choice exists
  const r = solveWorkerDp({ ...w, cost }, switchMax, 0, switchCostUs)
  return evaluate(w, r.assignment.choice)
}

/**
 * The instance with each configuration's unit costs scaled by min(1, measured request latency / Σ kernel times) at
 * that size, as the simulator scales kernel times (src/execute/sim/engine.ts): where a request's kernels overlap
 * inside its graph (resnext101: Σ kernels = 1.07–1.21 × the latency, differently at every size) the raw sums would
 * make the DP chase sizes that only look faster.
 */
export function scaleToLatency(w: WorkerInstance, profile: Profile): WorkerInstance {
  const C = w.configs.length
  const scale = w.sms.map((sms) => {
    const i = profile.sizes.indexOf(sms)
    const sum = profile.kernels.reduce((a, k) => a + Math.max(k.timesUs[i] ?? 0, 1e-3), 0)
    const req = profile.requestUs[i] ?? 0
    return req > 0 && sum > req ? req / sum : 1
  })
  const cost = w.cost.map((x, j) => x * (scale[j % C] as number))
  return { ...w, cost }
}

/** What the search maximises and the floors it keeps (plan order). */
export interface FitObjective {
  /** Each worker's rate alone on the whole GPU, requests/s (STP's denominators). */
  soloRps: readonly number[]
  /** Each worker's weight in STP. */
  weights: readonly number[]
  /** Each worker's floor: least rate under the plan ÷ rate under baseline. */
  floors: readonly number[]
  /** Least Σ rate under the plan ÷ Σ rate under baseline (total requests/s); absent: no guard. */
  minTotal?: number
  /** Each worker's p95 under the plan ÷ its p95 under baseline, at most, kept like a floor; absent: no cap. */
  maxP95?: number
}

/**
 * How a candidate compares with baseline: the bench's normalised means of throughput and p95
 * (src/measure/metrics.ts), requests/J as the system's (total requests ÷ energy) against baseline's, and, against
 * `obj`, weighted STP and its ratio to baseline's, each worker's throughput and p95 ratios, the worst worker, total
 * requests/s as a ratio to baseline's, and the floors' total shortfall Σ max(0, floor − ratio) + max(0, minTotal −
 * total ratio) + Σ min(1, max(0, p95 ratio − maxP95)) (the p95 cap's part: `p95Shortfall`). Without `obj`: solo =
 * the baseline rates, weights 1, no floors.
 */
export function fitMetrics(s: FitScore, base: FitScore, obj?: FitObjective) {
  const n = s.throughputRps.length
  let thr = 0
  let p95 = 0
  let stp = 0
  let baseStp = 0
  let shortfall = 0
  let p95Shortfall = 0
  let sum = 0
  let baseSum = 0
  const ratios: number[] = []
  const p95Ratios: number[] = []
  let worst = -1
  for (let i = 0; i < n; i++) {
    const b = base.throughputRps[i] as number
    const r = s.throughputRps[i] as number
    const ratio = b > 0 ? r / b : 0
    ratios.push(ratio)
    if (worst < 0 || ratio < (ratios[worst] as number)) worst = i
    thr += ratio
    sum += r
    baseSum += b
    const bp = base.p95Us[i] as number
    const p = s.p95Us[i] as number
    const p95Ratio = bp > 0 && Number.isFinite(p) ? p / bp : Number.POSITIVE_INFINITY
    p95Ratios.push(p95Ratio)
    p95 += p95Ratio
    // a worker past the cap counts like one short of its floor, by at most 1 (a p95 that is not finite is past it)
    if (obj?.maxP95 !== undefined) p95Shortfall += Math.min(1, Math.max(0, p95Ratio - obj.maxP95))
    const solo = obj?.soloRps[i] ?? b
    const wt = obj?.weights[i] ?? 1
    if (solo > 0) {
      stp += (wt * r) / solo
      baseStp += (wt * b) / solo
    }
    shortfall += Math.max(0, (obj?.floors[i] ?? 0) - ratio)
  }
  thr /= n
  p95 /= n
  const stpRatio = baseStp > 0 ? stp / baseStp : 0
  const totalRatio = baseSum > 0 ? sum / baseSum : 0
  const reqPerJ = s.powerW > 0 ? (totalRatio * base.powerW) / s.powerW : 0
  let totalShortfall = Math.max(0, (obj?.minTotal ?? 0) - totalRatio)
  // a shortfall within rounding of the evaluator's arithmetic is none
  if (shortfall < 1e-9) shortfall = 0
  if (totalShortfall < 1e-9) totalShortfall = 0
  if (p95Shortfall < 1e-9) p95Shortfall = 0
  shortfall += totalShortfall + p95Shortfall
  return {
    thr,
    p95,
    reqPerJ,
    stp,
    stpRatio,
    ratios,
    p95Ratios,
    worst,
    totalRatio,
    totalShortfall,
    p95Shortfall,
    shortfall,
  }
}
export type FitMetrics = ReturnType<typeof fitMetrics>

export interface FitCandidate {
  layout: FitLayout
  instances: WorkerInstance[]
  assignments: Assignment[]
}

/** A point of the search: the homes' lengths in slices, each worker's overlap price λ, the SM-time price μ. */
export interface FitState {
  lengths: number[]
  lambdas: number[]
  mu: number
}

/** What the search space needs to turn a state into a candidate plan. */
export interface FitSpaceOptions {
  smCount: number
  switchMax: number
  /** What one switch costs the executor, µs (the DP charges it). */
  switchCostUs: number
  factor: number
  maxPartitions: number
  /** A worker's instance on a ladder (partition ids, their SMs). */
  instance: (w: number, ladder: readonly number[], sms: readonly number[]) => WorkerInstance
  /** Workers' models (plan order): workers of one model also move together. */
  models: readonly string[]
}

/**
 * eclip-fit's search space over one mix: each state's candidate plan (layouts and per-worker DPs memoised), the
 * plan's identity (states whose λ's or μ change nothing are the same plan), and the coordinate search's moves. Both
 * the search on the simulator and its measured continuation (tune.ts) walk it.
 */
export class FitSpace {
  /** Model-wise's homes, every worker at home (λ = ∞), μ 0. */
  readonly start: FitState
  /** The homes are disjoint runs of regular slices: the moves may resize them. */
  readonly disjoint: boolean
  private readonly layouts = new Map<string, { layout: FitLayout; instances: WorkerInstance[] }>()
  private readonly memoA = new Map<string, Assignment>()
  private readonly moveSets: number[][]
  private readonly reg: ReturnType<typeof regularSlices>

  constructor(
    private readonly gpu: Gpu,
    private readonly profiles: readonly Profile[],
    private readonly o: FitSpaceOptions,
  ) {
    const start = this.layoutOf(undefined)
    this.start = {
      lengths: start.layout.homeLengths,
      lambdas: profiles.map(() => Number.POSITIVE_INFINITY),
      mu: 0,
    }
    this.disjoint = start.layout.disjoint
    const k = profiles.length
    // moves: every worker at once, the workers of each model that has several, then each worker alone
    this.moveSets = [profiles.map((_, i) => i)]
    for (const model of new Set(o.models)) {
      const ws = o.models.flatMap((m, i) => (m === model ? [i] : []))
      if (ws.length > 1 && ws.length < k) this.moveSets.push(ws)
    }
    if (k > 1) for (let w = 0; w < k; w++) this.moveSets.push([w])
    this.reg = regularSlices(gpu)
  }

  private layoutOf(lengths: readonly number[] | undefined) {
    const key = lengths ? lengths.join(',') : 'model-wise'
    let l = this.layouts.get(key)
    if (!l) {
      const layout = fitLayout(this.gpu, this.profiles, this.o.factor, this.o.maxPartitions, lengths)
      const instances = layout.ladders.map((ladder, w) =>
        this.o.instance(
          w,
          ladder,
          ladder.map((id) => (layout.partitions[id] as Partition).sms),
        ),
      )
      l = { layout, instances }
      this.layouts.set(key, l)
      if (lengths === undefined) this.layouts.set(layout.homeLengths.join(','), l)
    }
    return l
  }

  private assign(lk: string, l: ReturnType<FitSpace['layoutOf']>, w: number, lambda: number, mu: number) {
    // a worker's DP depends only on its own ladder and overlaps, but those change with every home: key by layout
    const key = `${lk}|${w}|${lambda}|${mu}`
    let a = this.memoA.get(key)
    if (!a) {
      a = fitAssignment(
        l.instances[w] as WorkerInstance,
        l.layout.overlapSms[w] as number[],
        this.o.smCount,
        lambda,
        mu,
        this.o.switchMax,
        this.o.switchCostUs,
      )
      this.memoA.set(key, a)
    }
    return a
  }

  candidate(st: FitState): FitCandidate {
    const l = this.layoutOf(st.lengths)
    const lk = st.lengths.join(',')
    return { ...l, assignments: st.lambdas.map((x, w) => this.assign(lk, l, w, x, st.mu)) }
  }

  /** The plan a state makes, as a key: its homes and every worker's choice of partition per unit. */
  key(st: FitState): string {
    return FitSpace.keyOf(this.candidate(st))
  }

  /** A candidate's key, as `key` gives a state's. */
  static keyOf(c: FitCandidate): string {
    return `${c.layout.homeLengths.join(',')}|${c.assignments.map((a) => a.choice.join(',')).join('|')}`
  }

  /**
   * Whether a candidate is the baseline's placement: every unit on the top of its ladder, the whole GPU, whatever its
   * homes (a state can make it, e.g. with no price on overlap).
   */
  static isWholeGpu(c: FitCandidate): boolean {
    return c.assignments.every((a, w) => {
      const top = (c.instances[w]?.configs.length ?? 0) - 1
      return a.choice.every((x) => x === top)
    })
  }

  /** The baseline's placement on a state's layout: every unit on the top of its ladder, the whole GPU. */
  wholeGpu(st: FitState): FitCandidate {
    const c = this.candidate(st)
    return {
      ...c,
      assignments: c.instances.map((w) => {
        const C = w.configs.length
        return evaluate(w, new Int32Array(unitCount(w)).fill(C - 1))
      }),
    }
  }

  /**
   * The moves of one round from the state `at()` returns when each is made: every λ for each move set, every μ, then
   * one slice from one home to another (or a free slice into one). Read lazily, so a search that takes a move
   * continues the round from there.
   */
  *moves(at: () => FitState): Generator<FitState> {
    for (const move of this.moveSets)
      for (const l of FIT_LAMBDAS) {
        const st = at()
        if (move.every((w) => st.lambdas[w] === l)) continue
        yield { ...st, lambdas: st.lambdas.map((x, i) => (move.includes(i) ? l : x)) }
      }
    for (const mu of FIT_MUS) {
      const st = at()
      if (mu !== st.mu) yield { ...st, mu }
    }
    if (!this.disjoint) return
    const k = this.profiles.length
    const free = this.reg.length - at().lengths.reduce((a, b) => a + b, 0)
    for (let to = 0; to < k; to++)
      for (let from = -1; from < k; from++) {
        if (from === to || (from < 0 && free <= 0)) continue
        const lengths = at().lengths.map((L, i) => L + (i === to ? 1 : 0) - (i === from ? 1 : 0))
        if (lengths.every((L) => this.profiled(L))) yield { ...at(), lengths }
      }
  }

  /**
   * Where the search's climbs start (FIT_STARTS 'several'): model-wise's homes with every worker at home, the same
   * homes with every worker free to use the shared partition (λ 0, μ 0: near the baseline's placement), and, for each
   * worker, a lean home — one slice, the shared partition free to it — its other slices given one at a time to the
   * worker whose home has grown least in proportion. One slice per move cannot walk from the first to the last: every
   * step on the way may lose.
   */
  starts(): FitState[] {
    const s = this.start
    const out: FitState[] = [s, { ...s, lambdas: s.lambdas.map(() => 0), mu: 0 }]
    if (!this.disjoint || !this.profiled(1)) return out
    const k = s.lengths.length
    for (let w = 0; w < k; w++) {
      const lengths = [...s.lengths]
      let give = (lengths[w] as number) - 1
      if (give <= 0) continue
      lengths[w] = 1
      for (; give > 0; give--) {
        const to = lengths
          .map((L, i) => ({ i, grown: (L + 1) / (s.lengths[i] as number) }))
          .filter(({ i }) => i !== w && this.profiled((lengths[i] as number) + 1))
          .sort((a, b) => a.grown - b.grown || a.i - b.i)[0]
        if (!to) break
        lengths[to.i] = (lengths[to.i] as number) + 1
      }
      out.push({ lengths, lambdas: s.lambdas.map((x, i) => (i === w ? 0 : x)), mu: s.mu })
    }
    return out
  }

  /** A home of L slices is a run of the first L regular slices' size: only lengths every profile has a size for. */
  private profiled(L: number): boolean {
    const sms = this.reg.slice(0, L).reduce((a, s) => a + s.sms, 0)
    return L >= 1 && L <= this.reg.length && this.profiles.every((p) => p.sizes.includes(sms))
  }
}

/**
 * How the search ranks a candidate: floors first (every feasible score is > 0 > every infeasible one, by its total
 * shortfall, the guard on total requests/s counted with them), then STP (+ energyWeight × requests per joule), both
 * vs baseline; a mean p95 above `p95Cap` is rejected. Not `guarded`: as if there were no guard (minTotal).
 */
export function fitValue(m: FitMetrics, p95Cap: number, energyWeight: number, guarded = true): number {
  const short = guarded ? m.shortfall : m.shortfall - m.totalShortfall
  return m.p95 > p95Cap
    ? Number.NEGATIVE_INFINITY
    : short > 0
      ? -1 - short
      : m.stpRatio + energyWeight * m.reqPerJ
}

/**
 * The metrics of the baseline's placement, the reference of the guard on total requests/s and of the p95 cap: it meets
 * both by definition, whatever the evaluator's noise says (their shortfalls dropped; the floors' kept).
 */
export function guardReference(m: FitMetrics): FitMetrics {
  return {
    ...m,
    shortfall: m.shortfall - m.totalShortfall - m.p95Shortfall,
    totalShortfall: 0,
    p95Shortfall: 0,
  }
}

/** One distinct candidate plan a search evaluated: its state, its plan's key, what the evaluator made of it. */
export interface FitSeen {
  state: FitState
  key: string
  metrics: FitMetrics
}

export interface FitSearchResult extends FitCandidate {
  lambdas: number[]
  mu: number
  evaluations: number
  /** Score of the chosen plan and of the start (model-wise homes, every worker at home), vs baseline. */
  chosen: FitMetrics
  homeOnly: FitMetrics
  /**
   * True when the baseline's placement (every kernel on the whole GPU) was taken: it scored best, or the search's
   * best state makes it (`state` is then that state).
   */
  fellBack: boolean
  /** True when the search's best state itself makes the baseline's placement (`fellBack` is then true too). */
  bestIsWhole: boolean
  /** The state the search ended at (the chosen plan's, unless it fell back). */
  state: FitState
  /**
   * Every distinct candidate it evaluated (the baseline's placement not among them; a state among them may still make
   * it: FitSpace.isWholeGpu), climb by climb (model-wise's first), each in the order its climb asked for it: not the
   * order the scores came back in.
   */
  seen: FitSeen[]
  /** Its space, memoised DPs and all: what a measured continuation walks (tune.ts). */
  space: FitSpace
  /** How the search ranked what its evaluator said (fitValue with the start's p95 cap). */
  value: (m: FitMetrics) => number
  /** Its evaluator's metrics of a state, memoised with the search's own evaluations (a new one joins `seen`). */
  metricsOf: (st: FitState) => Promise<FitMetrics>
}

export interface FitSearchOptions extends FitSpaceOptions {
  /** The evaluator's view of a candidate. */
  score: (c: FitCandidate) => Promise<FitScore>
  baseline: FitScore
  /** Weight of requests per joule against STP in the score (FIT_ENERGY_WEIGHT). */
  energyWeight?: number
  /** STP's solo rates and weights, the floors; without it: solo = baseline rates, weights 1, no floors. */
  objective?: FitObjective
  /** Climbs from model-wise's start only (`one`) or from each of FitSpace.starts (`several`); FIT_STARTS. */
  starts?: FitStarts
  /**
   * The evaluator's scores by state key, shared by searches of the same space and evaluator (one with other floors
   * scores the same plans alike): a state scored before is not scored again.
   */
  scores?: Map<string, FitScore>
}

/**
 * Coordinate search over the homes' lengths, (λ_1 … λ_k) and μ. It climbs from model-wise's homes, every worker
 * at home (λ = ∞), μ 0, and (`starts` 'several', the default) at once from the other FitSpace.starts, taking the
 * best candidate any climb scored; each round tries every λ for all workers at once, for the workers of each
 * repeated model, and for each worker alone, then every μ, then moving one slice from one home to another (or a
 * free slice into one), keeping a change only when the score rises, until a round changes nothing (at most 4
 * rounds). Score = weighted STP + energyWeight × total requests per joule, both normalised to baseline, for a
 * candidate that meets every floor; one that misses a floor ranks below all that meet them, by its total
 * shortfall; one whose mean p95 is above max(1, model-wise's start's) is rejected. From that start, λ 0 for every
 * worker with μ 0 (close to the baseline's placement) is tried first; at the end the baseline's placement itself is
 * evaluated and taken when it scores higher (when no candidate met the floors, or none beat baseline's STP). With a
 * guard on total requests/s (objective.minTotal, counted with the floors) one more climb runs from the start without
 * it, and the best candidate any climb scored under the guard is taken; the baseline's placement, its reference,
 * always meets it.
 */
export async function fitSearch(
  gpu: Gpu,
  profiles: readonly Profile[],
  o: FitSearchOptions,
): Promise<FitSearchResult> {
  const space = new FitSpace(gpu, profiles, o)
  const memoS = new Map<string, Promise<FitMetrics>>()
  let evaluations = 0
  const ew = o.energyWeight ?? FIT_ENERGY_WEIGHT
  // a state's metrics, scored once per plan (a score asked for again while in flight is awaited, not run twice);
  // `log` records which states a climb asked for, in its order
  const metricsIn = (st: FitState, log: FitSeen[]): Promise<FitMetrics> => {
    const key = space.key(st)
    let m = memoS.get(key)
    if (!m) {
      evaluations++
      m = (async () => {
        let score = o.scores?.get(key)
        if (!score) {
          score = await o.score(space.candidate(st))
          o.scores?.set(key, score)
        }
        return fitMetrics(score, o.baseline, o.objective)
      })()
      memoS.set(key, m)
    }
    return m.then((metrics) => {
      log.push({ state: st, key, metrics })
      return metrics
    })
  }
  const first: FitSeen[] = []
  const homeOnly = await metricsIn(space.start, first)
  const p95Cap = Math.max(1, homeOnly.p95) + FIT_P95_SLACK
  const value = (m: FitMetrics) => fitValue(m, p95Cap, ew)
  // one coordinate search from a start, ranking with the guard on total requests/s or as if there were none; once a
  // climb's score fails, the others stop at their next move (the search fails with it)
  let failed = false
  const scored = (st: FitState, log: FitSeen[]) => {
    if (failed) throw new Error('another climb of the search failed')
    return metricsIn(st, log).catch((err) => {
      failed = true
      throw err
    })
  }
  const climb = async (guarded: boolean, from: FitState = space.start) => {
    const rank = (m: FitMetrics) => fitValue(m, p95Cap, ew, guarded)
    const log: FitSeen[] = []
    let at = from
    let best = await scored(from, log)
    const tryState = async (cand: FitState) => {
      const m = await scored(cand, log)
      if (rank(m) > rank(best) + 1e-9) {
        best = m
        at = cand
        return true
      }
      return false
    }
    // from model-wise's start, one step straight to everything on the shared partition at no price (near the
    // baseline's placement) before the rounds
    if (from === space.start) await tryState({ ...at, lambdas: profiles.map(() => 0), mu: 0 })
    for (let round = 0; round < 4; round++) {
      let changed = false
      for (const cand of space.moves(() => at)) if (await tryState(cand)) changed = true
      if (!changed) break
    }
    return { at, best, log }
  }
  // the climbs run at once, each waiting on its own scores (an evaluator on threads scores them side by side): from
  // model-wise's start; from the other starts (FitSpace.starts); and, with a guard on total requests/s, from the
  // start without it (the guarded climb stops where every step costs requests; the one without it walks elsewhere
  // and may pass plans that keep the total at a higher STP)
  const climbs = await Promise.all([
    climb(true),
    ...((o.starts ?? FIT_STARTS) === 'several' ? space.starts().slice(1) : []).map((from) =>
      climb(true, from),
    ),
    ...(o.objective?.minTotal !== undefined ? [climb(false)] : []),
  ])
  // every distinct candidate, in the order the climbs one after another would have met them, whatever order the
  // scores came back in
  const seen: FitSeen[] = []
  const keys = new Set<string>()
  const addSeen = (xs: readonly FitSeen[]) => {
    for (const x of xs)
      if (!keys.has(x.key)) {
        keys.add(x.key)
        seen.push(x)
      }
  }
  addSeen([first, ...climbs.map((c) => c.log)].flat())
  const metricsOf = async (st: FitState) => {
    const log: FitSeen[] = []
    const m = await metricsIn(st, log)
    addSeen(log)
    return m
  }
  // the best candidate any climb scored, under the guard: model-wise's climb's end unless another beats it (a
  // guarded climb's end is the best it scored, so with one start and no guard this is that climb's end)
  let { at: st, best } = climbs[0] as { at: FitState; best: FitMetrics }
  for (const x of seen)
    if (value(x.metrics) > value(best) + 1e-9) {
      best = x.metrics
      st = x.state
    }
  const c = space.candidate(st)
  const done = () => ({ lambdas: st.lambdas, mu: st.mu, homeOnly, state: st, seen, space, value, metricsOf })
  // the baseline's placement (every unit on the top of its ladder, the whole GPU) meets every floor ≤ 1 at
  // baseline's STP: a plan is never chosen below it in the evaluator's eyes. It is what minTotal measures against,
  // so it meets that guard at any value (above 1 the guard asks a plan for more requests than baseline, or baseline)
  const whole = space.wholeGpu(st)
  evaluations++
  const m = guardReference(fitMetrics(await o.score(whole), o.baseline, o.objective))
  // a best state that makes the baseline's placement is it, and said so
  const bestIsWhole = FitSpace.isWholeGpu(c)
  if (value(m) > value(best) || bestIsWhole)
    return {
      ...whole,
      ...done(),
      lambdas: st.lambdas.map(() => 0),
      mu: 0,
      evaluations,
      chosen: m,
      fellBack: true,
      bestIsWhole,
    }
  return { ...c, ...done(), evaluations, chosen: best, fellBack: false, bestIsWhole }
}
