// Issue #21: a legal JSON body of tens of MB held the event loop (every other request) for seconds while it was
// parsed, and several at once took the heap past a GB. A JSON part over the server's maxJsonBytes is refused 413 with
// a hint to send tensors as binary data: before its body is read where its headers state its size (the fast path
// and fastify's route alike), after inflating it where they cannot (a compressed body).
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { gzipSync } from 'node:zlib'
import type { EclipServer } from '../../src/serve/server.ts'
import { partialRequest, post, testServer, visionBody } from './helpers.ts'

const LIMIT = 256 * 1024
const RESNET = '/v2/models/resnet152/infer'

describe('serve: a JSON part over maxJsonBytes is refused 413 with a hint', () => {
  let s: EclipServer
  let url: URL
  before(async () => {
    s = await testServer([{ name: 'resnet152', model: 'resnet152', computeUs: 100 }], { maxJsonBytes: LIMIT })
    url = new URL(await s.listen(0, '127.0.0.1'))
  })
  after(() => s.close())

  it('answers before the body is read (headers stating a large JSON body), keeping the connection', async () => {
    const answer = await partialRequest(
      url,
      `POST ${RESNET} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${8 * 2 ** 20}`,
      '{"inputs": [',
    )
    assert.match(answer, /^HTTP\/1\.1 413/)
    assert.doesNotMatch(answer, /connection: close/i)
    assert.match(
      answer,
      /more than the limit of 262144 \(the server's maxJsonBytes\): send tensors as binary data/,
    )
  })

  it('refuses the JSON header of the binary extension alike', async () => {
    const answer = await partialRequest(
      url,
      `POST ${RESNET} HTTP/1.1\r\nhost: x\r\ncontent-type: application/octet-stream\r\ninference-header-content-length: ${LIMIT + 1}\r\ncontent-length: ${LIMIT + 10}`,
      '{',
    )
    assert.match(answer, /^HTTP\/1\.1 413/)
    assert.match(answer, /JSON is 262145 bytes, more than the limit/)
  })

  it('a stated JSON header longer than the body is named that, not too large (400, not 413)', async () => {
    const body = Buffer.from(JSON.stringify({ inputs: [] }))
    const res = await fetch(new URL(RESNET, url), {
      method: 'POST',
      headers: {
        'content-type': 'application/octet-stream',
        'inference-header-content-length': String(LIMIT + 1),
      },
      body,
    })
    assert.equal(res.status, 400)
    assert.match(
      await res.text(),
      new RegExp(`${LIMIT + 1} is larger than the body \\(${body.length} bytes\\)`),
    )
  })

  it('refuses a whole JSON body over the limit, through fastify as over a socket', async () => {
    const body = JSON.stringify(visionBody(1)) // ~600 KB
    assert.ok(body.length > LIMIT)
    const injected = await post(s, RESNET, visionBody(1))
    assert.equal(injected.statusCode, 413, injected.body.slice(0, 200))
    assert.match(injected.json().error, /maxJsonBytes/)
    const r = await fetch(`${url.origin}${RESNET}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    })
    assert.equal(r.status, 413)
    assert.match(((await r.json()) as { error: string }).error, /send tensors as binary data/)
  })

  it('refuses a compressed body once inflated, and counts every refusal as INVALID', async () => {
    const gz = gzipSync(JSON.stringify(visionBody(1)))
    assert.ok(gz.length < LIMIT)
    const r = await post(s, RESNET, gz, { 'content-encoding': 'gzip' })
    assert.equal(r.statusCode, 413, r.body.slice(0, 200))
    assert.match(r.json().error, /more than the limit of 262144/)
    const metrics = await s.app.inject({ method: 'GET', url: '/metrics' })
    const invalid =
      /nv_inference_request_failure\{model="resnet152",version="1",reason="INVALID"\} (\d+)/.exec(
        metrics.body,
      )
    assert.ok(Number(invalid?.[1]) >= 5, metrics.body.slice(0, 200))
  })

  it('serves JSON under the limit, and a tensor refused as JSON when it comes as binary data', async () => {
    const under = await post(s, RESNET, {
      inputs: [{ name: 'input', datatype: 'FP16', shape: [1, 3, 224, 224], data: new Array(150528).fill(0) }],
    })
    // "0," per element: 301 KB of JSON, over the limit; the binary extension carries the same tensor in 301 KB
    assert.equal(under.statusCode, 413)
    const small = await post(s, RESNET, { inputs: [] })
    assert.equal(small.statusCode, 400, 'a small JSON body is read and checked as before')
    const head = Buffer.from(
      JSON.stringify({
        inputs: [
          {
            name: 'input',
            datatype: 'FP16',
            shape: [1, 3, 224, 224],
            parameters: { binary_data_size: 150528 * 2 },
          },
        ],
      }),
    )
    const r = await fetch(`${url.origin}${RESNET}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/octet-stream',
        'inference-header-content-length': String(head.length),
      },
      body: Buffer.concat([head, Buffer.alloc(150528 * 2)]),
    })
    assert.equal(r.status, 200, await r.clone().text())
  })
})
