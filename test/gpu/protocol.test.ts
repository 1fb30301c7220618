import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { encodeFrame, FrameDecoder } from '../../src/execute/gpu/protocol.ts'

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
})
