import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import {
  encodeFrame,
  encodeFrameHead,
  FrameDecoder,
  type FromBackend,
  repliesById,
  type ToBackend,
} from '../../src/execute/gpu/protocol.ts'

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
