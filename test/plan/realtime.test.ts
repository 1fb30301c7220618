// Real-time workers beside best-effort ones (src/plan/realtime.ts): the checks every policy makes before planning —
// each refusal names the worker and by how much — and eclip-rt's dedicated partitions, sized from the profile, on
// hand-made profiles whose latency at every size is known; then on the simulator, the real-time worker's latency.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { simPlanner } from '../../src/execute/sim/evaluator.ts'
import { CALIBRATION, simulate } from '../../src/execute/sim/index.ts'
import { simInputs } from '../../src/execute/sim/inputs.ts'
import { arrivalRecord, type LoadedArrival, type Profile, type WorkerSpec } from '../../src/formats/index.ts'
import {
  checkRealtime,
  DEFAULT_RT_FACTOR,
  DEFAULT_RT_GATE_US,
  DEFAULT_RT_RESERVE_SMS,
  gatePositions,
  makePlan,
  predictedLatencyUs,
  type RtMechanism,
  rtLayout,
  withBestEffortPlan,
} from '../../src/plan/index.ts'
import { loadProfileSet } from '../../src/profile/store.ts'
import { gpu, profileOf, scaling, specOf } from '../sim/fixtures.ts'

/** One kernel of 100 µs on ≥ `sat` SMs, 100·sat/s µs below: 100 µs from 64 SMs up, 114.3 at 56, 200 at 32. */
const prof = (model: string, sat = 64, base = 100) => profileOf(model, [scaling(base, sat)])
const rt = (name: string, sloMs: number, arrival?: LoadedArrival): WorkerSpec => ({
  name,
  model: name.split('#')[0] as string,
  batch: 1,
  dtype: 'fp16',
  priority: 'realtime',
  sloMs,
  ...(arrival ? { arrival } : {}),
})
const be = (name: string): WorkerSpec => ({
  name,
  model: name.split('#')[0] as string,
  batch: 1,
  dtype: 'fp16',
  priority: 'best-effort',
})
const uniform = (rate: number): LoadedArrival => ({ kind: 'uniform', rate })
const sliceIds = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)

/** For the simulator's checks: a real-time model of 10 kernels of 100 µs from 64 SMs up, best-effort ones of 20
 *  kernels of 50 µs that want the whole GPU. */
const rtSimProf = () =>
  profileOf(
    'vgg19',
    Array.from({ length: 10 }, () => scaling(100, 64)),
  )
const beSimProf = (m: string) =>
  profileOf(
    m,
    Array.from({ length: 20 }, () => scaling(50, 132)),
  )

/** The plan `opts` makes for `ws`, simulated on their arrivals for 0.2 s: the first (real-time) worker's mean latency
 *  from arrival and request count, and the requests the others completed. */
async function simulated(
  ws: WorkerSpec[],
  ps: Profile[],
  opts: Parameters<typeof makePlan>[4],
  calibration?: Parameters<typeof simulate>[1],
) {
  const plan = await makePlan(gpu, 'm', ws, ps, opts)
  const spec = specOf(plan, ps, { windowS: 0.2, warmupS: 0.01 })
  const r = simulate(
    { ...spec, workers: ws, loop: { kind: 'arrivals', sources: ws.map((w) => arrivalRecord(w.arrival)) } },
    calibration,
  )
  const w = r.workers[0] as { arrivalUs: number[]; endUs: number[] }
  const lat = w.endUs.map((e, i) => e - (w.arrivalUs[i] as number))
  return {
    mean: lat.reduce((a, b) => a + b, 0) / lat.length,
    n: lat.length,
    be: r.workers.slice(1).reduce((a, x) => a + x.endUs.length, 0),
  }
}

describe('predicted latency of a real-time worker', () => {
  it('closed loop and uniform arrivals: the request itself; Poisson: plus an M/D/1 wait; past capacity: unbounded', () => {
    const closed = { closed: true, share: 1, rps: 0, process: 'closed' as const }
    assert.equal(predictedLatencyUs(100, closed), 100)
    assert.equal(predictedLatencyUs(100, { closed: false, share: 1, rps: 5000, process: 'uniform' }), 100)
    // ρ = 0.5: 100 + 0.5·100 / (2·0.5) = 150
    assert.equal(predictedLatencyUs(100, { closed: false, share: 1, rps: 5000, process: 'poisson' }), 150)
    assert.equal(
      predictedLatencyUs(100, { closed: false, share: 1, rps: 10_000, process: 'uniform' }),
      Number.POSITIVE_INFINITY,
    )
  })
})

describe('real-time checks (every policy)', () => {
  const refuse = (ws: WorkerSpec[], ps: Profile[], re: RegExp) =>
    assert.throws(() => checkRealtime(ws, ps), re)

  it('an SLO the profile cannot meet even alone on the whole GPU, by how much', () => {
    refuse(
      [rt('vgg19#0', 0.09, uniform(100))],
      [prof('vgg19')],
      /^UserError: vgg19#0 \(vgg19\): its SLO of 0\.09 ms cannot be met even alone on the whole GPU: 0\.100 ms predicted from its profile \(0\.100 ms a request\), 0\.010 ms \(11%\) over$/,
    )
  })

  it('counts queueing: Poisson arrivals wait, and the wait is said', () => {
    refuse(
      [rt('vgg19#0', 0.14, { kind: 'poisson', rate: 5000 })],
      [prof('vgg19')],
      /0\.150 ms predicted from its profile \(0\.100 ms a request \+ 0\.050 ms queueing at 5000 req\/s\), 0\.010 ms \(7%\) over/,
    )
    // uniform arrivals at the same rate do not wait
    checkRealtime([rt('vgg19#0', 0.14, uniform(5000))], [prof('vgg19')])
  })

  it('real-time demand above the GPU, each worker’s part named', () => {
    refuse(
      [
        rt('vgg19#0', 5, uniform(6000)),
        rt('resnet152#0', 5, { kind: 'poisson', rate: 6000 }),
        be('alexnet#0'),
      ],
      [prof('vgg19'), prof('resnet152'), prof('alexnet')],
      /^UserError: real-time demand is 1\.20 GPUs .*, 20% more than the GPU: vgg19#0 \(vgg19\) 6000 req\/s × 0\.100 ms = 0\.60; resnet152#0 \(resnet152\) 6000 req\/s × 0\.100 ms = 0\.60$/,
    )
    // two closed-loop real-time workers each keep the GPU busy all the time
    refuse(
      [rt('vgg19#0', 5), rt('resnet152#0', 5)],
      [prof('vgg19'), prof('resnet152')],
      /real-time demand is 2\.00 GPUs .*100% more than the GPU: vgg19#0 \(vgg19\) closed loop, busy 100% of the time = 1\.00/,
    )
  })

  it('on/off: the mean demand may fit while the rate when busy does not', () => {
    const a: LoadedArrival = {
      kind: 'onoff',
      on: { dist: 'fixed', meanS: 1 },
      off: { dist: 'fixed', meanS: 3 },
      whileOn: { kind: 'poisson', rate: 20_000 },
    }
    refuse(
      [rt('vgg19#0', 5, a)],
      [prof('vgg19')],
      /vgg19#0 \(vgg19\): its SLO of 5 ms cannot be met even alone on the whole GPU: while busy its requests come at 20000 req\/s, more than the 10000\.0 req\/s it serves there/,
    )
  })

  it('makePlan refuses them under any policy, and workers made in code with bad fields', async () => {
    const ps = [prof('vgg19'), prof('resnet152')]
    for (const policy of ['baseline', 'model-wise', 'eclip', 'eclip-rt'] as const)
      await assert.rejects(
        makePlan(gpu, 'm', [rt('vgg19#0', 0.05), be('resnet152#0')], ps, { policy }),
        /vgg19#0 \(vgg19\): its SLO of 0\.05 ms cannot be met even alone/,
      )
    const bad = async (w: Partial<WorkerSpec>, re: RegExp) =>
      assert.rejects(
        makePlan(gpu, 'm', [{ ...rt('vgg19#0', 1), ...w }, be('resnet152#0')], ps, { policy: 'baseline' }),
        re,
      )
    await bad({ sloMs: 0 }, /worker vgg19#0 \(vgg19\): SLO must be > 0 ms, got 0/)
    await bad({ sloMs: -3 }, /worker vgg19#0 \(vgg19\): SLO must be > 0 ms, got -3/)
    await bad(
      { priority: 'urgent' as 'realtime' },
      /worker vgg19#0 \(vgg19\): unknown priority "urgent" \(known: realtime, best-effort\)/,
    )
    const { sloMs: _s, ...noSlo } = rt('vgg19#0', 1)
    await assert.rejects(
      makePlan(gpu, 'm', [noSlo, be('resnet152#0')], ps, { policy: 'baseline' }),
      /worker vgg19#0 \(vgg19\): a real-time worker needs its latency SLO \(sloMs\)/,
    )
    await assert.rejects(
      makePlan(gpu, 'm', [rt('vgg19#0', 1), be('resnet152#0')], ps, { policy: 'eclip-rt', rtFactor: 0.9 }),
      /rt factor must be ≥ 1, got 0\.9/,
    )
  })
})

const PART = { mechanism: 'partition' } as const

describe('eclip-rt partitions (the partition mechanism)', () => {
  it('a real-time worker gets the fewest slices within its near-solo target, of its own; best-effort the rest', () => {
    // 100 µs from 64 SMs up (alone: 100 µs): within 1.1× needs 64 SMs = slices 7–14; the others take slices 0–6 and
    // the remainder
    const l = rtLayout(
      gpu,
      [rt('vgg19#0', 1, uniform(100)), be('resnet152#0')],
      [prof('vgg19'), prof('resnet152', 132)],
      PART,
    )
    const [p0, p1] = l.assigned.map((id) => l.partitions[id])
    assert.deepEqual(p0?.slices, sliceIds(7, 14))
    assert.equal(p0?.sms, 64)
    assert.deepEqual(p1?.slices, [...sliceIds(0, 6), 15])
    assert.equal(p1?.sms, 68)
    assert.match(
      l.notes.join('; '),
      /vgg19#0 \(realtime\): 64 SMs of its own \(slices 7–14\), 0\.100 ms predicted, 1\.00× its 0\.100 ms alone/,
    )
  })

  it('the factor trades the real-time worker’s latency for the others’ SMs', () => {
    // within 2×: 200 µs at 32 SMs
    const l = rtLayout(gpu, [rt('vgg19#0', 1), be('resnet152#0')], [prof('vgg19'), prof('resnet152')], {
      ...PART,
      factor: 2,
    })
    assert.equal(l.partitions[l.assigned[0] as number]?.sms, 32)
    assert.equal(DEFAULT_RT_FACTOR, 1.1)
  })

  it('the SLO binds where it is tighter than the factor', () => {
    // SLO 0.15 ms with factor 3: 150 µs needs 48 SMs (133 µs); 40 SMs give 160
    const l = rtLayout(gpu, [rt('vgg19#0', 0.15), be('resnet152#0')], [prof('vgg19'), prof('resnet152')], {
      ...PART,
      factor: 3,
    })
    assert.equal(l.partitions[l.assigned[0] as number]?.sms, 48)
  })

  it('targets that do not fit together: the worker that loses least gives up slices, down to its SLO', () => {
    // two real-time workers of 64 SMs each: 8 + 8 slices > 14 with a best-effort one. The loss of a step is the same
    // for both (56 SMs: 114 µs), so each gives up one
    const ws = [rt('vgg19#0', 1), rt('densenet201#0', 1), be('resnet152#0')]
    const l = rtLayout(gpu, ws, [prof('vgg19'), prof('densenet201'), prof('resnet152')], PART)
    assert.deepEqual(
      l.assigned.map((id) => l.partitions[id]?.sms),
      [56, 56, 20],
    )
    assert.match(
      l.notes.join('; '),
      /vgg19#0 \(realtime\): 56 SMs .*1\.14× .*its 1\.1× target did not fit beside the others/,
    )
    // one that saturates at 48 SMs needs only 6 slices within its target: then both fit as they are
    const m = rtLayout(gpu, ws, [prof('vgg19'), prof('densenet201', 48), prof('resnet152')], PART)
    assert.deepEqual(
      m.assigned.map((id) => m.partitions[id]?.sms),
      [64, 48, 20],
    )
    // slices of their own: no two partitions share one
    const seen = new Set<number>()
    for (const p of l.partitions) for (const s of p.slices) assert.ok(!seen.has(s) && seen.add(s))
  })

  it('refuses when the SLOs need more slices than there are, by how many', () => {
    // each needs 40 SMs (5 slices) for 160 µs: 3 × 5 = 15 of 15, and the best-effort worker one more
    const ws = [rt('vgg19#0', 0.16), rt('densenet201#0', 0.16), rt('alexnet#0', 0.16), be('resnet152#0')]
    assert.throws(
      () => rtLayout(gpu, ws, [prof('vgg19'), prof('densenet201'), prof('alexnet'), prof('resnet152')], PART),
      /^UserError: eclip-rt: the real-time workers need 15 of the GPU's 15 slices of 8 SMs to meet their SLOs \(vgg19#0 \(vgg19\) 5 for 0\.16 ms, densenet201#0 \(densenet201\) 5 for 0\.16 ms, alexnet#0 \(alexnet\) 5 for 0\.16 ms\), and the best-effort workers need at least one: 1 slice\(s\) \(8 SMs\) short$/,
    )
  })

  it('refuses a real-time worker that needs the whole GPU beside others', () => {
    // saturating at 132: 110 µs at 120 SMs, 100 on all; an SLO of 0.105 ms needs all 132
    assert.throws(
      () =>
        rtLayout(
          gpu,
          [rt('vgg19#0', 0.105), be('resnet152#0')],
          [prof('vgg19', 132), prof('resnet152')],
          PART,
        ),
      /^UserError: eclip-rt: vgg19#0 \(vgg19\) needs the whole GPU to meet its SLO of 0\.105 ms \(0\.110 ms predicted on 120 SMs, 0\.100 ms on all 132\), so the best-effort workers would get no SMs of their own/,
    )
  })

  it('without real-time workers, or one alone: the whole GPU, at normal priority (either mechanism)', () => {
    for (const mechanism of ['partition', 'priority'] as const)
      for (const ws of [[be('vgg19#0'), be('resnet152#0')], [rt('vgg19#0', 1)]]) {
        const l = rtLayout(
          gpu,
          ws,
          ws.map((w) => prof(w.model)),
          { mechanism },
        )
        assert.equal(l.partitions.length, 1)
        assert.equal(l.partitions[0]?.sms, 132)
        assert.deepEqual(
          l.highPriority,
          ws.map(() => false),
        )
      }
  })
})

describe('eclip-rt priorities (the priority mechanism)', () => {
  const ws = [rt('vgg19#0', 1, uniform(100)), be('resnet152#0'), rt('densenet201#0', 1, uniform(50))]
  const ps = [prof('vgg19'), prof('resnet152'), prof('densenet201')]

  it('with no SMs reserved, real-time workers high on the whole GPU, best-effort ones normal on it too', () => {
    const l = rtLayout(gpu, ws, ps, { reserveSms: 0 })
    assert.equal(l.partitions.length, 1)
    assert.equal(l.partitions[0]?.sms, 132)
    assert.deepEqual(l.highPriority, [true, false, true])
    assert.match(
      l.notes.join('; '),
      /vgg19#0, densenet201#0 \(realtime\): the whole GPU, streams at high priority/,
    )
    assert.match(l.notes.join('; '), /best-effort workers share the whole GPU at normal priority/)
  })

  it('by default the top 16 SMs are kept off the best-effort workers (the measured choice)', () => {
    const l = rtLayout(gpu, ws, ps, { mechanism: 'priority' })
    assert.equal(DEFAULT_RT_RESERVE_SMS, 16)
    assert.deepEqual(
      l.assigned.map((id) => l.partitions[id]?.sms),
      [132, 116, 132],
    )
    assert.deepEqual(l.highPriority, [true, false, true])
  })

  it('reserved SMs: the top slices kept off the best-effort workers, the real-time ones still on the whole GPU', () => {
    const l = rtLayout(gpu, ws, ps, { reserveSms: 16 })
    const [rt0, be0] = l.assigned.map((id) => l.partitions[id])
    assert.equal(rt0?.sms, 132)
    assert.deepEqual(be0?.slices, [...sliceIds(0, 12), 15])
    assert.equal(be0?.sms, 116)
    assert.match(
      l.notes.join('; '),
      /best-effort workers share 116 SMs .*the top 16 SMs \(slices 13–14\) run real-time work only/,
    )
  })

  it('refuses a reserve that is not whole slices, one that leaves best-effort work nothing, and mixed options', () => {
    assert.throws(
      () => rtLayout(gpu, ws, ps, { reserveSms: 12 }),
      /reserved SMs must be a whole number of the GPU's 8-SM slices \(0, 8, 16, …\), got 12/,
    )
    assert.throws(
      () => rtLayout(gpu, ws, ps, { reserveSms: 120 }),
      /reserving 120 SMs leaves the best-effort workers no slice of their own: at most 112 of the GPU's 132 SMs can be reserved/,
    )
    assert.throws(
      () => rtLayout(gpu, ws, ps, { mechanism: 'partition', reserveSms: 16 }),
      /reserved SMs \(16\) are the priority mechanism's; the partition mechanism gives each real-time worker its own partition/,
    )
    assert.throws(
      () => rtLayout(gpu, ws, ps, { mechanism: 'slices' as 'priority' }),
      /unknown mechanism "slices" \(known: priority, partition, gate\)/,
    )
  })
})

describe('makePlan eclip-rt', () => {
  it('one group per worker on its partition; priorities, SLOs and the factor recorded', async () => {
    const ws = [rt('vgg19#0', 1, uniform(100)), be('resnet152#0'), be('alexnet#0')]
    const ps = [prof('vgg19'), prof('resnet152', 132), prof('alexnet', 16)]
    const plan = await makePlan(gpu, 'm', ws, ps, { policy: 'eclip-rt', rtMechanism: 'partition' })
    assert.equal(plan.policy, 'eclip-rt')
    assert.equal((plan.params as Record<string, unknown>).rtFactor, 1.1)
    assert.equal((plan.params as Record<string, unknown>).rtMechanism, 'partition')
    assert.ok(plan.workers.every((w) => w.streamPriority === undefined))
    assert.deepEqual(
      plan.workers.map((w) => [w.groups.length, w.priority, w.sloMs]),
      [
        [1, 'realtime', 1],
        [1, 'best-effort', undefined],
        [1, 'best-effort', undefined],
      ],
    )
    const part = (i: number) =>
      plan.pool.partitions.find((p) => p.id === plan.workers[i]?.groups[0]?.partition)
    assert.equal(part(0)?.sms, 64)
    assert.equal(part(1), part(2))
    assert.equal(part(1)?.sms, 68)
    // 68 SMs is not a profiled size: said, and the worker's mean SMs is the partition's
    assert.match(plan.solver.notes ?? '', /68 SMs not a profiled size: predicted at 64/)
    assert.equal(plan.workers[1]?.meanSms, 68)
    // the other policies plan as they did: priorities recorded, nothing else changes
    const base = await makePlan(gpu, 'm', ws, ps, { policy: 'baseline' })
    assert.equal(base.pool.partitions.length, 1)
    assert.equal(base.workers[0]?.priority, 'realtime')
  })

  it('the priority mechanism: the real-time worker high, the plan records its mechanism and reserve', async () => {
    const ws = [rt('vgg19#0', 1, uniform(100)), be('resnet152#0')]
    const ps = [prof('vgg19'), prof('resnet152', 132)]
    const plan = await makePlan(gpu, 'm', ws, ps, { policy: 'eclip-rt', rtReserveSms: 8 })
    const params = plan.params as Record<string, unknown>
    assert.deepEqual([params.rtMechanism, params.rtReserveSms, params.rtFactor], ['priority', 8, undefined])
    assert.deepEqual(
      plan.workers.map((w) => w.streamPriority),
      ['high', undefined],
    )
    const part = (i: number) =>
      plan.pool.partitions.find((p) => p.id === plan.workers[i]?.groups[0]?.partition)
    assert.deepEqual([part(0)?.sms, part(1)?.sms], [132, 124])
    // the partition mechanism's factor is refused beside another mechanism, and every option is checked
    await assert.rejects(
      makePlan(gpu, 'm', ws, ps, { policy: 'eclip-rt', rtMechanism: 'priority', rtFactor: 1.2 }),
      /the rt factor \(1\.2\) sizes eclip-rt's partitions: it is the partition mechanism's \(this plan's is priority\)/,
    )
    await assert.rejects(
      makePlan(gpu, 'm', ws, ps, { policy: 'eclip-rt', rtReserveSms: -8 }),
      /rt reserve must be a whole number of SMs ≥ 0, got -8/,
    )
    await assert.rejects(
      makePlan(gpu, 'm', ws, ps, { policy: 'eclip-rt', rtMechanism: 'mps' as 'priority' }),
      /unknown eclip-rt mechanism "mps" \(known: priority, partition, gate\)/,
    )
    // other policies take no priorities from it
    const base = await makePlan(gpu, 'm', ws, ps, { policy: 'baseline' })
    assert.ok(base.workers.every((w) => w.streamPriority === undefined))
  })

  it('on the simulator, the real-time worker keeps its solo latency beside best-effort work; under baseline it does not', async () => {
    // one real-time worker at 200 req/s, two closed-loop best-effort workers
    const ws = [rt('vgg19#0', 5, uniform(200)), be('resnet152#0'), be('densenet201#0')]
    const ps = [rtSimProf(), beSimProf('resnet152'), beSimProf('densenet201')]
    const latency = (policy: 'eclip-rt' | 'baseline', rtMechanism: RtMechanism = 'partition') =>
      simulated(ws, ps, { policy, rtMechanism })
    const ours = await latency('eclip-rt')
    const base = await latency('baseline')
    assert.ok(ours.n >= 40 && base.n >= 40)
    // alone: 10 × 100 µs; on its own 64 SMs nothing else runs
    assert.ok(Math.abs(ours.mean - 1000) < 1, `eclip-rt ${ours.mean} µs`)
    assert.ok(base.mean > 1.2 * ours.mean, `baseline ${base.mean} µs vs eclip-rt ${ours.mean} µs`)
    assert.ok(ours.be > 0)
    // the priority mechanism: its kernels take their 64 SMs before the best-effort ones on the whole GPU (no memory
    // interference in the neutral calibration), and the best-effort workers have all 132 SMs between its requests
    const prio = await latency('eclip-rt', 'priority')
    assert.ok(Math.abs(prio.mean - 1000) < 1, `priority ${prio.mean} µs`)
    assert.ok(prio.be > 1.5 * ours.be, `best-effort requests: priority ${prio.be}, partition ${ours.be}`)
  })
})

describe('eclip-rt gates (the gate mechanism)', () => {
  const ws = [rt('vgg19#0', 1, uniform(100)), be('resnet152#0'), rt('densenet201#0', 1, uniform(50))]
  // resnet152: 12 kernels of 10 µs on the whole GPU, ops starting at every third kernel
  const beProf = {
    ...profileOf(
      'resnet152',
      Array.from({ length: 12 }, () => scaling(10, 132)),
    ),
    opStarts: [0, 3, 6, 9],
  }
  const ps = [prof('vgg19'), beProf, prof('densenet201')]

  it('a best-effort worker waits before its first kernel, then at the first op start ≥ the spacing after the last', () => {
    assert.deepEqual(gatePositions(beProf, 25), [0, 3, 6, 9])
    assert.deepEqual(gatePositions(beProf, 40), [0, 6])
    assert.deepEqual(gatePositions(beProf, 1000), [0])
    // on 64 SMs each kernel takes about twice as long: the gates come after half as many kernels, as many µs apart
    assert.deepEqual(
      gatePositions(beProf, 40, () => 64),
      [0, 3, 6, 9],
    )
    assert.deepEqual(
      gatePositions(beProf, 40, (k) => (k < 6 ? 132 : 64)),
      [0, 6, 9],
    )
    // without op starts, any kernel
    const { opStarts: _o, ...noOps } = beProf
    assert.deepEqual(gatePositions(noOps, 25), [0, 3, 6, 9])
    assert.deepEqual(gatePositions(noOps, 15), [0, 2, 4, 6, 8, 10])
  })

  it('every worker on the whole GPU, the real-time ones high and raising, the best-effort ones waiting', () => {
    const l = rtLayout(gpu, ws, ps, { mechanism: 'gate', gateUs: 25 })
    assert.equal(l.partitions.length, 1)
    assert.equal(l.partitions[0]?.sms, 132)
    assert.deepEqual(l.highPriority, [true, false, true])
    assert.deepEqual(l.gates, [
      { role: 'raise' },
      { role: 'wait', atKernels: [0, 3, 6, 9] },
      { role: 'raise' },
    ])
    assert.match(
      l.notes.join('; '),
      /best-effort workers stop while a real-time request runs: .* 25 µs of work apart \(resnet152#0 4 gates a request\)/,
    )
    // what that costs them: 100 req/s × 100 µs + 50 req/s × 100 µs of real-time work a second
    assert.match(l.notes.join('; '), /the real-time workers keep the GPU busy up to 1\.5% of the time/)
    assert.equal(DEFAULT_RT_GATE_US, 40)
    // the default mechanism, 40 µs apart by default
    assert.deepEqual(rtLayout(gpu, ws, ps).gates?.[1], {
      role: 'wait',
      atKernels: [0, 6],
    })
    // a reserve asks for the priority mechanism, a factor for the partition one: no gates
    assert.equal(rtLayout(gpu, ws, ps, { reserveSms: 0 }).gates, undefined)
    assert.equal(rtLayout(gpu, ws, ps, { factor: 1.2 }).gates, undefined)
  })

  it('refuses a spacing for another mechanism, a reserve beside gates, and a spacing ≤ 0', () => {
    assert.throws(
      () => rtLayout(gpu, ws, ps, { mechanism: 'priority', gateUs: 40 }),
      /the gate spacing \(40 µs\) is the gate mechanism's, not the priority one's/,
    )
    assert.throws(
      () => rtLayout(gpu, ws, ps, { mechanism: 'gate', reserveSms: 16 }),
      /reserved SMs \(16\) are the priority mechanism's; the gate mechanism keeps best-effort work off the whole GPU while a real-time request runs/,
    )
    assert.throws(
      () => rtLayout(gpu, ws, ps, { mechanism: 'gate', gateUs: 0 }),
      /the gate spacing must be a number of µs > 0, got 0/,
    )
  })

  it('makePlan records the mechanism, the spacing and each worker’s gate; other mechanisms have none', async () => {
    const plan = await makePlan(gpu, 'm', ws, ps, { policy: 'eclip-rt', rtMechanism: 'gate', rtGateUs: 25 })
    const params = plan.params as Record<string, unknown>
    assert.deepEqual([params.rtMechanism, params.rtGateUs, params.rtReserveSms], ['gate', 25, undefined])
    assert.deepEqual(
      plan.workers.map((w) => [w.streamPriority, w.gate?.role, w.gate?.atKernels]),
      [
        ['high', 'raise', undefined],
        [undefined, 'wait', [0, 3, 6, 9]],
        ['high', 'raise', undefined],
      ],
    )
    const byDefault = await makePlan(gpu, 'm', ws, ps, { policy: 'eclip-rt' })
    assert.equal((byDefault.params as Record<string, unknown>).rtMechanism, 'gate')
    assert.deepEqual(
      byDefault.workers.map((w) => w.gate?.role),
      ['raise', 'wait', 'raise'],
    )
    const prio = await makePlan(gpu, 'm', ws, ps, { policy: 'eclip-rt', rtMechanism: 'priority' })
    assert.ok(prio.workers.every((w) => w.gate === undefined))
    await assert.rejects(
      makePlan(gpu, 'm', ws, ps, { policy: 'eclip-rt', rtMechanism: 'priority', rtGateUs: 25 }),
      /the rt gate spacing \(25 µs\) is eclip-rt's gate mechanism's \(this plan's is priority\)/,
    )
    await assert.rejects(
      makePlan(gpu, 'm', ws, ps, { policy: 'eclip-rt', rtMechanism: 'gate', rtReserveSms: 16 }),
      /the rt reserve \(16 SMs\) is eclip-rt's priority mechanism's \(this plan's is gate\)/,
    )
    await assert.rejects(
      makePlan(gpu, 'm', ws, ps, { policy: 'eclip-rt', rtMechanism: 'partition', rtReserveSms: 16 }),
      /the rt reserve \(16 SMs\) is eclip-rt's priority mechanism's \(this plan's is partition\)/,
    )
    await assert.rejects(
      makePlan(gpu, 'm', ws, ps, { policy: 'eclip-rt', rtMechanism: 'gate', rtGateUs: -1 }),
      /rt gate spacing must be > 0 µs, got -1/,
    )
  })

  it('on the simulator, best-effort work parks at its gates while a real-time request runs', async () => {
    // the real-time worker at 200 req/s beside best-effort workers of 50-µs kernels; a drain so long that priority
    // alone gives the real-time kernels nothing
    const ws = [rt('vgg19#0', 5, uniform(200)), be('resnet152#0'), be('densenet201#0')]
    const ps = [rtSimProf(), beSimProf('resnet152'), beSimProf('densenet201')]
    const run = (rtMechanism: RtMechanism, gateWaitUs = 0, bes = 2) =>
      simulated(
        ws.slice(0, 1 + bes),
        ps.slice(0, 1 + bes),
        { policy: 'eclip-rt', rtMechanism, ...(rtMechanism === 'priority' ? { rtReserveSms: 0 } : {}) },
        {
          calibration: { ...CALIBRATION, realtime: { openLoopIssueUs: 0, priorityDrainUs: 1e9, gateWaitUs } },
        },
      )
    const prio = await run('priority')
    const gate = await run('gate')
    assert.ok(gate.n >= 40 && prio.n >= 40)
    // alone: 10 × 100 µs; with gates only what the best-effort workers have running at its arrival runs beside it:
    // the rest of one kernel each (50 µs alone, 100 while the two share the GPU)
    assert.ok(gate.mean < 1100, `gate ${gate.mean} µs`)
    assert.ok(prio.mean > 1.2 * gate.mean, `priority ${prio.mean} µs vs gate ${gate.mean} µs`)
    assert.ok(gate.be > 0 && gate.be < prio.be, `best-effort requests: gate ${gate.be}, priority ${prio.be}`)
    // what each gate costs a best-effort worker (alone beside the real-time one: two would fill each other's gaps)
    const free = await run('gate', 0, 1)
    const costly = await run('gate', 20, 1)
    assert.ok(
      costly.be < 0.8 * free.be,
      `best-effort requests with 20-µs gates ${costly.be}, free ones ${free.be}`,
    )
  })
})

describe('eclip-rt gates with the best-effort workers planned among themselves', () => {
  const ws = [rt('vgg19#0', 1, uniform(100)), be('resnet152#0'), be('densenet201#0')]
  const ps = [prof('vgg19'), prof('resnet152', 32), prof('densenet201', 48)]

  it('their plan’s partitions and groups, under their gates; the real-time worker stays whole and raising', async () => {
    const gated = await makePlan(gpu, 'm', ws, ps, { policy: 'eclip-rt' })
    // a plan of the two best-effort workers alone: model-wise's disjoint homes
    const bePlan = await makePlan(gpu, 'm[best-effort]', ws.slice(1), ps.slice(1), { policy: 'model-wise' })
    const merged = withBestEffortPlan(gpu, gated, bePlan, ps)
    const slicesOf = (plan: typeof merged, id: number) =>
      plan.pool.partitions.find((p) => p.id === id)?.slices.join(',')
    // the real-time worker: the whole GPU, high, raising
    const rt0 = merged.workers[0]
    assert.equal(rt0?.streamPriority, 'high')
    assert.deepEqual(rt0?.gate, { role: 'raise' })
    assert.equal(slicesOf(merged, rt0?.groups[0]?.partition as number), gpu.slices.map((s) => s.id).join(','))
    // each best-effort worker: the partitions of its plan (same slices, ids of the union pool), its gates kept
    for (const [i, w] of merged.workers.slice(1).entries()) {
      const b = bePlan.workers[i]
      assert.deepEqual(
        w.groups.map((g) => slicesOf(merged, g.partition)),
        b?.groups.map((g) => slicesOf(bePlan, g.partition)),
      )
      assert.deepEqual(w.gate, gated.workers[i + 1]?.gate)
      assert.equal(w.gate?.role, 'wait')
    }
    assert.notEqual(
      slicesOf(merged, merged.workers[1]?.groups[0]?.partition as number),
      slicesOf(merged, merged.workers[2]?.groups[0]?.partition as number),
    )
    assert.equal((merged.params as Record<string, unknown>).rtBestEffort, 'model-wise')
    assert.match(merged.solver.notes ?? '', /best-effort workers planned by model-wise among themselves/)
    assert.doesNotMatch(merged.solver.notes ?? '', /best-effort workers share the whole GPU/)
    // makePlan takes it the same way, and checks the result against the plan format
    const made = await makePlan(gpu, 'm', ws, ps, { policy: 'eclip-rt', rtBestEffortPlan: bePlan })
    assert.deepEqual(made.workers, merged.workers)
  })

  it('rtUngatedSms: a best-effort worker on partitions that small keeps no gates, and runs beside the real-time one', async () => {
    const bePlan = await makePlan(gpu, 'm[best-effort]', ws.slice(1), ps.slice(1), { policy: 'model-wise' })
    const sms = bePlan.workers.map(
      (w) => bePlan.pool.partitions.find((p) => p.id === w.groups[0]?.partition)?.sms,
    )
    const small = Math.min(...(sms as number[]))
    assert.ok(small < Math.max(...(sms as number[])), `model-wise homes ${sms.join(', ')} SMs`)
    const opts = { policy: 'eclip-rt' as const, rtBestEffortPlan: bePlan, rtUngatedSms: small }
    const made = await makePlan(gpu, 'm', ws, ps, opts)
    assert.deepEqual(
      made.workers.map((w) => w.gate?.role),
      ['raise', ...sms.map((x) => (x === small ? undefined : 'wait'))],
    )
    assert.equal((made.params as Record<string, unknown>).rtUngatedSms, small)
    const free = made.workers.find((w, i) => i > 0 && !w.gate)
    assert.match(
      made.solver.notes ?? '',
      new RegExp(`ungated, on at most ${small} SMs, beside the real-time requests: ${free?.name}`),
    )
    // 0, the default: every best-effort worker gated, and nothing recorded
    const gatedAll = await makePlan(gpu, 'm', ws, ps, { ...opts, rtUngatedSms: 0 })
    assert.deepEqual(
      gatedAll.workers.map((w) => w.gate?.role),
      ['raise', 'wait', 'wait'],
    )
    assert.equal((gatedAll.params as Record<string, unknown>).rtUngatedSms, undefined)
    // on the simulator the small worker goes on while the real-time requests run (10 kernels of 100 µs every 5 ms):
    // best-effort workers of 20 kernels of 50 µs, one wanting 32 SMs, the other 48
    const simWs = [rt('vgg19#0', 5, uniform(200)), ...ws.slice(1)]
    const simPs = [
      rtSimProf(),
      profileOf(
        'resnet152',
        Array.from({ length: 20 }, () => scaling(50, 32)),
      ),
      profileOf(
        'densenet201',
        Array.from({ length: 20 }, () => scaling(50, 48)),
      ),
    ]
    const simBe = await makePlan(gpu, 'm[best-effort]', simWs.slice(1), simPs.slice(1), {
      policy: 'model-wise',
    })
    const runOf = async (rtUngatedSms: number) => {
      const plan = await makePlan(gpu, 'm', simWs, simPs, {
        policy: 'eclip-rt',
        rtBestEffortPlan: simBe,
        rtUngatedSms,
      })
      const spec = specOf(plan, simPs, { windowS: 0.2, warmupS: 0.01 })
      const r = simulate({
        ...spec,
        workers: simWs,
        loop: { kind: 'arrivals', sources: simWs.map((w) => arrivalRecord(w.arrival)) },
      })
      return { gates: plan.workers.map((w) => w.gate?.role), done: r.workers.map((w) => w.endUs.length) }
    }
    const gatedRun = await runOf(0)
    const freeRun = await runOf(32)
    assert.deepEqual(freeRun.gates, ['raise', undefined, 'wait'])
    const [, g1 = 0, g2 = 0] = gatedRun.done
    const [, f1 = 0, f2 = 0] = freeRun.done
    assert.ok(f1 > 1.1 * g1, `resnet152#0's requests: ungated ${f1}, gated ${g1}`)
    assert.ok(Math.abs(f2 - g2) <= 0.05 * g2, `densenet201#0's requests: ${f2} beside the ungated one, ${g2}`)
    // refused where it does not apply, and as a whole number of SMs ≥ 0
    await assert.rejects(
      makePlan(gpu, 'm', ws, ps, { policy: 'eclip-rt', rtMechanism: 'priority', rtUngatedSms: 32 }),
      /the rt ungated SMs \(32\) are eclip-rt's gate mechanism's \(this plan's is priority\)/,
    )
    await assert.rejects(
      makePlan(gpu, 'm', ws, ps, { ...opts, rtUngatedSms: 2.5 }),
      /rt ungated SMs must be a whole number of SMs ≥ 0, got 2.5/,
    )
    await assert.rejects(
      makePlan(gpu, 'm', ws, ps, { policy: 'eclip-rt', rtBestEffort: 'whole', rtUngatedSms: 32 }),
      /the rt ungated SMs \(32\) take the gates off best-effort workers planned onto few SMs; with the best-effort placement whole/,
    )
    // without a plan of the best-effort workers (here: no evaluator to make one) it is said unused, every one gated
    const unplanned = await makePlan(gpu, 'm', ws, ps, { policy: 'eclip-rt', rtUngatedSms: 132 })
    assert.deepEqual(
      unplanned.workers.map((w) => w.gate?.role),
      ['raise', 'wait', 'wait'],
    )
    assert.match(
      unplanned.solver.notes ?? '',
      /rt ungated SMs \(132\) unused: no plan of the best-effort workers among themselves \(no evaluator\)/,
    )
  })

  it('refuses a plan of other workers, and the option where it does not apply', async () => {
    const gated = await makePlan(gpu, 'm', ws, ps, { policy: 'eclip-rt' })
    const other = await makePlan(
      gpu,
      'x',
      [be('alexnet#0'), be('densenet201#0')],
      [prof('alexnet'), ps[2] as Profile],
      {
        policy: 'model-wise',
      },
    )
    assert.throws(
      () => withBestEffortPlan(gpu, gated, other, ps),
      /the best-effort plan \(alexnet#0, densenet201#0\) is not one of this mix's best-effort workers \(resnet152#0, densenet201#0\)/,
    )
    await assert.rejects(
      makePlan(gpu, 'm', ws, ps, { policy: 'eclip-rt', rtMechanism: 'priority', rtBestEffort: 'eclip-fit' }),
      /the best-effort placement \(eclip-fit\) is eclip-rt's gate mechanism's \(this plan's is priority\)/,
    )
    await assert.rejects(
      makePlan(gpu, 'm', ws, ps, { policy: 'eclip-fit', rtBestEffortPlan: gated }),
      /a plan of the best-effort workers is eclip-rt's, not eclip-fit's/,
    )
    await assert.rejects(
      // biome-ignore lint/suspicious/noExplicitAny: a bad value from outside the type system
      makePlan(gpu, 'm', ws, ps, { policy: 'eclip-fit', objective: 'latency' as any }),
      /unknown objective "latency" \(known: stp, requests\)/,
    )
    // without an evaluator to plan them with, they share the whole GPU, and the plan says why
    assert.match(gated.solver.notes ?? '', /planning them among themselves \(eclip-fit\) needs an evaluator/)
    assert.equal(new Set(gated.workers.flatMap((w) => w.groups.map((g) => g.partition))).size, 1)
  })

  it('the simulator-scored planner plans them with eclip-fit, or keeps them whole when asked', async () => {
    const workers: WorkerSpec[] = [
      rt('vgg19#0', 10, uniform(100)),
      be('resnet152#1'),
      be('shufflenet#2'),
    ].map((w) => ({ ...w, batch: 8 }))
    const set = loadProfileSet('profiles/h100', workers)
    const ev = simInputs(set.gpu, { dir: 'profiles/h100' })
    const planned = await simPlanner(() => ev.inputs)(set.gpu, 'm', workers, set.profiles, {
      policy: 'eclip-rt',
    })
    assert.equal((planned.params as Record<string, unknown>).rtBestEffort, 'eclip-fit')
    // and its best-effort floors checked with the real-time requests in (src/execute/sim/realtime-floors.ts)
    assert.match(
      planned.solver.notes ?? '',
      /with the real-time requests in \(the whole workload simulated, 3 s\)/,
    )
    assert.deepEqual(
      planned.workers.map((w) => w.gate?.role),
      ['raise', 'wait', 'wait'],
    )
    const whole = await simPlanner(() => ev.inputs, { options: { rtBestEffort: 'whole' } })(
      set.gpu,
      'm',
      workers,
      set.profiles,
      {
        policy: 'eclip-rt',
      },
    )
    assert.equal((whole.params as Record<string, unknown>).rtBestEffort, undefined)
    assert.equal(whole.pool.partitions.length, 1)
    assert.doesNotMatch(whole.solver.notes ?? '', /needs an evaluator/)
  })
})
