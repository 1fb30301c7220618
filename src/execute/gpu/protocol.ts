// The TypeScript side of the boundary with the Python GPU backend (the Python side is gpu/eclip_gpu/protocol.py).
// Frames on dedicated pipes (fd 3: TS → Python, fd 4: Python → TS), never stdout:
// [u32 total][u32 header length][JSON header][raw bytes], little-endian; total counts everything after itself.
import type { Gpu, Plan } from '../../formats/index.ts'

export interface RunMessage {
  type: 'run'
  key: string
  plan: Plan
  mode: 'stream' | 'graph' | null
  warmupS: number
  windowS: number
  checkOutputs: boolean
}
export type ToBackend = { type: 'hello' } | RunMessage | { type: 'shutdown' }

export interface WorkerTimes {
  name: string
  startUs: number[]
  endUs: number[]
}
export interface RunReply {
  type: 'result'
  key: string
  mode: string
  workers: WorkerTimes[]
  windowStartUs: number
  windowEndUs: number
  energyJ: number | null
  wallS: number
  clocks: unknown
  switches: number[]
  notes: string[]
  outputCheck?: { name: string; relErr: number | null; bitwise: boolean }[]
}
export type FromBackend =
  | { type: 'ready'; gpu: Gpu; versions: Record<string, string> }
  | { type: 'progress'; key: string; message: string }
  | RunReply
  | { type: 'error'; key?: string; message: string; fatal: boolean; trace?: string }

export function encodeFrame(header: object, body: Uint8Array = new Uint8Array()): Buffer {
  const h = Buffer.from(JSON.stringify(header), 'utf8')
  const out = Buffer.allocUnsafe(8 + h.length + body.length)
  out.writeUInt32LE(4 + h.length + body.length, 0)
  out.writeUInt32LE(h.length, 4)
  h.copy(out, 8)
  Buffer.from(body.buffer, body.byteOffset, body.byteLength).copy(out, 8 + h.length)
  return out
}

/** Incremental decoder: feed it chunks as they arrive, get whole frames out. */
export class FrameDecoder {
  private buf: Buffer = Buffer.alloc(0)

  push(chunk: Buffer): { header: unknown; body: Buffer }[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk
    const frames: { header: unknown; body: Buffer }[] = []
    while (this.buf.length >= 4) {
      const total = this.buf.readUInt32LE(0)
      if (this.buf.length < 4 + total) break
      const hlen = this.buf.readUInt32LE(4)
      const header = JSON.parse(this.buf.subarray(8, 8 + hlen).toString('utf8'))
      frames.push({ header, body: this.buf.subarray(8 + hlen, 4 + total) })
      this.buf = this.buf.subarray(4 + total)
    }
    return frames
  }
}
