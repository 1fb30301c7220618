// Mix: which workers share the GPU. Written by people (YAML or JSON); one file may hold several mixes. A worker may
// also say when its requests come and how much its latency matters (src/formats/arrival.ts).
import Type from 'typebox'
import { type Arrival, LOAD_FIELDS, loadFieldProblems, type Priority } from './arrival.ts'
import { Dtype, ModelName } from './common.ts'

/**
 * The largest weight a worker may have. Only weights' ratios count (the planner divides them by the largest, so no
 * size overflows); a bound keeps typed values sane (1 is the default).
 */
export const MAX_WEIGHT = 1e6

export const MixWorker = Type.Object(
  {
    model: ModelName,
    batch: Type.Optional(Type.Integer({ minimum: 1, default: 1 })),
    dtype: Type.Optional(Dtype),
    count: Type.Optional(Type.Integer({ minimum: 1, default: 1 })),
    /**
     * The worker's weight in the planner's objective, system throughput Σ weight · rate / solo rate (default 1); only
     * the ratios between a mix's weights count.
     */
    weight: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: MAX_WEIGHT })),
    /**
     * The worker's floor: its throughput under a partitioned plan ≥ minShare × its throughput under baseline
     * co-location, as the simulator predicts both (default 0.9; 0 lets the planner starve it).
     */
    minShare: Type.Optional(Type.Number({ minimum: 0 })),
    ...LOAD_FIELDS,
  },
  { additionalProperties: false },
)
export type MixWorker = Type.Static<typeof MixWorker>

export const Mix = Type.Object(
  {
    name: Type.String({ minLength: 1, pattern: '^[A-Za-z0-9_.-]+$' }),
    description: Type.Optional(Type.String()),
    /**
     * eclip-fit: the mix's total requests/s under a plan ≥ minTotalShare × under baseline co-location, as the
     * simulator predicts both, kept like a worker's floor (docs/plan.md); baseline's placement always meets it, so
     * above 1 it asks for a margin over baseline's requests. Absent: none on the mix's static plan, 1.01 on
     * eclip-live's plans per set of active workers (src/plan/table.ts DEFAULT_SET_MIN_TOTAL_SHARE).
     */
    minTotalShare: Type.Optional(Type.Number({ minimum: 0, maximum: 2 })),
    workers: Type.Array(MixWorker, { minItems: 1 }),
  },
  { additionalProperties: false },
)
export type Mix = Type.Static<typeof Mix>

export const MixFile = Type.Object(
  {
    format: Type.Optional(Type.Literal('eclip.mixes/1')),
    mixes: Type.Array(Mix, { minItems: 1 }),
  },
  { additionalProperties: false },
)
export type MixFile = Type.Static<typeof MixFile>

/** What the schema cannot say: every mix of a file has a name of its own (runs and plans are keyed by it). */
export function mixFileConsistencyErrors(f: MixFile): string[] {
  const seen = new Map<string, number>()
  const errors: string[] = []
  f.mixes.forEach((m, i) => {
    const j = seen.get(m.name)
    if (j !== undefined) errors.push(`/mixes/${i}/name: "${m.name}" is also mix ${j}'s name`)
    seen.set(m.name, i)
  })
  return errors
}

/** One worker instance of a mix, after `count` is expanded. `name` is unique in the mix: "albert#0". */
export interface WorkerSpec {
  name: string
  model: string
  batch: number
  dtype: Dtype
  /** STP weight (MixWorker.weight); absent: 1. */
  weight?: number
  /** Floor as a ratio to baseline (MixWorker.minShare); absent: the planner's default. */
  minShare?: number
  /** realtime or best-effort (absent: best-effort). */
  priority?: Priority
  /** A real-time worker's latency objective, ms. */
  sloMs?: number
  /** When its requests come (absent: closed loop); a trace's times loaded (src/workload/arrivals.ts). */
  arrival?: LoadedArrival
}

/** An arrival source ready to run: a trace carries its times, µs, read from its file. */
export type LoadedArrival =
  | Exclude<Arrival, { kind: 'trace' }>
  | (Extract<Arrival, { kind: 'trace' }> & { timesUs: number[] })

/** The source of a worker as a results file records it: a trace without its loaded times. */
export function arrivalRecord(a: LoadedArrival | undefined): Arrival {
  if (!a) return { kind: 'closed' }
  if (a.kind !== 'trace') return a
  const { timesUs: _t, ...rest } = a
  return rest
}

/** Whether any worker of these says more than the paper's closed loop: an arrival source or a priority. */
export const hasLoadFields = (workers: readonly (MixWorker | WorkerSpec)[]) =>
  workers.some((w) => w.arrival !== undefined || w.priority !== undefined)

/** Expands counts and fills defaults; `batch` overrides every worker's batch when given (bench --batch). */
export function expandWorkers(mix: Mix, batch?: number): WorkerSpec[] {
  const out: WorkerSpec[] = []
  const seen = new Map<string, number>()
  for (const w of mix.workers) {
    for (let i = 0; i < (w.count ?? 1); i++) {
      const n = seen.get(w.model) ?? 0
      seen.set(w.model, n + 1)
      out.push({
        name: `${w.model}#${n}`,
        model: w.model,
        batch: batch ?? w.batch ?? 1,
        dtype: w.dtype ?? 'fp16',
        ...(w.weight !== undefined ? { weight: w.weight } : {}),
        ...(w.minShare !== undefined ? { minShare: w.minShare } : {}),
        ...(w.priority !== undefined ? { priority: w.priority } : {}),
        ...(w.sloMs !== undefined ? { sloMs: w.sloMs } : {}),
        ...(w.arrival !== undefined ? { arrival: w.arrival as LoadedArrival } : {}),
      })
    }
  }
  return out
}

/** Load-field problems of every worker of every mix in a mix file (arrival sources, SLOs; src/formats/arrival.ts). */
export function mixFileProblems(value: unknown, key = 'mixes'): { path: string; reason: string }[] {
  const mixes = (value as Record<string, unknown> | null)?.[key]
  if (!Array.isArray(mixes)) return []
  return mixes.flatMap((m, i) => {
    const ws = (m as { workers?: unknown } | null)?.workers
    if (!Array.isArray(ws)) return []
    return ws.flatMap((w, j) =>
      w && typeof w === 'object' ? loadFieldProblems(w as MixWorker, `/${key}/${i}/workers/${j}`) : [],
    )
  })
}

/** "mix disb-A, worker vgg19" for a path inside a mix's worker, so that an error names the model, not an index. */
export function mixWhere(value: unknown, path: string, key = 'mixes'): string | undefined {
  const m = new RegExp(`^/${key}/(\\d+)(?:/workers/(\\d+))?`).exec(path)
  if (!m) return undefined
  const mix = ((value as Record<string, unknown> | null)?.[key] as unknown[] | undefined)?.[Number(m[1])] as
    | { name?: unknown; workers?: unknown[] }
    | undefined
  const name = typeof mix?.name === 'string' ? mix.name : undefined
  const w = m[2] === undefined ? undefined : (mix?.workers?.[Number(m[2])] as { model?: unknown } | undefined)
  const model = typeof w?.model === 'string' ? w.model : undefined
  const parts = [name ? `${key === 'mixes' ? 'mix' : 'workload'} ${name}` : '', model ? `model ${model}` : '']
  const s = parts.filter(Boolean).join(', ')
  return s || undefined
}
