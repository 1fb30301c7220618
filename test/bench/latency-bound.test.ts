// The latency-consistent STP estimate (bench/latency-bound.ts): its hull and knapsack on a made-up profile, and on the
// recorded batch-8 runs with measured priorities (results/h100/tuned-priorities-b8), where the estimate on the shipped
// profiles must come out of the tools as results/h100/reprofiled-b8's README states it (tuned-priorities-b8's own
// README gives it on the batch-8 files before).
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { cappedBounds, compareProbe } from '../../bench/interference-sim.ts'
import {
  areaWithin,
  latencyAreaHull,
  latencyStpBound,
  latencyWorker,
  smTimeAt,
} from '../../bench/latency-bound.ts'
import type { Profile, Results } from '../../src/formats/index.ts'
import { readFile } from '../../src/formats/index.ts'
import { loadGpu, profilesIn } from '../../src/profile/store.ts'

const ROOT = join(import.meta.dirname, '..', '..')

/** Two kernels on sizes 8, 64 and 132 SMs: one that scales (100 → 20 → 12 µs), one that does not (10 µs). */
const profile = {
  sizes: [8, 64, 132],
  kernels: [{ timesUs: [100, 20, 12] }, { timesUs: [10, 10, 10] }],
} as unknown as Profile

describe('latency-consistent STP estimate', () => {
  it('the hull runs from the fastest sizes to the least SM-time, and the SM-time falls as the budget grows', () => {
    const hull = latencyAreaHull(profile)
    const first = hull[0]
    const last = hull[hull.length - 1]
    // fastest: 12 + 10 µs; least SM-time: 100 × 8 + 10 × 8 SM·µs
    assert.deepEqual(first, { timeUs: 22, areaSmUs: 12 * 132 + 10 * 8 })
    assert.deepEqual(last, { timeUs: 110, areaSmUs: 100 * 8 + 10 * 8 })
    assert.equal(areaWithin(hull, 21), Number.POSITIVE_INFINITY)
    assert.equal(areaWithin(hull, 500), last?.areaSmUs)
    let prev = Number.POSITIVE_INFINITY
    for (let t = 22; t <= 110; t += 4) {
      const a = areaWithin(hull, t)
      assert.ok(a <= prev + 1e-9, `area at ${t} µs rose`)
      prev = a
    }
  })

  it('a worker near its solo rate needs its fastest sizes; the SMs and the floors bound the shares', () => {
    // 30 µs alone on the whole GPU: 22 in kernels, 8 outside them
    const w = latencyWorker(profile, 30, 1)
    assert.equal(w.overheadUs, 8)
    // at its solo rate the kernels have exactly their fastest time
    assert.ok(Math.abs(smTimeAt(w, 1) - (1e6 / 30) * (12 * 132 + 10 * 8)) < 1e-6)
    // slower, it needs fewer SM·µs per request
    assert.ok(smTimeAt(w, 0.5) / 0.5 < smTimeAt(w, 1))
    // plenty of SMs: each worker at its cap
    const free = latencyStpBound([w, latencyWorker(profile, 30, 0.8)], 1e6)
    assert.ok(free && Math.abs(free.stp - 1.8) < 1e-6, JSON.stringify(free))
    // few SMs: less, and two such workers are not worth two
    const tight = latencyStpBound([w, w], 40)
    assert.ok(tight && tight.stp < 1.5, JSON.stringify(tight))
    // a floor the SMs cannot carry: none
    assert.equal(
      latencyStpBound([latencyWorker(profile, 30, 1, 0.99), latencyWorker(profile, 30, 1, 0.99)], 40),
      null,
    )
  })

  it('on the batch-8 runs with measured priorities: 1.25 × baseline on the mean, no run above it', async () => {
    const dir = join(ROOT, 'profiles/h100')
    const c = await compareProbe(
      ['b8', 'more-b8'].map((b) => join(ROOT, 'results/h100/interference/mixes', b, 'dispatch.json')),
      dir,
    )
    // the tuned series on the profiles shipped (tuned-shipped-b8's README states these figures)
    const runs = ['q8a1', 'q8a2', 'q8b1', 'q8b2', 'q8c'].flatMap(
      (p) =>
        readFile<Results>('results', join(ROOT, 'results/h100/tuned-shipped-b8', p, 'results.json')).runs,
    )
    const rows = cappedBounds(c, runs, 132, profilesIn(dir, loadGpu(dir)))
    assert.equal(rows.length, 13)
    const ratio = rows.map((r) => (r.latency as number) / r.baseline)
    const reached = rows.map((r) => (r.eclipFit as number) / (r.latency as number))
    const mean = (xs: number[]) => xs.reduce((a, x) => a + x, 0) / xs.length
    assert.equal(mean(ratio).toFixed(2), '1.25')
    assert.equal(mean(reached).toFixed(2), '0.91')
    assert.ok(Math.max(...reached) <= 1.005, `a run above the estimate: ${Math.max(...reached)}`)
    assert.deepEqual(
      rows.filter((_, i) => (ratio[i] as number) < 1.2).map((r) => r.mix),
      ['mix4', 'mix6', 'mix7', 'more3'],
    )
  })
})
