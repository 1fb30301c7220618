// Weights count only by their ratios (equal weights of any size plan as none; the largest bounded, so nothing
// overflows), and a guard on total requests/s no plan meets keeps the baseline's placement with a note that says so.
// Toy evaluators keep every expectation checkable by hand.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { FormatError, MAX_WEIGHT, type Plan, parseFormat } from '../../src/formats/index.ts'
import { type FitObjective, fitMetrics } from '../../src/plan/fit.ts'
import { floorsMetText, objectiveOf, relativeWeights } from '../../src/plan/floors.ts'
import { makePlan, type PlanEvaluator } from '../../src/plan/index.ts'
import { gpu, onWholeGpu, prof, score, spec } from './toy-fit.ts'

const profiles = [prof('albert', 80), prof('vgg19', 40)]

/**
 * Worker 0 gains on the whole GPU, worker 1 loses less; baseline and solo rates 1, so ratios are rates. The baseline's
 * placement (every kernel of both on the whole GPU) runs as baseline co-location does.
 */
const planToy: PlanEvaluator = {
  switchCostUs: 0,
  soloRps: async () => 1,
  evaluate: async (plan: Plan) => {
    if (plan.policy === 'baseline' || onWholeGpu(plan)) return score(plan.workers.map(() => 1))
    const shared = plan.workers.map(
      (w) =>
        w.groups.filter((g) => g.partition === 0).reduce((a, g) => a + g.last - g.first + 1, 0) / w.kernels,
    )
    return score([1 + 0.5 * (shared[0] as number), 1 - 0.05 * (shared[0] as number)])
  },
}

const groupsOf = (p: Plan) => p.workers.map((w) => w.groups)

describe('weights', () => {
  it('are taken relative to the largest: equal ones are all 1, whatever their size', () => {
    const ws = (w: number) => [spec('albert', { weight: w }), spec('vgg19', { weight: w })]
    assert.deepEqual(relativeWeights(ws(1e308)), [1, 1])
    assert.deepEqual(relativeWeights([spec('albert', { weight: 4 }), spec('vgg19')]), [1, 0.25])
    for (const objective of ['stp', 'requests'] as const) {
      const obj = objectiveOf(ws(1e308), [2, 3], { policy: 'eclip-fit', objective })
      const plain = objectiveOf(ws(1), [2, 3], { policy: 'eclip-fit', objective })
      assert.deepEqual(obj.weights, plain.weights, objective)
      // no weighted term overflows: the plan's STP ratio is the unweighted one
      const m = fitMetrics(score([1.5, 2.5]), score([1, 1]), obj as FitObjective)
      const u = fitMetrics(score([1.5, 2.5]), score([1, 1]), plain as FitObjective)
      assert.ok(Number.isFinite(m.stpRatio), `${objective}: ${m.stpRatio}`)
      assert.equal(m.stpRatio, u.stpRatio)
    }
  })

  it('equal weights plan as none under eclip and eclip-fit', async () => {
    const ws = (w?: number) => [spec('albert', w ? { weight: w } : {}), spec('vgg19', w ? { weight: w } : {})]
    for (const policy of ['eclip', 'eclip-fit'] as const) {
      const plain = await makePlan(gpu, 'm', ws(), profiles, { policy, evaluator: planToy })
      const big = await makePlan(gpu, 'm', ws(MAX_WEIGHT), profiles, { policy, evaluator: planToy })
      assert.deepEqual(groupsOf(big), groupsOf(plain), policy)
      assert.doesNotMatch(big.solver.notes ?? '', /weighted/, policy)
    }
    // unequal ones still weigh, and the note gives them as the mix did
    const weighted = await makePlan(gpu, 'm', [spec('albert', { weight: 20 }), spec('vgg19')], profiles, {
      policy: 'eclip',
    })
    assert.match(weighted.solver.notes ?? '', /objective weighted per worker: 20, 1/)
  })

  it('above MAX_WEIGHT: refused by the mix format and by the planner, naming the worker', async () => {
    assert.equal(MAX_WEIGHT, 1e6)
    const mix = (weight: number) => ({ mixes: [{ name: 'm', workers: [{ model: 'alexnet', weight }] }] })
    assert.doesNotThrow(() => parseFormat('mix', mix(MAX_WEIGHT), 'test mix'))
    assert.throws(
      () => parseFormat('mix', mix(1e308), 'test mix'),
      (e: Error) =>
        e instanceof FormatError && /\/mixes\/0\/workers\/0\/weight: must be <= 1000000/.test(e.message),
    )
    await assert.rejects(
      makePlan(gpu, 'm', [spec('albert', { weight: 1e308 }), spec('vgg19')], profiles, { policy: 'eclip' }),
      /worker albert#0: weight must be ≤ 1000000, got 1e\+308/,
    )
  })
})

describe('a guard on total requests/s no plan meets', () => {
  it('keeps the baseline’s placement and says so, not that the guard was met', async () => {
    const ws = [spec('albert'), spec('vgg19')]
    const plan = await makePlan(gpu, 'm', ws, profiles, {
      policy: 'eclip-fit',
      evaluator: planToy,
      fitStarts: 'one',
      minTotalShare: 1.9,
    })
    assert.ok(onWholeGpu(plan), 'every kernel on the whole GPU')
    const notes = plan.solver.notes ?? ''
    assert.match(
      notes,
      /floors met \(0\.9×\), the baseline's placement kept: it scored best, and the guard on total requests\/s \(≥ 1\.9× baseline's\) is measured against it \(1× baseline's\)/,
    )
    assert.doesNotMatch(notes, /total requests\/s ≥ 1\.9× baseline's\)/)
    // what the plan is, not homes it does not have
    assert.match(
      notes,
      /the baseline's placement \(every kernel on the whole GPU\) chosen by the evaluator over \d+ candidate plans, scoring above the search's best \(homes \d+\/\d+ SMs, overlap prices λ /,
    )
    assert.doesNotMatch(notes, /SMs, overlap prices [^)]*: chosen/)
    // with stream priorities scored on it (none raised here), the run reported is still its own: said the same way
    const prio = await makePlan(gpu, 'm', ws, profiles, {
      policy: 'eclip-fit',
      evaluator: planToy,
      fitStarts: 'one',
      minTotalShare: 1.9,
      fitPriorities: true,
    })
    assert.match(prio.solver.notes ?? '', /stream priorities: none raised/)
    assert.match(
      prio.solver.notes ?? '',
      /floors met \(0\.9×\), the baseline's placement kept: it scored best/,
    )
    // a guard a plan meets is said met, as before
    const met = await makePlan(gpu, 'm', ws, profiles, {
      policy: 'eclip-fit',
      evaluator: planToy,
      fitStarts: 'one',
      minTotalShare: 1.1,
    })
    assert.match(met.solver.notes ?? '', /floors met \(0\.9×, total requests\/s ≥ 1\.1× baseline's\)/)
  })

  it('floorsMetText: the baseline’s placement meets a guard up to 1 by definition, not above', () => {
    const obj = (minTotal: number): FitObjective => ({ soloRps: [1], weights: [1], floors: [0.9], minTotal })
    assert.equal(floorsMetText(obj(1), true, true), "floors met (0.9×, total requests/s ≥ 1× baseline's)")
    assert.match(
      floorsMetText(obj(1.05), true, true, '; held'),
      /^floors met \(0\.9×; held\), the baseline's placement kept: it scored best, and the guard/,
    )
    assert.equal(
      floorsMetText(obj(1.05), true, false),
      "floors met (0.9×, total requests/s ≥ 1.05× baseline's)",
    )
    assert.equal(
      floorsMetText(obj(1.05), false, false),
      "floors NOT met (0.9×, total requests/s ≥ 1.05× baseline's)",
    )
  })
})
