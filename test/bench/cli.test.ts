// `eclip bench` end to end, on the simulator with the optimizer's plans (makePlan) and synthetic profiles.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { type Plan, type Results, readFile } from '../../src/formats/index.ts'

const eclip = join(import.meta.dirname, '..', '..', 'bin', 'eclip.mjs')
const bench = (args: string[]) => {
  const out = mkdtempSync(join(tmpdir(), 'eclip-bench-'))
  const r = spawnSync(process.execPath, [eclip, 'bench', ...args, '--out', out], { encoding: 'utf8' })
  assert.equal(r.status, 0, r.stderr)
  return { out, stdout: r.stdout, stderr: r.stderr }
}
const numbers = (file: string) => readFile<Results>('results', file).runs.map(({ wallS: _w, ...r }) => r)

describe('eclip bench', () => {
  const args = [
    '--mix',
    'mix7',
    '--profiles',
    'synthetic',
    '--duration',
    '0.02',
    '--warmup',
    '0.002',
    '--no-plots',
  ]

  it('writes results.json, the request log and the paper-style report, labelled synthetic', () => {
    const { out, stdout, stderr } = bench([...args, '--policies', 'all'])
    const results = readFile<Results>('results', join(out, 'results.json'))
    assert.equal(results.provenance.method, 'simulated')
    assert.ok(results.provenance.warnings.some((w) => /SYNTHETIC PROFILES/.test(w)))
    assert.ok(results.runs.every((r) => r.inputs.profiles === 'synthetic' && r.backend === 'sim'))
    // on the simulator "all" leaves out the MPS policies (an uncalibrated approximation there)
    assert.ok(!results.runs.some((r) => r.policy === 'mps' || r.policy === 'mps-unlimited'))
    assert.match(stderr, /WARNING: SYNTHETIC PROFILES/)
    assert.match(stdout, /Normalised throughput — simulated/)
    assert.match(stdout, /^mix7 +1\.00 /m)
    const log = readFileSync(join(out, 'requests.csv'), 'utf8').trim().split('\n')
    assert.equal(log[0], 'run,worker,request,arrival_us,start_us,end_us')
    const ids = new Set(results.runs.map((r) => r.id))
    assert.ok(log.slice(1).every((l) => ids.has(l.split(',')[0] ?? '')))
    // every in-window request of every run is in the log
    const eclip = results.runs.find((r) => r.id === 'mix7|eclip|graph|bmix|sim')
    assert.ok(eclip)
    const rows = log.filter((l) => l.startsWith(`${eclip.id},alexnet#0,`)).map((l) => Number(l.split(',')[5]))
    const inWindow = rows.filter((e) => e > eclip.warmupS * 1e6 && e <= (eclip.warmupS + eclip.windowS) * 1e6)
    assert.equal(inWindow.length, eclip.workers[0]?.requests)
    // every run names the plan it executed, kept beside results.json: the eclip plan's groups as recorded
    for (const r of results.runs) assert.ok(r.planFile && existsSync(join(out, r.planFile)), r.id)
    const plan = readFile<Plan>('plan', join(out, eclip.planFile as string))
    assert.deepEqual(
      plan.workers.map((w) => w.groups.length - 1),
      eclip.workers.map((w) => w.switchesPerRequest),
    )
  })

  it('exits 1 where every simulated run failed, naming the first failure; the report is still written', () => {
    const out = mkdtempSync(join(tmpdir(), 'eclip-bench-'))
    // 1e9 requests/s per worker: more arrivals than a run's schedule holds, so every run fails as it starts
    const r = spawnSync(
      process.execPath,
      [eclip, 'bench', ...args, '--policies', 'baseline', '--rate', '1e9', '--out', out],
      {
        encoding: 'utf8',
      },
    )
    assert.equal(r.status, 1, r.stderr)
    assert.match(
      r.stderr,
      /every simulated run failed \(\d+\); nothing was simulated — the first: .*a schedule holds/,
    )
    assert.ok(existsSync(join(out, 'report.txt')))
  })

  it('simulates the MPS policies when named, labelled as an approximation', () => {
    const { out, stdout } = bench([...args, '--policies', 'mps,mps-unlimited', '--no-solo'])
    const results = readFile<Results>('results', join(out, 'results.json'))
    assert.deepEqual(
      results.runs.map((r) => `${r.policy}|${r.mode}`),
      ['baseline|null', 'mps|null', 'mps-unlimited|null'],
    )
    for (const r of results.runs.filter((x) => x.policy !== 'baseline')) {
      assert.ok(r.metrics.requests > 0, r.id)
      assert.ok(
        r.notes.some((n) => /MPS .*approximated.*not calibrated/.test(n)),
        r.notes.join('; '),
      )
    }
    assert.match(stdout, /mps-unlimited/)
  })

  it('gives the same numbers for the same seed', () => {
    const a = bench([...args, '--policies', 'baseline,eclip', '--seed', '11', '--rate', '2000'])
    const b = bench([...args, '--policies', 'baseline,eclip', '--seed', '11', '--rate', '2000'])
    const c = bench([...args, '--policies', 'baseline,eclip', '--seed', '12', '--rate', '2000'])
    assert.deepEqual(numbers(join(a.out, 'results.json')), numbers(join(b.out, 'results.json')))
    assert.notDeepEqual(numbers(join(a.out, 'results.json')), numbers(join(c.out, 'results.json')))
    assert.equal(
      readFileSync(join(a.out, 'requests.csv'), 'utf8'),
      readFileSync(join(b.out, 'requests.csv'), 'utf8'),
    )
  })

  const shipped = ['h100', 'h200'].find((g) =>
    existsSync(join(import.meta.dirname, '..', '..', 'profiles', g, 'gpu.json')),
  )
  it('uses the shipped measured profiles by default', { skip: !shipped && 'no profiles shipped' }, () => {
    const { out } = bench([
      '--mix',
      'mix7',
      '--policies',
      'eclip',
      '--duration',
      '0.01',
      '--no-plots',
      '--no-solo',
    ])
    const results = readFile<Results>('results', join(out, 'results.json'))
    assert.ok(
      results.runs.every((r) => r.inputs.profiles === 'measured' && r.inputs.primitives === 'measured'),
    )
    assert.match(results.provenance.notes ?? '', new RegExp(`profiles/${shipped}`))
    assert.equal(
      results.provenance.warnings.some((w) => /SYNTHETIC/.test(w)),
      false,
    )
  })

  it('takes the contention constants from a calibration file, refusing one made on another GPU', () => {
    const dir = mkdtempSync(join(tmpdir(), 'eclip-cal-'))
    const cal = (gpu: string) => ({
      format: 'eclip.sim-calibration/1',
      gpu: { name: gpu, smCount: 132, sliceSize: 8 },
      sharing: 'fair',
      saturationTolerance: 0.01,
      memoryInterference: 0.5,
      fitted: true,
      measured: { date: '2026-11-22', method: 'test fit', tool: 'test' },
    })
    writeFileSync(join(dir, 'h100.json'), JSON.stringify(cal('NVIDIA H100 80GB HBM3')))
    writeFileSync(join(dir, 'other.json'), JSON.stringify(cal('NVIDIA H200')))
    const plain = bench([...args, '--policies', 'baseline'])
    const fitted = bench([...args, '--policies', 'baseline', '--calibration', join(dir, 'h100.json')])
    const run = (out: string) => readFile<Results>('results', join(out, 'results.json')).runs[1]
    assert.ok(
      run(fitted.out)?.notes.some((n) => /contention model calibrated \(fitted on NVIDIA H100/.test(n)),
    )
    assert.ok(run(plain.out)?.notes.some((n) => /contention model not calibrated/.test(n)))
    // memory interference slows co-running kernels down
    assert.ok((run(fitted.out)?.metrics.requests ?? 0) < (run(plain.out)?.metrics.requests ?? 0))
    const out = mkdtempSync(join(tmpdir(), 'eclip-bench-'))
    const r = spawnSync(
      process.execPath,
      [eclip, 'bench', ...args, '--calibration', join(dir, 'other.json'), '--out', out],
      { encoding: 'utf8' },
    )
    assert.equal(r.status, 2)
    assert.match(r.stderr, /made on NVIDIA H200 .* but the profiles are from NVIDIA H100/)
  })

  it('--from: reports existing results files, GPU and sim runs of one experiment side by side', () => {
    const { out } = bench([...args, '--policies', 'baseline,model-wise'])
    const sim = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as Results
    // stand-in for a GPU results file: the same runs, marked measured, every worker 10% slower
    const gpu: Results = {
      ...sim,
      runs: sim.runs.map((r) => ({
        ...r,
        backend: 'gpu',
        id: `${r.key}|gpu`,
        workers: r.workers.map((w) => ({
          ...w,
          throughputRps: w.throughputRps * (r.policy === 'baseline' ? 1 : 0.9),
        })),
      })),
    }
    const gpuFile = join(out, 'gpu-results.json')
    writeFileSync(gpuFile, JSON.stringify(gpu))
    const dir = mkdtempSync(join(tmpdir(), 'eclip-from-'))
    const r = spawnSync(
      process.execPath,
      [eclip, 'bench', '--from', `${gpuFile},${join(out, 'results.json')}`, '--out', dir, '--no-plots'],
      { encoding: 'utf8' },
    )
    assert.equal(r.status, 0, r.stderr)
    assert.match(r.stdout, /Normalised throughput — measured on GPU vs simulated/)
    const row = r.stdout.split('\n').find((l) => l.startsWith('mix7 '))
    const m = row?.match(/^mix7 +1\.00 \(sim 1\.00\) +(\d\.\d\d) \(sim (\d\.\d\d)\)/)
    assert.ok(m, row)
    // the report re-normalises each backend on its own baseline
    assert.ok(Math.abs(Number(m[1]) - 0.9 * Number(m[2])) <= 0.011, row)
    assert.ok(existsSync(join(dir, 'report.txt')))
    // the merged file names each executed plan from where it is written
    const merged = readFile<Results>('results', join(dir, 'results.json'))
    for (const run of merged.runs) assert.ok(run.planFile && existsSync(join(dir, run.planFile)), run.id)
  })

  it('takes a mix file and writes the figures', () => {
    const dir = mkdtempSync(join(tmpdir(), 'eclip-mix-'))
    const file = join(dir, 'mine.yaml')
    writeFileSync(
      file,
      'mixes:\n  - name: pair\n    workers:\n      - { model: vgg19 }\n      - { model: alexnet }\n',
    )
    const { out } = bench([
      '--mix',
      file,
      '--profiles',
      'synthetic',
      '--policies',
      'model-wise',
      '--duration',
      '0.01',
    ])
    const results = readFile<Results>('results', join(out, 'results.json'))
    assert.deepEqual(
      results.runs.filter((r) => r.role === 'mix').map((r) => r.id),
      ['pair|baseline|-|bmix|sim', 'pair|model-wise|-|bmix|sim'],
    )
    for (const f of ['fig-throughput', 'fig-p95', 'fig-energy-efficiency', 'fig3-rightsizes-vgg19.b1.fp16'])
      assert.ok(
        existsSync(join(out, 'figures', `${f}.svg`)) && existsSync(join(out, 'figures', `${f}.png`)),
        f,
      )
  })
})
