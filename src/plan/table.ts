// The plan table (src/formats/plan-table.ts): a plan per set of workers that can be active together, made by the
// ordinary planner for each subset. A worker alone gets the baseline placement (the whole GPU): that is what it would
// get alone, it needs no search, and it makes "a model alone never runs slower than under baseline" hold by
// construction. Every other subset is planned under the table's policy by the planner passed in — the CLI passes the
// simulator-scored planner (eclip-fit's search), possibly spread over worker threads
// (src/execute/sim/table-threads.ts); the plan layer never imports the executor.
//
// Plan-time cost: eclip-fit scores tens of candidate plans on the simulator per subset, so a table of n workers costs
// about 2^n − n − 1 such searches. What is saved: singletons (no search), subsets whose workers are the same models
// in the same order as a subset already planned (mix1's two alberts: {albert#0, densenet201#2} and {albert#1,
// densenet201#2} are one plan under two names), plans handed in (`reuse`: the static plan of the whole set that the
// bench makes anyway), and, above PLAN_TABLE_FULL_MAX workers, every subset nobody asked for (`PlanTableBuilder`
// plans one on demand, once, however many ask at the same time).
//
// Total requests. A set's plan runs while that set is active, so what it trades decides the live run: eclip-fit
// maximises STP, and a plan may raise STP by trading some of a fast model's rate (many cheap requests) for a slow
// one's, serving fewer requests than baseline would in that set. Every subset of two or more is therefore planned
// with a guard on the total (PlanOptions.minTotalShare, DEFAULT_SET_MIN_TOTAL_SHARE unless the mix or the serve
// config says otherwise), and a plan handed in is taken only when it was made under the same guard.

import { UserError } from '../formats/errors.ts'
import type { Gpu } from '../formats/gpu.ts'
import { gpuIdentity } from '../formats/gpu.ts'
import { parseFormat } from '../formats/index.ts'
import { arrivalRecord, type WorkerSpec } from '../formats/mix.ts'
import type { Plan, Policy } from '../formats/plan.ts'
import {
  allSubsets,
  keyNames,
  lookupPlan,
  PLAN_KEY_SEPARATOR,
  PLAN_TABLE_FULL_MAX,
  type PlanTable,
  planKey,
  type TableEntry,
  unionPool,
} from '../formats/plan-table.ts'
import type { Profile } from '../formats/profile.ts'
import { makePlan, type Planner } from './index.ts'

/**
 * Plans one subset of two or more workers (plan order: the table's) under `policy` and the guard on total requests/s
 * (PlanOptions.minTotalShare); `mixName` names the plan. Any Planner is one.
 */
export type SubsetPlanner = Planner

/**
 * The least total requests/s of a set's plan ÷ baseline's in that set, as the planner's evaluator predicts both,
 * when the mix or serve config gives none (PlanOptions.minTotalShare). Above 1: the evaluator's short closed loops
 * predict a set's total a little above what a live run of the plan gets, so plans just at 1 lose requests there; a
 * plan that cannot keep the margin gives way to baseline's placement (results/sim/live/guard/).
 */
export const DEFAULT_SET_MIN_TOTAL_SHARE = 1.01

export interface PlanTableOptions {
  /** The policy of every subset of two or more workers (eclip-fit in eclip-live). */
  policy: Policy
  planner: SubsetPlanner
  /**
   * Which subsets to plan (worker names; the whole set is always planned): 'all' (the default up to
   * PLAN_TABLE_FULL_MAX workers, and required there) or a list (the default above it: none but the whole set).
   */
  subsets?: 'all' | string[][]
  /** Plans already made for subsets of these workers (same names, same policy): taken as they are. */
  reuse?: readonly Plan[]
  /** Subset plans in flight at once (useful when the planner runs them on worker threads); default 1. */
  concurrency?: number
  /** Every subset plan's guard on total requests/s (PlanOptions.minTotalShare); default DEFAULT_SET_MIN_TOTAL_SHARE. */
  minTotalShare?: number
}

/** What makes two subsets' plans the same up to names: each worker's model and planning fields, in order. */
function signature(ws: readonly WorkerSpec[]): string {
  return ws
    .map((w) =>
      [
        w.model,
        w.batch,
        w.dtype,
        w.weight ?? '',
        w.minShare ?? '',
        w.priority ?? '',
        w.sloMs ?? '',
        JSON.stringify(arrivalRecord(w.arrival)),
      ].join('|'),
    )
    .join(';')
}

/** `plan` with its workers renamed to `ws` (same models in the same order) and its mix name set. */
function renamed(plan: Plan, ws: readonly WorkerSpec[], mix: string): Plan {
  return {
    ...plan,
    mix,
    workers: plan.workers.map((pw, i) => ({ ...pw, name: (ws[i] as WorkerSpec).name })),
  }
}

/**
 * A served set's table, grown on demand: every subset planned at most once (concurrent requests for one subset share
 * one planning), what phase 2's server calls to plan in the background the sets its traffic shows.
 */
export class PlanTableBuilder {
  private readonly entries = new Map<string, Promise<TableEntry>>()
  private readonly done = new Map<string, TableEntry>()
  private readonly bySignature = new Map<string, Promise<Plan>>()
  private planned = 0
  private reused = 0
  private readonly index: Map<string, number>
  private readonly t0 = performance.now()
  private readonly minTotalShare: number

  constructor(
    readonly gpu: Gpu,
    readonly mixName: string,
    readonly workers: readonly WorkerSpec[],
    readonly profiles: readonly Profile[],
    readonly options: PlanTableOptions,
  ) {
    if (workers.length === 0) throw new UserError('a plan table needs at least one worker')
    if (profiles.length !== workers.length)
      throw new UserError(`${workers.length} workers but ${profiles.length} profiles`)
    this.minTotalShare = options.minTotalShare ?? DEFAULT_SET_MIN_TOTAL_SHARE
    this.index = new Map(workers.map((w, i) => [w.name, i]))
    workers.forEach((w, i) => {
      if (w.name.includes(PLAN_KEY_SEPARATOR))
        throw new UserError(
          `worker "${w.name}": a plan table's worker names may not contain "${PLAN_KEY_SEPARATOR}" (it joins keys)`,
        )
      if (this.index.get(w.name) !== i) throw new UserError(`worker "${w.name}" named twice`)
    })
    for (const plan of options.reuse ?? []) {
      const names = plan.workers.map((w) => w.name)
      if (plan.policy !== options.policy || !names.every((n) => this.index.has(n))) continue
      // a plan of two or more made without this table's guard on total requests/s is planned again
      if (names.length > 1 && plan.policy === 'eclip-fit' && plan.params.minTotalShare !== this.minTotalShare)
        continue
      // a table's plans keep every stream at normal priority (eclip-fit's raised workers, docs/plan.md, are not for
      // the set plans one worker's streams serve under in turn)
      if (plan.workers.some((w) => w.streamPriority === 'high')) continue
      const key = planKey(names)
      // a plan lists its workers in the table's order, as the planner would have
      const order = names.map((n) => this.index.get(n) as number)
      if (order.some((x, i) => i > 0 && x < (order[i - 1] as number))) continue
      const entry = { key, plan }
      this.entries.set(key, Promise.resolve(entry))
      this.done.set(key, entry)
      this.reused++
    }
  }

  /** The subset's workers in table order; refused when a name is not a worker of the table, or none is given. */
  subset(names: Iterable<string>): WorkerSpec[] {
    const want = new Set(names)
    if (want.size === 0) throw new UserError('a set of active workers needs at least one worker')
    const unknown = [...want].filter((n) => !this.index.has(n))
    if (unknown.length > 0)
      throw new UserError(
        `${unknown.map((n) => `"${n}"`).join(', ')} not among the table's workers (${this.workers.map((w) => w.name).join(', ')})`,
      )
    return this.workers.filter((w) => want.has(w.name))
  }

  has(names: Iterable<string>): boolean {
    return this.done.has(planKey(names))
  }

  /** The plan of exactly these workers: planned now (once), or the one already made. */
  planFor(names: Iterable<string>): Promise<TableEntry> {
    const ws = this.subset(names)
    const key = planKey(ws.map((w) => w.name))
    let e = this.entries.get(key)
    if (!e) {
      e = this.make(key, ws).then((entry) => {
        this.done.set(key, entry)
        return entry
      })
      // a failed planning is not kept: a later call tries again
      e.catch(() => this.entries.delete(key))
      this.entries.set(key, e)
    }
    return e
  }

  private async make(key: string, ws: WorkerSpec[]): Promise<TableEntry> {
    const profiles = ws.map((w) => this.profiles[this.index.get(w.name) as number] as Profile)
    const mix = `${this.mixName}[${key}]`
    if (ws.length === 1) {
      this.planned++
      // alone: the whole GPU, as baseline places it
      return { key, plan: await makePlan(this.gpu, mix, ws, profiles, { policy: 'baseline' }) }
    }
    const sig = signature(ws)
    let p = this.bySignature.get(sig)
    if (p) {
      this.reused++
      return { key, plan: renamed(await p, ws, mix) }
    }
    p = this.options.planner(this.gpu, mix, ws, profiles, {
      policy: this.options.policy,
      minTotalShare: this.minTotalShare,
    })
    this.bySignature.set(sig, p)
    p.catch(() => this.bySignature.delete(sig))
    this.planned++
    return { key, plan: await p }
  }

  /** The plan a set of active workers runs under now: its own if planned, else the smallest planned superset's. */
  lookup(active: Iterable<string>) {
    return lookupPlan(this.table(), active)
  }

  /** The table of the subsets planned so far; the whole set must be among them. */
  table(threads = 1): PlanTable {
    const full = planKey(this.workers.map((w) => w.name))
    if (!this.done.has(full))
      throw new UserError(`the plan table of ${this.mixName} has no plan for the whole set (${full}) yet`)
    const order = (k: string) => {
      const n = keyNames(k).map((x) => this.index.get(x) as number)
      return n.reduce((a, i) => a + 2 ** i, 0)
    }
    const entries = [...this.done.values()].sort(
      (a, b) => keyNames(a.key).length - keyNames(b.key).length || order(a.key) - order(b.key),
    )
    const n = this.workers.length
    const table: PlanTable = {
      format: 'eclip.plan-table/1',
      mix: this.mixName,
      gpu: gpuIdentity(this.gpu),
      policy: this.options.policy,
      workers: this.workers.map((w, i) => ({
        name: w.name,
        model: w.model,
        batch: w.batch,
        dtype: w.dtype,
        fingerprint: (this.profiles[i] as Profile).fingerprint,
      })),
      complete: entries.length === 2 ** n - 1,
      union: { partitions: unionPool(entries.map((e) => e.plan)) },
      plans: entries,
      planning: {
        wallMs: performance.now() - this.t0,
        threads: Math.max(1, threads),
        planned: this.planned,
        reused: this.reused,
      },
      createdAt: new Date().toISOString(),
    }
    return parseFormat<PlanTable>('plan-table', table, `plan table for ${this.mixName}`)
  }
}

/** Runs `jobs` with at most `limit` in flight; the first failure is thrown once all have settled. */
async function pooled<T>(jobs: (() => Promise<T>)[], limit: number): Promise<T[]> {
  const out: T[] = new Array(jobs.length)
  let next = 0
  let failure: unknown
  const lane = async () => {
    while (next < jobs.length) {
      const i = next++
      try {
        out[i] = await (jobs[i] as () => Promise<T>)()
      } catch (err) {
        failure ??= err
      }
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, jobs.length)) }, lane))
  if (failure !== undefined) throw failure
  return out
}

/**
 * The plan table of a served set: every non-empty subset up to PLAN_TABLE_FULL_MAX workers, else the whole set and
 * the subsets asked for. Larger subsets are planned first, so the longest searches start early.
 */
export async function makePlanTable(
  gpu: Gpu,
  mixName: string,
  workers: WorkerSpec[],
  profiles: Profile[],
  o: PlanTableOptions,
): Promise<PlanTable> {
  const b = new PlanTableBuilder(gpu, mixName, workers, profiles, o)
  const names = workers.map((w) => w.name)
  const n = names.length
  const subsets = o.subsets ?? (n <= PLAN_TABLE_FULL_MAX ? 'all' : [])
  if (subsets !== 'all' && n <= PLAN_TABLE_FULL_MAX)
    throw new UserError(
      `a table of ${n} workers (≤ ${PLAN_TABLE_FULL_MAX}) plans every subset: leave the subsets out`,
    )
  const wanted =
    subsets === 'all' ? allSubsets(names) : [...subsets.map((s) => b.subset(s).map((w) => w.name)), names]
  const keys = [...new Map(wanted.map((s) => [planKey(s), s])).values()].sort((a, c) => c.length - a.length)
  await pooled(
    keys.map((s) => () => b.planFor(s)),
    o.concurrency ?? 1,
  )
  return b.table(o.concurrency ?? 1)
}
