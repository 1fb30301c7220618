// eclip-fit's p95 cap per worker (--max-p95, PlanOptions.maxP95): a plan that raises STP while one worker's p95
// grows past the cap ranks below every plan that keeps each worker's p95 under it; baseline's placement, the cap's
// reference, always meets it; the option is recorded in the plan, said in its notes, and refused where no eclip-fit
// search would use it. Toy evaluators keep every expectation checkable by hand.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { Plan } from '../../src/formats/index.ts'
import { type FitCandidate, type FitScore, fitMetrics } from '../../src/plan/fit.ts'
import { floorShortfalls } from '../../src/plan/floors.ts'
import { makePlan, type PlanEvaluator } from '../../src/plan/index.ts'
import { gpu, prof, sharedOf, spec, toyFitSearch, wholeShareOf } from './toy-fit.ts'

const profiles = [prof('densenet201', 80), prof('vgg19', 40)]
const [B0, B1] = [100, 1000]
const BASE = [B0, B1]
const SOLO = [200, 1500]
const OBJ = { soloRps: SOLO, weights: [1, 1], floors: [0.9, 0.9] }

const scoreOf = (thr: number[], p95: number[]): FitScore => ({ throughputRps: thr, p95Us: p95, powerW: 100 })
const BASE_SCORE = scoreOf(BASE, [1, 1])

/**
 * Worker 0 gains 50% of its rate per unit of its share of the whole GPU; worker 1 keeps 96% of its rate at worst
 * (above its floor) while its p95, 1.05 × baseline's in its home, grows 0.3 per unit: worker 0's p95 falls as much, so
 * the mean p95 stays 1 and only a cap per worker sees it. Everything on the whole GPU is baseline's placement.
 */
const at = (s0: number, s1: number) =>
  s0 === 1 && s1 === 1
    ? BASE_SCORE
    : scoreOf([B0 * (1 + 0.5 * s0), B1 * (1 - 0.04 * s0)], [0.95 - 0.3 * s0, 1.05 + 0.3 * s0])
const search = (maxP95?: number) =>
  toyFitSearch(
    profiles,
    BASE_SCORE,
    { ...OBJ, ...(maxP95 !== undefined ? { maxP95 } : {}) },
    (c: FitCandidate) => at(sharedOf(c, 0), sharedOf(c, 1)),
  )

describe('eclip-fit: the p95 cap per worker', () => {
  it('fitMetrics: a p95 past the cap counts like a floor’s shortfall, at most 1 per worker', () => {
    const m = fitMetrics(scoreOf([150, 960], [0.85, 1.15]), BASE_SCORE, { ...OBJ, maxP95: 1.1 })
    assert.ok(Math.abs(m.p95Shortfall - 0.05) < 1e-12, `p95 shortfall ${m.p95Shortfall}`)
    assert.equal(m.shortfall, m.p95Shortfall, 'every worker above its floor: the cap is the whole shortfall')
    const inf = fitMetrics(scoreOf([150, 960], [0.85, Number.POSITIVE_INFINITY]), BASE_SCORE, {
      ...OBJ,
      maxP95: 1.1,
    })
    assert.equal(inf.p95Shortfall, 1)
    const free = fitMetrics(scoreOf([150, 960], [0.85, 1.15]), BASE_SCORE, OBJ)
    assert.equal(free.p95Shortfall, 0)
    assert.equal(free.shortfall, 0)
  })

  it('the workers past it are named with their p95, the cap and by how much', () => {
    const m = fitMetrics(scoreOf([150, 960], [0.85, 1.15]), BASE_SCORE, { ...OBJ, maxP95: 1.1 })
    assert.deepEqual(floorShortfalls([spec('densenet201'), spec('vgg19')], m, { ...OBJ, maxP95: 1.1 }), [
      "vgg19#0 (vgg19) at a p95 1.150× baseline's, cap 1.1× (past it by 0.050)",
    ])
  })

  it('without it the search lets a worker’s p95 grow; with it every worker’s stays under the cap', async () => {
    const free = await search()
    const freeWorst = Math.max(...free.chosen.p95Ratios)
    assert.ok(freeWorst > 1.2, `uncapped worst p95 ${freeWorst}`)
    const capped = await search(1.1)
    const worst = Math.max(...capped.chosen.p95Ratios)
    assert.ok(worst <= 1.1 + 1e-9, `capped worst p95 ${worst}`)
    assert.equal(capped.chosen.shortfall, 0)
    assert.ok(capped.chosen.stpRatio > 1, `capped STP ${capped.chosen.stpRatio}: above baseline's`)
    assert.ok(capped.chosen.stpRatio < free.chosen.stpRatio, 'the cap costs STP here')
    assert.ok(sharedOf(capped, 0) < sharedOf(free, 0), 'worker 0 takes less of the whole GPU')
  })

  it('a cap no plan but baseline’s placement meets: that placement, which meets it by definition', async () => {
    const res = await search(1)
    // reached by the search (every unit on the whole GPU) or taken as the fallback: baseline's placement either way
    assert.ok(res.fellBack || (sharedOf(res, 0) === 1 && sharedOf(res, 1) === 1))
    assert.equal(res.chosen.shortfall, 0)
    assert.equal(res.chosen.stpRatio, 1)
  })
})

/** A plan-level toy of the same trade: worker 0's share of the whole GPU as above, both wholly there baseline's. */
const planToy: PlanEvaluator = {
  switchCostUs: 0,
  soloRps: async (i) => SOLO[i] as number,
  evaluate: async (plan: Plan) => {
    if (plan.policy === 'baseline') return BASE_SCORE
    return at(
      wholeShareOf(plan.workers[0] as Plan['workers'][number]),
      wholeShareOf(plan.workers[1] as Plan['workers'][number]),
    )
  },
}

describe('makePlan: maxP95', () => {
  const ws = [spec('densenet201'), spec('vgg19')]

  it('is recorded in eclip-fit’s plan and said in its notes; without it nothing is', async () => {
    const capped = await makePlan(gpu, 'm', ws, profiles, {
      policy: 'eclip-fit',
      evaluator: planToy,
      maxP95: 1.1,
    })
    assert.equal(capped.params.maxP95, 1.1)
    assert.match(capped.solver.notes ?? '', /floors met \(0\.9×, every p95 ≤ 1\.1× baseline's\)/)
    const free = await makePlan(gpu, 'm', ws, profiles, { policy: 'eclip-fit', evaluator: planToy })
    assert.equal(free.params.maxP95, undefined)
    assert.doesNotMatch(free.solver.notes ?? '', /every p95/)
  })

  it('below 1 is an input error naming the field', async () => {
    for (const bad of [0.9, Number.NaN])
      await assert.rejects(
        makePlan(gpu, 'm', ws, profiles, { policy: 'eclip-fit', evaluator: planToy, maxP95: bad }),
        /max p95 must be ≥ 1 \(a ratio to baseline's p95, which baseline's placement meets\), got/,
      )
  })
})
