// `eclip serve --frontends N`: HTTP front-end processes (Node cluster workers) in front of one engine. Tested on the
// simulator: 2 front-ends answer every route as the single-process server does (bodies compared, timings aside);
// tensor bytes through the front-ends' staging regions reach a backend and come back right (the fake GPU backend:
// the real Python frame loop and regions, fake captures); a client's own region passes through; a killed front-end
// is forked again while the others keep serving; drain (and the CLI's SIGTERM) closes front-ends first and answers
// every accepted request; the engine times a request from its arrival at a front-end.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import * as grpc from '@grpc/grpc-js'
import * as protoLoader from '@grpc/proto-loader'
import YAML from 'yaml'
import { toMonotonicMs } from '../../src/clock.ts'
import type { Gpu } from '../../src/formats/gpu.ts'
import { readFile } from '../../src/formats/index.ts'
import type { Profile } from '../../src/formats/profile.ts'
import { writeSyntheticProfileDir } from '../../src/profile/synthetic.ts'
import { defaultFrontends, FrontendPool, MAX_DEFAULT_FRONTENDS } from '../../src/serve/frontends/engine.ts'
import { GpuServeBackend } from '../../src/serve/gpu-backend.ts'
import { inferenceProtoPath, PROTO_OPTIONS } from '../../src/serve/grpc/server.ts'
import { startServe } from '../../src/serve/index.ts'
import { fromHalf, toHalf } from '../../src/serve/kserve/datatypes.ts'
import { EclipServer } from '../../src/serve/server.ts'
import {
  albertBody,
  backendPython,
  baselinePlan,
  servedModels,
  testServer,
  twoModelSimConfig,
  unreadBody,
} from './helpers.ts'

const root = join(import.meta.dirname, '..', '..')
const IMAGE = 3 * 224 * 224 * 2
const LOGITS = 1000 * 2
const cleanup: (() => Promise<unknown> | undefined)[] = []
after(async () => {
  for (const c of cleanup.reverse()) await c()
})

interface Answer {
  status: number
  headers: http.IncomingHttpHeaders
  body: Buffer
}
/** One request on a fresh connection (a killed front-end's connections must not be reused). */
function request(
  url: string,
  method: string,
  path: string,
  body?: Buffer | string,
  headers = {},
  agent: http.Agent | false = false,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}${path}`, { method, headers, agent, timeout: 20_000 }, (res) => {
      const parts: Buffer[] = []
      res.on('data', (d: Buffer) => parts.push(d))
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }),
      )
    })
    req.on('error', reject)
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer in 20 s`)))
    req.end(body)
  })
}
const json = { 'content-type': 'application/json' }

/** A binary-extension body of n FP16 images whose first elements are `firsts` (the rest 0). */
function images(n: number, firsts: number[] = []): { body: Buffer; headers: Record<string, string> } {
  const head = Buffer.from(
    JSON.stringify({
      inputs: [
        {
          name: 'input',
          datatype: 'FP16',
          shape: [n, 3, 224, 224],
          parameters: { binary_data_size: n * IMAGE },
        },
      ],
      outputs: [{ name: 'logits', parameters: { binary_data: true } }],
    }),
  )
  const data = Buffer.alloc(n * IMAGE)
  firsts.forEach((v, i) => {
    data.writeUInt16LE(toHalf(v), i * IMAGE)
  })
  return {
    body: Buffer.concat([head, data]),
    headers: {
      'content-type': 'application/octet-stream',
      'inference-header-content-length': String(head.length),
    },
  }
}

/** The response with what differs from run to run (timings, batching) taken out. */
function comparable(a: Answer): unknown {
  const text = a.body.toString('utf8')
  let body: unknown = text
  try {
    body = JSON.parse(text)
  } catch {}
  if (body && typeof body === 'object' && 'parameters' in body) {
    const p = (body as { parameters: Record<string, unknown> }).parameters
    delete p.queue_us
    delete p.compute_us
    delete p.batched_requests
  }
  return { status: a.status, type: a.headers['content-type'], body }
}

const simConfig = () => twoModelSimConfig('eclip-frontends-')

describe('defaultFrontends', () => {
  it('the cores but one, at most MAX_DEFAULT_FRONTENDS, none where fewer than 2 would be left', () => {
    assert.equal(MAX_DEFAULT_FRONTENDS, 8)
    assert.deepEqual([1, 2, 3, 4, 9, 10, 16, 128].map(defaultFrontends), [0, 0, 2, 3, 8, 8, 8, 8])
  })
})

describe('serve --frontends', () => {
  it('2 front-ends answer like the single-process server (infer JSON and binary, metadata, health, errors)', {
    timeout: 60_000,
  }, async () => {
    const config = simConfig()
    const one = await startServe({ config, port: 0 })
    cleanup.push(() => one.server.close())
    const two = await startServe({ config, port: 0, frontends: 2 })
    cleanup.push(() => two.frontends?.close())
    assert.equal(two.frontends?.pids().length, 2)
    const albert = JSON.stringify({
      inputs: [{ name: 'input_ids', datatype: 'INT64', shape: [2, 128], data: new Array(256).fill(7) }],
    })
    const full = images(4)
    const one1 = images(1)
    const cases: [string, string, (Buffer | string)?, Record<string, string>?][] = [
      ['GET', '/v2'],
      ['GET', '/v2/health/live'],
      ['GET', '/v2/health/ready'],
      ['GET', '/v2/models/vgg19'],
      ['GET', '/v2/models/vgg19/versions/1/config'],
      ['GET', '/v2/models/albert/ready'],
      ['GET', '/v2/models/nope'],
      ['GET', '/no/such/route'],
      ['GET', '/v2/systemsharedmemory/status'],
      ['GET', '/v2/systemsharedmemory/region/none/status'],
      ['POST', '/v2/models/albert/infer', albert, json],
      ['POST', '/v2/models/vgg19/infer', full.body, full.headers],
      ['POST', '/v2/models/vgg19/infer', one1.body, one1.headers],
      ['POST', '/v2/models/vgg19/infer', '{"inputs": [', json],
      ['POST', '/v2/models/vgg19/infer', albert, json],
      ['POST', '/v2/models/nope/infer', albert, json],
      ['POST', '/v2/models/albert/infer', albert, { 'content-type': 'image/png' }],
      [
        'POST',
        '/v2/models/vgg19/infer',
        full.body,
        { ...full.headers, 'inference-header-content-length': '99999999' },
      ],
      [
        'POST',
        '/v2/systemsharedmemory/region/r/register',
        JSON.stringify({ key: '/eclip-no-such-object', offset: 0, byte_size: 64 }),
        json,
      ],
    ]
    for (const [method, path, body, headers] of cases) {
      const a = await request(one.url, method, path, body, headers)
      const b = await request(two.url, method, path, body, headers)
      assert.deepEqual(comparable(b), comparable(a), `${method} ${path}`)
    }
    // the failures a front-end saw are counted by the engine, as the single process counts its own
    const failures = async (url: string) =>
      (await request(url, 'GET', '/metrics')).body
        .toString()
        .split('\n')
        .filter(
          (l) =>
            l.startsWith('nv_inference_request_failure{') || l.startsWith('nv_inference_request_success{'),
        )
    assert.deepEqual(await failures(two.url), await failures(one.url))
    // gRPC: the front-ends listen on the gRPC port too and answer as the single process does
    const def = protoLoader.loadSync(inferenceProtoPath(), PROTO_OPTIONS)
    const pkg = grpc.loadPackageDefinition(def) as unknown as {
      inference: { GRPCInferenceService: new (a: string, c: grpc.ChannelCredentials) => grpc.Client }
    }
    const rpc = (address: string | undefined, method: string, req: unknown) => {
      const c = new pkg.inference.GRPCInferenceService(address as string, grpc.credentials.createInsecure())
      return new Promise<unknown>((resolve) =>
        (
          c as unknown as Record<
            string,
            (r: unknown, cb: (e: grpc.ServiceError | null, r: unknown) => void) => void
          >
        )[method]?.(req, (err, res) => {
          c.close()
          resolve(err ? { code: err.code, details: err.details } : res)
        }),
      )
    }
    assert.ok(two.grpcAddress)
    const infer = {
      model_name: 'vgg19',
      inputs: [{ name: 'input', datatype: 'FP16', shape: [4, 3, 224, 224] }],
      raw_input_contents: [Buffer.alloc(4 * IMAGE)],
    }
    for (const [method, req] of [
      ['ServerReady', {}],
      ['ModelMetadata', { name: 'vgg19' }],
      ['ModelMetadata', { name: 'nope' }],
      ['ModelInfer', infer],
      ['ModelInfer', { ...infer, raw_input_contents: [Buffer.alloc(10)] }],
    ] as [string, unknown][]) {
      const strip = (r: unknown) => {
        const x = r as { parameters?: Record<string, unknown> }
        for (const k of ['queue_us', 'compute_us', 'batched_requests']) delete x.parameters?.[k]
        return x
      }
      assert.deepEqual(
        strip(await rpc(two.grpcAddress, method, req)),
        strip(await rpc(one.grpcAddress, method, req)),
        method,
      )
    }
    const answered = (await rpc(two.grpcAddress, 'ModelInfer', infer)) as { model_name?: string }
    assert.equal(answered.model_name, 'vgg19')
  })

  it("the engine times a front-end's request from its arrival there, sent on the monotonic clock", {
    timeout: 60_000,
  }, async () => {
    const two = await startServe({ config: simConfig(), port: 0, frontends: 2 })
    cleanup.push(() => two.frontends?.close())
    const success = async () => {
      const body = (await request(two.url, 'GET', '/v2/models/vgg19/stats')).body.toString()
      const stats = JSON.parse(body) as {
        model_stats: { inference_stats: { success: { count: number; ns: number } } }[]
      }
      return stats.model_stats[0]?.inference_stats.success ?? { count: 0, ns: 0 }
    }
    const one1 = images(1)
    let roundTripsNs = 0
    for (let i = 0; i < 5; i++) {
      const t0 = process.hrtime.bigint()
      const a = await request(two.url, 'POST', '/v2/models/vgg19/infer', one1.body, one1.headers)
      roundTripsNs += Number(process.hrtime.bigint() - t0)
      assert.equal(a.status, 200, a.body.toString())
    }
    const s5 = await success()
    assert.equal(s5.count, 5)
    // each request's time in the server lies within the client's round trip: an arrival written on another clock
    // (or origin) than the engine reads it on would put the sum out by that offset, five times over
    assert.ok(
      s5.ns > 0 && s5.ns <= roundTripsNs,
      `success ${s5.ns} ns for 5 requests, not within (0, ${roundTripsNs}] ns of round trips`,
    )
    // an infer call as a front-end sends it, its arrival 1 s before the call: the engine counts from that arrival
    const engine = two.frontends as unknown as {
      infer(fe: unknown, name: string, req: unknown, receivedAtMonotonicMs: number): Promise<unknown>
    }
    const t0 = process.hrtime.bigint()
    await engine.infer(
      {},
      'vgg19',
      {
        batch: 1,
        inputs: [{ name: 'input', datatype: 'FP16', shape: [1, 3, 224, 224], data: new Uint8Array(IMAGE) }],
        binaryOutputs: true,
        parameters: {},
      },
      toMonotonicMs(performance.now() - 1000),
    )
    const callNs = Number(process.hrtime.bigint() - t0)
    const s6 = await success()
    assert.equal(s6.count, 6)
    const took = s6.ns - s5.ns
    assert.ok(
      took >= 1e9 && took <= 1e9 + callNs + 1e6,
      `the call arriving 1 s before it counted ${took} ns, not 1 s + up to its ${callNs} ns`,
    )
  })

  it("input bytes go through the staging region to the backend and outputs come back; clients' regions pass through", {
    timeout: 60_000,
  }, async () => {
    // the fake GPU backend: each output item is its input item's first element (as FP16)
    const { models, opts } = servedModels([{ name: 'vgg19', model: 'vgg19', batch: 4, maxDynamicBatch: 4 }])
    const backend = new GpuServeBackend({ python: backendPython(), powerPeriodMs: 100 })
    const server = new EclipServer({ models, workerOptions: opts, backend, logger: false })
    await server.load()
    const pool = new FrontendPool(server, { count: 2, port: 0, host: '127.0.0.1' })
    cleanup.push(() => pool.close())
    const url = await pool.start()
    const firstOf = (a: Answer, n: number) => {
      const head = Number(a.headers['inference-header-content-length'])
      const out = a.body.subarray(head)
      assert.equal(out.length, n * LOGITS, a.body.subarray(0, 400).toString())
      return Array.from({ length: n }, (_, i) => fromHalf(out.readUInt16LE(i * LOGITS)))
    }
    // a full batch: staged; batch 1 (the engine may batch it with others): its bytes cross the infer channel
    for (const [n, firsts] of [
      [4, [0.5, 2, -1, 3]],
      [1, [1.5]],
    ] as [number, number[]][]) {
      const { body, headers } = images(n, firsts)
      const answers = await Promise.all(
        [1, 2, 3, 4].map(() => request(url, 'POST', '/v2/models/vgg19/infer', body, headers)),
      )
      for (const a of answers) {
        assert.equal(a.status, 200, a.body.toString().slice(0, 300))
        assert.deepEqual(firstOf(a, n), firsts)
      }
    }
    // a client's region: registered through one front-end, named in requests that land on either
    const key = `/eclip-test-fe-${process.pid}-${randomBytes(4).toString('hex')}`
    const file = `/dev/shm${key}`
    const region = Buffer.alloc(2 * IMAGE + 2 * LOGITS)
    region.writeUInt16LE(toHalf(4), 0)
    region.writeUInt16LE(toHalf(-2), IMAGE)
    writeFileSync(file, region)
    cleanup.push(async () => rmSync(file, { force: true }))
    const reg = await request(
      url,
      'POST',
      '/v2/systemsharedmemory/region/io/register',
      JSON.stringify({ key, offset: 0, byte_size: region.length }),
      json,
    )
    assert.equal(reg.status, 200, reg.body.toString())
    const shmReq = JSON.stringify({
      inputs: [
        {
          name: 'input',
          datatype: 'FP16',
          shape: [2, 3, 224, 224],
          parameters: { shared_memory_region: 'io', shared_memory_byte_size: 2 * IMAGE },
        },
      ],
      outputs: [
        {
          name: 'logits',
          parameters: {
            shared_memory_region: 'io',
            shared_memory_byte_size: 2 * LOGITS,
            shared_memory_offset: 2 * IMAGE,
          },
        },
      ],
    })
    for (let i = 0; i < 4; i++) {
      const a = await request(url, 'POST', '/v2/models/vgg19/infer', shmReq, json)
      assert.equal(a.status, 200, a.body.toString())
      const out = JSON.parse(a.body.toString()).outputs[0]
      assert.deepEqual(out.parameters, {
        shared_memory_region: 'io',
        shared_memory_byte_size: 2 * LOGITS,
        shared_memory_offset: 2 * IMAGE,
      })
    }
    const back = readFileSync(file)
    assert.deepEqual(
      [fromHalf(back.readUInt16LE(2 * IMAGE)), fromHalf(back.readUInt16LE(2 * IMAGE + LOGITS))],
      [4, -2],
    )
    // every front-end sees the table: status from both (fresh connections land on either)
    for (let i = 0; i < 4; i++) {
      const s = await request(url, 'GET', '/v2/systemsharedmemory/region/io/status')
      assert.equal(s.status, 200)
    }
    assert.equal((await request(url, 'POST', '/v2/systemsharedmemory/unregister')).status, 200)
    const gone = await request(url, 'POST', '/v2/models/vgg19/infer', shmReq, json)
    assert.equal(gone.status, 400)
    assert.match(JSON.parse(gone.body.toString()).error, /Unable to find shared memory region: 'io'/)
    // the staging regions are the server's own: unregistering every client region left them working
    const { body, headers } = images(4, [7, 8, 9, 10])
    const again = await request(url, 'POST', '/v2/models/vgg19/infer', body, headers)
    assert.deepEqual(firstOf(again, 4), [7, 8, 9, 10])
  })

  it('a front-end refuses a request for a full queue before reading its body, counted as REJECTED', {
    timeout: 60_000,
  }, async () => {
    const server = await testServer([
      { name: 'albert', model: 'albert', computeUs: 2_000_000, queueSize: 1, maxDynamicBatch: 1 },
    ])
    const pool = new FrontendPool(server, { count: 1, port: 0, host: '127.0.0.1' })
    cleanup.push(() => pool.close())
    const url = await pool.start()
    const body = JSON.stringify(albertBody())
    const accepted = [0, 1].map(() => request(url, 'POST', '/v2/models/albert/infer', body, json))
    // one executing, one queued: full; the front-end hears of it within the engine's state period
    const t0 = Date.now()
    while (server.workers.get('albert')?.pending() !== 2 && Date.now() - t0 < 10_000)
      await new Promise((r) => setTimeout(r, 10))
    await new Promise((r) => setTimeout(r, 200))
    // headers promising 8 MB, then a body that never comes: the answer must not wait for it
    const answer = await unreadBody(new URL(url), '/v2/models/albert/infer', 8 * 2 ** 20)
    assert.match(answer, /^HTTP\/1\.1 429/)
    assert.match(answer, /retry-after: 1/i)
    assert.match(answer, /queue full \(1 requests waiting\)/)
    assert.doesNotMatch(answer, /connection: close/i)
    assert.deepEqual(
      (await Promise.all(accepted)).map((a) => a.status),
      [200, 200],
    )
    const metrics = (await request(url, 'GET', '/metrics')).body.toString()
    assert.match(metrics, /nv_inference_request_failure\{[^}]*model="albert"[^}]*reason="REJECTED"[^}]*\} 1/)
  })

  it('a killed front-end is forked again and the server keeps serving', { timeout: 60_000 }, async () => {
    const running = await startServe({ config: simConfig(), port: 0, grpcPort: null, frontends: 2 })
    const pool = running.frontends as FrontendPool
    cleanup.push(() => pool.close())
    const { body, headers } = images(4)
    const victim = pool.pids()[0] as number
    process.kill(victim, 'SIGKILL')
    // once the engine has seen it die (a connection the cluster handed to it just before is lost with it), new
    // connections go to the front-end still alive while it is forked again
    const t1 = Date.now()
    while (pool.pids().includes(victim) && Date.now() - t1 < 10_000)
      await new Promise((r) => setTimeout(r, 10))
    for (let i = 0; i < 6; i++)
      assert.equal((await request(running.url, 'POST', '/v2/models/vgg19/infer', body, headers)).status, 200)
    const t0 = Date.now()
    while ((pool.respawns < 1 || pool.pids().length < 2) && Date.now() - t0 < 20_000)
      await new Promise((r) => setTimeout(r, 50))
    assert.equal(pool.respawns, 1)
    assert.equal(pool.pids().length, 2)
    assert.ok(!pool.pids().includes(victim))
    for (let i = 0; i < 6; i++)
      assert.equal((await request(running.url, 'POST', '/v2/models/vgg19/infer', body, headers)).status, 200)
  })

  it('SIGTERM drains: front-ends close first, every accepted request is answered, the process exits 0', {
    timeout: 90_000,
  }, async () => {
    // alexnet at 400 ms a request, so requests are in flight when SIGTERM comes
    const dir = mkdtempSync(join(tmpdir(), 'eclip-frontends-'))
    writeSyntheticProfileDir(join(dir, 'profiles'), { models: ['alexnet'], batch: 1 })
    const pf = join(dir, 'profiles', 'alexnet.b1.fp16.json')
    const p = JSON.parse(readFileSync(pf, 'utf8')) as Profile
    const k = 400_000 / (p.requestUs.at(-1) as number)
    p.requestUs = p.requestUs.map((x) => x * k)
    writeFileSync(pf, JSON.stringify(p))
    const gpu = readFile<Gpu>('gpu', join(dir, 'profiles', 'gpu.json'))
    const plan = baselinePlan(gpu, [{ name: 'alexnet', model: 'alexnet', batch: 1, dtype: 'fp16' }], [p])
    writeFileSync(join(dir, 'plan.json'), JSON.stringify(plan))
    const config = join(dir, 'serve.yaml')
    writeFileSync(
      config,
      YAML.stringify({
        profiles: join(dir, 'profiles'),
        plan: join(dir, 'plan.json'),
        models: [{ model: 'alexnet', batch: 1 }],
      }),
    )
    const child = spawn(
      process.execPath,
      [
        join(root, 'bin', 'eclip.mjs'),
        'serve',
        '--config',
        config,
        '--port',
        '0',
        '--grpc-port',
        'off',
        '--frontends',
        '2',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ECLIP_NO_BUNDLE: '1' } },
    )
    cleanup.push(async () => child.kill('SIGKILL'))
    let out = ''
    child.stdout.on('data', (d) => {
      out += d
    })
    child.stderr.on('data', (d) => {
      out += d
    })
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`not listening in 40 s:\n${out}`)), 40_000)
      child.stdout.on('data', () => {
        const m = /listening on (http:\/\/\S+)/.exec(out)
        if (m && out.includes('front-end processes')) {
          clearTimeout(timer)
          resolve(m[1] as string)
        }
      })
    })
    assert.match(out, /2 HTTP front-end processes/)
    const body = JSON.stringify({
      inputs: [
        { name: 'input', datatype: 'FP16', shape: [1, 3, 224, 224], data: new Array(IMAGE / 2).fill(0.5) },
      ],
    })
    // keep-alive connections, as a client's pool keeps them: answered while draining, each connection is closed
    // with its answer, so the drain does not wait for the client to close it (nor cuts a request it sends next)
    const agent = new http.Agent({ keepAlive: true })
    cleanup.push(async () => agent.destroy())
    const inflight = [1, 2, 3].map(() => request(url, 'POST', '/v2/models/alexnet/infer', body, json, agent))
    // the dashboard's event stream, open through a front-end until the server goes: it must not hold the drain
    const events = await new Promise<http.IncomingMessage>((resolve, reject) =>
      http.get(`${url}/dashboard/events`, { agent: false }, resolve).on('error', reject),
    )
    events.on('data', () => {})
    events.on('error', () => {})
    cleanup.push(async () => events.destroy())
    await new Promise((r) => setTimeout(r, 300))
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)))
    const t0 = performance.now()
    child.kill('SIGTERM')
    // draining, the front-ends are no longer ready (a load balancer sends new work elsewhere); asked until the
    // signal has reached both (a loaded host delivers it late), while the accepted requests still run
    let ready = await request(url, 'GET', '/v2/health/ready')
    for (let i = 0; i < 50 && ready.status !== 503; i++) {
      await new Promise((r) => setTimeout(r, 20))
      ready = await request(url, 'GET', '/v2/health/ready')
    }
    assert.equal(ready.status, 503)
    assert.match(ready.body.toString(), /the server is shutting down/)
    const answers = await Promise.all(inflight)
    assert.deepEqual(
      answers.map((a) => [a.status, a.headers.connection]),
      [
        [200, 'close'],
        [200, 'close'],
        [200, 'close'],
      ],
    )
    assert.equal(await exited, 0, out)
    // well inside the drain budget (30 s), which a connection left open would have run out
    assert.ok(
      performance.now() - t0 < 15_000,
      `exited ${Math.round(performance.now() - t0)} ms after SIGTERM`,
    )
    assert.match(out, /SIGTERM: draining accepted requests/)
    assert.match(out, /drained, exiting/)
  })
})
