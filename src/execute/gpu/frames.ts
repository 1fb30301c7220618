// Frames of the boundary with the Python GPU backend (the Python side is gpu/eclip_gpu/frames.py): on dedicated pipes
// (fd 3: TS → Python, fd 4: Python → TS), never stdout, [u32 total][u32 header length][JSON header][raw bytes],
// little-endian; total counts everything after itself. The headers' messages are protocol.ts's; the server's
// front-end sockets use the same frames (src/serve/frontends/protocol.ts). FrameWriter coalesces the frames written
// together into one write; FrameDecoder takes any number of frames out of one read.
import type { Writable } from 'node:stream'
import { UserError } from '../../formats/errors.ts'

export function encodeFrame(header: object, body: Uint8Array = new Uint8Array()): Buffer {
  const head = encodeFrameHead(header, body.byteLength)
  const out = Buffer.allocUnsafe(head.length + body.byteLength)
  head.copy(out, 0)
  Buffer.from(body.buffer, body.byteOffset, body.byteLength).copy(out, head.length)
  return out
}

/**
 * The frame up to its body: [u32 total][u32 header length][JSON header], for a body of `bodyBytes` that is written
 * after it as it is (a large tensor is not copied into a frame buffer first).
 */
export function encodeFrameHead(header: object, bodyBytes: number): Buffer {
  const h = JSON.stringify(header)
  const hlen = Buffer.byteLength(h, 'utf8')
  const out = Buffer.allocUnsafe(8 + hlen)
  out.writeUInt32LE(4 + hlen + bodyBytes, 0)
  out.writeUInt32LE(hlen, 4)
  out.write(h, 8, 'utf8')
  return out
}

/** The body of a frame that has none (one shared empty buffer). */
const NO_BODY = Buffer.alloc(0)

/**
 * Incremental decoder: feed it chunks as they arrive, get whole frames out. A frame's chunks are joined once, when
 * the last of them arrives (pipes deliver 64 KB at a time: joining on every chunk would copy a 1.5-MB frame ~24 times).
 */
export class FrameDecoder {
  /** Chunks of the frame being received (the first may start with the rest of a frame already decoded). */
  private chunks: Buffer[] = []
  private have = 0
  /** Bytes the current frame needs in `chunks` (4 + total), once its length prefix has arrived. */
  private need = 0

  push(chunk: Buffer): { header: unknown; body: Buffer }[] {
    const frames: { header: unknown; body: Buffer }[] = []
    if (chunk.length > 0) {
      this.chunks.push(chunk)
      this.have += chunk.length
    }
    while (this.have >= 4) {
      if (this.need === 0) {
        const first = this.chunks[0] as Buffer
        const prefix = first.length >= 4 ? first : this.join()
        this.need = 4 + prefix.readUInt32LE(0)
      }
      if (this.have < this.need) break
      const buf = this.join()
      const total = this.need
      const hlen = buf.readUInt32LE(4)
      // (no views made that are not needed: a frame without a body, a read that ends with the frame)
      const header = JSON.parse(buf.toString('utf8', 8, 8 + hlen))
      frames.push({ header, body: 8 + hlen < total ? buf.subarray(8 + hlen, total) : NO_BODY })
      if (total < buf.length) {
        const rest = buf.subarray(total)
        this.chunks = [rest]
        this.have = rest.length
      } else {
        this.chunks = []
        this.have = 0
      }
      this.need = 0
    }
    return frames
  }

  /** The chunks as one buffer (concatenated only when there are several). */
  private join(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks, this.have)]
    return this.chunks[0] as Buffer
  }
}

/**
 * Writes frames on a stream, coalesced: the frames written together leave in one writev. Nothing waits for more
 * frames to come. Where a batch ends is `flushAt`:
 * - `turn`: at the end of the event-loop turn (setImmediate: after the I/O callbacks of this loop iteration and their
 *   promise reactions) — the most frames per write, but one poll phase runs the callbacks of every connection that
 *   was ready (~0.1 ms each), and a frame made early in it waits for all of them;
 * - `task`: once the callback that wrote it and the promise reactions already queued have run (queueMicrotask): a
 *   burst of frames made together (every completion of one read from the backend, every request of one read from a
 *   front-end) still leaves in one write, without waiting for the other callbacks of the turn.
 * A body is written as it is, after its head (a tensor is not copied into a frame buffer).
 */
export class FrameWriter {
  private corked = false
  /** Writes and writevs issued (each is one system call or fewer): tests and diagnostics. */
  flushes = 0
  frames = 0

  constructor(
    private readonly stream: Writable,
    private readonly flushAt: FrameFlush = frameFlushFromEnv(),
  ) {}

  write(header: object, body?: Uint8Array | Uint8Array[]): void {
    const s = this.stream
    if (!this.corked) {
      this.corked = true
      s.cork()
      if (this.flushAt === 'task') queueMicrotask(this.flush)
      else setImmediate(this.flush)
    }
    this.frames++
    if (!body || (Array.isArray(body) ? body.length === 0 : body.byteLength === 0)) {
      s.write(encodeFrameHead(header, 0))
      return
    }
    const parts = Array.isArray(body) ? body : [body]
    let n = 0
    for (const p of parts) n += p.byteLength
    s.write(encodeFrameHead(header, n))
    for (const p of parts) s.write(p)
  }

  /** Sends what was written since the last batch now (the end of the task or turn does it otherwise). */
  readonly flush = (): void => {
    if (!this.corked) return
    this.corked = false
    this.flushes++
    this.stream.uncork()
  }
}

/** Where FrameWriter ends a batch (see there). */
export type FrameFlush = 'turn' | 'task'

/** $ECLIP_FRAME_FLUSH (`turn` or `task`), else DEFAULT_FRAME_FLUSH. */
export function frameFlushFromEnv(env: NodeJS.ProcessEnv = process.env): FrameFlush {
  const raw = env.ECLIP_FRAME_FLUSH
  if (raw === undefined || raw === '') return DEFAULT_FRAME_FLUSH
  if (raw === 'turn' || raw === 'task') return raw
  throw new UserError(`ECLIP_FRAME_FLUSH: "${raw}" is not where a batch of frames ends (turn or task)`)
}

export const DEFAULT_FRAME_FLUSH: FrameFlush = 'task'
