// The answers to errors that happen before a KServe route runs — Node's HTTP parser's and fastify's router's — in the
// server's one error shape, {"error": …}. The single-process server and every front-end process use the same two.
import type { FastifyReply, FastifyServerOptions } from 'fastify'

/**
 * Errors Node's HTTP parser raises before fastify sees a request (a body that did not arrive in time, headers too
 * large, bytes that are not HTTP): answered in the server's one error shape, and the connection closed.
 */
export function answerClientError(err: NodeJS.ErrnoException, socket: import('node:net').Socket) {
  if (err.code === 'ECONNRESET' || socket.destroyed) return
  const [status, text, message] =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, 'Request Timeout', "the request did not arrive in time (the server's requestTimeoutMs)"]
      : err.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'Request Header Fields Too Large', 'the request line and headers are too large']
        : [400, 'Bad Request', 'the request is not valid HTTP/1.1']
  const body = JSON.stringify({ error: message })
  if (socket.writable)
    socket.write(
      `HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    )
  socket.destroy()
}

/** The router's own errors (a bad URL, a path segment too long), never echoing the URL: it may be kilobytes long. */
export const answerFrameworkError: NonNullable<FastifyServerOptions['frameworkErrors']> = (
  err,
  _req,
  res,
) => {
  const reply = res as unknown as FastifyReply
  if (err.code === 'FST_ERR_MAX_PARAM_LENGTH')
    return reply.code(414).send({ error: 'a segment of the URL path is too long (model names are short)' })
  if (err.code === 'FST_ERR_BAD_URL')
    return reply.code(400).send({ error: 'the URL is not valid (bad percent-encoding)' })
  return reply.code(err.statusCode ?? 400).send({ error: err.message })
}
