// `eclip serve` as a user runs it: the config, its resolution into models/profiles/plan, the real CLI process
// (clear refusals, SIGTERM draining).
import assert from 'node:assert/strict'
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import YAML from 'yaml'
import type { Gpu } from '../../src/formats/gpu.ts'
import { parseFormat, readFile } from '../../src/formats/index.ts'
import type { Profile } from '../../src/formats/profile.ts'
import type { ServeConfig } from '../../src/formats/serve-config.ts'
import { writeSyntheticProfileDir } from '../../src/profile/synthetic.ts'
import { startServe } from '../../src/serve/index.ts'
import { resolveServeSetup } from '../../src/serve/policies.ts'
import { baselinePlan } from './helpers.ts'

const root = join(import.meta.dirname, '..', '..')
const bin = join(root, 'bin', 'eclip.mjs')
const tmp = () => mkdtempSync(join(tmpdir(), 'eclip-serve-'))

/** A profile directory whose alexnet b1 takes `requestMs` per request on the whole GPU, plus its baseline plan. */
function slowSetup(requestMs: number): { dir: string; plan: string } {
  const dir = tmp()
  writeSyntheticProfileDir(join(dir, 'profiles'), { models: ['alexnet', 'albert'], batch: 1 })
  const file = join(dir, 'profiles', 'alexnet.b1.fp16.json')
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile
  const k = (requestMs * 1000) / (p.requestUs.at(-1) as number)
  p.requestUs = p.requestUs.map((x) => x * k)
  writeFileSync(file, JSON.stringify(p))
  const gpu = readFile<Gpu>('gpu', join(dir, 'profiles', 'gpu.json'))
  const plan = baselinePlan(gpu, [{ name: 'alexnet', model: 'alexnet', batch: 1, dtype: 'fp16' }], [p])
  writeFileSync(join(dir, 'plan.json'), JSON.stringify(plan))
  return { dir, plan: join(dir, 'plan.json') }
}

function writeConfig(dir: string, config: unknown): string {
  const f = join(dir, 'serve.yaml')
  writeFileSync(f, YAML.stringify(config))
  return f
}

/** Spawns the CLI and resolves with the URL once it listens. */
function startCli(config: string): Promise<{ child: ChildProcess; url: string; out: () => string }> {
  const child = spawn(process.execPath, [bin, 'serve', '--config', config, '--port', '0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout?.on('data', (d) => {
    out += d
  })
  child.stderr?.on('data', (d) => {
    out += d
  })
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no listening line in 20 s:\n${out}`)), 20_000)
    child.stdout?.on('data', () => {
      const m = out.match(/listening on (http:\/\/\S+)/)
      if (m) {
        clearTimeout(timer)
        resolve({ child, url: m[1] as string, out: () => out })
      }
    })
    child.on('exit', (code) => reject(new Error(`exited ${code} before listening:\n${out}`)))
  })
}

describe('serve: config', () => {
  it('validates the example config and names the field of a bad one', () => {
    const r = spawnSync(
      process.execPath,
      [bin, 'validate', 'serve-config', join(root, 'examples', 'serve.yaml')],
      {
        encoding: 'utf8',
      },
    )
    assert.equal(r.status, 0, r.stderr)
    assert.throws(
      () =>
        parseFormat<ServeConfig>(
          'serve-config',
          { models: [{ model: 'albert' }, { model: 'albert', batch: 2, maxDynamicBatch: 3 }], colour: 1 },
          'c.yaml',
        ),
      /unknown field\(s\) "colour"/,
    )
    assert.throws(
      () =>
        parseFormat<ServeConfig>(
          'serve-config',
          { models: [{ model: 'albert' }, { model: 'albert', batch: 2, maxDynamicBatch: 3 }] },
          'c.yaml',
        ),
      (e: Error) =>
        /\/models\/1\/name: "albert" is served twice/.test(e.message) &&
        /maxDynamicBatch: 3 requests cannot fit in batch 2/.test(e.message),
    )
  })

  it('resolves models, profiles and a given plan; compute time from the profile at the plan partition', async () => {
    const { dir, plan } = slowSetup(250)
    const configFile = writeConfig(dir, {
      profiles: 'profiles',
      plan: 'plan.json',
      models: [{ model: 'alexnet' }],
    })
    const config = readFile<ServeConfig>('serve-config', configFile)
    const setup = await resolveServeSetup(config, { configFile })
    assert.equal(setup.models[0]?.name, 'alexnet')
    assert.deepEqual(setup.models[0]?.io.inputs[0]?.shape, [-1, 3, 224, 224])
    assert.equal(Math.round(setup.computeTimes.get('alexnet')?.us ?? 0), 250_000)
    assert.match(setup.computeTimes.get('alexnet')?.source ?? '', /profile requestUs at 132 SMs/)
    assert.ok(setup.notes.some((n) => /synthetic/.test(n)))
    assert.equal(setup.workerOptions.get('alexnet')?.maxDynamicBatch, 1)
    // a plan for another model, or for another kernel sequence, is refused
    const other = writeConfig(dir, { profiles: 'profiles', plan: 'plan.json', models: [{ model: 'albert' }] })
    await assert.rejects(
      resolveServeSetup(readFile<ServeConfig>('serve-config', other), { configFile: other }),
      /plan worker 0 is alexnet batch 1 fp16, the config's model 0 is albert batch 1 fp16/,
    )
    // a policy other than the plan's: refused (the plan is served as it is)
    const policy = writeConfig(dir, {
      profiles: 'profiles',
      plan: 'plan.json',
      policy: 'eclip-fit',
      models: [{ model: 'alexnet' }],
    })
    await assert.rejects(
      resolveServeSetup(readFile<ServeConfig>('serve-config', policy), { configFile: policy }),
      /plan\.json: a baseline plan, but the serve config's policy is eclip-fit: leave policy out/,
    )
    const p = JSON.parse(readFileSync(plan, 'utf8'))
    p.workers[0].fingerprint = `sha256:${'0'.repeat(64)}`
    writeFileSync(plan, JSON.stringify(p))
    await assert.rejects(resolveServeSetup(config, { configFile }), /fingerprint differs/)
  })

  it('runs the optimizer when no plan is given, and explains unknown or unprofiled models', async () => {
    const dir = tmp()
    const configFile = writeConfig(dir, {
      policy: 'model-wise',
      models: [{ model: 'albert' }, { model: 'vgg19' }],
    })
    let asked = ''
    const setup = await resolveServeSetup(readFile<ServeConfig>('serve-config', configFile), {
      configFile,
      planner: (a) => {
        asked = `${a.policy}:${a.workers.map((w) => w.name).join(',')}`
        return baselinePlan(a.gpu, a.workers, a.profiles)
      },
    })
    assert.equal(asked, 'model-wise:albert,vgg19')
    assert.equal(setup.models.length, 2)
    const bad = writeConfig(dir, { models: [{ model: 'bert-large' }] })
    await assert.rejects(
      resolveServeSetup(readFile<ServeConfig>('serve-config', bad), { configFile: bad }),
      /"bert-large" is not in the zoo .*needs "source", "inputs" and "outputs"/,
    )
    const user = writeConfig(dir, {
      models: [
        {
          model: 'mynet',
          source: 'mynet.pt',
          inputs: [{ name: 'x', datatype: 'FP32', shape: [16] }],
          outputs: [{ name: 'y', datatype: 'FP32', shape: [2] }],
        },
      ],
    })
    await assert.rejects(
      resolveServeSetup(readFile<ServeConfig>('serve-config', user), { configFile: user }),
      /"mynet" has no synthetic profile; set "profiles"/,
    )
  })
})

describe('serve: eclip-fit at start-up', () => {
  // eclip-fit's overlap prices come from scoring candidate plans on the calibrated simulator; planned without that
  // evaluator it falls back to fixed prices (every worker in its model-wise home) and its notes say so
  for (const withDir of [false, true])
    it(`plans with the simulator as its evaluator (${withDir ? 'a profile directory' : 'synthetic profiles'})`, async () => {
      const dir = tmp()
      if (withDir) writeSyntheticProfileDir(join(dir, 'profiles'), { models: ['albert', 'vgg19'], batch: 1 })
      const configFile = writeConfig(dir, {
        policy: 'eclip-fit',
        ...(withDir ? { profiles: 'profiles' } : {}),
        models: [{ model: 'albert' }, { model: 'vgg19' }],
      })
      const { server } = await startServe({ config: configFile, port: 0 })
      try {
        const plan = server.opts.plan
        assert.equal(plan?.policy, 'eclip-fit')
        const notes = plan?.solver.notes ?? ''
        assert.match(notes, /chosen by the evaluator over \d+ candidate plans/)
        assert.doesNotMatch(notes, /no contention model to choose prices/)
        // where the evaluator's inputs fell back to the simulator's defaults, the start-up notes say so
        assert.ok(
          (server.opts.notes ?? []).some((n) =>
            /^eclip-fit's evaluator: .*contention model not calibrated/.test(n),
          ),
          (server.opts.notes ?? []).join('\n'),
        )
      } finally {
        await server.close()
      }
    })
})

describe('serve: the CLI', () => {
  it('refuses --backend gpu without profiles with a clear reason (exit 2, no stack trace)', () => {
    const r = spawnSync(
      process.execPath,
      [bin, 'serve', '--config', join(root, 'examples', 'serve.yaml'), '--backend', 'gpu'],
      { encoding: 'utf8' },
    )
    assert.equal(r.status, 2)
    assert.match(r.stderr, /the GPU backend needs "profiles"/)
    assert.doesNotMatch(r.stderr, /at .*\.ts:\d+/)
  })

  it('--profiles names the profile directory over the config, from where the command runs', async () => {
    // examples/serve-gpu.yaml names the H100's profiles relative to itself; --profiles names another from the cwd
    const config = join(root, 'examples', 'serve-gpu.yaml')
    const own = await startServe({ config, backend: 'sim', port: 0, grpcPort: null })
    try {
      assert.equal(own.server.opts.models.length, 3)
      assert.doesNotMatch((own.server.opts.notes ?? []).join('\n'), /synthetic/)
    } finally {
      await own.server.close()
    }
    const cwd = process.cwd()
    process.chdir(root)
    try {
      const named = await startServe({
        config,
        backend: 'sim',
        port: 0,
        grpcPort: null,
        profiles: 'profiles/h200',
      })
      try {
        assert.equal(named.config.profiles, join(root, 'profiles', 'h200'))
        assert.match(named.server.opts.plan?.gpu.name ?? '', /H200/)
      } finally {
        await named.server.close()
      }
    } finally {
      process.chdir(cwd)
    }
  })

  it('drains accepted requests on SIGTERM, refuses new ones, then exits 0', async () => {
    const { dir } = slowSetup(400)
    const config = writeConfig(dir, {
      profiles: 'profiles',
      plan: 'plan.json',
      models: [{ model: 'alexnet', queueSize: 8 }],
      // the single-process server (test/serve/frontends.test.ts drains front-ends)
      frontends: 0,
    })
    const { child, url, out } = await startCli(config)
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)))
    try {
      const body = JSON.stringify({
        inputs: [
          { name: 'input', datatype: 'FP16', shape: [1, 3, 224, 224], data: new Array(150528).fill(0) },
        ],
      })
      const infer = () =>
        fetch(`${url}/v2/models/alexnet/infer`, {
          method: 'POST',
          body,
          headers: { 'content-type': 'application/json' },
        }).then(async (r) => ({
          status: r.status,
          connection: r.headers.get('connection'),
          body: (await r.json()) as { parameters: { simulated: boolean } },
        }))
      const t0 = performance.now()
      const accepted = [infer(), infer(), infer()]
      // SIGTERM once all three are accepted (one executing, two queued)
      const deadline = performance.now() + 10_000
      for (;;) {
        const m = await (await fetch(`${url}/metrics`)).text()
        if (/nv_inference_pending_request_count\{model="alexnet",version="1"\} 3/.test(m)) break
        assert.ok(performance.now() < deadline, 'the three requests were not accepted in 10 s')
        await new Promise((r) => setTimeout(r, 10))
      }
      child.kill('SIGTERM')
      await new Promise((r) => setTimeout(r, 100))
      const late = await infer().then(
        (r) => r.status,
        () => 'refused',
      )
      assert.ok(late === 503 || late === 'refused', `a request after SIGTERM got ${late}`)
      const res = await Promise.all(accepted)
      // answered while draining, each closes its connection: the client's next request goes to a fresh one
      assert.deepEqual(
        res.map((r) => [r.status, r.connection]),
        [
          [200, 'close'],
          [200, 'close'],
          [200, 'close'],
        ],
      )
      assert.ok(res.every((r) => r.body.parameters.simulated === true))
      assert.equal(await exited, 0)
      // three 400-ms executions in a row: they ran to the end, none was cut short
      assert.ok(performance.now() - t0 >= 1150)
      assert.match(out(), /SIGTERM: draining accepted requests/)
      assert.match(out(), /drained, exiting/)
    } finally {
      child.kill('SIGKILL')
    }
  })
})

describe('serve: the CLI refuses a busy port', () => {
  it('exits 2 with the address and the reason', async () => {
    const { createServer } = await import('node:net')
    const blocker = createServer()
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r))
    const port = (blocker.address() as { port: number }).port
    try {
      const dir = tmp()
      const config = writeConfig(dir, { policy: 'baseline', models: [{ model: 'alexnet' }] })
      const r = spawnSync(process.execPath, [bin, 'serve', '--config', config, '--port', String(port)], {
        encoding: 'utf8',
      })
      assert.equal(r.status, 2, r.stderr)
      assert.match(r.stderr, new RegExp(`cannot listen on 127.0.0.1:${port} \\(EADDRINUSE\\)`))
    } finally {
      blocker.close()
    }
  })
})
