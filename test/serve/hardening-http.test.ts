// The HTTP listener against slow and greedy clients: a half-sent body is answered 408 and cut off, connections past
// the cap are refused, and a drain (SIGTERM) finishes within its budget even with such a connection open.
import assert from 'node:assert/strict'
import { connect, type Socket } from 'node:net'
import { describe, it } from 'node:test'
import { testServer } from './helpers.ts'

const MODELS = [{ name: 'resnet152', model: 'resnet152', computeUs: 100 }]

/** Opens a connection, sends `data`, and collects what comes back until the server closes it. */
function half(url: string, data: string): { socket: Socket; closed: Promise<{ text: string; ms: number }> } {
  const { hostname, port } = new URL(url)
  const socket = connect(Number(port), hostname)
  const t0 = performance.now()
  let text = ''
  socket.on('data', (b) => {
    text += b.toString()
  })
  socket.on('error', () => {})
  socket.write(data)
  const closed = new Promise<{ text: string; ms: number }>((resolve) =>
    socket.on('close', () => resolve({ text, ms: performance.now() - t0 })),
  )
  return { socket, closed }
}

const HALF_BODY =
  'POST /v2/models/resnet152/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"inputs":'

describe('HTTP timeouts and limits', { timeout: 20_000 }, () => {
  it('a request whose body never finishes is answered 408 with a JSON error and closed', async () => {
    const s = await testServer(MODELS, { http: { requestTimeoutMs: 400, headersTimeoutMs: 300 } })
    const url = await s.listen(0, '127.0.0.1')
    try {
      const { closed } = half(url, HALF_BODY)
      const { text, ms } = await closed
      assert.match(text, /^HTTP\/1\.1 408 /)
      assert.match(text, /\{"error":"[^"]+"\}$/)
      assert.ok(ms < 3000, `closed after ${ms} ms`)
      // the server still answers others
      const r = await fetch(`${url}/v2/health/live`)
      assert.equal(r.status, 200)
    } finally {
      await s.close()
    }
  })

  it('connections past maxConnections are closed unanswered; the ones within it are served', async () => {
    const s = await testServer(MODELS, { http: { maxConnections: 2, requestTimeoutMs: 60_000 } })
    const url = await s.listen(0, '127.0.0.1')
    const open = [
      half(url, 'GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n'),
      half(url, 'GET /v2 HTTP/1.1\r\n'),
    ]
    try {
      await new Promise((r) => setTimeout(r, 200))
      const third = half(url, 'GET /v2/health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
      const { text } = await third.closed
      assert.equal(text, '', 'refused without an answer')
    } finally {
      for (const o of open) o.socket.destroy()
      await s.close()
    }
  })

  it('drain (SIGTERM) finishes within its budget with a half-sent request open, and cuts that connection', async () => {
    const s = await testServer(MODELS, { http: { requestTimeoutMs: 60_000 } })
    const url = await s.listen(0, '127.0.0.1')
    const h = half(url, HALF_BODY)
    await new Promise((r) => setTimeout(r, 200))
    const t0 = performance.now()
    const { answered } = await s.drain(800)
    const ms = performance.now() - t0
    assert.equal(answered, true)
    assert.ok(ms < 1500, `drain took ${ms} ms`)
    await h.closed
  })
})
