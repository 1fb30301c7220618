// bench/plan-oracle.ts on two light batch-1 workers of the H200's profiles: the start plan survives the annealing's
// representation unchanged, the best plan it returns is a valid plan no worse than the start, and a partition cap
// holds.
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { handPlanner } from '../../bench/hand-planner.ts'
import { oracle } from '../../bench/plan-oracle.ts'
import { simInputs } from '../../src/execute/sim/inputs.ts'
import { scorePlan } from '../../src/execute/sim/score.ts'
import type { Plan, Profile, WorkerSpec } from '../../src/formats/index.ts'
import { fitMetrics } from '../../src/plan/fit.ts'
import { loadGpu, profilesIn } from '../../src/profile/store.ts'

const DIR = join(import.meta.dirname, '..', '..', 'profiles', 'h200')
const gpu = loadGpu(DIR)
const workers: WorkerSpec[] = [
  { name: 'alexnet#0', model: 'alexnet', batch: 1, dtype: 'fp16' },
  { name: 'shufflenet#0', model: 'shufflenet', batch: 1, dtype: 'fp16' },
]
const profiles = workers.map((w) => profilesIn(DIR, gpu)([{ ...w, name: w.model }])[0] as Profile)
const plan = (policy: 'baseline' | 'model-wise') => handPlanner(gpu, 'pair', workers, profiles, { policy })
const opts = { seed: 3, floor: 0.9, t0: 0.002, t1: 0.0001 }

describe('plan-oracle', () => {
  it('scores the start as the planner’s evaluator does, and returns it when it makes no move', async () => {
    const base = await plan('baseline')
    const start = await plan('model-wise')
    const { inputs } = simInputs(gpu, { dir: DIR })
    const direct = fitMetrics(
      scorePlan(inputs, start, workers, profiles),
      scorePlan(inputs, base, workers, profiles),
      {
        soloRps: profiles.map((p) => 1e6 / (p.requestUs.at(-1) as number)),
        weights: [1, 1],
        floors: [0.9, 0.9],
      },
    )
    const r = oracle(DIR, base, start, { ...opts, evals: 0 })
    assert.equal(r.start.search.stpRatio, direct.stpRatio)
    assert.equal(r.best.search.stpRatio, direct.stpRatio)
    const slices = (p: Plan, wi: number) =>
      p.workers[wi]?.groups.map((g) => p.pool.partitions.find((q) => q.id === g.partition)?.slices)
    for (const wi of [0, 1]) assert.deepEqual(slices(r.best.plan, wi), slices(start, wi))
  })

  it('keeps the best plan it scored, a valid plan within the partition cap', async () => {
    const base = await plan('baseline')
    const r = oracle(DIR, base, base, { ...opts, evals: 40, maxPartitions: 3 })
    const value = (x: typeof r.start) => x.search.stpRatio - 10 * x.search.shortfall - Math.max(0, x.pool - 3)
    assert.ok(value(r.best) >= value(r.start))
    assert.ok(r.best.pool <= 3, `pool of ${r.best.pool}`)
    for (const w of r.best.plan.workers) {
      assert.equal(w.groups[0]?.first, 0)
      assert.equal(w.groups.at(-1)?.last, w.kernels - 1)
      for (const g of w.groups) assert.ok(r.best.plan.pool.partitions.some((q) => q.id === g.partition))
    }
    assert.equal(r.best.recheck.length, 3)
  })
})
