// The held-out check's provenance test names series as whole path segments (test/measure/sim-vs-gpu.ts).
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { namesSeries } from './sim-vs-gpu.ts'

describe('namesSeries', () => {
  it('finds a series named as a path or a word', () => {
    assert.ok(namesSeries('fitted on results/h200/priorities-b8/pb8', 'priorities-b8'))
    assert.ok(namesSeries('the runs of results/h200/coresident-cal/co-b8.', 'coresident-cal/co-b8'))
    assert.ok(namesSeries('priorities-b8', 'priorities-b8'))
  })
  it('does not take a series for another whose name holds it', () => {
    assert.ok(!namesSeries('chosen on results/h200/tuned-priorities-b8', 'priorities-b8'))
    assert.ok(!namesSeries('results/h200/coresident-cal/co-b8x', 'coresident-cal/co-b8'))
    assert.ok(!namesSeries('interference-refit', 'interference/refit-plans'))
  })
})
