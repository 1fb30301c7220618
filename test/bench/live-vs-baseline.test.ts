// bench/live-vs-baseline.ts, which results/h100/live-control/README.md's "vs baseline in the same set" figures come
// from: on a bench run here (raw request log) it gives what the bench itself recorded; on a recorded GPU bench
// (compacted log) it rebuilds eclip-live's own sets as the run reported them and gives the README's figures.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { parseRequestLog, readRequestLog, recompute, repeatRows } from '../../bench/live-vs-baseline.ts'
import { type Results, type Run, readFile } from '../../src/formats/index.ts'
import { spreadOf } from '../../src/measure/stats.ts'

const ROOT = join(import.meta.dirname, '..', '..')
const r3 = (x: number | null | undefined) =>
  x === null || x === undefined ? null : Math.round(x * 1000) / 1000
const liveOf = (runs: Run[]) => runs.find((r) => r.role === 'mix' && r.metrics.live) as Run

describe('live-vs-baseline', () => {
  it("gives on a bench's raw request log what the bench recorded", () => {
    const out = mkdtempSync(join(tmpdir(), 'eclip-live-base-'))
    const onoff =
      '{ kind: onoff, on: { dist: exponential, meanS: 0.003 }, off: { dist: exponential, meanS: 0.003 } }'
    const mix = join(out, 'duo.yaml')
    writeFileSync(
      mix,
      `format: eclip.mixes/1\nmixes:\n  - name: duo\n    workers:\n      - { model: alexnet, arrival: ${onoff} }\n      - { model: shufflenet, arrival: ${onoff} }\n`,
    )
    const args = ['--mix', mix, '--profiles', 'synthetic', '--policies', 'baseline,eclip-live']
    const more = [
      '--table-policy',
      'model-wise',
      '--modes',
      'graph',
      '--duration',
      '0.05',
      '--warmup',
      '0.005',
    ]
    const r = spawnSync(
      process.execPath,
      [
        join(ROOT, 'bin', 'eclip.mjs'),
        'bench',
        ...args,
        ...more,
        '--no-plots',
        '--no-solo',
        '--hold-ms',
        '0.5',
        '--out',
        out,
      ],
      { encoding: 'utf8' },
    )
    assert.equal(r.status, 0, r.stderr)
    const bench = readFile<Results>('results', join(out, 'results.json')).runs
    // the same runs without what the bench compared: the recomputation fills it again from the log
    const bare = structuredClone(bench)
    for (const x of bare) delete x.metrics.activeSets
    const { runs, checks } = recompute(bare, readRequestLog(out))
    assert.deepEqual(
      checks.map((c) => c.elsewhere),
      [0],
    )
    const want = liveOf(bench).metrics.live?.sets ?? []
    const got = liveOf(runs).metrics.live?.sets ?? []
    assert.ok(want.filter((s) => s.speedVsBaseline != null).length >= 2, 'sets compared')
    assert.deepEqual(
      got.map((s) => [
        s.key,
        r3(s.speedVsBaseline),
        s.workers.map((w) => [w.baselineRequests, r3(w.speedVsBaseline)]),
      ]),
      want.map((s) => [
        s.key,
        r3(s.speedVsBaseline),
        s.workers.map((w) => [w.baselineRequests, r3(w.speedVsBaseline)]),
      ]),
    )
  })

  it('rebuilds a recorded GPU bench (compacted log): its sets as the run reported, a model alone against baseline', () => {
    const dir = join(ROOT, 'results/h100/live-control/call2/bench-onoff-long')
    const recorded = readFile<Results>('results', join(dir, 'results.json')).runs
    const { runs, checks, spreads } = recompute(recorded, readRequestLog(dir))
    // every one of eclip-live's 4,558 requests in the set the run reported
    assert.deepEqual(checks, [
      { run: 'onoff-long-mix3|eclip-live|graph|b1|gpu', requests: 4558, elsewhere: 0 },
    ])
    const sets = liveOf(runs).metrics.live?.sets ?? []
    const alone = sets.filter((s) => s.workers.length === 1).map((s) => [s.key, r3(s.speedVsBaseline)])
    assert.deepEqual(alone, [
      ['albert#0', 1.005],
      ['densenet201#0', 0.997],
      ['vgg19#0', 0.973],
    ])
    // vgg19 alone: 307 requests of 678.7 µs here, 315 of 660.5 under baseline; not within the interval of noise
    const v = sets.find((s) => s.key === 'vgg19#0')?.workers[0]
    assert.deepEqual([v?.requests, v?.baselineRequests, r3(v?.baselineServiceUs)], [307, 315, 660.521])
    const sp = spreads.get('onoff-long-mix3|eclip-live|graph|b1|gpu')?.get('vgg19#0|vgg19#0')
    assert.deepEqual([r3(sp?.medianVsBaseline), r3(sp?.meanHalf95)], [0.973, 0.004])
    // the recorded figures are left as they were (a copy is recomputed)
    assert.equal(
      recorded.find((x) => x.policy === 'baseline' && x.role === 'mix')?.metrics.activeSets,
      undefined,
    )
    const [row] = repeatRows('call2', runs)
    assert.deepEqual(
      [row?.stpVsBaseline, row?.totalRpsVsBaseline, row?.aloneVsBaseline, row?.heldLowest].map(r3),
      [1.047, 1.005, 0.973, 0.965],
    )
  })

  it('reads both logs and refuses what is neither; spreads', () => {
    const raw = parseRequestLog('run,worker,request,arrival_us,start_us,end_us\nr|gpu,a#0,0,1,2,5\n', 'raw')
    assert.deepEqual(raw.get('r|gpu')?.get('a#0'), { arrivalUs: [1], startUs: [2], endUs: [5] })
    // compacted: each start is the previous end plus its gap
    const c = parseRequestLog(
      '# runs: r|gpu\nrun,worker,request,gap_us,latency_us\n0,a#0,0,10,5\n0,a#0,1,3,4\n',
      'c',
    )
    assert.deepEqual(c.get('r|gpu')?.get('a#0'), { arrivalUs: [10, 18], startUs: [10, 18], endUs: [15, 22] })
    assert.throws(() => parseRequestLog('x,y\n', 'f.csv'), /f\.csv: neither a request log/)
    assert.throws(
      () => parseRequestLog('# runs: r\nrun,worker,request,gap_us,latency_us\n1,a#0,0,1,1\n', 'g'),
      /g:3: run index 1 not in the runs line/,
    )
    assert.throws(
      () => parseRequestLog('run,worker,request,arrival_us,start_us,end_us\nr,a,0,x,1,2\n', 'h'),
      /h:2: not a number: "x"/,
    )
    const s = spreadOf([1, 3])
    assert.deepEqual([s?.mean, s?.min, s?.max, r3(s?.sd)], [2, 1, 3, r3(Math.SQRT2)])
    assert.equal(spreadOf([]), null)
  })
})
