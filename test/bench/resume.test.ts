// `eclip bench --resume`: a bench stopped early (SIGKILL, or a file cut by hand) finished by the same command, the
// mixes whose runs all ended kept as recorded, the others run again whole, the result the file an uncut bench writes.
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { type Plan, type Results, type Run, readFile } from '../../src/formats/index.ts'

const repo = join(import.meta.dirname, '..', '..')
const eclip = join(repo, 'bin', 'eclip.mjs')
const cli = (args: string[]) => spawnSync(process.execPath, [eclip, ...args], { encoding: 'utf8' })
const tmp = () => mkdtempSync(join(tmpdir(), 'eclip-resume-'))
/**
 * eclip-rt's (its gate mechanism) and eclip-fit's options, each at its default (--min-share aside: refused where no
 * policy keeps floors).
 */
const AT_DEFAULTS = [
  '--rt-mechanism',
  'gate',
  '--rt-gate-us',
  '40',
  '--rt-ungated-sms',
  '0',
  '--rt-best-effort',
  'eclip-fit',
  '--objective',
  'stp',
  '--fit-starts',
  'several',
  '--switch-max',
  '14',
]
const read = (dir: string) => readFile<Results>('results', join(dir, 'results.json'))
/** requests.csv's rows (header left out). */
const rows = (dir: string) => readFileSync(join(dir, 'requests.csv'), 'utf8').trim().split('\n').slice(1)
/** A run without its wall time: what the same run made again gives again. */
const numbers = ({ wallS: _w, tuning, ...r }: Run) => ({
  ...r,
  ...(tuning ? { tuning: { ...tuning, seconds: 0 } } : {}),
})

/** Runs `args` until `stop` holds of the results.json it has written, then SIGKILLs it; the file as it was left. */
async function killWhen(args: string[], out: string, stop: (r: Results) => boolean): Promise<Results> {
  const file = join(out, 'results.json')
  const child = spawn(process.execPath, [eclip, ...args], { stdio: 'ignore' })
  const ended = new Promise<void>((resolve) => child.on('exit', () => resolve()))
  const at = existsSync(file) ? statSync(file).mtimeMs : 0
  // a write of this process (not an earlier one's file), then one that `stop` accepts
  while (child.exitCode === null) {
    if (existsSync(file) && statSync(file).mtimeMs !== at && stop(readFile<Results>('results', file))) break
    await new Promise((res) => setTimeout(res, 5))
  }
  child.kill('SIGKILL')
  await ended
  return readFile<Results>('results', file)
}

describe('eclip bench --resume', () => {
  const args = (out: string, policies = 'baseline,model-wise') => [
    'bench',
    '--mix',
    'all',
    '--duration',
    '1',
    '--warmup',
    '0.1',
    '--profiles',
    'synthetic',
    '--no-plots',
    '--policies',
    policies,
    '--out',
    out,
  ]
  // the same bench uncut, to compare with
  const whole = tmp()
  const w = cli(args(whole))
  assert.equal(w.status, 0, w.stderr)
  const uncut = read(whole)

  it('finishes a killed bench, cut again and resumed again, as the uncut bench', async () => {
    const out = tmp()
    // killed once a mix has ended (the simulator writes at most once a second)
    const cut = await killWhen(args(out), out, (r) => (r.incomplete?.mixes?.length ?? 0) > 0)
    const inc = cut.incomplete
    assert.ok(inc?.mixes && inc.mixes.length > 0 && inc.runs < inc.of, JSON.stringify(inc))
    const keptMix = inc.mixes[0] as string
    const cutRows = rows(out)

    // resumed, and killed again at its first write (after its first run)
    const again = await killWhen([...args(out), '--resume'], out, (r) => (r.incomplete?.runs ?? 0) > inc.runs)
    assert.ok(again.incomplete && again.incomplete.runs < again.incomplete.of, 'still incomplete')
    assert.equal(again.incomplete.of, uncut.runs.length)
    for (const m of inc.mixes) assert.ok(again.incomplete.mixes?.includes(m), `${m} still kept`)

    // resumed to its end
    const r = cli([...args(out), '--resume'])
    assert.equal(r.status, 0, r.stderr)
    assert.match(r.stderr, /resumed \(--resume\): \d+ runs of earlier processes of this bench kept/)
    const final = read(out)
    assert.equal(final.incomplete, undefined)
    assert.match(final.provenance.notes ?? '', /resumed \(--resume\): \d+ runs .* kept/)
    // every run once, in the uncut order, with the uncut bench's numbers
    assert.deepEqual(
      final.runs.map((x) => x.id),
      uncut.runs.map((x) => x.id),
    )
    assert.deepEqual(final.runs.map(numbers), uncut.runs.map(numbers))
    // the runs of the mixes kept by the first resume are the first process's, not made again (their wall times)
    const first = cut.runs.filter((x) => x.role === 'solo' || x.mix === keptMix)
    assert.ok(first.some((x) => x.mix === keptMix))
    for (const x of first)
      assert.deepEqual(
        final.runs.find((y) => y.id === x.id),
        x,
      )
    assert.doesNotMatch(r.stderr, new RegExp(`\\] ${keptMix} baseline\\n`), 'the kept mix is not run')
    // each run's requests once: the uncut bench's rows, the kept runs' as the first process wrote them
    const logged = rows(out)
    assert.equal(new Set(logged).size, logged.length)
    assert.deepEqual([...logged].sort(), [...rows(whole)].sort())
    const firstIds = new Set(first.map((x) => x.id))
    assert.deepEqual(
      logged.filter((l) => firstIds.has(l.split(',')[0] as string)),
      cutRows.filter((l) => firstIds.has(l.split(',')[0] as string)),
    )
    assert.deepEqual(new Set(logged.map((l) => l.split(',')[0])), new Set(final.runs.map((x) => x.id)))
  })

  it('on a complete file runs nothing and writes nothing', () => {
    const out = tmp()
    cpSync(whole, out, { recursive: true })
    const before = readFileSync(join(out, 'results.json'), 'utf8')
    const mtime = statSync(join(out, 'results.json')).mtimeMs
    const r = cli([...args(out), '--resume'])
    assert.equal(r.status, 0, r.stderr)
    assert.match(r.stderr, /results\.json is complete: nothing to resume/)
    assert.doesNotMatch(r.stderr, /\[1\/\d+\]/)
    assert.equal(readFileSync(join(out, 'results.json'), 'utf8'), before)
    assert.equal(statSync(join(out, 'results.json')).mtimeMs, mtime)
  })

  it('refuses a missing file, another bench, and --from', () => {
    const none = cli([...args(tmp()), '--resume'])
    assert.equal(none.status, 2, none.stderr)
    assert.match(none.stderr, /--resume: no .*results\.json: nothing to resume/)
    const out = tmp()
    cpSync(whole, out, { recursive: true })
    const seed = cli([...args(out), '--resume', '--seed', '2'])
    assert.equal(seed.status, 2, seed.stderr)
    assert.match(seed.stderr, /written by a bench with --seed 1, this one has --seed 2/)
    const bracket = cli([...args(out), '--resume', '--bracket'])
    assert.equal(bracket.status, 2, bracket.stderr)
    assert.match(bracket.stderr, /written by a bench with no --bracket, this one has --bracket/)
    const policies = cli([...args(out, 'baseline'), '--resume'])
    assert.match(
      policies.stderr,
      /written by a bench with --policies baseline,model-wise, this one has --policies baseline\b/,
    )
    const from = cli([...args(out), '--resume', '--from', join(out, 'results.json')])
    assert.equal(from.status, 2, from.stderr)
    assert.match(from.stderr, /--resume and --from/)
    // a file that does not record its bench's options
    const bare = read(out)
    delete bare.provenance.options
    writeFileSync(join(out, 'results.json'), JSON.stringify(bare))
    const old = cli([...args(out), '--resume'])
    assert.equal(old.status, 2, old.stderr)
    assert.match(old.stderr, /does not record the options of the bench that wrote it/)
  })
})

describe('eclip bench --resume, a file cut by hand', () => {
  // eclip-fit tuned on the simulator: a kept mix's plan is neither made nor tuned again
  const dir = tmp()
  const mixFile = join(dir, 'mixes.yaml')
  const mixes = (vgg: string) =>
    `format: eclip.mixes/1\nmixes:\n  - name: a\n    workers:\n      - { model: albert }\n      - { model: densenet201 }\n  - name: b\n    workers:\n      - { model: albert }\n      - { model: ${vgg} }\n`
  writeFileSync(mixFile, mixes('vgg19'))
  const args = (out: string) => [
    'bench',
    '--mix',
    mixFile,
    '--policies',
    'baseline,eclip-fit',
    '--modes',
    'graph',
    '--tune',
    '--tune-window',
    '0.02',
    '--tune-warmup',
    '0.002',
    '--profiles',
    'synthetic',
    '--no-plots',
    '--duration',
    '0.05',
    '--warmup',
    '0.005',
    '--out',
    out,
  ]
  const whole = join(dir, 'whole')
  const w = cli(args(whole))
  assert.equal(w.status, 0, w.stderr)
  const uncut = read(whole)

  /** The uncut bench's folder with results.json cut after mix a's runs and one more: b's first. */
  const cutAfterA = () => {
    const out = mkdtempSync(join(dir, 'cut-'))
    cpSync(whole, out, { recursive: true })
    const lastA = uncut.runs.findLastIndex((r) => r.mix === 'a')
    const runs = uncut.runs.slice(0, lastA + 2)
    assert.ok(runs.some((r) => r.mix === 'b' || r.role === 'solo'))
    writeFileSync(
      join(out, 'results.json'),
      JSON.stringify({
        ...uncut,
        runs,
        incomplete: { runs: runs.length, of: uncut.runs.length, mixes: ['a'] },
      }),
    )
    return { out, runs }
  }

  it('keeps mix a as recorded, plans and tunes only b, and ends as the uncut bench', () => {
    const { out, runs } = cutAfterA()
    const r = cli([...args(out), '--resume'])
    assert.equal(r.status, 0, r.stderr)
    assert.match(r.stderr, /\bb eclip-fit tuned on sim\b/)
    assert.doesNotMatch(r.stderr, /\ba eclip-fit tuned\b/)
    const final = read(out)
    assert.equal(final.incomplete, undefined)
    assert.deepEqual(
      final.runs.map((x) => x.id),
      uncut.runs.map((x) => x.id),
    )
    assert.deepEqual(final.runs.map(numbers), uncut.runs.map(numbers))
    // mix a's runs and the solo runs cut with it: as the file had them
    for (const x of runs.filter((x) => x.mix === 'a' || x.role === 'solo'))
      assert.deepEqual(
        final.runs.find((y) => y.id === x.id),
        x,
      )
    const logged = rows(out)
    assert.equal(new Set(logged).size, logged.length, 'each request once')
    assert.deepEqual([...logged].sort(), [...rows(whole)].sort())
  })

  it('rewrites results.json with the kept runs before it trims the request log', async () => {
    const { out } = cutAfterA()
    // killed at its first write: a resumed bench's first is before its plans
    const first = await killWhen([...args(out), '--resume'], out, () => true)
    assert.equal(first.incomplete?.of, uncut.runs.length)
    assert.ok(first.runs.every((x) => x.mix === 'a' || x.role === 'solo'))
    const logged = new Set(rows(out).map((l) => l.split(',')[0]))
    for (const x of first.runs) assert.ok(logged.has(x.id), `${x.id}'s requests in the log`)
  })

  it('refuses a request log that is not one, before anything runs', () => {
    const { out } = cutAfterA()
    const before = readFileSync(join(out, 'results.json'), 'utf8')
    writeFileSync(join(out, 'requests.csv'), 'not,a,log\n')
    const r = cli([...args(out), '--resume'])
    assert.equal(r.status, 2, r.stderr)
    assert.match(
      r.stderr,
      /requests\.csv: not a request log .*run the bench again without --resume \(which replaces/,
    )
    assert.equal(readFileSync(join(out, 'results.json'), 'utf8'), before)
  })

  it("refuses a kept mix's plan missing, before anything is trimmed", () => {
    const { out } = cutAfterA()
    const before = readFileSync(join(out, 'requests.csv'), 'utf8')
    rmSync(join(out, 'plans', 'a.eclip-fit.bmix.plan.json'))
    const r = cli([...args(out), '--resume'])
    assert.equal(r.status, 2, r.stderr)
    assert.match(
      r.stderr,
      /a\.eclip-fit\.bmix\.plan\.json, the plan mix a ran under, is missing: put the plans\/ .* back/,
    )
    assert.equal(readFileSync(join(out, 'requests.csv'), 'utf8'), before)
  })

  it("refuses the plan of a kept mix's failed run missing, before anything is trimmed", () => {
    const { out } = cutAfterA()
    // mix a's eclip-fit run failed in the earlier process: kept failed, its plan read all the same
    const cut = read(out)
    const runs = cut.runs.filter((x) => !(x.mix === 'a' && x.policy === 'eclip-fit'))
    assert.equal(runs.length, cut.runs.length - 1)
    writeFileSync(
      join(out, 'results.json'),
      JSON.stringify({
        ...cut,
        runs,
        incomplete: { ...cut.incomplete, runs: runs.length },
        provenance: {
          ...cut.provenance,
          warnings: [...cut.provenance.warnings, 'run a eclip-fit/graph FAILED: a stand-in'],
        },
      }),
    )
    const before = ['results.json', 'requests.csv'].map((f) => readFileSync(join(out, f), 'utf8'))
    rmSync(join(out, 'plans', 'a.eclip-fit.bmix.plan.json'))
    const r = cli([...args(out), '--resume'])
    assert.equal(r.status, 2, r.stderr)
    assert.match(
      r.stderr,
      /a\.eclip-fit\.bmix\.plan\.json, the plan mix a ran under, is missing: put the plans\/ .* back/,
    )
    assert.deepEqual(
      ['results.json', 'requests.csv'].map((f) => readFileSync(join(out, f), 'utf8')),
      before,
    )
  })

  it("records --tune's budget at its defaults, and accepts them given", () => {
    const o = uncut.provenance.options ?? {}
    assert.equal(o['--tune-floor-margin'], '0.02')
    assert.equal(o['--tune-sim-floor-slack'], '0.05')
    assert.equal(o['--tune-window'], '0.02')
    const out = mkdtempSync(join(dir, 'complete-'))
    cpSync(whole, out, { recursive: true })
    const given = ['--tune-floor-margin', '0.02', '--tune-sim-floor-slack', '0.05', '--tune-candidates', '6']
    const r = cli([...args(out), ...given, '--resume'])
    assert.equal(r.status, 0, r.stderr)
    assert.match(r.stderr, /results\.json is complete: nothing to resume/)
    // as an earlier eclip wrote it: the budget's defaults not given not recorded
    const file = read(out)
    delete file.provenance.options?.['--tune-floor-margin']
    delete file.provenance.options?.['--tune-sim-floor-slack']
    writeFileSync(join(out, 'results.json'), JSON.stringify(file))
    const earlier = cli([...args(out), ...given, '--resume'])
    assert.equal(earlier.status, 0, earlier.stderr)
    // the simulator's default window, not the bench's (the last --tune-window given is taken)
    const window = cli([...args(out), '--tune-window', '0.5', '--resume'])
    assert.equal(window.status, 2, window.stderr)
    assert.match(
      window.stderr,
      /written by a bench with --tune-window 0\.02, this one has --tune-window 0\.5/,
    )
  })

  it('refuses a mix whose definition changed', () => {
    const { out } = cutAfterA()
    writeFileSync(mixFile, mixes('resnet152'))
    try {
      const r = cli([...args(out), '--resume'])
      assert.equal(r.status, 2, r.stderr)
      assert.match(
        r.stderr,
        /--resume: mix b is not defined as when .* was written .*: restore the file, or run the bench again without --resume \(which replaces the runs in --out\)/,
      )
    } finally {
      writeFileSync(mixFile, mixes('vgg19'))
    }
  })
})

describe('eclip bench --resume, the inputs the kept runs used', () => {
  /** The file a bench in `out` wrote, cut after its first four runs (none of its mixes ended). */
  const cut = (out: string) => {
    const r = read(out)
    writeFileSync(
      join(out, 'results.json'),
      JSON.stringify({
        ...r,
        runs: r.runs.slice(0, 4),
        incomplete: { runs: 4, of: r.runs.length, mixes: [] },
      }),
    )
  }

  /**
   * `bench(more, env)`: a GPU bench of mix1 on the stand-in backend (test/gpu/fake_run_backend.py) in `dir`/out, `more`
   * options and `env` added; `started()`: how many times the stand-in has started.
   */
  const standIn = (dir: string) => {
    const python = join(dir, 'python')
    const starts = join(dir, 'starts')
    const py = existsSync(join(repo, '.venv', 'bin', 'python'))
      ? join(repo, '.venv', 'bin', 'python')
      : 'python3'
    writeFileSync(
      python,
      `#!/usr/bin/env bash\necho start >> '${starts}'\nexec '${py}' '${join(repo, 'test', 'gpu', 'fake_run_backend.py')}' '${join(dir, 'record')}'\n`,
    )
    chmodSync(python, 0o755)
    const out = join(dir, 'out')
    const bench = (more: string[] = [], env: Record<string, string> = {}) =>
      spawnSync(
        process.execPath,
        [
          eclip,
          ...['bench', '--backend', 'gpu', '--mix', 'mix1', '--policies', 'baseline,model-wise'],
          ...['--duration', '0.05', '--warmup', '0.01', '--no-plots', '--no-sim-compare', '--out', out],
          ...more,
        ],
        { encoding: 'utf8', cwd: repo, env: { ...process.env, ECLIP_PYTHON: python, ...env } },
      )
    const started = () => readFileSync(starts, 'utf8').split('\n').filter(Boolean).length
    return { out, bench, started }
  }

  it('refuses another GPU (the GPU stand-in reporting an H200 where the runs were on an H100)', () => {
    const { out, bench } = standIn(tmp())
    const w = bench()
    assert.equal(w.status, 0, w.stderr)
    cut(out)
    const before = readFileSync(join(out, 'results.json'), 'utf8')
    const h200 = bench(['--resume'], { FAKE_GPU_JSON: join(repo, 'profiles', 'h200', 'gpu.json') })
    assert.equal(h200.status, 2, h200.stderr)
    assert.match(
      h200.stderr,
      /--resume: the runs in .* ran on .*H100.*, this bench runs on .*H200.*without --resume/,
    )
    assert.equal(readFileSync(join(out, 'results.json'), 'utf8'), before, 'nothing run')
    const same = bench(['--resume'])
    assert.equal(same.status, 0, same.stderr)
  })

  it('on the GPU, given its profiles, refuses changed inputs before the backend starts', () => {
    const dir = tmp()
    const profiles = join(dir, 'profiles')
    cpSync(join(repo, 'profiles', 'h100'), profiles, { recursive: true })
    const { out, bench, started } = standIn(dir)
    const w = bench(['--profiles', profiles])
    assert.equal(w.status, 0, w.stderr)
    const first = started()
    cut(out)
    const primitives = join(profiles, 'primitives.json')
    const kept = readFileSync(primitives, 'utf8')
    const p = JSON.parse(kept)
    p.graphLaunch.medianUs *= 2
    writeFileSync(primitives, JSON.stringify(p))
    const r = bench(['--profiles', profiles, '--resume'])
    assert.equal(r.status, 2, r.stderr)
    assert.match(
      r.stderr,
      /--resume: the inputs the runs in .* used .* changed since it was written: restore them/,
    )
    assert.equal(started(), first, 'the backend was started for a resume refused on its inputs')
    // another GPU's profiles given: the GPU they were made for named, the backend still not started
    const h200 = bench(['--profiles', join(repo, 'profiles', 'h200'), '--resume'])
    assert.equal(h200.status, 2, h200.stderr)
    assert.match(
      h200.stderr,
      /--resume: the runs in .* ran on .*H100.*, the profiles given are made for .*H200.*: resume it on the .*H100.* with the profiles its runs used/,
    )
    assert.equal(started(), first, 'the backend was started for a resume refused on its profiles')
    // restored: the same bench resumes, the backend started for it
    writeFileSync(primitives, kept)
    const same = bench(['--profiles', profiles, '--resume'])
    assert.equal(same.status, 0, same.stderr)
    assert.ok(started() > first, 'the resumed bench started its backend')
  })

  it('refuses profiles changed since', () => {
    const dir = tmp()
    const profiles = join(dir, 'profiles')
    cpSync(join(repo, 'profiles', 'h100'), profiles, { recursive: true })
    const out = join(dir, 'out')
    const args = [
      'bench',
      '--mix',
      'mix1',
      '--policies',
      'baseline',
      '--profiles',
      profiles,
      '--no-plots',
      '--out',
      out,
    ]
    const w = cli(args)
    assert.equal(w.status, 0, w.stderr)
    cut(out)
    const primitives = join(profiles, 'primitives.json')
    const p = JSON.parse(readFileSync(primitives, 'utf8'))
    p.graphLaunch.medianUs *= 2
    writeFileSync(primitives, JSON.stringify(p))
    const r = cli([...args, '--resume'])
    assert.equal(r.status, 2, r.stderr)
    assert.match(
      r.stderr,
      /--resume: the inputs the runs in .* used .* changed since it was written: restore them/,
    )
    // other primitives given: the option named, with both
    const other = join(dir, 'other-primitives.json')
    writeFileSync(other, JSON.stringify(p))
    writeFileSync(
      primitives,
      JSON.stringify({ ...p, graphLaunch: { ...p.graphLaunch, medianUs: p.graphLaunch.medianUs / 2 } }),
    )
    const given = cli([...args, '--primitives', other, '--resume'])
    assert.equal(given.status, 2, given.stderr)
    assert.match(
      given.stderr,
      /changed since it was written \(--primitives given to this bench only\): restore them/,
    )
    // a file given to both benches, changed in place since: that option named, with both
    const out2 = join(dir, 'out2')
    const args2 = [...args.slice(0, -1), out2, '--primitives', other]
    const w2 = cli(args2)
    assert.equal(w2.status, 0, w2.stderr)
    cut(out2)
    writeFileSync(other, JSON.stringify({ ...p, graphLaunch: { ...p.graphLaunch, medianUs: 1 } }))
    const changed = cli([...args2, '--resume'])
    assert.equal(changed.status, 2, changed.stderr)
    assert.match(
      changed.stderr,
      /written by a bench with --primitives .*other-primitives\.json \([0-9a-f]{16}\), this one has --primitives .*other-primitives\.json \([0-9a-f]{16}\)/,
    )
  })
})

describe('eclip bench --resume, the same bench given another way', () => {
  const dir = tmp()
  const out = join(dir, 'whole')
  const bench = (more: string[], to = out) =>
    spawnSync(process.execPath, [eclip, 'bench', '--mix', 'mix1', '--no-plots', '--out', to, ...more], {
      encoding: 'utf8',
      cwd: repo,
    })
  const w = bench(['--policies', 'baseline,model-wise', '--profiles', 'profiles/h100'])
  assert.equal(w.status, 0, w.stderr)
  const uncut = read(out)
  /** A copy of the bench's folder with results.json cut after its first run (none of its mixes ended). */
  const cutCopy = () => {
    const copy = mkdtempSync(join(dir, 'cut-'))
    cpSync(out, copy, { recursive: true })
    writeFileSync(
      join(copy, 'results.json'),
      JSON.stringify({
        ...uncut,
        runs: uncut.runs.slice(0, 1),
        incomplete: { runs: 1, of: uncut.runs.length, mixes: [] },
      }),
    )
    return copy
  }

  for (const [what, more] of [
    [
      'the default run length given',
      [
        '--policies',
        'baseline,model-wise',
        '--profiles',
        'profiles/h100',
        '--warmup',
        '0.05',
        '--duration',
        '0.5',
      ],
    ],
    ['the policies in another order', ['--policies', 'model-wise,baseline', '--profiles', 'profiles/h100']],
    [
      'the profiles by their absolute path',
      ['--policies', 'baseline,model-wise', '--profiles', join(repo, 'profiles', 'h100')],
    ],
    // the default directory on the simulator, and its own primitives: the same inputs
    ['the profiles left out', ['--policies', 'baseline,model-wise']],
    [
      "the profile directory's primitives given",
      ['--policies', 'baseline,model-wise', '--primitives', 'profiles/h100/primitives.json'],
    ],
  ] as const)
    it(`accepts ${what}`, () => {
      // a copy cut after its first run, so that the options and the inputs are both compared
      const copy = cutCopy()
      const r = bench([...more, '--resume'], copy)
      assert.equal(r.status, 0, r.stderr)
      assert.match(r.stderr, /resumed \(--resume\)/)
      // in the recorded order, whatever order the policies were given in
      assert.deepEqual(
        read(copy).runs.map((x) => x.id),
        uncut.runs.map((x) => x.id),
      )
    })

  it('refuses an eclip-rt option given to a bench without eclip-rt, naming it', () => {
    const r = bench(['--policies', 'baseline,model-wise', '--rt-factor', '1.7', '--resume'], cutCopy())
    assert.equal(r.status, 2, r.stderr)
    assert.match(r.stderr, /--rt-factor is for eclip-rt: --policies baseline,model-wise has no eclip-rt/)
  })
})

describe('eclip bench --resume, options at their defaults', () => {
  // eclip-rt (its gate mechanism, by default) and the eclip-fit options its best-effort plan takes
  const dir = tmp()
  const base = (out: string) => [
    'bench',
    '--workload',
    'disb-A',
    '--policies',
    'baseline,eclip-rt',
    '--duration',
    '0.1',
    '--warmup',
    '0.01',
    '--no-solo',
    '--no-plots',
    '--out',
    out,
  ]
  const bench = (out: string, more: string[] = []) =>
    spawnSync(process.execPath, [eclip, ...base(out), ...more], { encoding: 'utf8', cwd: repo })
  const atDefaults = [...AT_DEFAULTS, '--min-share', '0.9']
  const plain = join(dir, 'plain')
  const w = bench(plain)
  assert.equal(w.status, 0, w.stderr)
  const complete = /results\.json is complete: nothing to resume/

  it('records each option the runs use at its resolved default', () => {
    const o = read(plain).provenance.options ?? {}
    for (const [k, v] of Object.entries({
      '--rt-mechanism': 'gate',
      '--rt-gate-us': '40',
      '--rt-ungated-sms': '0',
      '--rt-best-effort': 'eclip-fit',
      '--objective': 'stp',
      '--min-share': '0.9',
      '--fit-starts': 'several',
      '--switch-max': '14',
    }))
      assert.equal(o[k], v, k)
    // the options of mechanisms not used: not recorded
    assert.equal(o['--rt-reserve-sms'], undefined)
    assert.equal(o['--rt-factor'], undefined)
  })

  it('accepts them given at their defaults, and a bench that gave them resumed without', () => {
    const given = bench(plain, [...atDefaults, '--resume'])
    assert.equal(given.status, 0, given.stderr)
    assert.match(given.stderr, complete)
    const out = join(dir, 'given')
    const g = bench(out, atDefaults)
    assert.equal(g.status, 0, g.stderr)
    const left = bench(out, ['--resume'])
    assert.equal(left.status, 0, left.stderr)
    assert.match(left.stderr, complete)
  })

  it('reads a file that does not record them (an earlier eclip) as at their defaults', () => {
    const out = join(dir, 'earlier')
    cpSync(plain, out, { recursive: true })
    const r = read(out)
    const o = r.provenance.options ?? {}
    for (const k of ['--rt-mechanism', '--rt-gate-us', '--rt-ungated-sms', '--rt-best-effort']) delete o[k]
    for (const k of ['--objective', '--min-share', '--fit-starts', '--switch-max']) delete o[k]
    writeFileSync(join(out, 'results.json'), JSON.stringify(r))
    const given = bench(out, [...atDefaults, '--resume'])
    assert.equal(given.status, 0, given.stderr)
    assert.match(given.stderr, complete)
    const other = bench(out, ['--min-share', '0.8', '--resume'])
    assert.equal(other.status, 2, other.stderr)
    assert.match(other.stderr, /written by a bench with --min-share 0\.9, this one has --min-share 0\.8/)
  })

  it("gives --switch-max to the plans (eclip-rt's best-effort plan) and holds a resume to it", () => {
    // two best-effort workers, so that eclip-rt plans them by eclip-fit (one would sit on the whole GPU)
    const file = join(dir, 'two-best-effort.yaml')
    writeFileSync(
      file,
      'format: eclip.workloads/1\nworkloads:\n  - name: w\n    durationS: 0.1\n    workers:\n' +
        '      - { model: vgg19, priority: realtime, sloMs: 10, arrival: { kind: uniform, rate: 100 } }\n' +
        '      - { model: resnet152, priority: best-effort, arrival: { kind: closed } }\n' +
        '      - { model: alexnet, priority: best-effort, arrival: { kind: closed } }\n',
    )
    const run = (out: string, more: string[] = []) =>
      spawnSync(process.execPath, [eclip, ...base(out).map((a) => (a === 'disb-A' ? file : a)), ...more], {
        encoding: 'utf8',
        cwd: repo,
      })
    const planOf = (out: string) => {
      const plans = readdirSync(join(out, 'plans')).filter((f) => f.includes('eclip-rt'))
      assert.equal(plans.length, 1, plans.join(', '))
      return readFile<Plan>('plan', join(out, 'plans', plans[0] as string))
    }
    const maxSwitches = (p: Plan) =>
      Math.max(...p.workers.filter((w) => w.gate?.role === 'wait').map((w) => w.switches))
    const free = join(dir, 'switches-default')
    const d = run(free)
    assert.equal(d.status, 0, d.stderr)
    assert.ok(
      maxSwitches(planOf(free)) > 1,
      'at the default budget a best-effort worker switches more than once',
    )
    const out = join(dir, 'switches')
    const r = run(out, ['--switch-max', '1'])
    assert.equal(r.status, 0, r.stderr)
    assert.equal(read(out).provenance.options?.['--switch-max'], '1')
    const plan = planOf(out)
    assert.equal(plan.params.switchMax, 1)
    assert.equal(maxSwitches(plan), 1)
    const other = run(out, ['--resume'])
    assert.equal(other.status, 2, other.stderr)
    assert.match(other.stderr, /written by a bench with --switch-max 1, this one has --switch-max 14/)
  })

  it("takes a workload's own run length given as left out", () => {
    const file = join(dir, 'workloads.yaml')
    writeFileSync(
      file,
      'format: eclip.workloads/1\nworkloads:\n  - name: w\n    durationS: 0.1\n    workers:\n      - { model: vgg19 }\n      - { model: resnet152 }\n',
    )
    const out = join(dir, 'workload')
    const runIn = (to: string, more: string[]) =>
      cli([
        'bench',
        '--workload',
        file,
        '--policies',
        'baseline',
        '--no-solo',
        '--no-plots',
        '--out',
        to,
        ...more,
      ])
    const run = (more: string[]) => runIn(out, more)
    const w = run([])
    assert.equal(w.status, 0, w.stderr)
    // its run length is its own, in its mix's digest: not the backend's default recorded as --duration
    assert.equal(read(out).provenance.options?.['--duration'], undefined)
    const own = run(['--duration', '0.1', '--resume'])
    assert.equal(own.status, 0, own.stderr)
    assert.match(own.stderr, complete)
    const other = run(['--duration', '0.2', '--resume'])
    assert.equal(other.status, 2, other.stderr)
    assert.match(other.stderr, /written by a bench with no --duration, this one has --duration 0\.2/)
    // a length the recorded bench gave, left out here: that option named, not the workload file
    const given = runIn(join(dir, 'workload-given'), ['--duration', '0.2'])
    assert.equal(given.status, 0, given.stderr)
    const left = runIn(join(dir, 'workload-given'), ['--resume'])
    assert.equal(left.status, 2, left.stderr)
    assert.match(left.stderr, /written by a bench with --duration 0\.2, this one has no --duration/)
  })

  it('refuses another value, naming both, and an option that picks another mechanism', () => {
    const gate = bench(plain, ['--rt-gate-us', '20', '--resume'])
    assert.equal(gate.status, 2, gate.stderr)
    assert.match(gate.stderr, /written by a bench with --rt-gate-us 40, this one has --rt-gate-us 20/)
    const objective = bench(plain, ['--objective', 'requests', '--resume'])
    assert.equal(objective.status, 2, objective.stderr)
    assert.match(
      objective.stderr,
      /written by a bench with --objective stp, this one has --objective requests/,
    )
    // --rt-reserve-sms at its default still asks for the priority mechanism: another bench
    const reserve = bench(plain, ['--rt-reserve-sms', '16', '--resume'])
    assert.equal(reserve.status, 2, reserve.stderr)
    assert.match(
      reserve.stderr,
      /written by a bench with --rt-mechanism gate, this one has --rt-mechanism priority/,
    )
  })
})

describe('eclip bench --resume, the mixes given in another order', () => {
  // the order given is the order the runs go in: a resumed bench keeps the recorded one
  const dir = tmp()
  const args = (out: string, mix: string) => [
    eclip,
    'bench',
    '--mix',
    mix,
    '--policies',
    'baseline,model-wise',
    '--profiles',
    'profiles/h100',
    '--no-plots',
    '--out',
    out,
  ]
  const bench = (a: string[]) => spawnSync(process.execPath, a, { encoding: 'utf8', cwd: repo })
  const whole = join(dir, 'whole')
  const w = bench(args(whole, 'mix1,mix2'))
  assert.equal(w.status, 0, w.stderr)
  const uncut = read(whole)

  it('runs them in the recorded order and ends as the uncut bench of that order', () => {
    const out = join(dir, 'cut')
    cpSync(whole, out, { recursive: true })
    // mix1's runs and mix2's first (a solo run)
    const runs = uncut.runs.slice(0, uncut.runs.findLastIndex((r) => r.mix === 'mix1') + 2)
    writeFileSync(
      join(out, 'results.json'),
      JSON.stringify({
        ...uncut,
        runs,
        incomplete: { runs: runs.length, of: uncut.runs.length, mixes: ['mix1'] },
      }),
    )
    const r = bench([...args(out, 'mix2,mix1'), '--resume'])
    assert.equal(r.status, 0, r.stderr)
    const final = read(out)
    assert.equal(final.incomplete, undefined)
    assert.deepEqual(
      final.runs.map((x) => x.id),
      uncut.runs.map((x) => x.id),
    )
    assert.deepEqual(final.runs.map(numbers), uncut.runs.map(numbers))
    assert.deepEqual(final.provenance.options, uncut.provenance.options)
    const logged = rows(out)
    assert.equal(new Set(logged).size, logged.length, 'each request once')
    assert.deepEqual([...logged].sort(), [...rows(whole)].sort())
  })

  it('refuses other mixes, naming both', () => {
    const out = join(dir, 'other')
    cpSync(whole, out, { recursive: true })
    const r = bench([...args(out, 'mix3,mix1'), '--resume'])
    assert.equal(r.status, 2, r.stderr)
    assert.match(r.stderr, /written by a bench with --mix mix1,mix2, this one has --mix mix3,mix1/)
  })
})
