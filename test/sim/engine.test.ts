import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { interferenceShare, SliceSharing } from '../../src/execute/sim/contention.ts'
import { EventHeap } from '../../src/execute/sim/heap.ts'
import { CALIBRATION, simulate } from '../../src/execute/sim/index.ts'
import { clientRateAt, mpsView } from '../../src/execute/sim/mps.ts'
import { arrivalRecord, type WorkerSpec } from '../../src/formats/index.ts'
import { ALL, gpu, latencies, planOf, primitives, profileOf, scaling, specOf } from './fixtures.ts'

const close = (a: number, b: number, tol = 1e-6) =>
  assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${a} ≠ ${b}`)
const flat = (us: number) => () => us
/** One open-loop worker of model 'a' with uniform arrivals at `rate` per s, and the loop that replays them. */
function uniformWorker(rate: number) {
  const w: WorkerSpec = {
    name: 'a#0',
    model: 'a',
    batch: 1,
    dtype: 'fp16',
    arrival: { kind: 'uniform', rate },
  }
  return { w, loop: { kind: 'arrivals' as const, sources: [arrivalRecord(w.arrival)] } }
}
/** Baseline's placement of two one-kernel workers that want all 132 SMs: A's kernel takes 1000 µs alone, B's 100 µs. */
function twoOnTheWholeGpu() {
  const a = profileOf('a', [scaling(1000)])
  const b = profileOf('b', [scaling(100)])
  const plan = planOf(
    'baseline',
    [ALL],
    [
      { profile: a, groups: [[0, 0, 0]] },
      { profile: b, groups: [[0, 0, 0]] },
    ],
  )
  return specOf(plan, [a, b], { windowS: 0.05 })
}
const LOW = [0, 1, 2, 3, 4, 5, 6, 7] // 64 SMs
const HIGH = [8, 9, 10, 11, 12, 13, 14, 15] // 56 + 12 = 68 SMs

describe('event heap', () => {
  it('pops in time order, ties first-in first-out', () => {
    const h = new EventHeap()
    const times = [5, 1, 3, 1, 9, 0, 3, 7, 2, 8, 1]
    for (const [i, t] of times.entries()) h.push(t, i)
    const out: [number, number][] = []
    while (h.size > 0) {
      const t = h.peekTime()
      out.push([t, h.pop()])
    }
    const want = times.map((t, i) => [t, i] as [number, number]).sort((a, b) => a[0] - b[0] || a[1] - b[1])
    assert.deepEqual(out, want)
    assert.equal(h.peekTime(), Number.POSITIVE_INFINITY)
  })
})

describe('slice sharing', () => {
  const sms = gpu.slices.map((s) => s.sms)
  const run = (masks: number[], demands: number[], sharing: 'fair' | 'fifo' = 'fair', nHigh = 0) => {
    const n = masks.length
    const s = new SliceSharing(sms, n, sharing)
    const x = new Float64Array(n)
    const partSms = masks.map((m) => sms.reduce((a, v, i) => a + ((m >> i) & 1 ? v : 0), 0))
    const overlap = s.allocate(
      Int32Array.from(masks.keys()),
      n,
      Int32Array.from(masks),
      Float64Array.from(partSms),
      Float64Array.from(demands),
      x,
      nHigh,
    )
    return { x: [...x], overlap }
  }
  const maskOf = (slices: number[]) => slices.reduce((m, s) => m | (1 << s), 0)

  it('gives disjoint partitions their whole partition', () => {
    assert.deepEqual(run([maskOf(LOW), maskOf(HIGH)], [64, 8]), { x: [64, 68], overlap: false })
  })
  it('splits shared slices evenly between kernels that want them', () => {
    const r = run([maskOf([0, 1, 2, 3]), maskOf([2, 3, 4, 5])], [32, 32])
    assert.deepEqual(r, { x: [24, 24], overlap: true })
  })
  it('hands a small kernel’s surplus back slice by slice when partitions differ', () => {
    // A (whole GPU, demand 8) overlaps B (low 64 SMs) and C (high 68 SMs): first round A gets 32 + 34 = 66, keeps 8,
    // and returns 58 in proportion 32:34 to the low and high slices, which B and C then get alone
    const r = run([maskOf(ALL), maskOf(LOW), maskOf(HIGH)], [8, 64, 68])
    close(r.x[0] as number, 8)
    close(r.x[1] as number, 32 + (58 * 32) / 66)
    close(r.x[2] as number, 34 + (58 * 34) / 66)
    close(
      r.x.reduce((a, b) => a + b, 0),
      132,
    )
  })
  it('first come first served: earlier kernels take their demand, preferring slices later ones cannot use', () => {
    // A (whole GPU) started first and wants 64 SMs: it takes them from the high slices, which B cannot use
    assert.deepEqual(run([maskOf(ALL), maskOf(LOW)], [64, 64], 'fifo').x, [64, 64])
    // A wants everything: B, started later on the same slices, waits
    assert.deepEqual(run([maskOf(ALL), maskOf(LOW)], [132, 64], 'fifo').x, [132, 0])
    // a small kernel first leaves the rest to a big one
    assert.deepEqual(run([maskOf(ALL), maskOf(ALL)], [8, 132], 'fifo').x, [8, 124])
  })
  it('high-priority kernels (the first nHigh) take their demand first, under either rule', () => {
    // fifo: the high kernel is first in the list, so it comes first as any earlier kernel would
    assert.deepEqual(run([maskOf(ALL), maskOf(ALL)], [100, 132], 'fifo', 1).x, [100, 32])
    // fair: without priority 66 each; with it the high kernel takes its 100, the other gets what is left
    assert.deepEqual(run([maskOf(ALL), maskOf(ALL)], [100, 132], 'fair').x, [66, 66])
    assert.deepEqual(
      run([maskOf(ALL), maskOf(ALL), maskOf(ALL)], [100, 132, 132], 'fair', 1).x,
      [100, 16, 16],
    )
    // a high kernel on part of the GPU leaves the others its slices' rest and the slices it cannot use
    const r = run([maskOf(LOW), maskOf(ALL)], [64, 132], 'fair', 1)
    assert.deepEqual(r.x, [64, 68])
  })
  it('hands a small kernel’s surplus to the others (max-min fair)', () => {
    const r = run([maskOf(ALL), maskOf(ALL), maskOf(ALL)], [8, 132, 132])
    close(r.x[0] as number, 8)
    close(r.x[1] as number, 62)
    close(r.x[2] as number, 62)
  })
})

describe('simulator', () => {
  it('replays a solo request: launch + kernels + gaps', () => {
    const p = profileOf('a', [flat(10), flat(10), flat(10)], 2)
    const plan = planOf('baseline', [ALL], [{ profile: p, groups: [[0, 2, 0]] }])
    const r = simulate(specOf(plan, [p], { prim: primitives({ launch: 5 }) }))
    const lat = latencies(r, 0)
    assert.ok(lat.length > 200)
    for (const l of lat) close(l, 5 + 30 + 2 * 2)
    // every completed request ran its 3 kernels; the one cut by the window's end ran 0–2
    assert.ok(r.stats.kernels >= lat.length * 3 && r.stats.kernels < lat.length * 3 + 3)
  })

  it("runs an MPS worker's requests 1 ÷ the calibration's MPS client rate as long, and no other policy's", () => {
    const p = profileOf('a', [flat(10), flat(10), flat(10)], 2)
    const groups: [number, number, number][] = [[0, 2, 0]]
    const prim = primitives({ launch: 5 })
    const base = planOf('baseline', [ALL], [{ profile: p, groups }])
    const calibration = { ...CALIBRATION, mpsClientRate: { 1: 0.8, 8: 0.9 } } // the fixture's batch is 1
    for (const policy of ['mps', 'mps-unlimited'] as const) {
      const mps = planOf(policy, [ALL], [{ profile: p, groups }])
      const plain = simulate(specOf(mps, [p], { prim }))
      // the launch, three 10-µs kernels and two 2-µs gaps
      for (const l of latencies(plain, 0)) close(l, 39)
      assert.ok(plain.notes.some((n) => /not calibrated: what running as its own MPS client costs/.test(n)))
      const slowed = simulate(specOf(mps, [p], { prim }), { calibration })
      for (const l of latencies(slowed, 0)) close(l, 39 / 0.8)
      assert.ok(slowed.notes.some((n) => /what an MPS client costs, as measured \(rate 0\.800\)/.test(n)))
    }
    for (const l of latencies(simulate(specOf(base, [p], { prim }), { calibration }), 0)) close(l, 39)
  })

  it("takes each MPS worker's client rate at its batch, else the nearest batch measured", () => {
    const rates = { 1: 0.95, 8: 0.97 }
    assert.equal(clientRateAt(rates, 1), 0.95)
    assert.equal(clientRateAt(rates, 2), 0.95)
    assert.equal(clientRateAt(rates, 4), 0.97) // on a log scale 4 lies nearer 8 than 1
    assert.equal(clientRateAt(rates, 32), 0.97)
    assert.equal(clientRateAt({ 2: 0.9, 8: 0.8 }, 4), 0.9) // a tie: the smaller batch's
    assert.equal(clientRateAt(undefined, 8), 1)
    const p = profileOf('a', [flat(10)])
    const plan = planOf(
      'mps',
      [ALL],
      [0, 1, 2].map(() => ({ profile: p, groups: [[0, 0, 0]] as [number, number, number][] })),
    )
    plan.workers.forEach((w, i) => {
      w.batch = [1, 4, 8][i] as number
    })
    const view = mpsView(
      plan,
      gpu.slices.map((s) => s.sms),
      rates,
    )
    assert.deepEqual(view?.clientRate, [0.95, 0.97, 0.97])
    assert.match(view?.note ?? '', /rate 0\.950, 0\.970\)/)
    assert.equal(
      mpsView(
        { ...plan, policy: 'model-wise' },
        gpu.slices.map((s) => s.sms),
        rates,
      ),
      null,
    )
  })

  it('scales kernel times down where they add up to more than the measured request', () => {
    // two 10-µs kernels, but the request was measured at 15 µs (they overlap inside the graph)
    const p = profileOf('a', [flat(10), flat(10)], -2.5)
    const plan = planOf('baseline', [ALL], [{ profile: p, groups: [[0, 1, 0]] }])
    const r = simulate(specOf(plan, [p]))
    for (const l of latencies(r, 0)) close(l, 15)
    assert.ok(r.notes.some((n) => /scaled by 0\.75/.test(n)))
  })

  it('runs workers on disjoint partitions as fast as alone', () => {
    const a = profileOf('a', [scaling(10), scaling(20)])
    const b = profileOf('b', [scaling(30)])
    const both = planOf(
      'model-wise',
      [LOW, HIGH],
      [
        { profile: a, groups: [[0, 1, 0]] },
        { profile: b, groups: [[0, 0, 1]] },
      ],
    )
    const r = simulate(specOf(both, [a, b]))
    for (const l of latencies(r, 0)) close(l, (30 * 132) / 64)
    for (const l of latencies(r, 1)) close(l, (30 * 132) / 68)
  })

  it('traces each kernel: ready, first SMs and end, a kernel waiting for SMs from its readiness to its first SMs', () => {
    // fifo on the whole GPU: A's 1000-µs kernel and B's 100-µs one take turns, so each waits for the other's
    const spec = twoOnTheWholeGpu()
    const seen: [number, number, number, number, number][] = []
    const r = simulate(spec, {
      calibration: { ...CALIBRATION, sharing: 'fifo' },
      kernelTrace: (w, k, ready, began, end) => seen.push([w, k, ready, began, end]),
    })
    assert.equal(seen.length, r.stats.kernels)
    for (const [, k, ready, began, end] of seen) {
      assert.equal(k, 0)
      assert.ok(ready <= began && began < end, `${ready} ≤ ${began} < ${end}`)
    }
    // past the first turn every kernel waits the other's whole kernel, then runs alone for its own time
    for (const [w, , ready, began, end] of seen.slice(4)) {
      close(began - ready, w === 0 ? 100 : 1000)
      close(end - began, w === 0 ? 1000 : 100)
    }
    // the hook does not change the run
    const plain = simulate(spec, { calibration: { ...CALIBRATION, sharing: 'fifo' } })
    for (const w of [0, 1]) assert.deepEqual(latencies(plain, w), latencies(r, w))
  })

  it('shares the whole GPU first-come-first-served (fifo, with or without block residency) or evenly (fair)', () => {
    // both kernels want all 132 SMs; A's takes 1000 µs alone, B's 100 µs
    const spec = twoOnTheWholeGpu()
    // fifo: the kernels take turns, each request waits for the other worker's kernel: 1100 µs for both
    const fifo = simulate(spec, { calibration: { ...CALIBRATION, sharing: 'fifo' } })
    for (const w of [0, 1]) for (const l of latencies(fifo, w).slice(2)) close(l, 1100)
    // fair: A always shares with B, so both run at half speed: 2000 µs and 200 µs
    const fair = simulate(spec, { calibration: { ...CALIBRATION, sharing: 'fair' } })
    for (const l of latencies(fair, 0).slice(2)) close(l, 2000)
    for (const l of latencies(fair, 1).slice(2)) close(l, 200)
    // block residency (fifo): the fixtures' kernels have one block of 128 threads, 1/16 of an SM's thread slots; × ρ 4
    // they hold a quarter of the SMs and run side by side; × ρ 16 they hold them whole and take turns, as without ρ
    const side = simulate(spec, { calibration: { ...CALIBRATION, sharing: 'fifo', residency: 4 } })
    for (const l of latencies(side, 0).slice(2)) close(l, 1000)
    for (const l of latencies(side, 1).slice(2)) close(l, 100)
    const whole = simulate(spec, { calibration: { ...CALIBRATION, sharing: 'fifo', residency: 16 } })
    for (const w of [0, 1]) for (const l of latencies(whole, w).slice(2)) close(l, 1100)
  })

  it('with a footprint, a kernel holds the SMs its blocks fill, beyond its demand, unless a partition confines it', () => {
    // one kernel as fast on 64 SMs as on 132, with 2048 blocks of 128 threads: they fill 128 SMs' thread slots (× ρ_f)
    const a = profileOf('a', [scaling(1000, 64)])
    ;(a.kernels[0] as { grid: [number, number, number] }).grid = [2048, 1, 1]
    const on = (pool: number[][], parts: [number, number]) =>
      specOf(
        planOf(
          'baseline',
          pool,
          parts.map((p) => ({ profile: a, groups: [[0, 0, p] as [number, number, number]] })),
        ),
        [a, a],
        { windowS: 0.05 },
      )
    const lat = (spec: ReturnType<typeof on>, footprint?: number) => {
      const r = simulate(spec, {
        calibration: { ...CALIBRATION, sharing: 'fifo', ...(footprint ? { footprint } : {}) },
      })
      return [0, 1].flatMap((w) => latencies(r, w).slice(2))
    }
    const whole = on([ALL], [0, 0])
    // by demand alone the two kernels fit side by side on the whole GPU: each at full speed
    for (const l of lat(whole)) close(l, 1000)
    // by footprint the first holds all 132 SMs: they take turns
    for (const l of lat(whole, 2)) close(l, 2000)
    for (const l of lat(whole, 0.5)) close(l, 1000) // 32 SMs' worth of blocks: its demand of 64 is what it takes
    // on disjoint partitions of 64 and 68 SMs the footprint is confined: side by side again
    for (const l of lat(on([LOW, HIGH], [0, 1]), 2)) close(l, 1000)
  })

  it("charges the calibration's graph edge for a switch in graph mode, else the primitives'", () => {
    const a = profileOf('a', [scaling(100), scaling(100)])
    // two groups (on the same partition, so only the edge costs): 100 + edge + 100 µs
    const plan = planOf(
      'eclip',
      [ALL],
      [
        {
          profile: a,
          groups: [
            [0, 0, 0],
            [1, 1, 0],
          ],
        },
      ],
    )
    const spec = specOf(plan, [a], { windowS: 0.02, mode: 'graph' })
    const withPrims = {
      ...spec,
      primitives: { ...spec.primitives, switchGraphEdge: { medianUs: 2, p95Us: 2, samples: 1 } },
    }
    const at = (cal: typeof CALIBRATION) => latencies(simulate(withPrims, { calibration: cal }), 0).slice(2)
    for (const l of at(CALIBRATION)) close(l, 202)
    for (const l of at({ ...CALIBRATION, switchGraphEdgeUs: 7 })) close(l, 207)
  })

  it('halves the speed of two saturating kernels sharing the whole GPU', () => {
    const a = profileOf('a', [scaling(1000)])
    const plan = planOf(
      'baseline',
      [ALL],
      [
        { profile: a, groups: [[0, 0, 0]] },
        { profile: a, groups: [[0, 0, 0]] },
      ],
    )
    const r = simulate(specOf(plan, [a, a], { windowS: 0.05 }), {
      calibration: { ...CALIBRATION, sharing: 'fair' },
    })
    for (const w of [0, 1]) {
      const lat = latencies(r, w).slice(2)
      assert.ok(lat.length > 15)
      for (const l of lat) close(l, 2000, 1e-9)
    }
  })

  it('lets a kernel with a small grid leave the rest of the GPU to its neighbour', () => {
    const small = profileOf('small', [(s) => (s >= 8 ? 1000 : 2000)])
    const big = profileOf('big', [scaling(1000)])
    const plan = planOf(
      'baseline',
      [ALL],
      [
        { profile: small, groups: [[0, 0, 0]] },
        { profile: big, groups: [[0, 0, 0]] },
      ],
    )
    const r = simulate(specOf(plan, [small, big], { windowS: 0.05 }), {
      calibration: { ...CALIBRATION, sharing: 'fair' },
    })
    for (const l of latencies(r, 0).slice(2)) close(l, 1000)
    // the big kernel's profile is linear in SMs, so at 124 SMs it takes 1000·132/124 µs
    for (const l of latencies(r, 1).slice(2)) close(l, (1000 * 132) / 124)
  })

  it("real-time: a high-priority kernel waits the drain for best-effort SMs; an idle worker's request the issue delay", () => {
    // a best-effort closed loop always holds its SMs (1000-µs kernels wanting them all); the real-time worker's
    // 100-µs kernel arrives every 2 ms (uniform), at high priority
    const be = profileOf('be', [scaling(1000)])
    const rt = profileOf('rt', [scaling(100)])
    const workers: WorkerSpec[] = [
      {
        name: 'rt#0',
        model: 'rt',
        batch: 1,
        dtype: 'fp16',
        priority: 'realtime',
        sloMs: 10,
        arrival: { kind: 'uniform', rate: 500 },
      },
      { name: 'be#1', model: 'be', batch: 1, dtype: 'fp16', priority: 'best-effort' },
    ]
    const loop = { kind: 'arrivals' as const, sources: workers.map((w) => arrivalRecord(w.arrival)) }
    const rtMean = (bePartition: number[], c: { drain: number; issue: number }) => {
      const plan = planOf(
        'eclip-rt',
        [ALL, bePartition],
        [
          { profile: rt, groups: [[0, 0, 0]] },
          { profile: be, groups: [[0, 0, 1]] },
        ],
      )
      ;(plan.workers[0] as (typeof plan.workers)[number]).streamPriority = 'high'
      const spec = { ...specOf(plan, [rt, be], { loop, windowS: 0.05, warmupS: 0.005 }), workers }
      const r = simulate(spec, {
        calibration: { ...CALIBRATION, realtime: { priorityDrainUs: c.drain, openLoopIssueUs: c.issue } },
      })
      // the first arrives at 0, before the best-effort worker's first kernel
      const lat = latencies(r, 0).slice(1)
      assert.ok(lat.length >= 20 && (r.workers[1]?.endUs.length ?? 0) > 20)
      return lat
    }
    // no drain: its demand at once
    for (const l of rtMean(ALL, { drain: 0, issue: 0 })) close(l, 100)
    // a request whose drain a best-effort kernel's end cuts short (its SMs go to the earlier kernel) is faster: most
    // are not, and none is slower
    const drained = (lat: number[], us: number) => {
      const exact = lat.filter((l) => Math.abs(l - us) < 1e-6).length
      assert.ok(exact >= 0.8 * lat.length, `${exact} of ${lat.length} at ${us} µs: ${lat.join(', ')}`)
      for (const l of lat) assert.ok(l >= 100 - 1e-6 && l <= us + 1e-6, `${l} µs`)
    }
    // 20 µs of drain with every SM held: nothing for 20 µs, then all of them
    drained(rtMean(ALL, { drain: 20, issue: 0 }), 120)
    // slices 14–15 (20 SMs) kept from best-effort work: those at once, the rest after the drain
    drained(rtMean(ALL.slice(0, 14), { drain: 20, issue: 0 }), 20 + 100 * (1 - (20 * 20) / (132 * 100)))
    // the issue delay comes before the kernel, for every request of an idle open-loop worker
    for (const l of rtMean(ALL, { drain: 0, issue: 50 })) close(l, 150)
  })

  it('the issue delay: only for a request that finds its worker idle, never for a closed loop', () => {
    const a = profileOf('a', [flat(100)])
    const plan = planOf('baseline', [ALL], [{ profile: a, groups: [[0, 0, 0]] }])
    const cal = { ...CALIBRATION, realtime: { priorityDrainUs: 0, openLoopIssueUs: 50 } }
    const closed = simulate(specOf(plan, [a], { windowS: 0.01 }), { calibration: cal })
    for (const l of latencies(closed, 0)) close(l, 100)
    // a request every 50 µs: the first waits for the issue, the others queue behind it and go at once
    const { w, loop } = uniformWorker(20_000)
    const busy = simulate(
      { ...specOf(plan, [a], { loop, windowS: 0.01 }), workers: [w] },
      { calibration: cal },
    )
    const ends = busy.workers[0]?.endUs ?? []
    close(ends[0] as number, 150)
    for (let i = 1; i < ends.length; i++) close((ends[i] as number) - (ends[i - 1] as number), 100)
  })

  describe("the issue delay's jitter", () => {
    // one open-loop worker, a request every ms on a 100-µs kernel: every request finds it idle
    const a = profileOf('a', [flat(100)])
    const plan = planOf('baseline', [ALL], [{ profile: a, groups: [[0, 0, 0]] }])
    const { w, loop } = uniformWorker(1000)
    const run = (realtime: { openLoopIssueUs: number; openLoopIssueJitterUs?: number }, seed = 1) =>
      simulate(
        { ...specOf(plan, [a], { loop, windowS: 2, seed }), workers: [w] },
        { calibration: { ...CALIBRATION, realtime: { priorityDrainUs: 0, ...realtime } } },
      )
    const stats = (lat: number[]) => {
      const s = [...lat].sort((x, y) => x - y)
      const mean = lat.reduce((x, y) => x + y, 0) / lat.length
      return { mean, p99: s[Math.ceil(0.99 * s.length) - 1] as number, min: s[0] as number }
    }

    it('absent or 0: every request waits the fixed delay, as without the constant', () => {
      const none = run({ openLoopIssueUs: 50 })
      const { stats: _a, wallS: _b, ...r0 } = none
      const { stats: _c, wallS: _d, ...r1 } = run({ openLoopIssueUs: 50, openLoopIssueJitterUs: 0 })
      assert.deepEqual(r1, r0)
      for (const l of latencies(none, 0)) close(l, 150)
    })

    it("widens the tail with the constant, keeps the mean and the fixed part's floor", () => {
      const tails = [10, 20, 40].map((j) => {
        const s = stats(latencies(run({ openLoopIssueUs: 50, openLoopIssueJitterUs: j }), 0))
        // mean 150 µs give or take the draws' spread over ~2000 requests; nothing under the fixed part
        assert.ok(Math.abs(s.mean - 150) < 0.1 * j, `jitter ${j}: mean ${s.mean}`)
        assert.ok(s.min >= 150 - j - 1e-6, `jitter ${j}: min ${s.min}`)
        return s.p99 - s.mean
      })
      // an exponential's p99 is its mean × (ln 100 − 1) above its mean: the tail grows with the constant
      for (const [i, j] of [10, 20, 40].entries())
        assert.ok(Math.abs((tails[i] as number) / j - (Math.log(100) - 1)) < 0.5, `jitter ${j}: ${tails[i]}`)
      assert.ok((tails[0] as number) < (tails[1] as number) && (tails[1] as number) < (tails[2] as number))
    })

    it("is reproducible in the run's seed, and another seed draws differently", () => {
      const at = (seed: number) => latencies(run({ openLoopIssueUs: 50, openLoopIssueJitterUs: 20 }, seed), 0)
      assert.deepEqual(at(3), at(3))
      assert.notDeepEqual(at(3), at(4))
    })
  })

  it('charges switches: event wait in stream mode, nothing in graph mode, a partition per switch for kw-ioctl', () => {
    const p = profileOf('a', [flat(10), flat(10), flat(10), flat(10)])
    const groups: [number, number, number][] = [
      [0, 1, 0],
      [2, 3, 1],
    ]
    const prim = primitives({ launch: 3, wait: 1, create: 1800 })
    const stream = simulate(
      specOf(planOf('eclip', [LOW, HIGH], [{ profile: p, groups }]), [p], { prim, mode: 'stream' }),
    )
    const graph = simulate(
      specOf(planOf('eclip', [LOW, HIGH], [{ profile: p, groups }]), [p], { prim, mode: 'graph' }),
    )
    const ioctl = simulate(
      specOf(planOf('kw-ioctl', [LOW, HIGH], [{ profile: p, groups }], true), [p], {
        prim,
        mode: 'stream',
        windowS: 0.05,
      }),
    )
    for (const l of latencies(stream, 0)) close(l, 44)
    for (const l of latencies(graph, 0)) close(l, 43)
    for (const l of latencies(ioctl, 0)) close(l, 3 + 1800 + 3 + 20)
  })

  it('lets the host bound a stream-mode request that launches more groups than the GPU can keep up with', () => {
    // 10 groups of one 1-µs kernel, alternating partitions; 5 µs per graph launch, switches free
    const p = profileOf(
      'a',
      Array.from({ length: 10 }, () => flat(1)),
    )
    const groups = Array.from({ length: 10 }, (_, k) => [k, k, k % 2] as [number, number, number])
    const prim = primitives({ launch: 5, wait: 0 })
    const plan = planOf('kw-prealloc', [LOW, HIGH], [{ profile: p, groups }])
    // the host launches group g at 5·(g+1) µs; the last kernel runs 1 µs after its launch
    for (const l of latencies(simulate(specOf(plan, [p], { prim, mode: 'stream' })), 0)) close(l, 51)
    // graph mode: one launch, then ten kernels back to back
    for (const l of latencies(simulate(specOf(plan, [p], { prim, mode: 'graph' })), 0)) close(l, 15)
  })

  it('integrates energy: idle power plus the work of the requests completed (eclip.power/2)', () => {
    const a = profileOf('a', [scaling(1000)])
    const plan = planOf('baseline', [ALL], [{ profile: a, groups: [[0, 0, 0]] }])
    const r = simulate(specOf(plan, [a], { warmupS: 0.001, windowS: 0.01 }))
    // ten 1-ms requests in the window, each 132 SMs × 1 ms of work (it scales to the whole GPU):
    // (100 W + 4.5 W × 132) × 10 ms, the same as its busy SM-time here
    close(r.energyJ, (100 + 4.5 * 132) * 0.01, 1e-9)
    close(r.smBusyUs ?? 0, 132 * 10_000, 1e-9)
  })

  it('charges a request its right-size work, not the SMs it held; eclip.power/1 charges busy SMs', () => {
    // within 30% of its full-GPU time on 8 SMs, not within 1%: the contention model keeps it on all 132 SMs
    // (demand tolerance 1%), the work form counts 8 SMs × 1 ms per request
    const a = profileOf('a', [(s) => (s >= 132 ? 1000 : 1250)])
    const plan = planOf('baseline', [ALL], [{ profile: a, groups: [[0, 0, 0]] }])
    const spec = specOf(plan, [a], { warmupS: 0.001, windowS: 0.01 })
    const work = simulate({
      ...spec,
      power: { ...spec.power, format: 'eclip.power/2', idleW: 50, wPerWorkSm: 4, workTolerance: 0.3 },
    })
    close(work.energyJ, (50 * 10_000 + 4 * 8 * 1000 * 10) * 1e-6, 1e-9)
    const busy = simulate({
      ...spec,
      power: {
        format: 'eclip.power/1',
        gpu: spec.power.gpu,
        idleW: 50,
        wPerBusySm: 4,
        wPerMemGBs: 0,
        fitted: true,
        measured: spec.power.measured,
      },
    })
    close(busy.energyJ, (50 * 10_000 + 4 * (busy.smBusyUs ?? 0)) * 1e-6, 1e-9)
    assert.ok((busy.smBusyUs ?? 0) > 131 * 10_000, `busy ${busy.smBusyUs}`)
  })

  it('open loop: Poisson arrivals at the given rate, reproducible from the seed', () => {
    const a = profileOf('a', [flat(100)])
    const plan = planOf('baseline', [ALL], [{ profile: a, groups: [[0, 0, 0]] }])
    const spec = (seed: number) =>
      specOf(plan, [a], { loop: { kind: 'open', ratePerWorker: 2000 }, windowS: 2, seed })
    const r1 = simulate(spec(7))
    const r2 = simulate(spec(7))
    const r3 = simulate(spec(8))
    assert.deepEqual(r1.workers, r2.workers)
    assert.notDeepEqual(r1.workers[0]?.endUs, r3.workers[0]?.endUs)
    const n = r1.workers[0]?.endUs.length ?? 0
    assert.ok(n > 3700 && n < 4300, `${n} requests in 2 s at 2000/s`)
    const lat = latencies(r1, 0)
    assert.ok(Math.min(...lat) >= 100 - 1e-9)
    // utilisation 0.2: an M/D/1 queue waits ρ/(2(1−ρ))·S = 12.5 µs on average
    const mean = lat.reduce((x, y) => x + y, 0) / lat.length
    assert.ok(mean > 105 && mean < 120, `mean latency ${mean}`)
  })
})

describe("'coresident' sharing", () => {
  const sms = gpu.slices.map((s) => s.sms)
  const maskOf = (slices: number[]) => slices.reduce((m, s) => m | (1 << s), 0)
  /** SliceSharing's answer for kernels in this order: effective SMs and co-resident load of each. */
  const share = (masks: number[], demands: number[], occ: number[], caps?: number[]) => {
    const n = masks.length
    const s = new SliceSharing(sms, n, 'coresident')
    const x = new Float64Array(n)
    const load = new Float64Array(n)
    const partSms = caps ?? masks.map((m) => sms.reduce((a, v, i) => a + ((m >> i) & 1 ? v : 0), 0))
    s.allocate(
      Int32Array.from(masks.keys()),
      n,
      Int32Array.from(masks),
      Float64Array.from(partSms),
      Float64Array.from(demands),
      x,
      0,
      Float64Array.from(occ),
      Float64Array.from(demands.map((d, i) => d * (occ[i] as number))),
      load,
    )
    return { x: [...x], load: [...load] }
  }
  const all = maskOf(ALL)

  it('lets kernels whose blocks leave room share SMs, and keeps whole-SM kernels apart as fifo does', () => {
    // two kernels wanting all 132 SMs at a quarter of each SM's resources: both get them, each beside the other's
    const small = share([all, all], [132, 132], [0.25, 0.25])
    for (const v of small.x) close(v, 132)
    for (const v of small.load) close(v, 0.25)
    // at 3/4 the second finds a quarter of the capacity left: 33 SM-equivalents, 44 SMs at its occupancy
    const big = share([all, all], [132, 132], [0.75, 0.75])
    close(big.x[0] as number, 132)
    close(big.x[1] as number, 44)
    // the others' share is bounded by the room a kernel's own blocks leave on its SMs
    close(big.load[0] as number, 0.25)
    close(big.load[1] as number, 0.25)
    // whole-SM kernels: the first takes its demand, the second what is left, and neither shares an SM
    const whole = share([all, all], [100, 100], [1, 1])
    assert.deepEqual(whole.x, [100, 32])
    assert.deepEqual(whole.load, [0, 0])
    // disjoint partitions: each its own, no co-residency
    assert.deepEqual(share([maskOf(LOW), maskOf(HIGH)], [64, 68], [0.1, 0.1]), { x: [64, 68], load: [0, 0] })
    // MPS: on every slice, each capped at 66 SMs, at half of each SM: the other's 33 SM-equivalents fit on the 66
    // SMs a kernel leaves, so they need not share; capped at 100, 34 SMs are shared
    const mps = share([all, all], [66, 66], [0.5, 0.5], [66, 66])
    assert.deepEqual(mps, { x: [66, 66], load: [0, 0] })
    const over = share([all, all], [100, 100], [0.5, 0.5], [100, 100])
    for (const v of over.load) close(v, (50 - 32) / 100)
  })

  /** Two workers of one kernel each (1000 µs alone on all 132 SMs), both on the whole GPU. */
  const pair = (grid: number, threads: number, smemBytes: number) => {
    const a = profileOf('a', [scaling(1000)])
    const k = a.kernels[0] as { grid: number[]; block: number[]; sharedMemBytes: number }
    k.grid = [grid, 1, 1]
    k.block = [threads, 1, 1]
    k.sharedMemBytes = smemBytes
    const plan = planOf(
      'baseline',
      [ALL],
      [
        { profile: a, groups: [[0, 0, 0]] },
        { profile: a, groups: [[0, 0, 0]] },
      ],
    )
    return specOf(plan, [a, a], { windowS: 0.05 })
  }
  const lat = (spec: ReturnType<typeof pair>, coresidency = 0, footprint?: number) => {
    const r = simulate(spec, {
      calibration: {
        ...CALIBRATION,
        sharing: 'coresident',
        coresidency,
        ...(footprint ? { footprint } : {}),
      },
    })
    return [0, 1].flatMap((w) => latencies(r, w).slice(2))
  }

  it('runs two small kernels of different streams side by side on the same SMs', () => {
    // 132 blocks of 256 threads: an eighth of each SM's thread slots
    const spec = pair(132, 256, 0)
    for (const l of lat(spec)) close(l, 1000)
    // under fifo they take turns
    const fifo = simulate(spec, { calibration: { ...CALIBRATION, sharing: 'fifo' } })
    for (const w of [0, 1]) for (const l of latencies(fifo, w).slice(2)) close(l, 2000)
    // κ: each is slowed by 1 + κ √(the other's eighth of the SMs)
    for (const l of lat(spec, 0.4)) close(l, 1000 * (1 + 0.4 * Math.sqrt(1 / 8)))
  })

  it('keeps two big kernels apart: blocks that fill the SMs, by threads or by shared memory', () => {
    // 264 blocks of 1024 threads: two per SM fill its 2048 thread slots
    for (const l of lat(pair(264, 1024, 0), 0.4)) close(l, 2000)
    // 132 blocks of 128 threads, each with 200 KB of shared memory: one per SM leaves no room for the other's
    for (const l of lat(pair(132, 128, 200 * 1024), 0.4)) assert.ok(l > 1500, `${l}`)
    // the same blocks without shared memory co-reside
    for (const l of lat(pair(132, 128, 0))) close(l, 1000)
  })

  it('leaves disjoint partitions as fast as alone, whatever κ', () => {
    const a = profileOf('a', [scaling(1000, 64)])
    const plan = planOf(
      'model-wise',
      [LOW, HIGH],
      [
        { profile: a, groups: [[0, 0, 0]] },
        { profile: a, groups: [[0, 0, 1]] },
      ],
    )
    const r = simulate(specOf(plan, [a, a], { windowS: 0.05 }), {
      calibration: { ...CALIBRATION, sharing: 'coresident', coresidency: 1 },
    })
    for (const w of [0, 1]) for (const l of latencies(r, w).slice(2)) close(l, 1000)
  })
})

describe("the memory term's load shape (interferenceLoad)", () => {
  // three one-kernel workers on disjoint partitions of 32, 32 and 68 SMs, each kernel 1000 µs on 32 SMs or more:
  // under 'coresident' each holds 32 busy SMs, so every worker sees 64 of the others' (u = 64/132) from n = 2 kernels
  const a = profileOf('a', [scaling(1000, 32)])
  const plan = planOf(
    'model-wise',
    [[0, 1, 2, 3], [4, 5, 6, 7], HIGH],
    [0, 1, 2].map((p) => ({ profile: a, groups: [[0, 0, p]] as [number, number, number][] })),
  )
  const spec = specOf(plan, [a, a, a], { windowS: 0.05 })
  const base = { ...CALIBRATION, sharing: 'coresident' as const, memoryInterference: 0.5 }
  const steady = (r: ReturnType<typeof simulate>) => [0, 1, 2].flatMap((w) => latencies(r, w).slice(2))

  it('is the linear term when absent, and with p = 1, q = 0', () => {
    const absent = steady(simulate(spec, { calibration: base }))
    assert.ok(absent.length > 0)
    for (const l of absent) close(l, 1000 * (1 + (0.5 * 64) / 132))
    const linear = steady(
      simulate(spec, {
        calibration: { ...base, interferenceLoad: { exponent: 1, neighbourExponent: 0, neighbourFrom: 1 } },
      }),
    )
    assert.equal(linear.length, absent.length)
    for (const [i, l] of linear.entries()) close(l, absent[i] as number, 1e-12)
  })

  it('divides the rate by 1 + γ · u^p ÷ max(1, n ÷ n₀)^q', () => {
    const r = simulate(spec, {
      calibration: { ...base, interferenceLoad: { exponent: 0.5, neighbourExponent: 1, neighbourFrom: 1 } },
    })
    // 1000 µs × (1 + 0.5 × √(64/132) ÷ 2) = 1174.08… µs
    for (const l of steady(r)) close(l, 1000 * (1 + (0.5 * Math.sqrt(64 / 132)) / 2))
    // n₀ = 2: two neighbours share nothing out, the saturating load alone
    const from2 = simulate(spec, {
      calibration: { ...base, interferenceLoad: { exponent: 0.5, neighbourExponent: 1, neighbourFrom: 2 } },
    })
    for (const l of steady(from2)) close(l, 1000 * (1 + 0.5 * Math.sqrt(64 / 132)))
    const shape = { exponent: 1, neighbourExponent: 1, neighbourFrom: 4 }
    // 9 neighbours past n₀ = 4: u ÷ (9/4)
    assert.equal(interferenceShare(66, 9, 132, shape), 0.5 / (9 / 4))
    assert.equal(interferenceShare(66, 3, 132, shape), 0.5)
    // the others' SMs are capped at the GPU's; none running, none lost
    assert.equal(interferenceShare(200, 4, 132, { exponent: 0.5, neighbourExponent: 0, neighbourFrom: 1 }), 1)
    assert.equal(interferenceShare(0, 0, 132, { exponent: 0.5, neighbourExponent: 1, neighbourFrom: 1 }), 0)
  })
})
