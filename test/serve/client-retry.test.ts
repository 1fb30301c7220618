// The KServe client sends a request again, once, when the kept-alive connection it went out on had just been closed by
// the server (its keepAliveTimeout): the request never reached the server. serve-bench's /metrics scrapes, idle for a
// whole window between them, met this.
import assert from 'node:assert/strict'
import { createServer, type Socket } from 'node:net'
import { describe, it } from 'node:test'
import { KserveClient } from '../../src/serve/kserve/client.ts'

describe('KserveClient on a connection the server closed while idle', () => {
  it('sends the request again on a fresh connection', async () => {
    let connections = 0
    // answers the first request of each connection and keeps it open; a second request on it is met with a reset
    const server = createServer((sock: Socket) => {
      connections++
      let served = 0
      sock.on('data', () => {
        if (served++ === 0)
          sock.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok')
        else sock.resetAndDestroy()
      })
      sock.on('error', () => {})
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const { port } = server.address() as { port: number }
    const client = new KserveClient(`http://127.0.0.1:${port}`)
    try {
      const a = await client.get('/metrics')
      assert.equal(a.status, 200)
      const b = await client.get('/metrics')
      assert.equal(b.status, 200, b.error)
      assert.equal(b.body.toString(), 'ok')
      assert.equal(connections, 2)
    } finally {
      client.close()
      server.close()
    }
  })
})
