// `eclip serve --frontends N` answers as the single-process server does: the statistics extension (HTTP and gRPC, the
// engine's counts), a request whose parameters nest thousands of levels, a compressed body to a route the front-end
// forwards to the engine (inflated larger or smaller than it came), HTTP timeouts Node checks against each other, and
// a busy gRPC port (named as the gRPC port, without grpc-js's own log line).
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { gzipSync } from 'node:zlib'
import YAML from 'yaml'
import { wireParameters } from '../../src/serve/frontends/protocol.ts'
import { type Running, startServe } from '../../src/serve/index.ts'
import { albertBody, grpcCall, grpcClient, twoModelSimConfig } from './helpers.ts'

const root = join(import.meta.dirname, '..', '..')

interface Answer {
  status: number
  body: string
}
/** One request on a fresh connection; a request left unanswered fails the test (20 s), never holds it. */
function request(
  url: string,
  method: string,
  path: string,
  body?: Buffer | string,
  headers: Record<string, string> = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}${path}`, { method, headers, agent: false, timeout: 20_000 }, (res) => {
      const parts: Buffer[] = []
      res.on('data', (d: Buffer) => parts.push(d))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString() }))
    })
    req.on('error', reject)
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer in 20 s`)))
    req.end(body)
  })
}
const json = { 'content-type': 'application/json' }

/** An answer with what differs from run to run (timings, batching, times of day) taken out. */
function comparable(a: Answer): unknown {
  let body: unknown = a.body
  try {
    body = JSON.parse(a.body)
  } catch {}
  return { status: a.status, body: timeless(body) }
}
function timeless(x: unknown): unknown {
  if (Array.isArray(x)) return x.map(timeless)
  if (!x || typeof x !== 'object') return x
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(x))
    if (!['ns', 'last_inference', 'queue_us', 'compute_us', 'batched_requests'].includes(k))
      out[k] = timeless(v)
  return out
}

const simConfig = () => twoModelSimConfig('eclip-frontends-parity-')

describe('serve --frontends: parity with the single process', () => {
  let one: Running
  let fe: Running
  before(async () => {
    const config = simConfig()
    one = await startServe({ config, port: 0 })
    fe = await startServe({ config, port: 0, frontends: 1 })
  })
  after(async () => {
    await fe?.frontends?.close()
    await one?.server.close()
  })
  /** The same request to both servers: the same answer. */
  const same = async (method: string, path: string, body?: Buffer | string, headers = {}) => {
    const a = await request(one.url, method, path, body, headers)
    const b = await request(fe.url, method, path, body, headers)
    assert.deepEqual(comparable(b), comparable(a), `${method} ${path}`)
    return b
  }

  it("statistics: HTTP and gRPC answer the engine's counts, as the single process does", {
    timeout: 60_000,
  }, async () => {
    const albert = JSON.stringify(albertBody(2))
    for (let i = 0; i < 3; i++) await same('POST', '/v2/models/albert/infer', albert, json)
    await same('POST', '/v2/models/albert/infer', '{"inputs": [', json) // counted as failed
    await same('POST', '/v2/models/vgg19/infer', albert, json) // the wrong inputs: failed
    const stats = await same('GET', '/v2/models/stats')
    const [a, v] = (JSON.parse(stats.body) as { model_stats: Record<string, unknown>[] }).model_stats
    assert.deepEqual(
      [a?.name, a?.inference_count, a?.execution_count, v?.name, v?.inference_count],
      ['albert', 6, 3, 'vgg19', 0],
    )
    assert.deepEqual(
      timeless((a as { inference_stats: unknown }).inference_stats),
      timeless({
        success: { count: 3 },
        fail: { count: 1 },
        queue: { count: 3 },
        compute_input: { count: 3 },
        compute_infer: { count: 3 },
        compute_output: { count: 3 },
        cache_hit: { count: 0 },
        cache_miss: { count: 0 },
      }),
    )
    await same('GET', '/v2/models/albert/stats')
    await same('GET', '/v2/models/vgg19/versions/1/stats')
    await same('GET', '/v2/models/nope/stats')
    assert.ok(JSON.parse((await same('GET', '/v2')).body).extensions.includes('statistics'))

    // gRPC: the engine's counts, as HTTP's
    const rpc = async (r: Running, req: unknown) => {
      const c = grpcClient(r.grpcAddress as string)
      try {
        return await grpcCall(c, 'ModelStatistics', req)
      } catch (err) {
        return { code: (err as { code: number }).code, details: (err as { details: string }).details }
      } finally {
        c.close()
      }
    }
    for (const req of [{}, { name: 'albert' }, { name: 'vgg19', version: '1' }, { name: 'nope' }])
      assert.deepEqual(timeless(await rpc(fe, req)), timeless(await rpc(one, req)), JSON.stringify(req))
    // the counts as they are when asked: a request answered just before is in them, over gRPC as over HTTP
    await same('POST', '/v2/models/albert/infer', albert, json)
    const count = async () =>
      ((await rpc(fe, { name: 'albert' })) as { model_stats: { inference_count: number }[] }).model_stats[0]
        ?.inference_count
    assert.equal(await count(), 8)
  })

  it('request parameters nested thousands of levels deep: answered as the single process answers', {
    timeout: 60_000,
  }, async () => {
    const deep = `${'['.repeat(10_000)}${']'.repeat(10_000)}`
    const inputs = JSON.stringify(albertBody(1).inputs)
    const body = `{"parameters":{"x":${deep},"binary_data_output":false,"note":"kept"},"inputs":${inputs}}`
    const b = await same('POST', '/v2/models/albert/infer', body, json)
    assert.equal(b.status, 200, b.body)
  })

  it("parameters that cross to the engine: Triton's scalar kinds, nested values left out", () => {
    const flat = { binary_data_output: true, timeout: 5, note: 'n', ratio: 0.5 }
    assert.equal(wireParameters(flat), flat, 'all scalar: the same object')
    assert.deepEqual(wireParameters({ a: 1, x: [[[]]], o: { y: 1 }, n: null, s: 's' }), { a: 1, s: 's' })
    assert.deepEqual(
      wireParameters(JSON.parse('{"__proto__": "p", "x": []}')),
      JSON.parse('{"__proto__": "p"}'),
    )
  })

  it('a compressed body to a forwarded route reaches the engine inflated, larger or smaller than it came', {
    timeout: 60_000,
  }, async () => {
    const gz = { ...json, 'content-encoding': 'gzip' }
    // {"ready": …} padded with spaces: compressed far smaller than it inflates to
    const larger = gzipSync(`{"ready": false${' '.repeat(4000)}}`)
    // "{}": its gzip is larger than it
    const smaller = gzipSync('{}')
    assert.ok(smaller.length > 2)
    for (const body of [larger, smaller]) {
      const b = await same('POST', '/v2/repository/index', body, gz)
      assert.equal(b.status, 200, b.body)
      await same('POST', '/v2/repository/models/albert/load', body, gz)
      await same('POST', '/v2/repository/models/albert/unload', body, gz)
    }
    // a kept-alive connection to the engine carries the next request as it should after those
    await same('GET', '/metrics/no-such')
  })

  it("the router's and the HTTP parser's errors: the same shape and words, the URL not echoed", async () => {
    const bad = await same('POST', '/v2/models/alb%zzrt/infer', '{}', json)
    assert.equal(bad.status, 400)
    assert.deepEqual(JSON.parse(bad.body), { error: 'the URL is not valid (bad percent-encoding)' })
    const long = await same('GET', `/v2/models/${'a'.repeat(600)}/ready`)
    assert.ok(!long.body.includes('a'.repeat(600)), long.body)
  })
})

describe('serve --frontends: the HTTP timeouts', () => {
  it("a headers timeout above Node's default request timeout, with no request timeout: the front-ends start", {
    timeout: 60_000,
  }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eclip-frontends-parity-'))
    const config = join(dir, 'serve.yaml')
    writeFileSync(
      config,
      YAML.stringify({
        policy: 'model-wise',
        grpcPort: null,
        http: { requestTimeoutMs: 0, headersTimeoutMs: 400_000 },
        models: [{ model: 'albert' }],
      }),
    )
    const r = await startServe({ config, port: 0, frontends: 1 })
    try {
      assert.equal((await request(r.url, 'GET', '/v2/health/ready')).status, 200)
    } finally {
      await r.frontends?.close()
    }
  })
})

describe('serve: a busy gRPC port', () => {
  /** `eclip serve` with gRPC on a port something else listens on: its exit status and stderr. */
  const serveOnBusyGrpc = async (
    frontends: number,
  ): Promise<{ port: number; code: number | null; err: string }> => {
    const busy = createServer()
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r))
    const port = (busy.address() as { port: number }).port
    try {
      const child = spawn(
        process.execPath,
        [
          join(root, 'bin', 'eclip.mjs'),
          'serve',
          '--config',
          simConfig(),
          '--port',
          '0',
          '--grpc-port',
          String(port),
          '--frontends',
          String(frontends),
        ],
        { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ECLIP_NO_BUNDLE: '1' } },
      )
      let err = ''
      child.stdout.resume()
      child.stderr.on('data', (d) => {
        err += d
      })
      const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)))
      return { port, code, err }
    } finally {
      busy.close()
    }
  }

  for (const frontends of [1, 0])
    it(`is named as the gRPC port in one line (--frontends ${frontends})`, { timeout: 90_000 }, async () => {
      const { port, code, err } = await serveOnBusyGrpc(frontends)
      assert.notEqual(code, 0, err)
      assert.match(
        err,
        new RegExp(`^eclip: cannot listen for gRPC on 127\\.0\\.0\\.1:${port} \\(EADDRINUSE;`, 'm'),
      )
      assert.doesNotMatch(err, /cannot listen on /)
      assert.doesNotMatch(err, /No address added/)
    })
})
