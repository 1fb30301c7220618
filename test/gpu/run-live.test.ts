// eclip-live on `eclip bench --backend gpu`, against a stand-in backend speaking the real frames
// (test/gpu/fake_run_backend.py, which keeps the active set with the backend's own eclip_gpu.live): the run message
// carries the table's plans and, per set of workers, the plan it runs under; the reply's sets become the simulator's
// observations (plan per request, time per set by key); static policies run the same on/off arrivals; each set of the
// table is then held; the report gives the eclip-live table measured on GPU. A reply that does not add up is refused.
import assert from 'node:assert/strict'
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { handPlanner } from '../../bench/hand-planner.ts'
import { runExperiment } from '../../src/bench/experiment.ts'
import { textReport } from '../../src/bench/report.ts'
import type { RunSpec } from '../../src/execute/backend.ts'
import { GpuBackend, liveObservations, liveOf } from '../../src/execute/gpu/backend.ts'
import { BackendCrash } from '../../src/execute/gpu/client.ts'
import type { RunReply } from '../../src/execute/gpu/protocol.ts'
import { defaultPowerModel, defaultPrimitives } from '../../src/execute/sim/index.ts'
import { expandWorkers, type Mix, planKey, type Run } from '../../src/formats/index.ts'
import { normalise } from '../../src/measure/metrics.ts'
import { makePlanTable } from '../../src/plan/table.ts'
import { syntheticProfile } from '../../src/profile/synthetic.ts'
import { gpu, gpuRef, simExperiment } from '../bench/sim-experiment.ts'

const repo = join(import.meta.dirname, '..', '..')
const venvPython = join(repo, '.venv', 'bin', 'python')

function fakePython(record: string): string {
  const f = join(mkdtempSync(join(tmpdir(), 'eclip-fake-')), 'python')
  const py = existsSync(venvPython) ? venvPython : 'python3'
  writeFileSync(
    f,
    `#!/usr/bin/env bash\nexec '${py}' '${join(repo, 'test', 'gpu', 'fake_run_backend.py')}' '${record}'\n`,
  )
  chmodSync(f, 0o755)
  return f
}

const onoff = {
  kind: 'onoff',
  on: { dist: 'exponential', meanS: 0.003 },
  off: { dist: 'exponential', meanS: 0.003 },
}
const mix = {
  name: 'duo',
  workers: [
    { model: 'alexnet', arrival: onoff },
    { model: 'vgg19', arrival: { ...onoff, whileOn: { kind: 'poisson', rate: 4000 } } },
  ],
} as Mix

async function experiment(record: string, captured: RunSpec[]): Promise<Run[]> {
  const backend = await GpuBackend.start({ python: fakePython(record) })
  const run = backend.run.bind(backend)
  backend.run = (spec) => {
    captured.push(spec)
    return run(spec)
  }
  try {
    return normalise(
      await runExperiment(
        simExperiment({
          mixes: [mix],
          policies: ['baseline', 'eclip-fit', 'eclip-live'],
          backend,
          planner: handPlanner,
          tablePlanner: (g, m, workers, profiles, reuse) =>
            makePlanTable(g, m, workers, profiles, { policy: 'eclip-fit', planner: handPlanner, reuse }),
          holdUs: 500,
          warmupS: 0.005,
          windowS: 0.05,
          seed: 4,
          solo: true,
        }),
      ),
    )
  } finally {
    await backend.close()
  }
}

describe('eclip-live on the GPU runner', () => {
  it('sends the table, follows the active set, holds each set and reports it as measured', async () => {
    const record = join(mkdtempSync(join(tmpdir(), 'eclip-rec-')), 'runs.jsonl')
    const specs: RunSpec[] = []
    const runs = await experiment(record, specs)
    const sent = readFileSync(record, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
    const names = ['alexnet#0', 'vgg19#0']
    // static policies and the table-following run: the same on/off schedules
    const mixRuns = sent.filter((m) => m.key.startsWith('duo|'))
    assert.deepEqual(mixRuns.map((m) => m.key.split('|')[1]).sort(), ['baseline', 'eclip-fit', 'eclip-live'])
    for (const m of mixRuns) assert.deepEqual(m.arrivals, mixRuns[0].arrivals, m.key)
    assert.equal(mixRuns[0].arrivals[0].kind, 'closed')
    assert.equal(mixRuns[0].arrivals[1].kind, 'open')
    const liveMsg = mixRuns.find((m) => m.key.includes('eclip-live'))
    assert.equal(mixRuns.filter((m) => m.live).length, 1)
    // every set names its own plan (a table of two workers plans each subset), the table's three plans sent
    assert.deepEqual(liveMsg.live.sets, ['', 'alexnet#0', 'vgg19#0', planKey(names)])
    assert.deepEqual(liveMsg.live.plans.map((e: { key: string }) => e.key).sort(), [
      'alexnet#0',
      'alexnet#0+vgg19#0',
      'vgg19#0',
    ])
    assert.equal(liveMsg.live.holdUs, 500)
    assert.equal(liveMsg.live.plans.find((e: { key: string }) => e.key === 'vgg19#0').plan.policy, 'baseline')
    // then each set held: its workers alone, closed loop (no schedule), under its own plan
    const held = runs.filter((r) => r.role === 'set-alone')
    assert.deepEqual(held.map((r) => r.mix).sort(), [
      'duo[alexnet#0+vgg19#0]',
      'duo[alexnet#0]',
      'duo[vgg19#0]',
    ])
    for (const m of sent.filter((x) => x.key.startsWith('duo['))) assert.equal('arrivals' in m, false, m.key)
    // the reply's sets as the simulator's observations
    const lr = runs.find((r) => r.role === 'mix' && r.policy === 'eclip-live')
    const lv = lr?.metrics.live
    assert.ok(lr && lv, 'the table-following run has live metrics')
    assert.equal(lr.backend, 'gpu')
    assert.ok(lv.switches > 0, 'on/off sources change the active set')
    const total = lv.sets.reduce((a, s) => a + s.timeS, 0)
    assert.ok(Math.abs(total - lr.windowS) < 1e-6, `sets cover the window: ${total} vs ${lr.windowS}`)
    const both = lv.sets.find((s) => s.key === planKey(names))
    assert.ok(
      both?.workers.every((w) => w.requests > 0),
      'requests ran under the pair’s plan',
    )
    const alone = lv.sets.find((s) => s.key === 'alexnet#0')
    assert.ok(alone && (alone.workers[0]?.requests ?? 0) > 0, 'alexnet ran alone too')
    // the stand-in takes 100 µs a request wherever it runs: as fast as held
    assert.ok(Math.abs((alone.speedVsHeld ?? 0) - 1) < 1e-9, `alone ${alone.speedVsHeld}`)
    const t = textReport(runs)
    assert.match(t, /Following the active set \(eclip-live\) vs static plans — duo, measured on GPU/)
    assert.match(t, /Active sets of duo eclip-live\/graph/)
    // the spec the backend got followed the table with the hold given
    assert.equal(specs.find((s) => s.live)?.live?.holdUs, 500)
  })

  it('refuses a reply whose sets do not hold their worker or do not match its requests', async () => {
    const spec = await liveSpec()
    const live = liveOf(spec)
    assert.ok(live)
    const reply = (over: Partial<NonNullable<RunReply['live']>>): RunReply => ({
      type: 'result',
      key: spec.key,
      mode: 'graph',
      workers: [
        { name: 'alexnet#0', startUs: [0, 100], endUs: [100, 200] },
        { name: 'vgg19#0', startUs: [50], endUs: [150] },
      ],
      windowStartUs: 0,
      windowEndUs: 200,
      energyJ: 1,
      wallS: 0,
      clocks: {},
      switches: [0, 0],
      notes: [],
      live: {
        requestSets: [[1, 3], [3]],
        setTimeUs: [0, 50, 0, 150],
        switches: 2,
        switchesTotal: 2,
        ...over,
      },
    })
    const ok = liveObservations(spec.key, live.layout, live.message, reply({}))
    assert.deepEqual(ok.keys, ['alexnet#0', 'alexnet#0+vgg19#0'])
    assert.deepEqual(ok.requestPlans, [[0, 1], [1]])
    assert.deepEqual(ok.setTimeUs, { 'alexnet#0': 50, 'alexnet#0+vgg19#0': 150 })
    assert.deepEqual(ok.fallbacks, {})
    const refused = (over: Partial<NonNullable<RunReply['live']>>, why: RegExp) =>
      assert.throws(
        () => liveObservations(spec.key, live.layout, live.message, reply(over)),
        (e: unknown) => e instanceof BackendCrash && why.test(e.message),
      )
    refused({ requestSets: [[1, 2], [3]] }, /worker 0: a request started in set 2, which does not hold it/)
    refused({ requestSets: [[1], [3]] }, /worker 0: 1 sets for 2 requests/)
    refused({ setTimeUs: [0, 1] }, /2 set times for 4 sets/)
  })
})

/** A table-following run of the duo. */
async function liveSpec(): Promise<RunSpec> {
  const workers = expandWorkers(mix)
  const profiles = workers.map((w) =>
    syntheticProfile({ model: w.model, batch: w.batch, dtype: w.dtype, gpu }),
  )
  const table = await makePlanTable(gpu, 'duo', workers, profiles, {
    policy: 'eclip-fit',
    planner: handPlanner,
    reuse: [],
  })
  const full = table.plans.find((e) => e.key === planKey(workers.map((w) => w.name)))
  assert.ok(full)
  return {
    key: 'duo|eclip-live|graph|bmix',
    role: 'mix',
    mix: 'duo',
    mode: 'graph',
    batch: null,
    gpu,
    plan: full.plan,
    workers,
    profiles,
    loop: { kind: 'closed' },
    warmupS: 0,
    windowS: 0.001,
    seed: 1,
    primitives: defaultPrimitives(gpuRef),
    power: defaultPowerModel(gpuRef),
    live: { table, holdUs: 500 },
  }
}
