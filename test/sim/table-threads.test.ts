// A plan table's subsets planned on worker threads (src/execute/sim/table-threads.ts): the plans are the ones this
// thread makes; from the sources the threads run through tsx, and under a bundled CLI (a device bundle, no tsx) they
// run the bundled worker beside it (scripts/device-bundle.sh), so `eclip serve` on the GPU machine plans a load's
// table off its event loop.
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { simPlanner } from '../../src/execute/sim/evaluator.ts'
import { simInputs } from '../../src/execute/sim/inputs.ts'
import { threadedSimPlanner } from '../../src/execute/sim/table-threads.ts'
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

describe('plan tables on worker threads', () => {
  it('plans on two threads from the sources, the same plan as this thread', async () => {
    const inputs = simInputs(gpu).inputs
    const threaded = threadedSimPlanner(inputs, {}, 2)
    try {
      assert.equal(threaded.threads, 2)
      assert.equal(threaded.note, undefined)
      const there = await threaded.planner(gpu, 't', workers, profiles, { policy: 'eclip-fit' })
      const here = await simPlanner(() => inputs)(gpu, 't', workers, profiles, { policy: 'eclip-fit' })
      const strip = (p: typeof here) => ({ ...p, createdAt: '', solver: { ...p.solver, solveMs: 0 } })
      assert.deepEqual(strip(there), strip(here))
      // a table's guard on total requests/s reaches the thread's planner
      const guarded = await threaded.planner(gpu, 't', workers, profiles, {
        policy: 'eclip-fit',
        minTotalShare: 1.01,
      })
      assert.equal(guarded.params.minTotalShare, 1.01)
    } finally {
      await threaded.close()
    }
  })

  it('under a bundled CLI, plans on threads of the bundled worker beside it; without one, in its own thread', {
    timeout: 120_000,
  }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'eclip-bundle-'))
    const entry = join(dir, 'entry.ts')
    writeFileSync(
      entry,
      [
        `import { threadedSimPlanner } from '${join(root, 'src/execute/sim/table-threads.ts')}'`,
        `import { simInputs } from '${join(root, 'src/execute/sim/inputs.ts')}'`,
        `import { syntheticH100Gpu, syntheticProfile } from '${join(root, 'src/profile/synthetic.ts')}'`,
        'const gpu = syntheticH100Gpu()',
        `const workers = ${JSON.stringify(workers)}`,
        "const profiles = workers.map((w) => syntheticProfile({ model: w.model, batch: 1, dtype: 'fp16', gpu }))",
        'const t = threadedSimPlanner(simInputs(gpu).inputs, {}, 2)',
        "const plan = await t.planner(gpu, 't', workers, profiles, { policy: 'eclip-fit' })",
        'console.log(JSON.stringify({ threads: t.threads, note: t.note ?? null, workers: plan.workers.length }))',
        'await t.close()',
      ].join('\n'),
    )
    const run = bundledCli(entry)
    assert.deepEqual(run(), {
      threads: 1,
      note: 'planning threads unavailable (no sources next to the CLI): one thread',
      workers: 2,
    })
    bundle(join(root, 'src/execute/sim/table-worker.ts'), join(dir, 'table-worker.bundle.mjs'))
    assert.deepEqual(run(), { threads: 2, note: null, workers: 2 })
  })
})
