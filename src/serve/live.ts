// eclip-live in `eclip serve` (issue #19, docs/live.md): a plan table over the served models, and the plan of the set
// of models active now for each execution that starts. A model is active while it has requests queued or in flight,
// and for `holdMs` after its last one was answered; the set is looked at again whenever a request is accepted or
// answered, and when a hold runs out (a timer per model gone quiet), so the switches counted are the set's real
// changes. An execution already running keeps the plan it started under: nothing is dropped or run twice. A table of
// more than 6 models plans only some sets: a set with no plan of its own runs under the smallest planned superset's,
// and once it has been the active set for the hold time in all, `onUnplanned` is told (the repository plans it in
// the background: src/serve/repository.ts).
import { keyNames, lookupPlan, type PlanTable, planKey } from '../formats/plan-table.ts'
import type { PlanScheduler, SchedulerStatus } from './scheduling.ts'

/** A model stays in the active set this long after its last request was answered (serve config `live.holdMs`). */
export const DEFAULT_SERVE_HOLD_MS = 50

export class ActiveSetScheduler implements PlanScheduler {
  readonly switchesPlans = true
  private readonly pending = new Map<string, number>()
  private readonly lastAnswered = new Map<string, number>()
  private readonly timers = new Map<string, NodeJS.Timeout>()
  private activeKey = ''
  private planKeyNow: string | null = null
  private setChanges = 0
  private planSwitches = 0
  private closed = false
  /** The table's keys; the time each set without a plan of its own has been the active set, ms; those told of. */
  private keys = new Set<string>()
  private readonly unplannedMs = new Map<string, number>()
  private readonly told = new Set<string>()
  private since = 0
  /** Told of a set of active models the table has no plan of its own for, once it has been active the hold time. */
  onUnplanned?: (names: string[]) => void

  constructor(
    private table: PlanTable,
    private readonly holdMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.keys = new Set(table.plans.map((e) => e.key))
  }

  /** The table in force from now on (a model loaded or unloaded); the next execution of each model follows it. */
  setTable(table: PlanTable) {
    this.table = table
    this.keys = new Set(table.plans.map((e) => e.key))
    this.told.clear()
    const served = new Set(table.workers.map((w) => w.name))
    for (const m of [...this.pending.keys()]) if (!served.has(m)) this.forget(m)
    this.update()
  }

  currentTable(): PlanTable {
    return this.table
  }

  accepted(model: string) {
    this.pending.set(model, (this.pending.get(model) ?? 0) + 1)
    clearTimeout(this.timers.get(model))
    this.timers.delete(model)
    this.update()
  }

  answered(model: string) {
    const n = Math.max(0, (this.pending.get(model) ?? 0) - 1)
    this.pending.set(model, n)
    this.lastAnswered.set(model, this.now())
    if (n === 0 && !this.closed) {
      clearTimeout(this.timers.get(model))
      if (this.holdMs > 0) {
        // looked at again once the hold has run out (+1 ms: timers may fire a little early)
        const t = setTimeout(() => {
          this.timers.delete(model)
          this.update()
        }, this.holdMs + 1)
        t.unref()
        this.timers.set(model, t)
      }
    }
    this.update()
  }

  planFor(model: string): string | undefined {
    this.update()
    // the model starting an execution is active (its request is queued); a table without it is not this model's
    const found = lookupPlan(this.table, new Set([...this.activeNames(), model]))
    return found?.key
  }

  status(): SchedulerStatus {
    this.update()
    return {
      active: this.activeNames(),
      plan: this.planKeyNow,
      setChanges: this.setChanges,
      planSwitches: this.planSwitches,
      plans: this.table.plans.length,
    }
  }

  close() {
    this.closed = true
    for (const t of this.timers.values()) clearTimeout(t)
    this.timers.clear()
  }

  private forget(model: string) {
    this.pending.delete(model)
    this.lastAnswered.delete(model)
    clearTimeout(this.timers.get(model))
    this.timers.delete(model)
  }

  /** Counts the time of an active set without a plan of its own; tells of it once it has lasted the hold time. */
  private unplanned(now: number) {
    const was = this.activeKey
    if (!this.onUnplanned || was === '' || this.keys.has(was)) return
    const ms = (this.unplannedMs.get(was) ?? 0) + (now - this.since)
    this.unplannedMs.set(was, ms)
    this.since = now
    if (ms >= this.holdMs && !this.told.has(was)) {
      this.told.add(was)
      this.onUnplanned(keyNames(was))
    }
  }

  private activeNames(): string[] {
    return this.activeKey === '' ? [] : this.activeKey.split('+')
  }

  /** Recomputes the active set; counts a change of the set and of the plan it runs under. */
  private update() {
    const now = this.now()
    const names: string[] = []
    for (const w of this.table.workers) {
      const n = this.pending.get(w.name) ?? 0
      const last = this.lastAnswered.get(w.name)
      if (n > 0 || (last !== undefined && now - last < this.holdMs)) names.push(w.name)
    }
    const key = planKey(names)
    this.unplanned(now)
    if (key === this.activeKey) return
    this.activeKey = key
    this.since = now
    this.setChanges++
    if (names.length === 0) return // nothing active: the plan in force stays until a request comes
    const plan = lookupPlan(this.table, names)?.key ?? null
    if (plan !== this.planKeyNow) {
      if (this.planKeyNow !== null) this.planSwitches++
      this.planKeyNow = plan
    }
  }
}
