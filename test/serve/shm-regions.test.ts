// Triton's shared-memory extensions on the simulator (src/serve/shm/): registering, status and unregistering system
// and CUDA regions over HTTP, requests whose inputs and outputs name regions, and the faults — unknown region,
// offset + size past the region, a region too small for the tensor, byte sizes that do not match the shape, a name
// registered twice, a key that does not exist, a region unregistered while a queued request uses it (nothing
// accepted is lost; the backend closes it once that request is answered), a client gone with its region registered.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { rmSync, writeFileSync } from 'node:fs'
import { after, describe, it } from 'node:test'
import type { ServeBackend } from '../../src/serve/backend.ts'
import { fixedComputeTimes } from '../../src/serve/compute-time.ts'
import type { EclipServer } from '../../src/serve/server.ts'
import type { ShmRegion } from '../../src/serve/shm/region.ts'
import { SimServeBackend } from '../../src/serve/sim-backend.ts'
import { get, post, testServer } from './helpers.ts'

const IMAGE = 3 * 224 * 224 * 2 // one FP16 image
const LOGITS = 1000 * 2
const keys: string[] = []
/** A system shared-memory object of `bytes` (as a client's shm_open + ftruncate makes it); returns its key. */
function shmObject(bytes: number): string {
  const key = `/eclip-test-${process.pid}-${randomBytes(4).toString('hex')}`
  writeFileSync(`/dev/shm${key}`, Buffer.alloc(bytes))
  keys.push(key)
  return key
}
after(() => {
  for (const k of keys) rmSync(`/dev/shm${k}`, { force: true })
})

/** The simulator, recording what it is asked to open and close (as the GPU backend would map and unmap). */
class RecordingSim extends SimServeBackend {
  events: string[] = []
  async openRegion(r: ShmRegion) {
    this.events.push(`open ${r.name}`)
  }
  async closeRegion(r: ShmRegion) {
    this.events.push(`close ${r.name} (users ${r.users})`)
  }
}

const register = (s: EclipServer, name: string, key: string, byteSize: number, offset = 0) =>
  post(s, `/v2/systemsharedmemory/region/${name}/register`, { key, offset, byte_size: byteSize })
const shmInput = (region: string, n = 1, extra: Record<string, unknown> = {}) => ({
  name: 'input',
  datatype: 'FP16',
  shape: [n, 3, 224, 224],
  parameters: { shared_memory_region: region, shared_memory_byte_size: n * IMAGE, ...extra },
})
const shmOutput = (region: string, bytes = LOGITS, offset?: number) => ({
  name: 'logits',
  parameters: {
    shared_memory_region: region,
    shared_memory_byte_size: bytes,
    ...(offset !== undefined ? { shared_memory_offset: offset } : {}),
  },
})

describe('serve: system shared memory (simulator)', () => {
  it('lists both extensions, registers, reports status, unregisters one and all', async () => {
    const s = await testServer([{ name: 'vgg19', model: 'vgg19' }])
    try {
      assert.ok((await get(s, '/v2')).json().extensions.includes('system_shared_memory'))
      assert.ok((await get(s, '/v2')).json().extensions.includes('cuda_shared_memory'))
      const key = shmObject(4 * IMAGE)
      assert.equal((await register(s, 'in', key, 2 * IMAGE)).statusCode, 200)
      assert.equal((await register(s, 'in2', key, IMAGE, 2 * IMAGE)).statusCode, 200)
      assert.deepEqual((await get(s, '/v2/systemsharedmemory/status')).json(), [
        { name: 'in', key, offset: 0, byte_size: 2 * IMAGE },
        { name: 'in2', key, offset: 2 * IMAGE, byte_size: IMAGE },
      ])
      assert.deepEqual((await get(s, '/v2/systemsharedmemory/region/in2/status')).json(), [
        { name: 'in2', key, offset: 2 * IMAGE, byte_size: IMAGE },
      ])
      assert.deepEqual((await get(s, '/v2/cudasharedmemory/status')).json(), [])
      assert.equal((await post(s, '/v2/systemsharedmemory/region/in/unregister', '')).statusCode, 200)
      assert.deepEqual(
        (await get(s, '/v2/systemsharedmemory/status')).json().map((r: { name: string }) => r.name),
        ['in2'],
      )
      // a name not registered: nothing to do, as Triton
      assert.equal((await post(s, '/v2/systemsharedmemory/region/nope/unregister', '')).statusCode, 200)
      const st = await get(s, '/v2/systemsharedmemory/region/nope/status')
      assert.equal(st.statusCode, 404)
      assert.match(st.json().error, /Unable to find system shared memory region: 'nope'/)
      assert.equal((await post(s, '/v2/systemsharedmemory/unregister', '')).statusCode, 200)
      assert.deepEqual((await get(s, '/v2/systemsharedmemory/status')).json(), [])
    } finally {
      await s.close()
    }
  })

  it('refuses a key that does not exist, a region past the object, a name twice, bad bodies', async () => {
    const s = await testServer([{ name: 'vgg19', model: 'vgg19' }])
    try {
      const key = shmObject(1000)
      const cases: [Promise<{ statusCode: number; json(): { error: string } }>, RegExp][] = [
        [
          register(s, 'a', '/eclip-test-no-such-key', 10),
          /Unable to open shared memory region: '\/eclip-test-no-such-key'/,
        ],
        [register(s, 'a', key, 1001), /offset 0 \+ byte_size 1001 runs past the end of '.*' \(1000 bytes\)/],
        [register(s, 'a', key, 100, 950), /offset 950 \+ byte_size 100 runs past the end/],
        [register(s, 'a', key, 0), /"byte_size" must be an integer ≥ 1, got 0/],
        [register(s, 'a', '../etc/passwd', 10), /is not a shared memory object name/],
        [register(s, 'a', '/eclip-ring-1-2-x', 10), /reserved for the server's own use/],
        [
          post(s, '/v2/systemsharedmemory/region/a/register', ''),
          /must be a JSON object \{key, offset, byte_size\}/,
        ],
      ]
      for (const [p, re] of cases) {
        const r = await p
        assert.equal(r.statusCode, 400, String(re))
        assert.match(r.json().error, re)
      }
      assert.equal((await register(s, 'a', key, 1000)).statusCode, 200)
      const twice = await register(s, 'a', key, 10)
      assert.equal(twice.statusCode, 400)
      assert.match(twice.json().error, /shared memory region 'a' already in manager/)
      // one namespace for both kinds
      const cuda = await post(s, '/v2/cudasharedmemory/region/a/register', {
        raw_handle: { b64: Buffer.alloc(64).toString('base64') },
        device_id: 0,
        byte_size: 10,
      })
      assert.equal(cuda.statusCode, 400)
      assert.match(cuda.json().error, /already in manager/)
      const wrongKind = await post(s, '/v2/cudasharedmemory/region/a/unregister', '')
      assert.equal(wrongKind.statusCode, 400)
      assert.match(wrongKind.json().error, /registered as system shared memory, not CUDA shared memory/)
      // a region route with an empty name is refused, not taken for every region (every client's)
      for (const r of [
        await post(s, '/v2/systemsharedmemory/region//unregister', ''),
        await post(s, '/v2/cudasharedmemory/region//unregister', ''),
        await get(s, '/v2/systemsharedmemory/region//status'),
        await post(s, '/v2/systemsharedmemory/region//register', { key, byte_size: 10 }),
      ]) {
        assert.equal(r.statusCode, 400)
        assert.match(r.json().error, /^the region name is empty/)
      }
      assert.deepEqual(
        (await get(s, '/v2/systemsharedmemory/status')).json().map((r: { name: string }) => r.name),
        ['a'],
      )
      // a misspelt field, or a null, is refused rather than its default taken
      const misspelt = await post(s, '/v2/systemsharedmemory/region/b/register', {
        key,
        offest: 100,
        byte_size: 10,
      })
      assert.equal(misspelt.statusCode, 400)
      assert.match(misspelt.json().error, /unknown field\(s\) "offest" in the register request/)
      const nul = await post(s, '/v2/systemsharedmemory/region/b/register', {
        key,
        offset: null,
        byte_size: 10,
      })
      assert.equal(nul.statusCode, 400)
      assert.match(nul.json().error, /"offset"/)
    } finally {
      await s.close()
    }
  })

  it('serves requests whose input and output lie in regions; the response names the region, no data', async () => {
    const s = await testServer([{ name: 'vgg19', model: 'vgg19', batch: 4 }])
    try {
      const key = shmObject(4 * IMAGE + 4 * LOGITS)
      assert.equal((await register(s, 'io', key, 4 * IMAGE + 4 * LOGITS)).statusCode, 200)
      const r = await post(s, '/v2/models/vgg19/infer', {
        inputs: [shmInput('io', 2)],
        outputs: [shmOutput('io', 2 * LOGITS, 4 * IMAGE)],
      })
      assert.equal(r.statusCode, 200, r.body)
      const j = r.json()
      assert.equal(j.parameters.simulated, true) // the simulator computes nothing: there are no outputs to write
      assert.deepEqual(j.outputs, [])
    } finally {
      await s.close()
    }
  })

  it("sends ahead the backend's count for requests in regions, its other count for the rest", async () => {
    /** Overlaps one execution per model; 3 more ahead for requests in regions, 1 for others; counts what it holds. */
    class Ahead extends RecordingSim {
      now = 0
      peak = 0
      asked: [string, boolean][] = []
      constructor() {
        super(fixedComputeTimes(new Map([['vgg19', { us: 20_000, source: 'test' }]])))
      }
      executionsInFlight() {
        return 1
      }
      executionsAhead(model: string, inRegions: boolean) {
        this.asked.push([model, inRegions])
        return inRegions ? 3 : 1
      }
      override infer(req: Parameters<SimServeBackend['infer']>[0]) {
        this.peak = Math.max(this.peak, ++this.now)
        return super.infer(req).finally(() => this.now--)
      }
    }
    const backend = new Ahead()
    const s = await testServer([{ name: 'vgg19', model: 'vgg19', batch: 4, maxDynamicBatch: 1 }], { backend })
    try {
      const key = shmObject(IMAGE)
      assert.equal((await register(s, 'in', key, IMAGE)).statusCode, 200)
      const burst = (body: () => Record<string, unknown>) =>
        Promise.all([0, 1, 2, 3, 4, 5, 6].map(() => post(s, '/v2/models/vgg19/infer', body())))
      const inRegions = await burst(() => ({ inputs: [shmInput('in')] }))
      assert.deepEqual(new Set(inRegions.map((r) => r.statusCode)), new Set([200]))
      assert.equal(backend.peak, 4) // 1 overlapped + 3 ahead
      assert.ok(backend.asked.length > 0 && backend.asked.every(([m, r]) => m === 'vgg19' && r))
      backend.peak = 0
      backend.asked = []
      const inBody = await burst(() => ({
        inputs: [
          { name: 'input', datatype: 'FP16', shape: [1, 3, 224, 224], data: new Array(IMAGE / 2).fill(0) },
        ],
      }))
      assert.deepEqual(new Set(inBody.map((r) => r.statusCode)), new Set([200]))
      assert.equal(backend.peak, 2) // 1 overlapped + 1 ahead
      assert.ok(backend.asked.length > 0 && backend.asked.every(([, r]) => !r))
    } finally {
      await s.close()
    }
  })

  it('answers each bad tensor reference with a 400 naming what was wrong, and goes on serving', async () => {
    const s = await testServer([{ name: 'vgg19', model: 'vgg19', batch: 4 }])
    try {
      const key = shmObject(2 * IMAGE)
      assert.equal((await register(s, 'small', key, IMAGE + 100)).statusCode, 200)
      const cases: [Record<string, unknown>, RegExp][] = [
        [{ inputs: [shmInput('nope')] }, /input "input": Unable to find shared memory region: 'nope'/],
        [
          { inputs: [shmInput('small', 1, { shared_memory_offset: 200 })] },
          /Invalid offset \+ byte size for shared memory region: 'small' \(offset 200 \+ byte_size 301056 runs past its 301156 bytes\)/,
        ],
        // the region is too small for a batch of two
        [{ inputs: [shmInput('small', 2)] }, /offset 0 \+ byte_size 602112 runs past its 301156 bytes/],
        [
          {
            inputs: [
              {
                ...shmInput('small'),
                parameters: { shared_memory_region: 'small', shared_memory_byte_size: 1000 },
              },
            ],
          },
          /shared_memory_byte_size 1000 does not match shape \[1,3,224,224\] of FP16 \(301056 bytes\)/,
        ],
        [
          { inputs: [{ ...shmInput('small'), datatype: 'FP32' }] },
          /shared_memory_byte_size 301056 does not match shape \[1,3,224,224\] of FP32 \(602112 bytes\)/,
        ],
        [{ inputs: [{ ...shmInput('small'), data: [1] }] }, /has both "data" and "shared_memory_region"/],
        [
          { inputs: [{ ...shmInput('small'), parameters: { shared_memory_region: 'small' } }] },
          /"shared_memory_byte_size" must be a non-negative integer \(with "shared_memory_region"\)/,
        ],
        [
          { inputs: [shmInput('small')], outputs: [shmOutput('small', 10, 0)] },
          /output "logits": shared_memory_byte_size 10 is too small to hold the output \(\[1, 1000\] of FP16: 2000 bytes\)/,
        ],
        [
          { inputs: [shmInput('small')], outputs: [shmOutput('small', LOGITS, IMAGE)] },
          /output "logits": Invalid offset \+ byte size/,
        ],
      ]
      for (const [body, re] of cases) {
        const r = await post(s, '/v2/models/vgg19/infer', body)
        assert.equal(r.statusCode, 400, `${re}: ${r.body}`)
        assert.match(r.json().error, re)
      }
      const ok = await post(s, '/v2/models/vgg19/infer', { inputs: [shmInput('small')] })
      assert.equal(ok.statusCode, 200, ok.body)
    } finally {
      await s.close()
    }
  })

  it('unregistering a region a queued request uses: the request is served, the region closed after it', async () => {
    const backend = new RecordingSim(fixedComputeTimes(new Map([['vgg19', { us: 150_000, source: 'test' }]])))
    const s = await testServer([{ name: 'vgg19', model: 'vgg19', computeUs: 150_000, maxDynamicBatch: 1 }], {
      backend: backend as ServeBackend,
    })
    try {
      const key = shmObject(IMAGE)
      assert.equal((await register(s, 'r', key, IMAGE)).statusCode, 200)
      const first = post(s, '/v2/models/vgg19/infer', { inputs: [shmInput('r')] }) // executing
      const queued = post(s, '/v2/models/vgg19/infer', { inputs: [shmInput('r')] }) // waits behind it
      await new Promise((r) => setTimeout(r, 30))
      assert.equal(s.workers.get('vgg19')?.pending(), 2)
      assert.equal((await post(s, '/v2/systemsharedmemory/region/r/unregister', '')).statusCode, 200)
      // the name is gone at once: a new request cannot use it, status does not list it, it may be registered again
      const late = await post(s, '/v2/models/vgg19/infer', { inputs: [shmInput('r')] })
      assert.equal(late.statusCode, 400)
      assert.match(late.json().error, /Unable to find shared memory region: 'r'/)
      assert.deepEqual((await get(s, '/v2/systemsharedmemory/status')).json(), [])
      assert.deepEqual(backend.events, ['open r']) // still open: two accepted requests use it
      const [a, b] = await Promise.all([first, queued])
      assert.equal(a.statusCode, 200, a.body)
      assert.equal(b.statusCode, 200, b.body)
      assert.deepEqual(backend.events, ['open r', 'close r (users 0)'])
      assert.equal((await register(s, 'r', key, IMAGE)).statusCode, 200)
      assert.deepEqual(backend.events, ['open r', 'close r (users 0)', 'open r'])
    } finally {
      await s.close()
    }
  })

  it('never merges a request with tensors in shared memory with others (dynamic batching)', async () => {
    const s = await testServer([
      { name: 'vgg19', model: 'vgg19', batch: 4, computeUs: 50_000, maxDynamicBatch: 4 },
    ])
    try {
      const key = shmObject(IMAGE)
      assert.equal((await register(s, 'r', key, IMAGE)).statusCode, 200)
      const plain = {
        inputs: [
          { name: 'input', datatype: 'FP16', shape: [1, 3, 224, 224], data: new Array(IMAGE / 2).fill(0) },
        ],
      }
      const busy = post(s, '/v2/models/vgg19/infer', plain)
      await new Promise((r) => setTimeout(r, 10))
      const rs = await Promise.all([
        post(s, '/v2/models/vgg19/infer', plain),
        post(s, '/v2/models/vgg19/infer', { inputs: [shmInput('r')] }),
        post(s, '/v2/models/vgg19/infer', plain),
        busy,
      ])
      for (const r of rs) assert.equal(r.statusCode, 200, r.body)
      const batched = rs.map((r) => r.json().parameters.batched_requests)
      assert.equal(batched[1], 1)
      assert.deepEqual([batched[0], batched[2]], [1, 1]) // in order: the shared-memory request splits the queue
    } finally {
      await s.close()
    }
  })

  it('checks a body it has served before against the regions as they are now (unregistered, registered smaller)', async () => {
    const s = await testServer([{ name: 'vgg19', model: 'vgg19' }])
    try {
      const body = { inputs: [shmInput('io')], outputs: [shmOutput('io', LOGITS, IMAGE)] }
      const infer = () => post(s, '/v2/models/vgg19/infer', body)
      const big = shmObject(IMAGE + LOGITS)
      assert.equal((await register(s, 'io', big, IMAGE + LOGITS)).statusCode, 200)
      for (let i = 0; i < 3; i++) assert.equal((await infer()).statusCode, 200)
      assert.equal((await post(s, '/v2/systemsharedmemory/region/io/unregister', '')).statusCode, 200)
      const gone = await infer()
      assert.equal(gone.statusCode, 400, gone.body)
      assert.match(gone.json().error, /Unable to find shared memory region: 'io'/)
      // the same name again, too small for the output now
      assert.equal((await register(s, 'io', shmObject(IMAGE + 100), IMAGE + 100)).statusCode, 200)
      const small = await infer()
      assert.equal(small.statusCode, 400, small.body)
      assert.match(
        small.json().error,
        /output "logits": Invalid offset \+ byte size for shared memory region: 'io'/,
      )
      assert.equal((await post(s, '/v2/systemsharedmemory/region/io/unregister', '')).statusCode, 200)
      assert.equal((await register(s, 'io', big, IMAGE + LOGITS)).statusCode, 200)
      assert.equal((await infer()).statusCode, 200)
    } finally {
      await s.close()
    }
  })

  it('keeps serving when a client is gone with its region registered; the region can still be unregistered', async () => {
    const s = await testServer([{ name: 'vgg19', model: 'vgg19' }])
    try {
      const key = shmObject(IMAGE)
      assert.equal((await register(s, 'orphan', key, IMAGE)).statusCode, 200)
      rmSync(`/dev/shm${key}`) // the client's exit unlinked the object
      const other = shmObject(IMAGE)
      assert.equal((await register(s, 'live', other, IMAGE)).statusCode, 200)
      assert.equal((await post(s, '/v2/models/vgg19/infer', { inputs: [shmInput('live')] })).statusCode, 200)
      assert.equal((await post(s, '/v2/systemsharedmemory/region/orphan/unregister', '')).statusCode, 200)
      assert.deepEqual(
        (await get(s, '/v2/systemsharedmemory/status')).json().map((r: { name: string }) => r.name),
        ['live'],
      )
    } finally {
      await s.close()
    }
  })
})

describe('serve: CUDA shared memory (simulator)', () => {
  const handle = Buffer.alloc(64, 7).toString('base64')
  it('records a CUDA region and says it was not opened; checks the handle and sizes', async () => {
    const s = await testServer([{ name: 'vgg19', model: 'vgg19' }])
    try {
      const reg = (name: string, body: Record<string, unknown>) =>
        post(s, `/v2/cudasharedmemory/region/${name}/register`, body)
      assert.equal(
        (await reg('g', { raw_handle: { b64: handle }, device_id: 0, byte_size: IMAGE })).statusCode,
        200,
      )
      const [st] = (await get(s, '/v2/cudasharedmemory/status')).json()
      assert.deepEqual(
        { ...st, note: undefined },
        { name: 'g', device_id: 0, byte_size: IMAGE, note: undefined },
      )
      assert.match(
        st.note,
        /simulator backend: the CUDA IPC handle was checked for form and recorded, not opened/,
      )
      const bad: [Record<string, unknown>, RegExp][] = [
        [
          { raw_handle: { b64: Buffer.alloc(10).toString('base64') }, device_id: 0, byte_size: 8 },
          /64-byte cudaIpcMemHandle_t \(got 10 bytes\)/,
        ],
        [{ raw_handle: 'x', device_id: 0, byte_size: 8 }, /"raw_handle" must be \{"b64"/],
        [{ raw_handle: { b64: handle }, device_id: -1, byte_size: 8 }, /"device_id" must be an integer ≥ 0/],
        [{ raw_handle: { b64: handle }, device_id: 0 }, /"byte_size" must be an integer ≥ 1, got undefined/],
      ]
      for (const [body, re] of bad) {
        const r = await reg('h', body)
        assert.equal(r.statusCode, 400)
        assert.match(r.json().error, re)
      }
      // CUDA elements must be aligned (a misaligned device copy would poison the GPU backend)
      const mis = await post(s, '/v2/models/vgg19/infer', {
        inputs: [shmInput('g', 1, { shared_memory_offset: 1 })],
      })
      assert.equal(mis.statusCode, 400)
      const ok = await post(s, '/v2/models/vgg19/infer', { inputs: [shmInput('g')] })
      assert.equal(ok.statusCode, 200, ok.body)
      const st404 = await get(s, '/v2/cudasharedmemory/region/h/status')
      assert.equal(st404.statusCode, 404)
      assert.match(st404.json().error, /Unable to find cuda shared memory region: 'h'/)
      assert.equal((await post(s, '/v2/cudasharedmemory/unregister', '')).statusCode, 200)
      assert.deepEqual((await get(s, '/v2/cudasharedmemory/status')).json(), [])
    } finally {
      await s.close()
    }
  })
})
