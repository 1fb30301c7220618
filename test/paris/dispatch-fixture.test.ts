// The dispatch rules exist twice: in the simulator (src/paris/sim.ts + elsa.ts) and in the GPU backend's real-time
// dispatcher (gpu/eclip_gpu/paris_dispatch.py, Dispatcher). test/fixtures/paris-dispatch.json pins one small case — a
// trace, a heterogeneous layout, the estimates — and what the simulator does with it under each policy (which partition
// served every query, and when it completed). This test checks the simulator still does exactly that; the Python test
// (gpu/tests/test_paris_dispatch.py) replays the same case through Dispatcher in virtual time and must agree query for
// query. Regenerate after a deliberate change to the rules:
//   UPDATE_FIXTURES=1 node --import tsx --test <this file> &&
//     npx biome format --write test/fixtures/paris-dispatch.json
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { type Gpu, readFile } from '../../src/formats/index.ts'
import { DEFAULT_ELSA } from '../../src/paris/elsa.ts'
import { latencyUs, syntheticLatencyTable } from '../../src/paris/latency.ts'
import type { Partition } from '../../src/paris/partition.ts'
import type { ModelLoad } from '../../src/paris/scenario.ts'
import { DISPATCHES, makeTrace, simulateQueries } from '../../src/paris/sim.ts'

const fixtures = join(import.meta.dirname, '..', 'fixtures')
const file = join(fixtures, 'paris-dispatch.json')

function dispatchCase() {
  const gpu = readFile<Gpu>('gpu', join(fixtures, 'h100.gpu.json'))
  const part = (id: string, slices: number[], sms: number): Partition => ({ id, gpu: 0, slices, sms })
  // two partitions of one size, to exercise ELSA's tie-breaks
  const partitions = [
    part('g0p0', [0], 8),
    part('g0p1', [1, 2], 16),
    part('g0p2', [3, 4], 16),
    part('g0p3', [5, 6, 7, 8, 9], 40),
    part('g0p4', [10, 11, 12, 13, 14, 15], 52),
  ]
  const model = (name: string, rate: number, sloMs: number): ModelLoad => ({
    model: name,
    rate,
    sloUs: sloMs * 1000,
    batches: [1, 8],
    probs: [0.7, 0.3],
    table: syntheticLatencyTable(gpu, name, { seed: 3, batches: [1, 8], date: '2026-11-22' }),
  })
  // loaded enough that FIFOs form and SLOs are missed sometimes: every rule matters
  const models = [model('alexnet', 3500, 3), model('shufflenet', 3500, 5)]
  const trace = makeTrace(models, 1, 400, 7, 0.1)
  return { partitions, models, trace }
}

function expected() {
  const { partitions, models, trace } = dispatchCase()
  return {
    about:
      'Written by test/paris/dispatch-fixture.test.ts from src/paris/sim.ts; read by gpu/tests/test_paris_dispatch.py. ' +
      'Service time of query q on partition p = estUs[p][model[q]][batchIdx[q]] × noise[q].',
    sms: partitions.map((p) => p.sms),
    estUs: partitions.map((p) => models.map((m) => m.batches.map((b) => latencyUs(m.table, b, p.sms)))),
    sloUs: models.map((m) => m.sloUs),
    sloMargin: DEFAULT_ELSA.sloMargin,
    trace: {
      arrivalUs: [...trace.arrival],
      model: [...trace.model],
      batchIdx: [...trace.batchIdx],
      noise: [...trace.noise],
    },
    expected: Object.fromEntries(
      DISPATCHES.map((d) => {
        const log = simulateQueries(models, partitions, trace, { dispatch: d })
        return [d, { partition: [...log.servedOn], doneUs: [...log.done] }]
      }),
    ),
    // eclip-kw's dedicated workers: each partition serves one model, every worker of a model estimated alike
    dedicated: {
      serves: DEDICATED.serves,
      serviceUs: DEDICATED.serviceUs,
      expected: Object.fromEntries(
        DISPATCHES.map((d) => {
          const log = simulateQueries(models, partitions, trace, { dispatch: d, ...DEDICATED })
          return [d, { partition: [...log.servedOn], doneUs: [...log.done] }]
        }),
      ),
    },
  }
}

/** Partition i serves model serves[i] only; service estimate per model and batch index, µs. */
const DEDICATED = {
  serves: [0, 1, 0, 1, 1],
  serviceUs: [
    [600, 1900],
    [450, 1300],
  ],
}

describe('dispatch fixture shared with the Python dispatcher', () => {
  it('is what the simulator does today', () => {
    const now = expected()
    if (process.env.UPDATE_FIXTURES) writeFileSync(file, `${JSON.stringify(now)}\n`) // then biome format it
    const pinned = JSON.parse(readFileSync(file, 'utf8'))
    assert.deepEqual(pinned, JSON.parse(JSON.stringify(now)))
  })

  it('exercises every rule: queues form, partitions of every size serve, some queries miss their SLO', () => {
    const f = expected()
    for (const d of DISPATCHES) {
      const { partition, doneUs } = f.expected[d] as { partition: number[]; doneUs: number[] }
      assert.equal(new Set(partition).size, f.sms.length, `${d}: every partition serves`)
      const late = doneUs.filter(
        (t, q) => t - (f.trace.arrivalUs[q] ?? 0) > (f.sloUs[f.trace.model[q] ?? 0] ?? 0),
      )
      assert.ok(late.length > 0 && late.length < doneUs.length / 2, `${d}: ${late.length} late`)
      // dedicated: every worker serves, only its own model
      const ded = f.dedicated.expected[d] as { partition: number[] }
      assert.equal(new Set(ded.partition).size, f.sms.length, `${d} dedicated: every worker serves`)
      ded.partition.forEach((p, q) => {
        assert.equal(
          f.dedicated.serves[p],
          f.trace.model[q],
          `${d} dedicated: query ${q} on another model's worker`,
        )
      })
    }
  })
})
