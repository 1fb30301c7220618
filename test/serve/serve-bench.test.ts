// `eclip serve-bench` on the simulator: the CLI end to end (results file, request log, report, baseline ratios, the
// SIMULATED label), errors counted when the server refuses (429), and the client's checks of an infer answer.
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { readFile, type ServeConfig, type ServeResults } from '../../src/formats/index.ts'
import { writeSyntheticProfileDir } from '../../src/profile/synthetic.ts'
import { zooIO } from '../../src/serve/io-specs.ts'
import { binaryInferBody, checkInferAnswer } from '../../src/serve/kserve/client.ts'
import { serveBenchRun } from '../../src/serve-bench/serve-bench.ts'
import { backendPython } from './helpers.ts'

const bin = join(import.meta.dirname, '..', '..', 'bin', 'eclip.mjs')
const tmp = () => mkdtempSync(join(tmpdir(), 'eclip-serve-bench-'))

describe('eclip serve-bench', () => {
  it('keeps the runs it finished when it is stopped before the end (a time limit), marked PARTIAL', async () => {
    const out = tmp()
    // no --policies: baseline beside the policy eclip serve plans by default
    const args = 'serve-bench --mix mix7 --profiles synthetic --duration 0.3 --warmup 0.1'.split(' ')
    const child = spawn(process.execPath, [bin, ...args, '--out', out])
    let stderr = ''
    // stopped as `timeout` stops it, once the second (mix, policy) has started
    await new Promise<void>((resolve) => {
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString()
        if (stderr.includes('[2/2]') && child.exitCode === null) child.kill('SIGKILL')
      })
      child.on('exit', () => resolve())
    })
    assert.match(stderr, /\[2\/2\] mix7 eclip-fit\b/)
    const results = readFile<ServeResults>('serve-results', join(out, 'results.json'))
    assert.deepEqual(
      results.runs.map((x) => x.id),
      ['mix7|baseline|bmix|sim'],
    )
    assert.ok(
      results.provenance.warnings.some((w) => w.startsWith('PARTIAL: 1 of 2 (mix, policy) runs finished')),
      results.provenance.warnings.join('\n'),
    )
    assert.match(readFileSync(join(out, 'report.txt'), 'utf8'), /WARNING: PARTIAL: 1 of 2/)
  })

  it('serves a mix per policy, counts every request of the window and says SIMULATED', () => {
    const out = tmp()
    const r = spawnSync(
      process.execPath,
      [
        bin,
        'serve-bench',
        '--mix',
        'mix1', // 2×albert + densenet201: one model served twice
        '--policies',
        'eclip',
        '--profiles',
        'synthetic',
        '--duration',
        '0.3',
        '--warmup',
        '0.1',
        '--out',
        out,
      ],
      { encoding: 'utf8' },
    )
    assert.equal(r.status, 0, r.stderr)
    const results = readFile<ServeResults>('serve-results', join(out, 'results.json'))
    assert.equal(results.provenance.simulated, true)
    assert.equal(results.provenance.method, 'simulated')
    assert.ok(results.provenance.warnings.some((w) => w.startsWith('SIMULATED')))
    assert.ok(!results.provenance.warnings.some((w) => w.startsWith('PARTIAL')))
    // baseline is always run: the ratios' reference
    assert.deepEqual(
      results.runs.map((x) => x.id),
      ['mix1|baseline|bmix|sim', 'mix1|eclip|bmix|sim'],
    )
    const [base, eclip] = results.runs
    assert.ok(base && eclip)
    assert.ok(results.runs.every((x) => x.simulated && x.metrics.energySource === 'simulated'))
    assert.deepEqual(
      base.workers.map((w) => [w.name, w.served]),
      [
        ['albert#0', 'albert-0'],
        ['albert#1', 'albert-1'],
        ['densenet201#0', 'densenet201-0'],
      ],
    )
    assert.ok(base.config)
    const config = readFile<ServeConfig>('serve-config', join(out, base.config))
    assert.deepEqual(
      config.models.map((m) => m.name),
      ['albert-0', 'albert-1', 'densenet201-0'],
    )
    for (const w of base.workers) {
      assert.equal(w.normVsBaseline, 1)
      assert.equal(w.p95VsBaseline, 1)
    }
    assert.equal(base.metrics.throughputVsBaseline, 1)
    assert.equal(base.metrics.p95VsBaseline, 1)
    assert.equal(base.metrics.energyEffVsBaseline, 1)
    assert.equal(base.metrics.requestsPerJVsBaseline, 1)
    assert.equal(
      eclip.metrics.requestsPerJVsBaseline,
      (eclip.metrics.requestsPerJ as number) / (base.metrics.requestsPerJ as number),
    )
    assert.ok(eclip.workers.every((w) => w.normVsBaseline !== null && w.requests > 0))
    assert.ok((eclip.metrics.energyJ ?? 0) > 0 && (eclip.metrics.requestsPerJ ?? 0) > 0)

    // the request log holds every request; those that ended inside the window are exactly the ones counted
    const log = readFileSync(join(out, 'requests.csv'), 'utf8').trim().split('\n')
    assert.equal(log[0], 'run,worker,request,start_ms,end_ms,status,queue_us,compute_us,scheduled_ms')
    const rows = log.slice(1).map((l) => l.split(','))
    for (const run of results.runs) {
      const from = run.warmupS * 1000
      const to = from + run.windowS * 1000
      for (const w of run.workers) {
        const mine = rows.filter((x) => x[0] === run.id && x[1] === w.name)
        const inWindow = mine.filter((x) => Number(x[4]) > from && Number(x[4]) <= to)
        assert.equal(inWindow.filter((x) => x[5] === '200').length, w.requests, `${run.id} ${w.name}`)
        assert.equal(inWindow.length, w.requests + w.errors)
        assert.equal(w.items, w.requests * w.batch)
        assert.ok(w.requests > 0 && w.latencyUs && w.latencyUs.p95 >= w.latencyUs.p50)
        // the simulator's compute time comes back in every response
        assert.ok((w.serverComputeUs ?? 0) > 0)
      }
      assert.equal(
        run.metrics.requests,
        run.workers.reduce((a, w) => a + w.requests, 0),
      )
    }
    const titles = r.stdout.split('\n').filter((l) => / — /.test(l))
    assert.ok(titles.length >= 6)
    assert.ok(titles.every((t) => t.includes('SIMULATED')))
    assert.match(r.stdout, /^mix1 +1\.00 +\d+\.\d\d$/m)
    // a request's time at the client, split: the queue and the device time the server reported, and the rest
    const split = r.stdout.slice(r.stdout.indexOf("Where a request's time goes"))
    const m = /^mix1 +(\d+) = (\d+) \+ (\d+) \+ (-?\d+)/m.exec(split)
    assert.ok(m, split.slice(0, 400))
    const [latency, queue, compute, rest] = m.slice(1).map(Number) as [number, number, number, number]
    assert.ok(Math.abs(latency - queue - compute - rest) <= 2 && compute > 0 && latency >= compute)
    assert.match(readFileSync(join(out, 'report.txt'), 'utf8'), /mix1 eclip \[sim, SIMULATED, http\]/)
  })

  it('counts refused requests as errors (queue smaller than the clients in flight → 429)', async () => {
    const dir = tmp()
    const { run, calls } = await serveBenchRun({
      mix: { name: 'one', workers: [{ model: 'albert' }] },
      policy: 'baseline',
      backend: 'sim',
      batch: null,
      concurrency: 4,
      queueSize: 1,
      warmupS: 0.05,
      windowS: 0.3,
      seed: 1,
      configFile: join(dir, 'serve.json'),
    })
    const w = run.workers[0]
    assert.ok(w)
    assert.ok(w.requests > 0, 'requests still get through')
    assert.ok(w.errors > 0, 'the refusals are counted')
    assert.ok((w.errorStatuses['429'] ?? 0) > 0)
    assert.equal(
      w.errorsTotal,
      Object.values(w.errorStatuses).reduce((a, b) => a + b, 0),
    )
    assert.equal(run.metrics.errors, w.errors)
    const from = run.warmupS * 1000
    const to = from + run.windowS * 1000
    const inWindow = (calls[0] ?? []).filter((c) => c.endMs > from && c.endMs <= to)
    assert.equal(inWindow.filter((c) => c.ok).length, w.requests)
    assert.equal(inWindow.filter((c) => !c.ok).length, w.errors)
    assert.ok(run.notes.some((n) => /status 429: HTTP 429: .*queue full/.test(n)))
  })
})

/** A "python" that runs the fake backend of gpu-backend.test.ts (the adapter's arguments are ignored). */
const fakePython = (dir: string) => backendPython({ dir })

describe('eclip serve-bench on the GPU backend (the fake backend of gpu-backend.test.ts, no GPU)', () => {
  it('checks real outputs, reads NVML energy, and leaves no backend process behind', async () => {
    const dir = tmp()
    // records the backend's pid (exec keeps it) so the test can tell that the process is gone after the run
    const python = backendPython({ dir, pidFile: join(dir, 'pid') })
    const profiles = join(dir, 'profiles')
    writeSyntheticProfileDir(profiles, { models: ['alexnet'], batch: 1 })
    const { run, device } = await serveBenchRun({
      mix: { name: 'one', workers: [{ model: 'alexnet' }] },
      policy: 'baseline',
      backend: 'gpu',
      batch: null,
      profiles,
      concurrency: 2,
      warmupS: 0.05,
      windowS: 0.3,
      seed: 1,
      configFile: join(dir, 'serve.json'),
      gpu: { python, log: () => {} },
    })
    assert.equal(run.simulated, false)
    assert.equal(run.metrics.energySource, 'nvml')
    const w = run.workers[0]
    assert.ok(w && w.requests > 0)
    assert.equal(w.errorsTotal, 0, run.notes.join('; '))
    assert.equal(device?.gpu, 'NVIDIA H100 80GB HBM3')
    assert.ok(
      run.notes.includes('tensors to and from the backend: alexnet-0 shared memory'),
      run.notes.join('; '),
    )
    // the server process's Node runtime in the window, from its /metrics at the window's edges
    const rt = run.metrics.serverRuntime
    assert.ok(
      rt && rt.gcPauses >= 0 && rt.gcMs >= 0 && (rt.eventLoopDelayMaxMs ?? 0) >= 0,
      JSON.stringify(rt),
    )
    assert.ok(
      run.notes.some((n) =>
        /^server's Node runtime in the window: \d+ garbage-collection pauses, [\d.]+ ms/.test(n),
      ),
      run.notes.join('; '),
    )
    // the host's CPU in the window, per process (Linux /proc)
    if (process.platform === 'linux')
      assert.ok(
        run.notes.some((n) =>
          /^host CPU in the window: server [\d.]+ cores \(event loop [\d.]+\), clients [\d.]+, backend [\d.]+; per request: server [\d.]+ ms/.test(
            n,
          ),
        ),
        run.notes.join('; '),
      )
    const pid = Number(readFileSync(join(dir, 'pid'), 'utf8'))
    assert.throws(() => process.kill(pid, 0), /ESRCH/)
  })

  it('the CLI records the backend’s versions in the provenance, hardware queues included (as eclip bench does)', () => {
    const dir = tmp()
    const profiles = join(dir, 'profiles')
    writeSyntheticProfileDir(profiles, { models: ['alexnet'], batch: 1 })
    const mix = join(dir, 'mix.yaml')
    writeFileSync(mix, 'format: eclip.mixes/1\nmixes:\n  - { name: one, workers: [ { model: alexnet } ] }\n')
    const out = join(dir, 'out')
    const r = spawnSync(
      process.execPath,
      [
        bin,
        'serve-bench',
        '--backend',
        'gpu',
        '--mix',
        mix,
        '--policies',
        'baseline',
        '--profiles',
        profiles,
        '--duration',
        '0.2',
        '--warmup',
        '0.05',
        '--out',
        out,
      ],
      // the fake reports CUDA_DEVICE_MAX_CONNECTIONS the way eclip_gpu.cuda.versions() does
      {
        encoding: 'utf8',
        env: { ...process.env, ECLIP_PYTHON: fakePython(dir), CUDA_DEVICE_MAX_CONNECTIONS: '32' },
      },
    )
    assert.equal(r.status, 0, r.stderr)
    const results = readFile<ServeResults>('serve-results', join(out, 'results.json'))
    const p = results.provenance as Record<string, unknown>
    assert.equal(p.cudaDeviceMaxConnections, '32')
    assert.equal(p.torch, 'fake')
    assert.equal(p.backend, 'gpu')
    assert.equal(p.gpu, 'NVIDIA H100 80GB HBM3')
  })

  it('clients in the server’s process (as before) and FP32 images for an FP16 model: outputs checked', async () => {
    const dir = tmp()
    const profiles = join(dir, 'profiles')
    writeSyntheticProfileDir(profiles, { models: ['alexnet'], batch: 2 })
    const { run } = await serveBenchRun({
      mix: { name: 'one', workers: [{ model: 'alexnet', batch: 2 }] },
      policy: 'baseline',
      backend: 'gpu',
      batch: null,
      profiles,
      concurrency: 2,
      warmupS: 0.05,
      windowS: 0.3,
      seed: 1,
      inputDatatype: 'FP32',
      clients: 'in-process',
      configFile: join(dir, 'serve.json'),
      gpu: { python: fakePython(dir), log: () => {} },
    })
    const w = run.workers[0]
    assert.ok(w && w.requests > 0)
    assert.equal(w.errorsTotal, 0, run.notes.join('; '))
    assert.ok((run.metrics.eventLoopUtilisation ?? 0) > 0)
  })
})

describe('eclip serve-bench --backend gpu: the profiles of the GPU the backend reports (fake backend)', () => {
  const repo = join(import.meta.dirname, '..', '..')
  /** serve-bench of a one-model mix on the fake backend, which reports its GPU under `gpuName`. */
  const serveBench = (gpuName: string, extra: string[] = []) => {
    const dir = tmp()
    const mix = join(dir, 'mix.yaml')
    writeFileSync(mix, 'format: eclip.mixes/1\nmixes:\n  - { name: one, workers: [ { model: alexnet } ] }\n')
    const out = join(dir, 'out')
    const python = backendPython({ dir, env: { FAKE_GPU_NAME: gpuName } })
    const args = ['serve-bench', '--backend', 'gpu', '--mix', mix, '--policies', 'baseline']
    args.push('--duration', '0.2', '--warmup', '0.05', ...extra, '--out', out)
    const r = spawnSync(process.execPath, [bin, ...args], {
      encoding: 'utf8',
      env: { ...process.env, ECLIP_PYTHON: python },
    })
    return { r, out }
  }

  it('without --profiles, on an H200, serves from the shipped profiles/h200', () => {
    const { r, out } = serveBench('NVIDIA H200')
    assert.equal(r.status, 0, r.stderr)
    const results = readFile<ServeResults>('serve-results', join(out, 'results.json'))
    assert.match(results.provenance.notes ?? '', /profiles: .*profiles\/h200($|;)/)
    assert.equal(results.provenance.gpu, 'NVIDIA H200')
    assert.equal(results.runs.length, 1)
    assert.deepEqual(results.provenance.warnings, [])
  })

  it('refuses a GPU no shipped directory was made on, before any run', () => {
    const { r } = serveBench('NVIDIA H20')
    assert.equal(r.status, 2, r.stderr)
    assert.match(r.stderr, /the GPU backend runs on NVIDIA H20, 132 SMs/)
    assert.match(r.stderr, /profiles\/h200 \(NVIDIA H200, 132 SMs/)
    assert.match(r.stderr, /eclip\.mjs profile /)
    assert.doesNotMatch(r.stderr, /\[1\/1\]/)
  })

  it('an explicit --profiles of another GPU is refused once, before any run', () => {
    const { r } = serveBench('NVIDIA H200', ['--profiles', join(repo, 'profiles', 'h100')])
    assert.equal(r.status, 2, r.stderr)
    assert.equal((r.stderr.match(/made for another GPU/g) ?? []).length, 1, r.stderr)
    assert.doesNotMatch(r.stderr, /\[1\/1\]/)
  })
})

describe('infer answers', () => {
  const io = zooIO('alexnet', 'fp16')
  assert.ok(io)
  const req = binaryInferBody(io, 2, () => 0.5)

  it('builds a binary request of full-batch inputs asking for binary outputs', () => {
    const head = JSON.parse(req.body.subarray(0, req.headerLength).toString('utf8'))
    assert.deepEqual(head.inputs[0].shape, [2, 3, 224, 224])
    assert.equal(req.body.length - req.headerLength, 2 * 3 * 224 * 224 * 2)
    assert.deepEqual(head.outputs, [{ name: 'logits', parameters: { binary_data: true } }])
  })

  it('takes a 200 only with the outputs asked for, unless the server says it simulated', () => {
    const answer = (head: object, data = Buffer.alloc(0)) => {
      const h = Buffer.from(JSON.stringify(head))
      return checkInferAnswer(200, String(h.length), Buffer.concat([h, data]), req)
    }
    const logits = {
      name: 'logits',
      datatype: 'FP16',
      shape: [2, 1000],
      parameters: { binary_data_size: 4000 },
    }
    assert.equal(answer({ outputs: [logits], parameters: { compute_us: 7 } }, Buffer.alloc(4000)).ok, true)
    assert.equal(answer({ outputs: [logits] }, Buffer.alloc(3998)).ok, false)
    assert.equal(answer({ outputs: [{ ...logits, shape: [1, 1000] }] }, Buffer.alloc(4000)).ok, false)
    assert.match(answer({ outputs: [] }).error ?? '', /output "logits" missing/)
    const sim = answer({ outputs: [], parameters: { simulated: true, queue_us: 3, compute_us: 9 } })
    assert.deepEqual([sim.ok, sim.simulated, sim.queueUs, sim.computeUs], [true, true, 3, 9])
    const refused = checkInferAnswer(429, undefined, Buffer.from('{"error":"queue full"}'), req)
    assert.deepEqual([refused.ok, refused.error], [false, 'HTTP 429: queue full'])
  })
})
