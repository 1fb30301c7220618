// A hand-made model for the request-level simulator's tests: a flat latency table (one batch, one size).
import type { LatencyTable } from '../../src/formats/index.ts'
import type { ModelLoad } from '../../src/paris/scenario.ts'

/** One model with a flat latency of `us` at every size and batch. */
export function constModel(us: number, rate: number, sloUs = 1e9, name = 'm'): ModelLoad {
  const table: LatencyTable = {
    format: 'eclip.latency-table/1',
    gpu: { name: 'x', smCount: 132, sliceSize: 8 },
    model: name,
    dtype: 'fp16',
    batches: [1],
    sizes: [132],
    latencyUs: [[us]],
    measured: { date: '2026-11-22', method: 'hand-made', tool: 'test' },
  }
  return { model: name, rate, sloUs, batches: [1], probs: [1], table }
}
