// The server on the GPU backend adapter (src/serve/gpu-backend.ts) without a GPU: the child process is
// gpu_backend_fake.py — the real frame loop and the real Serving (threads, queues, send lock) of gpu/eclip_gpu, with
// fake captures whose outputs are a known function of the input. What is tested is the server's handling: real
// outputs through the frames, concurrency, a crash mid-request (503 within 1 s, restart, readiness), a hung backend,
// a non-fatal error, a load that fails, no orphan process. The real captures are tested in gpu/tests_gpu.
import assert from 'node:assert/strict'
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import YAML from 'yaml'
import { BackendCrash } from '../../src/execute/gpu/client.ts'
import { writeSyntheticProfileDir } from '../../src/profile/synthetic.ts'
import {
  AHEAD_COVER_US,
  aheadByGpuTime,
  DEFAULT_AHEAD,
  GpuServeBackend,
  type GpuServeOptions,
  MAX_AHEAD,
} from '../../src/serve/gpu-backend.ts'
import { startServe } from '../../src/serve/index.ts'
import { EclipServer } from '../../src/serve/server.ts'
import {
  albertBody,
  backendPython,
  ECHO_BACKEND,
  FAKE_BACKEND,
  get,
  post,
  servedModels,
  type TestModel,
  visionBody,
} from './helpers.ts'

/** A "python" for the adapter to spawn: runs the fake backend with `env` (the adapter's arguments are ignored). */
const fakePython = (env: Record<string, string> = {}) => backendPython({ env })

/** A file whose existence arms one misbehaviour of the fake (consumed by the first process that sees it). */
function trigger(): string {
  const f = join(mkdtempSync(join(tmpdir(), 'eclip-trigger-')), 'armed')
  writeFileSync(f, '')
  return f
}

async function gpuServer(
  models: TestModel[],
  env: Record<string, string> = {},
  opts: Partial<GpuServeOptions> = {},
  restartDelayMs = 50,
): Promise<{ s: EclipServer; backend: GpuServeBackend }> {
  const { models: served, opts: wo } = servedModels(models)
  const backend = new GpuServeBackend({ python: fakePython(env), powerPeriodMs: 100, ...opts })
  const s = new EclipServer({ models: served, workerOptions: wo, backend, logger: false, restartDelayMs })
  await s.load()
  return { s, backend }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
async function until(cond: () => boolean | Promise<boolean>, ms = 10_000) {
  const deadline = performance.now() + ms
  while (!(await cond())) {
    assert.ok(performance.now() < deadline, `condition not met in ${ms} ms`)
    await sleep(10)
  }
}
function alive(pid: number | undefined): boolean {
  if (!pid) return false
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe('serve on the GPU backend process (fake captures)', () => {
  it('returns the backend’s outputs (JSON and binary), not simulated, with its compute time', async () => {
    const { s } = await gpuServer([
      { name: 'vgg19', model: 'vgg19', batch: 4, maxDynamicBatch: 1 },
      { name: 'albert', model: 'albert', batch: 2 },
    ])
    try {
      assert.equal((await get(s, '/v2/health/ready')).statusCode, 200)
      const r = await post(s, '/v2/models/vgg19/infer', visionBody(3, 'FP16', 0.5))
      assert.equal(r.statusCode, 200, r.body)
      const j = r.json()
      assert.equal(j.outputs[0].name, 'logits')
      assert.equal(j.outputs[0].datatype, 'FP16')
      assert.deepEqual(j.outputs[0].shape, [3, 1000])
      assert.equal(j.outputs[0].data.length, 3000)
      assert.ok(j.outputs[0].data.every((v: number) => v === 0.5))
      assert.equal(j.parameters.simulated, undefined) // a real output: no simulated marker
      assert.equal(j.parameters.note, undefined)
      assert.equal(j.parameters.compute_us, 123)
      // FP32 input for the FP16 model: the bytes go as FP32 and the backend converts
      const r32 = await post(s, '/v2/models/vgg19/infer', visionBody(1, 'FP32', 2.25))
      assert.equal(r32.statusCode, 200, r32.body)
      assert.ok(r32.json().outputs[0].data.every((v: number) => v === 2.25))
      // binary output
      const rb = await post(s, '/v2/models/albert/infer', {
        ...albertBody(1, 42),
        outputs: [{ name: 'last_hidden_state', parameters: { binary_data: true } }],
      })
      assert.equal(rb.statusCode, 200, rb.body)
      const n = Number(rb.headers['inference-header-content-length'])
      const raw = rb.rawPayload.subarray(n)
      assert.equal(raw.length, 128 * 768 * 2)
      assert.equal(raw.readUInt16LE(0), 0x5140) // 42 as FP16
    } finally {
      await s.close()
    }
  })

  it('sends ahead, for requests in shared memory, enough executions to cover AHEAD_COVER_US of each model', async () => {
    assert.deepEqual([0, 100, 375, 700, 1500, 2000, 50_000].map(aheadByGpuTime), [2, 8, 8, 5, 2, 2, 2])
    const models: TestModel[] = [{ name: 'vgg19', model: 'vgg19', batch: 4, maxDynamicBatch: 1 }]
    for (const [us, want] of [
      ['700', Math.ceil(AHEAD_COVER_US / 700)],
      ['123.4', MAX_AHEAD],
      ['20000', DEFAULT_AHEAD],
      // a moving average that weighs the latest reply 0.1: 3000, 2710, 2449 µs (a plain mean, 1067, would send 3)
      ['3000,100,100', DEFAULT_AHEAD],
      // 100, 390, 651 µs: 5 (the first alone would send 8, a plain mean or the latest 2)
      ['100,3000,3000', 5],
    ] as const) {
      const { s, backend } = await gpuServer(models, { FAKE_COMPUTE_US: us })
      try {
        assert.equal(backend.executionsAhead('vgg19', true), DEFAULT_AHEAD) // nothing timed yet
        for (let i = 0; i < 3; i++)
          assert.equal((await post(s, '/v2/models/vgg19/infer', visionBody(1))).statusCode, 200)
        assert.equal(backend.executionsAhead('vgg19', true), want, `${us} µs`)
        // a request through the model's ring: as many as the ring has room for
        assert.equal(backend.executionsAhead('vgg19', false), DEFAULT_AHEAD)
      } finally {
        await s.close()
      }
    }
    // a count asked for (ECLIP_SERVE_AHEAD, the option) holds for every model and request
    const { s, backend } = await gpuServer(models, { FAKE_COMPUTE_US: '700' }, { ahead: 3 })
    try {
      assert.equal((await post(s, '/v2/models/vgg19/infer', visionBody(1))).statusCode, 200)
      assert.deepEqual(
        [backend.executionsAhead('vgg19', true), backend.executionsAhead('vgg19', false)],
        [3, 3],
      )
    } finally {
      await s.close()
    }
  })

  it('runs requests of different models concurrently and splits a merged execution back to each caller', async () => {
    const { s } = await gpuServer(
      [
        { name: 'albert', model: 'albert', batch: 4, maxDynamicBatch: 4 },
        { name: 'alexnet', model: 'alexnet', batch: 1 },
      ],
      { FAKE_DELAY_MS: '300' },
    )
    try {
      const t0 = performance.now()
      const doneAt: number[] = []
      const timed = (i: number, p: ReturnType<typeof post>) =>
        p.then((r) => {
          doneAt[i] = performance.now() - t0
          return r
        })
      const res = await Promise.all([
        ...[1, 2, 3, 4, 5].map((tok, i) => timed(i, post(s, '/v2/models/albert/infer', albertBody(1, tok)))),
        timed(5, post(s, '/v2/models/alexnet/infer', visionBody(1, 'FP16', -1))),
      ])
      for (const [i, r] of res.slice(0, 5).entries()) {
        assert.equal(r.statusCode, 200, r.body)
        const out = r.json().outputs[0]
        assert.deepEqual(out.shape, [1, 128, 768])
        assert.equal(out.data[0], i + 1)
        assert.equal(out.data[out.data.length - 1], i + 1)
      }
      assert.equal(res[5]?.json().outputs[0].data[0], -1)
      // albert needs ≥ 2 executions of 300 ms one after the other; alexnet's runs alongside, on its own thread
      const albertLast = Math.max(...doneAt.slice(0, 5))
      assert.ok(
        (doneAt[5] ?? 0) < albertLast - 150,
        `alexnet at ${doneAt[5]} ms, albert's last at ${albertLast} ms`,
      )
      assert.ok(res.slice(0, 5).some((r) => r.json().parameters.batched_requests > 1))
    } finally {
      await s.close()
    }
  })

  it('answers a non-fatal backend error 500 and keeps serving', async () => {
    const { s, backend } = await gpuServer([{ name: 'albert', model: 'albert' }])
    try {
      const pid = backend.process?.pid
      const r = await post(s, '/v2/models/albert/infer', albertBody(1, 13))
      assert.equal(r.statusCode, 500)
      assert.match(r.json().error, /unlucky input/)
      assert.equal((await get(s, '/v2/health/ready')).statusCode, 200)
      assert.equal((await post(s, '/v2/models/albert/infer', albertBody(1, 3))).statusCode, 200)
      assert.equal(backend.process?.pid, pid)
    } finally {
      await s.close()
    }
  })

  it('a CUDA error mid-request: every accepted request 503 within 1 s, not ready, restarted, serving again', async () => {
    const crash = trigger()
    const { s, backend } = await gpuServer(
      [
        { name: 'albert', model: 'albert', maxDynamicBatch: 1 },
        { name: 'vgg19', model: 'vgg19' },
      ],
      // the crash (300 ms into whichever execution takes the trigger) comes before any other execution ends (600 ms)
      { FAKE_CRASH_FILE: crash, FAKE_CRASH_DELAY_MS: '300', FAKE_DELAY_MS: '600' },
      {},
      300,
    )
    try {
      const pid = backend.process?.pid
      const t0 = performance.now()
      const accepted = [
        ...[1, 2, 3].map((t) => post(s, '/v2/models/albert/infer', albertBody(1, t))),
        post(s, '/v2/models/vgg19/infer', visionBody()),
      ]
      const res = await Promise.all(accepted)
      const ms = performance.now() - t0
      assert.ok(ms < 1000 + 300, `answered after ${ms} ms`)
      for (const r of res) {
        assert.equal(r.statusCode, 503, r.body)
        assert.equal(r.headers['retry-after'], '1')
      }
      assert.ok(res.some((r) => /illegal memory access|fatal CUDA error/.test(r.json().error)))
      assert.equal(alive(pid), false, 'the poisoned process is gone')
      assert.equal((await get(s, '/v2/health/ready')).statusCode, 503)
      assert.equal((await post(s, '/v2/models/albert/infer', albertBody())).statusCode, 503)
      await until(async () => (await get(s, '/v2/health/ready')).statusCode === 200)
      assert.notEqual(backend.process?.pid, pid)
      const ok = await post(s, '/v2/models/vgg19/infer', visionBody(1, 'FP16', 0.25))
      assert.equal(ok.statusCode, 200, ok.body)
      assert.equal(ok.json().outputs[0].data[0], 0.25)
      assert.match((await get(s, '/metrics')).body, /eclip_backend_restarts_total 1/)
    } finally {
      await s.close()
    }
  })

  it('kills a backend that stops answering, answers 503, restarts it', async () => {
    const hang = trigger()
    const { s, backend } = await gpuServer(
      [{ name: 'albert', model: 'albert' }],
      { FAKE_HANG_FILE: hang },
      {
        inferTimeoutS: 0.5,
      },
    )
    try {
      const pid = backend.process?.pid
      const r = await post(s, '/v2/models/albert/infer', albertBody())
      assert.equal(r.statusCode, 503)
      assert.match(r.json().error, /did not answer infer within 0.5 s; it was killed/)
      await until(() => !alive(pid))
      await until(async () => (await get(s, '/v2/health/ready')).statusCode === 200)
      assert.equal((await post(s, '/v2/models/albert/infer', albertBody())).statusCode, 200)
    } finally {
      await s.close()
    }
  })

  it('retries a restart whose load fails, and serves once one succeeds', async () => {
    const crash = trigger()
    const loadFail = join(mkdtempSync(join(tmpdir(), 'eclip-trigger-')), 'armed')
    const { s, backend } = await gpuServer(
      [{ name: 'albert', model: 'albert' }],
      { FAKE_CRASH_FILE: crash, FAKE_LOAD_FAIL_FILE: loadFail },
      {},
      20,
    )
    try {
      writeFileSync(loadFail, '') // the first restart's load fails
      assert.equal((await post(s, '/v2/models/albert/infer', albertBody())).statusCode, 503)
      // the fatal error's reply can come before the process's exit: wait for the failed load, then readiness
      await until(() => !existsSync(loadFail))
      await until(async () => (await get(s, '/v2/health/ready')).statusCode === 200)
      assert.match((await get(s, '/metrics')).body, /eclip_backend_restarts_total 1/)
      assert.equal((await post(s, '/v2/models/albert/infer', albertBody(1, 9))).json().outputs[0].data[0], 9)
      assert.ok(backend.process?.pid)
    } finally {
      await s.close()
    }
  })

  it('reports NVML power as measured, energy never going back across a restart', async () => {
    const crash = trigger()
    const { s, backend } = await gpuServer([{ name: 'albert', model: 'albert' }], { FAKE_CRASH_FILE: crash })
    try {
      await until(() => (backend.power()?.energyJ ?? 0) > 10)
      const p = backend.power()
      assert.equal(p?.source, 'nvml')
      assert.equal(p?.watts, 250)
      assert.equal(p?.gpu, 'NVIDIA H100 80GB HBM3')
      const before = p?.energyJ ?? 0
      await post(s, '/v2/models/albert/infer', albertBody())
      await until(async () => (await get(s, '/v2/health/ready')).statusCode === 200)
      // the new process counts from 0 again; the total goes on from where the old one stopped
      assert.ok((backend.power()?.energyJ ?? 0) >= before)
      await until(() => (backend.power()?.energyJ ?? 0) > before)
      assert.match((await get(s, '/metrics')).body, /nv_gpu_power_usage\{[^}]*\} 250/)
    } finally {
      await s.close()
    }
  })

  it('refuses at load a capture that does not match what the server promises, and leaves no process', async () => {
    const { models, opts } = servedModels([{ name: 'albert', model: 'albert', batch: 2 }])
    // the server promises 64-token sequences; the fake captures 128
    const m = models[0]
    assert.ok(m)
    m.io = { ...m.io, inputs: [{ name: 'input_ids', datatype: 'INT64', shape: [-1, 64] }] }
    const backend = new GpuServeBackend({ python: fakePython() })
    const s = new EclipServer({ models, workerOptions: opts, backend, logger: false })
    await assert.rejects(s.load(), /input input_ids captured as \[2,128\], served as \[2,64\]/)
    assert.equal(backend.process, null)
    await s.close()
  })

  it('a model that fails to load: the backend process is gone when load rejects, nothing left unhandled', async () => {
    // the echo backend (bench/serve_echo_backend.py: the real frame loop and Serving) captures albert with 128
    // tokens, the server promises 64: refused at load; and the fake answering an error to load
    const cases: { script: string; env: Record<string, string>; io: number[]; why: RegExp }[] = [
      { script: ECHO_BACKEND, env: {}, io: [-1, 64], why: /captured as \[1,128\], served as \[1,64\]/ },
      {
        script: FAKE_BACKEND,
        env: { FAKE_LOAD_FAIL_FILE: trigger() },
        io: [-1, 128],
        why: /capture failed on purpose/,
      },
    ]
    const unhandled: unknown[] = []
    const onUnhandled = (e: unknown) => unhandled.push(e)
    process.on('unhandledRejection', onUnhandled)
    try {
      for (const c of cases) {
        const dir = mkdtempSync(join(tmpdir(), 'eclip-loadfail-'))
        // records its pid (exec keeps it): the test can tell whether the process is gone
        const py = backendPython({ script: c.script, env: c.env, dir, pidFile: join(dir, 'pid') })
        const { models, opts } = servedModels([{ name: 'albert', model: 'albert' }])
        const m = models[0]
        assert.ok(m)
        m.io = { ...m.io, inputs: [{ name: 'input_ids', datatype: 'INT64', shape: c.io }] }
        const backend = new GpuServeBackend({ python: py, log: () => {} })
        const s = new EclipServer({ models, workerOptions: opts, backend, logger: false })
        await assert.rejects(s.load(), c.why)
        // at once, without waiting: the process has exited and been reaped (no orphan, no zombie)
        const pid = Number(readFileSync(join(dir, 'pid'), 'utf8'))
        assert.ok(pid > 0)
        assert.equal(alive(pid), false, `backend ${pid} still there after the failed load`)
        assert.equal(backend.process, null)
        await s.close()
      }
      await sleep(50) // a rejection nobody handled surfaces after a turn of the event loop
      assert.deepEqual(unhandled, [])
    } finally {
      process.off('unhandledRejection', onUnhandled)
    }
  })

  it('a backend that dies at start-up is reported, not waited for', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eclip-fakegpu-'))
    const f = join(dir, 'python')
    writeFileSync(f, '#!/usr/bin/env bash\nexit 3\n')
    chmodSync(f, 0o755)
    const backend = new GpuServeBackend({ python: f })
    await assert.rejects(
      backend.load(servedModels([{ name: 'a', model: 'albert' }]).models),
      (e: unknown) => {
        return e instanceof BackendCrash && /exited \(code 3\): fatal CUDA error/.test(e.message)
      },
    )
  })

  it('close() shuts the backend process down', async () => {
    const { s, backend } = await gpuServer([{ name: 'albert', model: 'albert' }])
    const pid = backend.process?.pid
    assert.ok(alive(pid))
    await s.close()
    await until(() => !alive(pid))
    assert.equal(backend.isReady(), false)
  })

  it('eclip serve --backend gpu: startServe wires the GPU backend (profiles required), real outputs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eclip-servegpu-'))
    writeSyntheticProfileDir(join(dir, 'profiles'), { models: ['alexnet', 'albert'], batch: 2 })
    const config = join(dir, 'serve.yaml')
    writeFileSync(
      config,
      YAML.stringify({
        format: 'eclip.serve/1',
        policy: 'model-wise',
        profiles: 'profiles',
        models: [
          { model: 'alexnet', batch: 2 },
          { model: 'albert', batch: 2 },
        ],
      }),
    )
    const { server, url } = await startServe({
      config,
      port: 0,
      backend: 'gpu',
      gpu: { python: fakePython(), log: () => {} },
    })
    try {
      assert.equal(server.opts.backend.kind, 'gpu')
      const res = await fetch(`${url}/v2/models/alexnet/infer`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(visionBody(2, 'FP16', 1.5)),
      })
      assert.equal(res.status, 200)
      const j = (await res.json()) as { outputs: { shape: number[]; data: number[] }[] }
      assert.deepEqual(j.outputs[0]?.shape, [2, 1000])
      assert.equal(j.outputs[0]?.data[1999], 1.5)
      const cfg = (await (await fetch(`${url}/v2/models/albert/config`)).json()) as Record<string, unknown>
      assert.equal(JSON.stringify(cfg).includes('"simulated":false'), true)
    } finally {
      await server.close()
    }
  })
})
