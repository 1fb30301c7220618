// `eclip bench --plans DIR`: a plan DIR holds under a bench's name for it runs instead of the planner's; a mix and
// policy without one is planned as usual; a plan for other workers is refused with the file and the workers named.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { type Plan, type Results, readFile } from '../../src/formats/index.ts'

const repo = join(import.meta.dirname, '..', '..')
const eclip = join(repo, 'bin', 'eclip.mjs')
const cli = (args: string[]) => spawnSync(process.execPath, [eclip, ...args], { encoding: 'utf8', cwd: repo })
const PROFILES = 'profiles/h200'
const RUN = [
  '--profiles',
  PROFILES,
  '--modes',
  'graph',
  '--batch',
  '1',
  '--duration',
  '0.2',
  '--warmup',
  '0.02',
  '--no-solo',
  '--no-plots',
]

/** model-wise's plan of `mix` at batch 1, named as eclip-fit's (a plan made elsewhere, given to the bench). */
function handPlan(dir: string, mix: string, as: string): string {
  const made = join(dir, `${mix}.model-wise.json`)
  const r = cli([
    'plan',
    '--policy',
    'model-wise',
    '--mix',
    mix,
    '--batch',
    '1',
    '--profiles',
    PROFILES,
    '--out',
    made,
  ])
  assert.equal(r.status, 0, r.stderr)
  const plan = JSON.parse(readFileSync(made, 'utf8')) as Plan
  const file = join(dir, `${as}.eclip-fit.b1.plan.json`)
  writeFileSync(file, JSON.stringify({ ...plan, policy: 'eclip-fit' }))
  return file
}

describe('eclip bench --plans', () => {
  it("runs the given plan as the policy's and plans the others", () => {
    const tmp = mkdtempSync(join(tmpdir(), 'eclip-plans-'))
    const dir = join(tmp, 'given')
    mkdirSync(dir)
    const given = readFile<Plan>('plan', handPlan(dir, 'mix1', 'mix1'))
    const out = join(tmp, 'out')
    const r = cli([
      'bench',
      '--mix',
      'mix1',
      '--policies',
      'baseline,eclip-fit',
      '--plans',
      dir,
      '--out',
      out,
      ...RUN,
    ])
    assert.equal(r.status, 0, r.stderr)
    assert.match(
      r.stderr,
      /--plans: mix1 eclip-fit: the plan in .*mix1\.eclip-fit\.b1\.plan\.json, not planned/,
    )
    assert.doesNotMatch(r.stderr, /mix1 baseline: the plan in/)
    const ran = readFile<Plan>('plan', join(out, 'plans', 'mix1.eclip-fit.b1.plan.json'))
    assert.deepEqual(ran.pool, given.pool)
    assert.deepEqual(
      ran.workers.map((w) => w.groups),
      given.workers.map((w) => w.groups),
    )
    const base = readFile<Plan>('plan', join(out, 'plans', 'mix1.baseline.b1.plan.json'))
    assert.ok(base.workers.every((w) => w.groups.length === 1 && w.groups[0]?.partition === 0))
    const res = readFile<Results>('results', join(out, 'results.json'))
    assert.deepEqual(res.runs.map((x) => x.policy).sort(), ['baseline', 'eclip-fit'])
    assert.ok(res.provenance.options?.['--plans']?.endsWith('given'))
  })

  it('refuses a plan made for other workers, naming the file and both sets of workers', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'eclip-plans-'))
    handPlan(tmp, 'mix2', 'mix1')
    const r = cli([
      'bench',
      '--mix',
      'mix1',
      '--policies',
      'eclip-fit',
      '--plans',
      tmp,
      '--out',
      join(tmp, 'o'),
      ...RUN,
    ])
    assert.notEqual(r.status, 0)
    assert.match(
      r.stderr,
      /--plans: .*mix1\.eclip-fit\.b1\.plan\.json is for workers albert#0 .*; mix mix1 runs /,
    )
  })

  it('refuses --plans with --tune, and a directory that is not there', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'eclip-plans-'))
    const tune = cli([
      'bench',
      '--mix',
      'mix1',
      '--policies',
      'eclip-fit',
      '--tune',
      '--plans',
      tmp,
      '--out',
      tmp,
    ])
    assert.notEqual(tune.status, 0)
    assert.match(tune.stderr, /--plans and --tune/)
    const none = cli([
      'bench',
      '--mix',
      'mix1',
      '--plans',
      join(tmp, 'nope'),
      '--out',
      join(tmp, 'o'),
      ...RUN,
    ])
    assert.notEqual(none.status, 0)
    assert.match(none.stderr, /--plans .*nope: no such directory/)
  })
})
