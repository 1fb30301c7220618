import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { paris } from '../../src/paris/partition.ts'
import { loadScenario } from '../../src/paris/scenario.ts'
import { fixedLoads, makeTrace, maxSustainable, type SimMetrics, simulate } from '../../src/paris/sim.ts'
import { constModel } from './const-model.ts'

const sc = loadScenario(join(import.meta.dirname, '..', '..', 'examples', 'paris.yaml'), {
  date: '2026-11-22',
})

describe('simulator', () => {
  it('draws Poisson arrivals at the requested rate, with the batch mix', () => {
    const t = makeTrace(sc.models, 2, 20000, 1, 0.05)
    const total = sc.models.reduce((a, m) => a + m.rate, 0) * 2
    const n = t.arrival.length
    const rate = (n / (t.arrival[n - 1] ?? 1)) * 1e6
    assert.ok(Math.abs(rate / total - 1) < 0.03, `rate ${rate} vs ${total}`)
    const gaps = Array.from({ length: n - 1 }, (_, i) => (t.arrival[i + 1] ?? 0) - (t.arrival[i] ?? 0))
    const mean = gaps.reduce((a, x) => a + x, 0) / gaps.length
    const cv = Math.sqrt(gaps.reduce((a, x) => a + (x - mean) ** 2, 0) / gaps.length) / mean
    assert.ok(Math.abs(cv - 1) < 0.05, `exponential gaps have CV 1, got ${cv}`)
    const alexnet = sc.models.findIndex((m) => m.model === 'alexnet')
    const share = t.model.filter((m) => m === alexnet).length / n
    const expected = (sc.models[alexnet]?.rate ?? 0) / (total / 2)
    assert.ok(Math.abs(share - expected) < 0.015, `alexnet share ${share} vs ${expected}`)
    const b1 = [...t.model.keys()].filter((i) => t.model[i] === alexnet && t.batchIdx[i] === 0).length
    assert.ok(Math.abs(b1 / (share * n) - 0.4) < 0.03, 'alexnet batch 1 is 40% of its queries')
  })

  it('is deterministic under a seed and differs across seeds', () => {
    const plan = paris(sc, 2)
    const run = (seed: number) =>
      simulate(sc.models, plan.partitions, makeTrace(sc.models, 1.5, 3000, seed, 0.05), { dispatch: 'elsa' })
    const a = run(5)
    assert.deepEqual(run(5), a)
    assert.notDeepEqual(run(6), a)
  })

  it('matches M/D/1 (Pollaczek–Khinchine) on one partition with a constant service time', () => {
    // service 1 ms, rate 600/s: ρ = 0.6, mean wait = ρ·S / (2(1−ρ)) = 0.75 ms, so mean latency 1.75 ms
    const m = constModel(1000, 600)
    const parts = [{ id: 'g0p0', gpu: 0, slices: [0], sms: 132 }]
    const r = simulate([m], parts, makeTrace([m], 1, 60000, 3, 0), { dispatch: 'fifo' })
    assert.ok(Math.abs(r.meanMs - 1.75) < 0.08, `mean ${r.meanMs}`)
    assert.ok(Math.abs(r.utilisation - 0.6) < 0.02, `utilisation ${r.utilisation}`)
    // the per-partition FIFO of least-loaded gives the same queue with one partition
    const ll = simulate([m], parts, makeTrace([m], 1, 60000, 3, 0), { dispatch: 'least-loaded' })
    assert.ok(Math.abs(ll.meanMs - r.meanMs) < 1e-9)
  })

  it('counts a query as violating when its latency exceeds its SLO', () => {
    // two partitions, service 1 ms, SLO 0.5 ms: every query violates; SLO 2 ms at low load: none does
    const parts = [
      { id: 'a', gpu: 0, slices: [0], sms: 8 },
      { id: 'b', gpu: 0, slices: [1], sms: 8 },
    ]
    const tight = constModel(1000, 10, 500)
    assert.equal(
      simulate([tight], parts, makeTrace([tight], 1, 500, 1, 0), { dispatch: 'elsa' }).violationRate,
      1,
    )
    const loose = constModel(1000, 10, 2000)
    assert.equal(
      simulate([loose], parts, makeTrace([loose], 1, 500, 1, 0), { dispatch: 'elsa' }).violationRate,
      0,
    )
  })

  it('finds the highest sustainable load by bracketing and bisection', async () => {
    // violation rate rises with the scale; the threshold is at 3.3
    const fake = (scale: number) => ({
      scale,
      violationRate: scale > 3.3 ? 0.05 : 0.001,
      offeredQps: scale * 100,
    })
    const r = await maxSustainable((s) => fake(s) as SimMetrics, { steps: 10 })
    assert.ok(r.best && r.best.scale <= 3.3 && r.best.scale > 3.25, `best ${r.best?.scale}`)
    const never = await maxSustainable((s) => ({ ...fake(s), violationRate: 0.5 }) as SimMetrics, {
      maxHalvings: 3,
    })
    assert.equal(never.best, null)
    assert.equal(never.tried.length, 4)
  })

  it('tries fixed loads in ascending order and stops once one is badly overloaded', async () => {
    const fake = (scale: number) =>
      ({
        scale,
        violationRate: scale > 3 ? (scale > 4 ? 0.9 : 0.05) : 0.001,
        offeredQps: scale * 100,
      }) as SimMetrics
    const r = await fixedLoads(fake, [5, 1, 2, 3.5, 4.5, 6], { target: 0.01 })
    assert.equal(r.best?.scale, 2)
    // 4.5 violates 90% (> ½): 5 and 6 are not tried
    assert.deepEqual(
      r.tried.map((m) => m.scale),
      [1, 2, 3.5, 4.5],
    )
  })
})
