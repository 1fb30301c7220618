// `eclip paris --bisect`: the sustained load by bisection with repeats (src/paris/bisect.ts), on constructed searches
// whose crossing is known exactly, and on the simulator with a server whose capacity is known (one partition, a
// constant 1 ms service: 1000 queries/s).
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { parseBisect, parsePercent } from '../../src/cli/commands/paris.ts'
import { type Gpu, readFile } from '../../src/formats/index.ts'
import {
  above,
  bisectionSteps,
  bisectSustained,
  checkBisectOptions,
  judge,
  medianRun,
  spread,
  verdict,
} from '../../src/paris/bisect.ts'
import { compare, SCHEMES } from '../../src/paris/compare.ts'
import { bisectionMarkdown } from '../../src/paris/report.ts'
import { type LoadedScenario, loadScenario } from '../../src/paris/scenario.ts'
import type { SimMetrics } from '../../src/paris/sim.ts'
import { constModel } from './const-model.ts'
import { eclip } from './run-paris.ts'

const root = join(import.meta.dirname, '..', '..')
const gpu = readFile<Gpu>('gpu', join(root, 'test', 'fixtures', 'h100.gpu.json'))

/** A run whose violation rate steps from 0.2% to 5% at `crossing` (scale), plus `perRepeat` × the repeat index. */
const stepRun =
  (crossing: number, perRepeat = 0, calls: [number, number][] = []) =>
  (scale: number, repeat: number) => {
    calls.push([scale, repeat])
    return {
      scale,
      violationRate: (scale < crossing ? 0.002 : 0.05) + perRepeat * repeat,
      offeredQps: scale * 100,
      p99Ms: 10 + repeat,
    } as SimMetrics
  }

const base = { target: 0.01, resolution: 0.05, repeats: 1, pass: 'median' as const, start: 1 }

describe('bisection with repeats', () => {
  it('brackets a known crossing to the resolution, from a start below, above or at it', async () => {
    for (const crossing of [0.37, 3.3, 117])
      for (const start of [0.5, 1, 40, crossing])
        for (const resolution of [0.05, 0.01, 0.2]) {
          const b = await bisectSustained(stepRun(crossing), { ...base, start, resolution })
          const what = `crossing ${crossing}, start ${start}, resolution ${resolution}`
          assert.equal(b.outcome, 'converged', what)
          const lo = b.lastPass?.scale ?? Number.NaN
          const hi = b.firstFail?.scale ?? Number.NaN
          assert.ok(lo < crossing && crossing <= hi, `${what}: [${lo}, ${hi})`)
          assert.ok(hi <= lo * (1 + resolution) * (1 + 1e-12), `${what}: ${hi / lo} > 1 + resolution`)
          // every probe that passed is below every one that failed
          const passed = b.probes.filter((p) => p.pass).map((p) => p.scale)
          const failed = b.probes.filter((p) => !p.pass).map((p) => p.scale)
          assert.ok(Math.max(...passed) < Math.min(...failed), what)
        }
  })

  it('takes 2 probes to bracket from a start within 2× of the crossing, then ⌈log2(ln 2 / ln(1 + r))⌉ steps', async () => {
    assert.equal(bisectionSteps(2, 0.05), 4)
    assert.equal(bisectionSteps(2, 0.01), 7)
    assert.equal(bisectionSteps(1.04, 0.05), 0)
    const b = await bisectSustained(stepRun(1.5), { ...base, start: 1 })
    assert.equal(b.probes.length, 2 + bisectionSteps(2, 0.05))
  })

  it('runs every repeat of a probe on its own trace and records each; the rule decides on their median or all', async () => {
    const calls: [number, number][] = []
    // repeat r adds 0.4% × r: the repeats of a load below the crossing see 0.2%, 0.6%, 1.0%, 1.4%, 1.8%
    const median = await bisectSustained(stepRun(10, 0.004, calls), { ...base, repeats: 5, start: 4 })
    assert.ok(median.probes.every((p) => p.runs.length === 5))
    assert.deepEqual(
      calls.slice(0, 5),
      [0, 1, 2, 3, 4].map((r) => [4, r]),
    )
    assert.equal(calls.length, median.probes.length * 5)
    // the median repeat (1.0%) is within 1%: the crossing is found where the step is
    assert.ok(median.lastPass && median.lastPass.scale < 10 && (median.firstFail?.scale ?? 0) >= 10)
    assert.ok(Math.abs((median.lastPass?.violationRate ?? 0) - 0.01) < 1e-12)
    if (median.lastPass) assert.equal(medianRun(median.lastPass).p99Ms, 12)
    // all: the worst repeat (1.8%) fails everywhere
    const all = await bisectSustained(stepRun(10, 0.004), { ...base, repeats: 5, start: 4, pass: 'all' })
    assert.equal(all.outcome, 'fails-at-lowest')
    assert.ok(Math.abs((all.firstFail?.violationRate ?? 0) - 0.018) < 1e-12)
    assert.deepEqual(spread([0.03, 0.01, 0.02, 0.05]), { median: 0.025, min: 0.01, max: 0.05 })
    assert.deepEqual(judge([0.005, 0.02, 0.009], 'median', 0.01), { stat: 0.009, pass: true })
    assert.deepEqual(judge([0.005, 0.02, 0.009], 'all', 0.01), { stat: 0.02, pass: false })
  })

  it('says when a scheme fails even at the lowest load, or passes at the highest, within its limits', async () => {
    const never = await bisectSustained(() => ({ scale: 1, violationRate: 0.3 }) as SimMetrics, {
      ...base,
      start: 8,
      maxHalvings: 3,
    })
    assert.equal(never.outcome, 'fails-at-lowest')
    assert.equal(never.lastPass, null)
    assert.deepEqual(
      never.probes.map((p) => p.scale),
      [8, 4, 2, 1],
    )
    const always = await bisectSustained((s) => ({ scale: s, violationRate: 0 }) as SimMetrics, {
      ...base,
      maxDoublings: 4,
    })
    assert.equal(always.outcome, 'passes-at-highest')
    assert.equal(always.firstFail, null)
    assert.equal(always.lastPass?.scale, 16)
    assert.equal(always.probes.length, 5)
  })

  it('refuses settings it cannot search with', () => {
    checkBisectOptions(base)
    assert.throws(() => checkBisectOptions({ ...base, repeats: 0 }), /repeats 0/)
    assert.throws(() => checkBisectOptions({ ...base, repeats: 1.5 }), /repeats 1.5/)
    assert.throws(() => checkBisectOptions({ ...base, resolution: 0 }), /resolution 0/)
    assert.throws(() => checkBisectOptions({ ...base, target: 1 }), /target 1/)
    assert.throws(() => checkBisectOptions({ ...base, start: 0 }), /start 0/)
  })

  it('calls beats, ties and loses by the brackets and the resolution', () => {
    const b = (lastPassQps: number, firstFailQps: number | null) => ({ lastPassQps, firstFailQps })
    // disjoint and more than 5% apart
    assert.equal(verdict(b(1100, 1150), b(1000, 1040), 0.05), 'beats')
    assert.equal(verdict(b(1000, 1040), b(1100, 1150), 0.05), 'loses')
    // overlapping brackets
    assert.equal(verdict(b(1030, 1080), b(1000, 1040), 0.05), 'ties')
    // A passed where B failed (same load), but the sustained loads are within 5%: a tie at this resolution
    assert.ok(above(b(1025, 1070), b(981, 1025)))
    assert.equal(verdict(b(1025, 1070), b(981, 1025), 0.05), 'ties')
    assert.equal(verdict(b(1025, 1070), b(981, 1025), 0.04), 'beats')
    // a scheme that passed at no load tried loses to one that did; two such tie
    assert.equal(verdict(b(200, 210), b(0, 4), 0.05), 'beats')
    assert.equal(verdict(b(0, 4), b(0, 4), 0.05), 'ties')
    // one that passed at the highest load tried cannot be beaten
    assert.equal(verdict(b(5000, null), b(1000, 1040), 0.05), 'beats')
    assert.equal(verdict(b(1000, 1040), b(5000, null), 0.05), 'loses')
    assert.equal(verdict(b(9000, 9400), b(5000, null), 0.05), 'ties')
  })
})

describe('bisection on the simulator', () => {
  // one model, 1 ms per query at any size, on whole GPUs: one partition serving 1000 queries/s at most
  const capacity = 1000
  const scenario = (sloUs: number): LoadedScenario => ({
    name: 'constant',
    gpu,
    models: [constModel(1000, 100, sloUs)],
  })
  const whole = SCHEMES.filter((s) => s.name === 'whole/fifo' || s.name === 'whole/least-loaded')

  it('finds a known capacity to within the resolution, with every repeat and the spread recorded', async () => {
    // SLO 200 ms: a queue of M/D/1 at ρ ≤ 0.95 practically never waits that long; above ρ = 1.05 it grows without
    // bound and most queries miss it: the crossing lies within 5% of the capacity
    const cmp = await compare(scenario(200_000), {
      gpus: [1],
      seed: 2,
      queries: 6000,
      noise: 0,
      schemes: whole,
      bisect: { resolution: 0.05, repeats: 3, pass: 'median', start: () => 1 },
    })
    for (const r of cmp.results) {
      const s = r.search
      assert.ok(s, r.scheme)
      assert.equal(s.outcome, 'converged')
      assert.ok(s.firstFailQps !== null && s.firstFailQps <= s.lastPassQps * 1.05 + 1e-9)
      assert.ok(
        s.lastPassQps >= 0.95 * capacity && s.firstFailQps <= 1.1 * capacity,
        `${r.scheme}: [${s.lastPassQps}, ${s.firstFailQps}) for a capacity of ${capacity}`,
      )
      assert.equal(r.sustainedQps, s.lastPassQps)
      assert.equal(r.runs, s.probes.length * 3)
      assert.ok(s.probes.every((p) => p.violationRate.length === 3 && p.p99Ms.length === 3))
      for (const at of [s.atLastPass, s.atFirstFail]) {
        assert.ok(at)
        assert.ok(
          at.violationRate.min <= at.violationRate.median && at.violationRate.median <= at.violationRate.max,
        )
        assert.ok(at.p99Ms.min <= at.p99Ms.median && at.p99Ms.median <= at.p99Ms.max)
      }
      // the repeats are different traces: their p99s differ somewhere
      assert.ok(s.probes.some((p) => new Set(p.p99Ms).size > 1))
      // the probes are the sweep, with their verdicts
      const pts = cmp.sweep.filter((p) => p.scheme === r.scheme)
      assert.equal(pts.length, s.probes.length)
      assert.deepEqual(
        pts.map((p) => p.pass),
        s.probes.map((p) => p.pass),
      )
    }
    assert.deepEqual(cmp.options.bisect?.starts, [
      { gpus: 1, scheme: 'whole/fifo', qps: 100 },
      { gpus: 1, scheme: 'whole/least-loaded', qps: 100 },
    ])
    // one partition: fifo and least-loaded are the same queue, run on the same traces
    assert.deepEqual(cmp.results[0]?.search, cmp.results[1]?.search)
  })

  it('reports a scheme that fails even at the lowest load and one that passes at the highest', async () => {
    const opts = {
      gpus: [1],
      seed: 1,
      queries: 500,
      schemes: whole.slice(0, 1),
      bisect: {
        resolution: 0.05,
        repeats: 2,
        pass: 'median' as const,
        start: () => 1,
        maxDoublings: 3,
        maxHalvings: 2,
      },
    }
    // SLO 0.5 ms for a 1 ms query: every query violates at every load
    const never = (await compare(scenario(500), opts)).results[0]
    assert.equal(never?.search?.outcome, 'fails-at-lowest')
    assert.equal(never?.sustainedQps, 0)
    assert.equal(never?.search?.firstFailQps, 25)
    assert.equal(never?.floorViolationRate, 1)
    assert.equal(never?.search?.probes.length, 3)
    // SLO 1000 s: nothing in a 500-query trace waits that long
    const always = (await compare(scenario(1e9), opts)).results[0]
    assert.equal(always?.search?.outcome, 'passes-at-highest')
    assert.equal(always?.sustainedQps, 800)
    assert.equal(always?.search?.firstFailQps, null)
  })

  it('says whether PARIS + ELSA beats the best uniform layout, and each uniform size', async () => {
    const sc = loadScenario(join(root, 'examples', 'paris-gpu.yaml'), {
      date: '2026-11-22',
      latencyDir: join(root, 'results', 'h100', 'paris', 'latency'),
    })
    const cmp = await compare(sc, {
      gpus: [1],
      seed: 1,
      queries: 1000,
      uniformSlices: [3, 4],
      schemes: SCHEMES.filter((s) => s.name === 'uniform/least-loaded' || s.name === 'paris/elsa'),
      bisect: { resolution: 0.05, repeats: 1, pass: 'median', start: () => 1 },
    })
    const md = bisectionMarkdown(cmp).join('\n')
    assert.match(md, /## Sustained load by bisection \(to 5\.0%, 1 repeat per load\)/)
    assert.match(md, /A load passes when its run violates at most 1\.0% of its SLOs/)
    assert.match(md, /\| 1 \| paris\/elsa \| \d+ \| \[\d+, \d+\) \|/)
    assert.match(
      md,
      /uniform\/least-loaded at 1 GPU, every layout tried .*24-SM partitions: \[\d+, \d+\); 32-SM/,
    )
    assert.match(
      md,
      /- 1 GPU: PARIS \+ ELSA \*\*(beats|ties|loses)\*\*( to)? the best uniform layout \(\d+-SM/,
    )
    assert.equal((md.match(/^ {2}- PARIS \+ ELSA \*\*/gm) ?? []).length, 2)
  })
})

describe('eclip paris --bisect', () => {
  const scenario = join(root, 'examples', 'paris-gpu.yaml')

  it('parses percentages and refuses bad options with the option named', async () => {
    assert.equal(parsePercent('--target', '1', 0, 100, true), 0.01)
    assert.equal(parsePercent('--resolution', '2.5%', 0.1, 100), 0.025)
    assert.throws(
      () => parsePercent('--target', '100', 0, 100, true),
      /--target: expected a percentage in \[0, 100\)/,
    )
    assert.throws(() => parsePercent('--resolution', 'fine', 0.1, 100), /--resolution: expected a percentage/)
    assert.deepEqual(parseBisect({ bisect: true }, false), { resolution: 0.05, repeats: 3, pass: 'median' })
    assert.deepEqual(parseBisect({ bisect: true }, true)?.start, { value: 0.5, relative: true })
    assert.equal(parseBisect({}, false), undefined)
    const refused: [string[], RegExp][] = [
      [['--repeats', '3'], /--repeats needs --bisect/],
      [['--resolution', '2'], /--resolution needs --bisect/],
      [['--start', '0.5x'], /--start needs --bisect/],
      [['--bisect', '--rates', '100,200'], /--bisect and --rates are two ways to search the load: give one/],
      [['--bisect', '--repeats', '0'], /--repeats: expected an integer in 1\.\.100, got "0"/],
      [['--bisect', '--repeats', '2.5'], /--repeats: expected an integer in 1\.\.100, got "2\.5"/],
      [['--bisect', '--resolution', '0'], /--resolution: expected a percentage in \[0\.1, 100\]/],
      [['--bisect', '--target', '150'], /--target: expected a percentage in \[0, 100\)/],
      [['--bisect', '--start', 'soon'], /--start: "soon" is not a load/],
      [['--bisect', '--start', '100,200'], /--start: one load/],
      [['--bisect', '--pass', 'most'], /--pass.*Allowed choices are median, all/],
    ]
    for (const [args, why] of refused)
      await assert.rejects(
        eclip(
          'paris',
          '--models',
          scenario,
          '--gpus',
          '1',
          '--quiet',
          '--out',
          mkdtempSync(join(tmpdir(), 'x-')),
          ...args,
        ),
        why,
        args.join(' '),
      )
  })

  it('writes the bracket, the spread and the verdict to results.md and results.json', async () => {
    const out = mkdtempSync(join(tmpdir(), 'eclip-paris-bisect-'))
    await eclip(
      'paris',
      '--models',
      scenario,
      '--gpus',
      '1',
      '--queries',
      '1500',
      '--schemes',
      'uniform/least-loaded,paris/elsa',
      '--uniform',
      '32',
      '--bisect',
      '--repeats',
      '2',
      '--resolution',
      '10',
      '--target',
      '2',
      '--out',
      out,
      '--quiet',
    )
    const res = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'))
    assert.equal(res.options.target, 0.02)
    assert.deepEqual(
      { ...res.options.bisect, starts: undefined },
      { resolution: 0.1, repeats: 2, pass: 'median', starts: undefined },
    )
    for (const r of res.results) {
      assert.equal(r.search.method, 'bisect')
      assert.equal(r.search.repeats, 2)
      assert.ok(r.search.probes.every((p: { violationRate: number[] }) => p.violationRate.length === 2))
    }
    const md = readFileSync(join(out, 'results.md'), 'utf8')
    assert.match(md, /the last load that passed, by bisection to 10\.0%/)
    assert.match(md, /A load passes when the median of 2 repeats violates at most 2\.0% of its SLOs/)
    assert.match(md, /### Does PARIS \+ ELSA beat the uniform layouts\?/)
  })
})
