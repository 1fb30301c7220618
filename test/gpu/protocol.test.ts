import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { encodeFrame, encodeFrameHead, FrameDecoder } from '../../src/execute/gpu/frames.ts'
import {
  checkMessage,
  type FromBackend,
  ProtocolError,
  protocolSchema,
  REPLIES,
  REQUESTS,
  repliesById,
  type ToBackend,
} from '../../src/execute/gpu/protocol.ts'
import type { LatencyTable } from '../../src/formats/index.ts'
import { ALL, gpu, planOf, profileOf } from '../sim/fixtures.ts'

const repo = join(import.meta.dirname, '..', '..')
const venvPython = join(repo, '.venv', 'bin', 'python')
const python = existsSync(venvPython) ? venvPython : 'python3'

describe('GPU backend protocol', () => {
  it('lays frames out exactly as the Python side does', () => {
    // the same bytes gpu/tests/test_protocol.py expects from eclip_gpu.protocol.encode({"a": 1}, b"xy")
    const expected = Buffer.concat([Buffer.from([13, 0, 0, 0, 7, 0, 0, 0]), Buffer.from('{"a":1}xy')])
    assert.deepEqual(encodeFrame({ a: 1 }, Buffer.from('xy')), expected)
  })

  it('decodes frames split across arbitrary chunks', () => {
    const bytes = Buffer.concat([
      encodeFrame({ type: 'progress', key: 'k', message: 'é ✓' }),
      encodeFrame({ type: 'result', n: [1, 2, 3] }, Buffer.from([0, 1, 2])),
    ])
    const d = new FrameDecoder()
    const got: unknown[] = []
    for (let i = 0; i < bytes.length; i += 3) got.push(...d.push(bytes.subarray(i, i + 3)))
    assert.equal(got.length, 2)
    assert.deepEqual((got[0] as { header: unknown }).header, { type: 'progress', key: 'k', message: 'é ✓' })
    assert.deepEqual([...(got[1] as { body: Buffer }).body], [0, 1, 2])
  })

  it('decodes a multi-megabyte frame arriving in pipe-sized chunks, with frames on either side', () => {
    const big = Buffer.alloc(3 * 1024 * 1024 + 5)
    for (let i = 0; i < big.length; i++) big[i] = (i * 31 + 7) & 0xff
    const bytes = Buffer.concat([
      encodeFrame({ type: 'progress', key: 'a', message: 'x' }),
      encodeFrameHead({ type: 'output', id: 1 }, big.length),
      big,
      encodeFrame({ type: 'power', id: 2 }),
    ])
    // pipe-sized chunks, odd ones, and 3 bytes at a time (length prefixes split across chunks)
    for (const size of [65536, 65531, 4093, 3]) {
      const d = new FrameDecoder()
      const got: { header: unknown; body: Buffer }[] = []
      for (let i = 0; i < bytes.length; i += size) got.push(...d.push(bytes.subarray(i, i + size)))
      assert.deepEqual(
        got.map((f) => f.header),
        [
          { type: 'progress', key: 'a', message: 'x' },
          { type: 'output', id: 1 },
          { type: 'power', id: 2 },
        ],
      )
      assert.ok(got[1]?.body.equals(big), `chunks of ${size}`)
      assert.equal(got[2]?.body.length, 0)
    }
    // everything in one chunk
    assert.equal(new FrameDecoder().push(bytes).length, 3)
  })
})

describe('GPU backend protocol: serve messages', () => {
  it('carries an infer request’s tensor bytes in the body and an output’s back', () => {
    const tokens = Buffer.alloc(2 * 128 * 8)
    for (let i = 0; i < 256; i++) tokens.writeBigInt64LE(BigInt(i), i * 8)
    const infer: ToBackend = { type: 'infer', name: 'albert', id: 7, n: 2, dtype: 'INT64' }
    const out: FromBackend = {
      type: 'output',
      id: 7,
      shape: [2, 128, 768],
      datatype: 'FP16',
      computeUs: 812.5,
    }
    const d = new FrameDecoder()
    const frames = d.push(
      Buffer.concat([encodeFrame(infer, tokens), encodeFrame(out, Buffer.from([0, 0x3c]))]),
    )
    assert.deepEqual(frames[0]?.header, infer)
    assert.deepEqual(frames[0]?.body, tokens)
    assert.deepEqual(frames[1]?.header, out)
    assert.deepEqual([...(frames[1]?.body ?? [])], [0, 0x3c])
  })

  it('tells replies matched by id from the answer to the one serial request', () => {
    const byId: FromBackend[] = [
      { type: 'output', id: 1, shape: [1], datatype: 'FP32', computeUs: 1 },
      { type: 'power', id: 2, powerW: 300, energyJ: 12 },
      { type: 'error', id: 3, message: 'x', fatal: false },
    ]
    const serial: FromBackend[] = [
      { type: 'loaded', workers: [] },
      { type: 'error', message: 'capture failed', fatal: false },
      { type: 'progress', key: 'load', message: 'm' },
    ]
    assert.deepEqual(byId.map(repliesById), [true, true, true])
    assert.deepEqual(serial.map(repliesById), [false, false, false])
  })

  it('round-trips load/infer/output frames through the Python side’s own encoder and decoder', () => {
    // the Python backend's read_frame + send (gpu/eclip_gpu/frames.py, no torch) echo every frame back
    const load: ToBackend = {
      type: 'load',
      plan: null,
      workers: [{ name: 'alexnet', model: 'alexnet', batch: 4, dtype: 'fp16' }],
    }
    const body = Buffer.from(Array.from({ length: 3000 }, (_, i) => i % 251))
    const infer: ToBackend = { type: 'infer', name: 'alexnet', id: 1, n: 1, dtype: 'FP16' }
    const input = Buffer.concat([
      encodeFrame(load),
      encodeFrame(infer, body),
      encodeFrame({ type: 'shutdown' }),
    ])
    const script = [
      'import sys',
      `sys.path.insert(0, ${JSON.stringify(join(repo, 'gpu'))})`,
      'from eclip_gpu.frames import read_frame, send',
      'while True:',
      '    h, b = read_frame(0)',
      '    if h["type"] == "shutdown": break',
      '    send({"echo": h, "bodyLen": len(b)}, b, fd=1)',
    ].join('\n')
    const r = spawnSync(python, ['-c', script], { input })
    assert.equal(r.status, 0, r.stderr?.toString())
    const frames = new FrameDecoder().push(r.stdout)
    assert.equal(frames.length, 2)
    assert.deepEqual(frames[0]?.header, { echo: load, bodyLen: 0 })
    assert.deepEqual(frames[1]?.header, { echo: infer, bodyLen: 3000 })
    assert.deepEqual(frames[1]?.body, body)
  })
})

const plan = planOf('eclip', [ALL], [{ profile: profileOf('alexnet', [() => 10]), groups: [[0, 0, 0]] }])
const table: LatencyTable = JSON.parse(
  readFileSync(join(repo, 'results/h100/paris/sim-same-loads/latency/alexnet.fp16.latency.json'), 'utf8'),
)

/** One message of every type (several where optional fields change what is checked). */
const requests: ToBackend[] = [
  { type: 'hello' },
  {
    type: 'run',
    key: 'mix1|eclip|graph|b1',
    plan,
    mode: 'graph',
    warmupS: 1,
    windowS: 2,
    checkOutputs: true,
    arrivals: [{ kind: 'open', arrivalsUs: [0, 10.5] }],
  },
  {
    type: 'run',
    key: 'mix1|eclip-live|graph|b1',
    plan,
    mode: 'graph',
    warmupS: 1,
    windowS: 2,
    checkOutputs: false,
    arrivals: [{ kind: 'closed', periodsUs: [0, 5, 9, 12] }],
    live: { holdUs: 5000, plans: [{ key: 'alexnet#0', plan }], sets: ['', 'alexnet#0'] },
  },
  {
    type: 'load',
    plan,
    workers: [{ name: 'alexnet#0', model: 'alexnet', batch: 1, dtype: 'fp16', batches: [1] }],
    rings: { 'alexnet#0': { path: '/dev/shm/eclip-ring-1', bytes: 4096 } },
    plans: [{ key: 'alexnet', plan }],
  },
  {
    type: 'load',
    plan: null,
    workers: [{ name: 'm', model: 'm', batch: 2, dtype: 'fp32', source: '/m.pt', inputShape: [3] }],
    partitions: [{ id: 'g0p0', gpu: 0, slices: [0, 1], sms: 16 }],
  },
  {
    type: 'load-model',
    id: 8,
    worker: { name: 'vgg19', model: 'vgg19', batch: 1, dtype: 'fp16' },
    plans: [{ key: 'vgg19', plan }],
    ring: { path: '/dev/shm/eclip-ring-2', bytes: 4096 },
  },
  { type: 'unload-model', id: 9, name: 'vgg19' },
  { type: 'add-plans', id: 10, plans: [{ key: 'alexnet+vgg19', plan }] },
  { type: 'infer', name: 'alexnet#0', id: 1, n: 1, dtype: 'FP16' },
  {
    type: 'infer',
    name: 'alexnet#0',
    id: 2,
    n: 1,
    dtype: 'FP32',
    shm: { offset: 0, bytes: 602112, outOffset: 602112, outBytes: 2000 },
    partition: 'g0p0',
    plan: 'alexnet',
  },
  {
    type: 'infer',
    name: 'albert',
    id: 3,
    n: 1,
    dtype: 'INT64',
    input: { region: 'r1', offset: 0, bytes: 1024, range: [0, 30000] },
    output: { region: 'r1', offset: 1024, bytes: 4096 },
  },
  { type: 'power', id: 4 },
  {
    type: 'shm-register',
    id: 5,
    name: 'r1',
    kind: 'system',
    bytes: 8192,
    key: '/k',
    path: '/dev/shm/k',
    offset: 0,
  },
  { type: 'shm-register', id: 6, name: 'r2', kind: 'cuda', bytes: 8192, rawHandle: 'AAAA', deviceId: 0 },
  { type: 'shm-unregister', id: 7, name: 'r1' },
  { type: 'paris-table', key: 'alexnet', model: 'alexnet', batches: [1, 2], dtype: 'fp16', cellMs: 100 },
  { type: 'paris-gpus', key: 'gpus', count: 2 },
  {
    type: 'paris-run',
    key: 'elsa|8+8',
    partitions: [{ id: 'p0', gpu: 0, slices: [0], sms: 8 }],
    models: [{ model: 'alexnet', batches: [1], sloUs: 5000 }],
    dtype: 'fp16',
    estUs: [[[100]]],
    dispatch: 'elsa',
    sloMargin: 0.5,
    dropAfterSlo: 20,
    firstMeasured: 0,
    trace: { arrivalUs: [0, 50], model: [0, 0], batchIdx: [0, 0] },
    serves: [0],
    kernelWise: {
      pool: [{ id: 0, slices: [0], sms: 8 }],
      plans: [[{ groups: [{ first: 0, last: 0, partition: 0 }], fingerprint: 'f' }]],
    },
  },
  { type: 'shutdown' },
]

const replies: FromBackend[] = [
  { type: 'ready', gpu, versions: { torch: '2.9' } },
  { type: 'progress', key: 'load', message: 'captured' },
  {
    type: 'result',
    key: 'k',
    mode: 'graph',
    workers: [{ name: 'a', arrivalUs: [0], startUs: [1], endUs: [2], cpuUs: [0.5] }],
    windowStartUs: 0,
    windowEndUs: 2,
    energyJ: null,
    wallS: 1,
    clocks: { before: {}, after: {} },
    switches: [0],
    notes: [],
    outputCheck: [{ name: 'a', relErr: null, bitwise: true }],
  },
  {
    type: 'result',
    key: 'k',
    mode: 'graph',
    workers: [{ name: 'a', arrivalUs: [0], startUs: [1], endUs: [2] }],
    windowStartUs: 0,
    windowEndUs: 2,
    energyJ: 0.5,
    wallS: 1,
    clocks: {},
    switches: [0],
    notes: [],
    live: { requestSets: [[1]], setTimeUs: [0.5, 1.5], switches: 1, switchesTotal: 2 },
  },
  {
    type: 'loaded',
    workers: [
      {
        name: 'a',
        inputShape: [1, 3, 224, 224],
        inputDtype: 'FP16',
        outputShape: [1, 1000],
        outputDtype: 'FP16',
        fingerprint: 'f',
        mode: 'graph',
        kernels: 3,
        switches: 0,
        batches: [1],
        plans: { k: { mode: 'graph', switches: 1 } },
        memoryBytes: 1 << 20,
      },
    ],
    rings: { a: true, b: 'no room' },
    pipelineDepth: 2,
  },
  {
    type: 'model-loaded',
    id: 8,
    worker: {
      name: 'vgg19',
      inputShape: [1, 3, 224, 224],
      inputDtype: 'FP16',
      outputShape: [1, 1000],
      outputDtype: 'FP16',
      fingerprint: 'f',
      plans: { vgg19: { mode: 'whole', switches: 0 } },
    },
    captured: { alexnet: ['alexnet+vgg19'] },
    partitionsCreated: 2,
    ring: true,
  },
  { type: 'model-unloaded', id: 9, name: 'vgg19', retired: { alexnet: ['alexnet+vgg19'] }, refused: 0 },
  { type: 'plans-added', id: 10, captured: {}, partitionsCreated: 0 },
  { type: 'output', id: 1, shape: [1, 1000], datatype: 'FP16', computeUs: 81.5 },
  {
    type: 'output',
    id: 2,
    shape: [1, 1000],
    datatype: 'FP16',
    computeUs: 81.5,
    shm: { offset: 64, bytes: 2000 },
  },
  {
    type: 'output',
    id: 3,
    shape: [1, 1000],
    datatype: 'FP16',
    computeUs: 81.5,
    output: { region: 'r1', offset: 0, bytes: 2000 },
  },
  { type: 'power', id: 4, powerW: 300, energyJ: 12 },
  { type: 'shm-registered', id: 5, name: 'r1', note: 'not page-locked' },
  { type: 'shm-unregistered', id: 7, name: 'r1', closed: false },
  { type: 'latency-table', key: 'alexnet', table, wallS: 3 },
  {
    type: 'paris-result',
    key: 'k',
    releaseUs: [0],
    startUs: [1],
    endUs: [2],
    partition: [0],
    assigned: [-1],
    dropped: [0],
    energyJ: 1,
    energyPerGpuJ: [1],
    gpus: [0],
    energyFromUs: 0,
    energyToUs: 2,
    captures: 1,
    captureS: 0.1,
    graphs: 1,
    wallS: 1,
    clocks: null,
    notes: [],
  },
  { type: 'paris-gpus', key: 'gpus', deviceCount: 1, gpus: [gpu] },
  { type: 'error', message: 'x', fatal: false },
  { type: 'error', key: null, id: 3, message: 'x', fatal: true, trace: 'Traceback' },
]

describe('GPU backend protocol: the messages’ schemas', () => {
  it('has an example of every request and reply type, each valid', () => {
    assert.deepEqual(new Set(requests.map((m) => m.type)), new Set(Object.keys(REQUESTS)))
    assert.deepEqual(new Set(replies.map((m) => m.type)), new Set(Object.keys(REPLIES)))
    for (const m of requests) assert.equal(checkMessage(m, false), m)
    for (const m of replies) assert.equal(checkMessage(m, true), m)
  })

  it('refuses a message that breaks its schema, naming its type and the field', () => {
    const refuses = (m: unknown, replies: boolean, why: RegExp) =>
      assert.throws(
        () => (replies ? checkMessage(m, true) : checkMessage(m, false)),
        (e: unknown) => e instanceof ProtocolError && why.test(e.message),
      )
    refuses(
      { type: 'output', id: 1, shape: [1], datatype: 'FP17', computeUs: 1 },
      true,
      /^output reply \/datatype: /,
    )
    refuses(
      { type: 'output', id: 1, shape: [1], datatype: 'FP16' },
      true,
      /^output reply \/: missing field\(s\) "computeUs"/,
    )
    refuses({ type: 'loaded', workers: [{ name: 'a' }] }, true, /^loaded reply \/workers\/0: missing field/)
    refuses({ type: 'ready', gpu: { name: 'Fake' }, versions: {} }, true, /^ready reply \/gpu: missing field/)
    refuses(
      { type: 'infer', name: 'a', id: 1, n: 1, dtype: 'FP16', shm: { offset: -1 } },
      false,
      /^infer request \/shm/,
    )
    refuses({ type: 'power', id: 1, extra: true }, false, /^power request \/extra: unknown field$/)
    refuses({ type: 'nope' }, true, /^unknown reply type "nope"/)
    refuses('not an object', false, /^unknown request type undefined/)
  })

  it('round-trips every message through the Python side, which checks each against the exported schema', () => {
    // Python reads each frame, checks it (requests and replies alike) with eclip_gpu.protocol.check, and sends it
    // back as it read it; a message it refuses comes back as {refused: why}
    const script = [
      'import sys',
      `sys.path.insert(0, ${JSON.stringify(join(repo, 'gpu'))})`,
      'from eclip_gpu.frames import read_frame, send',
      'from eclip_gpu.protocol import ProtocolError, check',
      'while True:',
      '    try:',
      '        h, b = read_frame(0)',
      '    except EOFError:',
      '        break',
      '    try:',
      '        send(check(h["message"], h["kind"]), b, fd=1)',
      '    except ProtocolError as e:',
      '        send({"refused": str(e)}, fd=1)',
    ].join('\n')
    const all = [
      ...requests.map((message) => ({ kind: 'request', message })),
      ...replies.map((message) => ({ kind: 'reply', message })),
      { kind: 'request', message: { type: 'infer', name: 'a', id: 1, n: 0, dtype: 'FP16' } },
      { kind: 'request', message: { type: 'load', plan: null, workers: [{ name: 'a' }] } },
    ]
    const r = spawnSync(python, ['-c', script], {
      input: Buffer.concat(all.map((m, i) => encodeFrame(m, Buffer.from([i])))),
      maxBuffer: 64 << 20,
    })
    assert.equal(r.status, 0, r.stderr?.toString())
    const frames = new FrameDecoder().push(r.stdout)
    assert.equal(frames.length, all.length)
    for (const [i, { kind, message }] of all.slice(0, -2).entries()) {
      const f = frames[i]
      assert.deepEqual(f?.header, message, `${kind} ${message.type}`)
      assert.deepEqual([...(f?.body ?? [])], [i])
      if (kind === 'reply') checkMessage(f?.header, true)
      else checkMessage(f?.header, false)
    }
    assert.deepEqual(
      frames.slice(-2).map((f) => f.header),
      [
        { refused: 'infer request n: must be bigger than or equal to 1' },
        { refused: "load request workers[0]: must contain ['batch', 'dtype', 'model'] properties" },
      ],
    )
  })

  it('keeps schemas/backend-protocol.schema.json in sync with the TypeScript messages', () => {
    const committed = JSON.parse(readFileSync(join(repo, 'schemas', 'backend-protocol.schema.json'), 'utf8'))
    assert.deepEqual(
      committed,
      protocolSchema(),
      'schemas/backend-protocol.schema.json is stale: run npm run schemas',
    )
  })
})
