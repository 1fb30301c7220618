// What the commands refuse before any work, in one line: mix, policy and mode names given twice, a mix named like
// the bench's solo runs, output paths that cannot be written, empty option values, calibrate's missing or
// contradictory options, and options that would be ignored. The commands are registered as src/cli/main.ts does and
// parsed in this process (a refusal throws a UserError); three cases run bin/eclip.mjs to see the exit status and the
// one line.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it, mock } from 'node:test'
import { Command } from '@commander-js/extra-typings'
import { beforeFrom } from '../../src/calibrate/run.ts'
import { registerBench } from '../../src/cli/commands/bench.ts'
import { registerCalibrate } from '../../src/cli/commands/calibrate.ts'
import { registerParis } from '../../src/cli/commands/paris.ts'
import { registerPlan, resolveMix } from '../../src/cli/commands/plan.ts'
import { registerProfile } from '../../src/cli/commands/profile.ts'
import { registerSchemas } from '../../src/cli/commands/schemas.ts'
import { registerServe } from '../../src/cli/commands/serve.ts'
import { registerServeBench } from '../../src/cli/commands/serve-bench.ts'
import { resolvePolicies } from '../../src/cli/options.ts'
import { readFile, UserError } from '../../src/formats/index.ts'
import { loadGpu } from '../../src/profile/store.ts'

const ROOT = join(import.meta.dirname, '..', '..')
const H100 = join(ROOT, 'profiles', 'h100')
const H200 = join(ROOT, 'profiles', 'h200')

/** The CLI's commands on a fresh program (commander keeps option values on its commands). */
function program() {
  const p = new Command('eclip').exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} })
  for (const register of [
    registerBench,
    registerCalibrate,
    registerParis,
    registerPlan,
    registerProfile,
    registerSchemas,
    registerServe,
    registerServeBench,
  ])
    register(p)
  return p
}

/** The one-line message `eclip ARGS` is refused with; fails where it is accepted or fails otherwise. */
async function refusal(...args: string[]): Promise<string> {
  try {
    await program().parseAsync(args, { from: 'user' })
  } catch (err) {
    if (err instanceof UserError) {
      assert.doesNotMatch(err.message, /\n/, 'one line')
      return err.message
    }
    throw err
  }
  assert.fail(`accepted: eclip ${args.join(' ')}`)
}

describe('eclip: input checks before any work', () => {
  let dir = ''
  let out = ''
  let file = ''
  // a bench that got past the checks runs little: one small mix, synthetic profiles, short windows
  let quick: string[] = []
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'eclip-input-checks-'))
    out = join(dir, 'out')
    file = join(dir, 'a-file')
    writeFileSync(file, '')
    quick = ['--profiles', 'synthetic', '--duration', '0.001', '--warmup', '0', '--no-solo', '--no-plots']
    quick.push('--out', out)
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  describe('mix and policy names', () => {
    const mixFile = (name: string, text: string) => {
      const f = join(dir, name)
      writeFileSync(f, `format: eclip.mixes/1\nmixes:\n${text}`)
      return f
    }

    it('refuses a mix file with two mixes of one name, in bench, plan and validate', async () => {
      const f = mixFile(
        'dup.yaml',
        '  - { name: m, workers: [ { model: alexnet } ] }\n  - { name: m, workers: [ { model: vgg19 } ] }\n',
      )
      // the mix format's own check: the file's error with the problem on its line, as every invalid file's
      const named = /dup\.yaml: not a valid file\n {2}\/mixes\/1\/name: "m" is also mix 0's name/
      for (const args of [
        ['bench', '--mix', f, '--policies', 'baseline', ...quick],
        ['plan', '--mix', f, '--mix-name', 'm', '--profiles', H100],
      ])
        await assert.rejects(program().parseAsync(args, { from: 'user' }), (err: Error) => {
          assert.ok(err instanceof UserError, String(err))
          assert.match(err.message, named)
          return true
        })
      assert.throws(() => readFile('mix', f), named) // as `eclip validate mix` reads it
    })

    it('refuses a mix, a policy or a mode named twice in a list', async () => {
      assert.match(
        await refusal('bench', '--mix', 'mix7,mix7', '--policies', 'baseline', ...quick),
        /^--mix: mix "mix7" named twice$/,
      )
      assert.match(
        await refusal('bench', '--mix', 'mix7', '--policies', 'model-wise,model-wise', ...quick),
        /^--policies: model-wise named twice$/,
      )
      assert.match(
        await refusal(
          'bench',
          '--mix',
          'mix7',
          '--policies',
          'eclip',
          '--modes',
          'stream,graph,stream',
          ...quick,
        ),
        /^--modes: stream named twice$/,
      )
      assert.throws(() => resolvePolicies('baseline,eclip,baseline'), /--policies: baseline named twice/)
      // baseline is run first when not named, and kept where it is when named once
      assert.deepEqual(resolvePolicies('eclip-fit'), ['baseline', 'eclip-fit'])
      assert.deepEqual(resolvePolicies('baseline,eclip-fit'), ['baseline', 'eclip-fit'])
      assert.deepEqual(resolvePolicies('eclip-fit,baseline'), ['eclip-fit', 'baseline'])
    })

    it("refuses plan's solver bounds where the policy solves nothing they bound", async () => {
      const plan = (...more: string[]) =>
        refusal('plan', '--mix', 'mix3', '--profiles', H100, '--out', out, ...more)
      assert.match(
        await plan('--time-limit', '0.01', '--mip-gap', '0.5'),
        /^--time-limit and --mip-gap: they bound the paper's eclip solve \(--policy eclip\); eclip-fit does not use them$/,
      )
      assert.match(
        await plan('--policy', 'baseline', '--mip-gap', '0.5'),
        /^--mip-gap: it bounds .*; baseline does not use it$/,
      )
    })

    it("refuses profile's batch sizes, dtype and repeats before the profiler starts", async () => {
      const profile = (...more: string[]) => refusal('profile', '--out', out, ...more)
      assert.match(
        await profile('--batch', '1,abc'),
        /^--batch: expected batch sizes ≥ 1, comma-separated, got "1,abc"$/,
      )
      assert.match(await profile('--batch', 'all'), /^--batch all picks the profiles to --retime/)
      assert.match(await profile('--batch', '1,8,1'), /^--batch: 1 named twice$/)
      assert.match(await profile('--dtype', 'fp8'), /^--dtype: expected one of fp16, bf16, fp32, got "fp8"$/)
      assert.match(await profile('--repeats', '0'), /^--repeats: expected an integer ≥ 1, got "0"$/)
    })

    it("refuses serve-bench's loop options where its loop would not use them", async () => {
      const sb = [
        'serve-bench',
        '--mix',
        'mix7',
        '--policies',
        'baseline',
        '--duration',
        '0.01',
        '--out',
        out,
      ]
      assert.match(
        await refusal(...sb, '--rate', '10', '--concurrency', '4'),
        /^--concurrency is for the closed loop: --rate sends every worker open loop/,
      )
      assert.match(
        await refusal(...sb, '--max-outstanding', '3'),
        /^--max-outstanding is for open-loop workers/,
      )
      // a worker's priority alone gives it no arrivals: still a closed loop
      const rt = mixFile(
        'rt.yaml',
        '  - { name: rt, workers: [ { model: alexnet, priority: realtime, sloMs: 50 } ] }\n',
      )
      assert.match(
        await refusal(
          'serve-bench',
          '--mix',
          rt,
          '--policies',
          'baseline',
          '--max-outstanding',
          '3',
          '--out',
          out,
        ),
        /^--max-outstanding is for open-loop workers/,
      )
      // on/off whose busy periods are a closed loop: no open-loop worker either
      const onoffClosed = mixFile(
        'onoff-closed.yaml',
        '  - { name: oc, workers: [ { model: alexnet, arrival: { kind: onoff, on: { dist: fixed, meanS: 1 }, off: { dist: fixed, meanS: 1 } } } ] }\n',
      )
      const sbOf = (mix: string, ...rest: string[]) =>
        refusal('serve-bench', '--mix', mix, '--policies', 'baseline', ...rest, '--out', out)
      assert.match(
        await sbOf(onoffClosed, '--max-outstanding', '3'),
        /^--max-outstanding is for open-loop workers/,
      )
      // every worker open loop: no closed-loop clients to set
      const open = mixFile(
        'open.yaml',
        '  - { name: op, workers: [ { model: alexnet, arrival: { kind: poisson, rate: 5 } }, { model: vgg19, arrival: { kind: onoff, on: { dist: fixed, meanS: 1 }, off: { dist: fixed, meanS: 1 }, whileOn: { kind: uniform, rate: 5 } } } ] }\n',
      )
      assert.match(
        await sbOf(open, '--concurrency', '4'),
        /^--concurrency is for closed-loop workers: every worker here has open-loop arrivals/,
      )
    })

    it("refuses a bench mix named like the bench's solo runs, with solo runs or without", async () => {
      const f = mixFile('solo.yaml', '  - { name: solo-alexnet-b1-fp16, workers: [ { model: alexnet } ] }\n')
      const msg = /--mix: mix "solo-alexnet-b1-fp16": names starting with solo- are the bench's solo runs'/
      assert.match(await refusal('bench', '--mix', f, '--policies', 'baseline', ...quick), msg)
      const withSolo = quick.filter((a) => a !== '--no-solo')
      assert.match(await refusal('bench', '--mix', f, '--policies', 'baseline', ...withSolo), msg)
    })
  })

  describe('output paths', () => {
    it('refuses an --out that is a file, or under one, where a directory is written', async () => {
      const isFile = (f: string) => new RegExp(`--out ${f}: is a file, not a directory`)
      assert.match(await refusal('bench', '--mix', 'mix7', ...quick, '--out', file), isFile(file))
      assert.match(
        await refusal('bench', '--from', join(dir, 'results.json'), '--out', join(file, 'sub')),
        new RegExp(`--out ${file}/sub: ${file} is a file, not a directory`),
      )
      assert.match(await refusal('schemas', '--out', file), isFile(file))
      assert.match(
        await refusal('paris', '--models', join(ROOT, 'examples', 'paris.yaml'), '--out', file),
        isFile(file),
      )
      assert.match(
        await refusal('calibrate', '--results', join(dir, 'none.json'), '--profiles', H200, '--out', file),
        isFile(file),
      )
      assert.match(
        await refusal('profile', '--models', 'alexnet', '--python', '/bin/false', '--out', file),
        isFile(file),
      )
      assert.match(
        await refusal(
          'serve-bench',
          ...['--mix', 'mix7', '--policies', 'baseline', '--duration', '0.01', '--warmup', '0'],
          ...['--out', file],
        ),
        isFile(file),
      )
    })

    it("refuses paris-table's --out that is a directory where a file is written", async () => {
      const gpu = join(H100, 'gpu.json')
      assert.match(
        await refusal('paris-table', '--synthetic', 'vgg19', '--gpu', gpu, '--out', dir),
        /--out .*: is a directory, give a file name/,
      )
    })

    it('refuses calibrate --out with --dry-run, which writes nothing', async () => {
      assert.match(
        await refusal('calibrate', '--results', 'x.json', '--profiles', H200, '--dry-run', '--out', out),
        /--dry-run writes nothing: --out cannot go with it/,
      )
    })
  })

  describe('empty values', () => {
    const empty = (flag: string) =>
      new RegExp(`^${flag}: empty value, expected <[^>]+> \\(or leave ${flag} out\\)$`)
    it('refuses an empty value rather than run the default or read it as 0', async () => {
      const bench = ['bench', '--mix', 'mix7', '--policies', 'baseline', ...quick]
      assert.match(await refusal(...bench, '--from', ''), empty('--from'))
      assert.match(
        await refusal('bench', '--workload', '', '--policies', 'baseline', ...quick),
        empty('--workload'),
      )
      assert.match(await refusal(...bench, '--mix', ''), empty('--mix'))
      assert.match(await refusal(...bench, '--policies', ''), empty('--policies'))
      assert.match(await refusal(...bench, '--profiles', ' '), empty('--profiles'))
      assert.match(await refusal(...bench, '--seed', ''), /--seed: expected an integer ≥ 0, got ""/)
      assert.match(
        await refusal('plan', '--mix', 'mix7', '--profiles', H100, '--policy', 'model-wise', '--out', ''),
        empty('--out'),
      )
      assert.match(await refusal('calibrate', '--results', 'x.json', '--profiles', ''), empty('--profiles'))
      assert.match(
        await refusal('paris', '--models', 'x.yaml', '--device', ''),
        /--device: expected an integer/,
      )
      const config = join(dir, 'no-config.yaml')
      for (const flag of ['--port', '--grpc-port', '--frontends', '--host'])
        assert.match(await refusal('serve', '--config', config, flag, ''), empty(flag))
    })

    it('no command, or help for an unknown one: the usage and exit 2, help asked for exit 0', () => {
      const eclip = (...args: string[]) =>
        spawnSync(process.execPath, [join(ROOT, 'bin', 'eclip.mjs'), ...args], { encoding: 'utf8' })
      const none = eclip()
      assert.equal(none.status, 2)
      assert.match(none.stderr, /^Usage: eclip /)
      const unknown = eclip('help', 'nosuch')
      assert.equal(unknown.status, 2)
      assert.match(unknown.stderr, /^error: unknown command 'nosuch'\n/)
      for (const args of [['help'], ['help', 'plan'], ['--help']])
        assert.equal(eclip(...args).status, 0, args.join(' '))
    })

    it('the CLI says so in one line, exit 2 (serve --port "": no random port)', () => {
      const r = spawnSync(
        process.execPath,
        [join(ROOT, 'bin', 'eclip.mjs'), 'serve', '--config', join(dir, 'none.yaml'), '--port', ''],
        { encoding: 'utf8' },
      )
      assert.equal(r.status, 2, r.stderr)
      assert.equal(r.stderr, 'eclip: --port: empty value, expected <n> (or leave --port out)\n')
    })
  })

  describe('eclip calibrate', () => {
    const calibrate = (...more: string[]) =>
      refusal('calibrate', '--results', join(dir, 'none.json'), '--profiles', H200, '--dry-run', ...more)

    it('refuses missing directories, and a --before with nothing to compare against', async () => {
      assert.match(
        await calibrate('--before', join(dir, 'nonexist')),
        /--before .*nonexist: no such directory/,
      )
      assert.match(
        await calibrate('--plan-calibration', join(dir, 'nonexist')),
        /--plan-calibration .*nonexist: no such directory/,
      )
      const gpuOnly = join(dir, 'gpu-only')
      mkdirSync(gpuOnly)
      copyFileSync(join(H200, 'gpu.json'), join(gpuOnly, 'gpu.json'))
      assert.match(
        await calibrate('--before', gpuOnly),
        /--before .*gpu-only: neither sim-calibration\.json nor power\.json there/,
      )
    })

    it("names the file and both GPUs where --before holds another GPU's calibration", async () => {
      assert.match(
        await calibrate('--before', H100),
        /h100\/(power|sim-calibration)\.json: made on NVIDIA H100.*, but the profiles are from NVIDIA H200/,
      )
    })

    it('refuses --keep-contention with --grid, which it would not search', async () => {
      assert.match(
        await calibrate('--keep-contention', '--grid', 'gamma=0.1'),
        /--keep-contention keeps the profile directory's constants as the only grid point: --grid cannot go with it/,
      )
    })

    it('--before with one file of two: that one read, the other a default, and a warning says which', () => {
      const half = join(dir, 'half')
      mkdirSync(half)
      copyFileSync(join(H200, 'sim-calibration.json'), join(half, 'sim-calibration.json'))
      const write = mock.method(process.stderr, 'write', () => true)
      let got: ReturnType<typeof beforeFrom>
      try {
        got = beforeFrom(half, loadGpu(H200))
      } finally {
        write.mock.restore()
      }
      assert.ok(got.calibration?.fitted)
      assert.equal(got.power, undefined)
      const said = write.mock.calls.map((c) => String(c.arguments[0])).join('')
      assert.match(said, /WARNING: --before .*half: no power\.json: .*placeholder power model/)
    })
  })

  describe('options that would be ignored', () => {
    it('refuses eclip-fit and eclip-rt options without those policies', async () => {
      const bench = ['bench', '--mix', 'mix7', ...quick]
      const plan = ['plan', '--mix', 'mix7', '--profiles', H100]
      assert.match(
        await refusal(...bench, '--policies', 'model-wise', '--objective', 'requests'),
        /^--objective sets eclip-fit's search .*: --policies baseline,model-wise makes none of them$/,
      )
      assert.match(
        await refusal(...bench, '--policies', 'eclip', '--fit-starts', 'one'),
        /^--fit-starts sets eclip-fit's search/,
      )
      assert.match(
        await refusal(...bench, '--policies', 'eclip', '--fit-starts', 'one', '--max-p95', '1.1'),
        /^--fit-starts and --max-p95 set eclip-fit's search/,
      )
      assert.match(
        await refusal(...plan, '--policy', 'eclip-fit', '--max-p95', '0.9'),
        /--max-p95: expected a number ≥ 1, got "0.9"/,
      )
      assert.match(
        await refusal(...plan, '--policy', 'eclip', '--objective', 'requests'),
        /--objective sets eclip-fit's search .*: --policy eclip makes none of them/,
      )
      // eclip-rt searches as eclip-fit only under its gate mechanism, eclip-live when its set plans are eclip-fit's
      assert.match(
        await refusal(...plan, '--policy', 'eclip-rt', '--rt-mechanism', 'priority', '--fit-starts', 'one'),
        /^--fit-starts sets eclip-fit's search .*: --policy eclip-rt makes none of them$/,
      )
      assert.match(
        await refusal(
          ...bench,
          '--policies',
          'eclip-live',
          '--table-policy',
          'eclip',
          '--objective',
          'requests',
        ),
        /^--objective sets eclip-fit's search .*: --policies baseline,eclip-live makes none of them$/,
      )
      // floors: eclip's plans are checked against them, eclip-live's only when its set plans are eclip's or eclip-fit's
      assert.match(
        await refusal(...plan, '--policy', 'model-wise', '--min-share', '0.5'),
        /^--min-share sets the floors eclip-fit's plans keep .* and eclip's and eclip-rt's plans are checked against: --policy model-wise makes none of them$/,
      )
      // eclip-live whose set plans are model-wise's: no floors, no switch budget
      const modelWiseLive = (...more: string[]) =>
        refusal(...bench, '--policies', 'eclip-live', '--table-policy', 'model-wise', ...more)
      assert.match(
        await modelWiseLive('--min-share', '0.5'),
        /^--min-share sets the floors .*: --policies baseline,eclip-live makes none of them$/,
      )
      assert.match(
        await refusal(
          ...bench,
          '--policies',
          'eclip-fit',
          '--rt-mechanism',
          'partition',
          '--rt-gate-us',
          '5',
        ),
        /^--rt-mechanism, --rt-gate-us are for eclip-rt: --policies baseline,eclip-fit has no eclip-rt$/,
      )
      assert.match(
        await refusal(...plan, '--policy', 'eclip', '--rt-gate-us', '5'),
        /--rt-gate-us is for eclip-rt: --policy eclip has no eclip-rt/,
      )
      // a switch budget where no policy plans under one
      assert.match(
        await refusal(...plan, '--policy', 'model-wise', '--switch-max', '28'),
        /^--switch-max bounds the switches eclip's and eclip-fit's plans make .*: --policy model-wise makes none of them$/,
      )
      assert.match(
        await refusal(...bench, '--policies', 'kw-prealloc', '--switch-max', '28'),
        /^--switch-max bounds .*: --policies baseline,kw-prealloc makes none of them$/,
      )
      // eclip-rt makes a plan under the budget only under its gate mechanism, eclip-live when its set plans search
      assert.match(
        await refusal(...plan, '--policy', 'eclip-rt', '--rt-mechanism', 'priority', '--switch-max', '28'),
        /^--switch-max bounds .*: --policy eclip-rt makes none of them$/,
      )
      assert.match(
        await modelWiseLive('--switch-max', '28'),
        /^--switch-max bounds .*: --policies baseline,eclip-live makes none of them$/,
      )
      assert.match(
        await refusal(...bench, '--policies', 'eclip-fit', '--switch-max', '2.5'),
        /--switch-max: expected an integer ≥ 0, got "2\.5"/,
      )
      assert.match(
        await refusal(...bench, '--policies', 'eclip', '--table-policy', 'model-wise'),
        /^--table-policy is eclip-live's .*: add eclip-live to --policies$/,
      )
      assert.match(
        await refusal(...bench, '--policies', 'baseline', '--no-sim-compare'),
        /^--no-sim-compare: with --backend gpu only/,
      )
    })

    it('refuses plan --mix-name with a paper mix name', async () => {
      assert.throws(
        () => resolveMix('mix2', 'nope'),
        /--mix-name picks one mix of a mix file, but --mix mix2 is no file/,
      )
      assert.equal(resolveMix('mix2').name, 'mix2')
    })

    it('refuses run options with bench --from, naming them', async () => {
      assert.match(
        await refusal(
          ...['bench', '--from', join(dir, 'results.json'), '--mix', 'mix2', '--policies', 'eclip'],
          ...['--duration', '1', '--backend', 'gpu', '--no-solo', '--out', out],
        ),
        /^--from runs nothing, it reports on results files: --mix, --policies, --backend, --duration, --no-solo would have no effect/,
      )
      // the options of the report are taken
      const log = mock.method(console, 'log', () => {})
      const write = mock.method(process.stdout, 'write', () => true)
      try {
        await program().parseAsync(
          ['bench', '--from', join(ROOT, 'results', 'h200', 'batch8', 'results.json'), '--no-plots'].concat([
            '--profiles',
            H200,
            '--no-gemm-target',
            '--out',
            join(dir, 'report'),
          ]),
          { from: 'user' },
        )
      } finally {
        log.mock.restore()
        write.mock.restore()
      }
      assert.ok(existsSync(join(dir, 'report', 'report.txt')))
    })

    it('refuses paris-table options of another source than the one used', async () => {
      const gpu = join(H100, 'gpu.json')
      assert.match(
        await refusal('paris-table', join(H100, 'vgg19.b1.fp16.json'), '--synthetic', 'vgg19', '--gpu', gpu),
        /^--synthetic makes its table without profile files: .*vgg19\.b1\.fp16\.json would be ignored/,
      )
      assert.match(
        await refusal(
          'paris-table',
          '--synthetic',
          'vgg19',
          '--gpu',
          gpu,
          '--models',
          'vgg19',
          '--batches',
          '1',
        ),
        /^--models, --batches: not for a table from --synthetic/,
      )
      assert.match(
        await refusal('paris-table', join(H100, 'vgg19.b1.fp16.json'), '--seed', '3'),
        /^--seed: not for a table from profile files/,
      )
    })
  })
})
