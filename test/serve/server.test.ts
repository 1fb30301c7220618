// The server's KServe behaviour, request path, metrics and reliability, through fastify inject() (no sockets).
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { ExecRequest } from '../../src/serve/backend.ts'
import { fixedComputeTimes } from '../../src/serve/compute-time.ts'
import { SimServeBackend } from '../../src/serve/sim-backend.ts'
import { albertBody, CrashingBackend, get, post, testServer, unreadBody, visionBody } from './helpers.ts'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
/** Polls `cond` every 5 ms; fails after 3 s. */
async function until(cond: () => boolean) {
  const deadline = performance.now() + 3000
  while (!cond()) {
    assert.ok(performance.now() < deadline, 'condition not met in 3 s')
    await sleep(5)
  }
}

describe('serve: KServe v2 endpoints', () => {
  it('answers health, server and model metadata, readiness and config', async () => {
    const s = await testServer([
      { name: 'resnet152', model: 'resnet152', batch: 4 },
      { name: 'albert', model: 'albert', batch: 2, dtype: 'fp32' },
    ])
    try {
      assert.equal((await get(s, '/v2/health/live')).statusCode, 200)
      assert.equal((await get(s, '/v2/health/ready')).statusCode, 200)
      // the list grows as extensions land: these must be in it
      const server = (await get(s, '/v2')).json()
      assert.deepEqual([server.name, server.version], ['eclip', '0.1.0'])
      for (const e of [
        'binary_tensor_data',
        'model_configuration',
        'system_shared_memory',
        'cuda_shared_memory',
      ])
        assert.ok(server.extensions.includes(e), e)
      const meta = (await get(s, '/v2/models/resnet152')).json()
      assert.deepEqual(meta, {
        name: 'resnet152',
        versions: ['1'],
        platform: 'eclip_pytorch',
        inputs: [{ name: 'input', datatype: 'FP16', shape: [-1, 3, 224, 224] }],
        outputs: [{ name: 'logits', datatype: 'FP16', shape: [-1, 1000] }],
      })
      assert.deepEqual((await get(s, '/v2/models/albert/versions/1')).json().inputs, [
        { name: 'input_ids', datatype: 'INT64', shape: [-1, 128] },
      ])
      assert.equal((await get(s, '/v2/models/albert/versions/1')).json().outputs[0].datatype, 'FP32')
      assert.equal((await get(s, '/v2/models/albert/ready')).statusCode, 200)
      assert.equal((await get(s, '/v2/models/albert/versions/1/ready')).statusCode, 200)
      const cfg = (await get(s, '/v2/models/resnet152/config')).json()
      assert.equal(cfg.max_batch_size, 4)
      assert.equal(cfg.simulated, true)
      assert.deepEqual(cfg.dynamic_batching, { max_requests: 4, max_items: 4 })
    } finally {
      await s.close()
    }
  })

  it('infers with JSON tensors: marked simulated, no outputs, id echoed, timings from the compute model', async () => {
    const s = await testServer([{ name: 'resnet152', model: 'resnet152', batch: 4, computeUs: 3000 }])
    try {
      const res = await post(s, '/v2/models/resnet152/infer', { id: 'req-1', ...visionBody(2, 'FP32') })
      assert.equal(res.statusCode, 200, res.body)
      const body = res.json()
      assert.equal(body.model_name, 'resnet152')
      assert.equal(body.model_version, '1')
      assert.equal(body.id, 'req-1')
      assert.deepEqual(body.outputs, [])
      assert.equal(body.parameters.simulated, true)
      assert.match(body.parameters.note, /no model ran/)
      assert.equal(body.parameters.compute_us, 3000)
      // versioned URL and nested (row-major) data work too
      const nested = albertBody(1) as { inputs: { data: number[] }[] }
      const input = nested.inputs[0] as { data: unknown }
      input.data = [new Array(128).fill(3)]
      const s2 = await testServer([{ name: 'albert', model: 'albert' }])
      const r2 = await post(s2, '/v2/models/albert/versions/1/infer', nested)
      assert.equal(r2.statusCode, 200, r2.body)
      await s2.close()
    } finally {
      await s.close()
    }
  })

  it('takes binary tensors and returns binary outputs (Inference-Header-Content-Length)', async () => {
    const backend = new CrashingBackend(1000, { outputs: true })
    const s = await testServer([{ name: 'albert', model: 'albert', batch: 2 }], { backend })
    try {
      const tokens = Buffer.alloc(2 * 128 * 8)
      for (let i = 0; i < 256; i++) tokens.writeBigInt64LE(BigInt(i * 7), i * 8)
      const head = Buffer.from(
        JSON.stringify({
          inputs: [
            {
              name: 'input_ids',
              datatype: 'INT64',
              shape: [2, 128],
              parameters: { binary_data_size: tokens.length },
            },
          ],
          outputs: [{ name: 'last_hidden_state', parameters: { binary_data: true } }],
        }),
      )
      const res = await post(s, '/v2/models/albert/infer', Buffer.concat([head, tokens]), {
        'content-type': 'application/octet-stream',
        'inference-header-content-length': String(head.length),
      })
      assert.equal(res.statusCode, 200, res.body)
      const n = Number(res.headers['inference-header-content-length'])
      const raw = res.rawPayload
      const json = JSON.parse(raw.subarray(0, n).toString())
      assert.deepEqual(json.outputs[0].parameters, { binary_data_size: tokens.length })
      assert.deepEqual(raw.subarray(n), tokens) // the test backend echoes its input
      // the same outputs as JSON data
      const r2 = await post(s, '/v2/models/albert/infer', albertBody(1, 42))
      const out = r2.json().outputs[0]
      assert.deepEqual(out.shape, [1, 128])
      assert.ok(out.data.every((v: number) => v === 42))
    } finally {
      await s.close()
    }
  })
})

describe('serve: request path', () => {
  it('merges queued requests into one execution up to the batch, and splits outputs back to each caller', async () => {
    const backend = new CrashingBackend(150_000, { outputs: true })
    const s = await testServer([{ name: 'albert', model: 'albert', batch: 4 }], { backend })
    try {
      const reqs = [1, 2, 3, 4, 5].map((v) => post(s, '/v2/models/albert/infer', albertBody(1, v)))
      const res = await Promise.all(reqs)
      assert.ok(res.every((r) => r.statusCode === 200))
      // the first runs alone, the other four wait and go together
      assert.equal(backend.executions, 2)
      assert.deepEqual(
        res.map((r) => r.json().parameters.batched_requests),
        [1, 4, 4, 4, 4],
      )
      res.forEach((r, i) => {
        const out = r.json().outputs[0]
        assert.deepEqual(out.shape, [1, 128])
        assert.ok(
          out.data.every((x: number) => x === i + 1),
          `request ${i} got someone else's output`,
        )
      })
    } finally {
      await s.close()
    }
  })

  it('never exceeds the batch, and maxDynamicBatch 1 turns batching off', async () => {
    const backend = new CrashingBackend(100_000, { outputs: true })
    const s = await testServer(
      [
        { name: 'albert', model: 'albert', batch: 4 },
        { name: 'solo', model: 'albert', batch: 4, maxDynamicBatch: 1 },
      ],
      { backend },
    )
    try {
      // 1 runs alone; then 3 + 2 would be 5 > 4: separate executions
      await Promise.all([1, 3, 2].map((n) => post(s, '/v2/models/albert/infer', albertBody(n))))
      assert.equal(backend.executions, 3)
      await Promise.all([1, 1, 1].map(() => post(s, '/v2/models/solo/infer', albertBody(1))))
      assert.equal(backend.executions, 6)
    } finally {
      await s.close()
    }
  })

  it('sends a model as many executions at once as the backend overlaps, and no more', async () => {
    /** The simulator, saying it overlaps `depth` executions per model, counting how many it holds at once. */
    class Overlapping extends SimServeBackend {
      now = 0
      peak = 0
      constructor(readonly depth: number) {
        super(fixedComputeTimes(new Map([['albert', { us: 20_000, source: 'test' }]])))
      }
      executionsInFlight() {
        return this.depth
      }
      override infer(req: ExecRequest) {
        this.peak = Math.max(this.peak, ++this.now)
        return super.infer(req).finally(() => this.now--)
      }
    }
    for (const depth of [1, 2]) {
      const backend = new Overlapping(depth)
      const s = await testServer([{ name: 'albert', model: 'albert', maxDynamicBatch: 1 }], { backend })
      try {
        const res = await Promise.all(
          [0, 1, 2, 3, 4].map(() => post(s, '/v2/models/albert/infer', albertBody())),
        )
        assert.deepEqual(new Set(res.map((r) => r.statusCode)), new Set([200]))
        assert.equal(backend.peak, depth)
      } finally {
        await s.close()
      }
    }
  })

  it('sends executions ahead of a free slot only for requests that run alone, and never under eclip-live', async () => {
    /** A backend that overlaps 2 executions per model and takes 2 more ahead, counting how many it holds at once. */
    class Ahead extends SimServeBackend {
      now = 0
      peak = 0
      constructor() {
        super(fixedComputeTimes(new Map([['albert', { us: 20_000, source: 'test' }]])))
      }
      executionsInFlight() {
        return 2
      }
      executionsAhead() {
        return 2
      }
      override infer(req: ExecRequest) {
        this.peak = Math.max(this.peak, ++this.now)
        return super.infer(req).finally(() => this.now--)
      }
    }
    const burst = async (s: Awaited<ReturnType<typeof testServer>>, name: string) => {
      const res = await Promise.all(
        [0, 1, 2, 3, 4, 5].map(() => post(s, `/v2/models/${name}/infer`, albertBody())),
      )
      assert.deepEqual(new Set(res.map((r) => r.statusCode)), new Set([200]))
    }
    // a model that does not batch: 2 overlapped + 2 ahead
    let backend = new Ahead()
    let s = await testServer([{ name: 'albert', model: 'albert', maxDynamicBatch: 1 }], { backend })
    try {
      await burst(s, 'albert')
      assert.equal(backend.peak, 4)
    } finally {
      await s.close()
    }
    // the executions sent ahead count against the queue limit: overlapped + queueSize accepted, the rest refused
    backend = new Ahead()
    s = await testServer([{ name: 'albert', model: 'albert', maxDynamicBatch: 1, queueSize: 2 }], { backend })
    try {
      const res = await Promise.all(
        [0, 1, 2, 3, 4, 5].map(() => post(s, '/v2/models/albert/infer', albertBody())),
      )
      assert.deepEqual(res.map((r) => r.statusCode).sort(), [200, 200, 200, 200, 429, 429])
    } finally {
      await s.close()
    }
    // a model that batches dynamically: its requests wait in the server's queue for a free slot, to batch
    backend = new Ahead()
    s = await testServer([{ name: 'albert', model: 'albert', batch: 8, maxDynamicBatch: 8 }], { backend })
    try {
      await burst(s, 'albert')
      assert.ok(backend.peak <= 2, `peak ${backend.peak}`)
    } finally {
      await s.close()
    }
  })

  it("counts the time an execution waited in the backend in the request's queue time", async () => {
    /** A backend that says each execution waited 5 ms behind the model's executions in flight. */
    class Waited extends SimServeBackend {
      constructor() {
        super(fixedComputeTimes(new Map([['albert', { us: 1_000, source: 'test' }]])))
      }
      override infer(req: ExecRequest) {
        return super.infer(req).then((r) => ({ ...r, waitedUs: 5_000 }))
      }
    }
    const s = await testServer([{ name: 'albert', model: 'albert', maxDynamicBatch: 1 }], {
      backend: new Waited(),
    })
    try {
      const res = await post(s, '/v2/models/albert/infer', albertBody())
      assert.equal(res.statusCode, 200)
      assert.ok(res.json().parameters.queue_us >= 5_000, JSON.stringify(res.json().parameters))
    } finally {
      await s.close()
    }
  })

  it('answers 429 with Retry-After when the queue is full, and still answers every accepted request', async () => {
    const s = await testServer([
      { name: 'albert', model: 'albert', computeUs: 100_000, queueSize: 2, maxDynamicBatch: 1 },
    ])
    try {
      const accepted = [0, 1, 2].map(() => post(s, '/v2/models/albert/infer', albertBody()))
      await until(() => s.workers.get('albert')?.pending() === 3) // one executing, two queued
      const full = await post(s, '/v2/models/albert/infer', albertBody())
      assert.equal(full.statusCode, 429)
      assert.equal(full.headers['retry-after'], '1')
      assert.match(full.json().error, /queue full \(2 requests waiting\)/)
      const res = await Promise.all(accepted)
      assert.deepEqual(
        res.map((r) => r.statusCode),
        [200, 200, 200],
      )
      const m = (await get(s, '/metrics')).body
      assert.match(m, /nv_inference_request_failure\{model="albert",version="1",reason="REJECTED"\} 1/)
    } finally {
      await s.close()
    }
  })

  it('refuses a request for a full queue before reading its body (its body read and dropped after the answer)', async () => {
    const s = await testServer([
      { name: 'albert', model: 'albert', computeUs: 300_000, queueSize: 1, maxDynamicBatch: 1 },
    ])
    try {
      const url = new URL(await s.listen(0, '127.0.0.1'))
      const accepted = [0, 1].map(() => post(s, '/v2/models/albert/infer', albertBody()))
      await until(() => s.workers.get('albert')?.pending() === 2) // one executing, one queued: full
      // headers promising 8 MB, then a trickle of body that never ends: the answer must not wait for it
      const answer = await unreadBody(url, '/v2/models/albert/infer', 8 * 2 ** 20)
      assert.match(answer, /^HTTP\/1\.1 429/)
      assert.doesNotMatch(answer, /connection: close/i)
      assert.match(answer, /queue full \(1 requests waiting\)/)
      const res = await Promise.all(accepted)
      assert.deepEqual(
        res.map((r) => r.statusCode),
        [200, 200],
      )
    } finally {
      await s.close()
    }
  })

  it('answers 504 when a request outlives its timeout, queued or executing', async () => {
    const s = await testServer([
      { name: 'albert', model: 'albert', computeUs: 400_000, timeoutMs: 100, maxDynamicBatch: 1 },
    ])
    try {
      const t0 = performance.now()
      const res = await Promise.all([0, 1].map(() => post(s, '/v2/models/albert/infer', albertBody())))
      const ms = performance.now() - t0
      assert.deepEqual(
        res.map((r) => r.statusCode),
        [504, 504],
      )
      assert.match(res[0]?.json().error, /timed out after 100 ms \(executing\)/)
      assert.match(res[1]?.json().error, /timed out after 100 ms \(still queued\)/)
      assert.ok(ms < 390, `answered after ${ms} ms, not before the 400-ms execution ended`)
      // Triton's per-request timeout parameter (µs) shortens the deadline
      const own = await post(s, '/v2/models/albert/infer', {
        ...albertBody(),
        parameters: { timeout: 20_000 },
      })
      assert.equal(own.statusCode, 504)
      assert.match(own.json().error, /timed out after 20 ms/)
    } finally {
      await s.close()
    }
  })
})

describe('serve: backend crashes', () => {
  it('answers every accepted request 503 within 1 s, is not ready until the backend is back, then serves again', async () => {
    const backend = new CrashingBackend(10_000_000, { restartMs: 300 })
    const s = await testServer(
      [
        { name: 'albert', model: 'albert', maxDynamicBatch: 1 },
        { name: 'vgg19', model: 'vgg19' },
      ],
      { backend },
    )
    try {
      const accepted = [
        ...[0, 1, 2, 3].map(() => post(s, '/v2/models/albert/infer', albertBody())),
        post(s, '/v2/models/vgg19/infer', visionBody()),
      ]
      await until(() => s.workers.get('albert')?.pending() === 4 && s.workers.get('vgg19')?.pending() === 1)
      const t0 = performance.now()
      backend.crash('CUDA error: an illegal memory access was encountered')
      const res = await Promise.all(accepted)
      const ms = performance.now() - t0
      assert.ok(ms < 1000, `answered after ${ms} ms`)
      for (const r of res) {
        assert.equal(r.statusCode, 503)
        assert.equal(r.headers['retry-after'], '1')
        assert.match(r.json().error, /backend crashed \(CUDA error: an illegal memory access/)
      }
      assert.equal((await get(s, '/v2/health/ready')).statusCode, 503)
      assert.equal((await get(s, '/v2/models/albert/ready')).statusCode, 503)
      assert.equal((await get(s, '/v2/health/live')).statusCode, 200)
      const during = await post(s, '/v2/models/albert/infer', albertBody())
      assert.equal(during.statusCode, 503)
      assert.match(during.json().error, /restarting after a crash/)
      // back after the restart
      const deadline = performance.now() + 3000
      while ((await get(s, '/v2/health/ready')).statusCode !== 200) {
        assert.ok(performance.now() < deadline, 'not ready 3 s after the crash')
        await sleep(20)
      }
      assert.equal(backend.restarts, 1)
      const metrics = (await get(s, '/metrics')).body
      assert.match(metrics, /eclip_backend_restarts_total 1/)
      assert.match(metrics, /nv_inference_request_failure\{model="albert",version="1",reason="BACKEND"\} 4/)
    } finally {
      await s.close()
    }
  })

  it('keeps retrying a failing restart, and serves once it succeeds', async () => {
    const backend = new CrashingBackend(1000, { restartMs: 10, failRestarts: 2 })
    const s = await testServer([{ name: 'albert', model: 'albert' }], { backend, restartDelayMs: 20 })
    try {
      backend.crash()
      await sleep(60)
      assert.equal((await get(s, '/v2/health/ready')).statusCode, 503)
      const deadline = performance.now() + 3000
      while ((await get(s, '/v2/health/ready')).statusCode !== 200) {
        assert.ok(performance.now() < deadline, 'never recovered')
        await sleep(20)
      }
      assert.equal(backend.restartAttempts, 3)
      assert.equal((await post(s, '/v2/models/albert/infer', albertBody())).statusCode, 200)
    } finally {
      await s.close()
    }
  })
})

describe('serve: metrics', () => {
  it('exports Triton-named counters, latency histograms, throughput and modelled power', async () => {
    const s = await testServer([{ name: 'albert', model: 'albert', batch: 2, computeUs: 2000 }])
    try {
      await Promise.all([1, 2, 2].map((n) => post(s, '/v2/models/albert/infer', albertBody(n))))
      await post(s, '/v2/models/albert/infer', { inputs: [] })
      const res = await get(s, '/metrics')
      assert.match(String(res.headers['content-type']), /text\/plain/)
      const m = res.body
      const value = (re: RegExp) => Number(m.match(re)?.[1] ?? Number.NaN)
      const l = '\\{model="albert",version="1"\\}'
      assert.equal(value(new RegExp(`nv_inference_request_success${l} (\\S+)`)), 3)
      assert.equal(value(new RegExp(`nv_inference_count${l} (\\S+)`)), 5)
      assert.equal(value(new RegExp(`nv_inference_exec_count${l} (\\S+)`)), 3)
      assert.equal(value(new RegExp(`nv_inference_compute_infer_duration_us${l} (\\S+)`)), 6000)
      assert.ok(value(new RegExp(`nv_inference_request_duration_us${l} (\\S+)`)) >= 6000)
      assert.ok(value(new RegExp(`nv_inference_queue_duration_us${l} (\\S+)`)) >= 0)
      assert.equal(
        value(/nv_inference_request_failure\{model="albert",version="1",reason="INVALID"\} (\S+)/),
        1,
      )
      assert.equal(
        value(/eclip_inference_request_duration_histogram_us_count\{model="albert",version="1"\} (\S+)/),
        3,
      )
      assert.match(
        m,
        /eclip_inference_compute_duration_histogram_us_bucket\{le="2500",model="albert",version="1"\} 3/,
      )
      assert.ok(value(new RegExp(`eclip_inference_throughput_rps${l} (\\S+)`)) > 0)
      const watts = value(/nv_gpu_power_usage\{gpu_uuid="sim",source="simulated"\} (\S+)/)
      assert.ok(watts >= 100 && watts <= 700, `power ${watts}`)
      assert.ok(value(/nv_energy_consumption\{gpu_uuid="sim",source="simulated"\} (\S+)/) > 0)
      assert.match(m, /eclip_backend_simulated 1/)
      assert.match(m, /eclip_backend_ready 1/)
    } finally {
      await s.close()
    }
  })
})

describe('serve: dashboard feed', () => {
  it('serves the page and pushes snapshots at least once a second over SSE', async () => {
    const s = await testServer([{ name: 'albert', model: 'albert', computeUs: 1000 }])
    try {
      const url = await s.listen(0, '127.0.0.1')
      const page = await fetch(`${url}/dashboard/`)
      assert.equal(page.status, 200)
      assert.match(await page.text(), /<script src="\/dashboard\/uPlot.iife.min.js"><\/script>/)
      for (const f of ['dashboard.js', 'uPlot.iife.min.js', 'uPlot.min.css'])
        assert.equal((await fetch(`${url}/dashboard/${f}`)).status, 200, f)
      const state = (await (await fetch(`${url}/dashboard/state`)).json()) as Record<string, unknown>
      assert.equal(state.simulated, true)
      assert.deepEqual(
        (state.models as { name: string }[]).map((m) => m.name),
        ['albert'],
      )
      await post(s, '/v2/models/albert/infer', albertBody())
      const ac = new AbortController()
      const res = await fetch(`${url}/dashboard/events`, { signal: ac.signal })
      assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/)
      const reader = (res.body as ReadableStream<Uint8Array>).getReader()
      const events: { t: number; models: Record<string, { rps: number }>; power: { source: string } }[] = []
      let text = ''
      const t0 = performance.now()
      while (performance.now() - t0 < 2100) {
        const { value, done } = await reader.read()
        if (done) break
        text += Buffer.from(value).toString()
        let i = text.indexOf('\n\n')
        while (i >= 0) {
          const data = text
            .slice(0, i)
            .split('\n')
            .find((l) => l.startsWith('data: '))
          if (data) events.push(JSON.parse(data.slice(6)))
          text = text.slice(i + 2)
          i = text.indexOf('\n\n')
        }
      }
      ac.abort()
      // one at connect, then every 500 ms
      assert.ok(events.length >= 4, `${events.length} snapshots in 2.1 s`)
      assert.ok((events.at(-1)?.models.albert?.rps ?? 0) > 0)
      assert.equal(events.at(-1)?.power.source, 'simulated')
    } finally {
      await s.close()
    }
  })
})
