// bench/tuning-trail-sim.ts: a trail's plan descriptions read back as points of eclip-fit's search space, and the
// rank correlation and picks it reports.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { pick, spearman, stateOf, trailPoints } from '../../bench/tuning-trail-sim.ts'
import type { Results } from '../../src/formats/index.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

describe('tuning-trail-sim', () => {
  it('reads a trail description as homes in slices, λ per worker (home: ∞) and μ', () => {
    assert.deepEqual(stateOf('homes 48/32/40 SMs, λ 2, home, 0.5, μ 1', 8), {
      lengths: [6, 4, 5],
      lambdas: [2, Number.POSITIVE_INFINITY, 0.5],
      mu: 1,
    })
    assert.equal(stateOf("the baseline's placement", 8), null)
    assert.equal(stateOf('homes 44/32 SMs, λ 1, 1, μ 0', 8), null, 'not whole slices')
  })

  it('ranks with average ranks for ties: 1 in order, −1 reversed, none under three points', () => {
    assert.equal(spearman([1, 2, 3, 4], [10, 20, 30, 40]), 1)
    assert.equal(spearman([1, 2, 3, 4], [4, 3, 2, 1]), -1)
    assert.equal(spearman([1, 2], [1, 2]), null)
    const r = spearman([1, 2, 2, 3], [1, 3, 2, 4]) as number
    assert.ok(r > 0.9 && r < 1, String(r))
  })

  it('picks the best STP among the points at the floor or above', () => {
    const pts = [
      { stp: 1.2, worst: 0.85 },
      { stp: 1.1, worst: 0.95 },
      { stp: 1.05, worst: 1.0 },
    ]
    const best = (floor: number) =>
      pick(
        pts,
        (p) => p.stp,
        (p) => p.worst,
        floor,
      )
    assert.equal(best(0.9), pts[1])
    assert.equal(best(1.01), null)
  })

  it("makes a trail's plans again: tuned on the simulator backend, the simulator scores them as measured", async () => {
    const out = mkdtempSync(join(tmpdir(), 'trail-sim-'))
    const r = spawnSync(
      process.execPath,
      [
        'bin/eclip.mjs',
        ...['bench', '--mix', 'mix5', '--batch', '1', '--profiles', 'profiles/h200'],
        ...[
          '--policies',
          'baseline,eclip-fit',
          '--modes',
          'graph',
          '--tune',
          '--duration',
          '1',
          '--warmup',
          '0.2',
        ],
        ...['--no-solo', '--no-plots', '--out', out],
      ],
      { encoding: 'utf8', cwd: ROOT },
    )
    let res: Results
    try {
      assert.equal(r.status, 0, r.stderr)
      res = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as Results
    } finally {
      rmSync(out, { recursive: true, force: true })
    }
    const run = res.runs.find((x) => x.policy === 'eclip-fit' && x.tuning?.runs?.length)
    assert.ok(run, 'a tuned run with its trail')
    const pts = await trailPoints(run, join(ROOT, 'profiles/h200'))
    assert.ok(pts.length >= 8, String(pts.length))
    // the same simulator on another seed and window: every plan within a hundredth, the ranks kept
    for (const p of pts) {
      assert.ok(Math.abs(p.simStp - p.gpuStp) < 0.01, JSON.stringify(p))
      assert.equal(p.gpuWorkers?.length, 2)
      for (const [i, x] of p.simWorkers.entries())
        assert.ok(Math.abs(x - (p.gpuWorkers?.[i] ?? 0)) < 0.01, JSON.stringify(p))
    }
    const rho = spearman(
      pts.map((p) => p.simStp),
      pts.map((p) => p.gpuStp),
    )
    assert.ok((rho ?? 0) > 0.9, String(rho))
  })
})
