// An experiment: mixes × policies (× modes) run back to back on one backend, plus one solo run per distinct worker
// (alone on the whole GPU under baseline) for the solo-normalised throughput, and, for a mix with real-time and
// best-effort workers, one run of its real-time workers alone (baseline, the same arrivals) for the real-time latency
// increase. Plans come from a planner passed in (the optimizer's makePlan in the CLI, hand-made plans in tests); every
// plan is made before the first run, so a plan refused (a real-time SLO that cannot be met) starts nothing.
import type { ExecuteBackend, RunResult, RunSpec } from '../execute/backend.ts'
import { DEFAULT_HOLD_MS } from '../execute/sim/live.ts'
import { UserError } from '../formats/errors.ts'
import {
  arrivalRecord,
  expandWorkers,
  type Gpu,
  hasLoadFields,
  isTablePolicy,
  keyNames,
  type Loop,
  type Mix,
  type Mode,
  PLAN_TABLE_FULL_MAX,
  type Plan,
  type PlanTable,
  type Policy,
  type PowerModel,
  type Primitives,
  type Profile,
  planKey as planKeyOf,
  type Run,
  runKey,
  type WorkerSpec,
} from '../formats/index.ts'
import { buildRun, normalise, rtAloneMixName, setAloneMixName, soloMixName } from '../measure/metrics.ts'
import type { Planner } from '../plan/index.ts'

/**
 * eclip-live: the plan table of a mix's workers; `reuse`: plans already made for the mix (the whole set's, or a
 * table's); `subsets`: above 6 workers, the sets to plan besides the whole set (default none); `minTotalShare`: the
 * mix's guard on total requests/s for every set's plan (default: the table's, DEFAULT_SET_MIN_TOTAL_SHARE).
 */
export type TablePlanner = (
  gpu: Gpu,
  mixName: string,
  workers: WorkerSpec[],
  profiles: Profile[],
  reuse: Plan[],
  subsets?: string[][],
  minTotalShare?: number,
) => Promise<PlanTable>

/** Above 6 workers, the most plans a bench's table takes on demand (as `eclip serve`'s default live.maxPlans). */
export const ON_DEMAND_MAX_PLANS = 64

/** Policies whose plans have several groups per request run in both modes; the others have one launch either way. */
export function modesOf(policy: Policy, modes: readonly ('stream' | 'graph')[]): Mode[] {
  if (policy === 'baseline' || policy === 'model-wise' || policy === 'eclip-rt') return [null]
  // MPS: one whole-request graph per worker process, like model-wise
  if (policy === 'mps' || policy === 'mps-unlimited') return [null]
  // kw-ioctl re-creates a partition at every switch: a stream-mode mechanism (nothing to capture into one graph)
  if (policy === 'kw-ioctl') return ['stream']
  return [...modes]
}

export interface ExperimentOptions {
  mixes: Mix[]
  policies: Policy[]
  modes: ('stream' | 'graph')[]
  /** Overrides every worker's batch (bench --batch); null keeps the mix's. */
  batch: number | null
  gpu: Gpu
  /** Profiles of the given workers, same order. */
  profilesFor: (workers: WorkerSpec[]) => Profile[]
  primitives: Primitives
  power: PowerModel
  backend: ExecuteBackend
  planner: Planner
  /**
   * The closed loop, or --rate's open loop for every worker. A mix whose workers give arrival sources or priorities
   * runs them instead (Loop 'arrivals'); `loop` must then be closed.
   */
  loop: Loop
  warmupS: number
  windowS: number
  /** Per mix name, a run length of its own (a workload file's durationS / warmupS). */
  runLength?: (mix: string) => { warmupS?: number; windowS?: number } | undefined
  seed: number
  solo: boolean
  /**
   * Runs each mix's baseline again after its other policies (role 'baseline-after'): the ratios to baseline are then
   * taken against the mean of the two, so that a machine that drifts while the runs go on does not favour the
   * policies run first (measure/metrics.ts normalise).
   */
  bracket?: boolean
  /** Called before each run with its label; `done` runs finished so far out of `total`. */
  onProgress?: (done: number, total: number, label: string) => void
  /** Called after each run with its raw observations (the request log is written from here). */
  onResult?: (run: Run, result: RunResult) => void
  /**
   * Called once per plan made with its key (`mix|policy|b<batch>`; both modes execute it); returns where it was kept
   * (relative to the results file), recorded in each run that executes it.
   */
  onPlan?: (plan: Plan, key: string) => string | undefined
  /** eclip-live: makes each mix's plan table (required when the policies include eclip-live). */
  tablePlanner?: TablePlanner
  /** eclip-live: how long a worker stays active after its last request, µs (default DEFAULT_HOLD_MS). */
  holdUs?: number
  /**
   * eclip-live above 6 workers: the clock, ms, that times the on-demand planning each set waits for (default
   * performance.now: the host's wall time, as a server would wait); a test gives a fixed one so the run does not
   * depend on how busy the host is.
   */
  planningClock?: () => number
  /** Called once per plan table made, like onPlan; returns where it was kept. */
  onTable?: (table: PlanTable, key: string) => string | undefined
  /** Called when a run fails with a user-facing error; without it, the first failure ends the experiment. */
  onRunError?: (label: string, err: Error) => void
  /**
   * Called when every run of a mix has ended (or failed), its solo runs among them, before the last one's onResult;
   * a mix's runs go one after another.
   */
  onMixDone?: (mix: string) => void
  /** What an earlier process of the same experiment finished, kept (bench --resume). */
  kept?: Kept
  notes?: string[]
}

/** The key of a (mix, policy)'s plan or table as onPlan and onTable are given it (bench --resume reads them back). */
export const planFileKey = (mix: string, policy: string, batch: number | null) =>
  `${mix}|${policy}|b${batch ?? 'mix'}`

/**
 * Runs an earlier process of the same experiment finished, by run key: each stands in its place, not run again (nor
 * given to onProgress or onResult); their plans are still asked of the planners. `mixes`: the mixes whose every run
 * ended there — one of theirs not among `runs` failed there and is not run again either (solo runs aside: one not
 * kept runs).
 */
export interface Kept {
  runs: ReadonlyMap<string, Run>
  mixes: ReadonlySet<string>
}

interface Pending {
  label: string
  role: 'mix' | 'solo' | 'rt-alone' | 'set-alone' | 'baseline-after'
  mix: string
  policy: Policy
  mode: Mode
  workers: WorkerSpec[]
  /** The mix this run belongs to (its run length). */
  of: string
  /** set-alone: the table's plan it holds. */
  plan?: Plan
}

/** The held runs of a table's sets not held yet (`held`, updated): a table-following run's references. */
function heldRuns(p: Pending, table: PlanTable, held: Set<string>): Pending[] {
  const extra: Pending[] = []
  for (const e of table.plans) {
    const mode = e.plan.workers.some((w) => w.groups.length > 1) ? p.mode : null
    const name = setAloneMixName(p.mix, e.key)
    if (held.has(`${name}|${mode}`)) continue
    held.add(`${name}|${mode}`)
    extra.push({
      label: `${p.mix} ${e.key} held${mode ? `/${mode}` : ''}`,
      role: 'set-alone',
      mix: name,
      policy: e.plan.policy,
      mode,
      // the set's workers in a closed loop, whatever their sources in the mix
      workers: e.plan.workers.map((pw) => {
        const w = p.workers.find((x) => x.name === pw.name) as WorkerSpec
        const { arrival: _arr, priority: _p, sloMs: _s, ...plain } = w
        return plain
      }),
      of: p.of,
      plan: e.plan,
    })
  }
  return extra
}

/**
 * eclip-live above 6 workers on the simulator: the sets traffic shows, planned on demand as `eclip serve` plans them
 * (src/serve/repository.ts). A first run under the table as planned (the whole set's plan and any reused) shows which
 * sets are active for the hold time or longer in the window and when each first was; those are planned (up to
 * ON_DEMAND_MAX_PLANS plans in all, first shown first), and the run is made again with each usable from its first
 * showing plus the planning's time on `planningClock` (the host's wall time unless a test fixes it; their planning in
 * the background) — the run that is recorded.
 */
async function onDemand(
  o: ExperimentOptions,
  spec: RunSpec,
  p: Pending,
): Promise<{ spec: RunSpec; table: PlanTable; note: string } | undefined> {
  const live = spec.live as NonNullable<RunSpec['live']>
  const table = live.table
  const first = await o.backend.run(spec)
  const seen = first.live
  if (!seen || !o.tablePlanner) return undefined
  const planned = new Set(table.plans.map((e) => e.key))
  const firstUs = seen.setFirstUs ?? {}
  const shown = Object.entries(seen.setTimeUs)
    .filter(([k, us]) => k !== '' && !planned.has(k) && us >= live.holdUs)
    .sort(([a], [b]) => (firstUs[a] ?? 0) - (firstUs[b] ?? 0) || a.localeCompare(b))
    .slice(0, Math.max(0, ON_DEMAND_MAX_PLANS - table.plans.length))
    .map(([k]) => k)
  if (shown.length === 0) return undefined
  const now = o.planningClock ?? (() => performance.now())
  const t0 = now()
  const grown = await o.tablePlanner(
    o.gpu,
    p.mix,
    p.workers,
    spec.profiles,
    table.plans.map((e) => e.plan),
    shown.map((k) => keyNames(k)),
    o.mixes.find((m) => m.name === p.of)?.minTotalShare,
  )
  const wallUs = (now() - t0) * 1000
  const availableUs = Object.fromEntries(shown.map((k) => [k, (firstUs[k] ?? 0) + wallUs]))
  return {
    spec: { ...spec, live: { ...live, table: grown, availableUs } },
    table: grown,
    note: `eclip-live above ${PLAN_TABLE_FULL_MAX} workers: ${shown.length} sets traffic showed planned on demand in ${(wallUs / 1e6).toFixed(2)} s, each used from its first showing + that (a first run found them)`,
  }
}

/**
 * The kept held runs of the sets a kept table-following run planned on demand (its table did not plan them before the
 * runs, so no pending run holds them): those that followed it in the earlier process — kept runs are in the order they
 * ran — up to the next run that held no set.
 */
function onDemandHeld(
  kept: ReadonlyMap<string, Run>,
  run: Run,
  pending: readonly Pending[],
  batch: number | null,
): Run[] {
  const planned = new Set(pending.map((q) => runKey(q.mix, q.policy, q.mode, batch)))
  const after = [...kept.values()]
  const out: Run[] = []
  for (const r of after.slice(after.indexOf(run) + 1)) {
    if (r.role !== 'set-alone' || !r.mix.startsWith(`${run.mix}[`)) break
    if (!planned.has(r.key)) out.push(r)
  }
  return out
}

/** The loop a mix's runs record: its workers' own sources where it gives any, else the experiment's. */
function loopOf(workers: readonly WorkerSpec[], loop: Loop, mix: string): Loop {
  if (!hasLoadFields(workers)) return loop
  if (loop.kind !== 'closed')
    throw new UserError(
      `mix ${mix}: its workers give their own arrivals; an open loop for every worker (--rate) would replace them`,
    )
  return { kind: 'arrivals', sources: workers.map((w) => arrivalRecord(w.arrival)) }
}

/** What of an experiment's options decides its runs and so the plans asked of its planners. */
type PlansOf = Pick<ExperimentOptions, 'mixes' | 'policies' | 'modes' | 'batch' | 'solo' | 'bracket'>

/**
 * The runs of an experiment in the order they run, held runs aside (a table-following run's are added once planned).
 */
function pendingRuns(o: PlansOf): Pending[] {
  const pending: Pending[] = []
  const soloSeen = new Set<string>()
  for (const mix of o.mixes) {
    const workers = expandWorkers(mix, o.batch ?? undefined)
    if (o.solo)
      for (const w of workers) {
        const name = soloMixName(w.model, w.batch, w.dtype)
        if (soloSeen.has(name)) continue
        soloSeen.add(name)
        // the closed loop on the whole GPU, whatever the worker's source or priority in the mix
        const { arrival: _a, priority: _p, sloMs: _s, ...plain } = w
        pending.push({
          label: `${name} (solo)`,
          role: 'solo',
          mix: name,
          policy: 'baseline',
          mode: null,
          workers: [{ ...plain, name: `${w.model}#0` }],
          of: mix.name,
        })
      }
    const rt = workers.filter((w) => w.priority === 'realtime')
    if (rt.length > 0 && rt.length < workers.length)
      pending.push({
        label: `${mix.name} real-time workers alone`,
        role: 'rt-alone',
        mix: rtAloneMixName(mix.name),
        policy: 'baseline',
        mode: null,
        workers: rt,
        of: mix.name,
      })
    for (const policy of o.policies)
      for (const mode of modesOf(policy, o.modes))
        pending.push({
          label: `${mix.name} ${policy}${mode ? `/${mode}` : ''}`,
          role: 'mix',
          mix: mix.name,
          policy,
          mode,
          workers,
          of: mix.name,
        })
    if (o.bracket && o.policies.includes('baseline') && o.policies.some((p) => p !== 'baseline'))
      pending.push({
        label: `${mix.name} baseline again`,
        role: 'baseline-after',
        mix: mix.name,
        policy: 'baseline',
        mode: null,
        workers,
        of: mix.name,
      })
  }
  return pending
}

/**
 * The (mix, policy) pairs whose plans (a table policy's: tables) an experiment asks its planners for, each once: every
 * run's, kept or not (bench --resume reads a kept mix's back from the files it wrote, so checks them first).
 */
export function plansAsked(o: PlansOf): { mix: string; policy: Policy }[] {
  const asked = new Map(pendingRuns(o).map((p) => [`${p.mix}|${p.policy}`, { mix: p.mix, policy: p.policy }]))
  return [...asked.values()]
}

export async function runExperiment(o: ExperimentOptions): Promise<Run[]> {
  const pending = pendingRuns(o)
  const runs: Run[] = []
  const plans = new Map<string, Plan>()
  const planFiles = new Map<Plan, string | undefined>()
  const tables = new Map<string, PlanTable>()
  // one plan per (mix, policy): both modes execute the same plan. All of them first: a refused plan starts no run.
  // Tables last, so that they take the plans of their whole sets made under their policy already.
  const order = [
    ...pending.filter((p) => !isTablePolicy(p.policy)),
    ...pending.filter((p) => isTablePolicy(p.policy)),
  ]
  // a mix's guard on total requests/s (Mix.minTotalShare): its static plans', and its table's for every set
  const guard = (of: string) => o.mixes.find((m) => m.name === of)?.minTotalShare
  for (const p of order) {
    const planKey = `${p.mix}|${p.policy}`
    if (plans.has(planKey)) continue
    loopOf(p.workers, o.loop, p.of)
    const profiles = o.profilesFor(p.workers)
    if (isTablePolicy(p.policy)) {
      if (!o.tablePlanner) throw new UserError(`${p.policy}: no table planner given`)
      const reuse = [...plans.entries()].flatMap(([k, v]) => (k.startsWith(`${p.mix}|`) ? [v] : []))
      const table = await o.tablePlanner(o.gpu, p.mix, p.workers, profiles, reuse, undefined, guard(p.of))
      const full = table.plans.find((e) => e.key === planKeyOf(p.workers.map((w) => w.name)))
      if (!full) throw new Error(`table of ${p.mix}: no plan for the whole set`)
      tables.set(p.mix, table)
      plans.set(planKey, full.plan)
      planFiles.set(full.plan, o.onTable?.(table, planFileKey(p.mix, p.policy, o.batch)))
      continue
    }
    const share = guard(p.of)
    const plan = await o.planner(o.gpu, p.mix, p.workers, profiles, {
      policy: p.policy,
      ...(share !== undefined ? { minTotalShare: share } : {}),
    })
    plans.set(planKey, plan)
    planFiles.set(plan, o.onPlan?.(plan, planFileKey(p.mix, p.policy, o.batch)))
  }
  // eclip-live: after each table-following run, each set of its table held (its workers alone, closed loop, under its
  // plan), once per mode where the plan has several groups, once where it has one
  const held = new Set<string>()
  for (let i = pending.length - 1; i >= 0; i--) {
    const p = pending[i] as Pending
    const table = isTablePolicy(p.policy) && p.role === 'mix' ? tables.get(p.mix) : undefined
    if (table) pending.splice(i + 1, 0, ...heldRuns(p, table, held))
  }
  for (const [i, p] of pending.entries()) {
    // the last run of its mix (held runs planned on demand are inserted after this one before it ends)
    const mixDone = () => {
      if (pending[i + 1]?.of !== p.of) o.onMixDone?.(p.of)
    }
    const key = `${runKey(p.mix, p.policy, p.mode, o.batch)}${p.role === 'baseline-after' ? '|after' : ''}`
    const kept = o.kept?.runs.get(key)
    if (kept) {
      runs.push(kept)
      // the held runs of the sets it planned on demand (simulator, above 6 workers) followed it
      if (kept.metrics.live) runs.push(...onDemandHeld((o.kept as Kept).runs, kept, pending, o.batch))
    }
    if (kept || (p.role !== 'solo' && o.kept?.mixes.has(p.of))) {
      mixDone()
      continue
    }
    o.onProgress?.(i, pending.length, p.label)
    const profiles = o.profilesFor(p.workers)
    const plan = p.plan ?? (plans.get(`${p.mix}|${p.policy}`) as Plan)
    let table = p.role === 'mix' && isTablePolicy(p.policy) ? tables.get(p.mix) : undefined
    const length = o.runLength?.(p.of)
    let spec: RunSpec = {
      key,
      role: p.role,
      mix: p.mix,
      mode: p.mode,
      batch: o.batch,
      gpu: o.gpu,
      plan,
      workers: p.workers,
      profiles,
      loop: p.role === 'set-alone' ? { kind: 'closed' } : loopOf(p.workers, o.loop, p.of),
      warmupS: length?.warmupS ?? o.warmupS,
      windowS: length?.windowS ?? o.windowS,
      seed: o.seed,
      primitives: o.primitives,
      power: o.power,
      ...(table ? { live: { table, holdUs: o.holdUs ?? DEFAULT_HOLD_MS * 1000 } } : {}),
    }
    let result: RunResult
    try {
      // above 6 workers on the simulator: the sets this run's traffic shows, planned on demand
      const grown =
        table && !table.complete && o.backend.name === 'sim' ? await onDemand(o, spec, p) : undefined
      if (grown) {
        spec = grown.spec
        table = grown.table
        o.onTable?.(table, `${planFileKey(p.mix, p.policy, o.batch)}|on-demand`)
        pending.splice(i + 1, 0, ...heldRuns(p, table, held))
      }
      result = await o.backend.run(spec)
      if (grown) result = { ...result, notes: [...result.notes, grown.note] }
    } catch (err) {
      // One failed run (a CUDA error, an out-of-memory partition, a hung backend) must not lose the others: it is
      // reported and recorded, the backend restarted if it died, and the experiment goes on.
      if (!(err instanceof UserError) || !o.onRunError) throw err
      o.onRunError(p.label, err)
      await o.backend.recover?.()
      mixDone()
      continue
    }
    const s = plan.solver
    const run = buildRun(spec, result, {
      backend: o.backend.name,
      // no solve time here: everything in a run but wallS is a function of its inputs and seed
      planSolver: table
        ? `table of ${table.plans.length} plans (${table.policy}; baseline alone), ${table.union.partitions.length} partitions in all`
        : `${s.name} ${s.status}${s.gap > 0 ? ` gap ${(s.gap * 100).toFixed(2)}%` : ''}`,
      planFile: planFiles.get(plan),
      notes: o.notes ?? [],
      // baseline in the traffic an eclip-live run of this mix gets too: its active sets, eclip-live's reference
      ...((p.role === 'mix' || p.role === 'baseline-after') &&
      p.policy === 'baseline' &&
      !table &&
      tables.has(p.mix)
        ? { activeSetsHoldUs: o.holdUs ?? DEFAULT_HOLD_MS * 1000 }
        : {}),
    })
    // a tuned plan's tuning (cost, what it measured) goes with every run of it
    if (!table && plan.solver.tuning) run.tuning = plan.solver.tuning
    runs.push(run)
    mixDone()
    o.onResult?.(run, result)
  }
  o.onProgress?.(pending.length, pending.length, 'done')
  return normalise(runs)
}
