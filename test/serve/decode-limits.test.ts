// Request decoding limits and parameters, over HTTP and gRPC alike: gRPC typed contents refused on the message's
// bytes before protobuf decodes them (more elements than the input takes; more bytes than maxJsonBytes); an output's
// classification parameter refused; timeout 0 as Triton's "no timeout"; wrongly typed binary_data_output /
// binary_data refused over gRPC as over HTTP; integers past 2^53 in shared-memory sizes named too large.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import * as grpc from '@grpc/grpc-js'
import { inputCapacity, limitedDeserializer, refusal } from '../../src/serve/grpc/contents-limit.ts'
import { kserveRequest, type ModelInferRequest } from '../../src/serve/grpc/convert.ts'
import { GrpcFrontEnd, inferenceService } from '../../src/serve/grpc/server.ts'
import { ProtocolError } from '../../src/serve/kserve/errors.ts'
import { decodeInferRequest } from '../../src/serve/kserve/tensors.ts'
import type { EclipServer } from '../../src/serve/server.ts'
import {
  albertBody,
  type GrpcTestClient,
  grpcCall,
  grpcClient,
  grpcRefused,
  post,
  testServer,
} from './helpers.ts'

const ALBERT = '/v2/models/albert/infer'
const ids = (n: number) => Array.from({ length: n }, (_, i) => i % 3000)
const albertTyped = (n: number, shape = [1, 128]) => ({
  model_name: 'albert',
  id: 'big',
  inputs: [{ name: 'input_ids', datatype: 'INT64', shape, contents: { int64_contents: ids(n) } }],
})
const modelInfer = inferenceService().ModelInfer as grpc.MethodDefinition<ModelInferRequest, unknown>

describe('gRPC typed contents: refused on the wire bytes, before decoding', () => {
  const albertCap = { elements: 256, shape: [-1, 128], batch: 2 }
  const limits = {
    maxBytes: 1 << 20,
    capacity: (model: string, input: string) =>
      model === 'albert' && input === 'input_ids' ? albertCap : undefined,
  }
  /** The limited deserializer, with whether it handed the message to protobuf's decoder. */
  const deserialize = (msg: Buffer, l = limits) => {
    let decoded = false
    const req = limitedDeserializer((b) => {
      decoded = true
      return modelInfer.requestDeserialize(b)
    }, l)(msg)
    return { req, decoded }
  }

  it('more elements than the input takes: refused without decoding, with the model, version and id kept', () => {
    for (const contents of [
      { int64_contents: ids(100_000) },
      { fp32_contents: new Array(257).fill(0.5) },
      { int_contents: new Array(257).fill(-1) },
    ]) {
      const msg = modelInfer.requestSerialize({
        ...albertTyped(0),
        model_version: '1',
        inputs: [{ name: 'input_ids', datatype: 'INT64', shape: [1, 128], contents }],
      })
      const { req, decoded } = deserialize(msg)
      assert.equal(decoded, false, Object.keys(contents)[0])
      assert.deepEqual(
        [req.model_name, req.model_version, req.id, req.inputs],
        ['albert', '1', 'big', undefined],
      )
      const err = refusal(req)
      assert.ok(err instanceof ProtocolError)
      assert.equal(err.status, 400)
      assert.equal(
        err.message,
        'input "input_ids": its typed contents hold more than 256 elements, the most it takes (shape [-1,128] at the model\'s batch size of 2)',
      )
    }
  })

  it('elements given unpacked, or a contents message split in two, are counted too', () => {
    const varint = (v: number) => {
      const out: number[] = []
      for (; v >= 0x80; v = Math.floor(v / 128)) out.push((v % 128) | 0x80)
      return [...out, v]
    }
    const ld = (field: number, body: number[]) => [...varint(field * 8 + 2), ...varint(body.length), ...body]
    const text = (s: string) => [...Buffer.from(s)]
    // int64_contents (field 3) as 300 varint fields of their own, in two contents messages of 150
    const unpacked = new Array(150).fill([3 * 8, 0x96, 0x01]).flat()
    const input = ld(5, [...ld(1, text('input_ids')), ...ld(5, unpacked), ...ld(5, unpacked)])
    const msg = Buffer.from([...ld(1, text('albert')), ...input])
    const { req, decoded } = deserialize(msg)
    assert.equal(decoded, false)
    assert.match(refusal(req)?.message ?? '', /hold more than 256 elements/)
    // as many as fit: handed to the decoder, which merges them as protobuf does
    const fits = deserialize(
      Buffer.from([...ld(1, text('albert')), ...ld(5, [...ld(1, text('input_ids')), ...ld(5, unpacked)])]),
    )
    assert.equal(fits.decoded, true)
    assert.equal(refusal(fits.req), undefined)
    assert.equal(fits.req.inputs?.[0]?.contents?.int64_contents?.length, 150)
  })

  it('within the input, raw bytes, an unknown input or model, a malformed message: decoded as before', () => {
    const within = deserialize(modelInfer.requestSerialize(albertTyped(256, [2, 128])))
    assert.equal(within.decoded, true)
    assert.equal(within.req.inputs?.[0]?.contents?.int64_contents?.length, 256)
    const raw = deserialize(
      modelInfer.requestSerialize({
        model_name: 'albert',
        inputs: [{ name: 'input_ids', datatype: 'INT64', shape: [2, 128] }],
        raw_input_contents: [Buffer.alloc(100_000)],
      }),
    )
    assert.equal(raw.decoded, true)
    for (const named of [
      { ...albertTyped(1000), model_name: 'other' },
      {
        ...albertTyped(1000),
        inputs: [{ name: 'x', datatype: 'INT64', shape: [1], contents: { int64_contents: ids(1000) } }],
      },
    ])
      assert.equal(deserialize(modelInfer.requestSerialize(named)).decoded, true)
    // a length prefix past the end: the decoder's error, as the one request's refusal (400) rather than a throw,
    // which would end the call (a stream with it)
    const malformed = deserialize(Buffer.from([0x2a, 0x7f, 0x0a]))
    assert.equal(malformed.decoded, true)
    assert.equal(refusal(malformed.req)?.status, 400)
    assert.match(refusal(malformed.req)?.message ?? '', /^malformed ModelInferRequest: /)
  })

  it('typed contents over maxBytes in all: refused 413 (RESOURCE_EXHAUSTED) without decoding', () => {
    const msg = modelInfer.requestSerialize(albertTyped(200))
    const { req, decoded } = deserialize(msg, { ...limits, maxBytes: 100 })
    assert.equal(decoded, false)
    const err = refusal(req)
    assert.equal(err?.status, 413)
    assert.match(
      err?.message ?? '',
      /^the request's typed contents are \d+ bytes, more than the limit of 100 \(the server's maxJsonBytes, as for JSON tensors over HTTP\): send tensors in raw_input_contents or in shared memory$/,
    )
  })

  it("an input's capacity: shape × the model's batch size; none where a dimension varies", () => {
    const m = {
      name: 'm',
      version: '1',
      platform: 'p',
      maxBatch: 4,
      config: {},
      io: {
        inputs: [
          { name: 'a', datatype: 'INT64' as const, shape: [-1, 128] },
          { name: 'v', datatype: 'INT64' as const, shape: [-1, -1] },
        ],
        outputs: [],
      },
    }
    assert.deepEqual(inputCapacity(m, 'a'), { elements: 512, shape: [-1, 128], batch: 4 })
    assert.equal(inputCapacity(m, 'v'), undefined)
    assert.equal(inputCapacity(m, 'nope'), undefined)
    assert.equal(inputCapacity(undefined, 'a'), undefined)
  })

  it('JSON data with more entries than the shape allows is refused before any element is read', () => {
    const io = { inputs: [{ name: 'x', datatype: 'INT64' as const, shape: [-1, 4] }], outputs: [] }
    const data = new Proxy(new Array(1000).fill(1), {
      get(target, p, r) {
        if (typeof p === 'string' && /^\d+$/.test(p)) throw new Error(`element ${p} read`)
        return Reflect.get(target, p, r)
      },
    })
    assert.throws(
      () => decodeInferRequest({ inputs: [{ name: 'x', datatype: 'INT64', shape: [2, 4], data }] }, io, 2),
      (e: Error) =>
        e instanceof ProtocolError &&
        /shape \[2,4\] needs 8 elements, "data" has 1000 entries/.test(e.message),
    )
  })
})

describe('decoding over HTTP and gRPC: limits, classification, timeout 0, parameter types', () => {
  let server: EclipServer
  let c: GrpcTestClient
  before(async () => {
    server = await testServer([{ name: 'albert', model: 'albert', batch: 2, computeUs: 100 }])
    await server.listen(0, '127.0.0.1', { grpcPort: 0 })
    c = grpcClient(server.grpcAddress as string)
  })
  after(async () => {
    c?.close()
    await server?.close()
  })

  it('typed contents past shape × batch size: INVALID_ARGUMENT naming the limit, also on a stream', async () => {
    await grpcRefused(
      grpcCall(c, 'ModelInfer', albertTyped(300)),
      grpc.status.INVALID_ARGUMENT,
      /^input "input_ids": its typed contents hold more than 256 elements, the most it takes \(shape \[-1,128\] at the model's batch size of 2\)$/,
    )
    // an unknown model is still NOT_FOUND
    await grpcRefused(
      grpcCall(c, 'ModelInfer', { ...albertTyped(300), model_name: 'nope' }),
      grpc.status.NOT_FOUND,
      /unknown model "nope"/,
    )
    const stream = (c.ModelStreamInfer as () => grpc.ClientDuplexStream<unknown, Record<string, unknown>>)()
    const answers: { error_message?: string; infer_response: { id?: string } }[] = []
    const done = new Promise<void>((resolve, reject) => {
      stream.on('data', (d) => answers.push(d))
      stream.on('end', resolve)
      stream.on('error', reject)
    })
    stream.write(albertTyped(300))
    stream.write({ ...albertTyped(128), id: 'ok' })
    stream.end()
    await done
    const byId = new Map(answers.map((a) => [a.infer_response.id, a]))
    assert.match(byId.get('big')?.error_message ?? '', /hold more than 256 elements/)
    assert.equal(byId.get('ok')?.error_message, undefined)
    // within the limit: answered
    assert.ok((await grpcCall(c, 'ModelInfer', albertTyped(128))).outputs)
  })

  it('typed contents over maxJsonBytes: RESOURCE_EXHAUSTED, as HTTP answers JSON over it 413', async () => {
    const fe = new GrpcFrontEnd(server, { maxMessageBytes: 1 << 20, maxJsonBytes: 100 })
    const address = await fe.listen(0, '127.0.0.1')
    const small = grpcClient(address)
    try {
      await grpcRefused(
        grpcCall(small, 'ModelInfer', albertTyped(128)),
        grpc.status.RESOURCE_EXHAUSTED,
        /typed contents are \d+ bytes, more than the limit of 100 \(the server's maxJsonBytes/,
      )
      const raw = {
        model_name: 'albert',
        inputs: [{ name: 'input_ids', datatype: 'INT64', shape: [1, 128] }],
        raw_input_contents: [Buffer.alloc(128 * 8)],
      }
      assert.ok((await grpcCall(small, 'ModelInfer', raw)).outputs)
    } finally {
      small.close()
      await fe.close()
    }
  })

  it("an output's classification parameter: 400 / INVALID_ARGUMENT; 0 (none) is a plain output", async () => {
    const http = await post(server, ALBERT, {
      ...albertBody(1),
      outputs: [{ name: 'last_hidden_state', parameters: { classification: 3 } }],
    })
    assert.equal(http.statusCode, 400, http.body)
    assert.equal(
      JSON.parse(http.body).error,
      'outputs[0]: output "last_hidden_state": the classification extension is not supported (ask for the output without "classification")',
    )
    await grpcRefused(
      grpcCall(c, 'ModelInfer', {
        ...albertTyped(128),
        outputs: [{ name: 'last_hidden_state', parameters: { classification: { int64_param: 3 } } }],
      }),
      grpc.status.INVALID_ARGUMENT,
      /output "last_hidden_state": the classification extension is not supported/,
    )
    const none = await post(server, ALBERT, {
      ...albertBody(1),
      outputs: [{ name: 'last_hidden_state', parameters: { classification: 0 } }],
    })
    assert.equal(none.statusCode, 200, none.body)
  })

  it('timeout 0 is no timeout of its own (HTTP and gRPC); a negative one is refused', async () => {
    const http = await post(server, ALBERT, { ...albertBody(1), parameters: { timeout: 0 } })
    assert.equal(http.statusCode, 200, http.body)
    assert.ok(
      (await grpcCall(c, 'ModelInfer', { ...albertTyped(128), parameters: { timeout: { int64_param: 0 } } }))
        .outputs,
    )
    const io = server.models().find((m) => m.name === 'albert')?.io
    assert.ok(io)
    const decoded = decodeInferRequest({ ...albertBody(1), parameters: { timeout: 0 } }, io, 2)
    assert.equal(decoded.timeoutUs, undefined)
    // over gRPC, as when absent: the call's deadline bounds it
    const t = kserveRequest({ inputs: [], parameters: { timeout: { int64_param: 0 } } }, Date.now() + 2000)
      .json.parameters as { timeout: number }
    assert.ok(t.timeout > 1_900_000 && t.timeout <= 2_000_000, String(t.timeout))
    const neg = await post(server, ALBERT, { ...albertBody(1), parameters: { timeout: -1 } })
    assert.equal(neg.statusCode, 400)
    assert.equal(
      JSON.parse(neg.body).error,
      'parameter "timeout" must be a non-negative integer (microseconds; 0: no timeout of its own)',
    )
  })

  it("binary_data_output / binary_data not a boolean: refused over gRPC with HTTP's message", async () => {
    const http = await post(server, ALBERT, { ...albertBody(1), parameters: { binary_data_output: 'yes' } })
    assert.equal(http.statusCode, 400)
    const message = JSON.parse(http.body).error as string
    assert.equal(message, 'parameter "binary_data_output" must be a boolean')
    await grpcRefused(
      grpcCall(c, 'ModelInfer', {
        ...albertTyped(128),
        parameters: { binary_data_output: { string_param: 'yes' } },
      }),
      grpc.status.INVALID_ARGUMENT,
      new RegExp(`^${message.replace(/[()]/g, '\\$&')}$`),
    )
    await grpcRefused(
      grpcCall(c, 'ModelInfer', {
        ...albertTyped(128),
        outputs: [{ name: 'last_hidden_state', parameters: { binary_data: { string_param: 'yes' } } }],
      }),
      grpc.status.INVALID_ARGUMENT,
      /^outputs\[0\]: "binary_data" must be a boolean$/,
    )
    // a boolean is fine (gRPC answers in raw_output_contents either way)
    const ok = await grpcCall(c, 'ModelInfer', {
      ...albertTyped(128),
      parameters: { binary_data_output: { bool_param: false } },
    })
    assert.ok(ok.outputs)
  })

  it('shared-memory sizes past 2^53: named too large, with the limit (register and infer)', async () => {
    await grpcRefused(
      grpcCall(c, 'SystemSharedMemoryRegister', { name: 'r', key: '/k', offset: 2 ** 63, byte_size: 8 }),
      grpc.status.INVALID_ARGUMENT,
      /^failed to register shared memory region 'r': "offset" 9223372036854776000 is too large \(at most 9007199254740991, 2\^53 − 1\)$/,
    )
    const http = await post(server, '/v2/systemsharedmemory/region/r/register', {
      key: '/k',
      offset: 0,
      byte_size: 2 ** 64,
    })
    assert.equal(http.statusCode, 400)
    assert.match(
      JSON.parse(http.body).error,
      /"byte_size" 18446744073709552000 is too large \(at most 9007199254740991/,
    )
    await grpcRefused(
      grpcCall(c, 'ModelInfer', {
        model_name: 'albert',
        inputs: [
          {
            name: 'input_ids',
            datatype: 'INT64',
            shape: [1, 128],
            parameters: {
              shared_memory_region: { string_param: 'r' },
              shared_memory_byte_size: { int64_param: 1024 },
              shared_memory_offset: { uint64_param: 2 ** 63 },
            },
          },
        ],
      }),
      grpc.status.INVALID_ARGUMENT,
      /input "input_ids": "shared_memory_offset" 9223372036854776000 is too large \(at most 9007199254740991/,
    )
  })

  it('ModelStatistics with no name answers every model whatever the version, as Triton does', async () => {
    const { model_stats } = await grpcCall(c, 'ModelStatistics', { name: '', version: '7' })
    assert.deepEqual(
      model_stats.map((s: { name: string }) => s.name),
      ['albert'],
    )
  })
})
