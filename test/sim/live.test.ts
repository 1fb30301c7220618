// eclip-live on the simulator: each request runs under the plan of the set of workers active when it starts, a worker
// stays active for the hold time after its last request, set changes are counted, and bad tables are refused.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { RunResult, RunSpec, WorkerRequests } from '../../src/execute/backend.ts'
import { simulate } from '../../src/execute/sim/index.ts'
import {
  arrivalRecord,
  type LoadedArrival,
  type Plan,
  type PlanTable,
  type Profile,
  parseFormat,
  planKey,
  unionPool,
} from '../../src/formats/index.ts'
import { activeSetMetrics, activeSetTimeline } from '../../src/measure/active-set.ts'
import { buildRun, normalise } from '../../src/measure/metrics.ts'
import { ALL, gpu, planOf, profileOf, scaling, specOf } from './fixtures.ts'

const flat = (us: number) => () => us
const A = 'a#0'
const B = 'b#1'
const LOW = ALL.slice(0, 7) // slices 0-6: 56 SMs
const HIGH = ALL.slice(7) // the other 8 slices and the remainder: 76 SMs

/** `plan` with its workers named `names` and its mix set (planOf names them by model and index). */
function named(plan: Plan, names: string[]): Plan {
  return {
    ...plan,
    mix: `t[${planKey(names)}]`,
    workers: plan.workers.map((w, i) => ({ ...w, name: names[i] as string })),
  }
}

/** A table for a and b: each alone on the whole GPU; together a on slices 0-6, b on the rest. */
function tableOf(a: Profile, b: Profile, drop?: string): PlanTable {
  const plans = [
    named(planOf('baseline', [ALL], [{ profile: a, groups: [[0, a.kernels.length - 1, 0]] }]), [A]),
    named(planOf('baseline', [ALL], [{ profile: b, groups: [[0, b.kernels.length - 1, 0]] }]), [B]),
    named(
      planOf(
        'model-wise',
        [LOW, HIGH],
        [
          { profile: a, groups: [[0, a.kernels.length - 1, 0]] },
          { profile: b, groups: [[0, b.kernels.length - 1, 1]] },
        ],
      ),
      [A, B],
    ),
  ].filter((p) => planKey(p.workers.map((w) => w.name)) !== drop)
  return {
    format: 'eclip.plan-table/1',
    mix: 't',
    gpu: { name: gpu.name, smCount: gpu.smCount, sliceSize: gpu.sliceSize },
    policy: 'model-wise',
    workers: [
      { name: A, model: 'a', batch: 1, dtype: 'fp16', fingerprint: a.fingerprint },
      { name: B, model: 'b', batch: 1, dtype: 'fp16', fingerprint: b.fingerprint },
    ],
    complete: true,
    union: { partitions: unionPool(plans) },
    plans: plans.map((plan) => ({ key: planKey(plan.workers.map((w) => w.name)), plan })),
    createdAt: '2026-11-22T00:00:00Z',
  }
}

/** Fixed busy/idle periods, a closed loop while busy. */
const onoff = (onUs: number, offUs: number, start: 'on' | 'off'): LoadedArrival => ({
  kind: 'onoff',
  on: { dist: 'fixed', meanS: onUs / 1e6 },
  off: { dist: 'fixed', meanS: offUs / 1e6 },
  start,
})

/**
 * a busy [0, 1000) and [2000, 3000) µs, b busy [1550, 2050): 100-µs requests back to back while busy. Under `table`
 * (its whole-set plan as the run's plan) with `holdUs`, for 3000 µs.
 */
function run(
  holdUs: number,
  o: {
    a?: Profile
    b?: Profile
    table?: PlanTable
    sources?: LoadedArrival[]
    availableUs?: Record<string, number>
  } = {},
) {
  const a = o.a ?? profileOf('a', [flat(100)])
  const b = o.b ?? profileOf('b', [flat(100)])
  const own = tableOf(a, b)
  const table = o.table ?? own
  const full = own.plans.find((e) => e.key === planKey([A, B]))?.plan as Plan
  const base = specOf(full, [a, b], { windowS: 0.003 })
  const sources = o.sources ?? [onoff(1000, 1000, 'on'), onoff(500, 1550, 'off')]
  const spec: RunSpec = {
    ...base,
    workers: base.workers.map((w, i) => ({ ...w, arrival: sources[i] as LoadedArrival })),
    loop: { kind: 'arrivals', sources: sources.map(arrivalRecord) },
    live: { table, holdUs, ...(o.availableUs ? { availableUs: o.availableUs } : {}) },
  }
  return simulate(spec)
}

/** Each worker's requests as [start µs, plan key]. */
function planned(r: ReturnType<typeof run>) {
  const live = r.live
  assert.ok(live, 'a table-following run reports what it followed')
  return r.workers.map((w, wi) =>
    w.startUs.map(
      (s, i) => [Math.round(s), live.keys[(live.requestPlans[wi] as number[])[i] as number]] as const,
    ),
  )
}

describe('simulator: following a plan table (eclip-live)', () => {
  it('runs each request under the plan of the workers active when it starts (hold 0)', () => {
    const r = run(0)
    const [a, b] = planned(r)
    // a alone in its first busy period; its first request of the second starts while b's last one runs
    assert.deepEqual(a, [
      ...Array.from({ length: 10 }, (_, i) => [i * 100, A] as const),
      [2000, `${A}+${B}`],
      ...Array.from({ length: 9 }, (_, i) => [2100 + i * 100, A] as const),
    ])
    // b alone: a went quiet at 1000 and is not held
    assert.deepEqual(
      b,
      [1550, 1650, 1750, 1850, 1950].map((s) => [s, B] as const),
    )
    const live = r.live as NonNullable<typeof r.live>
    // a · none · b · a+b · a
    assert.equal(live.switches, 4)
    const time = live.setTimeUs
    assert.ok(Math.abs((time[A] ?? 0) - 1950) < 1e-6, `a alone ${time[A]}`)
    assert.ok(Math.abs((time[''] ?? 0) - 550) < 1e-6)
    assert.ok(Math.abs((time[B] ?? 0) - 450) < 1e-6)
    assert.ok(Math.abs((time[`${A}+${B}`] ?? 0) - 50) < 1e-6)
    assert.deepEqual(live.fallbacks, {})
  })

  it('keeps a quiet worker in the active set for the hold time', () => {
    // hold 200 µs: b stays active until 2250, so a's requests at 2000, 2100 and 2200 run beside it
    const [a200] = planned(run(200))
    assert.deepEqual(
      (a200 as (readonly [number, string])[]).filter(([, k]) => k !== A).map(([s]) => s),
      [2000, 2100, 2200],
    )
    // hold 600 µs: a stays active until 1600, so b's first request (1550) runs beside it, its second (1650) alone
    const [, b600] = planned(run(600))
    assert.deepEqual((b600 as (readonly [number, string])[]).slice(0, 2), [
      [1550, `${A}+${B}`],
      [1650, B],
    ])
  })

  it("a worker alone takes the whole GPU: its kernels run at the alone plan's size, not its partition's", () => {
    // a's kernel scales with SMs (100 µs on 132 SMs); b never busy: every request of a is a alone
    const a = profileOf('a', [scaling(100)])
    const quiet = onoff(1, 1e6, 'off')
    const r = run(0, { a, sources: [onoff(3000, 1000, 'on'), quiet] })
    const [reqs] = planned(r)
    assert.ok((reqs as unknown[]).length >= 29)
    for (const [, k] of reqs as (readonly [number, string])[]) assert.equal(k, A)
    const w = r.workers[0] as { startUs: number[]; endUs: number[] }
    for (let i = 0; i < w.endUs.length; i++)
      assert.ok(Math.abs((w.endUs[i] as number) - (w.startUs[i] as number) - 100) < 1e-6)
    // the same worker held beside b (the whole set's plan, a on 56 SMs): 100 · 132 / 56 µs a request
    const held = run(1e9, { a, sources: [onoff(3000, 1000, 'on'), onoff(1, 1e6, 'on')] })
    const h = held.workers[0] as { startUs: number[]; endUs: number[] }
    const last = h.endUs.length - 1
    assert.ok(Math.abs((h.endUs[last] as number) - (h.startUs[last] as number) - (100 * 132) / 56) < 1e-6)
  })

  it('the active set rebuilt from the requests (measure/active-set.ts) gives the run’s set times and each end’s set', () => {
    for (const hold of [0, 200, 600]) {
      const r = run(hold)
      const live = r.live as NonNullable<typeof r.live>
      const t = activeSetTimeline(r.workers, [A, B], hold)
      const rebuilt = t.timeIn(r.windowStartUs, r.windowEndUs)
      for (const k of new Set([...Object.keys(rebuilt), ...Object.keys(live.setTimeUs)]))
        assert.ok(
          Math.abs((rebuilt[k] ?? 0) - (live.setTimeUs[k] ?? 0)) < 1e-6,
          `hold ${hold}, set '${k}': ${rebuilt[k]} rebuilt, ${live.setTimeUs[k]} run`,
        )
    }
    // a's request of [2000, 2100) started beside b's last one ([1950, 2050)); it ends with a alone (hold 0) or,
    // b held until 2250, beside b (hold 200)
    const endOf = (hold: number) => {
      const r = run(hold)
      const a = r.workers[0] as { startUs: number[]; endUs: number[] }
      const i = a.startUs.findIndex((s) => Math.abs(s - 2000) < 1e-6)
      return activeSetTimeline(r.workers, [A, B], hold).at(a.endUs[i] as number)
    }
    assert.equal(endOf(0), A)
    assert.equal(endOf(200), `${A}+${B}`)
    // nothing active between a's first busy period and b's
    assert.equal(activeSetTimeline(run(0).workers, [A, B], 0).at(1200), '')
  })

  it('a plan planned on demand is followed from when it is ready, its superset’s before', () => {
    // a alone's plan ready at 500 µs: a's first 5 requests run under the whole set's plan, the rest under its own
    const r = run(0, { availableUs: { [A]: 500 } })
    const [a] = planned(r)
    const first = (a as (readonly [number, string])[]).slice(0, 7)
    assert.deepEqual(first, [
      ...[0, 100, 200, 300, 400].map((s) => [s, `${A}+${B}`] as const),
      [500, A],
      [600, A],
    ])
    assert.deepEqual(r.live?.fallbacks, { [A]: `${A}+${B}` })
    // when each set was first active
    assert.deepEqual(r.live?.setFirstUs, { [A]: 0, '': 1000, [B]: 1550, [`${A}+${B}`]: 2000 })
    assert.throws(
      () => run(0, { availableUs: { [`${A}+${B}`]: 10 } }),
      /whole set's plan must be there from the start/,
    )
    assert.throws(
      () => run(0, { availableUs: { 'x#9': 10 } }),
      /names x#9, which the plan table does not plan/,
    )
  })

  it('refuses a table for other workers, a table missing a subset, and a negative hold time', () => {
    const a = profileOf('a', [flat(100)])
    const b = profileOf('b', [flat(100)])
    // a valid table, for a#0 and c#1
    const other = parseFormat<PlanTable>(
      'plan-table',
      JSON.parse(JSON.stringify(tableOf(a, b)).replaceAll(B, 'c#1')),
      't',
    )
    assert.throws(
      () => run(0, { table: other }),
      /the plan table of t is for a#0, c#1, not for this run's workers a#0, b#1 \(b#1 not in the table\) \(c#1 not in the run\)/,
    )
    // the same names, but b#1 is another model than the table's
    const c = profileOf('c', [flat(100), flat(50)])
    assert.throws(
      () => run(0, { table: tableOf(a, b), b: c }),
      /worker b#1 is c b1 fp16, the plan table's is b b1 fp16/,
    )
    assert.throws(
      () => parseFormat('plan-table', tableOf(a, b, B), 'table.json'),
      /no plan for the subset b#1/,
    )
    assert.throws(() => run(-1), /hold time must be ≥ 0/)
  })
})

/** Requests of one worker from [start, end) pairs, each arriving as it starts (a closed loop). */
const requests = (...xs: [number, number][]): WorkerRequests => ({
  arrivalUs: xs.map(([s]) => s),
  startUs: xs.map(([s]) => s),
  endUs: xs.map(([, e]) => e),
})

/** A run's raw result with the window (0, 1000] µs. */
const resultOf = (workers: WorkerRequests[], live?: RunResult['live']): RunResult => ({
  workers,
  windowStartUs: 0,
  windowEndUs: 1000,
  energyJ: 1,
  energySource: 'placeholder',
  smBusyUs: null,
  kernels: null,
  wallS: 0,
  notes: [],
  ...(live ? { live } : {}),
})

describe('the active sets of a run that follows no table (baseline), against eclip-live in the same set', () => {
  // a: [0,100) [100,200) [200,300); b: [250,450). Hold 20 µs: a active [0,320), b [250,470): a alone [0,250),
  // a+b [250,320), b alone [320,470), none after.
  const base = [requests([0, 100], [100, 200], [200, 300]), requests([250, 450])]

  it("gives each set's time and each worker's requests by the set active when they started", () => {
    const m = activeSetMetrics(base, [A, B], 20, 0, 1000)
    assert.equal(m.holdMs, 0.02)
    assert.deepEqual(
      m.sets.map((x) => [x.key, Math.round(x.timeS * 1e6), x.workers.map((w) => [w.requests, w.serviceUs])]),
      [
        ['', 530, []],
        [A, 250, [[3, 100]]],
        [B, 150, [[0, null]]],
        [
          `${A}+${B}`,
          70,
          [
            [0, null],
            [1, 200],
          ],
        ],
      ],
    )
    // the window counts requests that end inside it; the shares add up to 1
    const late = activeSetMetrics(base, [A, B], 20, 150, 1000)
    assert.deepEqual(late.sets.find((x) => x.key === A)?.workers[0], { name: A, requests: 2, serviceUs: 100 })
    assert.ok(Math.abs(m.sets.reduce((t, x) => t + x.share, 0) - 1) < 1e-12)
    // a request queued before it starts makes its worker active from its arrival: b arrives at 230
    const queued = { ...requests([250, 450]), arrivalUs: [230] }
    const q = activeSetMetrics([base[0] as WorkerRequests, queued], [A, B], 20, 0, 1000)
    assert.equal(Math.round((q.sets.find((x) => x.key === `${A}+${B}`)?.timeS ?? 0) * 1e6), 90)
    // hold 100 µs: a stays active until 400, so a+b lasts [250, 400)
    const h = activeSetMetrics(base, [A, B], 100, 0, 1000)
    assert.equal(Math.round((h.sets.find((x) => x.key === `${A}+${B}`)?.timeS ?? 0) * 1e6), 150)
  })

  it('holds each eclip-live set against baseline in the same set: its mean request time there over here', () => {
    const a = profileOf('a', [flat(100)])
    const b = profileOf('b', [flat(100)])
    const table = tableOf(a, b)
    const full = table.plans.find((e) => e.key === planKey([A, B]))?.plan as Plan
    const spec = { ...specOf(full, [a, b], { windowS: 0.001 }), mix: 't' }
    const baseSpec: RunSpec = { ...spec, key: 't|baseline|-|bmix', plan: { ...full, policy: 'baseline' } }
    const baseRun = buildRun(baseSpec, resultOf(base), { backend: 'sim', activeSetsHoldUs: 20 })
    // eclip-live in the same traffic: a's requests take 80 µs alone, b's 150 beside a
    const liveOf = (holdUs: number) =>
      buildRun(
        { ...spec, live: { table, holdUs } },
        resultOf([requests([0, 80], [80, 160], [160, 240], [240, 320]), requests([250, 400])], {
          holdUs,
          keys: [A, `${A}+${B}`],
          requestPlans: [[0, 0, 0, 0], [1]],
          setTimeUs: { [A]: 250, [`${A}+${B}`]: 90, [B]: 80, '': 580 },
          switches: 3,
          switchesTotal: 3,
          fallbacks: {},
        }),
        { backend: 'sim' },
      )
    const liveRun = liveOf(20)
    normalise([baseRun, liveRun])
    assert.ok(baseRun.metrics.activeSets, "baseline's run has its traffic's sets")
    const sets = liveRun.metrics.live?.sets ?? []
    const alone = sets.find((x) => x.key === A)
    assert.deepEqual(
      [alone?.workers[0]?.baselineRequests, alone?.workers[0]?.baselineServiceUs, alone?.speedVsBaseline],
      [3, 100, 100 / 80],
    )
    const both = sets.find((x) => x.key === `${A}+${B}`)
    // a has no request there on either side (null); b's 150 µs against baseline's 200
    assert.deepEqual(
      both?.workers.map((w) => [w.name, w.requests, w.baselineRequests, w.speedVsBaseline]),
      [
        [A, 0, 0, null],
        [B, 1, 1, 200 / 150],
      ],
    )
    assert.equal(both?.speedVsBaseline, 200 / 150)
    // another hold than baseline's sets were rebuilt with, or no baseline sets: no comparison
    const other = liveOf(50)
    normalise([baseRun, other])
    assert.ok(other.metrics.live?.sets.every((x) => x.speedVsBaseline === undefined))
    const plain = buildRun(baseSpec, resultOf(base), { backend: 'sim' })
    assert.equal(plain.metrics.activeSets, undefined)
    normalise([plain, liveRun])
    assert.ok(liveRun.metrics.live?.sets.every((x) => x.speedVsBaseline === undefined))
    assert.ok(
      liveRun.metrics.live?.sets.every((x) => x.workers.every((w) => w.speedVsBaseline === undefined)),
    )
  })
})
