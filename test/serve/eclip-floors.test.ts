// eclip serve plans with eclip-fit unless the config names a policy, keeping every model at its floor. With the paper's
// policy (`eclip`) it checks its plan's floors on the simulator, as `eclip plan` and `eclip bench` do, and says at
// start-up which model falls under its floor and by how much.
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import YAML from 'yaml'
import { parseFormat, readFile, type WorkerSpec } from '../../src/formats/index.ts'
import { type ServeConfig, serveConfigConsistencyErrors } from '../../src/formats/serve-config.ts'
import { loadGpu, loadProfileSet } from '../../src/profile/store.ts'
import { defaultPlanner, startServe } from '../../src/serve/index.ts'
import type { ActiveSetScheduler } from '../../src/serve/live.ts'
import { resolveServeSetup } from '../../src/serve/policies.ts'

const PROFILES = join(import.meta.dirname, '..', '..', 'profiles', 'h100')

const specs = (models: string[]): WorkerSpec[] =>
  models.map((m) => ({ name: m, model: m, batch: 8, dtype: 'fp16' }))

async function setupOf(minShare?: number, policy: string | null = 'eclip', extra: object = {}) {
  const file = join(mkdtempSync(join(tmpdir(), 'eclip-floors-')), 'serve.yaml')
  const models = ['alexnet', 'resnet152', 'vgg19'].map((model) => ({
    model,
    ...(minShare !== undefined ? { minShare } : {}),
  }))
  const config = {
    backend: 'sim',
    profiles: PROFILES,
    frontends: 0,
    ...(policy ? { policy } : {}),
    ...extra,
    models,
  }
  writeFileSync(file, YAML.stringify(config))
  return resolveServeSetup(readFile<ServeConfig>('serve-config', file), {
    configFile: file,
    planner: defaultPlanner,
  })
}

describe("eclip serve's default policy", () => {
  it('is eclip-fit: the plan made at start-up keeps every model at its floor', async () => {
    const setup = await setupOf(undefined, null)
    assert.equal(setup.plan?.policy, 'eclip-fit')
    assert.ok(!setup.notes.some((n) => n.includes('WARNING')), setup.notes.join('\n'))
    assert.match(setup.plan?.solver.notes ?? '', /floors met \(0\.9×\)/)
  })
})

describe("a serve config's p95 cap (maxP95)", () => {
  it("is kept by the plan made at start-up, as eclip plan's --max-p95 keeps it", async () => {
    const setup = await setupOf(undefined, null, { maxP95: 1.05 })
    assert.equal(setup.plan?.policy, 'eclip-fit')
    assert.equal(setup.plan?.params.maxP95, 1.05)
    assert.match(setup.plan?.solver.notes ?? '', /floors met \(0\.9×, every p95 ≤ 1\.05× baseline's\)/)
    assert.ok(!setup.notes.some((n) => n.includes('WARNING')), setup.notes.join('\n'))
  })

  it("is kept by eclip-live's eclip-fit plans of two or more models", async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'eclip-live-p95-')), 'serve.yaml')
    const models = [{ model: 'alexnet' }, { model: 'vgg19' }]
    const live = { holdMs: 20 }
    writeFileSync(
      file,
      YAML.stringify({
        policy: 'eclip-live',
        backend: 'sim',
        profiles: PROFILES,
        frontends: 0,
        dashboard: false,
        live,
        maxP95: 1.05,
        models,
      }),
    )
    // planned in threads (the server's own), and in this thread by a planner given to the server
    for (const planner of [undefined, defaultPlanner]) {
      const run = await startServe({ config: file, port: 0, grpcPort: null, ...(planner ? { planner } : {}) })
      try {
        const table = (run.server.scheduler as ActiveSetScheduler).currentTable()
        const pair = table.plans.find((e) => e.key === 'alexnet+vgg19')
        assert.equal(pair?.plan.policy, 'eclip-fit')
        assert.equal(pair?.plan.params.maxP95, 1.05, planner ? 'given planner' : 'threads')
      } finally {
        await run.server.close()
      }
    }
  })

  it('is refused where no eclip-fit plan is made, naming the field and why', () => {
    const models = [{ model: 'alexnet' }, { model: 'vgg19' }]
    assert.deepEqual(serveConfigConsistencyErrors({ models, maxP95: 1.1 }), [])
    assert.deepEqual(serveConfigConsistencyErrors({ models, policy: 'eclip-rt', maxP95: 1.1 }), [])
    assert.deepEqual(serveConfigConsistencyErrors({ models, policy: 'baseline', maxP95: 1.1 }), [
      "/maxP95: only eclip-fit's plans keep it (eclip-fit, eclip-rt's best-effort plan, eclip-live's eclip-fit plans; this config has policy baseline)",
    ])
    assert.deepEqual(
      serveConfigConsistencyErrors({
        models,
        policy: 'eclip-live',
        live: { tablePolicy: 'eclip' },
        maxP95: 1.1,
      }),
      [
        "/maxP95: only eclip-fit's plans keep it (eclip-fit, eclip-rt's best-effort plan, eclip-live's eclip-fit plans; this config has policy eclip-live, live.tablePolicy eclip)",
      ],
    )
    assert.deepEqual(
      serveConfigConsistencyErrors({ models, policy: 'eclip-live', live: { table: 't.json' }, maxP95: 1.1 }),
      [
        '/maxP95: the plan table is given (/live/table): its plans serve as they are; make it with eclip plan --table --max-p95 instead',
      ],
    )
    assert.deepEqual(serveConfigConsistencyErrors({ models, plan: 'p.json', maxP95: 1.1 }), [
      '/maxP95: the plan is given (/plan): make it with eclip plan --max-p95 instead',
    ])
    // the planner's other inputs, given beside a plan, are refused too rather than dropped
    assert.deepEqual(
      serveConfigConsistencyErrors({
        models: [{ model: 'alexnet', minShare: 0.99, weight: 5 }],
        plan: 'p.json',
        objective: 'requests',
        realtime: { mechanism: 'gate' },
      }),
      [
        '/objective: the plan is given (/plan): make it with eclip plan --objective instead',
        '/realtime: the plan is given (/plan): make it with eclip plan --policy eclip-rt and its --rt-* options instead',
        '/models/0/minShare: the plan is given (/plan): give minShare in the mix eclip plan reads instead',
        '/models/0/weight: the plan is given (/plan): give weight in the mix eclip plan reads instead',
      ],
    )
    // a ratio to baseline's p95, which baseline's placement meets: under 1 no plan could
    assert.throws(
      () => parseFormat<ServeConfig>('serve-config', { models, maxP95: 0.9 }, 'c.yaml'),
      /\/maxP95/,
    )
  })
})

describe("eclip serve's paper policy", () => {
  it('says at start-up which models its plan leaves under their floors, and by how much', async () => {
    const setup = await setupOf()
    assert.equal(setup.plan?.policy, 'eclip')
    const warning = setup.notes.find((n) => n.startsWith("WARNING: the paper's plan misses"))
    assert.ok(warning, setup.notes.join('\n'))
    assert.match(warning, /misses 2 floor\(s\) \(simulated\): alexnet \(alexnet\) at 0\.\d{3}× .* and vgg19/)
    assert.match(
      warning,
      /vgg19#?\d? \(vgg19\) at 0\.\d{3}× its baseline throughput, floor 0\.90× \(short by 0\.\d{3}\)/,
    )
    const lowered = await setupOf(0.3)
    assert.ok(!lowered.notes.some((n) => n.startsWith('WARNING:')), lowered.notes.join('\n'))
  })

  it("checks only when asked (the start-up plan), not a plan table's sets", async () => {
    const gpu = loadGpu(PROFILES)
    const workers = specs(['alexnet', 'resnet152', 'vgg19'])
    const { profiles } = loadProfileSet(PROFILES, workers, { gemmTarget: true })
    const notes = (checkFloors: boolean) => {
      const said: string[] = []
      const args = { gpu, workers, profiles, policy: 'eclip' as const, mix: 'm', profilesDir: PROFILES }
      return Promise.resolve(defaultPlanner({ ...args, checkFloors, note: (l) => said.push(l) })).then(
        () => said,
      )
    }
    assert.ok((await notes(true)).some((n) => n.startsWith("WARNING: the paper's plan misses")))
    assert.deepEqual(await notes(false), [])
  })
})

describe("a serve config's checks, without a policy named", () => {
  const models = [{ model: 'alexnet' }, { model: 'vgg19' }]
  it("take the default's options (eclip-fit's objective and stream priorities) and name it in their errors", () => {
    assert.deepEqual(
      serveConfigConsistencyErrors({ models, objective: 'requests', streamPriorities: true }),
      [],
    )
    assert.deepEqual(serveConfigConsistencyErrors({ models, realtime: { reserveSms: 8 } }), [
      '/realtime: only the eclip-rt policy uses it (this config has policy eclip-fit)',
    ])
  })
})
