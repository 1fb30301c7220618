// eclip serve plans with eclip-fit unless the config names a policy, keeping every model at its floor. With the paper's
// policy (`eclip`) it checks its plan's floors on the simulator, as `eclip plan` and `eclip bench` do, and says at
// start-up which model falls under its floor and by how much.
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import YAML from 'yaml'
import { readFile, type WorkerSpec } from '../../src/formats/index.ts'
import { type ServeConfig, serveConfigConsistencyErrors } from '../../src/formats/serve-config.ts'
import { loadGpu, loadProfileSet } from '../../src/profile/store.ts'
import { defaultPlanner } from '../../src/serve/index.ts'
import { resolveServeSetup } from '../../src/serve/policies.ts'

const PROFILES = join(import.meta.dirname, '..', '..', 'profiles', 'h100')

const specs = (models: string[]): WorkerSpec[] =>
  models.map((m) => ({ name: m, model: m, batch: 8, dtype: 'fp16' }))

async function setupOf(minShare?: number, policy: string | null = 'eclip') {
  const file = join(mkdtempSync(join(tmpdir(), 'eclip-floors-')), 'serve.yaml')
  const models = ['alexnet', 'resnet152', 'vgg19'].map((model) => ({
    model,
    ...(minShare !== undefined ? { minShare } : {}),
  }))
  const config = { backend: 'sim', profiles: PROFILES, frontends: 0, ...(policy ? { policy } : {}), models }
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
