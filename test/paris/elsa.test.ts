import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { earliestChoose, elsaChoose, estimatedFinish } from '../../src/paris/elsa.ts'

describe('ELSA', () => {
  it('estimates completion as queued work plus the query’s own execution', () => {
    assert.equal(estimatedFinish({ runningEstEnd: 0, queuedEst: 0 }, 100, 50), 150) // idle
    assert.equal(estimatedFinish({ runningEstEnd: 130, queuedEst: 40 }, 100, 50), 220)
    // a running query past its estimate counts as finishing now, not in the past
    assert.equal(estimatedFinish({ runningEstEnd: 90, queuedEst: 0 }, 100, 50), 150)
  })

  it('picks the smallest partition that meets the SLO, not the fastest one', () => {
    // partitions of 8, 16, 40, 132 SMs; the query would finish at these times; deadline 10
    const sms = [132, 8, 40, 16]
    const finish = [3, 14, 6, 9]
    assert.equal(elsaChoose(sms, finish, 10), 3) // 16 SMs: the smallest in time (8 SMs is late)
    assert.equal(earliestChoose(finish), 0)
  })

  it('breaks ties between equal sizes by the earlier finish', () => {
    assert.equal(elsaChoose([16, 16, 32], [9, 7, 2], 10), 1)
  })

  it('falls back to the earliest finisher when no partition meets the SLO', () => {
    assert.equal(elsaChoose([8, 16, 132], [30, 25, 21], 20), 2)
  })
})
