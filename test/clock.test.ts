// performance.now()'s origin on the monotonic clock (src/clock.ts), read so that a pair of readings split by
// the scheduler does not put it out.
import assert from 'node:assert/strict'
import { performance } from 'node:perf_hooks'
import { describe, it } from 'node:test'
import { type ClockReader, monotonicOriginMs } from '../src/clock.ts'

/** A clock whose origin is `originMs` and whose pair `split` is held `heldMs` between its first two readings. */
function fakeClock(originMs: number, split: number, heldMs: number): ClockReader {
  let t = 1000 // ms since the origin
  let reads = 0
  return {
    hrtimeNs: () => {
      t += 0.001
      return BigInt(Math.round((originMs + t) * 1e6))
    },
    nowMs: () => {
      // the pair's first hrtime reading is followed by `heldMs` off the CPU before performance.now() reads
      if (reads++ === split) t += heldMs
      t += 0.001
      return t
    },
  }
}

describe('monotonicOriginMs', () => {
  it('takes the pair read in the shortest span: one the scheduler split does not put the origin out', () => {
    const origin = 5_000_000
    // the first pair held 10 ms between hrtime and performance.now(): read alone, its midpoint is half the hold out
    assert.ok(Math.abs(monotonicOriginMs(1, fakeClock(origin, 0, 10)) - (origin - 5)) < 0.01)
    for (const split of [0, 2, 4]) {
      const got = monotonicOriginMs(5, fakeClock(origin, split, 10))
      assert.ok(Math.abs(got - origin) < 0.01, `split pair ${split}: origin ${got}, not ${origin}`)
    }
  })

  it('puts performance.now() on process.hrtime()', () => {
    const origin = monotonicOriginMs()
    // performance.now() read between two hrtime readings: on hrtime's clock it lies between them, however long the
    // host holds the process in between (the origin's own error is half its tightest pair's span, microseconds)
    const h0 = Number(process.hrtime.bigint()) / 1e6
    const now = performance.now()
    const h1 = Number(process.hrtime.bigint()) / 1e6
    assert.ok(
      h0 - 1 <= now + origin && now + origin <= h1 + 1,
      `${now + origin} ms not within [${h0}, ${h1}]`,
    )
  })
})
