// The front-end channel's infer and reply frames (src/serve/frontends/protocol.ts): compact array headers, the tensors'
// bytes in the frame's body. Each side's encoder against the other side's decoder, through real frames (FrameWriter
// and FrameDecoder): every field of a request and an answer comes back as it was sent, bytes included, and frames
// the other side does not know are ignored, not misread.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { FrameDecoder, FrameWriter } from '../../src/execute/gpu/frames.ts'
import {
  engineFrame,
  failedHeader,
  frontendFrame,
  inferHeader,
  replyHeader,
  type WireOutcome,
  type WireRequest,
} from '../../src/serve/frontends/protocol.ts'
import { recorder } from './helpers.ts'

/** `header` and `parts` sent as one frame and read back: what the other side's decoder is given. */
async function roundTrip(header: object, parts: Uint8Array[]): Promise<{ header: unknown; body: Buffer }> {
  const { stream, writes } = recorder()
  new FrameWriter(stream).write(header, parts)
  await new Promise((r) => setImmediate(r))
  const frames = new FrameDecoder().push(Buffer.concat(writes))
  assert.equal(frames.length, 1)
  return frames[0] as { header: unknown; body: Buffer }
}

const bytes = (...xs: number[]) => Buffer.from(xs)

describe('front-end channel frames', () => {
  it('an infer call: every field, region references and bytes carried in the body, in order', async () => {
    const req: WireRequest = {
      id: 'client-7',
      batch: 2,
      inputs: [
        { name: 'a', datatype: 'FP16', shape: [2, 3], data: bytes(1, 2, 3) },
        { name: 'b', datatype: 'INT64', shape: [2, 1], shm: { region: 'cl', offset: 64, bytes: 16 } },
        {
          name: 'c',
          datatype: 'FP32',
          shape: [2],
          shm: { region: 'st', staging: true, offset: 0, bytes: 8 },
        },
        { name: 'd', datatype: 'UINT8', shape: [2, 2], data: bytes(9, 8, 7, 6) },
      ],
      outputs: [
        { name: 'x', binary: true },
        { name: 'y', binary: false, shm: { region: 'cl', offset: 128, bytes: 4000 } },
        { name: 'z', binary: true, shm: { region: 'st', staging: true, offset: 64, bytes: 8 } },
      ],
      binaryOutputs: true,
      timeoutUs: 250_000,
      parameters: { binary_data_output: true, note: 'kept' },
    }
    const parts: Uint8Array[] = []
    const f = await roundTrip(inferHeader(41, 'alexnet-0', req, 3_605_123.5, parts), parts)
    const m = engineFrame(f.header, f.body)
    assert.ok(m && m.t === 'infer')
    assert.equal(m.id, 41)
    assert.equal(m.model, 'alexnet-0')
    assert.equal(m.receivedAtMonotonicMs, 3_605_123.5)
    const plain = (t: WireRequest['inputs'][number]) => ({ ...t, ...(t.data ? { data: [...t.data] } : {}) })
    assert.deepEqual({ ...m.req, inputs: m.req.inputs.map(plain) }, { ...req, inputs: req.inputs.map(plain) })
  })

  it('an infer call without optional fields leaves them out', async () => {
    const req: WireRequest = {
      batch: 1,
      inputs: [{ name: 'input', datatype: 'FP16', shape: [1, 4], shm: { region: 'r', offset: 0, bytes: 8 } }],
      binaryOutputs: false,
      parameters: {},
    }
    const parts: Uint8Array[] = []
    const f = await roundTrip(inferHeader(1, 'm', req, 5, parts), parts)
    assert.equal(parts.length, 0, 'nothing crosses the channel for a tensor in a region')
    assert.equal(f.body.length, 0)
    const m = engineFrame(f.header, f.body)
    assert.ok(m && m.t === 'infer')
    assert.deepEqual(m.req, req)
    assert.ok(!('outputs' in m.req) && !('timeoutUs' in m.req) && !('id' in m.req))
  })

  it('a reply: outputs as bytes or where they lie, and the parameters', async () => {
    const outcome: WireOutcome = {
      outputs: [
        { name: 'logits', datatype: 'FP16', shape: [1, 2], data: bytes(0, 60, 0, 188) },
        {
          name: 'h',
          datatype: 'FP32',
          shape: [1, 1],
          shm: { region: 'st', staging: true, offset: 64, bytes: 4 },
        },
        { name: 'g', datatype: 'FP32', shape: [1, 1], shm: { region: 'cl', offset: 8, bytes: 4 } },
      ],
      parameters: { queue_us: 12, compute_us: 345, batched_requests: 1 },
    }
    const parts: Uint8Array[] = []
    const f = await roundTrip(replyHeader(9, outcome, parts), parts)
    const m = frontendFrame(f.header, f.body)
    assert.ok(m?.ok)
    assert.equal(m.id, 9)
    const [a, ...rest] = m.value.outputs
    assert.deepEqual([...(a?.data ?? [])], [0, 60, 0, 188])
    assert.deepEqual(rest, outcome.outputs.slice(1))
    assert.deepEqual(m.value.parameters, outcome.parameters)
  })

  it('a failure: status, message and headers, or a bare message', async () => {
    const f = await roundTrip(
      failedHeader(3, { status: 429, message: 'queue full', headers: { 'retry-after': '1' } }),
      [],
    )
    assert.deepEqual(frontendFrame(f.header, f.body), {
      id: 3,
      ok: false,
      error: { status: 429, message: 'queue full', headers: { 'retry-after': '1' } },
    })
    const g = await roundTrip(failedHeader(4, { message: 'backend failed' }), [])
    assert.deepEqual(frontendFrame(g.header, g.body), {
      id: 4,
      ok: false,
      error: { message: 'backend failed' },
    })
  })

  it('other frames: early refusals and invalid requests pass; unknown ones are ignored by both sides', () => {
    const none = Buffer.alloc(0)
    assert.deepEqual(engineFrame({ t: 'invalid', model: 'm' }, none), { t: 'invalid', model: 'm' })
    assert.deepEqual(engineFrame({ t: 'rejected', model: 'm' }, none), { t: 'rejected', model: 'm' })
    assert.equal(engineFrame({ t: 'hello' }, none), null)
    assert.equal(engineFrame({ t: 'invalid' }, none), null, 'no model named')
    assert.equal(engineFrame([1, 2, [], {}], none), null, 'a reply is not a call')
    assert.equal(frontendFrame([0, 1, 'm'], none), null, 'a call is not a reply')
    assert.equal(frontendFrame({ t: 'reply', id: 1 }, none), null)
  })
})
