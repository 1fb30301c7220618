// Experiments with arrival sources and priorities: the runs a mix with real-time workers gets (its real-time workers
// alone once more, with the same arrivals), DISB's metrics in the results and the report, workload files' own run
// lengths, and `eclip bench --workload` end to end on the simulator — with each bad input refused before any run.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { type ExperimentOptions, runExperiment } from '../../src/bench/experiment.ts'
import { realtimeTable, textReport } from '../../src/bench/report.ts'
import { resolveMixes, resolveWorkloads } from '../../src/cli/options.ts'
import type { ExecuteBackend, RunResult, RunSpec } from '../../src/execute/backend.ts'
import { CALIBRATION } from '../../src/execute/sim/contention.ts'
import { simPlanner } from '../../src/execute/sim/evaluator.ts'
import { defaultPowerModel, defaultPrimitives, SimBackend } from '../../src/execute/sim/index.ts'
import { type Mix, parseFormat, type Results, type Run, readFile } from '../../src/formats/index.ts'
import { gpuRef, simExperiment } from './sim-experiment.ts'

const mix: Mix = {
  name: 'rt-mix',
  workers: [
    { model: 'alexnet', priority: 'realtime', sloMs: 5, arrival: { kind: 'uniform', rate: 400 } },
    { model: 'resnet152', priority: 'best-effort' },
    { model: 'shufflenet', arrival: { kind: 'poisson', rate: 300 } },
  ],
}
const planner = simPlanner((g) => ({
  gpu: g,
  primitives: defaultPrimitives(gpuRef),
  power: defaultPowerModel(gpuRef),
  calibration: CALIBRATION,
}))

const experiment = (extra: Partial<ExperimentOptions> = {}) =>
  runExperiment(
    simExperiment({
      mixes: [mix],
      policies: ['baseline', 'eclip-rt'],
      planner,
      warmupS: 0.01,
      windowS: 0.2,
      seed: 4,
      solo: true,
      ...extra,
    }),
  )

/** A backend that records what it was asked to run, and runs it on the simulator. */
class Recording implements ExecuteBackend {
  readonly name = 'sim' as const
  readonly specs: RunSpec[] = []
  readonly results: RunResult[] = []
  private readonly sim = new SimBackend()
  async run(spec: RunSpec) {
    this.specs.push(spec)
    const r = await this.sim.run(spec)
    this.results.push(r)
    return r
  }
  async close() {}
}

describe('experiments with real-time workers', () => {
  it('runs the real-time workers alone once more, with the arrivals they have beside the others', async () => {
    const rec = new Recording()
    const runs = await experiment({ backend: rec })
    assert.deepEqual(
      runs.map((r) => `${r.role} ${r.mix} ${r.policy}`),
      [
        'solo solo-alexnet-b1-fp16 baseline',
        'solo solo-resnet152-b1-fp16 baseline',
        'solo solo-shufflenet-b1-fp16 baseline',
        'rt-alone rt-mix:rt-alone baseline',
        'mix rt-mix baseline',
        'mix rt-mix eclip-rt',
      ],
    )
    // the solo runs are the closed loop, whatever the worker's source
    for (const r of runs.filter((x) => x.role === 'solo')) assert.deepEqual(r.loop, { kind: 'closed' })
    const alone = rec.specs.findIndex((s) => s.role === 'rt-alone')
    const mixRun = rec.specs.findIndex((s) => s.mix === 'rt-mix' && s.plan.policy === 'baseline')
    assert.deepEqual(
      rec.specs[alone]?.workers.map((w) => w.name),
      ['alexnet#0'],
    )
    // the same arrival times: the real-time worker's schedule does not depend on who else runs
    assert.deepEqual(rec.results[alone]?.workers[0]?.arrivalUs, rec.results[mixRun]?.workers[0]?.arrivalUs)
    assert.ok((rec.results[alone]?.workers[0]?.arrivalUs.length ?? 0) > 50)
    // every source recorded as given
    const base = runs.find((r) => r.role === 'mix' && r.policy === 'baseline') as Run
    assert.deepEqual(base.loop, {
      kind: 'arrivals',
      sources: [{ kind: 'uniform', rate: 400 }, { kind: 'closed' }, { kind: 'poisson', rate: 300 }],
    })
    parseFormat(
      'results',
      { format: 'eclip.results/1', runs, requestLog: null, provenance: prov() },
      'results',
    )
  })

  it('gives DISB’s metrics: real-time latency, its increase over alone, overall throughput; priorities per worker', async () => {
    const runs = await experiment()
    const alone = runs.find((r) => r.role === 'rt-alone') as Run
    for (const r of runs.filter((x) => x.role === 'mix')) {
      const m = r.metrics.realtime
      assert.ok(m, r.id)
      const rtw = r.workers[0]
      assert.equal(rtw?.priority, 'realtime')
      assert.equal(rtw?.sloMs, 5)
      assert.equal(r.workers[1]?.priority, 'best-effort')
      assert.equal(r.workers[2]?.priority, undefined)
      assert.equal(m.requests, rtw?.requests)
      assert.equal(m.meanUs, rtw?.latencyUs?.mean)
      assert.equal(m.aloneMeanUs, alone.metrics.realtime?.meanUs)
      assert.ok(m.meanUs !== null && m.aloneMeanUs !== null)
      assert.equal(m.increaseUs, m.meanUs - m.aloneMeanUs)
      assert.ok(
        Math.abs((m.increasePct as number) - (100 * (m.meanUs - m.aloneMeanUs)) / m.aloneMeanUs) < 1e-9,
      )
      assert.ok(Math.abs(m.overallRps - r.workers.reduce((a, w) => a + w.requests, 0) / r.windowS) < 1e-9)
      assert.ok(m.withinSlo !== null && m.withinSlo >= 0 && m.withinSlo <= 1)
    }
    const base = runs.find((r) => r.role === 'mix' && r.policy === 'baseline')
    assert.equal(base?.metrics.realtime?.overallVsBaseline, 1)
    // DISB's metrics first in the report, one row per mix and policy
    const report = textReport(runs)
    assert.match(report, /^Real-time beside best-effort, DISB's metrics — simulated/)
    assert.match(report, /^rt-mix +baseline +\d+\.\d{3} +\d+\.\d{3} +[+−]\d+\.\d{3} ms [+−]\d+\.\d% /m)
    assert.match(report, /^rt-mix +eclip-rt /m)
    // nothing to say without real-time workers
    assert.equal(realtimeTable(runs.filter((r) => r.role === 'solo')), null)
  })

  it('a mix of real-time workers only is its own reference: no run alone', async () => {
    const only: Mix = { name: 'only-rt', workers: [mix.workers[0] as Mix['workers'][number]] }
    const runs = await experiment({ mixes: [only], solo: false, policies: ['baseline'] })
    assert.deepEqual(
      runs.map((r) => r.role),
      ['mix'],
    )
    const m = runs[0]?.metrics.realtime
    assert.equal(m?.increaseUs, 0)
    assert.equal(m?.aloneMeanUs, m?.meanUs)
  })

  it('each mix may run its own length', async () => {
    const runs = await experiment({
      solo: false,
      runLength: (m) => (m === 'rt-mix' ? { windowS: 0.05, warmupS: 0.002 } : undefined),
    })
    for (const r of runs) {
      assert.equal(r.windowS, 0.05)
      assert.equal(r.warmupS, 0.002)
    }
  })

  it('a plan refused for a real-time SLO starts no run at all', async () => {
    const rec = new Recording()
    const bad: Mix = {
      name: 'bad',
      workers: [
        { model: 'vgg19', priority: 'realtime', sloMs: 0.1, arrival: { kind: 'uniform', rate: 10 } },
        { model: 'alexnet' },
      ],
    }
    await assert.rejects(
      experiment({ mixes: [mix, bad], backend: rec }),
      /vgg19#0 \(vgg19\): its SLO of 0\.1 ms cannot be met even alone on the whole GPU/,
    )
    assert.equal(rec.specs.length, 0)
  })

  it('an open loop for every worker (--rate) would replace the mix’s own sources: refused', async () => {
    await assert.rejects(
      experiment({ loop: { kind: 'open', ratePerWorker: 100 } }),
      /mix rt-mix: its workers give their own arrivals; an open loop for every worker \(--rate\) would replace them/,
    )
  })
})

function prov(): Results['provenance'] {
  return {
    date: 'x',
    method: 'simulated',
    tool: 'test',
    eclip: '0',
    node: process.version,
    seed: 4,
    command: 'test',
    warnings: [],
  }
}

const eclip = join(import.meta.dirname, '..', '..', 'bin', 'eclip.mjs')
const run = (args: string[]) => spawnSync(process.execPath, [eclip, 'bench', ...args], { encoding: 'utf8' })
const serveBench = (...args: string[]) =>
  spawnSync(process.execPath, [eclip, 'serve-bench', ...args], { encoding: 'utf8' })

describe('eclip bench --workload', () => {
  const dir = mkdtempSync(join(tmpdir(), 'eclip-workload-'))
  const file = join(dir, 'w.yaml')
  writeFileSync(join(dir, 'trace.txt'), '# ms\n0\n2\n2.5\n7\n')
  writeFileSync(
    file,
    [
      'format: eclip.workloads/1',
      'workloads:',
      '  - name: small',
      '    durationS: 0.03',
      '    warmupS: 0.005',
      '    workers:',
      '      - { model: alexnet, priority: realtime, sloMs: 2, arrival: { kind: trace, file: trace.txt, unit: ms, repeatS: 0.01 } }',
      '      - { model: shufflenet, priority: best-effort }',
      '  - name: other',
      '    durationS: 0.02',
      '    workers:',
      '      - { model: alexnet, arrival: { kind: onoff, on: { dist: fixed, meanS: 0.004 }, off: { dist: exponential, meanS: 0.004 } } }',
      '',
    ].join('\n'),
  )

  it('runs each workload for its own length, with its real-time workers alone, and prints DISB’s table', () => {
    const out = join(dir, 'out')
    const r = run([
      '--workload',
      file,
      '--profiles',
      'synthetic',
      '--policies',
      'eclip-rt',
      '--no-plots',
      '--no-solo',
      '--out',
      out,
    ])
    assert.equal(r.status, 0, r.stderr)
    assert.match(r.stdout, /2 workload\(s\) × 2 policies/)
    assert.match(
      r.stdout,
      /^small \(warm-up 0\.005 s, window 0\.03 s\): alexnet#0 realtime \(SLO 2 ms\), trace .*trace\.txt \(4 requests\), every 0\.01 s; shufflenet#0 best-effort, closed loop$/m,
    )
    assert.match(r.stdout, /^other \(warm-up 0\.05 s, window 0\.02 s\): alexnet#0 on\/off/m)
    assert.match(r.stdout, /Real-time beside best-effort, DISB's metrics/)
    assert.match(r.stdout, /^small +eclip-rt /m)
    const results = readFile<Results>('results', join(out, 'results.json'))
    assert.deepEqual(
      results.runs.map((x) => `${x.mix} ${x.policy} ${x.windowS}`),
      [
        'small:rt-alone baseline 0.03',
        'small baseline 0.03',
        'small eclip-rt 0.03',
        'other baseline 0.02',
        'other eclip-rt 0.02',
      ],
    )
    // the trace replayed every 10 ms: 4 arrivals a period, 3.5 periods in 35 ms
    const alone = results.runs[0] as Run
    assert.equal(alone.loop.kind, 'arrivals')
  })

  it('refuses bad input before running anything', () => {
    const bad = (args: string[], re: RegExp) => {
      const r = run([...args, '--profiles', 'synthetic', '--no-plots', '--out', join(dir, 'bad')])
      assert.equal(r.status, 2, r.stdout + r.stderr)
      assert.match(r.stderr, re)
      assert.doesNotMatch(r.stderr, /\[1\//)
    }
    bad(['--workload', file, '--mix', 'mix7'], /--workload and --mix: give one/)
    bad(
      ['--workload', file, '--rate', '100'],
      /--rate: small, other give their workers' own arrivals or priorities; leave --rate out/,
    )
    bad(
      ['--workload', file, '--policies', 'baseline,model-wise', '--min-share', '0.5'],
      /--min-share sets the floors .*: --policies baseline,model-wise makes none of them/,
    )
    // a plan refused for a real-time SLO: no run started
    const wrong = join(dir, 'wrong.yaml')
    writeFileSync(
      wrong,
      'format: eclip.workloads/1\nworkloads:\n  - { name: x, durationS: 1, workers: [ { model: vgg19, priority: realtime, sloMs: 0.2, arrival: { kind: uniform, rate: 10 } }, { model: alexnet } ] }\n',
    )
    bad(
      ['--workload', wrong],
      /vgg19#0 \(vgg19\): its SLO of 0\.2 ms cannot be met even alone on the whole GPU: 0\.\d+ ms predicted/,
    )
  })

  it("examples/disb-alone.yaml: each DISB workload's real-time workers, as disb.yaml has them, alone", () => {
    const disb = resolveWorkloads('disb')
    const alone = resolveWorkloads('examples/disb-alone.yaml')
    assert.deepEqual(
      alone.map((w) => w.name),
      ['disb-A-alone', 'disb-B-alone', 'disb-D-alone', 'disb-E-alone'],
    )
    for (const a of alone) {
      const w = disb.find((d) => d.name === a.name.replace(/-alone$/, ''))
      assert.ok(w)
      assert.deepEqual(
        a.workers,
        w.workers.filter((x) => x.priority === 'realtime'),
      )
    }
    // C's real-time worker is A's
    const c = disb.find((d) => d.name === 'disb-C')?.workers.filter((x) => x.priority === 'realtime')
    assert.deepEqual(c, alone[0]?.workers)
  })

  it('--workload names files or shipped workloads, and reads them whole before anything runs', () => {
    assert.deepEqual(
      resolveWorkloads('disb').map((w) => w.name),
      ['disb-A', 'disb-B', 'disb-C', 'disb-D', 'disb-E'],
    )
    assert.deepEqual(
      resolveWorkloads(`disb-C,${file}`).map((w) => [w.name, w.durationS]),
      [
        ['disb-C', 60],
        ['small', 0.03],
        ['other', 0.02],
      ],
    )
    // the trace is read with the file, relative to it
    const t = resolveWorkloads(file)[0]?.workers[0]?.arrival
    assert.ok(t?.kind === 'trace' && 'timesUs' in t)
    assert.deepEqual((t as { timesUs: number[] }).timesUs, [0, 2000, 2500, 7000])
    assert.throws(
      () => resolveWorkloads('nope'),
      /--workload: no workload file or workload "nope" \(shipped in .*workloads: disb-A, disb-B, disb-C, disb-D, disb-E/,
    )
    assert.throws(() => resolveWorkloads('disb-A,disb'), /--workload: workload "disb-A" named twice/)
    // one workload of a file: FILE:NAME
    assert.deepEqual(
      resolveWorkloads(`${file}:other,disb-A`).map((w) => w.name),
      ['other', 'disb-A'],
    )
    assert.throws(
      () => resolveWorkloads(`${file}:nope`),
      /--workload .*:nope: no workload "nope" in .* \(it has: small, other\)/,
    )
    assert.throws(() => resolveWorkloads(`${dir}/missing.yaml:x`), /no such file .*missing\.yaml/)
    const wrong = join(dir, 'wrong2.yaml')
    writeFileSync(
      wrong,
      'format: eclip.workloads/1\nworkloads:\n  - { name: x, durationS: 1, workers: [ { model: alexnet, priority: realtime, sloMs: -1 } ] }\n',
    )
    assert.throws(
      () => resolveWorkloads(wrong),
      /\/workloads\/0\/workers\/0\/sloMs: must be > 0 \(workload x, model alexnet\)/,
    )
    writeFileSync(
      wrong,
      'format: eclip.workloads/1\nworkloads:\n  - { name: x, durationS: 1, workers: [ { model: alexnet, arrival: { kind: trace, file: missing.txt } } ] }\n',
    )
    assert.throws(
      () => resolveWorkloads(wrong),
      /workload x, model alexnet: trace .*missing\.txt: cannot read \(ENOENT\)/,
    )
    // a workload file is a mix file too
    assert.deepEqual(
      resolveMixes(file).map((m) => m.name),
      ['small', 'other'],
    )
  })

  it('serve-bench serves eclip-rt: its configs carry the priorities, SLOs, rates and the rt options (arrivals it sends: test/serve/serve-bench-arrivals)', () => {
    const out = join(dir, 'sb')
    const b = serveBench(
      '--workload',
      'disb-A',
      '--policies',
      'eclip-rt',
      '--rt-gate-us',
      '30',
      '--objective',
      'requests',
      '--min-share',
      '0.7',
      '--duration',
      '0.3',
      '--warmup',
      '0.05',
      '--out',
      out,
    )
    assert.equal(b.status, 0, b.stderr)
    const cfg = JSON.parse(readFileSync(join(out, 'configs', 'disb-A.eclip-rt.json'), 'utf8'))
    assert.deepEqual(cfg.realtime, { gateUs: 30 })
    assert.equal(cfg.objective, 'requests')
    assert.deepEqual(
      cfg.models.map((m: Record<string, unknown>) => [m.name, m.priority, m.sloMs, m.rate, m.minShare]),
      [
        ['vgg19-0', 'realtime', 10, 100, 0.7],
        ['resnet152-0', 'best-effort', undefined, undefined, 0.7],
      ],
    )
    assert.match(b.stdout, /^disb-A +eclip-rt /m)
    // the rt options without eclip-rt say so, and an objective without a policy that searches by one
    const onBaseline = (...flags: string[]) =>
      serveBench('--mix', 'mix7', '--policies', 'baseline', ...flags, '--out', out)
    const no = onBaseline('--rt-reserve-sms', '8')
    assert.equal(no.status, 2, no.stderr)
    assert.match(no.stderr, /--rt-reserve-sms is for eclip-rt: --policies baseline has no eclip-rt/)
    const two = onBaseline('--rt-ungated-sms', '16', '--rt-factor', '1.2')
    assert.equal(two.status, 2, two.stderr)
    assert.match(
      two.stderr,
      /--rt-factor, --rt-ungated-sms are for eclip-rt: --policies baseline has no eclip-rt/,
    )
    const noObjective = onBaseline('--objective', 'requests')
    assert.equal(noObjective.status, 2, noObjective.stderr)
    assert.match(
      noObjective.stderr,
      /--objective sets eclip-fit's search as eclip serve runs it .*: --policies baseline makes none of them/,
    )
    const noFloor = onBaseline('--min-share', '0.7')
    assert.equal(noFloor.status, 2, noFloor.stderr)
    assert.match(
      noFloor.stderr,
      /--min-share sets the floors eclip serve's plans keep .*: --policies baseline makes none of them/,
    )
    // as eclip serve plans: no search by an objective under eclip-rt's priority mechanism nor in eclip-live's
    // tables, no floor check of eclip's plans
    const refused = (re: RegExp, ...flags: string[]) => {
      const r = serveBench('--mix', 'mix7', ...flags, '--out', out)
      assert.equal(r.status, 2, r.stderr)
      assert.match(r.stderr, re)
    }
    refused(
      /--objective sets .*: --policies baseline,eclip-rt makes none of them/,
      ...['--policies', 'eclip-rt', '--rt-reserve-sms', '16', '--objective', 'requests'],
    )
    refused(
      /--objective sets .*: --policies baseline,eclip-live makes none of them/,
      ...['--policies', 'eclip-live', '--objective', 'requests'],
    )
    refused(
      /--min-share sets .*: --policies baseline,eclip makes none of them/,
      ...['--policies', 'eclip', '--min-share', '0.5'],
    )
    // the priority mechanism's reserve, with the floors eclip-rt's plan is checked against
    const reserved = join(dir, 'sb-reserve')
    const b2 = serveBench(
      ...['--workload', 'disb-A', '--policies', 'eclip-rt', '--rt-reserve-sms', '16', '--min-share', '0.7'],
      ...['--duration', '0.3', '--warmup', '0.05', '--out', reserved],
    )
    assert.equal(b2.status, 0, b2.stderr)
    const cfg2 = JSON.parse(readFileSync(join(reserved, 'configs', 'disb-A.eclip-rt.json'), 'utf8'))
    assert.deepEqual(cfg2.realtime, { reserveSms: 16 })
    assert.equal(cfg2.models[1].minShare, 0.7)
  })

  it("serve-bench's configs carry the mix's weights and floors, --min-share where the mix sets none", () => {
    const mixFile = join(dir, 'floors.yaml')
    writeFileSync(
      mixFile,
      'format: eclip.mixes/1\nmixes:\n  - name: floors\n    workers:\n      - { model: alexnet, weight: 2, minShare: 0.5 }\n      - { model: shufflenet }\n',
    )
    const out = join(dir, 'sb-floors')
    const b = serveBench(
      '--mix',
      mixFile,
      '--profiles',
      'synthetic',
      '--policies',
      'eclip-fit',
      '--min-share',
      '0.8',
      '--duration',
      '0.2',
      '--warmup',
      '0.05',
      '--out',
      out,
    )
    assert.equal(b.status, 0, b.stderr)
    const cfg = JSON.parse(readFileSync(join(out, 'configs', 'floors.eclip-fit.json'), 'utf8'))
    assert.deepEqual(
      cfg.models.map((m: Record<string, unknown>) => [m.name, m.weight, m.minShare]),
      [
        ['alexnet-0', 2, 0.5],
        ['shufflenet-0', undefined, 0.8],
      ],
    )
  })

  it('a mix file with arrival sources runs under --mix too, at the bench’s length', () => {
    const mixFile = join(dir, 'm.yaml')
    writeFileSync(
      mixFile,
      'format: eclip.mixes/1\nmixes:\n  - name: m\n    workers:\n      - { model: alexnet, arrival: { kind: uniform, rate: 1000 } }\n      - { model: shufflenet }\n',
    )
    const out = join(dir, 'out-mix')
    const r = run([
      '--mix',
      mixFile,
      '--profiles',
      'synthetic',
      '--policies',
      'baseline',
      '--duration',
      '0.02',
      '--no-plots',
      '--no-solo',
      '--out',
      out,
    ])
    assert.equal(r.status, 0, r.stderr)
    const results = readFile<Results>('results', join(out, 'results.json'))
    assert.equal(results.runs.length, 1)
    assert.equal(results.runs[0]?.windowS, 0.02)
    assert.deepEqual(results.runs[0]?.loop, {
      kind: 'arrivals',
      sources: [{ kind: 'uniform', rate: 1000 }, { kind: 'closed' }],
    })
    // a uniform 1000 req/s source: 20 requests in the 20-ms window
    assert.equal(results.runs[0]?.workers[0]?.requests, 20)
    assert.equal(results.runs[0]?.metrics.realtime, undefined)
  })
})
