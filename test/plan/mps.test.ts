// The MPS policies (issue #8): their plans are the model-wise plan under another name, they run as one launch per
// request (mode null), the simulator models them as SM caps without slice pinning, and `bench --policies all` leaves
// them out on the simulator only.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { modesOf } from '../../src/bench/experiment.ts'
import { resolvePolicies } from '../../src/cli/options.ts'
import { CALIBRATION, simulate } from '../../src/execute/sim/index.ts'
import {
  isMpsPolicy,
  MPS_POLICIES,
  type Plan,
  POLICIES,
  parseFormat,
  planConsistencyErrors,
  type WorkerSpec,
} from '../../src/formats/index.ts'
import { makePlan } from '../../src/plan/index.ts'
import { syntheticH100Gpu, syntheticProfile } from '../../src/profile/synthetic.ts'
import { latencies, planOf, profileOf, scaling, specOf } from '../sim/fixtures.ts'

const gpu = syntheticH100Gpu()
const workers: WorkerSpec[] = [
  { name: 'albert#0', model: 'albert', batch: 1, dtype: 'fp16' },
  { name: 'vgg19#0', model: 'vgg19', batch: 1, dtype: 'fp16' },
]
const profiles = () => [
  syntheticProfile({ model: 'albert', batch: 1, kernels: 80 }),
  syntheticProfile({ model: 'vgg19', batch: 1, kernels: 40 }),
]
const close = (a: number, b: number, tol = 1e-6) =>
  assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${a} ≠ ${b}`)
const LOW = [0, 1, 2, 3, 4, 5, 6, 7] // 64 SMs

describe('mps policies', () => {
  it('are policies, and the only MPS ones', () => {
    assert.deepEqual([...MPS_POLICIES], ['mps', 'mps-unlimited'])
    for (const p of MPS_POLICIES) assert.ok(POLICIES.includes(p))
    assert.deepEqual(
      POLICIES.filter((p) => isMpsPolicy(p)),
      ['mps', 'mps-unlimited'],
    )
  })

  for (const policy of MPS_POLICIES)
    it(`${policy}: plans as the model-wise plan under its own name, and validates`, async () => {
      const mw = await makePlan(gpu, 'm', workers, profiles(), { policy: 'model-wise' })
      const plan = await makePlan(gpu, 'm', workers, profiles(), { policy })
      assert.equal(plan.policy, policy)
      assert.deepEqual(plan.pool, mw.pool)
      assert.deepEqual(
        plan.workers.map((w) => w.groups),
        mw.workers.map((w) => w.groups),
      )
      assert.ok(plan.workers.every((w) => w.groups.length === 1 && w.switches === 0))
      assert.deepEqual(planConsistencyErrors(plan), [])
      parseFormat<Plan>('plan', JSON.parse(JSON.stringify(plan)), 'round trip')
      assert.match(plan.solver.notes ?? '', /MPS/)
      assert.equal(plan.repartitionAtSwitch, false)
    })

  it('run once per (mix, policy), with no mode, like model-wise', () => {
    for (const p of MPS_POLICIES) assert.deepEqual(modesOf(p, ['stream', 'graph']), [null])
  })
})

describe('mps on the simulator (an approximation)', () => {
  it('caps a worker at its model-wise SM count (mps) or not at all (mps-unlimited)', () => {
    const p = profileOf('a', [scaling(30)])
    for (const [policy, sms] of [
      ['model-wise', 64],
      ['mps', 64],
      ['mps-unlimited', 132],
    ] as const) {
      const plan = planOf(policy, [LOW], [{ profile: p, groups: [[0, 0, 0]] }])
      const r = simulate(specOf(plan, [p]))
      const lat = latencies(r, 0)
      assert.ok(lat.length > 10)
      for (const l of lat) close(l, (30 * 132) / sms)
      assert.equal(
        r.notes.some((n) => /MPS .*approximated/.test(n)),
        policy !== 'model-wise',
      )
    }
  })

  it('does not pin slices: capped workers share every SM of the GPU', () => {
    // two workers capped at 100 SMs each (more than the GPU has together): under fair sharing each gets 66 SMs of
    // the whole GPU when both run (2000 µs), not half of its cap (which a cap read as the pool would give)
    const a = profileOf('a', [scaling(1000)])
    const b = profileOf('b', [scaling(1000)])
    const wide = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12] // 104 SMs: overlapping model-wise partitions
    const plan = planOf(
      'mps',
      [wide, wide.map((s) => s + 2)],
      [
        { profile: a, groups: [[0, 0, 0]] },
        { profile: b, groups: [[0, 0, 1]] },
      ],
    )
    const r = simulate(specOf(plan, [a, b], { windowS: 0.05 }), {
      calibration: { ...CALIBRATION, sharing: 'fair' },
    })
    for (const w of [0, 1]) {
      const lat = latencies(r, w).slice(2)
      assert.ok(lat.length > 10)
      for (const l of lat) assert.ok(l > 1950 && l < 2050, `latency ${l}`)
    }
    // the same plan under mps-unlimited: same sharing (both demand all 132, both get 66)
    const u = simulate(specOf({ ...plan, policy: 'mps-unlimited' }, [a, b], { windowS: 0.05 }), {
      calibration: { ...CALIBRATION, sharing: 'fair' },
    })
    for (const l of latencies(u, 0).slice(2)) assert.ok(l > 1950 && l < 2050, `latency ${l}`)
  })
})

describe('bench --policies', () => {
  it('all: every policy on the GPU, all but the MPS ones on the simulator', () => {
    assert.deepEqual(resolvePolicies('all', 'gpu'), [...POLICIES])
    const sim = resolvePolicies('all', 'sim')
    assert.ok(sim.length === POLICIES.length - 2 && !sim.some(isMpsPolicy))
    assert.deepEqual(resolvePolicies('all'), sim)
  })

  it('named MPS policies run on either backend (baseline added, as always)', () => {
    assert.deepEqual(resolvePolicies('mps,mps-unlimited', 'sim'), ['baseline', 'mps', 'mps-unlimited'])
    assert.deepEqual(resolvePolicies('model-wise,mps', 'gpu'), ['baseline', 'model-wise', 'mps'])
  })
})
