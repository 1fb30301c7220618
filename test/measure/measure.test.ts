import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { hostCpuShare, hostCpuTable } from '../../src/bench/report.ts'
import { simulate } from '../../src/execute/sim/index.ts'
import { runKey } from '../../src/formats/index.ts'
import { buildRun, jain, latencySummary, normalise, soloMixName } from '../../src/measure/index.ts'
import { packingBound } from '../../src/profile/bound.ts'
import { rightSizes } from '../../src/profile/rightsize.ts'
import { ALL, planOf, profileOf, scaling, specOf } from '../sim/fixtures.ts'

const close = (a: number | null, b: number, tol = 1e-9) =>
  assert.ok(a !== null && Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${a} ≠ ${b}`)

describe('statistics', () => {
  it("computes Jain's index", () => {
    close(jain([2, 2, 2]), 1)
    close(jain([1, 0, 0]), 1 / 3)
    close(jain([1, 3]), 16 / 20)
    assert.equal(jain([]), null)
  })
  it('summarises latencies: exact mean/min/max, HDR percentiles to 3 digits', () => {
    const xs = Array.from({ length: 1000 }, (_, i) => i + 1)
    const s = latencySummary(xs)
    close(s.mean, 500.5)
    assert.equal(s.min, 1)
    assert.equal(s.max, 1000)
    close(s.p50, 500, 2e-3)
    close(s.p95, 950, 2e-3)
    close(s.p99, 990, 2e-3)
  })
})

describe('ideal-packing bound', () => {
  // k0 saturates at 16 SMs (flat above), k1 scales to the whole GPU
  const p = profileOf('a', [scaling(10, 16), scaling(5)])
  it('right-sizes each kernel and adds up its SM-time', () => {
    assert.deepEqual(rightSizes(p, 0.05), [16, 132])
    const b = packingBound([p, p], 132, 0.05)
    // area per request: 10 µs × 16 SMs + 5 µs × 132 SMs
    close(b.areas[0] ?? 0, 160 + 660)
    close(b.areaRoundsPerS, (132 * 1e6) / (2 * 820))
    close(b.soloRoundsPerS, 1e6 / 15)
    close(b.idealRoundsPerS, Math.min((132 * 1e6) / 1640, 1e6 / 15))
  })
})

describe('run metrics', () => {
  const a = profileOf('a', [scaling(100), scaling(50, 16)])
  const LOW = [0, 1, 2, 3, 4, 5, 6, 7]
  const HIGH = [8, 9, 10, 11, 12, 13, 14, 15]
  const mk = (policy: 'baseline' | 'model-wise', pool: number[][], parts: [number, number]) => {
    const plan = planOf(policy, pool, [
      { profile: a, groups: [[0, 1, parts[0]]] },
      { profile: a, groups: [[0, 1, parts[1]]] },
    ])
    const spec = specOf(plan, [a, a], { warmupS: 0.002, windowS: 0.05 })
    return buildRun(spec, simulate(spec), { backend: 'sim' })
  }
  const solo = () => {
    const plan = planOf('baseline', [ALL], [{ profile: a, groups: [[0, 1, 0]] }])
    const spec = specOf(plan, [a], { warmupS: 0.002, windowS: 0.05 })
    spec.role = 'solo'
    spec.mix = soloMixName('a', 1, 'fp16')
    spec.key = runKey(spec.mix, 'baseline', null, null)
    return buildRun(spec, simulate(spec), { backend: 'sim' })
  }

  it('counts requests in the window and derives energy per request', () => {
    const r = mk('baseline', [ALL], [0, 0])
    const w0 = r.workers[0]
    assert.ok(w0 && w0.requests > 100)
    close(w0.throughputRps, w0.requests / 0.05)
    close(r.metrics.jPerRequest, r.metrics.energyJ / r.metrics.requests)
    close(r.metrics.meanPowerW, r.metrics.energyJ / 0.05)
    assert.ok((r.metrics.meanSmUtilisation ?? 0) > 0.5 && (r.metrics.meanSmUtilisation ?? 2) <= 1)
    assert.equal(r.inputs.profiles, 'synthetic')
    assert.equal(r.inputs.power, 'placeholder')
    // a round needs one request of each worker
    close(r.metrics.roundsPerS, Math.min(...r.workers.map((w) => w.throughputRps)))
    close(r.metrics.vsIdeal, (r.metrics.roundsPerS ?? 0) / (r.metrics.idealRoundsPerS ?? 1))
    // these kernels scale linearly up to saturation (same SM-time at any size below it): the bound must hold
    assert.ok((r.metrics.vsIdeal ?? 2) <= 1 + 1e-9)
  })

  it('normalises to the same worker under baseline and to its solo rate', () => {
    const base = mk('baseline', [ALL], [0, 0])
    const mw = mk('model-wise', [LOW, HIGH], [0, 1])
    const s = solo()
    normalise([base, mw, s])
    const w = mw.workers[1]
    const bw = base.workers[1]
    assert.ok(w && bw)
    close(w.normVsBaseline, w.throughputRps / bw.throughputRps)
    close(w.p95VsBaseline, (w.latencyUs?.p95 ?? 0) / (bw.latencyUs?.p95 ?? 1))
    close(w.normVsSolo, w.throughputRps / (s.workers[0]?.throughputRps ?? 0))
    close(base.metrics.throughputVsBaseline, 1)
    close(base.metrics.energyEffVsBaseline, 1)
    const norms = mw.workers.map((x) => x.normVsBaseline ?? 0)
    close(
      mw.metrics.energyEffVsBaseline,
      (((norms[0] ?? 0) + (norms[1] ?? 0)) / 2) * (base.metrics.meanPowerW / mw.metrics.meanPowerW),
    )
    close(mw.metrics.jainFairness, jain(mw.workers.map((x) => x.normVsSolo ?? 0)) ?? 0)
    // the system's requests/J: total requests ÷ energy against baseline's, not the per-worker mean above
    close(base.metrics.requestsPerJVsBaseline ?? null, 1)
    const total = (r: typeof mw) => r.workers.reduce((x, y) => x + y.throughputRps, 0)
    close(
      mw.metrics.requestsPerJVsBaseline ?? null,
      (total(mw) / total(base)) * (base.metrics.meanPowerW / mw.metrics.meanPowerW),
    )
    // the worker on the 68-SM partition is faster than the one on 64 SMs
    assert.ok((mw.workers[1]?.throughputRps ?? 0) > (mw.workers[0]?.throughputRps ?? 0))
  })

  it('averages host CPU per request over the window and reports it against latency', () => {
    const plan = planOf('baseline', [ALL], [{ profile: a, groups: [[0, 1, 0]] }])
    const spec = specOf(plan, [a], { warmupS: 0.002, windowS: 0.05 })
    // what the GPU executor reports: one request before the window (not counted), two inside, one after
    const result = {
      ...simulate(spec),
      workers: [
        {
          arrivalUs: [0, 1000, 2000, 3000],
          startUs: [0, 1000, 2000, 3000],
          endUs: [900, 1900, 2900, 60000],
          cpuUs: [99, 10, 30, 99],
        },
      ],
      windowStartUs: 1000,
      windowEndUs: 51000,
    }
    const r = buildRun(spec, result, { backend: 'gpu' })
    const w = r.workers[0]
    assert.ok(w)
    assert.equal(w.requests, 2)
    close(w.hostCpuUsPerRequest ?? null, 20)
    close(hostCpuShare(w), (100 * 20) / 900)
    assert.match(hostCpuTable([r]) ?? '', /2\.22%/)
    // the simulator measures no host CPU: no field, no table
    const sim = buildRun(spec, simulate(spec), { backend: 'sim' })
    assert.equal(sim.workers[0]?.hostCpuUsPerRequest, undefined)
    assert.equal(hostCpuTable([sim]), null)
  })
})
