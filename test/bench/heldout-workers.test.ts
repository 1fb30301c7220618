import assert from 'node:assert/strict'
import { test } from 'node:test'
import { bySwitches, calibrationArgs, heldOut, type RunErr } from '../../bench/heldout-workers.ts'
import { H100_RECORDED } from '../measure/h100-recorded.ts'

const run = (mix: string, switches: number, err: number | null, batch = 1): RunErr => ({
  run: `s/p ${mix}`,
  batch,
  policy: err === null ? 'baseline' : 'eclip-fit',
  mix,
  switches,
  stpVsBaselineSigned: err,
  stpVsBaseline: err === null ? null : Math.abs(err),
  stpCommon: 0,
  worstWorker: null,
})

test('bySwitches: a slope inside the mixes shows, a per-mix offset does not', () => {
  // two mixes far apart in error (+5%, −5%) and in switch count, each with 1% more error per 10 switches
  const slope = [
    ...[10, 20, 30].map((s) => run('a', s, 0.05 + (s - 20) / 1000)),
    ...[100, 110, 120].map((s) => run('b', s, -0.05 + (s - 110) / 1000)),
    run('b', 0, null),
  ]
  const out = bySwitches({ runs: slope }).join('\n')
  assert.match(out, /correlation 1\.000, \+1\.0% per 10 switches/)
  assert.match(out, /^ {2}a +3 +10–30 +\+5\.0% +\+4\.5% +\+6\.0%$/m) // baseline runs are left out
  // the same offsets with errors that go up and down with no trend inside each mix: across mixes error and switches
  // are perfectly anti-correlated, inside them not at all
  const wobble = (mix: string, at: number, base: number) =>
    [0.01, -0.01, -0.01, 0.01].map((d, i) => run(mix, at + i, base + d))
  const flat = [...wobble('a', 10, 0.05), ...wobble('b', 100, -0.05)]
  assert.match(bySwitches({ runs: flat }).join('\n'), /correlation -?0\.000, [+-]0\.0% per 10 switches/)
  // no spread at all: no correlation to give
  assert.match(bySwitches({ runs: [run('c', 5, 0.02), run('c', 9, 0.02)] }).join('\n'), /correlation –/)
})

test('bySwitches: one table per batch', () => {
  const out = bySwitches({
    runs: [run('a', 1, 0.01, 1), run('a', 2, 0.02, 1), run('a', 3, 0.0, 8), run('a', 4, 0.01, 8)],
  })
  assert.deepEqual(
    out.filter((l) => l.startsWith('batch')).map((l) => l.split(':')[0]),
    ['batch 1', 'batch 8'],
  )
})

test("heldOut on the H100: the test's series and count by default, one part with --series", async () => {
  // every series of test/measure/sim-vs-gpu.test.ts left out but tuned-shipped-13: its 26 runs re-simulated, the
  // others counted (heldOut throws unless the two make the list's run count)
  const others = [...new Set(H100_RECORDED.map((set) => set.split('/')[2] as string))].filter(
    (s) => s !== 'tuned-shipped-13',
  )
  const all = await heldOut(undefined, others, undefined, 'h100')
  assert.equal(all.runs.length, 26)
  assert.ok(all.runs.every((x) => x.batch === 1 && x.run.startsWith('tuned-shipped-13/')))
  const r = await heldOut(undefined, [], ['results/h100/shipped-13/p8'], 'h100')
  // the paper's seven at batch 8, baseline and eclip-fit each
  assert.equal(r.runs.length, 14)
  assert.ok(r.runs.every((x) => x.batch === 8 && x.stpCommon < 0.2))
  assert.ok(r.workers.some((w) => w.model === 'vgg19' && w.norm !== null))
})

test('calibrationArgs: LABEL=FILE, a bare LABEL or LABEL= the directory’s own file, none named the shipped one', () => {
  assert.deepEqual(calibrationArgs([]), [['shipped', undefined]])
  assert.deepEqual(calibrationArgs(['a=x.json', 'b=', 'c']), [
    ['a', 'x.json'],
    ['b', undefined],
    ['c', undefined],
  ])
})
