// The simulator under arrival sources other than the closed loop: requests start only where their schedule lets them,
// open-loop latency counts from arrival, queued requests run in arrival order, one in flight per worker.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { RunSpec } from '../../src/execute/backend.ts'
import { simulate } from '../../src/execute/sim/index.ts'
import { arrivalRecord, type LoadedArrival } from '../../src/formats/index.ts'
import { ALL, latencies, planOf, profileOf, specOf } from './fixtures.ts'

const flat = (us: number) => () => us
const close = (a: number, b: number, tol = 1e-6) => assert.ok(Math.abs(a - b) <= tol, `${a} ≠ ${b}`)

/** One worker of one 100-µs kernel on the whole GPU (no launch cost), under `arrival`, for `windowS`. */
function run(arrival: LoadedArrival, windowS: number, extra?: LoadedArrival) {
  const a = profileOf('a', [flat(100)])
  const b = profileOf('b', [flat(100)])
  const plan = planOf(
    'baseline',
    [ALL],
    [
      { profile: a, groups: [[0, 0, 0]] },
      ...(extra ? [{ profile: b, groups: [[0, 0, 0]] as [number, number, number][] }] : []),
    ],
  )
  const base = specOf(plan, extra ? [a, b] : [a], { windowS })
  const sources = extra ? [arrival, extra] : [arrival]
  const spec: RunSpec = {
    ...base,
    workers: base.workers.map((w, i) => ({ ...w, arrival: sources[i] as LoadedArrival })),
    loop: { kind: 'arrivals', sources: sources.map(arrivalRecord) },
  }
  return simulate(spec)
}

describe('simulator: arrival sources', () => {
  it('uniform below capacity: every request at its arrival, latency its service time', () => {
    const r = run({ kind: 'uniform', rate: 1000, offsetS: 0.0005 }, 0.01)
    const w = r.workers[0] as { arrivalUs: number[]; startUs: number[]; endUs: number[] }
    assert.deepEqual(
      w.arrivalUs,
      Array.from({ length: 10 }, (_, i) => 500 + i * 1000),
    )
    assert.deepEqual(w.startUs, w.arrivalUs)
    for (const l of latencies(r, 0)) close(l, 100)
  })

  it('uniform above capacity: requests queue in arrival order and latency counts the wait', () => {
    // a request every 50 µs, each takes 100: the n-th waits n · 50 µs
    const r = run({ kind: 'uniform', rate: 20_000 }, 0.002)
    const w = r.workers[0] as { arrivalUs: number[]; startUs: number[]; endUs: number[] }
    assert.ok(w.endUs.length > 10)
    for (let i = 0; i < w.endUs.length; i++) {
      close(w.arrivalUs[i] as number, i * 50)
      close(w.startUs[i] as number, i * 100)
      close((w.endUs[i] as number) - (w.arrivalUs[i] as number), 100 + i * 50)
    }
  })

  it('on/off with a closed loop while on: requests start only inside busy periods; one in flight at a period’s end completes', () => {
    // busy 0–250 µs, idle 250–400, busy 400–650, …: 100-µs requests at 0, 100, 200 (ends at 300, after the period),
    // then 400, 500, 600
    const r = run(
      {
        kind: 'onoff',
        on: { dist: 'fixed', meanS: 250e-6 },
        off: { dist: 'fixed', meanS: 150e-6 },
        start: 'on',
      },
      0.0009,
    )
    const w = r.workers[0] as { arrivalUs: number[]; startUs: number[]; endUs: number[] }
    assert.deepEqual(
      w.startUs.map((x) => Math.round(x * 1000) / 1000),
      [0, 100, 200, 400, 500, 600, 800],
    )
    assert.deepEqual(w.startUs, w.arrivalUs)
    close(w.endUs[2] as number, 300)
  })

  it('on/off with Poisson while on: no arrival while idle; a worker beside it keeps its closed loop', () => {
    const src: LoadedArrival = {
      kind: 'onoff',
      on: { dist: 'fixed', meanS: 0.001 },
      off: { dist: 'fixed', meanS: 0.001 },
      start: 'on',
      whileOn: { kind: 'poisson', rate: 2000 },
    }
    const r = run(src, 0.02, { kind: 'closed' })
    const w = r.workers[0] as { arrivalUs: number[] }
    assert.ok(w.arrivalUs.length > 5)
    for (const t of w.arrivalUs) assert.ok(Math.floor(t / 1000) % 2 === 0, `arrival at ${t} µs while idle`)
    // the closed-loop neighbour runs back to back the whole time: no gap between its requests
    const c = r.workers[1] as { startUs: number[]; endUs: number[] }
    assert.ok(c.endUs.length > 100)
    for (let i = 1; i < c.startUs.length; i++) close(c.startUs[i] as number, c.endUs[i - 1] as number)
  })

  it('a trace replays its times', () => {
    const r = run({ kind: 'trace', file: 't', timesUs: [10, 20, 500, 501] }, 0.001)
    const w = r.workers[0] as { arrivalUs: number[]; startUs: number[] }
    assert.deepEqual(w.arrivalUs, [10, 20, 500, 501])
    assert.deepEqual(w.startUs, [10, 110, 500, 600])
  })

  it('the same seed gives the same run; the closed loop is what it always was', () => {
    const p = { kind: 'poisson', rate: 3000 } as const
    assert.deepEqual(run(p, 0.02).workers, run(p, 0.02).workers)
    // closed as a source and the closed loop without sources: the same requests
    const a = profileOf('a', [flat(100)])
    const plan = planOf('baseline', [ALL], [{ profile: a, groups: [[0, 0, 0]] }])
    assert.deepEqual(
      run({ kind: 'closed' }, 0.01).workers,
      simulate(specOf(plan, [a], { windowS: 0.01 })).workers,
    )
  })
})
