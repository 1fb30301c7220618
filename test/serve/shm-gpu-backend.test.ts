// Clients' shared-memory regions through the GPU backend adapter (src/serve/gpu-backend.ts) without a GPU: the child
// is gpu_backend_fake.py — the real frame loop, Serving and regions.py of gpu/eclip_gpu with fake captures (each
// output item is its input item's first element as FP16). The region is mapped by the Python process; the server
// sends where tensors lie, never their bytes. Tested: outputs land in the client's region, an input in a region with
// the output in the response, a region unregistered while a request uses it, a crash (regions opened again in the
// new process; one whose object is gone is refused with why), a CUDA region the backend cannot open.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { GpuServeBackend } from '../../src/serve/gpu-backend.ts'
import { toHalf } from '../../src/serve/kserve/datatypes.ts'
import { EclipServer } from '../../src/serve/server.ts'
import { backendPython, get, post, servedModels } from './helpers.ts'

const IMAGE = 3 * 224 * 224 * 2
const LOGITS = 1000 * 2
const keys: string[] = []
function shmObject(bytes: number, fill?: (b: Buffer) => void): string {
  const key = `/eclip-test-${process.pid}-${randomBytes(4).toString('hex')}`
  const b = Buffer.alloc(bytes)
  fill?.(b)
  writeFileSync(`/dev/shm${key}`, b)
  keys.push(key)
  return key
}
after(() => {
  for (const k of keys) rmSync(`/dev/shm${k}`, { force: true })
})
/** n FP16 images whose first elements are `firsts` (the fake's output item is that element). */
const images = (firsts: number[]) => (b: Buffer) => {
  firsts.forEach((v, i) => {
    b.writeUInt16LE(toHalf(v), i * IMAGE)
  })
}

async function server(env: Record<string, string> = {}) {
  const { models, opts } = servedModels([{ name: 'vgg19', model: 'vgg19', batch: 4, maxDynamicBatch: 1 }])
  const backend = new GpuServeBackend({ python: backendPython({ env }), powerPeriodMs: 100 })
  const s = new EclipServer({ models, workerOptions: opts, backend, logger: false, restartDelayMs: 50 })
  await s.load()
  return s
}
const register = (s: EclipServer, name: string, key: string, byteSize: number, offset = 0) =>
  post(s, `/v2/systemsharedmemory/region/${name}/register`, { key, offset, byte_size: byteSize })
const infer = (s: EclipServer, n: number, input: string, output?: [string, number]) =>
  post(s, '/v2/models/vgg19/infer', {
    inputs: [
      {
        name: 'input',
        datatype: 'FP16',
        shape: [n, 3, 224, 224],
        parameters: { shared_memory_region: input, shared_memory_byte_size: n * IMAGE },
      },
    ],
    outputs: [
      output
        ? {
            name: 'logits',
            parameters: {
              shared_memory_region: output[0],
              shared_memory_byte_size: n * LOGITS,
              shared_memory_offset: output[1],
            },
          }
        : { name: 'logits', parameters: { binary_data: false } },
    ],
  })
/** Output item i's first FP16 value in the object `key` at `offset`. */
const outItem = (key: string, offset: number, i: number) =>
  readFileSync(`/dev/shm${key}`).readUInt16LE(offset + i * LOGITS)

describe('serve: shared-memory regions on the GPU backend process (fake captures)', () => {
  it('reads inputs from the region and writes outputs into it; the pipe carries no tensor', async () => {
    const s = await server()
    try {
      const key = shmObject(4 * IMAGE + 4 * LOGITS, images([0.5, 2, -1]))
      assert.equal((await register(s, 'io', key, 4 * IMAGE + 4 * LOGITS)).statusCode, 200)
      const r = await infer(s, 3, 'io', ['io', 4 * IMAGE])
      assert.equal(r.statusCode, 200, r.body)
      const [o] = r.json().outputs
      assert.deepEqual(o, {
        name: 'logits',
        datatype: 'FP16',
        shape: [3, 1000],
        parameters: {
          shared_memory_region: 'io',
          shared_memory_byte_size: 3 * LOGITS,
          shared_memory_offset: 4 * IMAGE,
        },
      })
      assert.deepEqual(
        [0, 1, 2].map((i) => outItem(key, 4 * IMAGE, i)),
        [toHalf(0.5), toHalf(2), toHalf(-1)],
      )
      // input in the region, output in the response
      const j = await infer(s, 2, 'io')
      assert.equal(j.statusCode, 200, j.body)
      assert.deepEqual(j.json().outputs[0].data.slice(0, 1), [0.5])
      assert.equal(j.json().outputs[0].data[1000], 2)
    } finally {
      await s.close()
    }
  })

  it('a region unregistered while requests use it: both are served, then it is closed', async () => {
    const s = await server({ FAKE_DELAY_MS: '150' })
    try {
      const key = shmObject(IMAGE + LOGITS, images([3]))
      const other = shmObject(2 * LOGITS)
      assert.equal((await register(s, 'in', key, IMAGE)).statusCode, 200)
      assert.equal((await register(s, 'out', other, 2 * LOGITS)).statusCode, 200)
      const a = infer(s, 1, 'in', ['out', 0])
      const b = infer(s, 1, 'in', ['out', LOGITS])
      await new Promise((r) => setTimeout(r, 30))
      assert.equal((await post(s, '/v2/systemsharedmemory/unregister', '')).statusCode, 200)
      assert.deepEqual((await get(s, '/v2/systemsharedmemory/status')).json(), [])
      const [ra, rb] = await Promise.all([a, b])
      assert.equal(ra.statusCode, 200, ra.body)
      assert.equal(rb.statusCode, 200, rb.body)
      assert.deepEqual([outItem(other, 0, 0), outItem(other, LOGITS, 0)], [toHalf(3), toHalf(3)])
      assert.equal(s.regions.all().length, 0)
    } finally {
      await s.close()
    }
  })

  it('after a crash the regions are opened again; one whose object is gone is refused with why', async () => {
    const crash = join(tmpdir(), `eclip-crash-${randomBytes(4).toString('hex')}`)
    const s = await server({ FAKE_CRASH_FILE: crash })
    try {
      const keep = shmObject(IMAGE + LOGITS, images([1.5]))
      const gone = shmObject(IMAGE)
      assert.equal((await register(s, 'keep', keep, IMAGE + LOGITS)).statusCode, 200)
      assert.equal((await register(s, 'gone', gone, IMAGE)).statusCode, 200)
      writeFileSync(crash, '')
      rmSync(`/dev/shm${gone}`) // its client exited meanwhile
      const r = await infer(s, 1, 'keep', ['keep', IMAGE])
      assert.equal(r.statusCode, 503, r.body) // the request the crash took
      // the error reply comes before the process's exit: not ready from then until the restart is done
      const deadline = Date.now() + 10_000
      while ((await get(s, '/v2/health/ready')).statusCode === 200) {
        assert.ok(Date.now() < deadline, 'the crash was not noticed')
        await new Promise((res) => setTimeout(res, 5))
      }
      while ((await get(s, '/v2/health/ready')).statusCode !== 200) {
        assert.ok(Date.now() < deadline, 'the backend did not come back')
        await new Promise((res) => setTimeout(res, 20))
      }
      const again = await infer(s, 1, 'keep', ['keep', IMAGE])
      assert.equal(again.statusCode, 200, again.body)
      assert.equal(outItem(keep, IMAGE, 0), toHalf(1.5))
      const lost = await infer(s, 1, 'gone')
      assert.equal(lost.statusCode, 400)
      assert.match(
        lost.json().error,
        /'gone' could not be opened again after the backend restarted .*unregister it/,
      )
      assert.equal((await post(s, '/v2/systemsharedmemory/region/gone/unregister', '')).statusCode, 200)
    } finally {
      await s.close()
    }
  })

  it('a CUDA region the backend cannot open is refused at registration with the reason', async () => {
    const s = await server()
    try {
      const r = await post(s, '/v2/cudasharedmemory/region/g/register', {
        raw_handle: { b64: Buffer.alloc(64, 1).toString('base64') },
        device_id: 0,
        byte_size: 1024,
      })
      assert.equal(r.statusCode, 400)
      assert.match(r.json().error, /failed to register shared memory region 'g': GPU backend: /)
      assert.deepEqual((await get(s, '/v2/cudasharedmemory/status')).json(), [])
      // and the backend goes on serving
      const key = shmObject(IMAGE)
      assert.equal((await register(s, 'in', key, IMAGE)).statusCode, 200)
      assert.equal((await infer(s, 1, 'in')).statusCode, 200)
    } finally {
      await s.close()
    }
  })
})
