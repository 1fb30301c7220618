// The server's rolling window of recent requests (dashboard rates, p95): bounded however long nobody reads it.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { RollingWindow } from '../../src/serve/metrics.ts'

describe('RollingWindow', () => {
  it('keeps at most about two windows of requests when never read, and reads the last window right', () => {
    const w = new RollingWindow(1000)
    for (let i = 0; i < 300_000; i++) {
      w.add(i / 10, 1, 1) // 10 requests per ms, 30 s of them
      if (i % 3 === 0) w.fail(i / 10)
    }
    assert.ok(w.size() <= 2 * 1000 * 10 * (1 + 1 / 3) + 2, `kept ${w.size()}`)
    const s = w.stats(30_000)
    assert.ok(Math.abs(s.rps - 10_000) <= 10, `rps ${s.rps}`)
    assert.ok(Math.abs(s.failuresPerS - 10_000 / 3) <= 10, `failures ${s.failuresPerS}`)
  })
})
