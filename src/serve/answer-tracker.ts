// The HTTP requests a server has accepted and not yet answered, seen on Node's server below fastify (the infer fast
// path answers on Node's own objects, kserve/routes.ts). Once the server drains, every answer closes its connection
// (Connection: close), so no client sends its next request on a connection about to be closed; and the drain can
// wait until every request accepted before it is answered.
import type { IncomingMessage, Server, ServerResponse } from 'node:http'

export class AnswerTracker {
  private readonly open = new Set<ServerResponse>()
  private draining = false
  private answeredAll: () => void = () => {}

  /**
   * Attach after the routes (registerKserveRoutes puts its fast path in place of the server's one listener); it runs
   * first, so an answer the fast path writes at once already closes its connection.
   */
  constructor(server: Server) {
    server.prependListener('request', (_req: IncomingMessage, res: ServerResponse) => {
      if (this.draining) {
        res.shouldKeepAlive = false
        return
      }
      this.open.add(res)
      res.once('close', () => {
        this.open.delete(res)
        if (this.draining && this.open.size === 0) this.answeredAll()
      })
    })
  }

  /**
   * From now on every answer closes its connection, those of the requests already accepted included (where not yet
   * begun); resolves once each of those is answered or its connection gone.
   */
  drain(): Promise<void> {
    this.draining = true
    for (const res of this.open) if (!res.headersSent) res.shouldKeepAlive = false
    return new Promise((resolve) => {
      this.answeredAll = resolve
      if (this.open.size === 0) resolve()
    })
  }
}
