// `eclip serve` with policy paris-elsa, without a GPU: ELSA's online dispatcher against the simulator's rules (one
// trace through both, in virtual time), then the server end to end on the sim backend (HTTP through inject(): the
// partition each request went to is the one the ELSA rules choose; metrics, dashboard, queue limit, timeouts,
// drain, crash and restart), config errors naming their field, the CLI's --gpus, and the GPU path through the fake
// Python backend (the real frame loop and Serving: each request runs on the worker of the partition it names).
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import YAML from 'yaml'
import {
  type Gpu,
  type LatencyTable,
  partitionSizes,
  readFile,
  type ServeConfig,
} from '../../src/formats/index.ts'
import { elsaChoose } from '../../src/paris/elsa.ts'
import { latencyUs } from '../../src/paris/latency.ts'
import { paris } from '../../src/paris/partition.ts'
import { loadScenario } from '../../src/paris/scenario.ts'
import { makeTrace, simulateQueries } from '../../src/paris/sim.ts'
import { syntheticH100Gpu } from '../../src/profile/synthetic.ts'
import { startServe } from '../../src/serve/index.ts'
import {
  ParisBackend,
  type ParisModel,
  type PartitionExecutor,
  SimPartitions,
} from '../../src/serve/paris-backend.ts'
import { ElsaDispatcher } from '../../src/serve/paris-dispatch.ts'
import { ParisElsa } from '../../src/serve/paris-elsa.ts'
import { resolveServeSetup } from '../../src/serve/policies.ts'
import { EclipServer } from '../../src/serve/server.ts'
import { albertBody, backendPython, get, post } from './helpers.ts'

const root = join(import.meta.dirname, '..', '..')
const bin = join(root, 'bin', 'eclip.mjs')
const tmp = () => mkdtempSync(join(tmpdir(), 'eclip-serve-paris-'))
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
async function until(cond: () => boolean, ms = 10_000) {
  const deadline = performance.now() + ms
  while (!cond()) {
    assert.ok(performance.now() < deadline, `condition not met in ${ms} ms`)
    await sleep(2)
  }
}

describe('serve paris-elsa: the dispatcher follows the simulator’s rules', () => {
  const sc = loadScenario(join(root, 'examples', 'paris.yaml'), { date: '2026-11-22' })
  for (const [gpus, scale, dispatch] of [
    [1, 0.8, 'elsa'],
    [2, 2, 'elsa'],
    [2, 2, 'least-loaded'],
  ] as const)
    it(`${gpus} GPU(s), load ×${scale}, ${dispatch}: the same partition and completion for every query`, async () => {
      const parts = paris(sc, gpus).partitions
      const trace = makeTrace(sc.models, scale, 1500, 7, 0.05)
      const sim = simulateQueries(sc.models, parts, trace, { dispatch })
      // the online dispatcher on the same trace in virtual time: a run completes after its estimate × the trace's
      // noise (the simulator's service time); completions before arrivals at the same instant, as the simulator
      let clock = 0
      let seq = 0
      const pending: { t: number; seq: number; q: number; done: () => void }[] = []
      const servedOn = new Int32Array(trace.arrival.length).fill(-1)
      const doneAt = new Float64Array(trace.arrival.length)
      const est = (q: number, pi: number) => {
        const m = sc.models[trace.model[q] as number]
        assert.ok(m)
        return latencyUs(m.table, m.batches[trace.batchIdx[q] as number] as number, parts[pi]?.sms as number)
      }
      const d = new ElsaDispatcher<number, number>(
        parts.map((p) => p.sms),
        est,
        (pi, q) =>
          new Promise((resolve) => {
            servedOn[q] = pi
            pending.push({
              t: clock + est(q, pi) * (trace.noise[q] as number),
              seq: seq++,
              q,
              done: () => resolve(q),
            })
          }),
        { now: () => clock, dispatch },
      )
      let next = 0
      let waited = 0
      while (next < trace.arrival.length || pending.length > 0) {
        let first = -1
        pending.forEach((p, i) => {
          const f = pending[first]
          if (!f || p.t < f.t || (p.t === f.t && p.seq < f.seq)) first = i
        })
        const top = pending[first]
        const arrival =
          next < trace.arrival.length ? (trace.arrival[next] as number) : Number.POSITIVE_INFINITY
        if (top && top.t <= arrival) {
          pending.splice(first, 1)
          clock = top.t
          doneAt[top.q] = top.t
          top.done()
          await new Promise((r) => setImmediate(r)) // the dispatcher hears of it and starts the next query
          continue
        }
        clock = arrival
        const q = next++
        const m = sc.models[trace.model[q] as number]
        void d.submit(q, m?.sloUs ?? 0)
        if (servedOn[q] === -1) waited++
      }
      assert.deepEqual([...servedOn], [...sim.servedOn])
      for (let q = 0; q < trace.arrival.length; q++)
        assert.ok(Math.abs((doneAt[q] as number) - (sim.done[q] as number)) < 1e-6, `query ${q}`)
      assert.ok(waited > 50, `only ${waited} queries queued: the trace does not exercise the backlogs`)
      assert.ok(new Set(sim.servedOn).size > 3)
    })
})

/**
 * A hand-made albert table on the synthetic H100 layout: latency = serial + parallel/SMs, in µs, per batch. Slow
 * enough that nothing completes while a burst of requests arrives.
 */
function albertTable(gpu: Gpu, rows: Record<number, [number, number]>): LatencyTable {
  const sizes = partitionSizes(gpu)
  const batches = Object.keys(rows)
    .map(Number)
    .sort((a, b) => a - b)
  return {
    format: 'eclip.latency-table/1',
    gpu: { name: gpu.name, smCount: gpu.smCount, sliceSize: gpu.sliceSize },
    model: 'albert',
    dtype: 'fp16',
    batches,
    sizes,
    latencyUs: batches.map((b) => {
      const [serial, parallel] = rows[b] as [number, number]
      return sizes.map((s) => serial + parallel / s)
    }),
    measured: { date: '2026-11-22', method: 'hand-made (test)', tool: 'test/serve/paris.test.ts' },
  }
}

/** A paris-elsa config on the sim backend serving albert (batches 1 and 8) from the table above. */
function albertConfig(extra: Record<string, unknown> = {}, model: Record<string, unknown> = {}) {
  const dir = tmp()
  const gpu = syntheticH100Gpu()
  const table = albertTable(gpu, { 1: [20_000, 800_000], 8: [40_000, 8_000_000] })
  writeFileSync(join(dir, 'albert.fp16.latency.json'), JSON.stringify(table))
  const config = join(dir, 'serve.yaml')
  writeFileSync(
    config,
    YAML.stringify({
      format: 'eclip.serve/1',
      policy: 'paris-elsa',
      latency: { source: 'dir', dir: '.' },
      ...extra,
      models: [{ model: 'albert', rate: 40, sloMs: 600, batches: { 1: 0.7, 8: 0.3 }, ...model }],
    }),
  )
  return { dir, config, table }
}

/** ELSA's choices for requests arriving at `t` (µs) with nothing completing meanwhile: the rules of elsa.ts/sim.ts. */
function elsaSequence(
  sms: number[],
  est: (batch: number, pi: number) => number,
  reqs: { batch: number; t: number }[],
  sloUs: number,
  margin = 0.5,
): { partition: number; queued: boolean }[] {
  const runEnd = sms.map(() => 0)
  const queued = sms.map(() => 0)
  const busy = sms.map(() => false)
  return reqs.map((r) => {
    const finish = sms.map((_, i) =>
      busy[i]
        ? Math.max(r.t, runEnd[i] as number) + (queued[i] as number) + est(r.batch, i)
        : r.t + est(r.batch, i),
    )
    const pi = elsaChoose(sms, finish, r.t + margin * sloUs)
    const wasBusy = busy[pi] as boolean
    if (wasBusy) queued[pi] = (queued[pi] as number) + est(r.batch, pi)
    else {
      busy[pi] = true
      runEnd[pi] = r.t + est(r.batch, pi)
    }
    return { partition: pi, queued: wasBusy }
  })
}

/** The server startServe builds for a paris-elsa config on the sim backend, with the dispatcher on clock `now`. */
async function parisServer(config: string, now?: () => number): Promise<EclipServer> {
  const setup = await resolveServeSetup(readFile<ServeConfig>('serve-config', config), { configFile: config })
  assert.ok(setup.scheduling instanceof ParisElsa)
  const p = setup.scheduling.paris
  const backend = new ParisBackend(
    p.partitions,
    p.models,
    new SimPartitions(p.partitions, p.models, p.gpu, p.gpus),
    {
      ...(now ? { now } : {}),
    },
  )
  const s = new EclipServer({
    models: setup.models,
    workerOptions: setup.workerOptions,
    backend,
    gpu: setup.gpu,
    notes: setup.notes,
    ...(setup.modelConfig ? { modelConfig: setup.modelConfig } : {}),
    logger: false,
  })
  await s.load()
  return s
}

function partitionsOf(s: EclipServer) {
  const p = s.opts.backend.partitions?.()
  assert.ok(p, 'the backend reports its partitions')
  return p
}

describe('serve paris-elsa on the sim backend (HTTP)', () => {
  it('sends each request to the partition ELSA’s rules choose, and reports the partitions', async () => {
    const { config, table } = albertConfig()
    // the dispatcher's clock stands still while the burst arrives: every request is decided at one instant, so the
    // expected choices do not hang on how many µs the HTTP layer took between them (ELSA's deadline moves with the
    // arrival time, its backlogs do not)
    let frozen: number | null = null
    const s = await parisServer(config, () => (frozen ?? performance.now()) * 1000)
    try {
      const parts = partitionsOf(s)
      const sms = parts.map((p) => p.sms)
      assert.ok(new Set(sms).size >= 3, `PARIS made a heterogeneous layout: ${sms}`)
      const est = (b: number, pi: number) => latencyUs(table, b, sms[pi] as number)
      const batches = [1, 8, 1, 1, 8, 1, 1, 8, 1, 1, 1, 8, 1, 1]
      const expected = elsaSequence(
        sms,
        est,
        batches.map((batch) => ({ batch, t: 0 })),
        600_000,
      )
      assert.ok(new Set(expected.map((e) => e.partition)).size >= 4, 'the burst spreads over partitions')
      assert.ok(
        expected.some((e) => e.queued),
        'some requests queue behind another (the backlog counts)',
      )
      assert.ok(
        expected.some((e, k) => !e.queued && sms[e.partition] !== Math.min(...sms) && batches[k] === 1),
        'a small request goes to a larger partition once the smallest is too far behind',
      )
      // the burst, in order: each request is with the dispatcher before the next is sent
      const worker = s.workers.get('albert')
      assert.ok(worker)
      frozen = performance.now()
      const answers = []
      for (const [k, b] of batches.entries()) {
        answers.push(post(s, '/v2/models/albert/infer', albertBody(b)))
        await until(() => worker.pending() === k + 1)
      }
      frozen = null
      const res = await Promise.all(answers)
      const got = res.map((r) => {
        assert.equal(r.statusCode, 200, r.body)
        const j = r.json() as { outputs: unknown[]; parameters: Record<string, unknown> }
        assert.deepEqual(j.outputs, [])
        assert.equal(j.parameters.simulated, true)
        return j.parameters.partition
      })
      assert.deepEqual(
        got,
        expected.map((e) => parts[e.partition]?.id),
      )
      // a request that queued reports its wait; the modelled compute time is the table's at its partition
      const first = res[0]?.json() as { parameters: { compute_us: number } }
      assert.equal(first.parameters.compute_us, Math.round(est(1, expected[0]?.partition as number)))
      // what each partition has served, in /metrics, the dashboard's state and its snapshots
      const count = new Map<string, number>()
      for (const id of got) count.set(String(id), (count.get(String(id)) ?? 0) + 1)
      const metrics = (await get(s, '/metrics')).body
      for (const p of parts) {
        assert.match(metrics, new RegExp(`eclip_partition_sms\\{partition="${p.id}",gpu="0"\\} ${p.sms}\\b`))
        const n = count.get(p.id)
        if (n)
          assert.match(
            metrics,
            new RegExp(
              `eclip_partition_executions_total\\{partition="${p.id}",gpu="0",model="albert"\\} ${n}\\b`,
            ),
          )
      }
      const state = (await get(s, '/dashboard/state')).json() as {
        partitionMap: unknown
        parisMap: { policy: string; gpus: number; partitions: { id: string; sms: number }[] }
      }
      assert.equal(state.partitionMap, null)
      assert.equal(state.parisMap.policy, 'paris-elsa')
      assert.equal(state.parisMap.gpus, 1)
      assert.deepEqual(
        state.parisMap.partitions.map((p) => [p.id, p.sms]),
        parts.map((p) => [p.id, p.sms]),
      )
      const served = Object.fromEntries(partitionsOf(s).map((p) => [p.id, p.executions.albert ?? 0]))
      for (const p of parts) assert.equal(served[p.id], count.get(p.id) ?? 0)
      const cfg = (await get(s, '/v2/models/albert/config')).json() as Record<string, unknown>
      assert.deepEqual((cfg.paris as { captured_batches: number[] }).captured_batches, [1, 8])
      assert.equal(cfg.max_batch_size, 8)
    } finally {
      await s.close()
    }
  })

  it('a request between captured batches runs at the next one up (ELSA estimates it there)', async () => {
    const { config, table } = albertConfig({}, { batches: { 1: 0.5, 8: 0.5 } })
    const { server: s } = await startServe({ config, port: 0 })
    try {
      const r = await post(s, '/v2/models/albert/infer', albertBody(3))
      assert.equal(r.statusCode, 200, r.body)
      const p = r.json().parameters as { partition: string; compute_us: number }
      const part = partitionsOf(s).find((x) => x.id === p.partition)
      assert.ok(part)
      assert.equal(p.compute_us, Math.round(latencyUs(table, 8, part.sms)))
      // more items than the largest captured batch: refused by the protocol layer
      assert.equal((await post(s, '/v2/models/albert/infer', albertBody(9))).statusCode, 400)
    } finally {
      await s.close()
    }
  })

  it('keeps serve’s queue limit (requests waiting at the partitions), timeouts and draining', async () => {
    const { config } = albertConfig({}, { queueSize: 3, timeoutMs: 30_000 })
    const { server: s } = await startServe({ config, port: 0 })
    try {
      const n = partitionsOf(s).length
      const answers = Array.from({ length: n + 8 }, () => post(s, '/v2/models/albert/infer', albertBody(8)))
      const res = await Promise.all(answers)
      const codes = res.map((r) => r.statusCode)
      const refused = res.filter((r) => r.statusCode === 429)
      assert.ok(refused.length >= 1, `codes ${codes}`)
      for (const r of refused) {
        assert.equal(r.headers['retry-after'], '1')
        assert.match(r.json().error, /queue full \(3 requests waiting\)/)
      }
      // at most every partition busy plus 3 waiting were accepted
      assert.ok(codes.filter((c) => c === 200).length <= n + 3, `codes ${codes}`)
      assert.match(
        (await get(s, '/metrics')).body,
        /nv_inference_request_failure\{model="albert",version="1",reason="REJECTED"\} \d+/,
      )
    } finally {
      await s.close()
    }

    // a request that times out while waiting at a partition leaves its queue (the backlog forgets it)
    const slow = albertConfig({}, { timeoutMs: 80 })
    const { server: t } = await startServe({ config: slow.config, port: 0 })
    try {
      const n = partitionsOf(t).length
      const answers = Array.from({ length: 3 * n }, () => post(t, '/v2/models/albert/infer', albertBody(8)))
      await until(() => partitionsOf(t).some((p) => p.queued > 0), 2000)
      const res = await Promise.all(answers)
      assert.ok(res.some((r) => r.statusCode === 504))
      assert.ok(
        partitionsOf(t).every((p) => p.queued === 0),
        'timed-out requests left the partition queues',
      )
      assert.equal(t.opts.backend.waiting?.('albert'), 0)
    } finally {
      await t.close()
    }

    // draining answers every accepted request before the server goes
    const { server: u } = await startServe({ config: albertConfig().config, port: 0 })
    const accepted = Array.from({ length: 6 }, () => post(u, '/v2/models/albert/infer', albertBody(1)))
    await until(() => (u.workers.get('albert')?.pending() ?? 0) === 6)
    const drained = await u.drain(10_000)
    assert.equal(drained.answered, true)
    assert.ok((await Promise.all(accepted)).every((r) => r.statusCode === 200))
  })

  it('a crash answers every accepted request 503, forgets the backlogs, restarts and serves again', async () => {
    const { config } = albertConfig()
    const setup = await resolveServeSetup(readFile<ServeConfig>('serve-config', config), {
      configFile: config,
    })
    assert.ok(setup.scheduling instanceof ParisElsa)
    const p = setup.scheduling.paris
    // the simulator's partitions, with a crash on demand
    const sim = new SimPartitions(p.partitions, p.models, p.gpu, p.gpus)
    const listeners = new Set<(reason: string) => void>()
    let restarts = 0
    const executor: PartitionExecutor = {
      kind: 'sim',
      load: () => sim.load(),
      execute: (pi, req, batch) => sim.execute(pi, req, batch),
      restart: async () => {
        restarts++
        await sim.restart()
      },
      power: () => sim.power(),
      close: () => sim.close(),
      onCrash: (l) => {
        listeners.add(l)
        return () => listeners.delete(l)
      },
    }
    const backend = new ParisBackend(p.partitions, p.models as ParisModel[], executor)
    const s = new EclipServer({
      models: setup.models,
      workerOptions: setup.workerOptions,
      backend,
      gpu: setup.gpu,
      logger: false,
      restartDelayMs: 20,
    })
    await s.load()
    try {
      const answers = Array.from({ length: 12 }, () => post(s, '/v2/models/albert/infer', albertBody(8)))
      await until(() => partitionsOf(s).some((x) => x.queued > 0))
      const t0 = performance.now()
      for (const l of listeners) l('CUDA error: an illegal memory access was encountered')
      const res = await Promise.all(answers)
      assert.ok(performance.now() - t0 < 1000)
      assert.ok(res.every((r) => r.statusCode === 503))
      assert.ok(partitionsOf(s).every((x) => x.queued === 0 && !x.running))
      await until(() => s.ready())
      assert.equal(restarts, 1)
      const again = await post(s, '/v2/models/albert/infer', albertBody(1))
      assert.equal(again.statusCode, 200, again.body)
    } finally {
      await s.close()
    }
  })

  it('PARIS partitions any number of GPUs on the simulator (--gpus over the config)', async () => {
    const { config } = albertConfig({ gpus: 2 })
    const { server: s } = await startServe({ config, port: 0, gpus: 3 })
    try {
      const parts = partitionsOf(s)
      assert.deepEqual([...new Set(parts.map((p) => p.gpu))], [0, 1, 2])
      for (const g of [0, 1, 2])
        assert.equal(
          parts.filter((p) => p.gpu === g).reduce((a, p) => a + p.sms, 0),
          132,
          `GPU ${g}'s partitions cover its SMs`,
        )
      assert.ok((s.opts.notes ?? []).some((n) => /PARIS chose \d+ partitions over 3 GPUs/.test(n)))
      const power = s.opts.backend.power()
      assert.equal(power?.source, 'simulated')
    } finally {
      await s.close()
    }
  })
})

describe('serve paris-elsa: config errors name their field', () => {
  const cases: [string, Record<string, unknown>, Record<string, unknown>, RegExp][] = [
    [
      'no SLO',
      {},
      { sloMs: undefined },
      /\/models\/0\/sloMs: the paris-elsa policy needs its latency objective/,
    ],
    [
      'no batch mix',
      {},
      { batches: undefined },
      /\/models\/0\/batches: the paris-elsa policy needs its batch-size mix/,
    ],
    [
      'no rate',
      {},
      { rate: undefined },
      /\/models\/0\/rate: the paris-elsa policy needs its expected requests\/s/,
    ],
    [
      'no positive weight',
      {},
      { batches: { 1: 0 } },
      /\/models\/0\/batches: no batch size has a positive weight/,
    ],
    [
      'a batch size past 1024, weight 0',
      {},
      { batches: { 8: 1, 2048: 0 } },
      /\/models\/0\/batches: keys must be batch sizes 1\.\.1024/,
    ],
    [
      'batch below the mix',
      {},
      { batch: 4 },
      /\/models\/0\/batch: 4 is below the largest batch of its mix \(8\)/,
    ],
    [
      'dynamic batching',
      {},
      { maxDynamicBatch: 4 },
      /\/models\/0\/maxDynamicBatch: paris-elsa dispatches each request/,
    ],
    ['a plan', { plan: 'plan.json' }, {}, /\/plan: paris-elsa chooses its partitions at start-up/],
    ['bad η', { paris: { kneeElasticity: 1.5 } }, {}, /\/paris\/kneeElasticity/],
    ['gpus 0', { gpus: 0 }, {}, /\/gpus/],
    ['all GPUs on the simulator', { gpus: 'all' }, {}, /\/gpus: "all" counts the GPU backend's devices/],
    ['no such table', {}, { latencyTable: 'nope.json' }, /nope\.json: cannot read \(ENOENT\)/],
    ['another model’s table', {}, { latencyTable: 'vgg19.json' }, /\/models\/0: latency table is for vgg19/],
  ]
  for (const [what, extra, model, why] of cases)
    it(what, async () => {
      const { dir, config: file, table } = albertConfig(extra, model)
      writeFileSync(join(dir, 'vgg19.json'), JSON.stringify({ ...table, model: 'vgg19' }))
      // fields set to undefined are dropped from the YAML: the config without them
      await assert.rejects(startServe({ config: file, port: 0 }), (e: Error) => {
        assert.match(e.message, why)
        return true
      })
    })

  it('paris-elsa’s fields under another policy, and --gpus without paris-elsa', async () => {
    const dir = tmp()
    const config = join(dir, 'serve.yaml')
    writeFileSync(
      config,
      YAML.stringify({ policy: 'eclip', gpus: 2, models: [{ model: 'albert', rate: 5, sloMs: 10 }] }),
    )
    await assert.rejects(startServe({ config, port: 0 }), (e: Error) => {
      assert.match(e.message, /\/gpus: only the paris-elsa policy uses it \(this config has policy eclip\)/)
      assert.match(e.message, /\/models\/0\/rate: only the paris-elsa policy uses it/)
      assert.match(e.message, /\/models\/0\/sloMs: only the paris-elsa policy uses it/)
      return true
    })
    writeFileSync(config, YAML.stringify({ policy: 'baseline', models: [{ model: 'albert' }] }))
    await assert.rejects(
      startServe({ config, port: 0, gpus: 2 }),
      /--gpus: only the paris-elsa policy uses it/,
    )
  })

  it('eclip serve --gpus: refused when not a count, partitions printed', () => {
    const { config } = albertConfig()
    const bad = spawnSync(process.execPath, [bin, 'serve', '--config', config, '--gpus', '0'], {
      encoding: 'utf8',
    })
    assert.equal(bad.status, 2, bad.stderr)
    assert.match(bad.stderr, /--gpus: "0" is not a GPU count/)
    const r = spawnSync(process.execPath, [bin, 'serve', '--config', config, '--gpus', '2', '--port', '0'], {
      encoding: 'utf8',
      timeout: 8000,
      killSignal: 'SIGTERM',
    })
    assert.match(r.stdout, /partition g1p0: GPU 1, \d+ SMs \(slices [\d,]+\)/)
    assert.match(r.stdout, /PARIS chose \d+ partitions over 2 GPUs/)
  })
})

/** A "python" for the GPU backend that runs the fake backend (test/serve/gpu_backend_fake.py) with `env`. */
const fakePython = (env: Record<string, string>) => backendPython({ env, dir: tmp() })

describe('serve paris-elsa on the GPU backend (the fake Python backend, no GPU)', () => {
  const gpuFile = join(tmp(), 'gpu.json')
  writeFileSync(gpuFile, JSON.stringify(syntheticH100Gpu()))

  it('all GPUs the backend sees; each request runs on the worker of the partition ELSA chose', async () => {
    const { config } = albertConfig()
    const { server: s } = await startServe({
      config,
      port: 0,
      backend: 'gpu',
      gpu: { python: fakePython({ FAKE_GPUS: '2', FAKE_GPU_JSON: gpuFile }), log: () => {} },
    })
    try {
      const parts = partitionsOf(s)
      assert.deepEqual(
        [...new Set(parts.map((p) => p.gpu))],
        [0, 1],
        'every GPU the backend sees (gpus: all)',
      )
      const res = await Promise.all(
        Array.from({ length: 8 }, (_, k) => post(s, '/v2/models/albert/infer', albertBody(k % 2 ? 8 : 1, 7))),
      )
      for (const r of res) {
        assert.equal(r.statusCode, 200, r.body)
        const j = r.json() as {
          outputs: { shape: number[]; data: number[] }[]
          parameters: { partition: string; compute_us: number; simulated?: boolean }
        }
        assert.equal(j.parameters.simulated, undefined)
        assert.equal(j.outputs[0]?.data[0], 7) // the fake's output: the input's first element
        // the fake answers 100 + the index of the partition whose worker ran it
        assert.equal(j.parameters.compute_us, 100 + parts.findIndex((p) => p.id === j.parameters.partition))
      }
      assert.equal(s.opts.backend.power()?.source, 'nvml')
    } finally {
      await s.close()
    }
  })

  it('refuses more GPUs than the backend sees, another layout, and synthetic tables unless asked for', async () => {
    const python = fakePython({ FAKE_GPUS: '1', FAKE_GPU_JSON: gpuFile })
    const { config } = albertConfig({ gpus: 2 })
    await assert.rejects(
      startServe({ config, port: 0, backend: 'gpu', gpu: { python, log: () => {} } }),
      /\/gpus 2: the GPU backend sees 1 GPU on this host/,
    )
    const other = { ...syntheticH100Gpu(), smCount: 144 }
    other.slices = [...other.slices.slice(0, 15), { id: 15, sms: 24, remainder: true }]
    const { config: c2 } = albertConfig({ gpu: other })
    await assert.rejects(
      startServe({ config: c2, port: 0, backend: 'gpu', gpu: { python, log: () => {} } }),
      /layout/,
    )
    const dir = tmp()
    const c3 = join(dir, 'serve.yaml')
    writeFileSync(
      c3,
      YAML.stringify({
        policy: 'paris-elsa',
        models: [{ model: 'albert', rate: 5, sloMs: 100, batches: { 1: 1 } }],
      }),
    )
    await assert.rejects(
      startServe({ config: c3, port: 0, backend: 'gpu', gpu: { python, log: () => {} } }),
      /\/latency: paris-elsa on the GPU backend needs latency tables of this GPU/,
    )
  })
})
