// Mix: which workers share the GPU. Written by people (YAML or JSON); one file may hold several mixes.
import Type from 'typebox'
import { Dtype, ModelName } from './common.ts'

export const MixWorker = Type.Object(
  {
    model: ModelName,
    batch: Type.Optional(Type.Integer({ minimum: 1, default: 1 })),
    dtype: Type.Optional(Dtype),
    count: Type.Optional(Type.Integer({ minimum: 1, default: 1 })),
    /** The worker's weight in the planner's objective, system throughput Σ weight · rate / solo rate (default 1). */
    weight: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
    /**
     * The worker's floor: its throughput under a partitioned plan ≥ minShare × its throughput under baseline
     * co-location, as the simulator predicts both (default 0.9; 0 lets the planner starve it).
     */
    minShare: Type.Optional(Type.Number({ minimum: 0 })),
  },
  { additionalProperties: false },
)
export type MixWorker = Type.Static<typeof MixWorker>

export const Mix = Type.Object(
  {
    name: Type.String({ minLength: 1, pattern: '^[A-Za-z0-9_.-]+$' }),
    description: Type.Optional(Type.String()),
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
}

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
      })
    }
  }
  return out
}
