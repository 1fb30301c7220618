// performance.now() and process.hrtime() read one monotonic clock (libuv's, CLOCK_MONOTONIC on Linux) from different
// origins, so a time on one can be written on the other by a constant offset. Read as a pair, the two calls can be
// split by the scheduler on a busy host, which puts the offset out by the time the process was off the CPU: of a few
// pairs, the one read in the shortest span is taken.
import { performance } from 'node:perf_hooks'

/** The two clocks as read; a test passes its own. */
export interface ClockReader {
  /** process.hrtime.bigint(): ns on the monotonic clock. */
  hrtimeNs(): bigint
  /** performance.now(): ms since the process's time origin. */
  nowMs(): number
}

const SYSTEM: ClockReader = { hrtimeNs: () => process.hrtime.bigint(), nowMs: () => performance.now() }

/**
 * performance.now()'s origin on the monotonic clock, ms (hrtime − performance.now() at one instant): of `pairs`
 * readings of performance.now(), each between two of hrtime, the one whose hrtime readings are closest, against their
 * midpoint.
 */
export function monotonicOriginMs(pairs = 5, clock: ClockReader = SYSTEM): number {
  let span: bigint | undefined
  let origin = 0
  for (let i = 0; i < Math.max(1, pairs); i++) {
    const h0 = clock.hrtimeNs()
    const now = clock.nowMs()
    const h1 = clock.hrtimeNs()
    if (span === undefined || h1 - h0 < span) {
      span = h1 - h0
      origin = Number(h0 + (h1 - h0) / 2n) / 1e6 - now
    }
  }
  return origin
}

let ownOrigin: number | undefined

/**
 * A time on this process's performance.now() as ms on the host's monotonic clock: the form in which a time crosses to
 * another process of the host (a front-end's arrival time to the engine). Every process reads that clock alike;
 * performance.timeOrigin is read from the wall clock once, at each process's start, so a step (NTP) between two
 * starts would put their epoch times apart.
 */
export function toMonotonicMs(nowMs: number): number {
  ownOrigin ??= monotonicOriginMs()
  return ownOrigin + nowMs
}

/**
 * The inverse of toMonotonicMs: a monotonic-clock time from any process of the host, on this one's performance.now().
 */
export function fromMonotonicMs(monotonicMs: number): number {
  ownOrigin ??= monotonicOriginMs()
  return monotonicMs - ownOrigin
}
