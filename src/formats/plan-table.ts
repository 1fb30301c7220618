// Plan table: the paper's lookup table of co-location scenarios, one plan per set of models that can be active
// together (issue #19). For a served set of workers it holds, per subset, the plan made for exactly those workers —
// every non-empty subset for up to PLAN_TABLE_FULL_MAX workers, only those asked for above — keyed by `planKey`:
// the subset's worker names, sorted (JavaScript's default order: UTF-16 code units), joined by '+'. A subset of one
// worker is that worker alone on the whole GPU (the baseline placement). Every plan is for the same GPU and names
// partitions as unions of that GPU's one split, so an executor creates the union of all plans' partitions once
// (`union`, deduplicated by slice set) and switches plans without creating anything. Made by src/plan/table.ts; the
// simulator follows it (src/execute/sim/engine.ts), docs/plan.md says how.
import Type from 'typebox'
import { Dtype, ModelName } from './common.ts'
import { GpuIdentity, gpuMismatch } from './gpu.ts'
import { isTablePolicy, Partition, Plan, Policy, planConsistencyErrors } from './plan.ts'

/** Up to this many workers a table plans every non-empty subset (2^n − 1 plans: 63 at 6). */
export const PLAN_TABLE_FULL_MAX = 6
/** Joins the sorted worker names of a subset into its key. */
export const PLAN_KEY_SEPARATOR = '+'

export const TableWorker = Type.Object(
  {
    /** Unique in the table; no '+' (the key separator). */
    name: Type.String({ minLength: 1, pattern: '^[^+]+$' }),
    model: ModelName,
    batch: Type.Integer({ minimum: 1 }),
    dtype: Dtype,
    fingerprint: Type.String({ pattern: '^sha256:[0-9a-f]{64}$' }),
  },
  { additionalProperties: false },
)
export type TableWorker = Type.Static<typeof TableWorker>

export const TableEntry = Type.Object(
  {
    /** planKey of the plan's workers. */
    key: Type.String({ minLength: 1 }),
    plan: Plan,
  },
  { additionalProperties: false },
)
export type TableEntry = Type.Static<typeof TableEntry>

export const PlanTable = Type.Object(
  {
    format: Type.Literal('eclip.plan-table/1'),
    /** The served set's name (a mix's). */
    mix: Type.String({ minLength: 1 }),
    gpu: GpuIdentity,
    /** The policy of the plans of two or more workers; a worker alone is planned as baseline (the whole GPU). */
    policy: Policy,
    /** The served set, in the order its plans list their workers. */
    workers: Type.Array(TableWorker, { minItems: 1 }),
    /** Every non-empty subset of `workers` has a plan (always so up to PLAN_TABLE_FULL_MAX workers). */
    complete: Type.Boolean(),
    /** Every partition of every plan once (by slice set), ids 0…: what an executor creates at start-up. */
    union: Type.Object(
      { partitions: Type.Array(Partition, { minItems: 1 }) },
      { additionalProperties: false },
    ),
    plans: Type.Array(TableEntry, { minItems: 1 }),
    /** How the table was made: wall time, plans made and taken from elsewhere (a cache, plans made before). */
    planning: Type.Optional(
      Type.Object(
        {
          wallMs: Type.Number({ minimum: 0 }),
          threads: Type.Integer({ minimum: 1 }),
          planned: Type.Integer({ minimum: 0 }),
          reused: Type.Integer({ minimum: 0 }),
        },
        { additionalProperties: false },
      ),
    ),
    createdAt: Type.String(),
  },
  { additionalProperties: false },
)
export type PlanTable = Type.Static<typeof PlanTable>

/** The key of a set of workers: their names sorted and joined by '+'. */
export function planKey(names: Iterable<string>): string {
  return [...names].sort().join(PLAN_KEY_SEPARATOR)
}

/** The worker names of a key. */
export const keyNames = (key: string): string[] => key.split(PLAN_KEY_SEPARATOR)

/** Every non-empty subset of `names` (in their order), smallest first, then in binary counting order. */
export function allSubsets<T>(items: readonly T[]): T[][] {
  const out: T[][] = []
  for (let mask = 1; mask < 2 ** items.length; mask++) out.push(items.filter((_, i) => (mask >> i) & 1))
  return out.sort((a, b) => a.length - b.length)
}

const sliceKey = (slices: readonly number[]) => [...new Set(slices)].sort((a, b) => a - b).join(',')

/** The union of the plans' partitions, one per slice set (ids 0…, in order of first appearance). */
export function unionPool(plans: readonly Plan[]): Partition[] {
  const seen = new Map<string, Partition>()
  for (const p of plans)
    for (const q of p.pool.partitions) {
      const k = sliceKey(q.slices)
      if (!seen.has(k))
        seen.set(k, { id: seen.size, slices: [...new Set(q.slices)].sort((a, b) => a - b), sms: q.sms })
    }
  return [...seen.values()]
}

/**
 * The plan a set of active workers runs under: the set's own, or (a table that does not plan every subset) the plan
 * of the smallest planned superset — its other workers are idle, their partitions unused —; undefined only when no
 * planned set contains the active one (a table without its full set's plan is refused when read).
 */
export function lookupPlan(
  table: PlanTable,
  active: Iterable<string>,
): { key: string; plan: Plan; exact: boolean } | undefined {
  const key = planKey(active)
  const own = table.plans.find((e) => e.key === key)
  if (own) return { key, plan: own.plan, exact: true }
  const want = new Set(keyNames(key))
  let best: TableEntry | undefined
  let bestSize = Number.POSITIVE_INFINITY
  for (const e of table.plans) {
    const names = keyNames(e.key)
    if (names.length < bestSize && [...want].every((n) => names.includes(n))) {
      best = e
      bestSize = names.length
    }
  }
  return best ? { key: best.key, plan: best.plan, exact: false } : undefined
}

export function planTableConsistencyErrors(t: PlanTable): string[] {
  const errors: string[] = []
  const names = t.workers.map((w) => w.name)
  const byName = new Map(t.workers.map((w) => [w.name, w]))
  names.forEach((n, i) => {
    if (names.indexOf(n) !== i) errors.push(`/workers/${i}/name: worker "${n}" named twice`)
  })
  const union = new Map(t.union.partitions.map((p) => [sliceKey(p.slices), p]))
  const keys = new Set<string>()
  t.plans.forEach((e, i) => {
    const at = `/plans/${i}`
    const pnames = e.plan.workers.map((w) => w.name)
    const want = planKey(pnames)
    if (e.key !== want) errors.push(`${at}/key: "${e.key}" does not name its plan's workers (${want})`)
    if (keys.has(e.key)) errors.push(`${at}/key: "${e.key}" planned twice`)
    keys.add(e.key)
    e.plan.workers.forEach((pw, j) => {
      const tw = byName.get(pw.name)
      if (!tw) {
        errors.push(
          `${at}/plan/workers/${j}: "${pw.name}" is not a worker of the table (${names.join(', ')})`,
        )
        return
      }
      if (
        pw.model !== tw.model ||
        pw.batch !== tw.batch ||
        pw.dtype !== tw.dtype ||
        pw.fingerprint !== tw.fingerprint
      )
        errors.push(
          `${at}/plan/workers/${j}: "${pw.name}" is ${pw.model} b${pw.batch} ${pw.dtype} (${pw.fingerprint.slice(0, 15)}…) here, ${tw.model} b${tw.batch} ${tw.dtype} (${tw.fingerprint.slice(0, 15)}…) in the table`,
        )
    })
    const diff = gpuMismatch(e.plan.gpu, t.gpu)
    if (diff) errors.push(`${at}/plan/gpu: made for another GPU than the table's (${diff} differs)`)
    for (const c of planConsistencyErrors(e.plan)) errors.push(`${at}/plan${c}`)
    for (const [j, q] of e.plan.pool.partitions.entries()) {
      const u = union.get(sliceKey(q.slices))
      if (!u || u.sms !== q.sms)
        errors.push(
          `${at}/plan/pool/partitions/${j}: slices [${q.slices.join(',')}] are not in the table's union`,
        )
    }
    // a worker alone runs as it would alone on the GPU: every group on the whole GPU
    const only = e.plan.workers[0]
    if (e.plan.workers.length === 1 && only) {
      const sms = new Map(e.plan.pool.partitions.map((q) => [q.id, q.sms]))
      if (only.groups.some((g) => sms.get(g.partition) !== t.gpu.smCount))
        errors.push(`${at}/plan: "${only.name}" alone must run on the whole GPU (${t.gpu.smCount} SMs)`)
    }
  })
  if (isTablePolicy(t.policy)) errors.push(`/policy: ${t.policy} is not a policy plans are made under`)
  const full = planKey(names)
  if (!keys.has(full)) errors.push(`/plans: no plan for the whole set (${full})`)
  if (names.length <= PLAN_TABLE_FULL_MAX && !t.complete)
    errors.push(`/complete: a table of ${names.length} workers (≤ ${PLAN_TABLE_FULL_MAX}) plans every subset`)
  if (t.complete) {
    if (names.length > 20)
      errors.push(`/complete: ${names.length} workers have too many subsets to plan every one`)
    else
      for (const s of allSubsets(names)) {
        const k = planKey(s)
        if (!keys.has(k)) errors.push(`/plans: no plan for the subset ${k}`)
      }
  }
  return errors
}
