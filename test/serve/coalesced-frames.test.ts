// Frames coalesced (src/execute/gpu/frames.ts FrameWriter; gpu/eclip_gpu/frames.py FrameReader and send): the
// frames written together — in one callback by default, in one event-loop turn with `turn` — leave in one write, and
// the reader takes each out of it as before. Tested alone, then through the GPU backend adapter with
// gpu_backend_fake.py (the real Python frame loop and Serving): several requests in one write, each answered by id
// with its own output; a bad one among good ones answered alone (a protocol error and a failing execution); a crash
// with a whole write of requests in flight (every one BackendUnavailableError); the front-end channel's frames
// likewise.
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import {
  DEFAULT_FRAME_FLUSH,
  FrameDecoder,
  FrameWriter,
  frameFlushFromEnv,
} from '../../src/execute/gpu/frames.ts'
import { BackendUnavailableError, type ExecRequest } from '../../src/serve/backend.ts'
import { GpuServeBackend } from '../../src/serve/gpu-backend.ts'
import { fromHalf } from '../../src/serve/kserve/datatypes.ts'
import { backendPython, recorder, servedModels } from './helpers.ts'

const turn = () => new Promise((r) => setImmediate(r))

describe('FrameWriter: the frames of one event-loop turn in one write', () => {
  it('writes three frames of a turn once, in order, bodies as they are; a later turn writes again', async () => {
    const { stream, writes } = recorder()
    const w = new FrameWriter(stream, 'turn')
    w.write({ type: 'infer', id: 1 }, Buffer.from([1, 2, 3]))
    w.write({ type: 'infer', id: 2 })
    w.write({ type: 'infer', id: 3 }, [Buffer.from([4]), Buffer.from([5, 6])])
    assert.equal(writes.length, 0, 'nothing is written before the turn ends')
    await turn()
    assert.equal(writes.length, 1)
    const frames = new FrameDecoder().push(writes[0] as Buffer)
    assert.deepEqual(
      frames.map((f) => [f.header, [...f.body]]),
      [
        [{ type: 'infer', id: 1 }, [1, 2, 3]],
        [{ type: 'infer', id: 2 }, []],
        [{ type: 'infer', id: 3 }, [4, 5, 6]],
      ],
    )
    w.write({ type: 'power', id: 4 })
    await turn()
    assert.equal(writes.length, 2)
    assert.deepEqual(new FrameDecoder().push(writes[1] as Buffer)[0]?.header, { type: 'power', id: 4 })
    assert.deepEqual({ frames: w.frames, flushes: w.flushes }, { frames: 4, flushes: 2 })
  })

  it('never holds a frame for a later one: a frame alone leaves when its turn ends', async () => {
    const { stream, writes } = recorder()
    const w = new FrameWriter(stream, 'turn')
    w.write({ type: 'hello' })
    await turn()
    assert.equal(writes.length, 1)
    w.write({ type: 'shutdown' })
    w.flush() // and at once when asked
    assert.equal(writes.length, 2)
  })
})

describe('FrameWriter: a batch per task', () => {
  it('sends what one callback wrote once that callback is done, not at the end of the turn', async () => {
    const { stream, writes } = recorder()
    const w = new FrameWriter(stream, 'task')
    const order: string[] = []
    setImmediate(() => order.push('end of turn'))
    w.write({ type: 'infer', id: 1 })
    w.write({ type: 'infer', id: 2 }, Buffer.from([7]))
    assert.equal(writes.length, 0, 'nothing while the callback runs')
    await Promise.resolve()
    order.push(`after the callback: ${writes.length} write`)
    assert.deepEqual(
      new FrameDecoder().push(writes[0] as Buffer).map((f) => f.header),
      [1, 2].map((id) => ({ type: 'infer', id })),
    )
    w.write({ type: 'infer', id: 3 })
    await turn()
    assert.deepEqual(order, ['after the callback: 1 write', 'end of turn'])
    assert.deepEqual(
      { frames: w.frames, flushes: w.flushes, writes: writes.length },
      { frames: 3, flushes: 2, writes: 2 },
    )
  })

  it('reads where a batch ends from ECLIP_FRAME_FLUSH and refuses a bad one by name', () => {
    assert.equal(frameFlushFromEnv({}), DEFAULT_FRAME_FLUSH)
    assert.equal(frameFlushFromEnv({ ECLIP_FRAME_FLUSH: 'task' }), 'task')
    assert.equal(frameFlushFromEnv({ ECLIP_FRAME_FLUSH: 'turn' }), 'turn')
    assert.throws(
      () => frameFlushFromEnv({ ECLIP_FRAME_FLUSH: 'soon' }),
      /ECLIP_FRAME_FLUSH: "soon" is not where/,
    )
  })
})

// ── through the Python frame loop ─────────────────────────────────────────────────────────────────────────────

const TOKENS = 128
/** One albert request of one item whose token ids are all `token` (the fake's output item is that id as FP16). */
function request(token: number, model = 'albert'): ExecRequest {
  const data = Buffer.alloc(TOKENS * 8)
  for (let i = 0; i < TOKENS; i++) data.writeBigInt64LE(BigInt(token), i * 8)
  return {
    model,
    items: 1,
    requests: 1,
    inputs: [{ name: 'input_ids', datatype: 'INT64', shape: [1, TOKENS], data }],
  }
}
const firstOut = (data: Buffer) => fromHalf(data.readUInt16LE(0))

async function backend(env: Record<string, string> = {}, transport: 'pipe' | 'shm' = 'pipe') {
  const { models } = servedModels([
    { name: 'albert', model: 'albert', batch: 1 },
    { name: 'albert-2', model: 'albert', batch: 1 },
  ])
  const b = new GpuServeBackend({ python: backendPython({ env }), powerPeriodMs: 60_000, transport })
  await b.load(models)
  return b
}

describe('coalesced frames through the Python backend (fake captures)', () => {
  for (const transport of ['pipe', 'shm'] as const)
    it(`several requests in one write (${transport}): each answered by id with its own output`, async () => {
      const b = await backend({}, transport)
      try {
        const proc = b.process
        assert.ok(proc)
        const before = proc.framesSent()
        const tokens = [1, 2, 3, 4, 5, 6, 7, 8]
        const all = tokens.map((t, i) => b.infer(request(t, i % 2 ? 'albert-2' : 'albert')))
        const sent = proc.framesSent()
        const outs = await Promise.all(all)
        assert.deepEqual(
          outs.map((o) => firstOut(o.outputs[0]?.data as Buffer)),
          tokens,
          'every caller got the output of its own input',
        )
        // the eight infer frames (ring writes first, then the frames) left in fewer writes than frames
        const after = proc.framesSent()
        assert.equal(after.frames - before.frames, 8)
        if (transport === 'pipe') {
          assert.equal(sent.frames - before.frames, 8)
          assert.equal(after.writes - before.writes, 1, 'one write for the eight frames of one turn')
        } else assert.ok(after.writes - before.writes < 8)
      } finally {
        await b.close()
      }
    })

  it('a bad one among good ones in the same write: only it fails, by its id; the process goes on', async () => {
    const b = await backend()
    try {
      const pid = b.process?.pid
      const reqs = [request(1), request(13), request(3), { ...request(4), items: 0 }, request(5)]
      const settled = await Promise.allSettled(reqs.map((r) => b.infer(r)))
      const ok = settled.map((s) =>
        s.status === 'fulfilled' ? firstOut(s.value.outputs[0]?.data as Buffer) : null,
      )
      assert.deepEqual(ok, [1, null, 3, null, 5])
      const why = settled.map((s) => (s.status === 'rejected' ? String((s.reason as Error).message) : ''))
      assert.match(why[1] as string, /unlucky input/) // the execution failed
      assert.match(why[3] as string, /infer request n: must be/) // the schema refused it
      for (const s of settled)
        if (s.status === 'rejected') assert.ok(!(s.reason instanceof BackendUnavailableError))
      assert.equal(b.process?.pid, pid)
      assert.equal(firstOut((await b.infer(request(9))).outputs[0]?.data as Buffer), 9)
    } finally {
      await b.close()
    }
  })

  it('a crash with a whole write of requests in flight: every one BackendUnavailableError, none lost', async () => {
    const crash = join(mkdtempSync(join(tmpdir(), 'eclip-trigger-')), 'armed')
    writeFileSync(crash, '')
    const b = await backend({ FAKE_CRASH_FILE: crash, FAKE_CRASH_DELAY_MS: '100', FAKE_DELAY_MS: '50' })
    try {
      const crashed = new Promise<void>((r) => b.onEvent((e) => e.type === 'crash' && r()))
      const settled = await Promise.allSettled(
        [1, 2, 3, 4, 5, 6].map((t, i) => b.infer(request(t, i % 2 ? 'albert-2' : 'albert'))),
      )
      await crashed
      // the crash answers every request in flight; one that finished before it may have its output
      const failed = settled.filter((s) => s.status === 'rejected')
      assert.ok(failed.length >= 1)
      for (const s of failed) assert.ok(s.reason instanceof BackendUnavailableError, String(s.reason))
      for (const [i, s] of settled.entries())
        if (s.status === 'fulfilled') assert.equal(firstOut(s.value.outputs[0]?.data as Buffer), i + 1)
    } finally {
      await b.close()
    }
  })
})
