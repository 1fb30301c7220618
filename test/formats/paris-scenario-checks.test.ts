// The paris-scenario format's consistency check (scenarioConsistencyErrors): what `eclip validate paris-scenario`
// refuses is what `eclip paris` refuses, by one implementation — batch mixes with no positive weight or keys that are
// no batch size, a model listed twice, an inline GPU whose slices do not add up.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import YAML from 'yaml'
import { FormatError, type Gpu, parseFormat } from '../../src/formats/index.ts'
import { type Scenario, scenarioConsistencyErrors } from '../../src/formats/paris-scenario.ts'
import { resolveScenario } from '../../src/paris/scenario.ts'

const root = join(import.meta.dirname, '..', '..')
const gpu: Gpu = JSON.parse(readFileSync(join(root, 'test', 'fixtures', 'h100.gpu.json'), 'utf8'))
const scenario = (models: Scenario['models'], g: Scenario['gpu'] = gpu): Scenario => ({
  format: 'eclip.paris-scenario/1',
  name: 's',
  gpu: g,
  models,
})
const model = (name: string, batches: Record<string, number>) => ({ model: name, rate: 1, sloMs: 5, batches })

/** The problems `eclip validate paris-scenario` reports, as "path: reason" lines ([] when it passes). */
function validate(s: unknown): string[] {
  try {
    parseFormat('paris-scenario', s, 'test scenario')
    return []
  } catch (err) {
    assert.ok(err instanceof FormatError, String(err))
    return err.problems.map((p) => `${p.path}: ${p.reason}`)
  }
}

const cases: [string, Scenario, string][] = [
  [
    'no positive weight',
    scenario([model('alexnet', { 1: 0, 2: 0 })]),
    '/models/0/batches: no batch size has a positive weight',
  ],
  [
    'a key past 1024',
    scenario([model('alexnet', { 2000: 1 })]),
    '/models/0/batches: keys must be batch sizes 1..1024',
  ],
  [
    'a model listed twice',
    scenario([model('alexnet', { 1: 1 }), model('vgg19', { 1: 1 }), model('vgg19', { 2: 1 })]),
    '/models/2: model vgg19 listed twice',
  ],
]

describe('paris-scenario consistency', () => {
  for (const [what, s, problem] of cases)
    it(`validate and paris refuse ${what} alike`, () => {
      assert.deepEqual(validate(s), [problem])
      assert.deepEqual(scenarioConsistencyErrors(s), [problem])
      assert.throws(
        () => resolveScenario(s, { date: '2026-11-22' }),
        (err: Error) => err.message === `s: ${problem}`,
      )
    })

  it('refuses an inline GPU whose slices do not add up to its SM count', () => {
    const bad = { ...gpu, smCount: 140 }
    assert.deepEqual(validate(scenario([model('alexnet', { 1: 1 })], bad)), [
      '/gpu/slices: slice SMs add up to 132, not smCount 140',
    ])
    assert.deepEqual(validate(scenario([model('alexnet', { 1: 1 })], 'gpu.json')), [])
  })

  it('the shipped scenarios pass', () => {
    for (const f of [
      'paris.yaml',
      'paris-gpu.yaml',
      'paris-h200.yaml',
      'paris-kw.yaml',
      'paris-kw-h200.yaml',
    ])
      assert.deepEqual(validate(YAML.parse(readFileSync(join(root, 'examples', f), 'utf8'))), [], f)
  })
})
