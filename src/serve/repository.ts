// Model control under eclip-live (issue #19, docs/live.md): the serve config's models are the repository; a load
// resolves the model (its profile, refused naming what is missing), plans the table of the loaded set with it while
// the others keep serving (every plan still valid is taken as it is), hands the backend the new set, and only then
// serves it; an unload refuses new requests for the model, waits until its accepted ones are answered, then removes it
// and keeps the table's plans of the sets without it. Calls run one after another, in the order they came: a burst
// of loads and unloads ends in the state the last of them asks for. A call that fails leaves the served set, the
// table and the backend as they were. Above 6 models the table plans the whole set and, on demand, each set of
// active models traffic shows (the scheduler says which: `planShown`), in the background, one after another with
// the loads and unloads, up to `live.maxPlans` plans.
import { UserError } from '../formats/errors.ts'
import type { Gpu } from '../formats/gpu.ts'
import type { Plan } from '../formats/plan.ts'
import { lookupPlan, type PlanTable, planKey } from '../formats/plan-table.ts'
import type { ServeBackend, ServedModel } from './backend.ts'
import type { ComputeTime } from './compute-time.ts'
import { ProtocolError } from './kserve/errors.ts'
import type { RepositoryEntry } from './kserve/repository.ts'
import type { ActiveSetScheduler } from './live.ts'
import { type LiveSetup, liveComputeTimes, makeServeTable, type RepositoryModel } from './setup.ts'

/** What the repository changes in the server. */
export interface RepositoryHost {
  backend: ServeBackend
  gpu: Gpu
  scheduler: ActiveSetScheduler
  /** The compute times the simulator reads (by name, and per plan key): replaced as the table changes. */
  computeTimes: Map<string, ComputeTime>
  /** The models served now, in the repository's order. */
  served(): ServedModel[]
  /** Serves `r` from now on (its queue and worker), and `plan` as the whole set's plan. */
  add(r: RepositoryModel, models: ServedModel[], plan: Plan): void
  /** Refuses new requests for `name` (it is being unloaded). */
  closeModel(name: string): void
  /** Takes requests for `name` again (its unload failed). */
  reopenModel(name: string): void
  /** Resolves once every accepted request of `name` is answered. */
  idle(name: string): Promise<void>
  /** Stops serving `name`. */
  remove(name: string, models: ServedModel[], plan: Plan): void
  log?(line: string): void
}

export class ModelRepository {
  private readonly state = new Map<string, { state: RepositoryEntry['state']; reason: string }>()
  private chain: Promise<unknown> = Promise.resolve()
  /** Sets traffic showed that were planned or asked for since the served set last changed (planShown). */
  private readonly shown = new Set<string>()

  constructor(
    private readonly live: LiveSetup,
    private readonly host: RepositoryHost,
  ) {
    const loaded = new Set(live.specs.keys())
    for (const name of live.repository)
      this.state.set(
        name,
        loaded.has(name)
          ? { state: 'READY', reason: '' }
          : { state: 'UNAVAILABLE', reason: 'loaded: false in the serve config' },
      )
  }

  index(): RepositoryEntry[] {
    return this.live.repository.map((name) => {
      const s = this.state.get(name) ?? { state: 'UNAVAILABLE', reason: '' }
      return { name, version: '1', state: s.state, reason: s.reason }
    })
  }

  /** Why `name` cannot be asked now, for a request that names a model not served; undefined if it is not ours. */
  unavailable(name: string): string | undefined {
    const s = this.state.get(name)
    if (!s || s.state === 'READY') return undefined
    if (s.state === 'LOADING') return `model "${name}" is being loaded; retry once it is ready`
    return `model "${name}" is not loaded (${s.reason}); load it with POST /v2/repository/models/${name}/load (gRPC: RepositoryModelLoad)`
  }

  load(name: string): Promise<void> {
    return this.serialised(() => this.doLoad(name))
  }

  unload(name: string): Promise<void> {
    // refused at once while it is being unloaded (the first call answers when it is gone), in order otherwise
    if (this.state.get(name)?.state === 'UNLOADING')
      return Promise.reject(
        new ProtocolError(
          400,
          `model "${name}" is being unloaded already (its accepted requests are being answered)`,
        ),
      )
    return this.serialised(() => this.doUnload(name))
  }

  /**
   * A set of active models the table (above 6 models) has no plan of its own for, shown by traffic: planned in the
   * background and, once the backend is ready to run it, followed; meanwhile it runs under its smallest planned
   * superset's plan. Each set once (per served set), up to `live.maxPlans` plans; a failure is logged.
   */
  planShown(names: string[]): void {
    const key = planKey(names)
    if (this.shown.has(key)) return
    this.shown.add(key)
    this.serialised(() => this.doPlanShown(names)).catch((err: unknown) =>
      this.host.log?.(`eclip-live: planning the set ${key} failed: ${(err as Error).message}`),
    )
  }

  private async doPlanShown(names: string[]) {
    const key = planKey(names)
    const table = this.live.table
    // planned meanwhile, or a model of it unloaded
    if (table.plans.some((e) => e.key === key) || !names.every((n) => this.live.specs.has(n))) return
    if (table.plans.length >= this.live.maxPlans) {
      this.host.log?.(
        `eclip-live: the set ${key} runs under a superset's plan: the table holds ${table.plans.length} plans (live.maxPlans)`,
      )
      return
    }
    const t0 = performance.now()
    const specs = this.live.specs
    const next = await this.plan(specs, `the set ${key}`, [names])
    const full = lookupPlan(next, specs.keys())?.plan as Plan
    await this.apply(this.host.served(), full, next, specs)
    this.host.log?.(
      `eclip-live: planned the set ${key} in ${((performance.now() - t0) / 1000).toFixed(2)} s; table of ${next.plans.length} plans`,
    )
  }

  private serialised(op: () => Promise<void>): Promise<void> {
    const run = this.chain.then(op, op)
    this.chain = run.catch(() => {})
    return run
  }

  private checkControl(name: string) {
    if (!this.host.backend.swap)
      throw new ProtocolError(
        400,
        `cannot load or unload "${name}": the ${this.host.backend.kind} backend loads its models once, at start-up`,
      )
    if (!this.state.has(name))
      throw new ProtocolError(
        400,
        `no model "${name}" in the repository (the serve config's models: ${this.live.repository.join(', ')})`,
      )
  }

  private async doLoad(name: string) {
    this.checkControl(name)
    if (this.live.specs.has(name)) return // served already: nothing to do
    this.state.set(name, { state: 'LOADING', reason: 'being loaded' })
    const t0 = performance.now()
    try {
      let r: RepositoryModel
      try {
        r = this.live.resolve(name)
      } catch (err) {
        throw err instanceof UserError ? new ProtocolError(400, err.message) : err
      }
      // the loaded set in the repository's order: every plan of the old table lists its workers in the same order
      const specs = new Map(
        this.live.repository.flatMap((n) => {
          if (n === name) return [[n, { spec: r.spec, profile: r.profile }] as const]
          const s = this.live.specs.get(n)
          return s ? [[n, s] as const] : []
        }),
      )
      const table = await this.plan(specs, `load of "${name}"`)
      const full = lookupPlan(table, specs.keys())?.plan as Plan
      const models = [...specs.keys()].map((n) => {
        const m = n === name ? r.model : (this.host.served().find((x) => x.name === n) as ServedModel)
        const pw = full.workers.find((w) => w.name === n)
        return { ...m, ...(pw ? { worker: pw } : {}) }
      })
      await this.apply(models, full, table, specs)
      this.host.add(r, models, full)
      this.state.set(name, { state: 'READY', reason: '' })
      this.host.log?.(
        `eclip-live: loaded ${name} in ${((performance.now() - t0) / 1000).toFixed(2)} s; table of ${table.plans.length} plans`,
      )
    } catch (err) {
      this.state.set(name, {
        state: 'UNAVAILABLE',
        reason: `its last load failed: ${(err as Error).message}`,
      })
      throw err instanceof ProtocolError
        ? err
        : new ProtocolError(500, `load of "${name}" failed: ${(err as Error).message}`)
    }
  }

  private async doUnload(name: string) {
    this.checkControl(name)
    if (!this.live.specs.has(name))
      throw new ProtocolError(
        400,
        `model "${name}" is not loaded (${this.state.get(name)?.reason || 'unloaded'})`,
      )
    if (this.live.specs.size === 1)
      throw new ProtocolError(400, `model "${name}" is the only model loaded; the server serves at least one`)
    this.state.set(name, { state: 'UNLOADING', reason: 'being unloaded' })
    this.host.closeModel(name)
    try {
      await this.host.idle(name)
      const specs = new Map([...this.live.specs].filter(([n]) => n !== name))
      // up to 6 models every set without it was planned already: the sub-table is the old table's plans
      const table = await this.plan(specs, `unload of "${name}"`)
      const full = lookupPlan(table, specs.keys())?.plan as Plan
      const models = this.host
        .served()
        .filter((m) => m.name !== name)
        .map((m) => {
          const pw = full.workers.find((w) => w.name === m.name)
          return { ...m, ...(pw ? { worker: pw } : {}) }
        })
      await this.apply(models, full, table, specs, name)
      this.host.remove(name, models, full)
    } catch (err) {
      // it stays: served again, its plans as they were
      this.host.reopenModel(name)
      this.state.set(name, { state: 'READY', reason: '' })
      throw err instanceof ProtocolError
        ? err
        : new ProtocolError(500, `unload of "${name}" failed: ${(err as Error).message}`)
    }
    this.state.set(name, { state: 'UNAVAILABLE', reason: 'unloaded' })
    this.host.log?.(`eclip-live: unloaded ${name}; table of ${this.live.table.plans.length} plans`)
  }

  /**
   * The table of `specs`, taking every plan of the current table that is still valid; above 6 models, and `subsets`.
   */
  private plan(
    specs: Map<string, { spec: RepositoryModel['spec']; profile: RepositoryModel['profile'] }>,
    what: string,
    subsets?: string[][],
  ): Promise<PlanTable> {
    return makeServeTable(this.host.gpu, specs, {
      policy: this.live.tablePolicy,
      planner: this.live.planner,
      reuse: [...this.live.table.plans.map((e) => e.plan), ...(this.live.given ?? [])],
      ...(subsets ? { subsets } : {}),
      ...(this.live.minTotalShare !== undefined ? { minTotalShare: this.live.minTotalShare } : {}),
    }).catch((err: unknown) => {
      throw new ProtocolError(
        err instanceof UserError ? 400 : 500,
        `${what}: planning the table failed: ${(err as Error).message}`,
      )
    })
  }

  /**
   * Hands the backend the new set; only when it took it do the table, the times and the scheduler change — but for
   * an unload (`unloading`), whose table the scheduler follows from before: no execution sent meanwhile names a plan
   * of the model going, whose captures the backend then retires.
   */
  private async apply(
    models: ServedModel[],
    full: Plan,
    table: PlanTable,
    specs: LiveSetup['specs'],
    unloading?: string,
  ): Promise<void> {
    const times = this.host.computeTimes
    const old = new Map(times)
    const oldTable = this.host.scheduler.currentTable()
    // the simulator checks every model's time under every plan when it takes the set: the new ones first
    const fresh = liveComputeTimes(table, specs, this.live.coLocated, { table: oldTable, times: old })
    for (const [k, v] of fresh) times.set(k, v)
    if (unloading) this.host.scheduler.setTable(table)
    try {
      await this.host.backend.swap?.(models, full, table)
    } catch (err) {
      times.clear()
      for (const [k, v] of old) times.set(k, v)
      if (unloading) this.host.scheduler.setTable(oldTable)
      throw err
    }
    times.clear()
    for (const [k, v] of fresh) times.set(k, v)
    if (specs !== this.live.specs) this.shown.clear()
    this.live.table = table
    this.live.specs = specs
    this.host.scheduler.setTable(table)
  }
}
