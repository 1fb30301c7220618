// The simulator against the GPU's interference probe (results/h100/interference: every paper mix's workers alone and
// all at once, on the whole GPU and on disjoint partitions, at batch 1 and 8, our six at batch 8 and 1, the
// two-worker mixes on unequal partitions too), re-simulated with the shipped H100 calibration, which was fitted on
// other runs (results/h100/batch1, batch8) and never saw these: its memory term must predict what workers lose to
// their neighbours with no SM shared, and the STP of both placements.
// TARGET is the tolerance for STP; GUARD what the simulator meets today (its memory term takes the same share
// from every worker of a mix, the GPU does not: shufflenet in more3 and albert at batch 1 lose more, vgg19 less).
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import { type Comparison, cappedBounds, compareProbe } from '../../bench/interference-sim.ts'
import type { Profile, Results } from '../../src/formats/index.ts'
import { readFile } from '../../src/formats/index.ts'
import { loadGpu, type ProfilesFor, profilesIn } from '../../src/profile/store.ts'

const ROOT = join(import.meta.dirname, '..', '..')
const probe = (sets: string[]) =>
  sets.map((b) => join(ROOT, 'results/h100/interference/mixes', b, 'dispatch.json'))
const PROBE = probe(['b1', 'b8', 'more-b8'])
// the two-worker mixes again on unequal partitions (96 / 24 SMs and 24 / 96)
const SPLIT = ['s1-12-3', 's1-3-12', 's8-12-3', 's8-3-12'].map((d) =>
  join(ROOT, 'results/h100/interference/split', d, 'dispatch.json'),
)
const TARGET = { stpMean: 0.08 }
const GUARD = { togetherMean: 0.08, togetherMax: 0.24, stpMax: 0.17 }

const mean = (xs: number[]) => xs.reduce((a, x) => a + x, 0) / xs.length

/**
 * The H200's: its batch-8 γ (0.3, from kernel traces of co-located plans) takes less from every batch-8 worker on a
 * disjoint partition than the GPU does from shufflenet and densenet201 beside their neighbours (they lose a third
 * there), so its worst worker is further off than the H100's.
 */
const GUARD_H200 = { ...GUARD, togetherMax: 0.33 }

/** The simulator's errors on the probe within the STP target and today's guards, printed as a diagnostic. */
function withinGuard(c: Comparison, t: TestContext, guard = GUARD) {
  t.diagnostic(
    `together ÷ alone: mean ${(100 * mean(c.errTogether)).toFixed(1)}%, max ${(100 * Math.max(...c.errTogether)).toFixed(1)}%; ` +
      `STP mean ${(100 * mean(c.errStp)).toFixed(1)}%, max ${(100 * Math.max(...c.errStp)).toFixed(1)}%`,
  )
  assert.ok(mean(c.errStp) <= TARGET.stpMean, `STP: mean error ${mean(c.errStp)}`)
  assert.ok(Math.max(...c.errStp) <= guard.stpMax, `STP: max error ${Math.max(...c.errStp)}`)
  assert.ok(mean(c.errTogether) <= guard.togetherMean, `together ÷ alone: mean error ${mean(c.errTogether)}`)
  assert.ok(
    Math.max(...c.errTogether) <= guard.togetherMax,
    `together ÷ alone: max ${Math.max(...c.errTogether)}`,
  )
}

describe('interference probe re-simulated', () => {
  it('the simulator predicts what disjoint partitions lose to their neighbours, and STP both ways', async (t) => {
    const c = await compareProbe([...PROBE, ...probe(['more-b1']), ...SPLIT], join(ROOT, 'profiles/h100'))
    assert.equal(c.mixes.length, 38)
    withinGuard(c, t)
    // the probe's own check: on disjoint partitions every worker lost something to its neighbours, on the GPU and
    // in the simulator
    for (const m of c.mixes)
      for (const [i, x] of m.gpu['part-all'].entries()) {
        assert.ok(
          x < (m.gpu['part-alone'][i] as number),
          `${m.mix} b${m.batch} worker ${i}: no loss on the GPU`,
        )
        assert.ok(
          (m.sim['part-all'][i] as number) < (m.sim['part-alone'][i] as number),
          `${m.mix}: none simulated`,
        )
      }
  })

  it('capping each worker at what it kept beside its neighbours lowers the bound, never raises it', async () => {
    const c = await compareProbe(PROBE, join(ROOT, 'profiles/h100'))
    const runs = ['b1', 'b8', 'more-b8'].flatMap(
      (b) =>
        readFile<Results>('results', join(ROOT, 'results/h100/profile-retime-fit', b, 'results.json')).runs,
    )
    const rows = cappedBounds(c, runs, 132)
    assert.equal(rows.length, 20)
    for (const r of rows) {
      assert.ok(r.capped <= r.plain + 1e-9, `${r.mix} b${r.batch}: capped above plain`)
      assert.ok(
        r.flooredCapped === null || r.flooredCapped <= (r.floored as number) + 1e-9,
        `${r.mix}: floored`,
      )
      assert.ok(r.eclipFit !== null, `${r.mix} b${r.batch}: no eclip-fit run`)
    }
  })

  it("over all 13 mixes at batch 1 the capped bound is the tuned-priorities README's, as its runs measured it", async () => {
    const c = await compareProbe(probe(['b1', 'more-b1']), join(ROOT, 'profiles/h100'))
    const runs = ['p1', 'p2', 'p3', 'p4', 'p5'].flatMap(
      (p) =>
        readFile<Results>(
          'results',
          join(ROOT, 'results/h100/tuned-priorities/tuned-prio', p, 'results.json'),
        ).runs,
    )
    const rows = cappedBounds(c, runs, 132)
    assert.equal(rows.length, 13)
    const ratio = rows.map((r) => (r.flooredCapped as number) / r.baseline)
    const reached = rows.map((r) => (r.eclipFit as number) / (r.flooredCapped as number))
    assert.equal(mean(ratio).toFixed(2), '1.30')
    assert.equal(mean(reached).toFixed(2), '0.85')
    assert.deepEqual(
      rows.filter((_, i) => (ratio[i] as number) < 1.12).map((r) => r.mix),
      ['mix6'],
    )
  })
})

// The same probe on the H200 (results/h200/interference: all 13 mixes at batch 8 and 1), re-simulated with the
// H200's shipped calibration (fitted on results/h200/coresident-cal, its batch-8 γ set from results/h200/kernel-trace,
// neither of which holds these runs), and the
// estimates its README quotes (means over the 13 mixes), against the tuned runs of tuned-priorities-b8 and -b1.
describe('interference probe on the H200', () => {
  const h200 = (sets: string[]) =>
    sets.map((b) => join(ROOT, 'results/h200/interference/mixes', b, 'dispatch.json'))
  const dir = join(ROOT, 'profiles/h200')
  // each batch's comparison made once, for both tests
  const compared = new Map<string, ReturnType<typeof compareProbe>>()
  const compare = (sets: readonly string[]) => {
    const key = sets.join()
    if (!compared.has(key)) compared.set(key, compareProbe(h200([...sets]), dir))
    return compared.get(key) as ReturnType<typeof compareProbe>
  }
  const runsOf = (series: string, parts: string[]) =>
    parts.flatMap(
      (p) => readFile<Results>('results', join(ROOT, 'results/h200', series, p, 'results.json')).runs,
    )

  it('the simulator predicts what disjoint partitions lose, and STP both ways, as on the H100', async (t) => {
    const [c8, c1] = await Promise.all([compare(['b8', 'more-b8']), compare(['b1', 'more-b1'])])
    const c = {
      mixes: [...c8.mixes, ...c1.mixes],
      errTogether: [...c8.errTogether, ...c1.errTogether],
      errStp: [...c8.errStp, ...c1.errStp],
    }
    assert.equal(c.mixes.length, 26)
    withinGuard(c, t, GUARD_H200)
  })

  for (const [batch, sets, series, parts, estimate, reached] of [
    [8, ['b8', 'more-b8'], 'tuned-priorities-b8', ['h1', 'h2', 'h3', 'h4', 'h5'], '1.188', '0.933'],
    [1, ['b1', 'more-b1'], 'tuned-priorities-b1', ['b1h1', 'b1h2', 'b1h3', 'b1h4', 'b1h5'], '1.266', '0.855'],
  ] as const)
    it(`batch ${batch}: the latency-consistent estimate and what the tuned runs reach of it, as the README says`, async () => {
      const c = await compare(sets)
      const gpu = loadGpu(dir)
      // the profiles the README's figures were made with: the batch-1 ones profiled again since as they were then
      // (kept beside them)
      const shipped = profilesIn(dir, gpu)
      const then = new Map(
        ['albert', 'resnext101', 'densenet201'].map((m) => [
          m,
          readFile<Profile>('profile', join(ROOT, `results/h200/interference/${m}.b1.fp16.json`)),
        ]),
      )
      const profiles: ProfilesFor = (ws) =>
        ws.map((w) => (w.batch === 1 && then.get(w.model)) || (shipped([w])[0] as Profile))
      const rows = cappedBounds(c, runsOf(series, [...parts]), gpu.smCount, profiles)
      assert.equal(rows.length, 13)
      const est = rows.map((r) => (r.latency as number) / r.baseline)
      const got = rows.map((r) => (r.eclipFit as number) / (r.latency as number))
      assert.ok(est.every(Number.isFinite) && got.every(Number.isFinite))
      assert.equal(mean(est).toFixed(3), estimate)
      assert.equal(mean(got).toFixed(3), reached)
    })
})
