// performance.now()'s origin on the monotonic clock (src/measure/clock.ts), read so that a pair of readings split by
// the scheduler does not put it out.
import assert from 'node:assert/strict'
import { performance } from 'node:perf_hooks'
import { describe, it } from 'node:test'
import { type ClockReader, monotonicOriginMs } from '../../src/measure/clock.ts'

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
    // the first pair held 10 ms between hrtime and performance.now(): read alone it would be 10 ms out
    assert.ok(Math.abs(monotonicOriginMs(1, fakeClock(origin, 0, 10)) - (origin - 5)) < 0.01)
    for (const split of [0, 2, 4]) {
      const got = monotonicOriginMs(5, fakeClock(origin, split, 10))
      assert.ok(Math.abs(got - origin) < 0.01, `split pair ${split}: origin ${got}, not ${origin}`)
    }
  })

  it('puts performance.now() on process.hrtime()', () => {
    const origin = monotonicOriginMs()
    const h = Number(process.hrtime.bigint()) / 1e6
    const now = performance.now()
    // the two readings above are microseconds apart on an idle host; a loaded one can hold the process between them
    assert.ok(
      Math.abs(h - (now + origin)) < 50,
      `hrtime ${h} ms against performance.now() + origin ${now + origin}`,
    )
  })
})
