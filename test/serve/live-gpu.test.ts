// eclip-live's model control on the GPU backend adapter (src/serve/gpu-backend.ts `swap`) without a GPU: the child
// process is gpu_backend_fake.py — the real frame loop, Serving and ModelControl (gpu/eclip_gpu/model_control.py)
// with fake captures, whose executions refuse a plan they were not captured under. Loading and unloading models
// while others serve, their bad inputs and faults, and model control through HTTP front-end processes. The same
// repository on the simulator: live.test.ts; the real captures: gpu/tests_gpu/test_model_control.py.
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import YAML from 'yaml'
import type { ServeConfig } from '../../src/formats/serve-config.ts'
import type { GpuServeBackend } from '../../src/serve/gpu-backend.ts'
import { type Running, startServe } from '../../src/serve/index.ts'
import { modelsToPrepare } from '../../src/serve/setup.ts'
import { backendPython, controlBurst, get, post, unloadWithRequestsQueued, visionBody } from './helpers.ts'

const root = join(import.meta.dirname, '..', '..')

const MODELS = [
  { model: 'alexnet' },
  { model: 'vgg19' },
  { model: 'shufflenet', loaded: false },
  // no profile of alexnet at batch 3 in profiles/h100
  { name: 'alexnet3', model: 'alexnet', batch: 3, loaded: false },
]

/** `eclip serve --backend gpu` under eclip-live over the fake backend (model-wise tables: fast to plan). */
async function gpuLive(
  env: Record<string, string> = {},
  o: { frontends?: number; models?: Record<string, unknown>[]; log?: (line: string) => void } = {},
): Promise<{ run: Running; backend: GpuServeBackend; trigger: (name: string) => void }> {
  const dir = mkdtempSync(join(tmpdir(), 'eclip-live-gpu-'))
  const triggers: Record<string, string> = {}
  for (const name of ['FAKE_CONTROL_FAIL_FILE']) triggers[name] = join(dir, name)
  const config = join(dir, 'serve.yaml')
  writeFileSync(
    config,
    YAML.stringify({
      policy: 'eclip-live',
      backend: 'gpu',
      profiles: join(root, 'profiles', 'h100'),
      frontends: o.frontends ?? 0,
      dashboard: false,
      live: { holdMs: 20, tablePolicy: 'model-wise' },
      models: o.models ?? MODELS,
    }),
  )
  const run = await startServe({
    config,
    port: 0,
    grpcPort: null,
    gpu: {
      python: backendPython({ env: { ...env, ...triggers } }),
      powerPeriodMs: 200,
      log: o.log ?? (() => {}),
    },
  })
  const backend = run.server.opts.backend as GpuServeBackend
  return { run, backend, trigger: (name) => writeFileSync(triggers[name] as string, '') }
}

const liveConfig = (models: Record<string, unknown>[]) =>
  ({ policy: 'eclip-live', models }) as unknown as ServeConfig

const close = (run: Running) => (run.frontends ? run.frontends.close() : run.server.close())
const metric = async (run: Running, name: string) =>
  Number(new RegExp(`^${name} (\\d+)`, 'm').exec((await get(run.server, '/metrics')).body)?.[1])
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('serve eclip-live on the GPU backend: model control (fake captures)', () => {
  it('loads a model into the running backend and unloads one; every plan the server names is captured', async () => {
    const { run, backend } = await gpuLive()
    try {
      const s = run.server
      const pid = backend.process?.pid
      const load = await post(s, '/v2/repository/models/shufflenet/load', {})
      assert.equal(load.statusCode, 200, load.body)
      assert.equal(await metric(run, 'eclip_plan_table_plans'), 7)
      // each model alone, then all three at once: the backend runs each under the plan it names
      for (const m of ['shufflenet', 'alexnet', 'vgg19']) {
        const r = await post(s, `/v2/models/${m}/infer`, visionBody(1, 'FP16', 0.25))
        assert.equal(r.statusCode, 200, r.body)
        assert.ok(r.json().outputs[0].data.every((v: number) => v === 0.25))
      }
      const all = await Promise.all(
        ['shufflenet', 'alexnet', 'vgg19', 'shufflenet'].map((m) =>
          post(s, `/v2/models/${m}/infer`, visionBody()),
        ),
      )
      for (const r of all) assert.equal(r.statusCode, 200, r.body)
      const un = await post(s, '/v2/repository/models/vgg19/unload', {})
      assert.equal(un.statusCode, 200, un.body)
      assert.equal(await metric(run, 'eclip_plan_table_plans'), 3)
      assert.equal((await post(s, '/v2/models/vgg19/infer', visionBody())).statusCode, 404)
      const pair = await Promise.all(
        ['alexnet', 'shufflenet'].map((m) => post(s, `/v2/models/${m}/infer`, visionBody())),
      )
      for (const r of pair) assert.equal(r.statusCode, 200, r.body)
      assert.equal(backend.process?.pid, pid, 'one backend process throughout')
      assert.deepEqual([...backend.transports().keys()].sort(), ['alexnet', 'shufflenet'])
    } finally {
      await close(run)
    }
  })

  it('has the backend import what the models not loaded need before it serves, each model once', async () => {
    const lines: string[] = []
    const { run } = await gpuLive({}, { log: (line) => lines.push(line) })
    try {
      // shufflenet and alexnet3 (an alexnet) are not loaded: two models to prepare, whatever this machine lacks
      const said = lines.filter((l) => l.includes('models of the repository need'))
      assert.equal(said.length, 1, lines.join('\n'))
      assert.match(said[0] as string, /imported what 2 models of the repository need in [\d.]+ s/)
      assert.equal((await post(run.server, '/v2/models/alexnet/infer', visionBody())).statusCode, 200)
    } finally {
      await close(run)
    }
    assert.deepEqual(modelsToPrepare(liveConfig(MODELS)), ['shufflenet', 'alexnet'])
    assert.deepEqual(modelsToPrepare({ ...liveConfig(MODELS), policy: 'eclip-fit' }), [])
    const user = { name: 'mine', model: 'mine', source: 'mine.pt', loaded: false }
    assert.deepEqual(
      modelsToPrepare(liveConfig([...MODELS, user, { model: 'pkg.mod:build', loaded: false }])),
      ['shufflenet', 'alexnet', 'pkg.mod:build'],
    )
  })

  it('refuses an unknown model, one without a profile, unloading twice; the others keep serving', async () => {
    const { run } = await gpuLive()
    try {
      const s = run.server
      const unknown = await post(s, '/v2/repository/models/bert/load', {})
      assert.equal(unknown.statusCode, 400)
      assert.match(unknown.body, /no model \\"bert\\" in the repository/)
      const noProfile = await post(s, '/v2/repository/models/alexnet3/load', {})
      assert.equal(noProfile.statusCode, 400)
      assert.match(noProfile.body, /expected file alexnet\.b3\.fp16\.json/)
      for (const m of ['alexnet', 'vgg19'])
        assert.equal((await post(s, `/v2/models/${m}/infer`, visionBody())).statusCode, 200, m)
      assert.equal((await post(s, '/v2/repository/models/vgg19/unload', {})).statusCode, 200)
      const twice = await post(s, '/v2/repository/models/vgg19/unload', {})
      assert.equal(twice.statusCode, 400)
      assert.match(twice.body, /model \\"vgg19\\" is not loaded \(unloaded\)/)
      assert.equal((await post(s, '/v2/models/alexnet/infer', visionBody())).statusCode, 200)
    } finally {
      await close(run)
    }
  })

  it('a load that fails half way in the backend leaves the table, the served set and the captures', async () => {
    const { run, backend, trigger } = await gpuLive()
    try {
      const s = run.server
      const table = s.opts.live?.table
      trigger('FAKE_CONTROL_FAIL_FILE')
      const r = await post(s, '/v2/repository/models/shufflenet/load', {})
      assert.equal(r.statusCode, 500, r.body)
      assert.match(r.body, /load of \\"shufflenet\\" failed: .*capture under plan .* failed on purpose/)
      assert.equal(s.opts.live?.table, table)
      assert.deepEqual(
        s.models().map((m) => m.name),
        ['alexnet', 'vgg19'],
      )
      assert.deepEqual([...backend.transports().keys()], ['alexnet', 'vgg19'])
      const both = await Promise.all(
        ['alexnet', 'vgg19'].map((m) => post(s, `/v2/models/${m}/infer`, visionBody())),
      )
      for (const x of both) assert.equal(x.statusCode, 200, x.body)
      // the backend dropped what it made: the same load goes through now
      assert.equal((await post(s, '/v2/repository/models/shufflenet/load', {})).statusCode, 200)
      assert.equal((await post(s, '/v2/models/shufflenet/infer', visionBody())).statusCode, 200)
    } finally {
      await close(run)
    }
  })

  it('the others keep serving while a load captures, and a model being unloaded answers what it accepted', async () => {
    const { run } = await gpuLive({ FAKE_CONTROL_DELAY_MS: '300', FAKE_DELAY_MS: '20' })
    try {
      const s = run.server
      const load = post(s, '/v2/repository/models/shufflenet/load', {})
      await sleep(100)
      // shufflenet is captured under four plans, the others under four more: over 2 s of captures; alexnet's
      // requests meanwhile take their execution time, not the load's
      const t0 = performance.now()
      for (let i = 0; i < 5; i++)
        assert.equal((await post(s, '/v2/models/alexnet/infer', visionBody())).statusCode, 200)
      const served = performance.now() - t0
      assert.equal((await load).statusCode, 200)
      assert.ok(served < 1000, `5 requests took ${served.toFixed(0)} ms during the load`)
      // unloading with requests queued: every accepted one is answered; new ones are refused at once
      await unloadWithRequestsQueued(s, 10)
    } finally {
      await close(run)
    }
  })

  it('a burst of loads and unloads runs in order and ends with the backend and the table agreeing', async () => {
    const { run, backend } = await gpuLive()
    try {
      const served = await controlBurst(run.server)
      assert.deepEqual([...backend.transports().keys()].sort(), [...served].sort())
    } finally {
      await close(run)
    }
  })

  it('above 6 models, a set traffic shows is planned and the loaded models captured under it', async () => {
    const seven = ['albert', 'alexnet', 'densenet201', 'resnet152', 'resnext101', 'shufflenet', 'vgg19']
    const { run, backend } = await gpuLive({}, { models: seven.map((model) => ({ model })) })
    try {
      const s = run.server
      const pair = () =>
        Promise.all(['alexnet', 'vgg19'].map((m) => post(s, `/v2/models/${m}/infer`, visionBody())))
      const deadline = performance.now() + 20_000
      while (!s.opts.live?.table.plans.some((e) => e.key === 'alexnet+vgg19')) {
        assert.ok(performance.now() < deadline, 'alexnet+vgg19 was not planned')
        for (const r of await pair()) assert.equal(r.statusCode, 200, r.body)
      }
      // the fake refuses an execution under a plan it was not captured under: these ran under the pair's
      const named: (string | undefined)[] = []
      const infer = backend.infer.bind(backend)
      backend.infer = (req) => {
        named.push(req.plan)
        return infer(req)
      }
      for (let i = 0; i < 5; i++) for (const r of await pair()) assert.equal(r.statusCode, 200, r.body)
      assert.ok(named.includes('alexnet+vgg19'), named.join(', '))
      assert.deepEqual([...backend.transports().keys()].sort(), [...seven].sort())
    } finally {
      await close(run)
    }
  })

  it('model control through HTTP front-end processes', { timeout: 60_000 }, async () => {
    const { run } = await gpuLive({}, { frontends: 2 })
    try {
      const url = run.url
      const call = (path: string, body: unknown = {}) =>
        fetch(`${url}${path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        })
      const before = await call('/v2/models/shufflenet/infer', visionBody())
      assert.equal(before.status, 404)
      assert.match(await before.text(), /not loaded.*\/v2\/repository\/models\/shufflenet\/load/)
      const load = await call('/v2/repository/models/shufflenet/load')
      assert.equal(load.status, 200, await load.text())
      // answered once every front-end knows the model: each request may go to either of them
      for (let i = 0; i < 6; i++) {
        const r = await call('/v2/models/shufflenet/infer', visionBody())
        assert.equal(r.status, 200, await r.text())
      }
      const index = (await (await call('/v2/repository/index')).json()) as { name: string; state: string }[]
      assert.equal(index.find((e) => e.name === 'shufflenet')?.state, 'READY')
      const meta = await fetch(`${url}/v2/models/shufflenet`)
      assert.equal(meta.status, 200)
      const bad = await call('/v2/repository/models/bert/load')
      assert.equal(bad.status, 400)
      assert.match(((await bad.json()) as { error: string }).error, /no model "bert" in the repository/)
      const un = await call('/v2/repository/models/vgg19/unload')
      assert.equal(un.status, 200, await un.text())
      for (let i = 0; i < 4; i++) {
        const r = await call('/v2/models/vgg19/infer', visionBody())
        assert.equal(r.status, 404)
      }
      assert.equal((await fetch(`${url}/v2/models/vgg19`)).status, 404)
    } finally {
      await close(run)
    }
  })
})
