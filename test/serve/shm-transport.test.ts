// Tensors between the server and the Python backend through shared-memory rings (src/serve/shm-ring.ts,
// gpu/eclip_gpu/shm.py), without a GPU: the ring allocator (wrap-around, a span reused only once released), the
// ring file, and the whole path — HTTP → server → ring → the real Python frame loop and Serving → ring → HTTP — with
// the echo backend (bench/serve_echo_backend.py: a user model is the identity, so outputs must come back bitwise) and
// the crash-capable fake of gpu-backend.test.ts. The pipe fallback is checked the same way.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import type { ServedModel } from '../../src/serve/backend.ts'
import { GpuServeBackend, type GpuServeOptions } from '../../src/serve/gpu-backend.ts'
import { EclipServer } from '../../src/serve/server.ts'
import {
  RingAllocator,
  type RingSpan,
  removeStaleRings,
  ShmRing,
  SYNC_IO_BYTES,
} from '../../src/serve/shm-ring.ts'
import type { WorkerOptions } from '../../src/serve/worker.ts'
import {
  albertBody,
  backendPython,
  ECHO_BACKEND,
  get,
  post,
  servedModels,
  type TestModel,
  visionBody,
} from './helpers.ts'

const tmp = (p: string) => mkdtempSync(join(tmpdir(), p))

const echo = () => backendPython({ script: ECHO_BACKEND })
const fake = (env: Record<string, string> = {}) => backendPython({ env })

describe('ring allocator', () => {
  it('takes spans in order, wraps to the start when the end is too short, and counts the wraps', () => {
    const r = new RingAllocator(1024)
    const a = r.alloc(300) as RingSpan // [0, 320)
    const b = r.alloc(300) as RingSpan // [320, 640)
    const c = r.alloc(300) as RingSpan // [640, 960)
    assert.deepEqual([a.offset, b.offset, c.offset], [0, 320, 640])
    assert.equal(r.alloc(100), null, 'only 64 bytes left at the end, none at the start')
    r.release(a)
    const d = r.alloc(100) as RingSpan // does not fit in [960, 1024): wraps into a's old place
    assert.equal(d.offset, 0)
    assert.equal(r.wraps, 1)
    assert.equal(r.alloc(300), null, 'between d and b: 192 bytes')
    assert.equal(r.alloc(150)?.offset, 128)
  })

  it('reuses a span only once it is released, and frees from the tail (a later release waits for an earlier one)', () => {
    const r = new RingAllocator(512)
    const a = r.alloc(256) as RingSpan
    const b = r.alloc(256) as RingSpan
    assert.equal(r.alloc(64), null, 'full')
    r.release(b) // released, but a (older) still holds the tail: nothing is free yet
    assert.equal(r.alloc(64), null)
    assert.equal(r.spans, 2)
    r.release(a)
    assert.equal(r.spans, 0)
    assert.equal(r.alloc(512)?.offset, 0)
    assert.throws(() => r.release(a), /not held/)
  })

  it('never hands out overlapping live spans (random allocations and releases)', () => {
    let seed = 7
    const rnd = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31
      return seed / 2 ** 31
    }
    const r = new RingAllocator(64 * 100)
    const live: RingSpan[] = []
    for (let i = 0; i < 20_000; i++) {
      if (live.length > 0 && rnd() < 0.45)
        r.release(live.splice(Math.floor(rnd() * live.length), 1)[0] as RingSpan)
      const s = r.alloc(1 + Math.floor(rnd() * 64 * 40))
      if (!s) continue
      assert.ok(s.offset % 64 === 0 && s.offset + r.round(s.bytes) <= r.capacity)
      for (const o of live)
        assert.ok(
          s.offset + r.round(s.bytes) <= o.offset || o.offset + r.round(o.bytes) <= s.offset,
          `span [${s.offset}, +${s.bytes}) overlaps a live one at ${o.offset}`,
        )
      live.push(s)
    }
    assert.ok(r.wraps > 100)
    assert.equal(r.alloc(r.capacity + 1), null)
  })
})

describe('ring file', () => {
  it('writes and reads at offsets; close waits for I/O in flight and removes the file', async () => {
    const dir = tmp('eclip-shm-')
    const path = join(dir, 'r')
    const ring = ShmRing.create(path, 1 << 20)
    const data = randomBytes(300_000)
    await ring.write(data, 4096)
    const back = ring.read(4096, data.length)
    ring.close() // while the read is in flight
    assert.ok((await back).equals(data))
    assert.equal(existsSync(path), false)
    await assert.rejects(ring.read(0, 10), /the ring is closed/)
  })

  it('small tensors (up to SYNC_IO_BYTES) are written and read at once, on the event loop, bitwise', async () => {
    const dir = tmp('eclip-shm-')
    const ring = ShmRing.create(join(dir, 'r'), 1 << 20)
    for (const size of [1, 8192, SYNC_IO_BYTES, SYNC_IO_BYTES + 1]) {
      const data = randomBytes(size)
      let written = false
      const w = ring.write(data, 128).then(() => {
        written = true
      })
      await Promise.resolve() // one microtask: a synchronous write has landed, a threadpool one has not
      assert.equal(written, size <= SYNC_IO_BYTES, `${size} bytes`)
      await w
      assert.ok((await ring.read(128, size)).equals(data), `${size} bytes back`)
    }
    ring.close()
    // closed: the synchronous path rejects as the threadpool one does (the caller falls back to the pipe)
    await assert.rejects(ring.write(Buffer.alloc(10), 0), /the ring is closed/)
    await assert.rejects(ring.read(0, 10), /the ring is closed/)
  })

  it('removes ring files of processes that are gone, not those of living ones', () => {
    const dir = tmp('eclip-shm-')
    const dead = join(dir, 'eclip-ring-999999999-1-a')
    const mine = join(dir, `eclip-ring-${process.pid}-1-a`)
    const other = join(dir, 'unrelated')
    for (const f of [dead, mine, other]) writeFileSync(f, '')
    removeStaleRings(dir)
    assert.deepEqual(readdirSync(dir).sort(), ['unrelated', `eclip-ring-${process.pid}-1-a`].sort())
  })
})

/** A user model that the echo backend runs as the identity: FP32 [n, item] in, the same out. */
function blobModel(name: string, batch: number, item: number): ServedModel {
  const spec = (n: string) => ({ name: n, datatype: 'FP32' as const, shape: [-1, item] })
  return {
    name,
    model: name,
    version: '1',
    batch,
    dtype: 'fp32',
    source: '/nonexistent/identity.pt', // the echo backend needs no file
    io: { inputs: [spec('x')], outputs: [spec('y')] },
  }
}

/** A binary-extension request of `data` (FP32 [n, item]) asking for `y` as binary data. */
function blobRequest(
  data: Buffer,
  n: number,
  item: number,
): { body: Buffer; headers: Record<string, string> } {
  const head = Buffer.from(
    JSON.stringify({
      inputs: [
        { name: 'x', datatype: 'FP32', shape: [n, item], parameters: { binary_data_size: data.length } },
      ],
      outputs: [{ name: 'y', parameters: { binary_data: true } }],
    }),
  )
  return {
    body: Buffer.concat([head, data]),
    headers: {
      'content-type': 'application/octet-stream',
      'inference-header-content-length': String(head.length),
    },
  }
}

async function echoServer(
  models: ServedModel[],
  opts: Partial<GpuServeOptions> = {},
): Promise<{ s: EclipServer; backend: GpuServeBackend; logs: string[] }> {
  const logs: string[] = []
  const backend = new GpuServeBackend({
    python: echo(),
    powerPeriodMs: 100,
    log: (l) => logs.push(l),
    ...opts,
  })
  const wo = new Map<string, WorkerOptions>(
    models.map((m) => [m.name, { queueSize: 64, timeoutMs: 20_000, maxDynamicBatch: 1 }]),
  )
  const s = new EclipServer({ models, workerOptions: wo, backend, logger: false })
  await s.load()
  return { s, backend, logs }
}

async function roundTrip(s: EclipServer, model: string, n: number, item: number): Promise<void> {
  const data = randomBytes(n * item * 4)
  const { body, headers } = blobRequest(data, n, item)
  const r = await s.app.inject({ method: 'POST', url: `/v2/models/${model}/infer`, payload: body, headers })
  assert.equal(r.statusCode, 200, r.body.slice(0, 300))
  const hl = Number(r.headers['inference-header-content-length'])
  const head = JSON.parse(r.rawPayload.subarray(0, hl).toString('utf8'))
  assert.deepEqual(head.outputs[0].shape, [n, item])
  assert.ok(r.rawPayload.subarray(hl).equals(data), `${model}: ${data.length} bytes not returned bitwise`)
}

describe('tensors through shared memory (echo backend: real frame loop and Serving, no GPU)', () => {
  it('a 9.6-MB tensor goes there and back bitwise, through the ring and through the pipe fallback', async () => {
    const item = 1_200_000 // 4.8 MB of FP32 per item
    for (const transport of ['shm', 'pipe'] as const) {
      const { s, backend } = await echoServer([blobModel('blob', 2, item)], { transport })
      try {
        assert.equal(backend.transports().get('blob')?.startsWith(transport), true)
        for (const n of [2, 1, 2]) await roundTrip(s, 'blob', n, item)
      } finally {
        await s.close()
      }
    }
  })

  it('over a real socket (a body in many chunks): 9.6 MB there and back bitwise, through the ring', async () => {
    const item = 1_200_000
    const { s } = await echoServer([blobModel('blob', 2, item)], { transport: 'shm' })
    try {
      const url = new URL(await s.listen(0, '127.0.0.1'))
      for (let i = 0; i < 3; i++) {
        const data = randomBytes(2 * item * 4)
        const { body, headers } = blobRequest(data, 2, item)
        const res = await new Promise<{
          status: number
          hl: number
          body: Buffer
          length?: string
          chunked?: string
        }>((resolve, reject) => {
          const req = request(
            { host: url.hostname, port: url.port, path: '/v2/models/blob/infer', method: 'POST', headers },
            (r) => {
              const got: Buffer[] = []
              r.on('data', (c: Buffer) => got.push(c))
              r.on('end', () =>
                resolve({
                  status: r.statusCode ?? 0,
                  hl: Number(r.headers['inference-header-content-length']),
                  body: Buffer.concat(got),
                  length: r.headers['content-length'],
                  chunked: r.headers['transfer-encoding'],
                }),
              )
            },
          )
          req.on('error', reject)
          req.end(body)
        })
        assert.equal(res.status, 200, res.body.subarray(0, 300).toString())
        assert.ok(res.body.subarray(res.hl).equals(data), 'returned bitwise')
        // the JSON head and the output are sent as two parts (no concat), still as one plain body of known length
        assert.equal(res.length, String(res.body.length))
        assert.equal(res.chunked, undefined)
      }
    } finally {
      await s.close()
    }
  })

  it('requests of mixed sizes wrap the ring many times; every span is given back after its reply', async () => {
    const item = 50_000
    const { s, backend } = await echoServer([blobModel('a', 4, item), blobModel('b', 4, item)], {
      transport: 'shm',
      ringSlots: 2,
    })
    try {
      const sizes = [1, 3, 2, 4, 1, 1, 2, 3, 4, 2, 1, 3, 1, 2, 2, 4, 3, 1, 1, 1]
      // both models at once (each model's requests one after another, as the server runs them)
      await Promise.all(
        ['a', 'b'].map(async (m) => {
          for (const n of sizes) await roundTrip(s, m, n, item)
        }),
      )
      for (const m of ['a', 'b']) {
        const st = backend.ringStats().get(m)
        assert.ok(st, `${m} has a ring`)
        assert.ok(st.wraps >= 5, `${m}: the ring wrapped ${st.wraps} times`)
        assert.equal(st.spans, 0, `${m}: spans still held after every reply`)
      }
    } finally {
      await s.close()
    }
  })

  it('holds a request’s span until its reply comes, then gives it back', async () => {
    const { models, opts } = servedModels([{ name: 'albert', model: 'albert', batch: 2 }])
    const backend = new GpuServeBackend({ python: fake({ FAKE_DELAY_MS: '1500' }), transport: 'shm' })
    const s = new EclipServer({ models, workerOptions: opts, backend, logger: false })
    await s.load()
    try {
      let answered = false
      const pending = post(s, '/v2/models/albert/infer', albertBody(2, 5)).finally(() => {
        answered = true
      })
      const deadline = performance.now() + 1000
      while (backend.ringStats().get('albert')?.spans !== 1 && performance.now() < deadline)
        await new Promise((r) => setTimeout(r, 5))
      assert.equal(backend.ringStats().get('albert')?.spans, 1, 'held while the backend works')
      assert.equal(answered, false)
      const r = await pending
      assert.equal(r.statusCode, 200, r.body.slice(0, 300))
      assert.equal(r.json().outputs[0].data[0], 5)
      assert.equal(backend.ringStats().get('albert')?.spans, 0, 'given back after the reply')
    } finally {
      await s.close()
    }
  })

  it('falls back to the pipe where there is no shared-memory directory (auto), refuses when shm is required', async () => {
    const { s, backend, logs } = await echoServer([blobModel('blob', 1, 1000)], {
      shmDir: '/nonexistent-eclip-shm',
    })
    try {
      assert.match(backend.transports().get('blob') ?? '', /^pipe \(\/nonexistent-eclip-shm does not exist\)/)
      assert.ok(
        logs.some((l) => /tensors go through the pipe: \/nonexistent-eclip-shm does not exist/.test(l)),
      )
      await roundTrip(s, 'blob', 1, 1000)
    } finally {
      await s.close()
    }
    const forced = new GpuServeBackend({ python: echo(), shmDir: '/nonexistent-eclip-shm', transport: 'shm' })
    await assert.rejects(
      forced.load([blobModel('blob', 1, 1000)]),
      /shared-memory transport: \/nonexistent-eclip-shm does not exist/,
    )
    await forced.close()
  })

  it('a backend that refuses the rings: the pipe (auto), or a clear error at load (shm required)', async () => {
    const { models, opts } = servedModels([{ name: 'albert', model: 'albert' }])
    const dir = tmp('eclip-shm-')
    const logs: string[] = []
    const backend = new GpuServeBackend({
      python: fake({ FAKE_NO_RINGS: '1' }),
      shmDir: dir,
      log: (l) => logs.push(l),
    })
    const s = new EclipServer({ models, workerOptions: opts, backend, logger: false })
    await s.load()
    try {
      assert.match(backend.transports().get('albert') ?? '', /^pipe/)
      assert.ok(logs.some((l) => /albert: tensors go through the pipe \(.*refused on purpose\)/.test(l)))
      const r = await post(s, '/v2/models/albert/infer', albertBody(1, 7))
      assert.equal(r.json().outputs[0].data[0], 7)
      assert.deepEqual(readdirSync(dir), [], 'the refused ring files are removed')
    } finally {
      await s.close()
    }
    const forced = new GpuServeBackend({
      python: fake({ FAKE_NO_RINGS: '1' }),
      shmDir: dir,
      transport: 'shm',
    })
    await assert.rejects(
      forced.load(models),
      /model "albert": the backend could not map .*refused on purpose/,
    )
    await forced.close()
    assert.deepEqual(readdirSync(dir), [])
  })

  it('backend crash mid-request with rings: every accepted request 503, restarted with fresh rings, no files left', async () => {
    const dir = tmp('eclip-shm-')
    const crash = join(tmp('eclip-trigger-'), 'armed')
    writeFileSync(crash, '')
    const test: TestModel[] = [
      { name: 'albert', model: 'albert', batch: 2, maxDynamicBatch: 1 },
      { name: 'vgg19', model: 'vgg19', batch: 2, maxDynamicBatch: 1 },
      { name: 'alexnet', model: 'alexnet', batch: 2, maxDynamicBatch: 1 },
    ]
    const { models, opts } = servedModels(test)
    const backend = new GpuServeBackend({
      // the crash (300 ms into whichever execution takes the trigger) comes before any other execution ends (600 ms)
      python: fake({ FAKE_CRASH_FILE: crash, FAKE_CRASH_DELAY_MS: '300', FAKE_DELAY_MS: '600' }),
      shmDir: dir,
      transport: 'shm',
      powerPeriodMs: 100,
    })
    const s = new EclipServer({ models, workerOptions: opts, backend, logger: false, restartDelayMs: 100 })
    await s.load()
    try {
      const pid = backend.process?.pid
      const accepted = [
        ...[1, 2, 3].map((t) => post(s, '/v2/models/albert/infer', albertBody(2, t))),
        ...[0.5, 1.5].map((v) => post(s, '/v2/models/vgg19/infer', visionBody(2, 'FP16', v))),
        ...[0.5, 1.5].map((v) => post(s, '/v2/models/alexnet/infer', visionBody(1, 'FP32', v))),
      ]
      const res = await Promise.all(accepted)
      for (const r of res) assert.equal(r.statusCode, 503, r.body.slice(0, 300))
      assert.ok(res.some((r) => /illegal memory access|fatal CUDA error/.test(r.json().error)))
      const deadline = performance.now() + 10_000
      while ((await get(s, '/v2/health/ready')).statusCode !== 200) {
        assert.ok(performance.now() < deadline, 'not ready again')
        await new Promise((r) => setTimeout(r, 20))
      }
      assert.notEqual(backend.process?.pid, pid)
      assert.equal(backend.transports().get('vgg19'), 'shm')
      const ok = await post(s, '/v2/models/vgg19/infer', visionBody(2, 'FP16', 0.25))
      assert.equal(ok.statusCode, 200, ok.body.slice(0, 300))
      assert.deepEqual(ok.json().outputs[0].data.slice(0, 2), [0.25, 0.25])
      assert.deepEqual(readdirSync(dir), [], 'ring files are unlinked once mapped')
    } finally {
      await s.close()
    }
    assert.deepEqual(readdirSync(dir), [])
  })
})
