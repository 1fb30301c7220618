import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { type Plan, type Profile, parseFormat, UserError, type WorkerSpec } from '../../src/formats/index.ts'
import { makePlan } from '../../src/plan/index.ts'
import { buildInstance, evaluate, objective } from '../../src/plan/instance.ts'
import { buildPool } from '../../src/plan/pool.ts'
import { rightSizeIndex } from '../../src/profile/rightsize.ts'
import { syntheticH100Gpu, syntheticProfile } from '../../src/profile/synthetic.ts'
import { randomProfile, seededRandom } from './helpers.ts'

const gpu = syntheticH100Gpu()
const spec = (model: string, i = 0, batch = 1): WorkerSpec => ({
  name: `${model}#${i}`,
  model,
  batch,
  dtype: 'fp16',
})
// small synthetic models keep the tests quick; kernel counts are the generator's option
const prof = (model: string, kernels: number) => syntheticProfile({ model, batch: 1, kernels })
const mix = () => {
  const workers = [spec('albert'), spec('vgg19'), spec('shufflenet')]
  const profiles = [prof('albert', 120), prof('vgg19', 60), prof('shufflenet', 90)]
  return { workers, profiles }
}
const kernelPartition = (plan: Plan, w: number, k: number) =>
  plan.workers[w]?.groups.find((g) => g.first <= k && k <= g.last)?.partition as number
const smsOf = (plan: Plan, id: number) => plan.pool.partitions.find((p) => p.id === id)?.sms as number

/** The paper's objective of a plan, recomputed from its groups and the profiles. */
function planObjective(plan: Plan, profiles: Profile[]) {
  const N = plan.gpu.smCount
  const per = plan.workers.map((w, i) => {
    const p = profiles[i] as Profile
    let S = 0
    let sm = 0
    for (const g of w.groups)
      for (let k = g.first; k <= g.last; k++) {
        const s = smsOf(plan, g.partition)
        S += p.kernels[k]?.timesUs[p.sizes.indexOf(s)] as number
        sm += s
      }
    return { soloUs: S, meanSms: sm / w.kernels }
  })
  const A = per.reduce((a, x) => a + x.meanSms, 0)
  return { per, value: (1 + A / N) * per.reduce((a, x) => a + x.soloUs, 0) }
}

describe('makePlan', () => {
  it('baseline: every kernel on the whole GPU', async () => {
    const { workers, profiles } = mix()
    const plan = await makePlan(gpu, 'm', workers, profiles, { policy: 'baseline' })
    assert.equal(plan.pool.partitions.length, 1)
    assert.equal(plan.pool.partitions[0]?.sms, 132)
    for (const w of plan.workers) {
      assert.equal(w.groups.length, 1)
      assert.equal(w.switches, 0)
      assert.equal(w.meanSms, 132)
      assert.ok(Math.abs(w.soloUs - w.soloFullUs) < 1e-6)
    }
    assert.equal(plan.solver.status, 'not-needed')
  })

  it('eclip: within the switch budget, its predictions match its groups, and it beats every feasible rival', async () => {
    const { workers, profiles } = mix()
    for (const switchMax of [0, 3, 14]) {
      const plan = await makePlan(gpu, 'm', workers, profiles, { policy: 'eclip', switchMax, mipGap: 0 })
      assert.equal(plan.solver.status, 'optimal')
      assert.equal(plan.solver.gap, 0)
      const re = planObjective(plan, profiles)
      assert.ok(Math.abs(re.value - (plan.solver.objectiveUs as number)) < 1e-6 * re.value)
      plan.workers.forEach((w, i) => {
        assert.ok(w.switches <= switchMax)
        assert.ok(Math.abs(w.soloUs - (re.per[i]?.soloUs as number)) < 1e-6 * w.soloUs)
        assert.ok(Math.abs(w.predictedUs - (1 + w.alpha) * w.soloUs) < 1e-6 * w.soloUs)
        // only partitions of its own ladder
        for (const g of w.groups) assert.ok(w.partitions.includes(g.partition))
      })
      // rivals on the same pool with ≤ switchMax switches: each worker all on one rung of its ladder
      const pool = buildPool(gpu, workers.length)
      const inst = workers.map((w, i) =>
        buildInstance(
          w.name,
          profiles[i] as Profile,
          pool.ladders[i] as number[],
          (pool.ladders[i] as number[]).map((id) => pool.partitions[id]?.sms as number),
        ),
      )
      for (let c = 0; c < (pool.ladders[0]?.length ?? 0); c++) {
        const rival = objective(
          inst.map((x) => evaluate(x, new Int32Array(x.weight.length).fill(c))),
          132,
        )
        assert.ok((plan.solver.objectiveUs as number) <= rival.value + 1e-6, `beats rung ${c}`)
      }
    }
  })

  it('eclip with an unlimited switch budget is at least as good as kw-prealloc', async () => {
    const { workers, profiles } = mix()
    const pre = await makePlan(gpu, 'm', workers, profiles, { policy: 'kw-prealloc' })
    const ecl = await makePlan(gpu, 'm', workers, profiles, { policy: 'eclip', switchMax: 1000, mipGap: 0 })
    assert.ok((ecl.solver.objectiveUs as number) <= planObjective(pre, profiles).value + 1e-6)
  })

  it('kw-prealloc puts every kernel on its right-size in the ladder; kw-ioctl is the same, re-partitioning', async () => {
    const { workers, profiles } = mix()
    const pre = await makePlan(gpu, 'm', workers, profiles, { policy: 'kw-prealloc', tolerance: 0.1 })
    const ioc = await makePlan(gpu, 'm', workers, profiles, { policy: 'kw-ioctl', tolerance: 0.1 })
    assert.equal(pre.repartitionAtSwitch, false)
    assert.equal(ioc.repartitionAtSwitch, true)
    assert.deepEqual(
      ioc.workers.map((w) => w.groups),
      pre.workers.map((w) => w.groups),
    )
    pre.workers.forEach((w, wi) => {
      const p = profiles[wi] as Profile
      const ladderIdx = w.partitions.map((id) => p.sizes.indexOf(smsOf(pre, id)))
      for (let k = 0; k < w.kernels; k++) {
        const t = p.kernels[k]?.timesUs as number[]
        const want = p.sizes[rightSizeIndex(t, 0.1, ladderIdx)]
        assert.equal(smsOf(pre, kernelPartition(pre, wi, k)), want)
      }
      assert.ok(w.switches > 14, 'no switch budget')
    })
  })

  it('model-wise: one partition per worker, disjoint, the smallest meeting the factor when they fit', async () => {
    const workers = [spec('alexnet'), spec('shufflenet')]
    const profiles = [prof('alexnet', 30), prof('shufflenet', 80)]
    for (const factor of [1.1, 1.5, 3]) {
      const plan = await makePlan(gpu, 'm', workers, profiles, {
        policy: 'model-wise',
        modelWiseFactor: factor,
      })
      const parts = plan.workers.map((w) => {
        assert.equal(w.groups.length, 1)
        return plan.pool.partitions.find((p) => p.id === w.groups[0]?.partition)
      })
      const slices = parts.flatMap((p) => p?.slices ?? [])
      assert.equal(new Set(slices).size, slices.length, 'disjoint')
      const fits = parts.reduce((a, p) => a + (p?.slices.length ?? 0), 0) < 15
      if (fits || factor >= 3)
        parts.forEach((p, i) => {
          const pr = profiles[i] as Profile
          const at = (s: number) => pr.requestUs[pr.sizes.indexOf(s)] as number
          const full = at(132)
          assert.ok(at(p?.sms as number) <= factor * full, 'meets its target')
          // and one slice less would not
          if ((p?.sms as number) > 8) assert.ok(at((p?.sms as number) - 8) > factor * full, 'smallest')
        })
    }
  })

  it('switches only where an op starts when the profile says so', async () => {
    const rand = seededRandom('ops')
    const p = randomProfile(rand, 40, 'toy', true)
    const starts = new Set(p.opStarts)
    for (const policy of ['eclip', 'kw-prealloc'] as const) {
      const plan = await makePlan(gpu, 'm', [spec('toy')], [p], { policy, switchMax: 10 })
      for (const g of plan.workers[0]?.groups ?? [])
        assert.ok(starts.has(g.first), `group starts at ${g.first}`)
    }
  })

  it('on a time limit returns the best plan found with its gap, marked time-limit', async () => {
    const workers = [spec('resnet152'), spec('densenet201')]
    const profiles = [prof('resnet152', 500), prof('densenet201', 500)]
    const plan = await makePlan(gpu, 'm', workers, profiles, {
      policy: 'eclip',
      solver: 'highs',
      timeLimitS: 0.5,
    })
    assert.equal(plan.solver.name, 'highs')
    assert.equal(plan.solver.status, 'time-limit')
    assert.ok(plan.solver.gap > 0)
    assert.match(plan.solver.notes ?? '', /NOT PROVEN OPTIMAL/)
    // the plan is what it claims: its objective recomputed from its groups
    const re = planObjective(plan, profiles)
    assert.ok(Math.abs(re.value - (plan.solver.objectiveUs as number)) < 1e-6 * re.value)
    parseFormat('plan', plan, 'plan')
    // and the exact DP proves a plan at least as good
    const dp = await makePlan(gpu, 'm', workers, profiles, { policy: 'eclip' })
    assert.equal(dp.solver.status, 'optimal')
    assert.ok((dp.solver.objectiveUs as number) <= (plan.solver.objectiveUs as number) * (1 + 1e-4))
  })

  it('refuses mismatched inputs with a UserError', async () => {
    const { workers, profiles } = mix()
    await assert.rejects(makePlan(gpu, 'm', workers, profiles.slice(1), { policy: 'eclip' }), UserError)
    await assert.rejects(
      makePlan(gpu, 'm', [spec('vgg19')], [prof('albert', 10)], { policy: 'eclip' }),
      /was given/,
    )
    const other = { ...prof('albert', 10), gpu: { name: 'NVIDIA H200', smCount: 132, sliceSize: 8 } }
    await assert.rejects(
      makePlan(gpu, 'm', [spec('albert')], [other], { policy: 'eclip' }),
      /made on NVIDIA H200/,
    )
    await assert.rejects(
      makePlan(gpu, 'm', workers, profiles, { policy: 'eclip', switchMax: -1 }),
      /switch-max/,
    )
    await assert.rejects(makePlan(gpu, 'm', workers, profiles, { policy: 'eclip', mipGap: 2 }), /MIP gap/)
  })
})
