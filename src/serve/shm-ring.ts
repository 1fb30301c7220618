// Tensors between the server and the Python GPU backend through shared memory instead of the pipe: one ring per
// served model, a file in /dev/shm (tmpfs) that Node writes and reads at offsets (fs.write/fs.read on the libuv
// threadpool: the copies stay off the event loop) and Python maps (gpu/eclip_gpu/shm.py). An infer frame then
// carries only where its input lies and where the output may go; the pipe carries headers only. A span of the ring
// is given back only once the request's reply has come and its output has been read: until then Python may still be
// reading the input or writing the output there.
import {
  closeSync,
  existsSync,
  ftruncateSync,
  openSync,
  read,
  readdirSync,
  readSync,
  statfsSync,
  unlinkSync,
  write,
  writeSync,
} from 'node:fs'
import { join } from 'node:path'

/**
 * Tensors up to this size are written to and read from a ring synchronously on the event loop: a small output
 * (a vision model's logits, 16 KB at batch 8) or input (albert's token ids, 8 KB) takes a few µs to copy, less than
 * the threadpool's hand-off and wake-ups; larger ones (images, MBs) stay off the loop.
 */
export const SYNC_IO_BYTES = 64 * 1024

/** One allocation of a ring: `bytes` at `offset`. */
export interface RingSpan {
  offset: number
  bytes: number
}

interface Held extends RingSpan {
  released: boolean
}

/**
 * Byte ring allocator: spans are taken in order at the head, contiguously (a span that does not fit before the end
 * wraps to offset 0), and may be released in any order; the space of a released span becomes free once every span
 * taken before it is released too (the ring frees from its tail). `alloc` returns null when there is no room: the
 * caller sends that request another way rather than wait.
 */
export class RingAllocator {
  private held: Held[] = []
  /** Where the next span goes if it fits. */
  private head = 0
  /** Times a span went back to offset 0 because it did not fit before the end. */
  wraps = 0

  constructor(
    readonly capacity: number,
    /** Spans start at multiples of this (64: a cache line; any tensor element type is aligned). */
    readonly align = 64,
  ) {
    if (!(capacity > 0) || capacity % align !== 0)
      throw new Error(`ring capacity ${capacity}: not a multiple of ${align}`)
  }

  /** Spans not yet reclaimed (released or not). */
  get spans(): number {
    return this.held.length
  }

  alloc(bytes: number): RingSpan | null {
    const size = this.round(Math.max(1, bytes))
    if (size > this.capacity) return null
    const tail = this.held[0]?.offset
    let offset: number | null = null
    if (tail === undefined || this.head > tail) {
      // the held spans (if any) lie in [tail, head): free after the head, then before the tail
      if (this.head + size <= this.capacity) offset = this.head
      else if (size <= (tail ?? this.capacity)) offset = 0
    } else if (this.head + size <= tail) offset = this.head // wrapped: free between the head and the tail
    if (offset === null) return null
    if (offset === 0 && this.head !== 0) this.wraps++
    const span: Held = { offset, bytes, released: false }
    this.held.push(span)
    this.head = offset + size
    return span
  }

  /** Gives a span back (each exactly once: the very object `alloc` returned). */
  release(span: RingSpan): void {
    const h = this.held.find((x) => x === span)
    if (!h || h.released) throw new Error(`ring span at ${span.offset} is not held`)
    h.released = true
    while (this.held[0]?.released) this.held.shift()
  }

  round(bytes: number): number {
    return Math.ceil(bytes / this.align) * this.align
  }
}

/** The shared file of one ring, written and read at offsets; closed (fd and name) once no I/O is in flight. */
export class ShmRing {
  readonly alloc: RingAllocator
  private pending = 0
  private closing = false
  private fd: number | null

  private constructor(
    readonly path: string,
    readonly capacity: number,
    fd: number,
  ) {
    this.fd = fd
    this.alloc = new RingAllocator(capacity)
  }

  /** Creates the file (sparse, `capacity` bytes; the Python side reserves its pages when it maps it). */
  static create(path: string, capacity: number): ShmRing {
    const fd = openSync(path, 'wx+', 0o600)
    try {
      ftruncateSync(fd, capacity)
    } catch (err) {
      closeSync(fd)
      unlinkQuietly(path)
      throw err
    }
    return new ShmRing(path, capacity, fd)
  }

  /**
   * Writes `data` at `offset` (one write call per loop turn until all is written). Up to SYNC_IO_BYTES it is written
   * at once, on the event loop: a copy that small into tmpfs costs less than a trip through libuv's threadpool.
   */
  write(data: Uint8Array, offset: number): Promise<void> {
    if (data.byteLength <= SYNC_IO_BYTES)
      return this.ioSync((fd) => {
        let done = 0
        while (done < data.byteLength) {
          const n = writeSync(fd, data, done, data.byteLength - done, offset + done)
          if (n === 0) throw new Error(`${this.path}: wrote nothing at ${offset + done}`)
          done += n
        }
      })
    return this.io(async (fd) => {
      let done = 0
      while (done < data.byteLength) {
        const n = await new Promise<number>((resolve, reject) =>
          write(fd, data, done, data.byteLength - done, offset + done, (err, written) =>
            err ? reject(err) : resolve(written),
          ),
        )
        if (n === 0) throw new Error(`${this.path}: wrote nothing at ${offset + done}`)
        done += n
      }
    })
  }

  /** Reads `bytes` at `offset` into a new buffer (at once, on the event loop, up to SYNC_IO_BYTES: see write). */
  read(offset: number, bytes: number): Promise<Buffer> {
    if (bytes <= SYNC_IO_BYTES)
      return this.ioSync((fd) => {
        const buf = Buffer.allocUnsafe(bytes)
        let done = 0
        while (done < bytes) {
          const n = readSync(fd, buf, done, bytes - done, offset + done)
          if (n === 0)
            throw new Error(`${this.path}: ${bytes} bytes at ${offset} run past the end of the ring`)
          done += n
        }
        return buf
      })
    return this.io(async (fd) => {
      const buf = Buffer.allocUnsafe(bytes)
      let done = 0
      while (done < bytes) {
        const n = await new Promise<number>((resolve, reject) =>
          read(fd, buf, done, bytes - done, offset + done, (err, got) => (err ? reject(err) : resolve(got))),
        )
        if (n === 0) throw new Error(`${this.path}: ${bytes} bytes at ${offset} run past the end of the ring`)
        done += n
      }
      return buf
    })
  }

  /** Removes the file's name (the open descriptors and the backend's mapping keep the memory until closed). */
  unlink(): void {
    unlinkQuietly(this.path)
  }

  /** Unlinks, and closes the descriptor once the I/O in flight is done (its number must not be reused under it). */
  close(): void {
    this.unlink()
    this.closing = true
    this.maybeClose()
  }

  /** A synchronous `op` with io's contract: a promise, rejected (never thrown) when the ring is closed or op fails. */
  private ioSync<T>(op: (fd: number) => T): Promise<T> {
    if (this.closing || this.fd === null) return Promise.reject(new Error(`${this.path}: the ring is closed`))
    try {
      return Promise.resolve(op(this.fd))
    } catch (err) {
      return Promise.reject(err)
    }
  }

  private async io<T>(op: (fd: number) => Promise<T>): Promise<T> {
    if (this.closing || this.fd === null) throw new Error(`${this.path}: the ring is closed`)
    this.pending++
    try {
      return await op(this.fd)
    } finally {
      this.pending--
      this.maybeClose()
    }
  }

  private maybeClose() {
    if (!this.closing || this.pending > 0 || this.fd === null) return
    closeSync(this.fd)
    this.fd = null
  }
}

function unlinkQuietly(path: string) {
  try {
    unlinkSync(path)
  } catch {}
}

export const RING_PREFIX = 'eclip-ring-'

/** Ring files a dead eclip process left behind in `dir` (named `eclip-ring-<pid>-…`): removed. */
export function removeStaleRings(dir: string): void {
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch {
    return
  }
  for (const name of names) {
    const m = new RegExp(`^${RING_PREFIX}(\\d+)-`).exec(name)
    if (!m || Number(m[1]) === process.pid) continue
    try {
      process.kill(Number(m[1]), 0)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') unlinkQuietly(join(dir, name))
    }
  }
}

/** Why rings of `bytes` in all cannot go in `dir`, or null when they can (a tmpfs with room for twice that). */
export function shmUnavailable(dir: string, bytes: number): string | null {
  if (!existsSync(dir)) return `${dir} does not exist`
  try {
    const s = statfsSync(dir)
    const free = s.bavail * s.bsize
    if (free < 2 * bytes)
      return `${dir} has ${(free / 2 ** 20).toFixed(0)} MiB free, the rings need ${(bytes / 2 ** 20).toFixed(0)} MiB (and as much to spare)`
  } catch (err) {
    return `${dir}: ${(err as Error).message}`
  }
  return null
}
