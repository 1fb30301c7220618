// results.json while a bench runs: the runs it finished, marked incomplete, kept when the bench is stopped early.
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { resultsCheckpoint } from '../../src/bench/checkpoint.ts'
import { incompleteNote, type Results, readFile } from '../../src/formats/index.ts'

const eclip = join(import.meta.dirname, '..', '..', 'bin', 'eclip.mjs')
const synthetic = ['--profiles', 'synthetic', '--no-plots', '--policies', 'baseline,model-wise']

describe('the bench checkpoint', () => {
  const out = mkdtempSync(join(tmpdir(), 'eclip-checkpoint-'))
  const r = spawnSync(
    process.execPath,
    [eclip, 'bench', '--mix', 'mix7', '--duration', '0.02', '--warmup', '0.002', ...synthetic, '--out', out],
    { encoding: 'utf8' },
  )
  assert.equal(r.status, 0, r.stderr)
  const complete = readFile<Results>('results', join(out, 'results.json'))

  it('leaves no mark on a bench that ended, nor its temporary file', () => {
    assert.equal(complete.incomplete, undefined)
    assert.ok(complete.runs.length >= 2)
    assert.deepEqual(
      readdirSync(out).filter((f) => f.endsWith('.tmp')),
      [],
    )
  })

  it('writes the runs so far, at most once per interval, and all of them when flushed', () => {
    const dir = mkdtempSync(join(tmpdir(), 'eclip-checkpoint-'))
    const file = join(dir, 'results.json')
    let t = 0
    const cp = resultsCheckpoint(file, (runs) => ({ ...complete, runs }), { everyMs: 1000, now: () => t })
    const [a, b] = complete.runs
    assert.ok(a && b)
    cp.flush()
    assert.equal(existsSync(file), false, 'nothing to write before the first run')
    cp.total(2)
    cp.add(a)
    const first = readFile<Results>('results', file)
    assert.deepEqual(first.incomplete, { runs: 1, of: 2, mixes: [] })
    assert.deepEqual(
      first.runs.map((x) => x.id),
      [a.id],
    )
    t = 999
    cp.mixDone('mix7')
    cp.add(b)
    assert.equal(readFile<Results>('results', file).runs.length, 1, 'within the interval: not rewritten')
    cp.flush()
    const flushed = readFile<Results>('results', file)
    assert.deepEqual(flushed.incomplete, { runs: 2, of: 2, mixes: ['mix7'] })
    assert.deepEqual(
      flushed.runs.map((x) => x.id),
      [a.id, b.id],
    )
    assert.deepEqual(readdirSync(dir), ['results.json'])
  })

  it("a resumed bench's checkpoint: the kept runs and the earlier total before its own progress", () => {
    const dir = mkdtempSync(join(tmpdir(), 'eclip-checkpoint-'))
    const file = join(dir, 'results.json')
    const [a, b] = complete.runs
    assert.ok(a && b)
    const cp = resultsCheckpoint(file, (runs) => ({ ...complete, runs }), {
      everyMs: 0,
      kept: { runs: [a], mixes: ['mix7'], of: 9 },
    })
    cp.flush()
    assert.deepEqual(readFile<Results>('results', file).incomplete, { runs: 1, of: 9, mixes: ['mix7'] })
    // no run kept: the file is still written, without the earlier runs
    const none = resultsCheckpoint(file, (runs) => ({ ...complete, runs }), {
      kept: { runs: [], mixes: [], of: 9 },
    })
    none.flush()
    const empty = readFile<Results>('results', file)
    assert.deepEqual(empty.runs, [])
    assert.deepEqual(empty.incomplete, { runs: 0, of: 9, mixes: [] })
  })

  it('says what an incomplete file lacks: runs, or only what comes after them', () => {
    assert.equal(incompleteNote({}), undefined)
    assert.match(incompleteNote({ incomplete: { runs: 2, of: 5 } }) ?? '', /^INCOMPLETE: 2 of 5 runs; /)
    assert.match(
      incompleteNote({ incomplete: { runs: 5, of: 5 } }) ?? '',
      /^INCOMPLETE: every run ended, but /,
    )
  })

  it('a failed write warns once and stops nothing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'eclip-checkpoint-'))
    const file = join(dir, 'results.json')
    mkdirSync(file) // a directory where the file should go: every rename fails
    const warned: string[] = []
    const cp = resultsCheckpoint(file, (runs) => ({ ...complete, runs }), {
      everyMs: 0,
      warn: (m) => warned.push(m),
    })
    for (const run of complete.runs) cp.add(run)
    cp.flush()
    assert.equal(warned.length, 1, warned.join('; '))
    assert.match(warned[0] ?? '', /results\.json not rewritten as the runs end/)
    assert.deepEqual(readdirSync(dir), ['results.json'], 'no temporary file left')
    // where what follows relies on the file (a resumed bench's first write, before it trims the request log): thrown
    assert.throws(() => cp.flush({ strict: true }), /results\.json could not be written/)
    assert.equal(warned.length, 1)
  })

  it('keeps the runs a bench wrote before it was killed, each with its requests in the log', async () => {
    // SIGKILL as soon as the first run is in results.json: nothing of the bench's own after it, the file as the last
    // checkpoint left it
    const dir = mkdtempSync(join(tmpdir(), 'eclip-checkpoint-'))
    const file = join(dir, 'results.json')
    const child = spawn(
      process.execPath,
      [eclip, 'bench', '--mix', 'all', '--duration', '1', '--warmup', '0.1', ...synthetic, '--out', dir],
      { stdio: 'ignore' },
    )
    const ended = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
    while (!existsSync(file) && child.exitCode === null) await new Promise((res) => setTimeout(res, 10))
    child.kill('SIGKILL')
    await ended
    const partial = readFile<Results>('results', file)
    const logged = new Set(
      readFileSync(join(dir, 'requests.csv'), 'utf8')
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => l.split(',')[0]),
    )
    const inc = partial.incomplete
    assert.ok(inc, 'marked incomplete')
    assert.ok(inc.runs >= 1 && inc.runs < inc.of, JSON.stringify(inc))
    assert.equal(partial.runs.length, inc.runs)
    for (const run of partial.runs) assert.ok(logged.has(run.id), `${run.id} in requests.csv`)

    // its report says so
    const rep = mkdtempSync(join(tmpdir(), 'eclip-checkpoint-'))
    const from = spawnSync(process.execPath, [eclip, 'bench', '--from', file, '--no-plots', '--out', rep], {
      encoding: 'utf8',
    })
    assert.equal(from.status, 0, from.stderr)
    assert.match(
      `${from.stdout}${from.stderr}`,
      new RegExp(`INCOMPLETE: ${inc.runs} of ${inc.of} runs; the bench that wrote it stopped before its end`),
    )
    // and the merged file carries the mark (not which mixes ended, nor the options: a merged file is not resumed)
    const merged = readFile<Results>('results', join(rep, 'results.json'))
    assert.deepEqual(merged.incomplete, { runs: inc.runs, of: inc.of })
    assert.equal(merged.provenance.options, undefined)
  })

  it('a signal writes every run so far, then ends the process with 128 + its number', async () => {
    for (const [signal, code] of [
      ['SIGTERM', 143],
      ['SIGINT', 130],
    ] as const) {
      const dir = mkdtempSync(join(tmpdir(), 'eclip-checkpoint-'))
      const file = join(dir, 'results.json')
      // a process holding a checkpoint whose second run is not written yet (the interval), then the signal
      const script = `
        import { readFileSync } from 'node:fs'
        import { exitOnSignal, resultsCheckpoint } from './src/bench/checkpoint.ts'
        const complete = JSON.parse(readFileSync(${JSON.stringify(join(out, 'results.json'))}, 'utf8'))
        const cp = resultsCheckpoint(${JSON.stringify(file)}, (runs) => ({ ...complete, runs }), { everyMs: 1e9 })
        cp.total(3)
        cp.add(complete.runs[0])
        cp.add(complete.runs[1])
        exitOnSignal(cp, (s) => process.stderr.write('stopped by ' + s))
        setInterval(() => {}, 1000)
        process.stdout.write('ready\\n')`
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
        cwd: join(import.meta.dirname, '..', '..'),
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      let stderr = ''
      child.stderr.on('data', (d) => {
        stderr += d
      })
      await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()))
      assert.equal(readFile<Results>('results', file).runs.length, 1, 'one run written before the signal')
      const ended = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)))
      child.kill(signal)
      assert.equal(await ended, code, stderr)
      assert.match(stderr, new RegExp(`stopped by ${signal}`))
      assert.deepEqual(readFile<Results>('results', file).incomplete, { runs: 2, of: 3, mixes: [] })
    }
  })
})
