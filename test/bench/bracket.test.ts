// `eclip bench --bracket`: each mix's baseline run again after its other policies, and every ratio to baseline taken
// against the mean of the two (measure/metrics.ts normalise), on the simulator.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { type Results, type Run, readFile } from '../../src/formats/index.ts'
import { normalise } from '../../src/measure/metrics.ts'

const repo = join(import.meta.dirname, '..', '..')
const eclip = (args: string[]) =>
  spawnSync(process.execPath, [join(repo, 'bin', 'eclip.mjs'), ...args], { encoding: 'utf8' })

/** A short simulated bench of baseline and eclip-fit in graph mode into `out`, with `extra` flags. */
const bench = (out: string, mixes: string, extra: string[] = []) =>
  eclip([
    'bench',
    '--mix',
    mixes,
    '--policies',
    'baseline,eclip-fit',
    '--modes',
    'graph',
    ...extra,
    '--no-plots',
    '--no-solo',
    '--duration',
    '0.2',
    '--out',
    out,
  ])

describe('eclip bench --bracket', () => {
  const out = mkdtempSync(join(tmpdir(), 'eclip-bracket-'))
  const r = bench(out, 'mix3,mix7', ['--bracket'])

  it('runs each mix’s baseline again after its other policies and says how far it moved', () => {
    assert.equal(r.status, 0, r.stderr)
    const results = readFile<Results>('results', join(out, 'results.json'))
    const order = results.runs.map((x) => `${x.mix} ${x.policy} ${x.role}`)
    assert.deepEqual(order, [
      'mix3 baseline mix',
      'mix3 eclip-fit mix',
      'mix3 baseline baseline-after',
      'mix7 baseline mix',
      'mix7 eclip-fit mix',
      'mix7 baseline baseline-after',
    ])
    const after = results.runs.filter((x) => x.role === 'baseline-after')
    assert.ok(after.every((x) => x.id.endsWith('|after|sim')))
    // the simulator does not drift: the two baseline runs agree, and the report says so
    const report = readFileSync(join(out, 'report.txt'), 'utf8')
    assert.match(report, /Baseline run again after each mix's other policies/)
    assert.match(report, /mix3\s+sim\s+[\d.]+\s+[\d.]+\s+1\.000\s+1\.000/)
  })

  it('takes every ratio to baseline against the mean of the two baseline runs', () => {
    const results = readFile<Results>('results', join(out, 'results.json'))
    const runs = structuredClone(results.runs).filter((x) => x.mix === 'mix3')
    const of = (role: Run['role'], policy: string) =>
      runs.find((x) => x.role === role && x.policy === policy) as Run
    const before = of('mix', 'baseline')
    const after = of('baseline-after', 'baseline')
    const fit = of('mix', 'eclip-fit')
    // a machine that slowed by 10% between the two baseline runs
    for (const w of after.workers) w.throughputRps *= 0.9
    after.metrics.meanPowerW *= 0.9
    // and did a fifth fewer requests per joule
    after.metrics.requestsPerJ = (before.metrics.requestsPerJ as number) * 0.8
    normalise(runs)
    for (const w of fit.workers) {
      const b = before.workers.find((x) => x.name === w.name)?.throughputRps as number
      assert.ok(Math.abs((w.normVsBaseline as number) - w.throughputRps / (0.95 * b)) < 1e-9, w.name)
    }
    // the first baseline run reads above the reference, the second below: their spread is the drift
    for (const w of before.workers) assert.ok(Math.abs((w.normVsBaseline as number) - 1 / 0.95) < 1e-9)
    for (const w of after.workers) assert.ok(Math.abs((w.normVsBaseline as number) - 0.9 / 0.95) < 1e-9)
    // STP against the reference's: the first baseline run's STP ÷ the mean of the two runs' STPs
    const stp = (x: Run) => x.metrics.system?.stp as number
    assert.ok(
      Math.abs((before.metrics.system?.stpVsBaseline as number) - stp(before) / (0.95 * stp(before))) < 1e-9,
    )
    assert.ok(
      Math.abs((fit.metrics.system?.stpVsBaseline as number) - stp(fit) / (0.95 * stp(before))) < 1e-9,
    )
    // requests/J against the mean of the two runs' requests/J
    const rpj = (x: Run) => x.metrics.requestsPerJ as number
    assert.ok(Math.abs((before.metrics.requestsPerJVsBaseline as number) - 1 / 0.9) < 1e-9)
    assert.ok(
      Math.abs((fit.metrics.requestsPerJVsBaseline as number) - rpj(fit) / (0.9 * rpj(before))) < 1e-9,
    )
  })

  it('takes the ratios against the one baseline run there is when the other failed', () => {
    const results = readFile<Results>('results', join(out, 'results.json'))
    const runs = structuredClone(results.runs).filter(
      (x) => x.mix === 'mix3' && !(x.role === 'mix' && x.policy === 'baseline'),
    )
    const after = runs.find((x) => x.role === 'baseline-after') as Run
    const fit = runs.find((x) => x.policy === 'eclip-fit') as Run
    normalise(runs)
    for (const w of fit.workers) {
      const b = after.workers.find((x) => x.name === w.name)?.throughputRps as number
      assert.ok(Math.abs((w.normVsBaseline as number) - w.throughputRps / b) < 1e-9, w.name)
    }
    assert.ok(fit.metrics.system?.stpVsBaseline != null)
  })

  it('eclip-live: compares each active set with the mean of the two baseline runs in the same traffic', () => {
    const live = mkdtempSync(join(tmpdir(), 'eclip-bracket-'))
    const l = eclip([
      'bench',
      '--mix',
      join(repo, 'examples', 'onoff.yaml'),
      '--policies',
      'baseline,eclip-live',
      '--modes',
      'graph',
      '--bracket',
      '--no-plots',
      '--no-solo',
      '--out',
      live,
    ])
    assert.equal(l.status, 0, l.stderr)
    const runs = readFile<Results>('results', join(live, 'results.json')).runs
    const after = runs.find((x) => x.role === 'baseline-after') as Run
    const before = runs.find((x) => x.role === 'mix' && x.policy === 'baseline') as Run
    const lv = runs.find((x) => x.policy === 'eclip-live' && x.role === 'mix') as Run
    assert.ok(
      after.metrics.activeSets && before.metrics.activeSets,
      'both baseline runs rebuild their active sets',
    )
    // the second baseline run 20% slower in every set: the reference is the mean of the two
    for (const set of after.metrics.activeSets?.sets ?? [])
      for (const w of set.workers) if (w.serviceUs !== null) w.serviceUs *= 1.2
    normalise(runs)
    let checked = 0
    for (const set of lv.metrics.live?.sets ?? [])
      for (const w of set.workers) {
        const b = before.metrics.activeSets?.sets
          .find((x) => x.key === set.key)
          ?.workers.find((x) => x.name === w.name)
        if (!b?.serviceUs || w.baselineServiceUs == null) continue
        assert.ok(Math.abs(w.baselineServiceUs - 1.1 * b.serviceUs) < 1e-6, `${set.key} ${w.name}`)
        checked++
      }
    assert.ok(checked >= 3, `${checked} workers compared`)
  })

  it('without --bracket runs each baseline once, the ratios against it', () => {
    const plain = mkdtempSync(join(tmpdir(), 'eclip-bracket-'))
    const p = bench(plain, 'mix3')
    assert.equal(p.status, 0, p.stderr)
    const results = readFile<Results>('results', join(plain, 'results.json'))
    assert.ok(results.runs.every((x) => x.role === 'mix'))
    const base = results.runs.find((x) => x.policy === 'baseline') as Run
    assert.ok(base.workers.every((w) => w.normVsBaseline === 1))
  })
})
