// Bad requests, table-driven through fastify inject(): each gets its 4xx with a clear {"error": "…"} message, and the
// server keeps serving afterwards.
import assert from 'node:assert/strict'
import http from 'node:http'
import { after, before, describe, it } from 'node:test'
import type { EclipServer } from '../../src/serve/server.ts'
import { albertBody, testServer, visionBody } from './helpers.ts'

interface Case {
  name: string
  method?: 'GET' | 'POST' | 'DELETE' | 'PUT'
  url?: string
  headers?: Record<string, string>
  /** Sent as JSON unless a string or Buffer. */
  body?: unknown
  status: number
  error: RegExp
}

const RESNET = '/v2/models/resnet152/infer'
const ALBERT = '/v2/models/albert/infer'
const MAX_BODY = 4 * 1024 * 1024

const vision = (patch: (b: { inputs: Record<string, unknown>[] }) => void, n = 1) => {
  const b = visionBody(n) as { inputs: Record<string, unknown>[] }
  patch(b)
  return b
}
const albert = (patch: (b: { inputs: Record<string, unknown>[]; [k: string]: unknown }) => void, n = 1) => {
  const b = albertBody(n) as { inputs: Record<string, unknown>[]; [k: string]: unknown }
  patch(b)
  return b
}
const input0 = (b: { inputs: Record<string, unknown>[] }) => b.inputs[0] as Record<string, unknown>
const ids = (n: number, v: unknown = 1) => new Array(n).fill(v)

/** Binary-extension body: JSON header + raw bytes. */
function binaryBody(header: unknown, bytes: Buffer): { body: Buffer; headers: Record<string, string> } {
  const h = Buffer.from(JSON.stringify(header))
  return {
    body: Buffer.concat([h, bytes]),
    headers: {
      'content-type': 'application/octet-stream',
      'inference-header-content-length': String(h.length),
    },
  }
}
const albertBin = (size: number, bytes: number, extra: Record<string, unknown> = {}) =>
  binaryBody(
    {
      inputs: [
        {
          name: 'input_ids',
          datatype: 'INT64',
          shape: [1, 128],
          parameters: { binary_data_size: size },
          ...extra,
        },
      ],
    },
    Buffer.alloc(bytes),
  )

const CASES: Case[] = [
  // routes, models, versions
  {
    name: 'unknown model (infer)',
    url: '/v2/models/nope/infer',
    body: albertBody(),
    status: 404,
    error: /unknown model "nope"/,
  },
  {
    name: 'unknown model (metadata)',
    method: 'GET',
    url: '/v2/models/nope',
    status: 404,
    error: /unknown model/,
  },
  {
    name: 'unknown model (ready)',
    method: 'GET',
    url: '/v2/models/nope/ready',
    status: 404,
    error: /unknown model/,
  },
  {
    name: 'unknown model (config)',
    method: 'GET',
    url: '/v2/models/nope/config',
    status: 404,
    error: /unknown model/,
  },
  {
    name: 'unknown version (infer)',
    url: '/v2/models/resnet152/versions/2/infer',
    body: visionBody(),
    status: 404,
    error: /no version "2" \(versions: 1\)/,
  },
  {
    name: 'unknown version (metadata)',
    method: 'GET',
    url: '/v2/models/resnet152/versions/0',
    status: 404,
    error: /no version "0"/,
  },
  {
    name: 'unknown version (ready)',
    method: 'GET',
    url: '/v2/models/albert/versions/abc/ready',
    status: 404,
    error: /no version "abc"/,
  },
  {
    name: 'unknown route',
    method: 'GET',
    url: '/v2/nothing',
    status: 404,
    error: /no route GET \/v2\/nothing/,
  },
  // a route under another method: 405, naming the methods it takes (the Allow header, checked below)
  {
    name: 'DELETE on a model',
    method: 'DELETE',
    url: '/v2/models/resnet152',
    status: 405,
    error: /^DELETE is not allowed on \/v2\/models\/resnet152: it takes GET, HEAD$/,
  },
  {
    name: 'GET on infer',
    method: 'GET',
    url: RESNET,
    status: 405,
    error: /^GET is not allowed on \/v2\/models\/resnet152\/infer: it takes POST$/,
  },
  {
    name: 'PUT on infer',
    method: 'PUT',
    url: RESNET,
    body: visionBody(),
    status: 405,
    error: /^PUT is not allowed on .*: it takes POST$/,
  },
  {
    name: 'POST on health',
    method: 'POST',
    url: '/v2/health/ready',
    status: 405,
    error: /it takes GET, HEAD$/,
  },
  // body
  { name: 'malformed JSON', url: ALBERT, body: '{"inputs": [', status: 400, error: /malformed JSON/ },
  {
    name: 'trailing garbage after JSON',
    url: ALBERT,
    body: '{"inputs": []} x',
    status: 400,
    error: /malformed JSON/,
  },
  {
    name: 'empty body',
    url: ALBERT,
    body: '',
    headers: { 'content-type': 'application/json' },
    status: 400,
    error: /no body|body/,
  },
  { name: 'null body', url: ALBERT, body: 'null', status: 400, error: /must be a JSON object/ },
  { name: 'array body', url: ALBERT, body: '[]', status: 400, error: /must be a JSON object/ },
  { name: 'string body', url: ALBERT, body: '"infer"', status: 400, error: /must be a JSON object/ },
  { name: 'number body', url: ALBERT, body: '42', status: 400, error: /must be a JSON object/ },
  { name: 'no inputs', url: ALBERT, body: {}, status: 400, error: /"inputs" must be a non-empty array/ },
  {
    name: 'empty inputs',
    url: ALBERT,
    body: { inputs: [] },
    status: 400,
    error: /"inputs" must be a non-empty array/,
  },
  {
    name: 'inputs an object',
    url: ALBERT,
    body: { inputs: {} },
    status: 400,
    error: /"inputs" must be a non-empty array/,
  },
  {
    name: 'input not an object',
    url: ALBERT,
    body: { inputs: [1] },
    status: 400,
    error: /inputs\[0\] must be an object/,
  },
  {
    name: 'unknown top-level field',
    url: ALBERT,
    body: albert((b) => {
      b.foo = 1
    }),
    status: 400,
    error: /unknown field "foo"/,
  },
  {
    name: 'id not a string',
    url: ALBERT,
    body: albert((b) => {
      b.id = 7
    }),
    status: 400,
    error: /"id" must be a string/,
  },
  {
    name: 'parameters an array',
    url: ALBERT,
    body: albert((b) => {
      b.parameters = []
    }),
    status: 400,
    error: /"parameters" must be an object/,
  },
  {
    name: 'binary_data_output not boolean',
    url: ALBERT,
    body: albert((b) => {
      b.parameters = { binary_data_output: 'yes' }
    }),
    status: 400,
    error: /binary_data_output/,
  },
  {
    name: 'timeout parameter not an integer',
    url: ALBERT,
    body: albert((b) => {
      b.parameters = { timeout: 'soon' }
    }),
    status: 400,
    error: /"timeout" must be a non-negative integer \(microseconds; 0: no timeout of its own\)/,
  },
  {
    name: 'timeout parameter negative',
    url: ALBERT,
    body: albert((b) => {
      b.parameters = { timeout: -1 }
    }),
    status: 400,
    error: /"timeout" must be a non-negative integer/,
  },
  {
    name: 'timeout parameter past 2^53',
    url: ALBERT,
    body: albert((b) => {
      b.parameters = { timeout: 2 ** 64 }
    }),
    status: 400,
    error: /"timeout" 18446744073709552000 is too large \(at most 9007199254740991 µs/,
  },
  // inputs
  {
    name: 'input without name',
    url: ALBERT,
    body: albert((b) => {
      delete input0(b).name
    }),
    status: 400,
    error: /"name" must be a string/,
  },
  {
    name: 'input name a number',
    url: ALBERT,
    body: albert((b) => {
      input0(b).name = 3
    }),
    status: 400,
    error: /"name" must be a string/,
  },
  {
    name: 'unknown input name',
    url: ALBERT,
    body: albert((b) => {
      input0(b).name = 'tokens'
    }),
    status: 400,
    error: /no input "tokens" \(inputs: input_ids\)/,
  },
  {
    name: 'input given twice',
    url: ALBERT,
    body: albert((b) => {
      b.inputs.push({ ...input0(b) })
    }),
    status: 400,
    error: /given twice/,
  },
  {
    name: 'unknown field in an input',
    url: ALBERT,
    body: albert((b) => {
      input0(b).foo = 1
    }),
    status: 400,
    error: /unknown field "foo"/,
  },
  {
    name: 'input parameters not an object',
    url: ALBERT,
    body: albert((b) => {
      input0(b).parameters = 5
    }),
    status: 400,
    error: /"parameters" must be an object/,
  },
  {
    name: 'missing datatype',
    url: ALBERT,
    body: albert((b) => {
      delete input0(b).datatype
    }),
    status: 400,
    error: /"datatype" must be a string/,
  },
  {
    name: 'unknown datatype',
    url: ALBERT,
    body: albert((b) => {
      input0(b).datatype = 'FLOAT'
    }),
    status: 400,
    error: /unknown datatype "FLOAT"/,
  },
  {
    name: 'lower-case datatype',
    url: ALBERT,
    body: albert((b) => {
      input0(b).datatype = 'int64'
    }),
    status: 400,
    error: /unknown datatype "int64"/,
  },
  {
    name: 'INT32 for albert',
    url: ALBERT,
    body: albert((b) => {
      input0(b).datatype = 'INT32'
    }),
    status: 400,
    error: /datatype INT32 is not accepted \(expected INT64\)/,
  },
  {
    name: 'INT64 for a vision model',
    url: RESNET,
    body: vision((b) => {
      input0(b).datatype = 'INT64'
    }),
    status: 400,
    error: /INT64 is not accepted \(expected FP16 or FP32\)/,
  },
  {
    name: 'BYTES datatype',
    url: RESNET,
    body: vision((b) => {
      input0(b).datatype = 'BYTES'
    }),
    status: 400,
    error: /unknown datatype "BYTES"/,
  },
  {
    name: 'missing shape',
    url: ALBERT,
    body: albert((b) => {
      delete input0(b).shape
    }),
    status: 400,
    error: /"shape" must be an array/,
  },
  {
    name: 'shape a string',
    url: ALBERT,
    body: albert((b) => {
      input0(b).shape = '1,128'
    }),
    status: 400,
    error: /"shape" must be an array/,
  },
  {
    name: 'negative dimension',
    url: ALBERT,
    body: albert((b) => {
      input0(b).shape = [1, -128]
    }),
    status: 400,
    error: /non-negative integers/,
  },
  {
    name: 'fractional dimension',
    url: ALBERT,
    body: albert((b) => {
      input0(b).shape = [1, 127.5]
    }),
    status: 400,
    error: /non-negative integers/,
  },
  {
    name: 'rank 3 instead of 4',
    url: RESNET,
    body: vision((b) => {
      input0(b).shape = [1, 3, 50176]
    }),
    status: 400,
    error: /3 dimensions, expected \[-1,3,224,224\]/,
  },
  {
    name: 'wrong image size',
    url: RESNET,
    body: vision((b) => {
      input0(b).shape = [1, 3, 224, 225]
    }),
    status: 400,
    error: /does not match \[-1,3,224,224\] at dimension 3/,
  },
  {
    name: 'channels last',
    url: RESNET,
    body: vision((b) => {
      input0(b).shape = [1, 224, 224, 3]
    }),
    status: 400,
    error: /at dimension 1/,
  },
  {
    name: 'batch 0',
    url: RESNET,
    body: vision((b) => {
      input0(b).shape = [0, 3, 224, 224]
      input0(b).data = []
    }),
    status: 400,
    error: /batch dimension 0 is outside 1 … 4/,
  },
  {
    name: 'batch above the model batch',
    url: ALBERT,
    body: albertBody(3),
    status: 400,
    error: /batch dimension 3 is outside 1 … 2/,
  },
  {
    name: 'albert sequence 64',
    url: ALBERT,
    body: albert((b) => {
      input0(b).shape = [1, 64]
      input0(b).data = ids(64)
    }),
    status: 400,
    error: /at dimension 1/,
  },
  {
    name: 'missing data',
    url: ALBERT,
    body: albert((b) => {
      delete input0(b).data
    }),
    status: 400,
    error:
      /input "input_ids": no tensor: give "data", or in parameters "binary_data_size" .* or "shared_memory_region"/,
  },
  {
    name: 'data a string',
    url: ALBERT,
    body: albert((b) => {
      input0(b).data = 'abc'
    }),
    status: 400,
    error: /"data" must be an array/,
  },
  {
    name: 'too few elements',
    url: ALBERT,
    body: albert((b) => {
      input0(b).data = ids(127)
    }),
    status: 400,
    error: /needs 128 elements, "data" has 127/,
  },
  {
    name: 'too many elements',
    url: ALBERT,
    body: albert((b) => {
      input0(b).data = ids(129)
    }),
    status: 400,
    error: /needs 128 elements, "data" has 129/,
  },
  {
    name: 'nested data of the wrong size',
    url: ALBERT,
    body: albert((b) => {
      input0(b).data = [ids(64), ids(63)]
    }),
    status: 400,
    error: /needs 128 elements, "data" has 127/,
  },
  {
    name: 'string element in FP16',
    url: RESNET,
    body: vision((b) => {
      ;(input0(b).data as unknown[])[5] = 'x'
    }),
    status: 400,
    error: /data\[5\]: "x" is not a number/,
  },
  {
    name: 'null element in FP32',
    url: RESNET,
    body: vision((b) => {
      input0(b).datatype = 'FP32'
      ;(input0(b).data as unknown[])[0] = null
    }),
    status: 400,
    error: /data\[0\]: null is not a number/,
  },
  {
    name: 'object element',
    url: RESNET,
    body: vision((b) => {
      ;(input0(b).data as unknown[])[9] = { v: 1 }
    }),
    status: 400,
    error: /data\[9\]: .* is not a number/,
  },
  {
    name: 'fractional token id',
    url: ALBERT,
    body: albert((b) => {
      ;(input0(b).data as unknown[])[3] = 1.5
    }),
    status: 400,
    error: /data\[3\]: 1.5 is not an integer/,
  },
  {
    name: 'token id beyond the vocabulary',
    url: ALBERT,
    body: albert((b) => {
      ;(input0(b).data as unknown[])[0] = 30000
    }),
    status: 400,
    error: /30000 is outside \[0, 29999\]/,
  },
  {
    name: 'negative token id',
    url: ALBERT,
    body: albert((b) => {
      ;(input0(b).data as unknown[])[1] = -1
    }),
    status: 400,
    error: /-1 is outside \[0, 29999\]/,
  },
  {
    name: 'boolean token id',
    url: ALBERT,
    body: albert((b) => {
      ;(input0(b).data as unknown[])[2] = true
    }),
    status: 400,
    error: /true is not a number/,
  },
  {
    name: 'token id beyond 2^53',
    url: ALBERT,
    body: `{"inputs":[{"name":"input_ids","datatype":"INT64","shape":[1,128],"data":[${ids(127).join(',')},100000000000000000000]}]}`,
    status: 400,
    error: /data\[127\]: 100000000000000000000 is out of range for INT64/,
  },
  // outputs
  {
    name: 'outputs not an array',
    url: ALBERT,
    body: albert((b) => {
      b.outputs = 'last_hidden_state'
    }),
    status: 400,
    error: /"outputs" must be an array/,
  },
  {
    name: 'unknown output',
    url: ALBERT,
    body: albert((b) => {
      b.outputs = [{ name: 'logits' }]
    }),
    status: 400,
    error: /no output "logits" \(outputs: last_hidden_state\)/,
  },
  {
    name: 'output without name',
    url: ALBERT,
    body: albert((b) => {
      b.outputs = [{}]
    }),
    status: 400,
    error: /outputs\[0\] must be an object with a "name"/,
  },
  {
    name: 'output binary_data not boolean',
    url: ALBERT,
    body: albert((b) => {
      b.outputs = [{ name: 'last_hidden_state', parameters: { binary_data: 1 } }]
    }),
    status: 400,
    error: /"binary_data" must be a boolean/,
  },
  // content types and the binary extension
  {
    name: 'form-encoded body',
    url: ALBERT,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'a=1',
    status: 415,
    error: /unsupported content type "application\/x-www-form-urlencoded"/,
  },
  {
    name: 'multipart body',
    url: ALBERT,
    headers: { 'content-type': 'multipart/form-data; boundary=x' },
    body: '--x--',
    status: 415,
    error: /unsupported content type "multipart\/form-data"/,
  },
  {
    name: 'header length not a number',
    url: ALBERT,
    headers: { 'inference-header-content-length': 'ten' },
    body: JSON.stringify(albertBody()),
    status: 400,
    error: /must be a non-negative integer, got "ten"/,
  },
  {
    name: 'header length beyond the body',
    url: ALBERT,
    headers: { 'inference-header-content-length': '999999' },
    body: JSON.stringify(albertBody()),
    status: 400,
    error: /larger than the body/,
  },
  {
    name: 'binary_data_size without the extension',
    url: ALBERT,
    body: albert((b) => {
      delete input0(b).data
      input0(b).parameters = { binary_data_size: 1024 }
    }),
    status: 400,
    error: /needs the binary tensor extension/,
  },
  {
    name: 'binary size not matching the shape',
    url: ALBERT,
    ...albertBin(512, 512),
    status: 400,
    error: /binary_data_size 512 does not match shape \[1,128\] of INT64 \(1024 bytes\)/,
  },
  {
    name: 'binary part longer than declared',
    url: ALBERT,
    ...albertBin(1024, 1030),
    status: 400,
    error: /6 bytes no input's binary_data_size accounts for/,
  },
  {
    name: 'binary part shorter than declared',
    url: ALBERT,
    ...albertBin(1024, 1000),
    status: 400,
    error: /runs past the end of the body/,
  },
  {
    name: 'both data and binary_data_size',
    url: ALBERT,
    ...albertBin(1024, 1024, { data: ids(128) }),
    status: 400,
    error: /both "data" and "binary_data_size"/,
  },
  {
    name: 'negative binary_data_size',
    url: ALBERT,
    ...albertBin(-1, 0),
    status: 400,
    error: /"binary_data_size" must be a non-negative integer/,
  },
  {
    name: 'binary token ids out of range',
    url: ALBERT,
    ...binaryBody(
      {
        inputs: [
          { name: 'input_ids', datatype: 'INT64', shape: [1, 128], parameters: { binary_data_size: 1024 } },
        ],
      },
      Buffer.alloc(1024, 0xff),
    ),
    status: 400,
    error: /-1 is outside \[0, 29999\]/,
  },
  {
    name: 'malformed JSON header in the binary extension',
    url: ALBERT,
    headers: { 'inference-header-content-length': '5' },
    body: '{"inp',
    status: 400,
    error: /malformed JSON/,
  },
  // size
  {
    name: 'body above the size limit',
    url: RESNET,
    body: 'x'.repeat(MAX_BODY + 10),
    headers: { 'content-type': 'application/json' },
    status: 413,
    error: /larger than the limit of 4194304 bytes/,
  },
]

describe('serve: bad requests get a 4xx with a clear message', () => {
  let server: EclipServer
  before(async () => {
    server = await testServer(
      [
        { name: 'resnet152', model: 'resnet152', batch: 4, computeUs: 500 },
        { name: 'albert', model: 'albert', batch: 2, computeUs: 500 },
      ],
      { maxBodyBytes: MAX_BODY },
    )
  })
  after(() => server.close())

  it(`has at least 50 cases (${CASES.length})`, () => assert.ok(CASES.length >= 50))

  it('reads an Inference-Header-Content-Length of 0 as Triton does: the whole body is the JSON', async () => {
    const res = await server.app.inject({
      method: 'POST',
      url: ALBERT,
      headers: { 'inference-header-content-length': '0', 'content-type': 'application/json' },
      payload: JSON.stringify(albertBody()),
    })
    assert.equal(res.statusCode, 200, res.body)
  })

  for (const c of CASES) {
    it(c.name, async () => {
      const payload =
        c.body === undefined || typeof c.body === 'string' || Buffer.isBuffer(c.body)
          ? (c.body as string | Buffer | undefined)
          : JSON.stringify(c.body)
      const res = await server.app.inject({
        method: c.method ?? 'POST',
        url: c.url ?? ALBERT,
        headers: {
          ...(typeof c.body === 'object' && !Buffer.isBuffer(c.body)
            ? { 'content-type': 'application/json' }
            : {}),
          ...c.headers,
        },
        ...(payload !== undefined ? { payload } : {}),
      })
      assert.equal(res.statusCode, c.status, `status ${res.statusCode}: ${res.body.slice(0, 300)}`)
      assert.match(String(res.headers['content-type']), /application\/json/)
      const body = res.json()
      assert.deepEqual(Object.keys(body), ['error'])
      assert.match(body.error, c.error)
      if (c.status === 405) assert.equal(res.headers.allow, /it takes (.*)$/.exec(body.error)?.[1])
    })
  }

  it('answers each of them alike over a socket, where plain infer requests skip fastify (the fast path)', async () => {
    const url = new URL(await server.listen(0, '127.0.0.1'))
    const before = server.routes.fastPath.served
    assert.ok(server.routes.fastPath.enabled)
    for (const c of CASES) {
      const payload =
        c.body === undefined || typeof c.body === 'string' || Buffer.isBuffer(c.body)
          ? (c.body as string | Buffer | undefined)
          : JSON.stringify(c.body)
      const headers = {
        ...(typeof c.body === 'object' && !Buffer.isBuffer(c.body)
          ? { 'content-type': 'application/json' }
          : {}),
        ...c.headers,
      }
      const req = { method: c.method ?? 'POST', url: c.url ?? ALBERT, headers }
      const injected = await server.app.inject({ ...req, ...(payload !== undefined ? { payload } : {}) })
      const sent = await new Promise<{ status: number; type: string; body: string }>((resolve, reject) => {
        const r = http.request(
          { host: url.hostname, port: url.port, method: req.method, path: req.url, headers },
          (res) => {
            let body = ''
            res.on('data', (d) => {
              body += d
            })
            res.on('end', () =>
              resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }),
            )
          },
        )
        r.on('error', reject)
        r.end(payload)
      })
      assert.deepEqual(
        sent,
        {
          status: injected.statusCode,
          type: String(injected.headers['content-type']),
          body: injected.body,
        },
        c.name,
      )
    }
    assert.ok(server.routes.fastPath.served - before >= 30, `${server.routes.fastPath.served - before} fast`)
  })

  it('keeps serving after all of them', async () => {
    const live = await server.app.inject({ method: 'GET', url: '/v2/health/ready' })
    assert.equal(live.statusCode, 200)
    const res = await server.app.inject({ method: 'POST', url: ALBERT, payload: albertBody(2) })
    assert.equal(res.statusCode, 200, res.body)
    assert.equal(res.json().parameters.simulated, true)
    const metrics = await server.app.inject({ method: 'GET', url: '/metrics' })
    // every rejected request for a known model counts as an INVALID failure
    assert.match(
      metrics.body,
      /nv_inference_request_failure\{model="albert",version="1",reason="INVALID"\} [1-9]\d*/,
    )
  })
})
