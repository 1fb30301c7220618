// bench/tuning-frontier.ts, which the batch-8 README's "What the floors cost" table comes from: on recorded GPU runs it
// gives the figures stated there, reads the run on the backend its tuning measured (not the simulator's copy), and
// refuses files without a trail.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { DEFAULT_FRONTIER_FLOORS, frontier, frontierTable } from '../../bench/tuning-frontier.ts'
import { type Results, readFile } from '../../src/formats/index.ts'

const ROOT = join(import.meta.dirname, '..', '..')
const SERIES = join(ROOT, 'results/h100/tuned-priorities-b8')
const runsOf = (dir: string) => readFile<Results>('results', join(SERIES, dir, 'results.json')).runs
const r3 = (x: number | undefined) => (x === undefined ? null : Math.round(x * 1000) / 1000)

describe('tuning-frontier', () => {
  it("gives more4's frontier at batch 8 as the README states it, one row per tuned GPU run", () => {
    const floors = [0.92, 0.88, 0.85]
    const [deep, ...more] = frontier(runsOf('deep/d14'), floors, 1.1)
    assert.equal(more.length, 0)
    assert.equal(deep?.mix, 'more4')
    assert.equal(deep?.runs, 60)
    assert.deepEqual(
      deep?.best.map((b) => r3(b?.stp)),
      [1.126, 1.184, 1.227],
    )
    assert.ok((deep?.best[1]?.worst ?? 1) < 0.9, 'the plan at 1.184 leaves a worker under 0.9')
    const [low] = frontier(runsOf('floor-085/f14'), floors, 1.1)
    assert.equal(r3(low?.best[0]?.stp), 1.225)
    assert.ok((low?.best[0]?.worst ?? 0) >= 0.92)
    // a tighter p95 cap can only lower a column
    const [tight] = frontier(runsOf('deep/d14'), floors, 1.0)
    for (const [i, b] of (tight?.best ?? []).entries()) assert.ok((b?.stp ?? 0) <= (deep?.best[i]?.stp ?? 0))
    assert.match(
      frontierTable(
        [deep, low].filter((r) => r !== undefined),
        floors,
        1.1,
      ),
      /worst ≥ 0\.92/,
    )
  })

  it('refuses files with no tuned run carrying a trail, and bad options, with exit 2', () => {
    const run = (...args: string[]) =>
      spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/tuning-frontier.ts'), ...args], {
        cwd: ROOT,
        encoding: 'utf8',
      })
    const untuned = run(join(SERIES, 'untuned/u8p'))
    assert.equal(untuned.status, 2)
    assert.match(untuned.stderr, /no tuned run with a trail/)
    for (const [args, msg] of [
      [['--floors', '0.9,x'], /--floors: expected numbers ≥ 0 joined by commas, got 0\.9,x/],
      [['--floors', '0.9,,0.8'], /--floors: expected numbers ≥ 0 joined by commas, got 0\.9,,0\.8/],
      [['--p95', '1.1,2'], /--p95: expected one number > 0, got 1\.1,2/],
      [['--p95', '0'], /--p95: expected one number > 0, got 0/],
    ] as const) {
      const bad = run(...args, join(SERIES, 'deep/d14'))
      assert.equal(bad.status, 2, args.join(' '))
      assert.match(bad.stderr, msg)
    }
    const missing = run(join(SERIES, 'deep/d14'), '--floors')
    assert.equal(missing.status, 2)
    assert.match(missing.stderr, /--floors: expected numbers ≥ 0 joined by commas, got nothing/)
    assert.equal(DEFAULT_FRONTIER_FLOORS[0], 0.92)
  })
})
