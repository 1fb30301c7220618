// `eclip paris --backend gpu` without a GPU: test/paris/fake_paris_backend.py speaks the real frames and runs the
// real Python dispatcher (gpu/eclip_gpu/paris_dispatch.py) in virtual time with every query taking exactly its
// estimate, so the comparison through it must equal the simulator's with noise 0. That checks the paris-run message,
// the reply's conversion to metrics and the Python port of the dispatch rules together. The GPU itself is tested by
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
import { checkLayout, ParisGpu, plannedCaptures, requestsCsv, runMessage } from '../../src/paris/gpu.ts'
import { kernelWise, kernelWiseWorkers } from '../../src/paris/kernelwise.ts'
import { DEFAULT_PARIS, uniform } from '../../src/paris/partition.ts'
import { type LoadedScenario, loadScenario } from '../../src/paris/scenario.ts'
import { makeTrace } from '../../src/paris/sim.ts'
import { eclip } from './run-paris.ts'

const root = join(import.meta.dirname, '..', '..')
const scenario = join(root, 'examples', 'paris-gpu.yaml')
const gpuFile = join(root, 'profiles', 'h100', 'gpu.json')
const venvPython = join(root, '.venv', 'bin', 'python')
const schemes = SCHEMES.filter((s) => GPU_SCHEMES.includes(s.name))

/** A `python` that runs the fake backend of a machine with `gpus` GPUs (GPU `odd`, if given, of another layout). */
function fakePython(gpus = 1, odd?: number): string {
  const f = join(mkdtempSync(join(tmpdir(), 'eclip-fake-paris-')), 'python')
  const python = existsSync(venvPython) ? venvPython : 'python3'
  const fake = join(import.meta.dirname, 'fake_paris_backend.py')
  const args = [gpus, ...(odd !== undefined ? [odd] : [])].join(' ')
  writeFileSync(
    f,
    `#!/usr/bin/env bash\nexec '${python}' '${fake}' '${join(root, 'gpu')}' '${gpuFile}' ${args}\n`,
  )
  chmodSync(f, 0o755)
  return f
}

/** `eclip paris …` with the fake backend of a `gpus`-GPU machine as the GPU backend. */
async function eclipOnFake(gpus: number, ...args: string[]): Promise<void> {
  const before = process.env.ECLIP_PYTHON
  process.env.ECLIP_PYTHON = fakePython(gpus)
  try {
    await eclip(...args)
  } finally {
    if (before === undefined) delete process.env.ECLIP_PYTHON
    else process.env.ECLIP_PYTHON = before
  }
}

/**
 * compare() through the fake backend of a `gpus`-GPU machine (every GPU checked first when there are several) and in
 * the simulator, with the same options; `pg` keeps its run counts and logs after closing.
 */
async function compareBoth(sc: LoadedScenario, opts: Parameters<typeof compare>[1], gpus = 1) {
  const pg = await ParisGpu.start({ python: fakePython(gpus) })
  let gpu: Awaited<ReturnType<typeof compare>>
  let devices: Gpu[] = []
  try {
    if (gpus > 1) devices = await pg.useGpus(gpus, sc.gpu)
    gpu = await compare(sc, { ...opts, backend: pg.run })
  } finally {
    await pg.close()
  }
  return { pg, devices, gpu, sim: await compare(sc, opts) }
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
    const { pg, gpu, sim } = await compareBoth(sc, opts)
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

  it('bisects through the backend as in the simulator: one window per repeat of each probed load', async () => {
    const sc = loadScenario(scenario, { date: '2026-11-22' })
    const opts = {
      gpus: [1],
      seed: 4,
      noise: 0,
      windowS: 0.5,
      windowed: true,
      uniformSlices: [3],
      schemes: schemes.filter((s) => s.name !== 'whole/least-loaded'),
      bisect: { resolution: 0.1, repeats: 2, pass: 'median' as const, start: () => 0.5 },
    }
    const { pg, gpu, sim } = await compareBoth(sc, opts)
    assert.equal(
      pg.runs,
      gpu.results.reduce((a, r) => a + r.runs, 0),
    )
    for (const [i, r] of gpu.results.entries()) {
      assert.equal(r.runs, (r.search?.probes.length ?? 0) * 2)
      assert.deepEqual(r.search, sim.results[i]?.search, r.scheme)
    }
    // a window per run: as many queries as arrive in 0.5 s at the probed load
    const first = pg.logs[0]
    assert.ok(first && Math.abs(first.trace.arrival.length - 0.5 * 900 * first.trace.scale) < 2)
    // every run has its own key: the repeats of a load are told apart
    assert.equal(new Set(pg.logs.map((l) => l.key)).size, pg.logs.length)
    assert.ok(pg.logs.some((l) => /\|r1$/.test(l.key)))
  })

  it('bisects through the CLI on the GPU backend: from 0.5x the simulator, every run a window', async () => {
    const out = mkdtempSync(join(tmpdir(), 'eclip-paris-gpu-bisect-'))
    await eclipOnFake(
      1,
      'paris',
      '--backend',
      'gpu',
      '--models',
      scenario,
      '--schemes',
      'paris/elsa',
      '--bisect',
      '--repeats',
      '1',
      '--resolution',
      '20',
      '--window',
      '0.5',
      '--out',
      out,
      '--quiet',
    )
    const res = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'))
    assert.equal(res.backend, 'gpu')
    assert.equal(res.options.windowed, true)
    const r = res.results[0]
    assert.equal(r.search.method, 'bisect')
    assert.equal(r.search.outcome, 'converged')
    assert.ok(r.search.firstFailQps <= r.search.lastPassQps * 1.2 + 1e-9)
    // the first probe is half what the simulator sustains on the same tables (its own search, before the GPU runs)
    assert.equal(res.options.bisect.starts[0].qps, r.search.probes[0].qps)
    assert.ok(r.sustained.gpu.energyJ > 0, 'the run at the sustained load carries the measured fields')
    const csv = gunzipSync(readFileSync(join(out, 'requests.csv.gz')))
      .toString()
      .trim()
      .split('\n')
    const runs = new Set(csv.slice(1).map((l) => l.split(',')[0]))
    assert.equal(runs.size, r.search.probes.length)
  })

  it('writes measured tables, labelled results and the per-query log through the CLI', async () => {
    const out = mkdtempSync(join(tmpdir(), 'eclip-paris-gpu-'))
    await eclipOnFake(
      1,
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

  it('gives the simulator’s numbers at 1 and 2 GPUs: one dispatcher over the partitions of both GPUs', async () => {
    const sc = loadScenario(scenario, { date: '2026-11-22' })
    const opts = {
      gpus: [1, 2],
      seed: 5,
      noise: 0,
      rates: (g: number) => [400 * g, 1200 * g],
      windowS: 1,
      uniformSlices: [3],
      schemes,
    }
    const { pg, devices, gpu, sim } = await compareBoth(sc, opts, 2)
    assert.equal(devices.length, 2)
    assert.deepEqual(
      gpu.results.map((r) => [r.scheme, r.gpus, r.layout, r.sustainedQps]),
      sim.results.map((r) => [r.scheme, r.gpus, r.layout, r.sustainedQps]),
    )
    assert.equal(gpu.sweep.length, sim.sweep.length)
    for (const [i, p] of gpu.sweep.entries()) {
      const q = sim.sweep[i]
      assert.equal(p.violationRate, q?.violationRate, `${p.scheme} at ${p.gpus} GPUs, ${p.offeredQps} q/s`)
      assert.equal(p.p99Ms, q?.p99Ms)
    }
    // the 2-GPU runs were served by partitions of both GPUs, their energy summed over both
    const two = pg.logs.filter((l) => new Set(l.gpus).size === 2)
    assert.ok(two.length > 0 && two.length < pg.logs.length, 'runs at 1 GPU and at 2 GPUs')
    for (const l of two) {
      const served = new Set(l.partition.map((p) => l.gpus[p]))
      assert.deepEqual([...served].sort(), [0, 1], `${l.key}: queries ran on both GPUs`)
      assert.match(l.key, /\/.*\|2gpus$/, 'the run key tells the GPUs apart')
    }
    const twoGpu = gpu.results.find((r) => r.gpus === 2 && r.sustained)?.sustained?.gpu
    assert.equal(twoGpu?.gpus, 2)
    assert.equal(twoGpu?.energyPerGpuJ?.length, 2)
    assert.ok(
      Math.abs((twoGpu?.energyPerGpuJ ?? []).reduce((a, x) => a + x, 0) - (twoGpu?.energyJ ?? 0)) < 1e-9,
    )
  })

  it('runs --gpus 1,2 through the CLI: labelled with the GPU count, requests.csv names each query’s GPU', async () => {
    const out = mkdtempSync(join(tmpdir(), 'eclip-paris-gpu2-'))
    await eclipOnFake(
      2,
      'paris',
      '--backend',
      'gpu',
      '--models',
      scenario,
      '--gpus',
      '1,2',
      '--rates',
      '0.5x',
      '--window',
      '0.5',
      '--uniform',
      '24',
      '--out',
      out,
      '--quiet',
    )
    const res = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'))
    assert.match(res.label, /^MEASURED on 2× NVIDIA H100/)
    assert.equal(res.measured.gpuCount, 2)
    assert.deepEqual(res.measured.gpuNames, [res.scenario.gpu.name, res.scenario.gpu.name])
    assert.deepEqual(
      res.options.rates.map((r: { gpus: number }) => r.gpus),
      [1, 2],
    )
    assert.deepEqual([...new Set(res.results.map((r: { gpus: number }) => r.gpus))], [1, 2])
    assert.match(
      readFileSync(join(out, 'results.md'), 'utf8'),
      /one dispatcher over the partitions of all of them/,
    )
    // the layout line names the device the run was measured on, not only the scenario file's GPU
    assert.match(
      readFileSync(join(out, 'results.md'), 'utf8'),
      /GPU layout: 132 SMs as 15×8 \+ remainder \(the scenario's, written for [^;]+; checked equal on 2× NVIDIA H100/,
    )
    const csv = gunzipSync(readFileSync(join(out, 'requests.csv.gz')))
      .toString()
      .trim()
      .split('\n')
    const head = (csv[0] ?? '').split(',')
    assert.deepEqual(head.slice(-3), ['partition', 'gpu', 'dropped'])
    const gpuCol = head.indexOf('gpu')
    const seen = new Set(csv.slice(1).map((l) => l.split(',')[gpuCol]))
    assert.deepEqual([...seen].sort(), ['0', '1'])
  })

  it('refuses more GPUs than the machine shows, naming how many it has', async () => {
    await assert.rejects(
      eclipOnFake(2, 'paris', '--backend', 'gpu', '--models', scenario, '--gpus', '3', '--quiet'),
      /--gpus 3: the GPU backend sees 2 GPUs on this machine.*needs 3/,
    )
    await assert.rejects(
      eclipOnFake(1, 'paris', '--backend', 'gpu', '--models', scenario, '--gpus', '1..2', '--quiet'),
      /--gpus 2: the GPU backend sees 1 GPU on this machine/,
    )
  })

  it('refuses a second GPU of another layout, and partitions on GPUs not checked', async () => {
    const sc = loadScenario(scenario, { date: '2026-11-22' })
    const odd = await ParisGpu.start({ python: fakePython(2, 1) })
    try {
      await assert.rejects(odd.useGpus(2, sc.gpu), /is not GPU 1's \(NVIDIA H100 80GB HBM3, 144 SMs/)
    } finally {
      await odd.close()
    }
    const pg = await ParisGpu.start({ python: fakePython(2) })
    try {
      const trace = makeTrace(sc.models, 1, 300, 1, 0)
      // GPU 1 has not been checked against the scenario: its slice ids might mean other SMs
      await assert.rejects(
        async () => pg.run(sc.models, uniform(sc.gpu, 2, 4), trace, { dispatch: 'elsa' }, 2 * sc.gpu.smCount),
        /partition g1p0 is on GPU 1, but only GPU 0 is checked/,
      )
      await pg.useGpus(2, sc.gpu)
      const m = await pg.run(
        sc.models,
        uniform(sc.gpu, 2, 4),
        trace,
        { dispatch: 'elsa' },
        2 * sc.gpu.smCount,
      )
      assert.equal(m.gpu?.gpus, 2)
    } finally {
      await pg.close()
    }
  })

  it('refuses --device with several GPUs, and --measure-tables on the simulator', async () => {
    await assert.rejects(
      eclip('paris', '--backend', 'gpu', '--models', scenario, '--gpus', '2', '--device', '1'),
      /--device pins the backend to one GPU, but --gpus 2 needs 2/,
    )
    await assert.rejects(eclip('paris', '--models', scenario, '--measure-tables'), /needs --backend gpu/)
  })
})

describe('eclip-kw through the GPU backend (fake backend)', () => {
  const kwScenario = join(root, 'examples', 'paris-kw.yaml')
  const KW = SCHEMES.filter((s) => s.layout === 'eclip-kw')

  it('sends dedicated workers with their plans and estimates, and gives the simulator’s numbers at noise 0', async () => {
    const sc = loadScenario(kwScenario, { date: '2026-11-22' })
    const kw = await kernelWise(sc, join(root, 'profiles', 'h100'), { seed: 3, windowS: 0.2 })
    const opts = {
      gpus: [2],
      seed: 3,
      noise: 0,
      rates: () => [200, 600],
      windowS: 1,
      schemes: KW,
      kernelWise: kw,
    }
    const { pg, gpu, sim } = await compareBoth(sc, opts, 2)
    assert.deepEqual(
      gpu.results.map((r) => [r.scheme, r.sustainedQps]),
      sim.results.map((r) => [r.scheme, r.sustainedQps]),
    )
    for (const [i, p] of gpu.sweep.entries())
      assert.equal(p.violationRate, sim.sweep[i]?.violationRate, `${p.scheme} at ${p.offeredQps} q/s`)
    // one worker per model per GPU, each only ever serving its own model
    for (const log of pg.logs)
      log.partition.forEach((w, q) => {
        assert.equal(w % sc.models.length, log.trace.model[q], `query ${q} on worker ${w}`)
      })
    // the message: the pool and each (model, batch)'s groups, estimates = the co-located service times
    const parts = kernelWiseWorkers(sc, kw, 1).parts
    const t = makeTrace(sc.models, 1, 50, 1, 0)
    const msg = runMessage(sc.models, parts, t, {
      dispatch: 'elsa',
      serves: sc.models.map((_, i) => i),
      serviceUs: kw.latencyUs,
      kernelWise: kw.server,
    })
    assert.deepEqual(msg.serves, [0, 1, 2, 3])
    assert.equal(msg.kernelWise?.pool.length, kw.server.pool.length)
    assert.deepEqual(msg.kernelWise?.plans[2]?.[1]?.groups, kw.server.workers[2]?.[1]?.groups)
    assert.deepEqual(msg.estUs[1], kw.latencyUs)
    assert.throws(
      () => runMessage(sc.models, parts, t, { dispatch: 'fifo', serves: [0, 1, 2, 3] }),
      /need serviceUs/,
    )
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
    // eclip-kw: a kernel-wise graph per worker (model) per GPU at each of its batches, at most
    const kw = SCHEMES.filter((s) => s.name === 'eclip-kw/fifo')
    assert.deepEqual(plannedCaptures(sc, kw, [2], [2], DEFAULT_PARIS), { captures: 2 * classes, layouts: 1 })
    // two GPUs: the whole of GPU 0 and the whole of GPU 1 are two partitions, each with its own graphs
    assert.deepEqual(plannedCaptures(sc, whole, [2], [2], DEFAULT_PARIS), {
      captures: 2 * classes,
      layouts: 1,
    })
    // 1 then 2 GPUs (compare()'s order): GPU 0's whole-GPU graphs are kept, GPU 1's are new
    assert.deepEqual(plannedCaptures(sc, whole, [1, 2], [2], DEFAULT_PARIS), {
      captures: 2 * classes,
      layouts: 2,
    })
    const uni = SCHEMES.filter((s) => s.name === 'uniform/least-loaded')
    const one = plannedCaptures(sc, uni, 1, [3], DEFAULT_PARIS).captures
    assert.equal(plannedCaptures(sc, uni, 2, [3], DEFAULT_PARIS).captures, 2 * one)
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
    assert.ok(msg.partitions.every((p) => p.gpu === 0))
    // at 2 GPUs every partition names its GPU, and the estimates follow the partitions (one list over both GPUs)
    const two = uniform(sc.gpu, 2, 4)
    const msg2 = runMessage(sc.models, two, trace, { dispatch: 'elsa' })
    assert.deepEqual(
      msg2.partitions.map((p) => p.gpu),
      two.map((p) => p.gpu),
    )
    assert.deepEqual(new Set(msg2.partitions.map((p) => p.gpu)), new Set([0, 1]))
    assert.equal(msg2.estUs.length, two.length)
  })

  it('names the GPU whose layout differs, and writes each query’s GPU to requests.csv', () => {
    assert.throws(() => checkLayout(gpu, { ...gpu, smCount: 144 }, 'GPU 1'), /is not GPU 1's/)
    const trace = makeTrace(loadScenario(scenario, { date: '2026-11-22' }).models, 1, 3, 1, 0)
    const csv = requestsCsv([
      {
        key: 'k',
        dispatch: 'elsa',
        layout: [32, 32, 32, 32],
        gpus: [0, 0, 1, 1],
        models: ['a', 'b', 'c', 'd'],
        batches: [[1], [1], [1], [1]],
        trace,
        releaseUs: [1, 2, 3],
        startUs: [1, 2, 3],
        endUs: [2, 3, 4],
        partition: [3, 0, 2],
        dropped: [0, 0, 0],
      },
    ])
      .trim()
      .split('\n')
    assert.deepEqual(
      csv.slice(1).map((l) => l.split(',').slice(-2)[0]),
      ['1', '0', '1'],
    )
  })
})
