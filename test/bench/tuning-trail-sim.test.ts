// bench/tuning-trail-sim.ts: a trail's plan descriptions read back as points of eclip-fit's search space, and the
// rank correlation and picks it reports.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { pick, spearman, stateOf } from '../../bench/tuning-trail-sim.ts'

describe('tuning-trail-sim', () => {
  it('reads a trail description as homes in slices, λ per worker (home: ∞) and μ', () => {
    assert.deepEqual(stateOf('homes 48/32/40 SMs, λ 2, home, 0.5, μ 1', 8), {
      lengths: [6, 4, 5],
      lambdas: [2, Number.POSITIVE_INFINITY, 0.5],
      mu: 1,
    })
    assert.equal(stateOf("the baseline's placement", 8), null)
    assert.equal(stateOf('homes 44/32 SMs, λ 1, 1, μ 0', 8), null, 'not whole slices')
  })

  it('ranks with average ranks for ties: 1 in order, −1 reversed, none under three points', () => {
    assert.equal(spearman([1, 2, 3, 4], [10, 20, 30, 40]), 1)
    assert.equal(spearman([1, 2, 3, 4], [4, 3, 2, 1]), -1)
    assert.equal(spearman([1, 2], [1, 2]), null)
    const r = spearman([1, 2, 2, 3], [1, 3, 2, 4]) as number
    assert.ok(r > 0.9 && r < 1, String(r))
  })

  it('picks the best STP among the points at the floor or above', () => {
    const pts = [
      { stp: 1.2, worst: 0.85 },
      { stp: 1.1, worst: 0.95 },
      { stp: 1.05, worst: 1.0 },
    ]
    assert.equal(
      pick(
        pts,
        (p) => p.stp,
        (p) => p.worst,
        0.9,
      ),
      pts[1],
    )
    assert.equal(
      pick(
        pts,
        (p) => p.stp,
        (p) => p.worst,
        1.01,
      ),
      null,
    )
  })
})
