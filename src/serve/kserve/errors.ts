// The error a request's handling throws to answer with a KServe status code: HTTP status, message, extra headers.
/** A request the client got wrong (4xx) or the server cannot serve now (5xx); `error` goes back as JSON. */
export class ProtocolError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message)
  }
}
