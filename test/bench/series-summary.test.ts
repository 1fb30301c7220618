// bench/series-summary.ts, which the results READMEs' figures come from: on recorded series it gives the figures their
// READMEs state, finds the extremes and the repeats' spread, recomputes files without system metrics from the
// profiles, and refuses runs it cannot compare.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { extremeOf, meanOf, onlyPolicy, recomputed, spread, summarise } from '../../bench/series-summary.ts'
import { type Results, type Run, readFile } from '../../src/formats/index.ts'

const ROOT = join(import.meta.dirname, '..', '..')
const runsOf = (dir: string) => readFile<Results>('results', join(ROOT, dir, 'results.json')).runs
const r3 = (x: number | null | undefined) =>
  x === null || x === undefined ? null : Math.round(x * 1000) / 1000
const r2 = (x: number | null | undefined) =>
  x === null || x === undefined ? null : Math.round(x * 100) / 100

describe('series-summary', () => {
  it("gives the H200 floors series' batch-8 figures as its README states them", () => {
    const s = summarise(runsOf('results/h200/eclip-fit-floors/batch8'))
    assert.equal(s.policy, 'eclip-fit/graph')
    assert.equal(s.rows.length, 7)
    assert.equal(r3(meanOf(s.rows, 'stpVsBaseline')), 1.056)
    assert.equal(extremeOf(s.rows, 'stpVsBaseline')?.mix, 'mix5')
    const worst = extremeOf(s.rows, 'worstVsBaseline')
    assert.deepEqual([worst?.mix, worst?.worstWorker, r2(worst?.worstVsBaseline)], ['mix3', 'vgg19#0', 0.94])
    assert.equal(r3(meanOf(s.rows, 'totalRpsVsBaseline')), 1.039)
    assert.equal(r3(meanOf(s.rows, 'meanVsBaseline')), 1.077)
    assert.equal(r3(meanOf(s.rows, 'energyEffVsBaseline')), 1.043)
    assert.equal(r2(meanOf(s.rows, 'stpVsBound')), 0.86)
    assert.equal(r2(meanOf(s.rows, 'baselineVsBound')), 0.82)
    assert.deepEqual(
      s.rows.map((r) => r2(r.boundVsBaseline)),
      [1.28, 1.39, 1.48, 1.2, 1.2, 1.25, 0.91],
    )
    const p95 = s.rows.reduce((a, r) => (r.worstP95.ratio > a.worstP95.ratio ? r : a))
    assert.deepEqual([p95.mix, r2(p95.worstP95.ratio)], ['mix7', 1.11])
    assert.ok(s.rows.every((r) => r.belowFloor.length === 0))
  })

  it("measures the spread between the H100 floors series' two repeats, mix by mix", () => {
    const a = summarise(runsOf('results/h100/eclip-fit-floors/batch8'))
    const b = summarise(runsOf('results/h100/eclip-fit-floors/batch8-repeat'))
    const s = spread(a, b)
    assert.deepEqual(
      s.map((x) => x.mix),
      ['mix1', 'mix2', 'mix3', 'mix4', 'mix5', 'mix6', 'mix7'],
    )
    for (const x of s) {
      const ra = a.rows.find((r) => r.mix === x.mix)
      const rb = b.rows.find((r) => r.mix === x.mix)
      assert.equal(x.ratioDiff, Math.abs((ra?.stpVsBaseline ?? 0) - (rb?.stpVsBaseline ?? 0)))
    }
    // a summary against itself has no spread
    assert.ok(spread(a, a).every((x) => x.ratioDiff === 0 && x.policyStpDiff === 0))
  })

  it('the floored bound: as recorded, or from the runs recorded before it, to the same figure', () => {
    // the H100 series of the re-timed profiles, recorded before the field: computed from each run's solo references
    const s = summarise(runsOf('results/h100/profile-retime-fit/more-b8'))
    assert.deepEqual(
      s.rows.map((r) => r2(r.flooredBound)),
      [1.28, 1.66, 1.29, 1.6, 1.31, 1.21],
    )
    assert.equal(r2(meanOf(s.rows, 'stpVsFloored')), 1)
    // a run that carries it (normalise recomputes every run's metrics) gives the same
    const again = recomputed(runsOf('results/h100/profile-retime-fit/more-b8'), join(ROOT, 'profiles/h100'))
    assert.ok(again.every((r) => r.role !== 'mix' || typeof r.metrics.system?.stpBoundFloored === 'number'))
    const s2 = summarise(again)
    for (const [i, r] of s2.rows.entries())
      assert.ok(Math.abs((r.flooredBound ?? 0) - (s.rows[i]?.flooredBound ?? 0)) < 1e-9, r.mix)
    // at another floor, computed here whatever is recorded
    const s3 = summarise(again, undefined, 0.5)
    assert.ok(s3.rows.every((r, i) => (r.flooredBound ?? 0) >= (s2.rows[i]?.flooredBound ?? 0) - 1e-9))
    assert.ok(s3.rows.some((r, i) => (r.flooredBound ?? 0) > (s2.rows[i]?.flooredBound ?? 0) + 1e-6))
  })

  it('recomputes a series recorded without system metrics from the profiles', () => {
    const runs = runsOf('results/h100/eclip-fit-v2/batch8')
    assert.throws(() => summarise(runs, 'eclip-fit/graph'), /system metrics: not recorded/)
    const s = summarise(recomputed(runs, join(ROOT, 'profiles/h100')), 'eclip-fit/graph')
    const worst = extremeOf(s.rows, 'worstVsBaseline')
    // the unfloored planner's starved worker (results/h100/eclip-fit-v2/README.md)
    assert.deepEqual([worst?.mix, worst?.worstWorker, r2(worst?.worstVsBaseline)], ['mix3', 'vgg19#0', 0.53])
    assert.ok(s.rows.some((r) => r.belowFloor.includes('vgg19#0')))
  })

  it('pools a series recorded in parts (comma-joined) into one, as the tuned-priorities README states it', () => {
    const dir = (v: string, parts: string[]) =>
      parts.map((p) => join(ROOT, 'results/h100/tuned-priorities', v, p)).join(',')
    const r = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        join(ROOT, 'bench', 'series-summary.ts'),
        dir('tuned', ['a1', 'a2', 'q3', 'q4', 'q5']),
        dir('tuned-prio', ['p1', 'p2', 'p3', 'p4', 'p5']),
      ],
      { encoding: 'utf8', cwd: ROOT },
    )
    assert.equal(r.status, 0, r.stderr)
    assert.match(
      r.stdout,
      /^a1\+a2\+q3\+q4\+q5: eclip-fit\/graph ÷ baseline over 13 mixes\n {2}STP ratio mean 1\.083 /m,
    )
    assert.match(
      r.stdout,
      /^p1\+p2\+p3\+p4\+p5: eclip-fit\/graph ÷ baseline over 13 mixes\n {2}STP ratio mean 1\.095 /m,
    )
    assert.match(r.stdout, /spread a1\+a2\+q3\+q4\+q5 vs p1\+p2\+p3\+p4\+p5 over 13 mixes/)
    // LABEL= names a series in place of its parts' names
    const named = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        join(ROOT, 'bench', 'series-summary.ts'),
        `tuned=${dir('tuned', ['a1', 'a2', 'q3', 'q4', 'q5'])}`,
        `prio=${dir('tuned-prio', ['p1', 'p2', 'p3', 'p4', 'p5'])}`,
      ],
      { encoding: 'utf8', cwd: ROOT },
    )
    assert.equal(named.status, 0, named.stderr)
    assert.match(
      named.stdout,
      /^tuned: eclip-fit\/graph ÷ baseline over 13 mixes\n {2}STP ratio mean 1\.083 /m,
    )
    assert.match(named.stdout, /^spread tuned vs prio over 13 mixes/m)
    // tuned plans: the tuning window's STP ratio against the plan's own run, per series
    assert.match(
      r.stdout,
      /^ {2}tuning window's STP ratio − the plan's own run, 13 tuned plans: mean [+−]0\.\d{4}, sd 0\.\d{4}, from [+−]0\.\d{4} to [+−]0\.\d{4}$/m,
    )
    // one part given twice is not a series in parts
    const twice = spawnSync(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'bench', 'series-summary.ts'), dir('tuned', ['a1', 'a2', 'a1'])],
      { encoding: 'utf8', cwd: ROOT },
    )
    assert.notEqual(twice.status, 0)
    assert.match(twice.stderr, /the parts hold mix1 b1 baseline\/ gpu more than once/)
  })

  it('takes only the mixes a part names after @, and refuses a mix the part does not hold', () => {
    const part = (sel: string) => `${join(ROOT, 'results/h100/tuned-priorities/tuned/a1')}@${sel}`
    const run = (arg: string) =>
      spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'bench', 'series-summary.ts'), arg], {
        encoding: 'utf8',
        cwd: ROOT,
      })
    const r = run(part('mix1+mix3'))
    assert.equal(r.status, 0, r.stderr)
    assert.match(r.stdout, /^a1\[mix1\+mix3\]: eclip-fit\/graph ÷ baseline over 2 mixes$/m)
    assert.match(r.stdout, /^mix1 /m)
    assert.match(r.stdout, /^mix3 /m)
    assert.doesNotMatch(r.stdout, /^mix2 /m)
    const absent = run(part('mix1+more9'))
    assert.notEqual(absent.status, 0)
    assert.match(absent.stderr, /no run of mix more9/)
  })

  it('says in one line what was wrong with its arguments, exit 2', () => {
    const run = (...args: string[]) =>
      spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'bench', 'series-summary.ts'), ...args], {
        encoding: 'utf8',
        cwd: ROOT,
      })
    const cases: [string[], RegExp][] = [
      [[], /^series-summary: usage: series-summary\.ts /],
      [['--help'], /^series-summary: usage: /],
      [['--polcy', 'eclip-fit/graph', 'x'], /^series-summary: unknown option --polcy \(usage: /],
      [
        ['results/h200/no-such-series/p1'],
        /^series-summary: results\/h200\/no-such-series\/p1: no such results\.json or directory$/,
      ],
    ]
    for (const [args, msg] of cases) {
      const r = run(...args)
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`)
      assert.match(r.stderr.trim(), msg)
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr)
    }
  })

  it('refuses runs it cannot compare, naming what is missing', () => {
    const runs = runsOf('results/h100/eclip-fit-v2/batch8')
    assert.throws(() => onlyPolicy(runs), /3 policies besides baseline/)
    const floors = runsOf('results/h100/eclip-fit-floors/batch8')
    const noBase: Run[] = floors.filter((r) => !(r.mix === 'mix4' && r.policy === 'baseline'))
    assert.throws(() => summarise(noBase), /mix4 b8: baseline's GPU run: not recorded/)
    assert.throws(() => summarise(floors, 'eclip/graph'), /no GPU mix run of eclip\/graph/)
  })
})
