// The serve config's timing limits: values Node's timers cannot hold (above 2^31−1 ms) are refused at validation and
// never armed by the server (a request's deadline and the drain budget are clamped), and every HTTP timeout
// combination the config accepts starts a listener.
import assert from 'node:assert/strict'
import { afterEach, beforeEach, describe, it, mock } from 'node:test'
import { FormatError } from '../../src/formats/errors.ts'
import { parseFormat } from '../../src/formats/index.ts'
import { MAX_TIMER_MS, type ServeConfig } from '../../src/formats/serve-config.ts'
import type {
  BackendEvent,
  ExecRequest,
  ExecResult,
  ServeBackend,
  ServedModel,
} from '../../src/serve/backend.ts'
import { albertBody, post, testServer } from './helpers.ts'

const BIG = 3_000_000_000

function config(extra: Record<string, unknown> = {}, model: Record<string, unknown> = {}): unknown {
  return {
    format: 'eclip.serve/1',
    port: 18200,
    grpcPort: 18201,
    backend: 'sim',
    ...extra,
    models: [{ name: 'albert', model: 'albert', batch: 4, maxDynamicBatch: 4, ...model }, { model: 'vgg19' }],
  }
}

function refused(value: unknown, pattern: RegExp) {
  assert.throws(
    () => parseFormat<ServeConfig>('serve-config', value, 'serve.yaml'),
    (err: unknown) => err instanceof FormatError && pattern.test(err.message),
  )
}

const accepted = (value: unknown) => parseFormat<ServeConfig>('serve-config', value, 'serve.yaml')

describe('serve config: timer limits', () => {
  it('refuses a model timeoutMs above 2^31−1 ms, naming the maximum; accepts the maximum', () => {
    assert.equal(MAX_TIMER_MS, 2_147_483_647)
    refused(config({}, { timeoutMs: BIG }), /\/models\/0\/timeoutMs.*2147483647/)
    accepted(config({}, { timeoutMs: MAX_TIMER_MS }))
  })

  it('refuses drainTimeoutMs and every http timeout above 2^31−1 ms', () => {
    refused(config({ drainTimeoutMs: BIG }), /\/drainTimeoutMs.*2147483647/)
    refused(config({ http: { requestTimeoutMs: BIG } }), /\/http\/requestTimeoutMs.*2147483647/)
    refused(
      config({ http: { requestTimeoutMs: 0, headersTimeoutMs: BIG } }),
      /\/http\/headersTimeoutMs.*2147483647/,
    )
    refused(config({ http: { keepAliveTimeoutMs: BIG } }), /\/http\/keepAliveTimeoutMs.*2147483647/)
    accepted(
      config({
        drainTimeoutMs: MAX_TIMER_MS,
        http: { requestTimeoutMs: 0, headersTimeoutMs: MAX_TIMER_MS, keepAliveTimeoutMs: MAX_TIMER_MS },
      }),
    )
  })

  it('refuses headersTimeoutMs above requestTimeoutMs (given or its default) unless requestTimeoutMs is 0', () => {
    refused(
      config({ http: { requestTimeoutMs: 10000, headersTimeoutMs: 20000 } }),
      /\/http\/headersTimeoutMs: 20000 is above requestTimeoutMs 10000/,
    )
    refused(
      config({ http: { headersTimeoutMs: 40000 } }),
      /\/http\/headersTimeoutMs: 40000 is above requestTimeoutMs 30000 \(its default\)/,
    )
    accepted(config({ http: { requestTimeoutMs: 600000, headersTimeoutMs: 400000 } }))
    accepted(config({ http: { requestTimeoutMs: 0, headersTimeoutMs: 400000 } }))
    accepted(config({ http: { requestTimeoutMs: 5000 } }))
  })
})

describe('HTTP listener: every accepted timeout combination starts', () => {
  for (const http of [
    { requestTimeoutMs: 600_000, headersTimeoutMs: 400_000 },
    { requestTimeoutMs: 0, headersTimeoutMs: 400_000 },
    { requestTimeoutMs: MAX_TIMER_MS, headersTimeoutMs: MAX_TIMER_MS },
  ])
    it(`requestTimeoutMs ${http.requestTimeoutMs}, headersTimeoutMs ${http.headersTimeoutMs}`, async () => {
      const s = await testServer([{ name: 'albert', model: 'albert' }], { http })
      try {
        assert.equal(s.app.server.requestTimeout, http.requestTimeoutMs)
        assert.equal(s.app.server.headersTimeout, http.headersTimeoutMs)
      } finally {
        await s.close()
      }
    })

  it('a requestTimeoutMs below the default headersTimeoutMs lowers the headers limit to it', async () => {
    const s = await testServer([{ name: 'albert', model: 'albert' }], { http: { requestTimeoutMs: 5000 } })
    try {
      assert.equal(s.app.server.requestTimeout, 5000)
      assert.equal(s.app.server.headersTimeout, 5000)
    } finally {
      await s.close()
    }
  })

  it('a headersTimeoutMs above a nonzero requestTimeoutMs is refused with a clear error', async () => {
    await assert.rejects(
      testServer([{ name: 'albert', model: 'albert' }], {
        http: { requestTimeoutMs: 10_000, headersTimeoutMs: 20_000 },
      }),
      /http.headersTimeoutMs 20000 is above requestTimeoutMs 10000/,
    )
  })
})

/** A backend whose executions finish only when `release()` is called; `started` resolves at the first one. */
class HeldBackend implements ServeBackend {
  readonly kind = 'sim' as const
  private held: (() => void)[] = []
  private onStart: (() => void) | undefined
  readonly started = new Promise<void>((r) => {
    this.onStart = r
  })
  async load(_models: ServedModel[]) {}
  infer(_req: ExecRequest): Promise<ExecResult> {
    this.onStart?.()
    return new Promise((resolve) =>
      this.held.push(() => resolve({ outputs: [], simulated: true, computeUs: 1 })),
    )
  }
  release() {
    for (const r of this.held.splice(0)) r()
  }
  isReady() {
    return true
  }
  onEvent(_l: (e: BackendEvent) => void) {
    return () => {}
  }
  async restart() {}
  power() {
    return undefined
  }
  async close() {}
}

/** Lets timers armed so far for up to `ms` fire first (Node runs timers in order of their expiry). */
const later = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('timers past 2^31−1 ms are never armed', () => {
  let delays: number[]
  beforeEach(() => {
    delays = []
    const original = globalThis.setTimeout
    mock.method(globalThis, 'setTimeout', ((fn: () => void, ms?: number, ...args: unknown[]) => {
      delays.push(ms ?? 0)
      return Reflect.apply(original, globalThis, [fn, ms, ...args])
    }) as typeof setTimeout)
  })
  afterEach(() => mock.restoreAll())

  const tooLong = () => delays.filter((d) => d > MAX_TIMER_MS)

  it("a model's timeoutMs above the limit does not time a request out at once", async () => {
    const backend = new HeldBackend()
    const s = await testServer([{ name: 'albert', model: 'albert', batch: 4, timeoutMs: BIG }], { backend })
    try {
      const res = post(s, '/v2/models/albert/infer', albertBody(1))
      await backend.started
      await later(20)
      backend.release()
      const r = await res
      assert.equal(r.statusCode, 200, r.body)
      assert.deepEqual(tooLong(), [])
    } finally {
      await s.close()
    }
  })

  it("a request's own timeout (µs) far above the limit is clamped, not overflowed", async () => {
    const backend = new HeldBackend()
    const s = await testServer([{ name: 'albert', model: 'albert', batch: 4, timeoutMs: BIG }], { backend })
    try {
      const res = post(s, '/v2/models/albert/infer', {
        ...albertBody(1),
        parameters: { timeout: 5_000_000_000_000_000 },
      })
      await backend.started
      await later(20)
      backend.release()
      const r = await res
      assert.equal(r.statusCode, 200, r.body)
      assert.deepEqual(tooLong(), [])
    } finally {
      await s.close()
    }
  })

  it('a drain budget above the limit waits for the accepted request', async () => {
    const backend = new HeldBackend()
    const s = await testServer([{ name: 'albert', model: 'albert', batch: 4 }], { backend })
    const res = post(s, '/v2/models/albert/infer', albertBody(1))
    await backend.started
    let drained = false
    const drain = s.drain(BIG).then((d) => {
      drained = true
      return d
    })
    await later(20)
    assert.equal(drained, false, 'drain ended before the accepted request was answered')
    backend.release()
    const { answered } = await drain
    assert.equal(answered, true)
    assert.equal((await res).statusCode, 200)
    assert.deepEqual(tooLong(), [])
  })
})
