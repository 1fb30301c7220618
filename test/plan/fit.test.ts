// eclip-fit (src/plan/fit.ts): model-wise homes, overlap priced by the other workers' homes, prices chosen by an
// evaluator. Synthetic profiles and hand-made evaluators keep every expectation checkable without a GPU.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { type Plan, type Profile, parseFormat, type WorkerSpec } from '../../src/formats/index.ts'
import { solveWorkerDp } from '../../src/plan/dp.ts'
import {
  FIT_LAMBDAS,
  type FitScore,
  FitSpace,
  fitAssignment,
  fitLayout,
  fitMetrics,
  scaleToLatency,
} from '../../src/plan/fit.ts'
import { makePlan, type PlanEvaluator } from '../../src/plan/index.ts'
import { buildInstance } from '../../src/plan/instance.ts'
import { checkFitHomes } from '../../src/plan/options.ts'
import { modelWiseLayout } from '../../src/plan/policies.ts'
import { syntheticH100Gpu, syntheticProfile } from '../../src/profile/synthetic.ts'
import { shortSimEvaluator } from './helpers.ts'
import {
  onWholeGpu,
  sharedOf,
  toyFitSearch,
  score as toyScore,
  toySpaceOptions,
  wholeShareOf,
} from './toy-fit.ts'

const gpu = syntheticH100Gpu()
const N = gpu.smCount
const spec = (model: string, i = 0): WorkerSpec => ({ name: `${model}#${i}`, model, batch: 1, dtype: 'fp16' })
const prof = (model: string, kernels: number) => syntheticProfile({ model, batch: 1, kernels })
const mix = () => ({
  workers: [spec('albert'), spec('vgg19'), spec('shufflenet')],
  profiles: [prof('albert', 80), prof('vgg19', 40), prof('shufflenet', 60)],
})
const partitionOf = (plan: Plan, id: number) => plan.pool.partitions.find((p) => p.id === id)
const instancesOf = (layout: ReturnType<typeof fitLayout>, profiles: Profile[]) =>
  layout.ladders.map((ladder, w) =>
    buildInstance(
      `w${w}`,
      profiles[w] as Profile,
      ladder,
      ladder.map((id) => layout.partitions[id]?.sms as number),
    ),
  )

describe('eclip-fit layout', () => {
  it("homes are model-wise's disjoint partitions; ladders run inside the home, then the whole GPU", () => {
    const { profiles } = mix()
    const mw = modelWiseLayout(gpu, profiles, 1.1)
    const lay = fitLayout(gpu, profiles, 1.1, 16)
    assert.ok(lay.disjoint)
    assert.ok(lay.partitions.length <= 16)
    assert.equal(lay.partitions[0]?.sms, N)
    lay.ladders.forEach((ladder, w) => {
      const home = lay.partitions[lay.homes[w] as number]
      assert.deepEqual(home?.slices, mw.partitions[mw.assigned[w] as number]?.slices)
      assert.equal(ladder[ladder.length - 1], 0, 'the whole GPU tops every ladder')
      assert.equal(ladder[ladder.length - 2], lay.homes[w])
      const sms = ladder.map((id) => lay.partitions[id]?.sms as number)
      assert.deepEqual(
        [...sms].sort((a, b) => a - b),
        sms,
        'ascending',
      )
      // everything below the whole GPU lies inside the home: no SM of another worker's home
      for (const id of ladder.slice(0, -1)) {
        const slices = lay.partitions[id]?.slices ?? []
        assert.ok(slices.every((s) => home?.slices.includes(s)))
      }
      const overlap = lay.overlapSms[w] as number[]
      assert.ok(overlap.slice(0, -1).every((o) => o === 0))
      const others = lay.homes
        .filter((_, v) => v !== w)
        .reduce((a, h) => a + (lay.partitions[h]?.sms ?? 0), 0)
      assert.equal(
        overlap[overlap.length - 1],
        others,
        "the whole GPU overlaps exactly the other workers' homes",
      )
    })
  })

  it('given home lengths, lays them out as disjoint runs in worker order', () => {
    const { profiles } = mix()
    const lay = fitLayout(gpu, profiles, 1.1, 16, [3, 5, 2])
    assert.deepEqual(lay.homeLengths, [3, 5, 2])
    assert.deepEqual(
      lay.homes.map((h) => lay.partitions[h]?.slices),
      [
        [0, 1, 2],
        [3, 4, 5, 6, 7],
        [8, 9],
      ],
    )
  })
})

describe('eclip-fit assignment', () => {
  it('λ = ∞ keeps a worker at home; λ = 0, μ = 0 takes the fastest size of every unit', () => {
    const { profiles } = mix()
    const lay = fitLayout(gpu, profiles, 1.1, 16)
    const insts = instancesOf(lay, profiles)
    insts.forEach((w, i) => {
      const C = w.configs.length
      const home = fitAssignment(w, lay.overlapSms[i] as number[], N, Number.POSITIVE_INFINITY, 0, 1000)
      assert.ok(
        home.choice.every((c) => c !== C - 1),
        'never the whole GPU',
      )
      const free = fitAssignment(w, lay.overlapSms[i] as number[], N, 0, 0, 1000)
      const fastest = solveWorkerDp(w, 1000, 0)
      assert.ok(Math.abs(free.soloUs - fastest.assignment.soloUs) < 1e-6)
    })
  })

  it('a higher overlap price never puts more time on the shared partition', () => {
    const { profiles } = mix()
    const lay = fitLayout(gpu, profiles, 1.1, 16)
    const w = instancesOf(lay, profiles)[1]
    assert.ok(w)
    const C = w.configs.length
    const onWhole = (l: number) => {
      const a = fitAssignment(w, lay.overlapSms[1] as number[], N, l, 0, 1000)
      return [...a.choice].reduce((s, c, u) => s + (c === C - 1 ? (w.weight[u] as number) : 0), 0)
    }
    const finite = FIT_LAMBDAS.filter(Number.isFinite)
    for (let i = 1; i < finite.length; i++)
      assert.ok(onWhole(finite[i] as number) <= onWhole(finite[i - 1] as number))
  })

  it('the DP charges the switch cost: a cost above any gain leaves one group', () => {
    const { profiles } = mix()
    const lay = fitLayout(gpu, profiles, 1.1, 16)
    const w = instancesOf(lay, profiles)[0]
    assert.ok(w)
    // μ = 1 makes small sizes pay for the short kernels: free switches are used
    const cheap = fitAssignment(w, lay.overlapSms[0] as number[], N, 0, 1, 14, 0)
    assert.ok(cheap.switches > 0)
    const dear = fitAssignment(w, lay.overlapSms[0] as number[], N, 0, 1, 14, 1e9)
    assert.equal(dear.switches, 0)
  })

  it('scaleToLatency scales a size whose kernels add up to more than the measured request', () => {
    const p = prof('albert', 30)
    const i = p.sizes.length - 1
    const over: Profile = { ...p, requestUs: p.requestUs.map((r, j) => (j === i ? r / 2 : r * 10)) }
    const w = buildInstance('w', over, [0, 1], [p.sizes[0] as number, N])
    const s = scaleToLatency(w, over)
    const sum = p.kernels.reduce((a, k) => a + Math.max(k.timesUs[i] as number, 1e-3), 0)
    for (let u = 0; u < w.weight.length; u++) {
      assert.equal(s.cost[u * 2], w.cost[u * 2], 'no scaling where the kernels explain less than the request')
      const want = ((w.cost[u * 2 + 1] as number) * (over.requestUs[i] as number)) / sum
      assert.ok(Math.abs((s.cost[u * 2 + 1] as number) - want) < 1e-9)
    }
  })
})

describe('eclip-fit search', () => {
  const score = (thr: number[], p95: number[], powerW = 100): FitScore => ({
    throughputRps: thr,
    p95Us: p95,
    powerW,
  })

  it('fitMetrics: the bench means, requests/J from the total requests and the power ratio', () => {
    const m = fitMetrics(score([20, 30], [50, 200], 80), score([10, 30], [100, 100], 100))
    assert.equal(m.thr, 1.5)
    assert.equal(m.p95, 1.25)
    // 50 requests a second against 40, at 80 W against 100 (the per-worker mean, 1.5, would say 1.875)
    assert.equal(m.reqPerJ, (50 / 40) * (100 / 80))
  })

  /**
   * A toy evaluator: worker 0 gains from the shared partition, the others lose from theirs and from resized homes;
   * p95 mirrors throughput, and worker 0's use of the shared partition raises the others' p95 by `p95Penalty`.
   */
  const toySearch = async (p95Penalty: number) => {
    const { profiles } = mix()
    return toyFitSearch(profiles, score([1, 1, 1], [1, 1, 1]), undefined, (c) => {
      const shared = [0, 1, 2].map((w) => sharedOf(c, w))
      const homes = c.layout.homeLengths.join(',')
      const moved = homes === fitLayout(gpu, profiles, 1.1, 16).homeLengths.join(',') ? 0 : 0.5
      const thr = [
        1 + (shared[0] as number),
        1 - 0.2 * (shared[1] as number) - moved,
        1 - 0.2 * (shared[2] as number),
      ]
      return score(
        thr,
        thr.map((t, w) => (w === 0 ? 1 / t : (1 / t) * (1 + p95Penalty * (shared[0] as number)))),
      )
    })
  }

  it('keeps the worker that gains on the shared partition off its home, the others at home', async () => {
    const res = await toySearch(0)
    assert.ok(Number.isFinite(res.lambdas[0]), `λ ${res.lambdas}`)
    assert.equal(res.lambdas[1], Number.POSITIVE_INFINITY)
    assert.equal(res.lambdas[2], Number.POSITIVE_INFINITY)
    assert.ok(res.chosen.thr > res.homeOnly.thr)
    assert.deepEqual(res.layout.homeLengths, fitLayout(gpu, mix().profiles, 1.1, 16).homeLengths)
  })

  it('starts: model-wise, near the baseline, then each worker in a one-slice home, its slices to the others', () => {
    const { profiles } = mix()
    const space = new FitSpace(gpu, profiles, toySpaceOptions(profiles))
    const [start, near, ...lean] = space.starts()
    const inf = Number.POSITIVE_INFINITY
    assert.deepEqual(start, space.start)
    assert.deepEqual(near, { ...space.start, lambdas: [0, 0, 0], mu: 0 })
    assert.equal(lean.length, 3)
    const total = space.start.lengths.reduce((a, b) => a + b, 0)
    lean.forEach((st, w) => {
      assert.equal(st.lengths[w], 1)
      assert.deepEqual(
        st.lambdas,
        [0, 1, 2].map((i) => (i === w ? 0 : inf)),
      )
      assert.equal(
        st.lengths.reduce((a, b) => a + b, 0),
        total,
        `every slice kept: ${st.lengths}`,
      )
      st.lengths.forEach((L, i) => {
        if (i !== w) assert.ok(L >= (space.start.lengths[i] as number), `${st.lengths}`)
      })
    })
  })

  /**
   * A valley: worker 0 gains only in a one-slice home with the shared partition free to it, and every home resized on
   * the way there costs worker 1. The scores come back after random delays, as threads answer.
   */
  const valley = async (starts: 'one' | 'several', delay: () => number) => {
    const { profiles } = mix()
    const home = fitLayout(gpu, profiles, 1.1, 16).homeLengths.join(',')
    let inFlight = 0
    let mostInFlight = 0
    const res = await toyFitSearch(
      profiles,
      score([1, 1, 1], [1, 1, 1]),
      undefined,
      async (c) => {
        mostInFlight = Math.max(mostInFlight, ++inFlight)
        await new Promise((r) => setTimeout(r, delay()))
        inFlight--
        const lean = c.layout.homeLengths[0] === 1 && sharedOf(c, 0) > 0
        const moved = c.layout.homeLengths.join(',') !== home && c.layout.homeLengths[0] !== 1
        const thr = [lean ? 1.5 : 1, moved ? 0.7 : 1, 1]
        return score(
          thr,
          thr.map((t) => 1 / t),
        )
      },
      starts,
    )
    return { ...res, mostInFlight }
  }

  it('several starts find a plan one slice at a time cannot reach; one start stays home', async () => {
    const one = await valley('one', () => 0)
    assert.equal(one.chosen.stpRatio, one.homeOnly.stpRatio)
    const several = await valley('several', () => 0)
    assert.equal(several.layout.homeLengths[0], 1)
    assert.ok(Number.isFinite(several.lambdas[0]))
    assert.ok(several.chosen.stpRatio > one.chosen.stpRatio + 0.1, `${several.chosen.stpRatio}`)
    assert.ok(several.evaluations > one.evaluations)
  })

  it('the climbs run at once: the same choice and candidates in the same order whatever order scores return', async () => {
    const inOrder = await valley('several', () => 0)
    let seed = 7
    const shuffled = await valley('several', () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31
      return seed % 3
    })
    assert.ok(shuffled.mostInFlight > 1, 'the climbs scored side by side')
    assert.deepEqual(shuffled.state, inOrder.state)
    assert.equal(shuffled.evaluations, inOrder.evaluations)
    assert.deepEqual(
      shuffled.seen.map((x) => x.key),
      inOrder.seen.map((x) => x.key),
    )
  })

  it('rejects every candidate whose p95 exceeds the cap: the start (model-wise homes) stays', async () => {
    const res = await toySearch(1)
    assert.deepEqual(res.lambdas, [
      Number.POSITIVE_INFINITY,
      Number.POSITIVE_INFINITY,
      Number.POSITIVE_INFINITY,
    ])
    assert.deepEqual(res.chosen, res.homeOnly)
  })
})

describe('makePlan eclip-fit', () => {
  it('without an evaluator: model-wise homes, no overlap, a valid plan that says so', async () => {
    const { workers, profiles } = mix()
    const plan = await makePlan(gpu, 'm', workers, profiles, { policy: 'eclip-fit' })
    parseFormat<Plan>('plan', plan, 'eclip-fit plan')
    assert.equal(plan.policy, 'eclip-fit')
    assert.match(plan.solver.notes ?? '', /no contention model/)
    const mw = await makePlan(gpu, 'm', workers, profiles, { policy: 'model-wise' })
    plan.workers.forEach((w, i) => {
      const home = mw.pool.partitions.find((p) => p.id === mw.workers[i]?.groups[0]?.partition)
      for (const g of w.groups)
        assert.ok(partitionOf(plan, g.partition)?.slices.every((s) => home?.slices.includes(s)))
      assert.ok(w.switches <= 14)
    })
  })

  it('with the simulator as evaluator: deterministic, heuristic, every floor met', async () => {
    const { workers, profiles } = mix()
    const evaluator = shortSimEvaluator(gpu, workers, profiles)
    let calls = 0
    const counting: PlanEvaluator = {
      switchCostUs: evaluator.switchCostUs,
      evaluate: (p) => {
        calls++
        return evaluator.evaluate(p)
      },
    }
    const a = await makePlan(gpu, 'm', workers, profiles, { policy: 'eclip-fit', evaluator: counting })
    const b = await makePlan(gpu, 'm', workers, profiles, { policy: 'eclip-fit', evaluator })
    assert.deepEqual(
      a.workers.map((w) => w.groups),
      b.workers.map((w) => w.groups),
    )
    assert.ok(calls >= 2, 'the baseline and at least the start were evaluated')
    const note = a.solver.notes ?? ''
    const m = note.match(
      /vs baseline ([\d.]+) \/ ([\d.]+) \/ ([\d.]+) \(model-wise homes, no overlap: ([\d.]+) \//,
    )
    assert.ok(m, note)
    assert.match(note, /floors met/)
    assert.equal(a.solver.status, 'heuristic')
    assert.ok(a.workers.every((w) => w.switches <= 14))
  })

  it("a search whose best state makes the baseline's placement falls back to it, and says what made it", async () => {
    const { workers, profiles } = mix()
    // every worker gains the more of its kernels run on the whole GPU: the search climbs to λ 0, μ 0, which puts
    // every unit on the top of its ladder, the baseline's placement itself (scoring the same, not below it)
    const allShared: PlanEvaluator = {
      switchCostUs: 0,
      evaluate: async (plan: Plan) =>
        toyScore(plan.workers.map((w) => (plan.policy === 'baseline' ? 1 : 1 + 0.5 * wholeShareOf(w)))),
    }
    const plan = await makePlan(gpu, 'm', workers, profiles, {
      policy: 'eclip-fit',
      evaluator: allShared,
      fitStarts: 'one',
    })
    assert.ok(onWholeGpu(plan), 'every kernel on the whole GPU')
    const notes = plan.solver.notes ?? ''
    assert.match(
      notes,
      /the baseline's placement \(every kernel on the whole GPU\) chosen by the evaluator over \d+ candidate plans, what the search's best \(homes [\d/]+ SMs, overlap prices λ 0, 0, 0, μ 0\) makes/,
    )
    assert.doesNotMatch(notes, /scoring above|: chosen by the evaluator/)
  })

  it("at a point of its search space (fitAt): the plan the search makes there, another point's elsewhere", async () => {
    const { workers, profiles } = mix()
    const evaluator = shortSimEvaluator(gpu, workers, profiles)
    const searched = await makePlan(gpu, 'm', workers, profiles, { policy: 'eclip-fit', evaluator })
    // the chosen point, read back from the search's note (homes in SMs, λ per worker, μ)
    const m = (searched.solver.notes ?? '').match(/homes ([\d/]+) SMs, overlap prices λ ([^μ]+), μ ([\d.]+)/)
    assert.ok(m, searched.solver.notes)
    const at = {
      lengths: (m[1] as string).split('/').map((x) => Number(x) / gpu.sliceSize),
      lambdas: (m[2] as string)
        .split(', ')
        .map((x) => (x.trim() === 'home' ? Number.POSITIVE_INFINITY : Number(x))),
      mu: Number(m[3]),
    }
    const again = await makePlan(gpu, 'm', workers, profiles, { policy: 'eclip-fit', evaluator, fitAt: at })
    parseFormat<Plan>('plan', again, 'eclip-fit plan at a point')
    assert.deepEqual(
      again.workers.map((w) => w.groups),
      searched.workers.map((w) => w.groups),
    )
    assert.deepEqual(again.pool, searched.pool)
    assert.match(again.solver.notes ?? '', /given, not searched/)
    // every worker at home on one slice each, no overlap: another plan, each worker inside its one-slice home
    const lean = await makePlan(gpu, 'm', workers, profiles, {
      policy: 'eclip-fit',
      evaluator,
      fitAt: { lengths: [1, 1, 1], lambdas: workers.map(() => Number.POSITIVE_INFINITY), mu: 0 },
      acceptShortfall: true,
    })
    for (const w of lean.workers)
      for (const g of w.groups) assert.equal(partitionOf(lean, g.partition)?.sms, gpu.sliceSize)
  })

  it("takes model-wise's homes as the search starts from them, even past the regular slices", async () => {
    // homes that overlap (more workers than slices) add up past the GPU's regular slices: model-wise's are taken
    const reg = gpu.slices.filter((sl) => sl.sms === gpu.sliceSize).length
    const two = [prof('albert', 80), prof('vgg19', 40)]
    assert.doesNotThrow(() => checkFitHomes(gpu, two, [reg, reg], [reg, reg]))
    assert.throws(() => checkFitHomes(gpu, two, [reg, 1], [reg, reg]), /homes of \d+ slices in all/)
    // a lone worker at its model-wise home, planned
    const workers = [spec('albert')]
    const profiles = [prof('albert', 80)]
    const start = fitLayout(gpu, profiles, 1.1, 16).homeLengths
    const plan = await makePlan(gpu, 'm', workers, profiles, {
      policy: 'eclip-fit',
      evaluator: shortSimEvaluator(gpu, workers, profiles),
      fitAt: { lengths: start, lambdas: [Number.POSITIVE_INFINITY], mu: 0 },
    })
    assert.match(plan.solver.notes ?? '', /given, not searched/)
    assert.equal(partitionOf(plan, plan.workers[0]?.groups.at(-1)?.partition as number)?.sms, N)
  })

  it('refuses a point of its search space that does not fit the mix or the GPU', async () => {
    const { workers, profiles } = mix()
    const evaluator = shortSimEvaluator(gpu, workers, profiles)
    const inf = Number.POSITIVE_INFINITY
    const plan = (
      fitAt: { lengths: number[]; lambdas: number[]; mu: number },
      policy: 'eclip-fit' | 'eclip' = 'eclip-fit',
    ) => makePlan(gpu, 'm', workers, profiles, { policy, evaluator, fitAt })
    await assert.rejects(
      plan({ lengths: [2, 2], lambdas: [inf, inf], mu: 0 }),
      /a home and a λ per worker: 3 workers, 2 homes/,
    )
    await assert.rejects(
      plan({ lengths: [8, 8, 8], lambdas: [inf, inf, inf], mu: 0 }),
      /homes of 24 slices in all: the GPU has/,
    )
    await assert.rejects(
      plan({ lengths: [1.5, 2, 2], lambdas: [inf, inf, inf], mu: 0 }),
      /whole numbers of slices/,
    )
    await assert.rejects(plan({ lengths: [2, 2, 2], lambdas: [-1, inf, inf], mu: 0 }), /λ and μ are ≥ 0/)
    await assert.rejects(
      plan({ lengths: [2, 2, 2], lambdas: [inf, inf, inf], mu: 0 }, 'eclip'),
      /eclip-fit's, not eclip's/,
    )
  })
})
