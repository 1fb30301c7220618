// System-level metrics (src/measure/system.ts): hand-computed cases for every formula, the STP bound on toys small
// enough to solve by hand, and their place in normalise (solo runs where made, else the profiles).
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { systemTables } from '../../src/bench/report.ts'
import { simulate } from '../../src/execute/sim/index.ts'
import { runKey } from '../../src/formats/index.ts'
import { buildRun, jain, normalise, soloMixName } from '../../src/measure/index.ts'
import {
  antt,
  baselineRatios,
  type RatioRun,
  type SystemWorker,
  stp,
  systemMetrics,
  worstWorker,
} from '../../src/measure/system.ts'
import { stpBound } from '../../src/profile/bound.ts'
import { normaliseServeRuns, serveReport } from '../../src/serve-bench/serve-bench.ts'
import { servedRun } from '../serve/served-runs.ts'
import { ALL, planOf, profileOf, scaling, specOf } from '../sim/fixtures.ts'

const close = (a: number | null | undefined, b: number, tol = 1e-9) =>
  assert.ok(a !== null && a !== undefined && Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${a} ≠ ${b}`)

const worker = (
  name: string,
  rps: number,
  baselineRps: number | null,
  soloRps: number,
  areaSmUs: number | null = null,
): SystemWorker => ({
  name,
  rps,
  meanLatencyUs: 1e6 / rps,
  baselineRps,
  solo: { rps: soloRps, latencyUs: 1e6 / soloRps, from: 'solo-run' },
  areaSmUs,
})

describe('system metrics (Eyerman & Eeckhout)', () => {
  it('STP is the sum of rates over solo rates', () => {
    close(stp([50, 30], [100, 60]), 1)
    close(stp([100], [100]), 1)
    assert.throws(() => stp([1], [0]), /solo rate/)
    assert.throws(() => stp([1, 2], [1]), /2 rates but 1/)
  })

  it('a worker at 2× and one at 0.5× is no STP gain, though their mean ratio is 1.25', () => {
    // a light model (solo 1,000 req/s, 100 under baseline) doubled; a heavy one (solo 100, 80 under baseline) halved
    const base = [worker('light', 100, 100, 1000), worker('heavy', 80, 80, 100)]
    const run = [worker('light', 200, 100, 1000), worker('heavy', 40, 80, 100)]
    const m = systemMetrics(run, base, 132)
    assert.ok(m)
    close(m.meanVsBaseline, 1.25)
    // STP 0.2 + 0.4 = 0.6 against 0.1 + 0.8 = 0.9
    close(m.stp, 0.6)
    close(m.stpVsBaseline, 0.6 / 0.9)
    assert.ok((m.stpVsBaseline ?? 1) < 1)
    assert.equal(m.worstWorker, 'heavy')
    close(m.worstVsBaseline, 0.5)
    close(m.totalRps, 240)
    close(m.totalRpsVsBaseline, 240 / 180)
    // ANTT: latency / solo latency = solo / rate: (5 + 2.5) / 2 vs (10 + 1.25) / 2
    close(m.antt, 3.75)
    close(m.anttVsBaseline, 3.75 / 5.625)
    close(m.jain, jain([0.2, 0.4]) ?? 0)
    assert.equal(m.soloFrom, 'solo runs')
    // no areas: no bound
    assert.equal(m.stpBound, null)
    assert.equal(m.stpVsBound, null)
  })

  it("Jain's index: 1 for equal shares, 1/n when one worker gets everything", () => {
    const m = systemMetrics([worker('a', 30, null, 60), worker('b', 5, null, 10)], null, 132)
    close(m?.jain, 1)
    close(jain([1, 0]), 0.5)
    // without a baseline the ratios are null, STP is still defined
    close(m?.stp, 1)
    assert.equal(m?.stpVsBaseline, null)
    assert.equal(m?.worstWorker, null)
  })

  it('ANTT is the mean slowdown vs solo', () => {
    close(antt([2000, 500], [1000, 500]), 1.5)
    assert.throws(() => antt([1], [0]), /solo latency/)
  })

  it('names the worst worker against baseline', () => {
    assert.deepEqual(worstWorker(['a', 'b', 'c'], [90, 50, 30], [100, 50, 40]), { worker: 'c', ratio: 0.75 })
    assert.equal(worstWorker(['a'], [1], [null]), null)
  })

  it('without a solo reference for every worker there are no system metrics', () => {
    const w = { ...worker('a', 1, 1, 1), solo: null }
    assert.equal(systemMetrics([w], null, 132), null)
  })
})

describe('STP bound', () => {
  it('fills the cheapest workers first on a two-worker toy', () => {
    // worker a needs 1,000 req/s × 50,000 SM·µs = 50 SMs at its solo rate, b 100 × 800,000 = 80 SMs
    const b100 = stpBound([1000, 100], [50_000, 800_000], 100)
    // a fits whole (50 SMs), b gets the 50 left of its 80: x = 0.625
    close(b100.stp, 1.625)
    close(b100.shares[0], 1)
    close(b100.shares[1], 0.625)
    // on 132 SMs both fit: the bound is the number of workers
    close(stpBound([1000, 100], [50_000, 800_000], 132).stp, 2)
    // the order of the workers does not matter
    close(stpBound([100, 1000], [800_000, 50_000], 100).stp, 1.625)
  })

  it('is the LP optimum: no feasible share vector does better', () => {
    const solo = [300, 40, 900]
    const area = [200_000, 2_000_000, 90_000]
    const sms = 132
    const bound = stpBound(solo, area, sms).stp
    const cost = solo.map((s, i) => (s * (area[i] as number)) / 1e6)
    for (let i = 0; i <= 20; i++)
      for (let j = 0; j <= 20; j++)
        for (let k = 0; k <= 20; k++) {
          const x = [i / 20, j / 20, k / 20]
          const used = x.reduce((a, v, n) => a + v * (cost[n] as number), 0)
          if (used <= sms + 1e-9) assert.ok(i / 20 + j / 20 + k / 20 <= bound + 1e-9)
        }
  })

  it('with floors: the LP optimum among share vectors that keep every floor', () => {
    const solo = [300, 40, 900]
    const area = [200_000, 2_000_000, 90_000]
    const sms = 132
    // without floors the optimum gives the dearest worker (c: 81 SMs at its solo rate) nothing
    assert.equal(stpBound(solo, area, sms).shares[2], 0)
    const floors = [0.2, 0.3, 0.1]
    const b = stpBound(solo, area, sms, floors)
    assert.ok(b)
    for (const [i, x] of b.shares.entries()) assert.ok(x >= (floors[i] as number) - 1e-12 && x <= 1 + 1e-12)
    const cost = solo.map((s, i) => (s * (area[i] as number)) / 1e6)
    close(
      b.shares.reduce((a, x, i) => a + x * (cost[i] as number), 0),
      sms,
    )
    for (let i = 0; i <= 20; i++)
      for (let j = 0; j <= 20; j++)
        for (let k = 0; k <= 20; k++) {
          const x = [i / 20, j / 20, k / 20]
          if (x.some((v, n) => v < (floors[n] as number))) continue
          const used = x.reduce((a, v, n) => a + v * (cost[n] as number), 0)
          if (used <= sms + 1e-9) assert.ok(i / 20 + j / 20 + k / 20 <= b.stp + 1e-9)
        }
    // it is never above the plain bound, and floors of 0 give the plain bound
    assert.ok(b.stp <= stpBound(solo, area, sms).stp + 1e-12)
    close(stpBound(solo, area, sms, [0, 0, 0])?.stp, stpBound(solo, area, sms).stp)
    // floors whose SM-time alone exceeds the SMs: no floored bound; a floor above 1 counts as 1
    assert.equal(stpBound(solo, area, sms, [1, 1, 1]), null)
    close(stpBound([1000], [50_000], 132, [2])?.stp, 1)
    assert.throws(() => stpBound(solo, area, sms, [0.1]), /floors/)
    assert.throws(() => stpBound(solo, area, sms, [0.1, -1, 0]), /floor -1/)
  })

  it('with caps: each worker at most its cap, still the LP optimum', () => {
    const solo = [300, 40, 900]
    const area = [200_000, 2_000_000, 90_000]
    const sms = 132
    const caps = [0.7, 0.9, 0.8]
    const b = stpBound(solo, area, sms, undefined, caps)
    assert.ok(b)
    for (const [i, x] of b.shares.entries()) assert.ok(x >= 0 && x <= (caps[i] as number) + 1e-12)
    const cost = solo.map((s, i) => (s * (area[i] as number)) / 1e6)
    for (let i = 0; i <= 20; i++)
      for (let j = 0; j <= 20; j++)
        for (let k = 0; k <= 20; k++) {
          const x = [i / 20, j / 20, k / 20]
          if (x.some((v, n) => v > (caps[n] as number) + 1e-12)) continue
          const used = x.reduce((a, v, n) => a + v * (cost[n] as number), 0)
          if (used <= sms + 1e-9) assert.ok(i / 20 + j / 20 + k / 20 <= b.stp + 1e-9)
        }
    // where the SMs hold every worker's solo SM-time the capped bound is the sum of the caps
    close(stpBound([1000, 100], [50_000, 800_000], 132, undefined, [0.8, 0.75])?.stp, 1.55)
    // caps of 1 give the plain bound; a floor above its cap leaves no share vector
    close(stpBound(solo, area, sms, undefined, [1, 1, 1])?.stp, stpBound(solo, area, sms).stp)
    assert.equal(stpBound(solo, area, sms, [0.5, 0, 0], [0.4, 1, 1]), null)
    assert.throws(() => stpBound(solo, area, sms, undefined, [0.5]), /caps/)
  })

  it('the floored bound of a run: every worker at ≥ 0.9 of its rate under the baseline run', () => {
    // a: 50 SMs at its solo rate, b: 200 SMs; baseline ran a at 0.5 and b at 0.3 of solo
    const base = [worker('a', 500, 500, 1000, 50_000), worker('b', 30, 30, 100, 2_000_000)]
    const plan = [worker('a', 1000, 500, 1000, 50_000), worker('b', 27, 30, 100, 2_000_000)]
    const m = systemMetrics(plan, base, 132)
    // plain: a whole (50 SMs), b the 82 left of 200 → 1.41; floored: b ≥ 0.27 (54 SMs), a whole (50), b +28/200
    close(m?.stpBound, 1 + 82 / 200)
    close(m?.stpBoundFloored, 1 + 0.27 + 28 / 200)
    close(m?.stpVsBoundFloored, (1 + 0.27) / (1 + 0.27 + 28 / 200))
    // without a baseline run there is no floor to keep
    assert.equal(systemMetrics(plan, null, 132)?.stpBoundFloored, null)
  })

  it('says when a run lands above it', () => {
    const run = [worker('a', 1000, 1000, 1000, 100_000), worker('b', 100, 100, 100, 1_000_000)]
    // costs 100 + 100 SMs on 132: bound 1 + 32/100
    const m = systemMetrics(run, run, 132)
    close(m?.stpBound, 1.32)
    close(m?.stpVsBound, 2 / 1.32)
    assert.ok((m?.stpVsBound ?? 0) > 1)
    assert.throws(() => stpBound([1], [1], 0), /smCount/)
  })
})

describe('system metrics in normalise', () => {
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

  it('uses the solo runs where made and the profile otherwise, and says which', () => {
    const base = mk('baseline', [ALL], [0, 0])
    const mw = mk('model-wise', [LOW, HIGH], [0, 1])
    const s = solo()
    // each worker carries its profile's whole-GPU latency and right-sized area
    close(mw.workers[0]?.fullGpuUs, a.requestUs[a.requestUs.length - 1] as number)
    assert.ok((mw.workers[0]?.packedAreaSmUs ?? 0) > 0)
    normalise([base, mw, s])
    const m = mw.metrics.system
    assert.ok(m)
    assert.equal(m.soloFrom, 'solo runs')
    const soloRps = s.workers[0]?.throughputRps ?? 0
    close(
      m.stp,
      mw.workers.reduce((x, w) => x + w.throughputRps / soloRps, 0),
    )
    close(m.stpVsBaseline, m.stp / base.workers.reduce((x, w) => x + w.throughputRps / soloRps, 0))
    close(m.meanVsBaseline, mw.metrics.throughputVsBaseline ?? 0)
    close(base.metrics.system?.stpVsBaseline, 1)
    close(base.metrics.system?.worstVsBaseline, 1)
    assert.ok(m.stpBound !== null && m.stpBound > 0)
    close(m.stpVsBound, m.stp / m.stpBound)
    assert.equal(s.metrics.system, undefined)

    // no solo run: the profile's whole-GPU request latency
    const base2 = mk('baseline', [ALL], [0, 0])
    const mw2 = mk('model-wise', [LOW, HIGH], [0, 1])
    normalise([base2, mw2])
    const full = a.requestUs[a.requestUs.length - 1] as number
    assert.equal(mw2.metrics.system?.soloFrom, 'profiles')
    close(
      mw2.metrics.system?.stp,
      mw2.workers.reduce((x, w) => x + (w.throughputRps * full) / 1e6, 0),
    )
    const tables = systemTables([base2, mw2])
    assert.match(tables, /STP.*profiles/)
    // the system's requests/J against baseline's, the run's own ratio in its cell
    const at = tables.indexOf('Requests/J (total requests')
    const rpj = tables.slice(at, tables.indexOf('\n\n', at))
    assert.match(
      rpj,
      new RegExp(`\\n${mw2.mix} +1\\.00 +${(mw2.metrics.requestsPerJVsBaseline ?? 0).toFixed(2)}\\n`),
    )
    // the floored bound, the same for both runs of the mix (baseline's rates set the floors), and each run against it
    const fl = mw2.metrics.system?.stpBoundFloored
    assert.ok(fl && fl > 0 && fl <= (mw2.metrics.system?.stpBound ?? 0) + 1e-12)
    close(base2.metrics.system?.stpBoundFloored, fl)
    const floored = tables.slice(tables.indexOf('the floored bound'))
    assert.match(
      floored,
      new RegExp(
        `\\n${mw2.mix} +${(mw2.metrics.system?.stpBound ?? 0).toFixed(2)} +${fl.toFixed(2)} +${(base2.metrics.system?.stpVsBoundFloored ?? 0).toFixed(2)}!? +${(mw2.metrics.system?.stpVsBoundFloored ?? 0).toFixed(2)}`,
      ),
    )
  })
})

describe('system metrics of served runs', () => {
  const served = (policy: 'baseline' | 'eclip', rps: [number, number]) => servedRun(policy, rps)

  it("takes each worker's solo rate from its profile and reports STP beside the per-worker mean", () => {
    const base = served('baseline', [400, 400])
    const ec = served('eclip', [800, 100])
    normaliseServeRuns([base, ec])
    const m = ec.metrics.system
    assert.ok(m)
    assert.equal(m.soloFrom, 'profiles')
    // 0.8 + 0.1 against 0.4 + 0.4; the mean of ratios (2 and 0.25) says 1.125
    close(m.stpVsBaseline, 0.9 / 0.8)
    close(m.meanVsBaseline, 1.125)
    close(m.worstVsBaseline, 0.25)
    assert.equal(m.worstWorker, 'w#1')
    // both fit in 132 SMs: bound 2
    close(m.stpBound, 2)
    const { tables } = serveReport([base, ec], 'SIMULATED')
    assert.match(tables, /System throughput STP/)
    assert.match(tables, /0\.25 w#1/)
  })

  it("requests/J is total requests ÷ energy against baseline's, beside the per-worker mean", () => {
    // a light model (1,000 req/s under baseline) loses a tenth, a heavy one (10) doubles, at the same power
    const base = served('baseline', [1000, 10])
    const ec = served('eclip', [900, 20])
    for (const r of [base, ec]) {
      r.metrics.requests = r.workers.reduce((a, w) => a + w.requests, 0)
      r.metrics.energyJ = 2000
      r.metrics.meanPowerW = 200
      r.metrics.requestsPerJ = r.metrics.requests / 2000
    }
    normaliseServeRuns([base, ec])
    assert.equal(base.metrics.requestsPerJVsBaseline, 1)
    // 920 against 1,010 requests a second for the same joules; the mean of per-worker ratios (0.9, 2) says 1.45
    close(ec.metrics.requestsPerJVsBaseline ?? null, 920 / 1010)
    close(ec.metrics.energyEffVsBaseline, 1.45)
    const { tables } = serveReport([base, ec], 'SIMULATED')
    assert.match(
      tables,
      /Requests\/J \(total requests ÷ the window's energy\) ÷ baseline's[^\n]*\n[^\n]*\nm +1\.00 +0\.91\n/,
    )
  })
})

describe('ratios to baseline (baselineRatios)', () => {
  const run = (
    power: number | null,
    reqPerJ: number | null,
    ...ws: [string, number, number][]
  ): RatioRun => ({
    workers: ws.map(([name, rps, p95]) => ({
      name,
      throughputRps: rps,
      latencyUs: { p95 },
      normVsBaseline: null,
      p95VsBaseline: null,
    })),
    metrics: { meanPowerW: power, requestsPerJ: reqPerJ },
  })

  it("writes each worker's ratios and takes their means, the paper's energy efficiency and the system's requests/J", () => {
    const r = run(200, 3, ['a', 120, 90], ['b', 40, 300])
    const m = baselineRatios(r, run(250, 2, ['a', 100, 100], ['b', 50, 200]))
    close(r.workers[0]?.normVsBaseline, 1.2)
    close(r.workers[1]?.p95VsBaseline, 1.5)
    close(m.throughputVsBaseline, 1)
    close(m.p95VsBaseline, 1.2)
    close(m.energyEffVsBaseline, 1.25) // (1.2 + 0.8) / 2 × 250 W / 200 W
    close(m.requestsPerJVsBaseline, 1.5)
  })

  it('leaves a mean null where a worker has no ratio, and the energy ratio where either run has no power', () => {
    const r = run(200, 3, ['a', 120, 90], ['c', 40, 300])
    const m = baselineRatios(r, run(250, 2, ['a', 100, 100], ['b', 50, 200]))
    assert.equal(r.workers[1]?.normVsBaseline, null)
    assert.deepEqual([m.throughputVsBaseline, m.p95VsBaseline, m.energyEffVsBaseline], [null, null, null])
    close(m.requestsPerJVsBaseline, 1.5)
    for (const [p, bp] of [
      [0, 250],
      [200, 0],
      [null, 250],
      [-5, 250],
    ] as const)
      assert.equal(baselineRatios(run(p, 3, ['a', 1, 1]), run(bp, 2, ['a', 1, 1])).energyEffVsBaseline, null)
    const none = baselineRatios(run(200, 3), run(250, 2))
    assert.deepEqual([none.throughputVsBaseline, none.energyEffVsBaseline], [null, null])
    assert.deepEqual(baselineRatios(r, null), {
      throughputVsBaseline: null,
      p95VsBaseline: null,
      energyEffVsBaseline: null,
      requestsPerJVsBaseline: null,
    })
  })
})
