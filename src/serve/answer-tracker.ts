// The HTTP answers a server has in progress when it drains, found through its connections (tracked per connection,
// so serving costs nothing per request): once the server drains, every answer closes its connection (Connection:
// close), so no client sends its next request on a connection about to be closed, and the drain can wait until
// every answer in progress has gone out. Below fastify: the infer fast path answers on Node's own objects.
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'

/** Node's http server keeps the response a connection is answering as `_httpMessage` until it has finished. */
type HttpSocket = Socket & { _httpMessage?: ServerResponse | null }

export class AnswerTracker {
  private readonly sockets = new Set<HttpSocket>()
  private draining = false

  constructor(private readonly server: Server) {
    server.on('connection', (s: HttpSocket) => {
      this.sockets.add(s)
      s.once('close', () => this.sockets.delete(s))
    })
  }

  /**
   * From now on every answer closes its connection, those in progress included (where not yet begun); resolves once
   * each answer in progress has finished or its connection is gone.
   */
  drain(): Promise<void> {
    if (!this.draining) {
      this.draining = true
      // first of the request listeners (the fast path answers some at once), and only from now on
      this.server.prependListener('request', (_req: IncomingMessage, res: ServerResponse) => {
        res.shouldKeepAlive = false
      })
    }
    const pending: Promise<void>[] = []
    for (const s of this.sockets) {
      const res = s._httpMessage
      if (!res || res.writableFinished) continue
      if (!res.headersSent) res.shouldKeepAlive = false
      pending.push(new Promise((resolve) => res.once('close', () => resolve())))
    }
    return Promise.all(pending).then(() => {})
  }
}
