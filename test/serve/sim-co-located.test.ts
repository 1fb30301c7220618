// The simulator backend's time per execution (src/serve/compute-time.ts): a model served beside others takes the
// simulator's request time with every model of its plan busy — the same contention model eclip bench runs on, for
// every policy alike —, a model alone its profile's latency; eclip-live's table, per set. Before this, baseline was
// served as if each model had the GPU to itself while partitioned plans paid for their partitions.
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import YAML from 'yaml'
import { scorePlan } from '../../src/execute/sim/evaluator.ts'
import { simInputs } from '../../src/execute/sim/inputs.ts'
import { readFile } from '../../src/formats/index.ts'
import type { WorkerSpec } from '../../src/formats/mix.ts'
import type { ServeConfig } from '../../src/formats/serve-config.ts'
import { loadGpu, loadProfileSet } from '../../src/profile/store.ts'
import { planTimeKey } from '../../src/serve/compute-time.ts'
import { defaultPlanner } from '../../src/serve/index.ts'
import { resolveServeSetup } from '../../src/serve/policies.ts'
import { liveComputeTimes } from '../../src/serve/setup.ts'

const PROFILES = join(import.meta.dirname, '..', '..', 'profiles', 'h100')

function config(policy: string, models: string[], extra: Record<string, unknown> = {}): string {
  const file = join(mkdtempSync(join(tmpdir(), 'eclip-co-located-')), 'serve.yaml')
  writeFileSync(
    file,
    YAML.stringify({
      policy,
      backend: 'sim',
      profiles: PROFILES,
      frontends: 0,
      models: models.map((model) => ({ model })),
      ...extra,
    }),
  )
  return file
}

const setupOf = async (file: string) =>
  resolveServeSetup(readFile<ServeConfig>('serve-config', file), {
    configFile: file,
    planner: defaultPlanner,
  })

const specs = (models: string[]): WorkerSpec[] =>
  models.map((m) => ({ name: m, model: m, batch: 1, dtype: 'fp16' }))

describe("the simulator backend's time per execution", () => {
  it('beside others: the simulator with every model of the plan busy, for baseline and a partitioned plan alike', async () => {
    const models = ['albert', 'densenet201']
    const gpu = loadGpu(PROFILES)
    // as the server reads them (its config's gemmTarget is on by default)
    const { profiles } = loadProfileSet(PROFILES, specs(models), { gemmTarget: true })
    const inputs = simInputs(gpu, { dir: PROFILES }).inputs
    for (const policy of ['baseline', 'model-wise']) {
      const s = await setupOf(config(policy, models))
      assert.ok(s.plan)
      const score = scorePlan(inputs, s.plan, specs(models), profiles)
      for (const [i, m] of models.entries()) {
        const t = s.computeTimes.get(m)
        assert.ok(t)
        assert.ok(Math.abs(t.us - 1e6 / (score.throughputRps[i] as number)) < 1e-6, `${policy} ${m}: ${t.us}`)
        assert.match(t.source, /simulated with the plan's 2 models all busy/)
        // contention priced in: under baseline, slower than the model alone on the whole GPU
        if (policy === 'baseline') assert.ok(t.us > (profiles[i]?.requestUs.at(-1) as number), m)
      }
      assert.ok(s.notes.some((n) => /every model of its plan busy/.test(n)))
    }
  })

  it('beside a real-time model (open loop): every model keeps its time alone, and the notes say so', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'eclip-co-located-')), 'serve.yaml')
    writeFileSync(
      file,
      YAML.stringify({
        policy: 'baseline',
        backend: 'sim',
        profiles: PROFILES,
        frontends: 0,
        models: [{ model: 'albert', priority: 'realtime', sloMs: 20, rate: 50 }, { model: 'densenet201' }],
      }),
    )
    const s = await setupOf(file)
    for (const m of ['albert', 'densenet201'])
      assert.match(s.computeTimes.get(m)?.source ?? '', /profile requestUs at 132 SMs/, m)
    assert.ok(s.notes.some((n) => /a real-time model is served/.test(n)))
  })

  it('alone: the profile latency at its partition, as before', async () => {
    const s = await setupOf(config('baseline', ['albert']))
    const t = s.computeTimes.get('albert')
    assert.match(t?.source ?? '', /profile requestUs at 132 SMs/)
    const { profiles } = loadProfileSet(PROFILES, specs(['albert']))
    assert.equal(t?.us, profiles[0]?.requestUs.at(-1))
  })

  it("eclip-live: each set's plan timed on its own models, a model alone on its profile", async () => {
    const s = await setupOf(
      config('eclip-live', ['albert', 'vgg19'], { live: { tablePolicy: 'model-wise' } }),
    )
    const table = s.live?.table
    assert.ok(table && s.live?.coLocated)
    const pair = table.plans.find((e) => e.plan.workers.length === 2)
    const lone = table.plans.find((e) => e.plan.workers.length === 1)
    assert.ok(pair && lone)
    for (const pw of pair.plan.workers)
      assert.match(s.computeTimes.get(planTimeKey(pw.name, pair.key))?.source ?? '', /all busy/)
    const one = lone.plan.workers[0]?.name as string
    assert.match(s.computeTimes.get(planTimeKey(one, lone.key))?.source ?? '', /profile requestUs/)
    // the whole set's plan by name: the pair's times
    for (const pw of pair.plan.workers)
      assert.deepEqual(s.computeTimes.get(pw.name), s.computeTimes.get(planTimeKey(pw.name, pair.key)))
    // a table made again (a load, a set seen): a plan held unchanged under its key keeps its times, a changed one is
    // simulated again
    const marked = new Map(s.computeTimes)
    for (const pw of pair.plan.workers) marked.set(planTimeKey(pw.name, pair.key), { us: 1, source: 'kept' })
    const live = s.live
    const again = liveComputeTimes(table, live.specs, live.coLocated, { table, times: marked })
    for (const pw of pair.plan.workers)
      assert.equal(again.get(planTimeKey(pw.name, pair.key))?.source, 'kept')
    const changed = structuredClone(table)
    const p2 = changed.plans.find((e) => e.key === pair.key)
    assert.ok(p2)
    p2.plan.createdAt = 'made again'
    const fresh = liveComputeTimes(changed, live.specs, live.coLocated, { table, times: marked })
    for (const pw of pair.plan.workers)
      assert.match(fresh.get(planTimeKey(pw.name, pair.key))?.source ?? '', /all busy/)
  })
})
