import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { type Gpu, type LatencyTable, parseFormat } from '../../src/formats/index.ts'
import { syntheticLatencyTable } from '../../src/paris/latency.ts'
import { provenanceLabel } from '../../src/paris/report.ts'
import { loadScenario, meanBatch, resolveScenario, type Scenario } from '../../src/paris/scenario.ts'

const gpu: Gpu = JSON.parse(
  readFileSync(join(import.meta.dirname, '..', 'fixtures', 'h100.gpu.json'), 'utf8'),
)
const base = (models: Scenario['models'], extra: Partial<Scenario> = {}): Scenario => ({
  format: 'eclip.paris-scenario/1',
  name: 's',
  gpu,
  models,
  ...extra,
})

describe('PARIS scenarios', () => {
  it('normalises the batch mix and turns SLOs into µs', () => {
    const sc = resolveScenario(
      base([{ model: 'alexnet', rate: 10, sloMs: 5, batches: { 4: 1, 1: 3, 8: 0 } }]),
      {
        date: '2026-11-22',
      },
    )
    const m = sc.models[0]
    assert.ok(m)
    assert.deepEqual(m.batches, [1, 4]) // sorted, zero weights dropped
    assert.deepEqual(m.probs, [0.75, 0.25])
    assert.equal(m.sloUs, 5000)
    assert.equal(meanBatch(m), 1.75)
    assert.equal(m.table.measured.method, 'synthetic')
  })

  it('reads tables from a directory when asked, and checks they fit', () => {
    const seen: string[] = []
    const readTable = (p: string): LatencyTable => {
      seen.push(p)
      return syntheticLatencyTable(gpu, 'vgg19', { seed: 1, date: '2026-11-22' })
    }
    const s = base([{ model: 'vgg19', rate: 1, sloMs: 9, batches: { 1: 1 } }], {
      latency: { source: 'dir', dir: 'tables' },
    })
    resolveScenario(s, { readTable })
    assert.deepEqual(seen, [join('tables', 'vgg19.fp16.latency.json')])
    const wrong = base([{ model: 'alexnet', rate: 1, sloMs: 9, batches: { 1: 1 } }], s)
    wrong.models = [{ model: 'alexnet', rate: 1, sloMs: 9, batches: { 1: 1 } }]
    assert.throws(() => resolveScenario(wrong, { readTable }), /latency table is for vgg19/)
  })

  it('refuses a model listed twice and a mix without weight', () => {
    const m = { model: 'alexnet', rate: 1, sloMs: 5, batches: { 1: 1 } }
    assert.throws(() => resolveScenario(base([m, m]), {}), /listed twice/)
    assert.throws(
      () => resolveScenario(base([{ ...m, batches: { 1: 0 } }]), {}),
      /no batch size has a positive/,
    )
  })

  it('refuses a batch-size key that is not one, whatever its weight', () => {
    const dir = mkdtempSync(join(tmpdir(), 'eclip-scenario-'))
    const file = join(dir, 's.json')
    const withBatches = (batches: Record<string, number>) =>
      writeFileSync(
        file,
        JSON.stringify(base([{ model: 'alexnet', rate: 1, sloMs: 5, batches: { 1: 1, ...batches } }])),
      )
    try {
      for (const key of ['b8', '08', '0', '-1', '1.5']) {
        withBatches({ [key]: 0 })
        assert.throws(() => loadScenario(file), /batches/, key)
      }
      withBatches({ 8: 0 })
      assert.deepEqual(loadScenario(file).models[0]?.batches, [1])
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
    const m = { model: 'alexnet', rate: 1, sloMs: 5, batches: { 1: 1, 0: 0 } }
    assert.throws(() => resolveScenario(base([m]), {}), /keys must be batch sizes 1\.\.1024/)
  })

  it('the schemas (scenario and serve config alike) say what a batch-mix key must be', () => {
    const scenario = (batches: Record<string, number>) =>
      base([{ model: 'alexnet', rate: 1, sloMs: 5, batches }])
    const serve = (batches: Record<string, number>) => ({
      format: 'eclip.serve/1',
      policy: 'paris-elsa',
      backend: 'sim',
      models: [{ model: 'alexnet', rate: 1, sloMs: 5, batches }],
    })
    for (const [format, make] of [
      ['paris-scenario', scenario],
      ['serve-config', serve],
    ] as const) {
      assert.doesNotThrow(() => parseFormat(format, make({ 1: 1, 8: 0 }), 'f'), format)
      assert.throws(
        () => parseFormat(format, make({ 1: 1, b8: 1 }), 'f'),
        /\/models\/0\/batches: not a valid key "b8" \(keys are batch sizes/,
        format,
      )
      assert.throws(() => parseFormat(format, make({ '08': 1 }), 'f'), /not a valid key "08"/, format)
      assert.throws(
        () => parseFormat(format, make({}), 'f'),
        /\/models\/0\/batches: must not be empty \(keys are batch sizes/,
        format,
      )
    }
  })

  it('builds measured tables from the shipped H200 profiles (examples/paris-h200.yaml)', () => {
    const sc = loadScenario(join(import.meta.dirname, '..', '..', 'examples', 'paris-h200.yaml'))
    assert.equal(sc.gpu.name, 'NVIDIA H200')
    for (const m of sc.models) {
      assert.deepEqual(m.table.batches, [1, 8], m.model)
      assert.notEqual(m.table.measured.method, 'synthetic')
      assert.equal(m.table.sizes.length, 16)
    }
    assert.match(provenanceLabel(sc), /MEASURED latency tables \(NVIDIA H200\)/)
  })
})
