// The host-path benchmarks' stand-in for the GPU (bench/serve_echo_backend.py) answering at a GPU's pace
// (ECLIP_ECHO_SERVICE_US): each model's requests take the service time one after another, two in flight per model,
// so replies come spread out; and serve-bench's host-CPU reading of the event loop's system calls per request.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { GpuServeBackend } from '../../src/serve/gpu-backend.ts'
import { cpuSnapshot, hostCpu, hostCpuNote } from '../../src/serve-bench/host-cpu.ts'
import { backendPython, ECHO_BACKEND, servedModels } from '../serve/helpers.ts'

async function paced(serviceUs: number, n: number) {
  const { models } = servedModels([{ name: 'alexnet-0', model: 'alexnet', batch: 1 }])
  const backend = new GpuServeBackend({
    python: backendPython({ script: ECHO_BACKEND, env: { ECLIP_ECHO_SERVICE_US: String(serviceUs) } }),
    transport: 'pipe',
  })
  await backend.load(models)
  try {
    const depth = backend.executionsInFlight()
    const input = {
      name: 'input',
      datatype: 'FP16' as const,
      shape: [1, 3, 224, 224],
      data: Buffer.alloc(301056),
    }
    // `depth` requests in flight at a time, as a model's worker sends them; when each is answered
    const ends: number[] = []
    const t0 = performance.now()
    let sent = 0
    const one = async (): Promise<void> => {
      while (sent < n) {
        sent++
        const r = await backend.infer({ model: 'alexnet-0', items: 1, requests: 1, inputs: [input] })
        assert.deepEqual(r.outputs[0]?.shape, [1, 1000])
        ends.push(performance.now() - t0)
      }
    }
    await Promise.all(Array.from({ length: depth }, one))
    return { depth, ends, elapsedMs: performance.now() - t0 }
  } finally {
    await backend.close()
  }
}

/** The times between consecutive replies, ms, shortest first. */
function gapsOf(ends: number[]): number[] {
  return ends
    .slice(1)
    .map((t, i) => t - (ends[i] as number))
    .sort((a, b) => a - b)
}

describe('echo backend at a GPU pace', () => {
  it('answers each model one request per service time, two in flight, spread out rather than in bursts', async () => {
    const n = 40
    const { depth, ends, elapsedMs } = await paced(3000, n)
    assert.equal(depth, 2, 'two executions per model in flight, as the GPU backend pipelines them')
    // 40 requests of 3 ms one after another: at least 120 ms, whatever the host
    assert.ok(elapsedMs >= n * 3 - 1, `${elapsedMs.toFixed(1)} ms for ${n} requests of 3 ms`)
    // replies spread out, not in bursts: the median gap between consecutive replies is at least half a service time,
    // and fewer than 40% come within a quarter of one of the one before (replies in pairs, both executions in flight
    // answered at once, put half there); a loaded host delays and bunches some replies, not most
    const gaps = gapsOf(ends)
    const median = gaps[Math.floor(gaps.length / 2)] as number
    assert.ok(median > 1.5, `median gap ${median.toFixed(2)} ms between replies`)
    const close = gaps.filter((g) => g < 0.75).length
    assert.ok(
      close < gaps.length * 0.4,
      `${close} of ${gaps.length} replies within 0.75 ms of the one before`,
    )
  })

  it('answers at once without a service time, one execution per model in flight', async () => {
    const { depth, ends } = await paced(0, 40)
    assert.equal(depth, 1)
    // under a 3-ms pace with one execution in flight no two replies could come less than 3 ms apart (the next request
    // is sent after a reply, and served for 3 ms); answered at once, some do even on a loaded host
    const shortest = gapsOf(ends)[0] as number
    assert.ok(shortest < 2, `shortest gap ${shortest.toFixed(2)} ms between replies`)
  })
})

describe("serve-bench's host CPU reading", () => {
  it("counts the event loop's reads and writes per request", () => {
    const a = cpuSnapshot({})
    assert.ok(a.eventLoopSyscalls, 'Linux: /proc/PID/task/PID/io is readable')
    const b = {
      ...a,
      t: a.t + 1,
      eventLoopSyscalls: {
        reads: (a.eventLoopSyscalls?.reads ?? 0) + 300,
        writes: (a.eventLoopSyscalls?.writes ?? 0) + 150,
      },
    }
    const h = hostCpu(a, b, 100)
    assert.deepEqual(h.syscallsPerRequest, { reads: 3, writes: 1.5 })
    assert.match(
      hostCpuNote(h),
      /per request: server [\d.]+ ms \(event loop [\d.]+ ms, 3\.00 reads and 1\.50 writes\)$/,
    )
    const none = hostCpu({ ...a, eventLoopSyscalls: null }, b, 100)
    assert.equal(none.syscallsPerRequest, null)
    assert.match(hostCpuNote(none), /\(event loop [\d.]+ ms\)$/)
  })
})
