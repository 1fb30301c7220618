// Latency table: per (GPU, model, dtype), one request's whole latency at every batch size and partition size.
// PARIS+ELSA (docs/design.md §5) plan and dispatch from it: PARIS picks partition sizes from how latency falls with
// SMs at each batch size, ELSA predicts a query's execution time on each partition. Kernel lists are not needed, so
// this is far smaller than a profile; it is measured by the GPU backend, derived from several profiles (one per
// batch), or generated (`measured.method: "synthetic"`).
import Type from 'typebox'
import { Dtype, GpuRef, ModelName, Provenance } from './common.ts'

export const LatencyTable = Type.Object(
  {
    format: Type.Literal('eclip.latency-table/1'),
    gpu: GpuRef,
    model: ModelName,
    dtype: Dtype,
    /** Batch sizes, strictly ascending. */
    batches: Type.Array(Type.Integer({ minimum: 1 }), { minItems: 1 }),
    /** Partition sizes in SMs, strictly ascending; the last is the whole GPU. */
    sizes: Type.Array(Type.Integer({ minimum: 1 }), { minItems: 1 }),
    /** latencyUs[i][j]: whole-request latency (median) in µs at batches[i] on sizes[j] SMs. */
    latencyUs: Type.Array(Type.Array(Type.Number({ exclusiveMinimum: 0 }))),
    /** Per-cell sample counts when measured; absent for synthetic or derived tables. */
    repeats: Type.Optional(Type.Integer({ minimum: 1 })),
    measured: Provenance,
  },
  { additionalProperties: false },
)
export type LatencyTable = Type.Static<typeof LatencyTable>

export function latencyTableConsistencyErrors(t: LatencyTable): string[] {
  const errors: string[] = []
  for (let i = 1; i < t.batches.length; i++)
    if ((t.batches[i] ?? 0) <= (t.batches[i - 1] ?? 0))
      errors.push(`/batches/${i}: batches must be strictly ascending`)
  const n = t.sizes.length
  for (let j = 1; j < n; j++)
    if ((t.sizes[j] ?? 0) <= (t.sizes[j - 1] ?? 0))
      errors.push(`/sizes/${j}: sizes must be strictly ascending`)
  if ((t.sizes[n - 1] ?? 0) !== t.gpu.smCount)
    errors.push(`/sizes/${n - 1}: the last size must be the whole GPU (${t.gpu.smCount} SMs)`)
  if (t.latencyUs.length !== t.batches.length)
    errors.push(`/latencyUs: ${t.latencyUs.length} rows for ${t.batches.length} batches`)
  t.latencyUs.forEach((row, i) => {
    if (row.length !== n) errors.push(`/latencyUs/${i}: ${row.length} values for ${n} sizes`)
  })
  return errors
}

/** File name a latency table is stored under inside a directory of tables. */
export function latencyTableFileName(model: string, dtype: string): string {
  return `${model.replace(/[^A-Za-z0-9_.-]/g, '_')}.${dtype}.latency.json`
}
