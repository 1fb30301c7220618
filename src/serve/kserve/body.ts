// Request bodies kept as the chunks they arrived in. A batch-8 image request is 2.4 MB (4.8 MB as FP32) in ~40
// socket chunks; joining them into one buffer copied every byte once more and gave the garbage collector another
// 2.4 MB per request to account for (a full mark-compact every ~64 MB of such buffers). Here the JSON header is
// joined (it is small) and a binary tensor stays a list of views of the chunks, which the GPU backend writes into
// its shared-memory ring as they are (fs.writev); whatever needs one buffer (a range check, the simulator, the pipe)
// joins it then.
import type { Readable } from 'node:stream'
import { ProtocolError } from './tensors.ts'

/** Bytes that can be read as views of any range: a request body, or the part of it after the JSON header. */
export interface ByteSource {
  readonly length: number
  /** Views of the bytes [start, end), one per chunk they lie in. */
  parts(start: number, end: number): Buffer[]
}

/** A buffer as a ByteSource. */
export function bufferSource(b: Buffer): ByteSource {
  return { length: b.length, parts: (start, end) => [b.subarray(start, end)] }
}

export class RequestBody implements ByteSource {
  constructor(
    private readonly chunks: readonly Buffer[],
    readonly length: number,
  ) {}

  parts(start: number, end: number): Buffer[] {
    const out: Buffer[] = []
    let at = 0
    for (const c of this.chunks) {
      const from = Math.max(start, at)
      const to = Math.min(end, at + c.length)
      if (from < to) out.push(c.subarray(from - at, to - at))
      at += c.length
      if (at >= end) break
    }
    return out
  }

  /** Bytes [start, end) as one buffer: a view where they lie in one chunk, else joined. */
  bytes(start: number, end: number): Buffer {
    const p = this.parts(start, end)
    return p.length === 1 ? (p[0] as Buffer) : Buffer.concat(p, end - start)
  }

  /** The bytes from `start` on. */
  from(start: number): ByteSource {
    return { length: this.length - start, parts: (s, e) => this.parts(start + s, start + e) }
  }
}

/**
 * fastify's body parsing with `parseAs: 'buffer'` (limit before and while reading, the length checked against
 * Content-Length, 400 for a broken stream), keeping the chunks instead of joining them. A chunk that is a view of a
 * larger buffer (Node may reuse one for socket reads) is copied; Node 20's HTTP parser hands out chunks of their own.
 */
export function readBody(
  headers: Record<string, string | string[] | undefined>,
  payload: Readable,
  limit: number,
  done: (err: Error | null, body?: RequestBody) => void,
): void {
  const tooLarge = () => new ProtocolError(413, `request body is larger than the limit of ${limit} bytes`)
  const declared = Number(headers['content-length'])
  if (declared > limit) {
    done(tooLarge())
    return
  }
  const chunks: Buffer[] = []
  let received = 0
  const cleanup = () => {
    payload.removeListener('data', onData)
    payload.removeListener('end', onEnd)
    payload.removeListener('error', onEnd)
  }
  function onData(chunk: Buffer | string) {
    const c = typeof chunk === 'string' ? Buffer.from(chunk) : chunk
    received += c.length
    if (received > limit) {
      cleanup()
      done(tooLarge())
      return
    }
    chunks.push(c.byteOffset === 0 && c.buffer.byteLength === c.length ? c : Buffer.from(c))
  }
  function onEnd(err?: Error) {
    cleanup()
    if (err) {
      done(new ProtocolError(400, `the request body could not be read: ${err.message}`))
      return
    }
    if (!Number.isNaN(declared) && received !== declared) {
      done(new ProtocolError(400, `the request body has ${received} bytes, Content-Length says ${declared}`))
      return
    }
    done(null, new RequestBody(chunks, received))
  }
  payload.on('data', onData)
  payload.on('end', onEnd)
  payload.on('error', onEnd)
  payload.resume()
}
