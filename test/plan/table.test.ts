// The plan table (issue #19): a plan per subset of workers that can be active together, keyed by the sorted names
// joined by '+'; a worker alone on the whole GPU; every plan's partitions unions of the GPU's slices, all in the
// table's union; twins and handed-in plans not planned twice; subsets above six workers planned on demand, once.
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { simPlanner } from '../../src/execute/sim/evaluator.ts'
import { simInputs } from '../../src/execute/sim/inputs.ts'
import {
  type Gpu,
  type Plan,
  type PlanTable,
  type Profile,
  parseFormat,
  planKey,
  type WorkerSpec,
} from '../../src/formats/index.ts'
import { makePlan } from '../../src/plan/index.ts'
import { makePlanTable, PlanTableBuilder, type SubsetPlanner } from '../../src/plan/table.ts'
import { loadProfileSet } from '../../src/profile/store.ts'
import { syntheticH100Gpu, syntheticProfile } from '../../src/profile/synthetic.ts'

const H100 = join(import.meta.dirname, '..', '..', 'profiles', 'h100')

/** Workers of these models, named model#i. */
const workersOf = (models: string[]): WorkerSpec[] =>
  models.map((model, i) => ({ name: `${model}#${i}`, model, batch: 1, dtype: 'fp16' }))

/** model-wise plans, counting the subsets planned (no simulator: fast and deterministic). */
function countingPlanner() {
  const calls: string[] = []
  const planner: SubsetPlanner = (gpu, mix, workers, profiles, o) => {
    calls.push(planKey(workers.map((w) => w.name)))
    return makePlan(gpu, mix, workers, profiles, o)
  }
  return { planner, calls }
}

function synthetic(models: string[]): { gpu: Gpu; workers: WorkerSpec[]; profiles: Profile[] } {
  const gpu = syntheticH100Gpu()
  const workers = workersOf(models)
  return { gpu, workers, profiles: workers.map((w) => syntheticProfile({ ...w, gpu })) }
}

/** Every plan's partitions are unions of the GPU's slices with their SMs, in the union; alone is the whole GPU. */
function checkPools(t: PlanTable, gpu: Gpu) {
  const ids = new Set(gpu.slices.map((s) => s.id))
  const smsOf = (slices: number[]) => slices.reduce((a, s) => a + (gpu.slices[s]?.sms ?? 0), 0)
  const union = new Set(t.union.partitions.map((p) => p.slices.join(',')))
  for (const e of t.plans) {
    for (const p of e.plan.pool.partitions) {
      assert.ok(
        p.slices.every((s) => ids.has(s)),
        `${e.key}: partition ${p.id} names a slice the GPU has not`,
      )
      assert.equal(p.sms, smsOf(p.slices), `${e.key}: partition ${p.id}'s SMs`)
      assert.ok(p.sms <= gpu.smCount)
      assert.ok(
        union.has([...p.slices].sort((a, b) => a - b).join(',')),
        `${e.key}: partition ${p.id} in the union`,
      )
    }
    if (e.plan.workers.length === 1) {
      assert.equal(e.plan.policy, 'baseline', `${e.key} alone is the baseline placement`)
      const whole = e.plan.pool.partitions.filter(
        (p) => p.sms === gpu.smCount && p.slices.length === gpu.slices.length,
      )
      assert.equal(whole.length, 1)
      for (const g of e.plan.workers[0]?.groups ?? []) assert.equal(g.partition, whole[0]?.id)
    }
  }
}

describe('plan table', () => {
  it('plans every subset of three models with eclip-fit on the simulator: 7 plans, keyed by the sorted names', async () => {
    const workers = workersOf(['vgg19', 'alexnet', 'shufflenet'])
    const set = loadProfileSet(H100, workers)
    const ev = simInputs(set.gpu, { dir: H100 })
    const t = await makePlanTable(set.gpu, 'trio', workers, set.profiles, {
      policy: 'eclip-fit',
      planner: simPlanner(() => ev.inputs),
    })
    assert.deepEqual(t.plans.map((e) => e.key).sort(), [
      'alexnet#1',
      'alexnet#1+shufflenet#2',
      'alexnet#1+shufflenet#2+vgg19#0',
      'alexnet#1+vgg19#0',
      'shufflenet#2',
      'shufflenet#2+vgg19#0',
      'vgg19#0',
    ])
    assert.equal(t.complete, true)
    for (const e of t.plans) {
      // each plan lists exactly its key's workers, in the table's order
      const names = e.plan.workers.map((w) => w.name)
      assert.equal(planKey(names), e.key)
      assert.deepEqual(
        names,
        workers.map((w) => w.name).filter((n) => names.includes(n)),
      )
      if (names.length > 1) {
        assert.equal(e.plan.policy, 'eclip-fit')
        // never predicted below the baseline's placement of the same set (eclip-fit falls back to it)
        const stp = e.plan.solver.stp
        assert.ok(
          stp && stp.value >= stp.baseline * (1 - 1e-9),
          `${e.key}: STP ${stp?.value} < ${stp?.baseline}`,
        )
      }
    }
    checkPools(t, set.gpu)
    // a valid file of its format, as `eclip validate plan-table` checks it
    parseFormat('plan-table', JSON.parse(JSON.stringify(t)), 'table.json')
  })

  it('plans twins once (same models in the same order) and takes plans handed in', async () => {
    const { gpu, workers, profiles } = synthetic(['alexnet', 'alexnet', 'vgg19'])
    const full = await makePlan(gpu, 'x', workers, profiles, { policy: 'model-wise' })
    const { planner, calls } = countingPlanner()
    const t = await makePlanTable(gpu, 'x', workers, profiles, {
      policy: 'model-wise',
      planner,
      reuse: [full],
    })
    assert.equal(t.plans.length, 7)
    // alexnet#0+vgg19#2 and alexnet#1+vgg19#2 are one plan; the whole set was handed in; singletons need no planner
    assert.deepEqual(calls.sort(), ['alexnet#0+alexnet#1', 'alexnet#0+vgg19#2'])
    const twin = t.plans.find((e) => e.key === 'alexnet#1+vgg19#2')?.plan as Plan
    assert.deepEqual(
      twin.workers.map((w) => w.name),
      ['alexnet#1', 'vgg19#2'],
    )
    assert.equal(t.plans.find((e) => e.key === planKey(workers.map((w) => w.name)))?.plan, full)
    assert.deepEqual(t.planning && [t.planning.planned, t.planning.reused], [5, 2])
    checkPools(t, gpu)
    // a plan handed in with a raised worker (eclip-fit --stream-priorities) is planned again, at normal priority
    const raised = {
      ...full,
      workers: full.workers.map((w, i) => (i === 0 ? { ...w, streamPriority: 'high' as const } : w)),
    }
    const again = await makePlanTable(gpu, 'x', workers, profiles, {
      policy: 'model-wise',
      planner,
      reuse: [raised],
    })
    assert.deepEqual(again.planning && [again.planning.planned, again.planning.reused], [6, 1])
    assert.ok(again.plans.every((e) => e.plan.workers.every((w) => w.streamPriority === undefined)))
  })

  it('above six workers plans the whole set and the subsets asked for, others on demand and once', async () => {
    const { gpu, workers, profiles } = synthetic([
      'alexnet',
      'vgg19',
      'shufflenet',
      'resnet152',
      'densenet201',
      'albert',
      'resnext101',
    ])
    const { planner, calls } = countingPlanner()
    const t = await makePlanTable(gpu, 'seven', workers, profiles, {
      policy: 'model-wise',
      planner,
      subsets: [['vgg19#1', 'alexnet#0']],
    })
    assert.equal(t.complete, false)
    assert.deepEqual(
      t.plans.map((e) => e.key),
      ['alexnet#0+vgg19#1', planKey(workers.map((w) => w.name))],
    )
    const b = new PlanTableBuilder(gpu, 'seven', workers, profiles, { policy: 'model-wise', planner })
    await b.planFor(workers.map((w) => w.name))
    // a set without a plan of its own runs under the smallest planned superset's
    assert.equal(b.lookup(['alexnet#0'])?.exact, false)
    calls.length = 0
    const [x, y] = await Promise.all([
      b.planFor(['shufflenet#2', 'vgg19#1']),
      b.planFor(['vgg19#1', 'shufflenet#2']),
    ])
    assert.equal(x, y)
    assert.deepEqual(calls, ['shufflenet#2+vgg19#1'])
    assert.equal(b.lookup(['vgg19#1', 'shufflenet#2'])?.key, 'shufflenet#2+vgg19#1')
    assert.equal(b.lookup(['vgg19#1'])?.key, 'shufflenet#2+vgg19#1')
    assert.equal(b.table().plans.length, 2)
  })

  it('refuses bad input with what is wrong', async () => {
    const { gpu, workers, profiles } = synthetic(['alexnet', 'vgg19', 'shufflenet'])
    const { planner } = countingPlanner()
    const b = new PlanTableBuilder(gpu, 'x', workers, profiles, { policy: 'model-wise', planner })
    assert.throws(
      () => b.planFor(['alexnet#0', 'resnet152#9']),
      /"resnet152#9" not among the table's workers/,
    )
    assert.throws(() => b.table(), /no plan for the whole set \(alexnet#0\+shufflenet#2\+vgg19#1\) yet/)
    await assert.rejects(
      makePlanTable(gpu, 'x', workers, profiles, { policy: 'model-wise', planner, subsets: [['alexnet#0']] }),
      /a table of 3 workers \(≤ 6\) plans every subset/,
    )
    const plus = workers.map((w, i) => (i === 0 ? { ...w, name: 'a+b' } : w))
    assert.throws(
      () => new PlanTableBuilder(gpu, 'x', plus, profiles, { policy: 'model-wise', planner }),
      /may not contain "\+"/,
    )
    await assert.rejects(
      makePlan(gpu, 'x', workers, profiles, { policy: 'eclip-live' }),
      /eclip-live follows a table of plans/,
    )
    const t = await makePlanTable(gpu, 'x', workers, profiles, { policy: 'model-wise', planner })
    const bad = JSON.parse(JSON.stringify(t)) as PlanTable
    // a singleton moved off the whole GPU, a partition outside the union
    const alone = bad.plans.find((e) => e.key === 'vgg19#1') as PlanTable['plans'][number]
    alone.plan.pool.partitions.push({ id: 7, slices: [0], sms: 8 })
    for (const g of alone.plan.workers[0]?.groups ?? []) g.partition = 7
    assert.throws(
      () => parseFormat('plan-table', bad, 'bad.json'),
      (err: Error) =>
        /"vgg19#1" alone must run on the whole GPU/.test(err.message) &&
        /slices \[0\] are not in the table's union/.test(err.message),
    )
  })
})
