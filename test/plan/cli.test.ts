import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { before, describe, it } from 'node:test'
import { type Plan, type PlanTable, readFile, type SimCalibration } from '../../src/formats/index.ts'
import { writeSyntheticProfileDir } from '../../src/profile/synthetic.ts'

const bin = join(import.meta.dirname, '..', '..', 'bin', 'eclip.mjs')
const eclip = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' })

describe('eclip plan', () => {
  let dir = ''
  let out = ''
  before(() => {
    out = mkdtempSync(join(tmpdir(), 'eclip-plan-'))
    dir = join(out, 'profiles')
    writeSyntheticProfileDir(dir, { batch: 1, models: ['alexnet', 'vgg19', 'shufflenet', 'resnet152'] })
  })

  it('plans a paper mix by name, prints the per-worker summary and writes a valid plan', () => {
    const file = join(out, 'plan.json')
    const r = eclip(
      'plan',
      '--mix',
      'mix7',
      '--profiles',
      dir,
      '--switch-max',
      '5',
      '--policy',
      'eclip',
      '--out',
      file,
    )
    assert.equal(r.status, 0, r.stderr)
    for (const w of ['alexnet#0', 'alexnet#1', 'alexnet#2']) assert.match(r.stdout, new RegExp(w))
    assert.match(r.stdout, /predicted µs/)
    assert.match(r.stdout, /solver dp: optimal, gap/)
    const plan = readFile<Plan>('plan', file)
    assert.equal(plan.policy, 'eclip')
    assert.equal(plan.mix, 'mix7')
    assert.equal(plan.params.switchMax, 5)
    for (const w of plan.workers) assert.ok(w.switches <= 5)
  })

  it('plans with eclip-fit unless told otherwise: every worker kept at its floor, a heuristic plan', () => {
    const file = join(out, 'default.plan.json')
    const r = eclip('plan', '--mix', 'mix4', '--profiles', dir, '--out', file)
    assert.equal(r.status, 0, r.stderr)
    assert.match(r.stdout, /solver dp: heuristic, gap/)
    assert.match(r.stdout, /floors met \(0\.9×\)/)
    assert.equal(readFile<Plan>('plan', file).policy, 'eclip-fit')
  })

  it("checks eclip's plan against the floors on the simulator, as bench does; --min-share sets them", () => {
    // the paper's plan of mix3 leaves vgg19 far under its baseline rate on the H100's profiles
    const h100 = join(import.meta.dirname, '..', '..', 'profiles', 'h100')
    const made = (name: string, ...more: string[]) => {
      const file = join(out, name)
      const r = eclip(
        'plan',
        '--mix',
        'mix3',
        '--profiles',
        h100,
        '--policy',
        'eclip',
        '--out',
        file,
        ...more,
      )
      assert.equal(r.status, 0, r.stderr)
      return { stdout: r.stdout, plan: readFile<Plan>('plan', file) }
    }
    const byDefault = made('eclip-floors.json')
    assert.match(byDefault.stdout, /floors checked on the evaluator: STP/)
    assert.match(
      byDefault.stdout,
      /WARNING: the paper's plan misses 1 floor\(s\) \(simulated\): vgg19#0 \(vgg19\) at 0\.[0-9]+× its baseline throughput, floor 0\.90×/,
    )
    const lowered = made('eclip-floors-low.json', '--min-share', '0.3')
    assert.match(lowered.stdout, /floors checked on the evaluator: STP/)
    assert.doesNotMatch(lowered.stdout, /misses \d+ floor/)
    // checked, not repaired: the floors change the notes, not the plan
    assert.deepEqual(
      lowered.plan.workers.map((w) => w.groups),
      byDefault.plan.workers.map((w) => w.groups),
    )
  })

  it('eclip-rt with its options: the mechanism and reserve in the plan, the pool printed as slice runs', () => {
    const file = join(out, 'rt.json')
    const r = eclip(
      'plan',
      '--mix',
      join(import.meta.dirname, '..', '..', 'workloads', 'disb.yaml'),
      '--mix-name',
      'disb-A',
      '--profiles',
      join(import.meta.dirname, '..', '..', 'profiles', 'h100'),
      '--policy',
      'eclip-rt',
      '--rt-reserve-sms',
      '16',
      '--out',
      file,
    )
    assert.equal(r.status, 0, r.stderr)
    // the best-effort partition: slices 0–12 and the remainder (15), not one run
    assert.match(r.stdout, /pool \(id:SMs\[slices\]\): 0:132SM\[0-15\] 1:116SM\[0-12,15\]/)
    assert.match(r.stdout, /vgg19#0 .*realtime, SLO 10 ms/)
    const plan = readFile<Plan>('plan', file)
    assert.deepEqual(
      plan.workers.map((w) => w.streamPriority),
      ['high', undefined],
    )
    const bad = eclip(
      'plan',
      '--mix',
      'mix7',
      '--profiles',
      dir,
      '--policy',
      'eclip-rt',
      '--rt-mechanism',
      'mps',
    )
    assert.equal(bad.status, 2)
    assert.match(bad.stderr, /--rt-mechanism.*mps.*priority, partition/)
  })

  it('--calibration scores the plan on the named constants instead of the directory’s, made for its GPU only', () => {
    const h100 = join(import.meta.dirname, '..', '..', 'profiles', 'h100')
    const shipped = readFile<SimCalibration>('sim-calibration', join(h100, 'sim-calibration.json'))
    const write = (name: string, c: SimCalibration) => {
      const file = join(out, name)
      writeFileSync(file, JSON.stringify(c))
      return file
    }
    const vgg19 = (...more: string[]) => {
      const r = eclip('plan', '--mix', 'mix3', '--profiles', h100, '--policy', 'eclip', ...more)
      assert.equal(r.status, 0, r.stderr)
      const m = /vgg19#0 \(vgg19\) at (0\.[0-9]+)× its baseline throughput/.exec(r.stdout)
      assert.ok(m, r.stdout)
      return Number(m[1])
    }
    const byDefault = vgg19()
    // the directory's own file named explicitly: the same figure
    assert.equal(vgg19('--calibration', join(h100, 'sim-calibration.json')), byDefault)
    // no memory interference: the paper's plan keeps vgg19 on few SMs beside the others; the figure moves
    const noMemory = vgg19('--calibration', write('no-memory.json', { ...shipped, memoryInterference: 0 }))
    assert.notEqual(noMemory, byDefault)
    const other = write('other-gpu.json', { ...shipped, gpu: { ...shipped.gpu, name: 'NVIDIA H200' } })
    const r = eclip('plan', '--mix', 'mix3', '--profiles', h100, '--policy', 'eclip', '--calibration', other)
    assert.equal(r.status, 2, r.stdout)
    assert.match(
      r.stderr,
      /other-gpu\.json: made on NVIDIA H200 \(132 SMs\), but the profiles are from NVIDIA H100/,
    )
  })

  it('warns on stderr when the time limit stops the solver before it proves the plan', () => {
    const r = eclip(
      'plan',
      '--mix',
      'mix4',
      '--profiles',
      dir,
      '--policy',
      'eclip',
      '--time-limit',
      '0.000001',
    )
    assert.equal(r.status, 0, r.stderr)
    assert.match(r.stdout, /solver dp: time-limit, gap/)
    assert.match(r.stderr, /warning: the plan is NOT proven optimal/)
  })

  it('takes a mix file, and needs --mix-name when it holds several', () => {
    const mixFile = join(out, 'mixes.yaml')
    writeFileSync(
      mixFile,
      'mixes:\n  - name: a\n    workers: [{ model: vgg19 }]\n  - name: b\n    workers: [{ model: shufflenet, count: 2 }]\n',
    )
    const none = eclip('plan', '--mix', mixFile, '--profiles', dir)
    assert.equal(none.status, 2)
    assert.match(none.stderr, /holds 2 mixes \(a, b\): pick one with --mix-name/)
    const r = eclip('plan', '--mix', mixFile, '--mix-name', 'b', '--profiles', dir, '--policy', 'model-wise')
    assert.equal(r.status, 0, r.stderr)
    assert.match(r.stdout, /plan model-wise for b/)
    assert.match(r.stdout, /shufflenet#1/)
  })

  it('fails with a one-line error and exit 2 on bad input, no stack trace', () => {
    const cases: [string[], RegExp][] = [
      [['--mix', 'nomix', '--profiles', dir], /no mix "nomix"/],
      [
        ['--mix', 'mix2', '--profiles', dir],
        /no profile for model albert, batch 1, fp16 \(expected file albert\.b1\.fp16\.json\)/,
      ],
      [['--mix', 'mix7', '--profiles', join(out, 'nope')], /no such profile directory/],
      [['--mix', 'mix7', '--profiles', dir, '--tolerance', '-1'], /--tolerance must be ≥ 0/],
      [['--mix', 'mix7', '--profiles', dir, '--policy', 'magic'], /argument 'magic' is invalid/],
      [
        ['--mix', 'mix7', '--profiles', dir, '--solver', 'highs'],
        /--solver highs: .*eclip-fit does not use it/,
      ],
      [
        ['--mix', 'mix7', '--profiles', dir, '--policy', 'model-wise', '--solver', 'highs'],
        /--solver highs: .*model-wise does not use it/,
      ],
      [
        ['--mix', 'mix7', '--profiles', dir, '--min-share', '-1'],
        /--min-share: expected a number ≥ 0, got "-1"/,
      ],
      [
        ['--mix', 'mix7', '--profiles', dir, '--policy', 'model-wise', '--min-share', '0.5'],
        /--min-share sets the floors .*: --policy model-wise makes none of them/,
      ],
      // a floor no plan can keep: refused with each worker's shortfall, and how to lower it
      [
        ['--mix', 'mix7', '--profiles', dir, '--policy', 'eclip-fit', '--min-share', '5'],
        /misses 3 throughput floor\(s\) \(simulated\): alexnet#0 \(alexnet\) at [0-9.]+× its baseline throughput, floor 5\.00×.*every worker's with --min-share/,
      ],
    ]
    for (const [args, msg] of cases) {
      const r = eclip('plan', ...args)
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`)
      assert.match(r.stderr, msg)
      assert.doesNotMatch(r.stderr, /^\s+at .*:\d+:\d+\)?$/m, 'no stack trace')
    }
  })

  it('--table writes a plan per subset (a valid plan-table file) and refuses what a table cannot be', () => {
    const file = join(out, 'mix4.table.json')
    const r = eclip(
      'plan',
      '--table',
      '--mix',
      'mix4',
      '--profiles',
      dir,
      '--policy',
      'model-wise',
      '--threads',
      '1',
      '--out',
      file,
    )
    assert.equal(r.status, 0, r.stderr)
    assert.match(
      r.stdout,
      /plan table \(model-wise; a worker alone: baseline\) for mix4 .*: 3 worker\(s\), 7 plans \(every subset\)/,
    )
    const t = readFile<PlanTable>('plan-table', file)
    assert.equal(t.plans.length, 7)
    const v = eclip('validate', 'plan-table', file)
    assert.equal(v.status, 0, v.stderr)
    for (const [args, msg] of [
      [
        ['--policy', 'eclip-live'],
        /--policy eclip-live: it follows a table of plans; write one with --table/,
      ],
      [['--table', '--subsets', 'alexnet#0+vgg19#2'], /a table of 3 workers \(≤ 6\) plans every subset/],
      [['--threads', '2'], /--subsets and --threads are for --table/],
    ] as const) {
      const x = eclip('plan', '--mix', 'mix4', '--profiles', dir, '--policy', 'model-wise', ...args)
      assert.equal(x.status, 2, x.stderr)
      assert.match(x.stderr, msg)
    }
  })
})
