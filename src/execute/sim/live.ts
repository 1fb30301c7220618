// The simulator's side of eclip-live (issue #19): a run that follows a plan table (src/formats/plan-table.ts). Checks
// that the table is for exactly the run's workers, lays every plan's partitions onto the table's union pool (one
// partition per slice set: what the GPU backend creates once), and resolves a set of active workers to the plan it
// runs under — its own, or, in a table that does not plan every subset, the smallest planned superset's; a plan
// planned on demand (`availableUs`) only from when it was ready.
import {
  isMpsPolicy,
  lookupPlan,
  type Partition,
  type Plan,
  type PlanTable,
  type Profile,
  parseFormat,
  planKey,
  UserError,
  type WorkerSpec,
} from '../../formats/index.ts'
import type { LiveSpec } from '../backend.ts'

export type { LiveObservations, LiveSpec } from '../backend.ts'

/** The smallest hold time is 0 (active only while queued or in flight); the bench's default, and why: docs/live.md. */
export const DEFAULT_HOLD_MS = 5

export interface LiveLayout {
  /** The table's union: every partition of every plan once. */
  pool: Partition[]
  /** Per plan key: that plan's partition ids → index in `pool`. */
  partIndex: Map<string, Map<number, number>>
  /** Run worker i's index in each plan's workers (by key), -1 where the plan does not list it. */
  workerIndex: Map<string, number[]>
  /**
   * The plan (key, plan, own or a superset's) of the active set given as a bit mask over the run's workers, at µs
   * `atUs` of the run (a plan planned on demand is there from its availableUs on; default: the run's end).
   */
  resolve(mask: number, atUs?: number): { key: string; plan: Plan; exact: boolean; setKey: string }
}

const sliceKey = (slices: readonly number[]) => [...new Set(slices)].sort((a, b) => a - b).join(',')

/** Checks `live` against the run's workers and profiles, and lays its plans onto one pool. */
export function liveLayout(
  runKey: string,
  live: LiveSpec,
  workers: readonly WorkerSpec[],
  profiles: readonly Profile[],
): LiveLayout {
  const table = parseFormat<PlanTable>('plan-table', live.table, `run ${runKey}: plan table`)
  if (!(Number.isFinite(live.holdUs) && live.holdUs >= 0))
    throw new UserError(`run ${runKey}: the hold time must be ≥ 0 ms, got ${live.holdUs / 1000} ms`)
  const runNames = workers.map((w) => w.name)
  const tableNames = table.workers.map((w) => w.name)
  const missing = runNames.filter((n) => !tableNames.includes(n))
  const extra = tableNames.filter((n) => !runNames.includes(n))
  if (missing.length > 0 || extra.length > 0)
    throw new UserError(
      `run ${runKey}: the plan table of ${table.mix} is for ${tableNames.join(', ')}, not for this run's workers ${runNames.join(', ')}` +
        (missing.length > 0 ? ` (${missing.join(', ')} not in the table)` : '') +
        (extra.length > 0 ? ` (${extra.join(', ')} not in the run)` : ''),
    )
  if (workers.length > 30)
    throw new UserError(`run ${runKey}: a table-following run takes at most 30 workers`)
  workers.forEach((w, i) => {
    const tw = table.workers.find((x) => x.name === w.name)
    const p = profiles[i]
    if (!tw || !p) return
    if (tw.model !== w.model || tw.batch !== w.batch || tw.dtype !== w.dtype)
      throw new UserError(
        `run ${runKey}: worker ${w.name} is ${w.model} b${w.batch} ${w.dtype}, the plan table's is ${tw.model} b${tw.batch} ${tw.dtype}`,
      )
    if (tw.fingerprint !== p.fingerprint)
      throw new UserError(
        `run ${runKey}: worker ${w.name}: the plan table was made for another kernel sequence (fingerprint)`,
      )
  })
  const mps = table.plans.find((e) => isMpsPolicy(e.plan.policy))
  if (mps)
    throw new UserError(`run ${runKey}: a plan table cannot hold MPS plans (${mps.key}: ${mps.plan.policy})`)
  const pool = table.union.partitions
  const unionIndex = new Map(pool.map((p, i) => [sliceKey(p.slices), i]))
  const partIndex = new Map<string, Map<number, number>>()
  const workerIndex = new Map<string, number[]>()
  for (const e of table.plans) {
    partIndex.set(
      e.key,
      new Map(e.plan.pool.partitions.map((q) => [q.id, unionIndex.get(sliceKey(q.slices)) as number])),
    )
    workerIndex.set(
      e.key,
      runNames.map((n) => e.plan.workers.findIndex((pw) => pw.name === n)),
    )
  }
  // plans planned on demand: the times they become usable, and the table as it stood from each of them on
  const available = live.availableUs ?? {}
  const keys = new Set(table.plans.map((e) => e.key))
  const full = planKey(runNames)
  for (const [k, us] of Object.entries(available)) {
    if (!keys.has(k))
      throw new UserError(`run ${runKey}: availableUs names ${k}, which the plan table does not plan`)
    if (!(Number.isFinite(us) && us >= 0))
      throw new UserError(`run ${runKey}: plan ${k} is available at ${us} µs`)
    if (k === full && us > 0)
      throw new UserError(`run ${runKey}: the whole set's plan must be there from the start`)
  }
  const times = [...new Set(Object.values(available))].sort((a, b) => a - b)
  const epochs = [0, ...times].map((t) => ({
    ...table,
    plans: table.plans.filter((e) => (available[e.key] ?? 0) <= t),
  }))
  const memo = new Map<number, ReturnType<LiveLayout['resolve']>>()
  const resolve = (mask: number, atUs = Number.POSITIVE_INFINITY) => {
    // the last epoch that has begun by atUs (times ascending)
    let epoch = 0
    while (epoch < times.length && (times[epoch] as number) <= atUs) epoch++
    const id = epoch * 2 ** 31 + mask
    let r = memo.get(id)
    if (!r) {
      const names = runNames.filter((_, i) => (mask >> i) & 1)
      const setKey = planKey(names)
      const found = lookupPlan(epochs[epoch] as PlanTable, names)
      // a valid table always plans its whole set, which contains every active set
      if (!found) throw new Error(`run ${runKey}: no plan in the table for ${setKey}`)
      r = { ...found, setKey }
      memo.set(id, r)
    }
    return r
  }
  return { pool, partIndex, workerIndex, resolve }
}
