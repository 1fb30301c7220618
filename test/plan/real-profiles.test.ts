// Plans every paper mix from the measured profiles shipped in profiles/<gpu>/ (issue #2: "once real profiles are in
// the repository, a test plans every paper mix from them"). Skips, saying why, when none are shipped.
import assert from 'node:assert/strict'
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import {
  expandWorkers,
  type MixFile,
  type Plan,
  POLICIES,
  profileFileName,
  readFile,
} from '../../src/formats/index.ts'
import { makePlan } from '../../src/plan/index.ts'
import { loadProfileSet } from '../../src/profile/store.ts'

const root = join(import.meta.dirname, '..', '..')
const profilesRoot = join(root, 'profiles')
const dirs = existsSync(profilesRoot)
  ? readdirSync(profilesRoot)
      .map((d) => join(profilesRoot, d))
      .filter((d) => existsSync(join(d, 'gpu.json')))
  : []
const mixes = readFile<MixFile>('mix', join(root, 'mixes', 'paper.yaml')).mixes

describe('plans every paper mix from the shipped profiles', {
  skip: dirs.length === 0 && 'no profiles/<gpu>/ shipped',
}, () => {
  for (const dir of dirs)
    for (const batch of [1, 8])
      for (const mix of mixes) {
        const workers = expandWorkers(mix, batch)
        const have = workers.every((w) => existsSync(join(dir, profileFileName(w.model, w.batch, w.dtype))))
        it(`${dir.split('/').pop()} ${mix.name} batch ${batch}`, {
          skip: !have && 'profiles missing',
        }, async () => {
          const set = loadProfileSet(dir, workers)
          const plans = new Map<string, Plan>()
          for (const policy of POLICIES)
            plans.set(policy, await makePlan(set.gpu, mix.name, workers, set.profiles, { policy }))
          const eclip = plans.get('eclip') as Plan
          assert.equal(eclip.solver.status, 'optimal')
          for (const [i, w] of eclip.workers.entries()) {
            assert.ok(w.switches <= 14)
            // groups start only where the executor can switch (op starts)
            const starts = new Set(set.profiles[i]?.opStarts ?? [])
            if (starts.size > 0) for (const g of w.groups) assert.ok(g.first === 0 || starts.has(g.first))
          }
          // all on the whole GPU is one of eclip's feasible plans: it cannot do worse than baseline's objective
          const base = plans.get('baseline') as Plan
          const baseObjective =
            (1 + base.workers.reduce((a, w) => a + w.meanSms, 0) / base.gpu.smCount) *
            base.workers.reduce((a, w) => a + w.soloUs, 0)
          assert.ok((eclip.solver.objectiveUs as number) <= baseObjective * (1 + 1e-9))
        })
      }
})

describe('HiGHS agrees with the DP on measured profiles', {
  skip: dirs.length === 0 && 'no profiles/<gpu>/ shipped',
}, () => {
  const dir = dirs[0] as string
  const mix = mixes.find((m) => m.name === 'mix7')
  const workers = mix ? expandWorkers(mix, 1) : []
  const have = workers.every((w) => existsSync(join(dir, profileFileName(w.model, w.batch, w.dtype))))
  it(`${dir.split('/').pop()} mix7 batch 1`, { skip: (!mix || !have) && 'profiles missing' }, async () => {
    const set = loadProfileSet(dir, workers)
    const [dp, hi] = await Promise.all(
      (['dp', 'highs'] as const).map((solver) =>
        makePlan(set.gpu, 'mix7', workers, set.profiles, { policy: 'eclip', solver, mipGap: 0 }),
      ),
    )
    assert.equal(hi?.solver.name, 'highs')
    assert.equal(hi?.solver.status, 'optimal')
    const a = dp?.solver.objectiveUs as number
    const b = hi?.solver.objectiveUs as number
    assert.ok(Math.abs(a - b) <= 1e-7 * a, `DP ${a} vs HiGHS ${b}`)
  })
})
