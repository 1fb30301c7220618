// eclip-fit's guard on total requests/s (minTotalShare, issue #19): a plan that raises STP by trading a fast model's
// many requests for a slow one's ranks below every plan that keeps the total; baseline's placement, the guard's
// reference, always meets it; the option is a mix's and a serve config's, validated naming the field, recorded in the
// plan, and every set plan of a table gets it. Toy evaluators keep every expectation checkable by hand.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  expandWorkers,
  FormatError,
  type MixFile,
  type Plan,
  parseFormat,
  type ServeConfig,
} from '../../src/formats/index.ts'
import { type FitCandidate, type FitScore, fitMetrics } from '../../src/plan/fit.ts'
import { makePlan, type PlanEvaluator } from '../../src/plan/index.ts'
import { DEFAULT_SET_MIN_TOTAL_SHARE, makePlanTable, type SubsetPlanner } from '../../src/plan/table.ts'
import { syntheticProfile } from '../../src/profile/synthetic.ts'
import { gpu, prof, score, sharedOf, spec, toyFitSearch, wholeShareOf } from './toy-fit.ts'

// worker 0 slow (few requests, each worth much STP), worker 1 fast (many requests, each worth little)
const profiles = [prof('densenet201', 80), prof('vgg19', 40)]
const [B0, B1] = [100, 1000]
const BASE = [B0, B1]
const SOLO = [200, 1500]

/**
 * Worker 0 gains 50% of its rate per unit of its own use of the shared partition and costs worker 1 10% by it
 * (STP up, total down: +50 requests/s against −100); worker 1 gains 2% by its own use (both up). Floors 0.9.
 * Everything on the shared partition is baseline's placement: baseline's rates.
 */
const rates = (c: FitCandidate) => {
  const s0 = sharedOf(c, 0)
  const s1 = sharedOf(c, 1)
  if (s0 === 1 && s1 === 1) return BASE
  return [B0 * (1 + 0.5 * s0), B1 * (1 - 0.1 * s0 + 0.02 * s1)]
}
const search = (minTotal?: number, scored?: FitScore[]) =>
  toyFitSearch(
    profiles,
    score(BASE),
    { soloRps: SOLO, weights: [1, 1], floors: [0.9, 0.9], ...(minTotal !== undefined ? { minTotal } : {}) },
    (c) => {
      const s = score(rates(c))
      scored?.push(s)
      return s
    },
  )

describe('eclip-fit: the guard on total requests/s', () => {
  it('fitMetrics: total requests/s against baseline’s, its shortfall counted with the floors’', () => {
    const obj = { soloRps: SOLO, weights: [1, 1], floors: [0.9, 0.9] }
    const m = fitMetrics(score([150, 920]), score(BASE), { ...obj, minTotal: 1 })
    assert.equal(m.totalRatio, 1070 / 1100)
    assert.ok(Math.abs(m.totalShortfall - 30 / 1100) < 1e-12)
    assert.equal(
      m.shortfall,
      m.totalShortfall,
      'every worker above its floor: the total is the whole shortfall',
    )
    assert.ok(m.stpRatio > 1, 'STP rose all the same')
    const free = fitMetrics(score([150, 920]), score(BASE), obj)
    assert.equal(free.totalShortfall, 0)
    assert.equal(free.shortfall, 0)
  })

  it('without it the search trades total requests for STP; with it the chosen plan keeps the total', async () => {
    const free = await search()
    assert.ok(free.chosen.stpRatio > 1.05, `unguarded STP ${free.chosen.stpRatio}`)
    assert.ok(free.chosen.totalRatio < 0.99, `unguarded total ${free.chosen.totalRatio}`)
    const scored: FitScore[] = []
    const kept = await search(1, scored)
    assert.equal(kept.chosen.totalShortfall, 0)
    assert.ok(kept.chosen.totalRatio >= 1, `guarded total ${kept.chosen.totalRatio}`)
    assert.ok(kept.chosen.stpRatio >= 1, 'never below baseline’s STP')
    assert.ok(sharedOf(kept, 0) < sharedOf(free, 0), 'the slow worker takes less of the shared partition')
    // the best plan of everything scored (both climbs) that keeps the total: none scored better
    const obj = { soloRps: SOLO, weights: [1, 1], floors: [0.9, 0.9], minTotal: 1 }
    const feasible = scored.map((s) => fitMetrics(s, score(BASE), obj)).filter((m) => m.shortfall === 0)
    assert.ok(feasible.length > 0)
    for (const m of feasible) assert.ok(m.stpRatio <= kept.chosen.stpRatio + 1e-9)
  })

  it('where the guarded climb cannot step across plans that lose requests, the unguarded climb’s plans count', async () => {
    // STP rises with every slice worker 0's home takes from the start; the total is kept at the start and from two
    // slices on, lost at one: the guarded climb stays at the start, the climb without the guard walks on
    let start: number | undefined
    const byHome = (minTotal?: number) =>
      toyFitSearch(
        profiles,
        score(BASE),
        { soloRps: SOLO, weights: [1, 1], floors: [0.9, 0.9], ...(minTotal ? { minTotal } : {}) },
        (c) => {
          if (sharedOf(c, 0) === 1 && sharedOf(c, 1) === 1) return score(BASE)
          start ??= c.layout.homeLengths[0] as number
          const d = (c.layout.homeLengths[0] as number) - start
          return score([B0 * (1 + 0.1 * d), B1 * (1 - 0.005 * d - (d === 1 ? 0.05 : 0))])
        },
      )
    const free = await byHome()
    const s = start as number
    assert.ok(
      (free.layout.homeLengths[0] as number) >= s + 2,
      'the unguarded climb walks past the lossy step',
    )
    const kept = await byHome(1)
    assert.equal(kept.chosen.totalShortfall, 0)
    assert.ok(
      (kept.layout.homeLengths[0] as number) >= s + 2,
      `home ${kept.layout.homeLengths[0]}, start ${s}`,
    )
    assert.ok(kept.chosen.stpRatio > 1.01, `guarded STP ${kept.chosen.stpRatio}`)
  })

  it('a guard above what any plan reaches: baseline’s placement, which meets it by definition', async () => {
    const res = await search(1.5)
    assert.equal(res.fellBack, true)
    assert.equal(res.chosen.totalShortfall, 0)
    assert.equal(res.chosen.shortfall, 0)
    assert.equal(res.chosen.stpRatio, 1)
  })
})

/**
 * A plan-level toy of the same trade: worker 0 on the whole GPU gains, worker 1 loses more requests than it gains;
 * both wholly there is baseline's placement.
 */
const planToy: PlanEvaluator = {
  switchCostUs: 0,
  soloRps: async (i) => SOLO[i] as number,
  evaluate: async (plan: Plan) => {
    if (plan.policy === 'baseline') return score(BASE)
    const s0 = wholeShareOf(plan.workers[0] as Plan['workers'][number])
    if (s0 === 1 && wholeShareOf(plan.workers[1] as Plan['workers'][number]) === 1) return score(BASE)
    return score([B0 * (1 + 0.5 * s0), B1 * (1 - 0.1 * s0)])
  },
}

describe('makePlan: minTotalShare', () => {
  const ws = [spec('densenet201'), spec('vgg19')]

  it('is recorded in eclip-fit’s plan and said in its notes; without it nothing is', async () => {
    const kept = await makePlan(gpu, 'm', ws, profiles, {
      policy: 'eclip-fit',
      evaluator: planToy,
      minTotalShare: 1,
    })
    assert.equal(kept.params.minTotalShare, 1)
    assert.match(kept.solver.notes ?? '', /floors met \(0\.9×, total requests\/s ≥ 1× baseline's\)/)
    const free = await makePlan(gpu, 'm', ws, profiles, { policy: 'eclip-fit', evaluator: planToy })
    assert.equal(free.params.minTotalShare, undefined)
    assert.match(free.solver.notes ?? '', /total requests\/s 0\.\d+× baseline's/)
    // the unguarded plan puts the slow worker on the shared partition, the guarded one does not
    const on0 = (p: Plan) => p.workers[0]?.groups.some((g) => g.partition === 0)
    assert.equal(on0(free), true)
    assert.equal(on0(kept), false)
  })

  it('bad values are input errors naming the field', async () => {
    for (const bad of [-0.1, 90, Number.NaN])
      await assert.rejects(
        makePlan(gpu, 'm', ws, profiles, { policy: 'eclip-fit', evaluator: planToy, minTotalShare: bad }),
        /minTotalShare must be in \[0, 2\] \(a ratio to baseline's total requests\/s, not a percentage\), got/,
      )
  })

  it('a mix file and a serve config carry it; out of range, the error names the field', () => {
    const file = parseFormat<MixFile>(
      'mix',
      { mixes: [{ name: 'm', minTotalShare: 1.02, workers: [{ model: 'vgg19' }, { model: 'albert' }] }] },
      'test mix',
    )
    assert.equal(file.mixes[0]?.minTotalShare, 1.02)
    assert.equal(expandWorkers(file.mixes[0] as MixFile['mixes'][number]).length, 2)
    assert.throws(
      () =>
        parseFormat(
          'mix',
          { mixes: [{ name: 'm', minTotalShare: 3, workers: [{ model: 'vgg19' }] }] },
          'bad mix',
        ),
      (e: Error) => e instanceof FormatError && /\/mixes\/0\/minTotalShare/.test(e.message),
    )
    const c = parseFormat<ServeConfig>(
      'serve-config',
      {
        policy: 'eclip-live',
        live: { minTotalShare: 1 },
        models: [{ model: 'alexnet' }, { model: 'vgg19' }],
      },
      'test config',
    )
    assert.equal(c.live?.minTotalShare, 1)
    assert.throws(
      () =>
        parseFormat(
          'serve-config',
          { policy: 'eclip-live', live: { minTotalShare: -1 }, models: [{ model: 'alexnet' }] },
          'bad',
        ),
      /\/live\/minTotalShare/,
    )
    assert.throws(
      () =>
        parseFormat(
          'serve-config',
          {
            policy: 'eclip-live',
            live: { minTotalShare: 1, tablePolicy: 'model-wise' },
            models: [{ model: 'alexnet' }],
          },
          'bad',
        ),
      /\/live\/minTotalShare: only eclip-fit's plans keep it \(this config's live\.tablePolicy is model-wise\)/,
    )
  })
})

describe('plan table: every set plan gets the guard', () => {
  const three = ['alexnet', 'vgg19', 'shufflenet'].map((model, i) => ({
    ...spec(model),
    name: `${model}#${i}`,
  }))
  const ps = three.map((w) => syntheticProfile({ ...w, gpu }))
  const recording = () => {
    const seen: [string, number | undefined][] = []
    const planner: SubsetPlanner = (g, mix, workers, profs, o) => {
      seen.push([workers.map((w) => w.name).join('+'), o.minTotalShare])
      return makePlan(g, mix, workers, profs, { ...o, policy: 'eclip-fit' })
    }
    return { planner, seen }
  }

  it('the default, or the one given, passed to every subset of two or more', async () => {
    const d = recording()
    await makePlanTable(gpu, 't', three, ps, { policy: 'eclip-fit', planner: d.planner })
    assert.equal(
      d.seen.length,
      4,
      'three pairs and the whole set; singletons are baseline’s, planned by none',
    )
    for (const [, share] of d.seen) assert.equal(share, DEFAULT_SET_MIN_TOTAL_SHARE)
    const given = recording()
    const t = await makePlanTable(gpu, 't', three, ps, {
      policy: 'eclip-fit',
      planner: given.planner,
      minTotalShare: 0.97,
    })
    assert.deepEqual(
      given.seen.map(([, s]) => s),
      [0.97, 0.97, 0.97, 0.97],
    )
    for (const e of t.plans)
      assert.equal(e.plan.params.minTotalShare, e.plan.workers.length > 1 ? 0.97 : undefined, e.key)
  })

  it('takes a plan handed in only when it was made under the same guard', async () => {
    const full = await makePlan(gpu, 'x', three, ps, { policy: 'eclip-fit' })
    const same = await makePlan(gpu, 'x', three, ps, { policy: 'eclip-fit', minTotalShare: 1 })
    const a = recording()
    await makePlanTable(gpu, 't', three, ps, { policy: 'eclip-fit', planner: a.planner, reuse: [full] })
    assert.ok(
      a.seen.some(([k]) => k === 'alexnet#0+vgg19#1+shufflenet#2'),
      'the unguarded whole set planned again',
    )
    const b = recording()
    const t = await makePlanTable(gpu, 't', three, ps, {
      policy: 'eclip-fit',
      planner: b.planner,
      reuse: [same],
      minTotalShare: 1,
    })
    assert.ok(!b.seen.some(([k]) => k === 'alexnet#0+vgg19#1+shufflenet#2'), 'the guarded whole set taken')
    assert.equal(t.planning?.reused, 1)
  })
})
