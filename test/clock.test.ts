// performance.now()'s origin on the monotonic clock (src/clock.ts), read so that a pair of readings split by
// the scheduler does not put it out.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { describe, it } from 'node:test'
import { type ClockReader, fromMonotonicMs, monotonicOriginMs, toMonotonicMs } from '../src/clock.ts'

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

describe('toMonotonicMs, fromMonotonicMs', () => {
  it("write this process's performance.now() on the host's monotonic clock, and back", () => {
    const h0 = Number(process.hrtime.bigint()) / 1e6
    const mono = toMonotonicMs(performance.now())
    const h1 = Number(process.hrtime.bigint()) / 1e6
    assert.ok(h0 - 1 <= mono && mono <= h1 + 1, `${mono} ms not within [${h0}, ${h1}]`)
    assert.ok(Math.abs(fromMonotonicMs(toMonotonicMs(1234.5)) - 1234.5) < 1e-6)
  })

  it("carry a time from another process onto this one's performance.now()", () => {
    // a child process (its own time origin) writes its now; read here, it lies between this process's readings
    // before the child started and after it ended
    const before = performance.now()
    const out = execFileSync(
      process.execPath,
      [
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        `import { toMonotonicMs } from './src/clock.ts'
process.stdout.write(String(toMonotonicMs(performance.now())))`,
      ],
      { encoding: 'utf8', cwd: join(import.meta.dirname, '..') },
    )
    const after = performance.now()
    const there = fromMonotonicMs(Number(out))
    assert.ok(before - 1 <= there && there <= after + 1, `${there} ms not within [${before}, ${after}]`)
  })
})
