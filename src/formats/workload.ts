// Workload file: co-location experiments that fix their load, not only their models — every worker's arrival source and
// priority (src/formats/arrival.ts) — and how long a run lasts. Written by people (YAML or JSON); `eclip bench
// --workload` runs them (workloads/disb.yaml: the DISB benchmark's workloads A–E). A workload is a mix with a run
// length: its workers are mix workers, field for field.
import Type from 'typebox'
import { type Mix, MixWorker } from './mix.ts'

export const Workload = Type.Object(
  {
    name: Type.String({ minLength: 1, pattern: '^[A-Za-z0-9_.-]+$' }),
    description: Type.Optional(Type.String()),
    /** Where the workload comes from (a benchmark and its version), when it is not eclip's own. */
    reference: Type.Optional(Type.String()),
    /** Steady window of one run, s (bench --duration overrides it). */
    durationS: Type.Number({ exclusiveMinimum: 0 }),
    /** Warm-up before the window, s (default: the bench's, sim 0.05 / gpu 2; --warmup overrides it). */
    warmupS: Type.Optional(Type.Number({ minimum: 0 })),
    workers: Type.Array(MixWorker, { minItems: 1 }),
  },
  { additionalProperties: false },
)
export type Workload = Type.Static<typeof Workload>

export const WorkloadFile = Type.Object(
  {
    format: Type.Literal('eclip.workloads/1'),
    description: Type.Optional(Type.String()),
    workloads: Type.Array(Workload, { minItems: 1 }),
  },
  { additionalProperties: false },
)
export type WorkloadFile = Type.Static<typeof WorkloadFile>

export function workloadFileConsistencyErrors(f: WorkloadFile): string[] {
  const seen = new Map<string, number>()
  const errors: string[] = []
  f.workloads.forEach((w, i) => {
    const j = seen.get(w.name)
    if (j !== undefined) errors.push(`/workloads/${i}/name: "${w.name}" is also workload ${j}'s name`)
    seen.set(w.name, i)
  })
  return errors
}

/** The mix a workload runs (its workers, name and description). */
export const mixOfWorkload = (w: Workload): Mix => ({
  name: w.name,
  ...(w.description !== undefined ? { description: w.description } : {}),
  workers: w.workers,
})
