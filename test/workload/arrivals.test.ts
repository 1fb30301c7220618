// Arrival schedules (src/workload/arrivals.ts): exact times for the deterministic sources, seeded and independent
// streams for the random ones, on/off periods, trace files and their errors, and the load the planner reads.
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { arrivalRecord, type LoadedArrival, type Mix, type WorkerSpec } from '../../src/formats/index.ts'
import {
  describeArrival,
  loadArrival,
  loadMixArrivals,
  loadOf,
  loadTrace,
  MAX_SCHEDULED_ARRIVALS,
  onOffPeriods,
  runSchedules,
  type Schedule,
  scheduleOf,
} from '../../src/workload/arrivals.ts'

const S = 1e6
const opts = (horizonS: number, stream = 'w#0', seed = 1) => ({ seed, stream, horizonUs: horizonS * S })
const arrivals = (s: Schedule) => {
  assert.equal(s.kind, 'open')
  return s.kind === 'open' ? s.arrivalsUs : []
}
const periods = (s: Schedule) => {
  assert.equal(s.kind, 'closed')
  return s.kind === 'closed' ? s.periodsUs : []
}
const tmp = () => mkdtempSync(join(tmpdir(), 'eclip-arrivals-'))
const worker = (name: string, arrival?: LoadedArrival): WorkerSpec => ({
  name,
  model: name.split('#')[0] as string,
  batch: 1,
  dtype: 'fp16',
  ...(arrival ? { arrival } : {}),
})

describe('arrival schedules', () => {
  it('refuses, naming the worker and what to lower, a schedule past the most a run holds', () => {
    const tooMany = /w#0: .* requests in one run, more than the 10000000 a schedule holds: lower the rate/
    assert.equal(MAX_SCHEDULED_ARRIVALS, 10_000_000)
    assert.throws(() => scheduleOf({ kind: 'poisson', rate: 1e9 }, opts(0.6)), tooMany)
    assert.throws(() => scheduleOf({ kind: 'uniform', rate: 2e7 }, opts(1)), tooMany)
    // busy half the time at 1.2e7 req/s over 2 s: each busy period within the limit, the run past it
    const onoff = {
      kind: 'onoff' as const,
      on: { dist: 'fixed' as const, meanS: 0.5 },
      off: { dist: 'fixed' as const, meanS: 0.5 },
      start: 'on' as const,
      whileOn: { kind: 'uniform' as const, rate: 1.2e7 },
    }
    assert.throws(
      () => scheduleOf(onoff, opts(2)),
      /w#0: 12000000 req\/s over 1\.00 s busy give 1\.20e\+7 requests/,
    )
    // a trace repeated every µs over 11 s, counted before it is laid out
    const trace = { kind: 'trace' as const, file: 't.txt', repeatS: 1e-6, timesUs: [0] }
    assert.throws(
      () => scheduleOf(trace, opts(11)),
      /w#0: trace t\.txt repeated every 0\.000001 s give 1\.10e\+7/,
    )
    // at the limit: made
    assert.equal(arrivals(scheduleOf({ kind: 'uniform', rate: 1e7 }, opts(1))).length, MAX_SCHEDULED_ARRIVALS)
  })

  it('closed: one busy period, the whole run', () => {
    assert.deepEqual(scheduleOf(undefined, opts(2)), { kind: 'closed', periodsUs: [0, 2 * S] })
    assert.deepEqual(scheduleOf({ kind: 'closed' }, opts(2)), { kind: 'closed', periodsUs: [0, 2 * S] })
  })

  it('uniform: a request every 1/rate s from the offset, none at or after the run’s end', () => {
    assert.deepEqual(
      arrivals(scheduleOf({ kind: 'uniform', rate: 100 }, opts(0.05))),
      [0, 10_000, 20_000, 30_000, 40_000],
    )
    const a = arrivals(scheduleOf({ kind: 'uniform', rate: 3, offsetS: 0.1 }, opts(60)))
    assert.equal(a.length, 180)
    assert.equal(a[0], 0.1 * S)
    // times as first + i · gap: the 180th is exactly where it should be, no drift from summed gaps
    assert.equal(a[179], 0.1 * S + (179 * S) / 3)
  })

  it('poisson: the same seed and worker give the same times; another seed or worker others', () => {
    const p = { kind: 'poisson', rate: 200 } as const
    const a = arrivals(scheduleOf(p, opts(10)))
    assert.deepEqual(arrivals(scheduleOf(p, opts(10))), a)
    assert.notDeepEqual(arrivals(scheduleOf(p, opts(10, 'w#0', 2))), a)
    assert.notDeepEqual(arrivals(scheduleOf(p, opts(10, 'w#1'))), a)
    // 2000 expected; a seeded draw, so the bound is a property of this seed, not a chance
    assert.ok(a.length > 1850 && a.length < 2150, `${a.length} arrivals`)
    for (let i = 1; i < a.length; i++) assert.ok((a[i] as number) >= (a[i - 1] as number))
    assert.ok((a[a.length - 1] as number) < 10 * S)
    // a longer run starts with the same arrivals
    assert.deepEqual(arrivals(scheduleOf(p, opts(20))).slice(0, a.length), a)
  })

  it('a worker’s arrivals do not change when other workers come or go', () => {
    const rt = worker('vgg19#0', { kind: 'poisson', rate: 50 })
    const loop = (ws: WorkerSpec[]) => ({
      kind: 'arrivals' as const,
      sources: ws.map((w) => arrivalRecord(w.arrival)),
    })
    const alone = runSchedules(loop([rt]), [rt], 3, 5 * S)
    const ws = [worker('resnet152#0'), rt, worker('vgg19#1')]
    const beside = runSchedules(loop(ws), ws, 3, 5 * S)
    assert.deepEqual(beside[1], alone[0])
    assert.deepEqual(beside[0], { kind: 'closed', periodsUs: [0, 5 * S], plain: true })
    // a run re-simulated from its results has the recorded sources only (no loaded trace times): they are used
    const bare = ws.map(({ arrival: _a, ...w }) => w)
    assert.deepEqual(runSchedules(loop(ws), bare, 3, 5 * S), beside)
    assert.throws(() => runSchedules(loop([rt]), ws, 3, S), /1 arrival sources for 3 workers/)
  })

  it('the bench’s --rate is Poisson at that rate for every worker; its closed loop is plain', () => {
    const ws = [worker('a#0'), worker('b#0', { kind: 'uniform', rate: 1 })]
    const open = runSchedules({ kind: 'open', ratePerWorker: 100 }, ws, 1, S)
    assert.deepEqual(
      open[0],
      scheduleOf({ kind: 'poisson', rate: 100 }, { seed: 1, stream: 'a#0', horizonUs: S }),
    )
    assert.deepEqual(
      open[1],
      scheduleOf({ kind: 'poisson', rate: 100 }, { seed: 1, stream: 'b#0', horizonUs: S }),
    )
    const closed = runSchedules({ kind: 'closed' }, ws, 1, S)
    assert.ok(closed.every((s) => s.kind === 'closed' && s.plain))
  })
})

describe('on/off sources', () => {
  const fixed = (on: number, off: number, start: 'on' | 'off' | 'random' = 'on') => ({
    on: { dist: 'fixed' as const, meanS: on },
    off: { dist: 'fixed' as const, meanS: off },
    start,
  })

  it('fixed periods from a known start alternate exactly, the last one cut at the run’s end', () => {
    const u = () => 0.5
    assert.deepEqual(onOffPeriods(fixed(2, 1), u, 7 * S), [0, 2 * S, 3 * S, 5 * S, 6 * S, 7 * S])
    assert.deepEqual(onOffPeriods(fixed(2, 1, 'off'), u, 7 * S), [1 * S, 3 * S, 4 * S, 6 * S])
  })

  it('random start: on with probability on/(on+off), and only part of the first fixed period left', () => {
    // u = 0.5 < 2/3: on, 0.5 of a 2-s period left
    assert.deepEqual(
      onOffPeriods(fixed(2, 1, 'random'), () => 0.5, 4 * S),
      [0, 1 * S, 2 * S, 4 * S],
    )
    // u = 0.9 ≥ 2/3: off, 0.9 of a 1-s period left
    assert.deepEqual(
      onOffPeriods(fixed(2, 1, 'random'), () => 0.9, 4 * S),
      [0.9 * S, 2.9 * S, 3.9 * S, 4 * S],
    )
  })

  it('exponential periods: busy about on/(on+off) of a long run; workers independent', () => {
    const a = {
      kind: 'onoff' as const,
      on: { dist: 'exponential' as const, meanS: 1 },
      off: { dist: 'exponential' as const, meanS: 1 },
    }
    const p = periods(scheduleOf(a, opts(2000)))
    let busy = 0
    for (let i = 0; i < p.length; i += 2) {
      assert.ok((p[i + 1] as number) > (p[i] as number))
      if (i > 0) assert.ok((p[i] as number) > (p[i - 1] as number), 'an idle gap between busy periods')
      busy += (p[i + 1] as number) - (p[i] as number)
    }
    // a seeded draw of ~1000 periods of each kind
    assert.ok(Math.abs(busy / (2000 * S) - 0.5) < 0.05, `busy ${busy / (2000 * S)}`)
    assert.notDeepEqual(periods(scheduleOf(a, opts(2000, 'w#1'))), p)
  })

  it('an open source while on arrives only inside busy periods; the periods do not depend on its rate', () => {
    const base = {
      kind: 'onoff' as const,
      on: { dist: 'exponential' as const, meanS: 0.5 },
      off: { dist: 'exponential' as const, meanS: 0.5 },
    }
    const p = periods(scheduleOf(base, opts(30)))
    const a = arrivals(scheduleOf({ ...base, whileOn: { kind: 'poisson', rate: 100 } }, opts(30)))
    assert.ok(a.length > 1000)
    for (const t of a) {
      let inside = false
      for (let i = 0; i < p.length; i += 2)
        if (t >= (p[i] as number) && t < (p[i + 1] as number)) inside = true
      assert.ok(inside, `arrival at ${t} outside every busy period`)
    }
    const u = arrivals(scheduleOf({ ...base, whileOn: { kind: 'uniform', rate: 10 } }, opts(30)))
    // uniform while on: each busy period starts with an arrival at its start
    for (let i = 0; i < p.length; i += 2)
      if ((p[i + 1] as number) > (p[i] as number)) assert.ok(u.includes(p[i] as number))
  })
})

describe('trace files', () => {
  it('reads one time per line in its unit, skipping comments and blank lines', () => {
    const f = join(tmp(), 't.txt')
    writeFileSync(f, '# a trace\n0\n\n0.5\n  1.25  \n1.25\n')
    assert.deepEqual(loadTrace(f), [0, 0.5 * S, 1.25 * S, 1.25 * S])
    assert.deepEqual(loadTrace(f, 'ms'), [0, 500, 1250, 1250])
    assert.deepEqual(loadTrace(f, 'us'), [0, 0.5, 1.25, 1.25])
  })

  it('refuses a bad line naming the file and line, a decreasing time, an empty or missing file', () => {
    const d = tmp()
    const write = (name: string, text: string) => {
      const f = join(d, name)
      writeFileSync(f, text)
      return f
    }
    const bad = write('bad.txt', '0\n0.1\nsoon\n')
    assert.throws(() => loadTrace(bad), new RegExp(`trace ${bad}:3: not a time ≥ 0 in s: "soon"`))
    assert.throws(() => loadTrace(write('neg.txt', '-1\n')), /neg\.txt:1: not a time ≥ 0/)
    assert.throws(
      () => loadTrace(write('down.txt', '1\n2\n1.5\n')),
      /down\.txt:3: times must not decrease \(1\.5 s after 2 s\)/,
    )
    assert.throws(() => loadTrace(write('empty.txt', '# nothing\n\n')), /empty\.txt: no request times in it/)
    assert.throws(() => loadTrace(join(d, 'missing.txt')), /missing\.txt: cannot read \(ENOENT\)/)
  })

  it('a trace source finds its file relative to the file naming it, and replays it once or every repeatS', () => {
    const d = tmp()
    writeFileSync(join(d, 't.txt'), '0.1\n0.3\n')
    const once = loadArrival({ kind: 'trace', file: 't.txt' }, d, 'm') as LoadedArrival
    assert.equal(once.kind === 'trace' && once.file, join(d, 't.txt'))
    assert.deepEqual(arrivals(scheduleOf(once, opts(5))), [0.1 * S, 0.3 * S])
    const rep = loadArrival({ kind: 'trace', file: 't.txt', repeatS: 1 }, d, 'm') as LoadedArrival
    assert.deepEqual(arrivals(scheduleOf(rep, opts(2.2))), [0.1 * S, 0.3 * S, 1.1 * S, 1.3 * S, 2.1 * S])
    assert.throws(
      () => loadArrival({ kind: 'trace', file: 't.txt', repeatS: 0.3 }, d, 'mix m, model vgg19'),
      /mix m, model vgg19: trace .*t\.txt: repeatS 0\.3 s must be more than its last time \(0\.3 s\)/,
    )
    assert.throws(
      () => loadArrival({ kind: 'trace', file: 'nope.txt' }, d, 'mix m, model vgg19'),
      /mix m, model vgg19: trace .*nope\.txt: cannot read/,
    )
    // a trace whose times were never read cannot be scheduled
    assert.throws(
      () => scheduleOf({ kind: 'trace', file: 'x' } as LoadedArrival, opts(1)),
      /times were not loaded/,
    )
  })

  it('a mix file’s traces are read when the mix is; a mix without one is returned as it is', () => {
    const d = tmp()
    writeFileSync(join(d, 't.txt'), '0\n1\n')
    const mix: Mix = {
      name: 'm',
      workers: [{ model: 'vgg19', arrival: { kind: 'trace', file: 't.txt', unit: 'ms' } }],
    }
    const loaded = loadMixArrivals(mix, d)
    const a = loaded.workers[0]?.arrival as LoadedArrival
    assert.ok(a.kind === 'trace' && 'timesUs' in a)
    assert.deepEqual(a.timesUs, [0, 1000])
    const plain: Mix = { name: 'p', workers: [{ model: 'vgg19' }] }
    assert.equal(loadMixArrivals(plain, d), plain)
  })
})

describe('what a source asks on average', () => {
  it('rates, busy shares and the queueing each implies', () => {
    assert.deepEqual(loadOf(undefined), { closed: true, share: 1, rps: 0, process: 'closed' })
    assert.deepEqual(loadOf({ kind: 'uniform', rate: 100 }), {
      closed: false,
      share: 1,
      rps: 100,
      process: 'uniform',
    })
    assert.deepEqual(loadOf({ kind: 'poisson', rate: 20 }), {
      closed: false,
      share: 1,
      rps: 20,
      process: 'poisson',
    })
    const on = { dist: 'fixed' as const, meanS: 3 }
    const off = { dist: 'exponential' as const, meanS: 1 }
    assert.deepEqual(loadOf({ kind: 'onoff', on, off }), {
      closed: true,
      share: 0.75,
      rps: 0,
      process: 'closed',
    })
    assert.deepEqual(loadOf({ kind: 'onoff', on, off, whileOn: { kind: 'uniform', rate: 40 } }), {
      closed: false,
      share: 0.75,
      rps: 40,
      process: 'uniform',
    })
    // a trace: its request count over its span (once), or per repetition; Poisson-like gaps
    const t = (timesUs: number[], repeatS?: number): LoadedArrival => ({
      kind: 'trace',
      file: 'x',
      timesUs,
      ...(repeatS ? { repeatS } : {}),
    })
    assert.equal(loadOf(t([0, 0.5 * S, 1 * S])).rps, 2)
    assert.equal(loadOf(t([0, 0.5 * S, 1 * S], 2)).rps, 1.5)
    assert.equal(loadOf(t([0.2 * S])).rps, 0)
  })

  it('says each source in words', () => {
    assert.equal(describeArrival(undefined), 'closed loop')
    assert.equal(describeArrival({ kind: 'uniform', rate: 100 }), 'uniform 100 req/s')
    assert.equal(
      describeArrival({
        kind: 'onoff',
        on: { dist: 'exponential', meanS: 2 },
        off: { dist: 'fixed', meanS: 1 },
        whileOn: { kind: 'poisson', rate: 5 },
      }),
      'on/off (on exponential 2 s, off fixed 1 s), poisson 5 req/s while on',
    )
    assert.equal(
      describeArrival({ kind: 'trace', file: 't.txt', timesUs: [1, 2], repeatS: 3 }),
      'trace t.txt (2 requests), every 3 s',
    )
  })
})
