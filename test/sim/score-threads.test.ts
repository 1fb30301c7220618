// eclip-fit's candidates scored on worker threads (src/execute/sim/score-threads.ts): the same score as this thread's,
// several at once; under a bundled CLI (a device bundle, no tsx) from the bundled worker beside it, else in this
// thread; and a process whose threads are idle exits without closing them.
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { simInputs } from '../../src/execute/sim/inputs.ts'
import { scorePlan } from '../../src/execute/sim/score.ts'
import { threadedScorer } from '../../src/execute/sim/score-threads.ts'
import { defaultSimThreads } from '../../src/execute/sim/sim-threads.ts'
import { makePlan } from '../../src/plan/index.ts'
import { syntheticH100Gpu, syntheticProfile } from '../../src/profile/synthetic.ts'
import { bundle, bundledCli } from './bundle.ts'

const root = join(import.meta.dirname, '..', '..')
const gpu = syntheticH100Gpu()
const workers = ['alexnet', 'vgg19'].map((model) => ({
  name: model,
  model,
  batch: 1,
  dtype: 'fp16' as const,
}))
const profiles = workers.map((w) => syntheticProfile({ model: w.model, batch: 1, dtype: 'fp16', gpu }))
const oneCore = defaultSimThreads() < 2 ? 'one core: candidates are scored in this thread' : false

describe('eclip-fit candidates scored on worker threads', () => {
  it('the same scores as this thread, several at once', { skip: oneCore }, async () => {
    const inputs = { ...simInputs(gpu).inputs, windowS: 0.05, warmupS: 0.01, seed: 5 }
    const scorer = threadedScorer({ inputs, workers, profiles })
    assert.ok(scorer, 'threads from the sources')
    const plans = await Promise.all(
      (['baseline', 'model-wise', 'kw-prealloc'] as const).map((policy) =>
        makePlan(gpu, 't', workers, profiles, { policy }),
      ),
    )
    const there = await Promise.all(plans.map((p) => scorer(p)))
    const here = plans.map((p) => scorePlan(inputs, p, workers, profiles))
    assert.deepEqual(there, here)
    assert.notDeepEqual(there[0], there[1], 'different plans, different scores')
  })

  it('more mixes than a thread keeps: each plan still scored on its own mix', { skip: oneCore }, async () => {
    // ten mixes (windows) over the pool's threads, interleaved: a thread forgets its oldest mixes and is sent them
    // again
    const plan = await makePlan(gpu, 't', workers, profiles, { policy: 'model-wise' })
    const mixes = Array.from({ length: 10 }, (_, i) => ({
      ...simInputs(gpu).inputs,
      windowS: 0.03 + 0.005 * i,
      warmupS: 0.01,
      seed: 5,
    }))
    const scorers = mixes.map((inputs) => threadedScorer({ inputs, workers, profiles }))
    const there = await Promise.all(
      [0, 1, 2].flatMap(() => scorers.map((s) => (s as NonNullable<typeof s>)(plan))),
    )
    const here = mixes.map((inputs) => scorePlan(inputs, plan, workers, profiles))
    assert.deepEqual(there, [...here, ...here, ...here])
    assert.notDeepEqual(here[0], here[1], 'the windows give different scores')
  })

  it('under a bundled CLI, threads of the bundled worker beside it, else none; idle threads hold no exit', {
    skip: oneCore,
    timeout: 120_000,
  }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'eclip-score-'))
    const entry = join(dir, 'entry.ts')
    writeFileSync(
      entry,
      [
        `import { threadedScorer } from '${join(root, 'src/execute/sim/score-threads.ts')}'`,
        `import { scorePlan } from '${join(root, 'src/execute/sim/score.ts')}'`,
        `import { simInputs } from '${join(root, 'src/execute/sim/inputs.ts')}'`,
        `import { makePlan } from '${join(root, 'src/plan/index.ts')}'`,
        `import { syntheticH100Gpu, syntheticProfile } from '${join(root, 'src/profile/synthetic.ts')}'`,
        'const gpu = syntheticH100Gpu()',
        `const workers = ${JSON.stringify(workers)}`,
        "const profiles = workers.map((w) => syntheticProfile({ model: w.model, batch: 1, dtype: 'fp16', gpu }))",
        'const inputs = { ...simInputs(gpu).inputs, windowS: 0.05, warmupS: 0.01, seed: 5 }',
        "const plan = await makePlan(gpu, 't', workers, profiles, { policy: 'model-wise' })",
        'const scorer = threadedScorer({ inputs, workers, profiles })',
        'const same = scorer ? JSON.stringify(await scorer(plan)) === JSON.stringify(scorePlan(inputs, plan, workers, profiles)) : null',
        'console.log(JSON.stringify({ threaded: scorer !== undefined, same }))',
      ].join('\n'),
    )
    // the threads are left open: the process must exit on its own once they are idle
    const run = bundledCli(entry, 60_000)
    assert.deepEqual(run(), { threaded: false, same: null })
    bundle(join(root, 'src/execute/sim/score-worker.ts'), join(dir, 'score-worker.bundle.mjs'))
    assert.deepEqual(run(), { threaded: true, same: true })
  })
})
