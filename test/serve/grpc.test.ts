// eclip serve's KServe v2 gRPC front-end (src/serve/grpc/) through a plain @grpc/grpc-js client (no Python): every
// RPC, ModelInfer with raw and typed contents, requested outputs, outputs in shared memory, the errors with Triton's
// gRPC codes, ModelStreamInfer, draining; and the message conversions on their own (convert.ts).
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { connect as http2Connect } from 'node:http2'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import * as grpc from '@grpc/grpc-js'
import {
  grpcCode,
  inferParameter,
  kserveRequest,
  type ModelInferRequest,
  plainParameters,
} from '../../src/serve/grpc/convert.ts'
import { http2Sizes } from '../../src/serve/grpc/flow-control.ts'
import { inferenceService } from '../../src/serve/grpc/server.ts'
import { encodeElements } from '../../src/serve/kserve/datatypes.ts'
import type { EclipServer } from '../../src/serve/server.ts'
import { EchoBackend } from './grpc-echo-backend.ts'
import { type GrpcTestClient, grpcCall, grpcClient, grpcRefused, testServer } from './helpers.ts'

const IMAGE = 3 * 224 * 224 * 2 // one FP16 image
const LOGITS = 1000 * 2

const keys: string[] = []
function shmObject(bytes: number): string {
  const key = `/eclip-grpc-test-${process.pid}-${randomBytes(4).toString('hex')}`
  writeFileSync(`/dev/shm${key}`, Buffer.alloc(bytes))
  keys.push(key)
  return key
}

describe('serve: gRPC front-end (grpc-js client)', () => {
  let server: EclipServer
  let c: GrpcTestClient
  before(async () => {
    server = await testServer(
      [
        { name: 'vgg19', model: 'vgg19', batch: 4 },
        { name: 'albert', model: 'albert', batch: 2 },
      ],
      { backend: new EchoBackend() },
    )
    await server.listen(0, '127.0.0.1', { grpcPort: 0 })
    c = grpcClient(server.grpcAddress as string)
  })
  after(async () => {
    c?.close()
    await server?.close()
    for (const k of keys) rmSync(`/dev/shm${k}`, { force: true })
  })

  it('opens its HTTP/2 windows wide and allows large frames: a large request is not sent 64 KiB per round trip', async () => {
    // as the server read them (the defaults unless ECLIP_GRPC_* are set; those are tested below)
    const { streamWindow, connectionWindow, maxFrame } = http2Sizes()
    const session = http2Connect(`http://${server.grpcAddress}`)
    try {
      const settings = await new Promise<{ initialWindowSize?: number; maxFrameSize?: number }>(
        (resolve, reject) => {
          session.once('remoteSettings', resolve)
          session.once('error', reject)
        },
      )
      assert.equal(settings.initialWindowSize, streamWindow, 'the stream window in the server SETTINGS')
      assert.equal(settings.maxFrameSize, maxFrame, 'the largest frame in the server SETTINGS')
      assert.ok(maxFrame > 16_384 && streamWindow > 65_535)
      // the connection window comes in a WINDOW_UPDATE of its own, right after the SETTINGS
      const deadline = Date.now() + 2000
      while ((session.state.remoteWindowSize ?? 0) < connectionWindow && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 5))
      assert.equal(
        session.state.remoteWindowSize,
        connectionWindow,
        'the connection window the server opened',
      )
    } finally {
      session.close()
    }
  })

  it('health, server and model metadata, model config', async () => {
    assert.match(server.grpcAddress as string, /^127\.0\.0\.1:\d+$/)
    assert.deepEqual(await grpcCall(c, 'ServerLive', {}), { live: true })
    assert.deepEqual(await grpcCall(c, 'ServerReady', {}), { ready: true })
    assert.deepEqual(await grpcCall(c, 'ModelReady', { name: 'vgg19' }), { ready: true })
    assert.deepEqual(await grpcCall(c, 'ModelReady', { name: 'vgg19', version: '1' }), { ready: true })
    assert.deepEqual(await grpcCall(c, 'ModelReady', { name: 'nope' }), { ready: false })
    assert.deepEqual(await grpcCall(c, 'ModelReady', { name: 'vgg19', version: '2' }), { ready: false })
    const meta = await grpcCall(c, 'ServerMetadata', {})
    assert.equal(meta.name, 'eclip')
    assert.ok(meta.extensions.includes('system_shared_memory'))
    assert.deepEqual(await grpcCall(c, 'ModelMetadata', { name: 'albert' }), {
      name: 'albert',
      versions: ['1'],
      platform: 'eclip_pytorch',
      inputs: [{ name: 'input_ids', datatype: 'INT64', shape: [-1, 128] }],
      outputs: [{ name: 'last_hidden_state', datatype: 'FP16', shape: [-1, 128, 768] }],
    })
    const { config } = await grpcCall(c, 'ModelConfig', { name: 'vgg19', version: '1' })
    assert.equal(config.name, 'vgg19')
    assert.equal(config.max_batch_size, 4)
    assert.deepEqual(config.input, [{ name: 'input', data_type: 'TYPE_FP16', dims: [3, 224, 224] }])
    assert.deepEqual(config.output, [{ name: 'logits', data_type: 'TYPE_FP16', dims: [1000] }])
    assert.equal(config.parameters.dtype.string_value, 'fp16')
    assert.deepEqual(JSON.parse(config.parameters.dynamic_batching.string_value), {
      max_requests: 4,
      max_items: 4,
    })
    await grpcRefused(
      grpcCall(c, 'ModelMetadata', { name: 'nope' }),
      grpc.status.NOT_FOUND,
      /unknown model "nope"/,
    )
    await grpcRefused(
      grpcCall(c, 'ModelConfig', { name: 'vgg19', version: '7' }),
      grpc.status.NOT_FOUND,
      /no version "7"/,
    )
  })

  it('ModelInfer with raw_input_contents: the bytes come back in raw_output_contents', async () => {
    const x = randomBytes(2 * IMAGE)
    const res = await grpcCall(c, 'ModelInfer', {
      model_name: 'vgg19',
      id: 'r1',
      parameters: { custom: { string_param: 'kept out' } },
      inputs: [{ name: 'input', datatype: 'FP16', shape: [2, 3, 224, 224] }],
      raw_input_contents: [x],
    })
    assert.equal(res.model_name, 'vgg19')
    assert.equal(res.model_version, '1')
    assert.equal(res.id, 'r1')
    assert.deepEqual(res.outputs, [{ name: 'logits', datatype: 'FP16', shape: [2, 1000], parameters: {} }])
    assert.equal(res.raw_output_contents.length, 1)
    assert.ok(res.raw_output_contents[0].equals(x.subarray(0, 2 * LOGITS)))
    assert.equal(res.parameters.batched_requests.int64_param, 1)
    assert.equal(res.parameters.queue_us.parameter_choice, 'int64_param')
  })

  it('ModelInfer with typed contents (int64_contents) and a requested output', async () => {
    const ids = Array.from({ length: 2 * 128 }, (_, i) => i % 3000)
    const res = await grpcCall(c, 'ModelInfer', {
      model_name: 'albert',
      inputs: [{ name: 'input_ids', datatype: 'INT64', shape: [2, 128], contents: { int64_contents: ids } }],
      outputs: [{ name: 'last_hidden_state' }],
    })
    assert.deepEqual(res.outputs, [
      { name: 'last_hidden_state', datatype: 'FP16', shape: [2, 128, 768], parameters: {} },
    ])
    const raw = res.raw_output_contents[0] as Buffer
    assert.equal(raw.length, 2 * 128 * 768 * 2)
    assert.ok(raw.subarray(0, 2 * 128 * 8).equals(encodeElements('INT64', ids)))
  })

  it('refuses bad requests with the HTTP layer’s messages and Triton’s codes', async () => {
    const image = (n = 1) => ({
      model_name: 'vgg19',
      inputs: [{ name: 'input', datatype: 'FP16', shape: [n, 3, 224, 224] }],
      raw_input_contents: [Buffer.alloc(n * IMAGE)],
    })
    await grpcRefused(
      grpcCall(c, 'ModelInfer', { ...image(), model_name: 'nope' }),
      grpc.status.NOT_FOUND,
      /unknown model "nope"/,
    )
    await grpcRefused(
      grpcCall(c, 'ModelInfer', { ...image(), model_version: '3' }),
      grpc.status.NOT_FOUND,
      /model "vgg19" has no version "3"/,
    )
    await grpcRefused(
      grpcCall(c, 'ModelInfer', {
        ...image(),
        inputs: [{ name: 'input', datatype: 'FP16', shape: [1, 3, 224, 225] }],
      }),
      grpc.status.INVALID_ARGUMENT,
      /input "input": shape \[1,3,224,225\] does not match \[-1,3,224,224\]/,
    )
    await grpcRefused(
      grpcCall(c, 'ModelInfer', {
        ...image(),
        inputs: [{ name: 'input', datatype: 'INT8', shape: [1, 3, 224, 224] }],
      }),
      grpc.status.INVALID_ARGUMENT,
      /datatype INT8 is not accepted/,
    )
    await grpcRefused(
      grpcCall(c, 'ModelInfer', { ...image(), raw_input_contents: [Buffer.alloc(IMAGE - 2)] }),
      grpc.status.INVALID_ARGUMENT,
      /binary_data_size \d+ does not match shape/,
    )
    await grpcRefused(
      grpcCall(c, 'ModelInfer', { ...image(), raw_input_contents: [Buffer.alloc(IMAGE), Buffer.alloc(4)] }),
      grpc.status.INVALID_ARGUMENT,
      /raw_input_contents has 2 entries, but 1 input/,
    )
    await grpcRefused(
      grpcCall(c, 'ModelInfer', { ...image(), raw_input_contents: [] }),
      grpc.status.INVALID_ARGUMENT,
      /input "input": no data/,
    )
    await grpcRefused(
      grpcCall(c, 'ModelInfer', {
        ...image(5),
        inputs: [{ name: 'input', datatype: 'FP16', shape: [5, 3, 224, 224] }],
      }),
      grpc.status.INVALID_ARGUMENT,
      /batch dimension 5 is outside 1 … 4/,
    )
    await grpcRefused(
      grpcCall(c, 'ModelInfer', { ...image(), outputs: [{ name: 'probabilities' }] }),
      grpc.status.INVALID_ARGUMENT,
      /the model has no output "probabilities"/,
    )
    await grpcRefused(
      grpcCall(c, 'ModelInfer', {
        model_name: 'albert',
        inputs: [{ name: 'input_ids', datatype: 'INT64', shape: [1, 128], contents: { fp32_contents: [1] } }],
      }),
      grpc.status.INVALID_ARGUMENT,
      /INT64 elements go in contents.int64_contents, not contents.fp32_contents/,
    )
    await grpcRefused(
      grpcCall(c, 'ModelInfer', {
        model_name: 'vgg19',
        inputs: [
          { name: 'input', datatype: 'FP16', shape: [1, 3, 224, 224], contents: { fp32_contents: [1] } },
        ],
      }),
      grpc.status.INVALID_ARGUMENT,
      /FP16 has no typed contents/,
    )
    await grpcRefused(
      grpcCall(c, 'ModelInfer', {
        model_name: 'albert',
        inputs: [
          { name: 'input_ids', datatype: 'INT64', shape: [1, 128], contents: { int64_contents: [1, 2] } },
        ],
      }),
      grpc.status.INVALID_ARGUMENT,
      /shape \[1,128\] needs 128 elements, "data" has 2/,
    )
    // the server keeps serving
    assert.equal((await grpcCall(c, 'ModelInfer', image())).outputs.length, 1)
  })

  it('system and CUDA shared memory: register, status, tensors in regions, errors, unregister', async () => {
    const key = shmObject(IMAGE + LOGITS)
    assert.deepEqual(
      await grpcCall(c, 'SystemSharedMemoryRegister', { name: 'in', key, offset: 0, byte_size: IMAGE }),
      {},
    )
    await grpcCall(c, 'SystemSharedMemoryRegister', { name: 'out', key, offset: IMAGE, byte_size: LOGITS })
    assert.deepEqual(await grpcCall(c, 'SystemSharedMemoryStatus', { name: 'in' }), {
      regions: { in: { name: 'in', key, offset: 0, byte_size: IMAGE } },
    })
    assert.deepEqual(Object.keys((await grpcCall(c, 'SystemSharedMemoryStatus', {})).regions).sort(), [
      'in',
      'out',
    ])
    await grpcRefused(
      grpcCall(c, 'SystemSharedMemoryRegister', { name: 'in', key, byte_size: IMAGE }),
      grpc.status.ALREADY_EXISTS,
      /'in' already in manager/,
    )
    await grpcRefused(
      grpcCall(c, 'SystemSharedMemoryRegister', { name: 'x', key: '/eclip-no-such-key', byte_size: 8 }),
      grpc.status.INVALID_ARGUMENT,
      /Unable to open shared memory region/,
    )
    await grpcRefused(
      grpcCall(c, 'SystemSharedMemoryStatus', { name: 'nope' }),
      grpc.status.NOT_FOUND,
      /Unable to find system shared memory region: 'nope'/,
    )
    const region = (name: string, bytes: number) => ({
      shared_memory_region: { string_param: name },
      shared_memory_byte_size: { int64_param: bytes },
    })
    const res = await grpcCall(c, 'ModelInfer', {
      model_name: 'vgg19',
      inputs: [{ name: 'input', datatype: 'FP16', shape: [1, 3, 224, 224], parameters: region('in', IMAGE) }],
      outputs: [{ name: 'logits', parameters: region('out', LOGITS) }],
    })
    assert.deepEqual(res.outputs, [
      {
        name: 'logits',
        datatype: 'FP16',
        shape: [1, 1000],
        parameters: {
          shared_memory_region: { string_param: 'out', parameter_choice: 'string_param' },
          shared_memory_byte_size: { int64_param: LOGITS, parameter_choice: 'int64_param' },
        },
      },
    ])
    assert.deepEqual(res.raw_output_contents, [Buffer.alloc(0)])
    await grpcRefused(
      grpcCall(c, 'ModelInfer', {
        model_name: 'vgg19',
        inputs: [
          { name: 'input', datatype: 'FP16', shape: [1, 3, 224, 224], parameters: region('gone', IMAGE) },
        ],
      }),
      grpc.status.INVALID_ARGUMENT,
      /Unable to find shared memory region: 'gone'/,
    )
    await grpcRefused(
      grpcCall(c, 'ModelInfer', {
        model_name: 'vgg19',
        inputs: [
          { name: 'input', datatype: 'FP16', shape: [1, 3, 224, 224], parameters: region('out', LOGITS) },
        ],
      }),
      grpc.status.INVALID_ARGUMENT,
      /shared_memory_byte_size 2000 does not match shape/,
    )
    await grpcCall(c, 'SystemSharedMemoryUnregister', { name: 'in' })
    assert.deepEqual(Object.keys((await grpcCall(c, 'SystemSharedMemoryStatus', {})).regions), ['out'])
    await grpcCall(c, 'SystemSharedMemoryUnregister', {})
    assert.deepEqual(await grpcCall(c, 'SystemSharedMemoryStatus', {}), { regions: {} })

    const handle = randomBytes(64)
    await grpcCall(c, 'CudaSharedMemoryRegister', {
      name: 'dev',
      raw_handle: handle,
      device_id: 0,
      byte_size: IMAGE,
    })
    assert.deepEqual(await grpcCall(c, 'CudaSharedMemoryStatus', {}), {
      regions: { dev: { name: 'dev', device_id: 0, byte_size: IMAGE } },
    })
    await grpcRefused(
      grpcCall(c, 'CudaSharedMemoryRegister', { name: 'bad', raw_handle: randomBytes(10), byte_size: 8 }),
      grpc.status.INVALID_ARGUMENT,
      /64-byte cudaIpcMemHandle_t \(got 10 bytes\)/,
    )
    await grpcRefused(
      grpcCall(c, 'SystemSharedMemoryUnregister', { name: 'dev' }),
      grpc.status.INVALID_ARGUMENT,
      /dev/,
    )
    await grpcCall(c, 'CudaSharedMemoryUnregister', { name: 'dev' })
    assert.deepEqual(await grpcCall(c, 'CudaSharedMemoryStatus', {}), { regions: {} })
  })

  it('ModelStatistics: the counts GET …/stats has, where the server keeps statistics', async () => {
    if (typeof (server as { modelStats?: unknown }).modelStats !== 'function')
      return grpcRefused(grpcCall(c, 'ModelStatistics', {}), grpc.status.UNIMPLEMENTED, /keeps no statistics/)
    const { model_stats } = await grpcCall(c, 'ModelStatistics', { name: 'vgg19' })
    assert.equal(model_stats.length, 1)
    assert.equal(model_stats[0].name, 'vgg19')
    assert.ok(model_stats[0].inference_count >= 2, JSON.stringify(model_stats[0]))
    assert.ok(model_stats[0].inference_stats.success.count >= 1)
    assert.equal((await grpcCall(c, 'ModelStatistics', {})).model_stats.length, 2)
    await grpcRefused(
      grpcCall(c, 'ModelStatistics', { name: 'nope' }),
      grpc.status.NOT_FOUND,
      /unknown model "nope"/,
    )
  })

  it('ModelStreamInfer answers each request on the stream, failures as error_message', async () => {
    const stream = (c.ModelStreamInfer as () => grpc.ClientDuplexStream<unknown, Record<string, unknown>>)()
    const answers: Record<string, unknown>[] = []
    const done = new Promise<void>((resolve, reject) => {
      stream.on('data', (d) => answers.push(d))
      stream.on('end', resolve)
      stream.on('error', reject)
    })
    const req = (id: string, model = 'vgg19') => ({
      model_name: model,
      id,
      inputs: [{ name: 'input', datatype: 'FP16', shape: [1, 3, 224, 224] }],
      raw_input_contents: [Buffer.alloc(IMAGE)],
    })
    stream.write(req('a'))
    stream.write(req('b', 'nope'))
    stream.write(req('c'))
    stream.end()
    await done
    type Answer = {
      error_message?: string
      infer_response: {
        id: string
        raw_output_contents?: Buffer[]
        parameters?: { grpc_status?: { int64_param?: number | string } }
      }
    }
    const byId = new Map((answers as Answer[]).map((a) => [a.infer_response.id, a]))
    assert.equal(answers.length, 3)
    assert.equal(byId.get('a')?.error_message, undefined)
    assert.equal(byId.get('a')?.infer_response.raw_output_contents?.length, 1)
    assert.match(byId.get('b')?.error_message ?? '', /unknown model "nope"/)
    // the code a ModelInfer call would have failed with: NOT_FOUND
    assert.equal(
      Number(byId.get('b')?.infer_response.parameters?.grpc_status?.int64_param),
      grpc.status.NOT_FOUND,
    )
    assert.equal(byId.get('a')?.infer_response.parameters?.grpc_status, undefined)
    assert.equal(byId.get('c')?.infer_response.raw_output_contents?.length, 1)
  })

  it('a message protobuf cannot read is refused alone: the stream goes on, a unary call is INVALID_ARGUMENT', async () => {
    // bytes as they come: the service's own (de)serializers for the good messages, garbage for the bad one
    const service = inferenceService()
    const stream = service.ModelStreamInfer as grpc.MethodDefinition<unknown, unknown>
    const infer = service.ModelInfer as grpc.MethodDefinition<unknown, unknown>
    const same = (b: Buffer) => b
    const Raw = grpc.makeGenericClientConstructor(
      {
        Stream: { ...stream, requestSerialize: same, responseDeserialize: same },
        Unary: { ...infer, requestSerialize: same, responseDeserialize: same },
      },
      'Raw',
    )
    const raw = new Raw(server.grpcAddress as string, grpc.credentials.createInsecure())
    try {
      const good = (id: string) =>
        stream.requestSerialize({
          model_name: 'vgg19',
          id,
          inputs: [{ name: 'input', datatype: 'FP16', shape: [1, 3, 224, 224] }],
          raw_input_contents: [Buffer.alloc(IMAGE)],
        })
      const call = (raw.Stream as () => grpc.ClientDuplexStream<Buffer, Buffer>)()
      const answers: { error_message?: string; infer_response?: { id?: string } }[] = []
      const done = new Promise<void>((resolve, reject) => {
        call.on('data', (d: Buffer) =>
          answers.push(stream.responseDeserialize(d) as (typeof answers)[number]),
        )
        call.on('end', resolve)
        call.on('error', reject)
      })
      call.write(good('a'))
      call.write(Buffer.from([0xff, 0xff, 0xff]))
      call.write(good('c'))
      call.end()
      await done
      assert.equal(answers.length, 3)
      assert.deepEqual(
        answers
          .filter((a) => !a.error_message)
          .map((a) => a.infer_response?.id)
          .sort(),
        ['a', 'c'],
      )
      assert.match(
        answers.find((a) => a.error_message)?.error_message ?? '',
        /^malformed ModelInferRequest: /,
      )
      const unary = await new Promise<grpc.ServiceError | null>((resolve) =>
        (raw.Unary as (b: Buffer, cb: (e: grpc.ServiceError | null) => void) => void)(
          Buffer.from([0xff, 0xff, 0xff]),
          resolve,
        ),
      )
      assert.equal(unary?.code, grpc.status.INVALID_ARGUMENT)
      assert.match(unary?.details ?? '', /^malformed ModelInferRequest: /)
    } finally {
      raw.close()
    }
  })
})

describe('serve: gRPC deadlines, timeouts, draining', () => {
  it('a request past its timeout is DEADLINE_EXCEEDED; drain answers what was accepted, then stops', async () => {
    const server = await testServer([{ name: 'vgg19', model: 'vgg19', batch: 1 }], {
      backend: new EchoBackend(150),
    })
    await server.listen(0, '127.0.0.1', { grpcPort: 0 })
    const c = grpcClient(server.grpcAddress as string)
    const image = (extra: Record<string, unknown> = {}) => ({
      model_name: 'vgg19',
      inputs: [{ name: 'input', datatype: 'FP16', shape: [1, 3, 224, 224] }],
      raw_input_contents: [Buffer.alloc(IMAGE)],
      ...extra,
    })
    try {
      await grpcRefused(
        grpcCall(c, 'ModelInfer', image({ parameters: { timeout: { int64_param: 20_000 } } })),
        grpc.status.DEADLINE_EXCEEDED,
        /request timed out after 20 ms/,
      )
      const inFlight = grpcCall(c, 'ModelInfer', image({ id: 'last' }))
      await new Promise((r) => setTimeout(r, 30))
      const drained = server.drain(5000)
      assert.equal((await inFlight).id, 'last')
      assert.deepEqual(await drained, { answered: true })
      await assert.rejects(
        grpcCall(c, 'ServerLive', {}),
        (e: grpc.ServiceError) => e.code === grpc.status.UNAVAILABLE,
      )
    } finally {
      c.close()
      await server.close()
    }
  })

  it('a busy gRPC port is refused with its address; null/absent grpcPort starts no gRPC', async () => {
    const a = await testServer([{ name: 'vgg19', model: 'vgg19' }])
    const b = await testServer([{ name: 'vgg19', model: 'vgg19' }])
    try {
      await a.listen(0, '127.0.0.1', { grpcPort: 0 })
      const port = Number((a.grpcAddress as string).split(':')[1])
      await assert.rejects(
        b.listen(0, '127.0.0.1', { grpcPort: port }),
        (e: NodeJS.ErrnoException & { grpcPort?: number }) => {
          assert.equal(e.grpcPort, port)
          assert.equal(e.code, 'EADDRINUSE')
          return true
        },
      )
      const d = await testServer([{ name: 'vgg19', model: 'vgg19' }])
      await d.listen(0, '127.0.0.1')
      assert.equal(d.grpcAddress, undefined)
      await d.close()
    } finally {
      await a.close()
      await b.close()
    }
  })
})

describe('serve: the CLI and gRPC', () => {
  it('--grpc-port: a busy port exits 2 naming it; a bad value exits 2', { timeout: 60_000 }, async () => {
    const { createServer } = await import('node:net')
    const blocker = createServer()
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r))
    const port = (blocker.address() as { port: number }).port
    const dir = mkdtempSync(join(tmpdir(), 'eclip-grpc-cli-'))
    const config = join(dir, 'serve.yaml')
    writeFileSync(config, 'policy: baseline\nmodels:\n  - model: alexnet\n')
    const bin = join(import.meta.dirname, '..', '..', 'bin', 'eclip.mjs')
    const serve = (...args: string[]) =>
      spawnSync(process.execPath, [bin, 'serve', '--config', config, '--port', '0', ...args], {
        encoding: 'utf8',
      })
    try {
      const r = serve('--grpc-port', String(port))
      assert.equal(r.status, 2, r.stderr)
      assert.match(r.stderr, new RegExp(`cannot listen for gRPC on 127.0.0.1:${port} \\(EADDRINUSE`))
      const bad = serve('--grpc-port', 'eight')
      assert.equal(bad.status, 2, bad.stderr)
      assert.match(bad.stderr, /--grpc-port: "eight" is not a port number \(or off\)/)
      // a bad HTTP/2 size in the environment: refused at start-up naming the variable, no stack trace
      for (const [name, v] of [
        ['ECLIP_GRPC_MAX_FRAME_BYTES', '4096'],
        ['ECLIP_GRPC_WINDOW_BYTES', '8M'],
      ] as const) {
        const env = spawnSync(process.execPath, [bin, 'serve', '--config', config, '--port', '0'], {
          encoding: 'utf8',
          env: { ...process.env, [name]: v },
        })
        assert.equal(env.status, 2, env.stderr)
        assert.match(
          env.stderr,
          new RegExp(`^eclip: ${name}: "${v}" is not a size in bytes \\(a whole number`, 'm'),
        )
        assert.doesNotMatch(env.stderr, /\n\s+at /)
      }
      // serve-bench, whose server and clients take the same sizes, checks them before anything starts
      const sb = spawnSync(process.execPath, [bin, 'serve-bench', '--mix', 'mix7', '--duration', '0.1'], {
        encoding: 'utf8',
        env: { ...process.env, ECLIP_GRPC_MAX_FRAME_BYTES: 'big' },
      })
      assert.equal(sb.status, 2, sb.stderr)
      assert.match(sb.stderr, /^eclip: ECLIP_GRPC_MAX_FRAME_BYTES: "big" is not a size in bytes/m)
    } finally {
      blocker.close()
    }
  })
})

describe('serve: gRPC HTTP/2 sizes from the environment', () => {
  it('defaults, the variables, and bad values refused naming their variable', () => {
    assert.deepEqual(http2Sizes({}), { streamWindow: 8 << 20, connectionWindow: 64 << 20, maxFrame: 1 << 20 })
    assert.deepEqual(http2Sizes({ ECLIP_GRPC_WINDOW_BYTES: '65535', ECLIP_GRPC_MAX_FRAME_BYTES: '16384' }), {
      streamWindow: 65_535,
      connectionWindow: 8 * 65_535,
      maxFrame: 16_384,
    })
    assert.equal(http2Sizes({ ECLIP_GRPC_MAX_FRAME_BYTES: String(2 ** 24 - 1) }).maxFrame, 2 ** 24 - 1)
    assert.equal(http2Sizes({ ECLIP_GRPC_MAX_FRAME_BYTES: '' }).maxFrame, 1 << 20)
    for (const v of ['16383', String(2 ** 24), '1e6', ' 65536', '0x10000', '-1', '64k'])
      assert.throws(
        () => http2Sizes({ ECLIP_GRPC_MAX_FRAME_BYTES: v }),
        (e: Error) =>
          e.name === 'UserError' && e.message.startsWith(`ECLIP_GRPC_MAX_FRAME_BYTES: "${v}" is not`),
        v,
      )
    // the largest stream window whose connection window (8 of them) HTTP/2 allows: 2^31 - 1
    const most = Math.floor((2 ** 31 - 1) / 8)
    assert.equal(http2Sizes({ ECLIP_GRPC_WINDOW_BYTES: String(most) }).connectionWindow <= 2 ** 31 - 1, true)
    for (const v of [String(most + 1), '1.5', 'eight'])
      assert.throws(
        () => http2Sizes({ ECLIP_GRPC_WINDOW_BYTES: v }),
        (e: Error) =>
          e.name === 'UserError' && e.message.startsWith(`ECLIP_GRPC_WINDOW_BYTES: "${v}" is not`),
        v,
      )
  })
})

describe('serve: gRPC message conversion', () => {
  it('one raw input is passed as a view of the message; several are joined once', () => {
    const msg = Buffer.from(randomBytes(64))
    const one = kserveRequest({
      inputs: [{ name: 'x', datatype: 'UINT8', shape: [1, 16] }],
      raw_input_contents: [msg.subarray(8, 24)],
    })
    assert.equal(one.binary?.buffer, msg.buffer)
    assert.equal(one.binary?.byteOffset, msg.byteOffset + 8)
    const two = kserveRequest({
      id: 'q',
      inputs: [
        { name: 'a', datatype: 'UINT8', shape: [1, 4] },
        {
          name: 's',
          datatype: 'FP16',
          shape: [1, 2],
          parameters: { shared_memory_region: { string_param: 'r' } },
        },
        { name: 'b', datatype: 'UINT8', shape: [1, 2] },
      ],
      raw_input_contents: [msg.subarray(0, 4), msg.subarray(10, 12)],
      outputs: [{ name: 'o' }],
    })
    assert.ok(two.binary?.equals(Buffer.concat([msg.subarray(0, 4), msg.subarray(10, 12)])))
    assert.deepEqual(two.json, {
      id: 'q',
      inputs: [
        { name: 'a', datatype: 'UINT8', shape: [1, 4], parameters: { binary_data_size: 4 } },
        { name: 's', datatype: 'FP16', shape: [1, 2], parameters: { shared_memory_region: 'r' } },
        { name: 'b', datatype: 'UINT8', shape: [1, 2], parameters: { binary_data_size: 2 } },
      ],
      parameters: { binary_data_output: true },
      outputs: [{ name: 'o', parameters: { binary_data: true } }],
    })
  })

  it('a gRPC deadline becomes the request timeout unless it has one; parameters both ways', () => {
    const req: ModelInferRequest = { inputs: [], parameters: {} }
    const t = kserveRequest(req, Date.now() + 2000).json.parameters as { timeout: number }
    assert.ok(t.timeout > 1_900_000 && t.timeout <= 2_000_000, String(t.timeout))
    const own = kserveRequest(
      { inputs: [], parameters: { timeout: { int64_param: 5, parameter_choice: 'int64_param' } } },
      Date.now() + 2000,
    )
    assert.equal((own.json.parameters as { timeout: number }).timeout, 5)
    // a deadline centuries away (a client's "no deadline" as a date) bounds nothing: no timeout of its own
    const far = kserveRequest(req, Date.now() + 1e13).json.parameters as { timeout?: number }
    assert.equal(far.timeout, undefined)
    assert.deepEqual(
      plainParameters({
        a: { parameter_choice: 'bool_param', bool_param: true },
        b: { parameter_choice: 'double_param', double_param: 0.5 },
        c: { parameter_choice: 'uint64_param', uint64_param: 7 },
      }),
      { a: true, b: 0.5, c: 7 },
    )
    assert.deepEqual([true, 3, 2.5, 'x', { y: 1 }].map(inferParameter), [
      { bool_param: true },
      { int64_param: 3 },
      { double_param: 2.5 },
      { string_param: 'x' },
      { string_param: '{"y":1}' },
    ])
  })

  it('maps HTTP statuses to the gRPC codes Triton uses', () => {
    assert.deepEqual(
      [400, 404, 413, 429, 500, 501, 503, 504].map((s) => grpc.status[grpcCode(s)]),
      [
        'INVALID_ARGUMENT',
        'NOT_FOUND',
        'RESOURCE_EXHAUSTED',
        'UNAVAILABLE',
        'INTERNAL',
        'UNIMPLEMENTED',
        'UNAVAILABLE',
        'DEADLINE_EXCEEDED',
      ],
    )
    assert.equal(grpcCode(400, "shared memory region 'a' already in manager"), grpc.status.ALREADY_EXISTS)
  })
})
