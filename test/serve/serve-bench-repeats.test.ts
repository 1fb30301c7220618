// serve-bench --repeats and --server-starts on the simulator: several windows per (mix, policy, transport), back to
// back after one warm-up, each a run of its own in results.json (its server start and window), its ratios to
// baseline's window of the same server start and index; the report's cells as mean [min–max] and a spread line per
// arm (within a server, between server starts); the flags' bad values refused, --server-starts with --url (whose
// windows serve-bench-url.test.ts measures). The summaries themselves (repeats.ts) on runs made up here.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { readFile, type ServeResults, type ServeRun } from '../../src/formats/index.ts'
import { type CpuSnapshot, hostCpu, hostCpuNote } from '../../src/serve-bench/host-cpu.ts'
import { meanOverArms, spread, summaryCell } from '../../src/serve-bench/repeats.ts'
import { normaliseServeRuns } from '../../src/serve-bench/serve-bench.ts'
import { runScript } from './helpers.ts'
import { servedRun } from './served-runs.ts'

const bin = join(import.meta.dirname, '..', '..', 'bin', 'eclip.mjs')
const BENCH = join(import.meta.dirname, 'fixtures', 'bench-mix1-sim.json')
const tmp = () => mkdtempSync(join(tmpdir(), 'eclip-sb-repeats-'))
const serveBench = (args: string[]) => runScript(process.execPath, [bin, 'serve-bench', ...args])
const SHORT = ['--duration', '0.3', '--warmup', '0.1']
/** A table of the report: its title line (matched by `title`) to the first blank line. */
const table = (report: string, title: RegExp): string => {
  const start = report.split('\n').findIndex((l) => title.test(l))
  assert.ok(start >= 0, `no table ${title} in the report`)
  const lines = report.split('\n').slice(start)
  const end = lines.indexOf('')
  return lines.slice(0, end < 0 ? undefined : end).join('\n')
}
const RANGE = String.raw`\d+\.\d+ \[\d+\.\d+–\d+\.\d+\]`

describe('eclip serve-bench --repeats on the simulator', () => {
  it('--repeats 2: two windows per arm, back to back, each a run; the report gives mean [min–max]', async () => {
    const out = tmp()
    const r = await serveBench([
      ...['--mix', 'mix1', '--policies', 'baseline,eclip', '--profiles', 'synthetic', '--repeats', '2'],
      ...SHORT,
      ...['--bench', BENCH, '--out', out],
    ])
    assert.equal(r.status, 0, r.stderr)
    const results = readFile<ServeResults>('serve-results', join(out, 'results.json'))
    assert.deepEqual(
      results.runs.map((x) => [x.id, x.repeat]),
      [
        ['mix1|baseline|bmix|sim|s1w1', { server: 1, window: 1 }],
        ['mix1|baseline|bmix|sim|s1w2', { server: 1, window: 2 }],
        ['mix1|eclip|bmix|sim|s1w1', { server: 1, window: 1 }],
        ['mix1|eclip|bmix|sim|s1w2', { server: 1, window: 2 }],
      ],
    )
    assert.match(results.provenance.notes ?? '', /2 windows back to back after one warm-up per server start/)
    // the request log: every request of a server start once, under its first window's id
    const log = readFileSync(join(out, 'requests.csv'), 'utf8')
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => {
        const [run, , , , endMs, status] = l.split(',')
        return { run, endMs: Number(endMs), status }
      })
    assert.deepEqual(
      [...new Set(log.map((l) => l.run))],
      ['mix1|baseline|bmix|sim|s1w1', 'mix1|eclip|bmix|sim|s1w1'],
    )
    const byId = new Map(results.runs.map((x) => [x.id, x]))
    const run = (id: string) => byId.get(`mix1|${id}`) as ServeRun
    for (const p of ['baseline', 'eclip']) {
      const [w1, w2] = [run(`${p}|bmix|sim|s1w1`), run(`${p}|bmix|sim|s1w2`)]
      // back to back: the second window starts where the first ended, after the one warm-up
      assert.ok(Math.abs(w1.warmupS + w1.windowS - w2.warmupS) < 1e-6, `${p}: ${w1.warmupS} ${w2.warmupS}`)
      assert.ok(w1.warmupS >= 0.1 && w1.windowS > 0.25 && w2.windowS > 0.25)
      for (const w of [w1, w2]) {
        assert.ok(w.metrics.errorsTotal === 0 && w.workers.every((x) => x.requests > 0), w.notes.join('; '))
        assert.ok((w.bench?.servedVsBench ?? 0) > 0)
        assert.ok(
          w.notes.some((n) => /^window [12] of 2 \(the windows of one server start back to back/.test(n)),
        )
      }
      // every answered request in the two windows' span counted once, in the window its answer came in
      const answered = log.filter((l) => l.run === w1.id && l.status === '200' && l.endMs > w1.warmupS * 1000)
      const end = (w2.warmupS + w2.windowS) * 1000
      assert.equal(w1.metrics.requests + w2.metrics.requests, answered.filter((l) => l.endMs <= end).length)
      assert.ok(w1.metrics.requests > 0 && w2.metrics.requests > 0)
    }
    // each window's ratios against baseline's window of the same index
    for (const k of [1, 2]) {
      const e = run(`eclip|bmix|sim|s1w${k}`)
      const b = run(`baseline|bmix|sim|s1w${k}`)
      const stp = (x: ServeRun) => x.metrics.system?.stp as number
      assert.ok(Math.abs((e.metrics.system?.stpVsBaseline as number) - stp(e) / stp(b)) < 1e-9)
      assert.equal(b.metrics.system?.stpVsBaseline, 1)
    }
    const report = readFileSync(join(out, 'report.txt'), 'utf8')
    assert.equal(r.stdout.includes(table(report, /^Served ÷ bench: /)), true)
    // the four tables the repeats are read in, each cell a mean with its range
    const served = table(report, /^Served ÷ bench: .*mean over windows \[min–max\]/)
    const eclipServed = [1, 2].map((k) => run(`eclip|bmix|sim|s1w${k}`).bench?.servedVsBench as number)
    const meanServed = ((eclipServed[0] as number) + (eclipServed[1] as number)) / 2
    assert.match(served, new RegExp(`\\nmix1 +${RANGE} +${meanServed.toFixed(2)} \\[`))
    assert.match(served, new RegExp(`\\nmean +${RANGE.split(' ')[0]} +`))
    assert.match(
      table(
        report,
        /÷ baseline STP.*each window's ratio to baseline's window of the same server start and index, the mean of those per-window ratios \[min–max\]/,
      ),
      new RegExp(`\\nmix1 +1\\.00 \\[1\\.00–1\\.00\\] +${RANGE}`),
    )
    assert.match(
      table(report, /^Worst worker: .*the mean of those per-window ratios \[min–max\]/),
      new RegExp(`\\nmix1 +1\\.00 \\[1\\.00–1\\.00\\] +${RANGE} (albert|densenet201)#\\d`),
    )
    assert.match(
      table(report, /^Server CPU per request in the window, ms .*mean over windows \[min–max\]/),
      new RegExp(`\\nmix1 +${RANGE} +${RANGE}`),
    )
    assert.match(
      report,
      /\nmix1 eclip: 1 server start, 2 windows; served ÷ bench within a server \d\.\d\d, between servers not measured \(one server start\); Σ req\/s within a server \d+\.\d%, between servers not measured/,
    )
    // each window in detail
    assert.match(report, /\nmix1 eclip \[sim, SIMULATED, http, server 1 window 2\]: \d+ requests in /)
  })

  it('--server-starts 2 --repeats 2: four windows per arm on two fresh servers; within and between both said', async () => {
    const out = tmp()
    const r = await serveBench([
      ...['--mix', 'mix7', '--policies', 'baseline', '--profiles', 'synthetic'],
      ...['--repeats', '2', '--server-starts', '2', ...SHORT, '--out', out],
    ])
    assert.equal(r.status, 0, r.stderr)
    assert.match(
      r.stderr,
      /\[1\/2\] mix7 baseline \(server start 1 of 2\)\n(.|\n)*\[2\/2\] mix7 baseline \(server start 2 of 2\)/,
    )
    const results = readFile<ServeResults>('serve-results', join(out, 'results.json'))
    assert.deepEqual(
      results.runs.map((x) => x.id.split('|').at(-1)),
      ['s1w1', 's1w2', 's2w1', 's2w2'],
    )
    // a fresh server each start: its own start-up time, and the window after its own warm-up
    const [a, , c] = results.runs as ServeRun[]
    assert.ok(a && c && a.warmupS < 0.2 && c.warmupS < 0.2)
    assert.ok(results.runs.every((x) => x.workers.every((w) => w.requests > 0)))
    assert.ok(c.notes.some((n) => n.startsWith('window 1 of 2 on server start 2 of 2')))
    assert.match(
      r.stdout,
      /\nmix7 baseline: 2 server starts, 4 windows; Σ req\/s within a server \d+\.\d%, between servers \d+\.\d%/,
    )
  })

  it('refuses --repeats 0, a non-integer, --server-starts 0 and --server-starts with --url, naming the flag', () => {
    const out = tmp()
    const run = (...args: string[]) =>
      spawnSync(process.execPath, [bin, 'serve-bench', '--mix', 'mix7', ...args, '--out', out], {
        encoding: 'utf8',
      })
    for (const [flag, v] of [
      ['--repeats', '0'],
      ['--repeats', '1.5'],
      ['--repeats', 'two'],
      ['--server-starts', '0'],
    ] as const) {
      const r = run(flag, v)
      assert.equal(r.status, 2, r.stderr)
      assert.match(r.stderr, new RegExp(`${flag}: expected an integer ≥ 1, got "${v}"`))
    }
    const url = run('--url', 'http://127.0.0.1:9', '--repeats', '2', '--server-starts', '2')
    assert.equal(url.status, 2, url.stderr)
    assert.match(
      url.stderr,
      /--server-starts with --url: serve-bench starts no server there, so it cannot start a fresh one per repeat; --repeats measures several windows/,
    )
  })
})

describe('summaries over an arm’s windows (repeats.ts)', () => {
  /** A run made up for the summaries: a policy's window of a server start, one worker at `rps`. */
  const made = (policy: 'baseline' | 'eclip', server: number, window: number, rps: number) =>
    servedRun(policy, [rps], { server, window })

  it('a cell: one value as before; several: mean [min–max] over those that have one', () => {
    assert.equal(summaryCell([0.5]), '0.50')
    assert.equal(summaryCell([null]), '–')
    assert.equal(summaryCell([0.8, 0.9, 1]), '0.90 [0.80–1.00]')
    assert.equal(summaryCell([0.8, null]), '0.80')
    assert.equal(summaryCell([null, undefined]), '–')
    assert.equal(summaryCell([0.1234, 0.2], 3), '0.162 [0.123–0.200]')
  })

  it('spread: the widest range within one server start, the range of the starts’ means between them', () => {
    const runs = [
      made('baseline', 1, 1, 100),
      made('baseline', 1, 2, 110),
      made('baseline', 2, 1, 130),
      made('baseline', 2, 2, 134),
    ]
    const rps = (r: ServeRun) => r.workers[0]?.throughputRps
    assert.deepEqual(spread(runs, rps), { within: 10, between: 27, starts: 2, windows: 4 })
    assert.deepEqual(spread(runs.slice(0, 2), rps), { within: 10, between: null, starts: 1, windows: 2 })
    assert.deepEqual(spread([runs[0], runs[2]] as ServeRun[], rps), {
      within: null,
      between: 30,
      starts: 2,
      windows: 2,
    })
    // a mean row: the mean over mixes of each arm's mean
    const other = { ...made('baseline', 1, 1, 40), mix: 'n' }
    assert.equal(meanOverArms([...runs, other], rps), (118.5 + 40) / 2)
  })

  it('ratios pair each window with baseline’s window of the same server start and index', () => {
    const runs = normaliseServeRuns([
      made('baseline', 1, 1, 100),
      made('baseline', 1, 2, 200),
      made('eclip', 1, 1, 150),
      made('eclip', 1, 2, 150),
      made('eclip', 2, 1, 150),
    ])
    assert.deepEqual(
      runs.map((r) => r.metrics.throughputVsBaseline),
      [1, 1, 1.5, 0.75, null],
    )
    assert.equal(runs[3]?.metrics.system?.worstVsBaseline, 0.75)
  })

  // a window edge's snapshot: nothing read but what a test gives
  const snapshot = (t: number, given: Partial<CpuSnapshot> = {}): CpuSnapshot => ({
    t,
    server: 0,
    eventLoop: 0,
    eventLoopSyscalls: null,
    clients: 0,
    clientsEach: {},
    clientLoopsEach: {},
    backend: null,
    ...given,
  })

  it('takes server and event-loop CPU per request from a window’s snapshots', () => {
    const a = snapshot(0, { server: 1, eventLoop: 0.5 })
    const b = snapshot(1, { server: 1.2, eventLoop: 0.6, clients: 0.1 })
    const per = hostCpu(a, b, 1000).msPerRequest
    assert.ok(Math.abs((per.server ?? 0) - 0.2) < 1e-9 && Math.abs((per.eventLoop ?? 0) - 0.1) < 1e-9)
    const external = hostCpu({ ...a, server: null }, { ...b, server: null }, 1000).msPerRequest
    assert.equal(external.server, null)
  })

  it('takes the busiest client process from the processes read at both edges', () => {
    const at = (
      t: number,
      clientsEach: Record<number, number | null>,
      clientLoopsEach: Record<number, number | null> = {},
    ) => snapshot(t, { clientsEach, clientLoopsEach })
    // pid 3 gone by the end, pid 4 new: neither counts; pid 2 unreadable at the start
    const h = hostCpu(at(0, { 1: 1, 2: null, 3: 0 }), at(2, { 1: 2.9, 2: 5, 4: 9 }), 10)
    assert.ok(Math.abs((h.cores.busiestClient ?? 0) - 0.95) < 1e-9, String(h.cores.busiestClient))
    assert.equal(h.cores.busiestClientLoop, null)
    assert.equal(hostCpu(at(0, {}), at(1, {}), 10).cores.busiestClient, null)
    assert.match(hostCpuNote(h), /; busiest client process 0\.950$/)
    // the event loops likewise, each pid's main thread: the busiest loop need not be the busiest process's
    const l = hostCpu(at(0, { 1: 0, 2: 0 }, { 1: 0, 2: 0 }), at(2, { 1: 2.8, 2: 2 }, { 1: 1.2, 2: 1.9 }), 10)
    assert.ok(Math.abs((l.cores.busiestClientLoop ?? 0) - 0.95) < 1e-9, String(l.cores.busiestClientLoop))
    assert.match(hostCpuNote(l), /; busiest client process 1\.400 \(busiest client event loop 0\.950\)$/)
  })
})
