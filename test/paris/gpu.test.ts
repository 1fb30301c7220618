// `eclip paris --backend gpu` without a GPU: test/paris/fake_paris_backend.py speaks the real frames and runs the
// real Python dispatcher (gpu/eclip_gpu/paris.py) in virtual time with every query taking exactly its estimate, so
// the comparison through it must equal the simulator's with noise 0. That checks the paris-run message, the reply's
// conversion to metrics and the Python port of the dispatch rules together. The GPU itself is tested by
// gpu/tests_gpu/test_paris.py on a GPU machine.
import assert from 'node:assert/strict'
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { gunzipSync } from 'node:zlib'
import { GPU_SCHEMES, parseRates, parseUniform } from '../../src/cli/commands/paris.ts'
import { type Gpu, readFile } from '../../src/formats/index.ts'
import { compare, SCHEMES } from '../../src/paris/compare.ts'
import { checkLayout, ParisGpu, plannedCaptures, runMessage } from '../../src/paris/gpu.ts'
import { DEFAULT_PARIS, uniform } from '../../src/paris/partition.ts'
import { loadScenario } from '../../src/paris/scenario.ts'
import { makeTrace } from '../../src/paris/sim.ts'
import { eclip } from './run-paris.ts'

const root = join(import.meta.dirname, '..', '..')
const scenario = join(root, 'examples', 'paris-gpu.yaml')
const gpuFile = join(root, 'profiles', 'h100', 'gpu.json')
const venvPython = join(root, '.venv', 'bin', 'python')
const schemes = SCHEMES.filter((s) => GPU_SCHEMES.includes(s.name))

function fakePython(): string {
  const f = join(mkdtempSync(join(tmpdir(), 'eclip-fake-paris-')), 'python')
  const python = existsSync(venvPython) ? venvPython : 'python3'
  const fake = join(import.meta.dirname, 'fake_paris_backend.py')
  writeFileSync(f, `#!/usr/bin/env bash\nexec '${python}' '${fake}' '${join(root, 'gpu')}' '${gpuFile}'\n`)
  chmodSync(f, 0o755)
  return f
}

describe('eclip paris --backend gpu (fake backend: the real dispatcher in virtual time)', () => {
  it('gives the simulator’s numbers when every query takes exactly its estimate', async () => {
    const sc = loadScenario(scenario, { date: '2026-11-22' })
    const opts = {
      gpus: [1],
      seed: 3,
      noise: 0,
      rates: () => [300, 900, 1500],
      windowS: 1,
      uniformSlices: [2, 3],
      schemes,
    }
    const pg = await ParisGpu.start({ python: fakePython() })
    let gpu: Awaited<ReturnType<typeof compare>>
    try {
      gpu = await compare(sc, { ...opts, backend: pg.run })
    } finally {
      await pg.close()
    }
    const sim = await compare(sc, opts)
    assert.equal(gpu.results.length, schemes.length)
    assert.equal(
      pg.runs,
      gpu.results.reduce((a, r) => a + r.runs, 0),
    )
    assert.equal(pg.logs.length, pg.runs)
    for (const [i, r] of gpu.results.entries()) {
      const s = sim.results[i]
      assert.equal(r.scheme, s?.scheme)
      assert.deepEqual(r.layout, s?.layout)
      assert.equal(r.sustainedQps, s?.sustainedQps, r.scheme)
      assert.ok(r.sustained === null || r.sustained.gpu?.energyJ !== undefined)
    }
    assert.equal(gpu.sweep.length, sim.sweep.length)
    for (const [i, p] of gpu.sweep.entries()) {
      const q = sim.sweep[i]
      assert.equal(p.violationRate, q?.violationRate, `${p.scheme} at ${p.offeredQps}`)
      assert.equal(p.p99Ms, q?.p99Ms)
      assert.ok(Math.abs(p.utilisation - (q?.utilisation ?? 0)) < 1e-9)
      assert.ok((p.queriesPerJ ?? 0) > 0 && p.dropped === 0, 'measured fields are filled in')
    }
    assert.equal(sim.sweep[0]?.powerW, undefined, 'simulated runs carry no power')
  })

  it('writes measured tables, labelled results and the per-query log through the CLI', async () => {
    const out = mkdtempSync(join(tmpdir(), 'eclip-paris-gpu-'))
    const before = process.env.ECLIP_PYTHON
    process.env.ECLIP_PYTHON = fakePython()
    try {
      await eclip(
        'paris',
        '--backend',
        'gpu',
        '--models',
        scenario,
        '--measure-tables',
        '--rates',
        '400,0.5x',
        '--window',
        '1',
        '--uniform',
        '16,24',
        '--out',
        out,
        '--quiet',
      )
    } finally {
      if (before === undefined) delete process.env.ECLIP_PYTHON
      else process.env.ECLIP_PYTHON = before
    }
    const res = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'))
    assert.equal(res.backend, 'gpu')
    assert.match(res.label, /^MEASURED on /)
    assert.equal(res.scenario.models[0].latencyTable.method, 'measured: fake')
    assert.deepEqual(res.options.schemes, GPU_SCHEMES)
    assert.equal(res.options.rates[0].qps.length, 2)
    assert.equal(res.options.rates[0].qps[0], 400)
    assert.match(readFileSync(join(out, 'results.md'), 'utf8'), /## Every run[\s\S]*queries\/J/)
    const csv = gunzipSync(readFileSync(join(out, 'requests.csv.gz')))
      .toString()
      .trim()
      .split('\n')
    assert.match(csv[0] ?? '', /^run,dispatch,layout,query,model,batch,arrival_us,release_us,start_us,end_us/)
    assert.ok(csv.length > 1000)
    const t = readFile('latency-table', join(out, 'latency', 'alexnet.fp16.latency.json')) as {
      batches: number[]
    }
    assert.deepEqual(t.batches, [1, 2, 4, 8, 16, 32])
  })

  it('refuses several GPUs, placeholder schemes, and --measure-tables on the simulator', async () => {
    await assert.rejects(eclip('paris', '--backend', 'gpu', '--models', scenario, '--gpus', '2'), /one GPU/)
    await assert.rejects(
      eclip('paris', '--backend', 'gpu', '--models', scenario, '--schemes', 'eclip-kw/elsa'),
      /placeholder/,
    )
    await assert.rejects(eclip('paris', '--models', scenario, '--measure-tables'), /needs --backend gpu/)
  })
})

describe('paris GPU helpers', () => {
  const gpu = readFile<Gpu>('gpu', gpuFile)

  it('parses loads and uniform sizes', () => {
    assert.deepEqual(parseRates('200, 0.5x,1x'), [
      { value: 200, relative: false },
      { value: 0.5, relative: true },
      { value: 1, relative: true },
    ])
    assert.throws(() => parseRates('fast'), /not a load/)
    assert.deepEqual(parseUniform('16,24,120', gpu), [2, 3, 15])
    assert.throws(() => parseUniform('20', gpu), /not 1\.\.15 slices/)
  })

  it('refuses a scenario laid out for another GPU', () => {
    checkLayout(gpu, gpu)
    assert.throws(() => checkLayout(gpu, { ...gpu, smCount: 144 }), /is not this device's/)
  })

  it('counts graph captures only when the layout brings new partitions', () => {
    const sc = loadScenario(scenario, { date: '2026-11-22' })
    const classes = sc.models.reduce((a, m) => a + m.batches.length, 0)
    const paris = SCHEMES.filter((s) => s.name === 'paris/fifo' || s.name === 'paris/elsa')
    const p = plannedCaptures(sc, paris, 1, [2], DEFAULT_PARIS)
    // fifo and elsa on the same PARIS layout: captured once
    assert.equal(p.layouts, 1)
    assert.equal(p.captures % classes, 0)
    const whole = SCHEMES.filter((s) => s.name === 'whole/least-loaded')
    assert.deepEqual(plannedCaptures(sc, whole, 1, [2], DEFAULT_PARIS), { captures: classes, layouts: 1 })
  })

  it('sends the table estimates per partition, model and batch', () => {
    const sc = loadScenario(scenario, { date: '2026-11-22' })
    const parts = uniform(sc.gpu, 1, 4)
    const trace = makeTrace(sc.models, 1, 500, 1, 0)
    const msg = runMessage(sc.models, parts, trace, { dispatch: 'elsa' })
    assert.equal(msg.estUs.length, parts.length)
    assert.equal(msg.estUs[0]?.length, sc.models.length)
    assert.equal(msg.estUs[0]?.[0]?.length, sc.models[0]?.batches.length)
    assert.equal(msg.firstMeasured, 50)
    assert.ok((msg.estUs[0]?.[0]?.[0] ?? 0) > (msg.estUs[parts.length - 1]?.[0]?.[0] ?? 0) * 0.9)
  })
})
