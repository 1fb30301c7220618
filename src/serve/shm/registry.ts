// Clients' shared-memory regions (Triton's system and CUDA shared-memory extensions, docs/serve-shared-memory.md):
// a client registers a region once, then names it in requests instead of sending tensor bytes. The registry keeps
// the regions by name (one namespace for both kinds, as Triton's), checks what Node can check (a system region's
// file exists under /dev/shm and holds offset + byte_size; a CUDA handle has the right form) and asks the backend to
// open each region once (the GPU backend maps the file or opens the IPC handle; the simulator opens nothing). The
// server's HTTP and gRPC front-ends use it, and so may the server itself (a front-end's own staging regions).
//
// A region named by an accepted request stays open until that request is answered: unregistering it takes its
// name away at once (new requests naming it get a 400), and the backend closes it once the last request using it
// is answered — as Triton defers the unmap of a region with requests in flight. Nothing accepted is lost.
import { statSync } from 'node:fs'
import { join } from 'node:path'
import { BackendUnavailableError } from '../backend.ts'
import { ProtocolError } from '../kserve/errors.ts'
import { RING_PREFIX } from '../shm-ring.ts'
import {
  CUDA_IPC_HANDLE_BYTES,
  type CudaRegionSpec,
  type RegionKind,
  type RegionLookup,
  ShmRegion,
  type SystemRegionSpec,
} from './region.ts'

/** What the registry needs from the backend (ServeBackend implements it: see backend.ts openRegion/closeRegion). */
export interface RegionHost {
  readonly kind: 'sim' | 'gpu'
  /** Opens the region once (maps the file, opens the IPC handle); rejects with why not. Absent: nothing to open. */
  openRegion?(region: ShmRegion): Promise<void>
  /** Closes it (the registry calls this once no accepted request uses it any more). */
  closeRegion?(region: ShmRegion): Promise<void>
}

export interface RegistryOptions {
  /** Where system shared-memory objects live (default /dev/shm). */
  shmDir?: string
  log?: (line: string) => void
}

const bad = (msg: string) => new ProtocolError(400, msg)

export class RegionRegistry implements RegionLookup {
  private readonly regions = new Map<string, ShmRegion>()
  /** Names whose registration is in progress (the backend is opening them). */
  private readonly opening = new Set<string>()

  constructor(
    private readonly host: RegionHost,
    private readonly opts: RegistryOptions = {},
  ) {}

  region(name: string): ShmRegion | undefined {
    return this.regions.get(name)
  }

  /** Every registered region (both kinds), for the server's own use and tests. */
  all(): ShmRegion[] {
    return [...this.regions.values()]
  }

  async registerSystem(name: string, spec: SystemRegionSpec): Promise<void> {
    checkName(name)
    const { key, offset, byteSize } = spec
    if (typeof key !== 'string' || key.length === 0)
      throw bad(`failed to register shared memory region '${name}': "key" must be a non-empty string`)
    checkSize(name, 'offset', offset, 0)
    checkSize(name, 'byte_size', byteSize, 1)
    const path = keyPath(this.opts.shmDir ?? '/dev/shm', name, key)
    this.claim(name)
    try {
      let size: number
      try {
        const st = statSync(path)
        if (!st.isFile()) throw new Error('not a regular file')
        size = st.size
      } catch (err) {
        const why =
          (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such object' : (err as Error).message
        throw bad(`Unable to open shared memory region: '${key}' (${path}: ${why})`)
      }
      if (offset + byteSize > size)
        throw bad(
          `failed to register shared memory region '${name}': offset ${offset} + byte_size ${byteSize} runs past the end of '${key}' (${size} bytes)`,
        )
      const r = new ShmRegion('system', name, byteSize, { key, offset, byteSize, path }, null, (x) =>
        this.close(x),
      )
      await this.open(r)
      this.regions.set(name, r)
    } finally {
      this.opening.delete(name)
    }
  }

  async registerCuda(name: string, spec: CudaRegionSpec): Promise<void> {
    checkName(name)
    const { rawHandle, deviceId, byteSize } = spec
    if (!Buffer.isBuffer(rawHandle) || rawHandle.length !== CUDA_IPC_HANDLE_BYTES)
      throw bad(
        `failed to register CUDA shared memory region '${name}': the raw handle must be a ${CUDA_IPC_HANDLE_BYTES}-byte cudaIpcMemHandle_t (got ${Buffer.isBuffer(rawHandle) ? `${rawHandle.length} bytes` : 'none'})`,
      )
    checkSize(name, 'device_id', deviceId, 0)
    checkSize(name, 'byte_size', byteSize, 1)
    this.claim(name)
    try {
      const r = new ShmRegion('cuda', name, byteSize, null, { rawHandle, deviceId, byteSize }, (x) =>
        this.close(x),
      )
      await this.open(r)
      this.regions.set(name, r)
    } finally {
      this.opening.delete(name)
    }
  }

  /**
   * Unregisters `name` (every region of `kind` when absent). A name not registered is no error (as Triton); one of
   * the other kind is. A region that accepted requests still use is closed when the last of them is answered.
   */
  async unregister(kind: RegionKind, name?: string): Promise<void> {
    let gone: ShmRegion[]
    if (name === undefined || name === '') gone = [...this.regions.values()].filter((r) => r.kind === kind)
    else {
      const r = this.regions.get(name)
      if (!r) return
      if (r.kind !== kind) throw bad(kindMismatch(r, kind))
      gone = [r]
    }
    const closing: Promise<void>[] = []
    for (const r of gone) {
      this.regions.delete(r.name)
      r.unregistered = true
      if (r.users === 0) closing.push(this.close(r))
    }
    await Promise.all(closing)
  }

  /** Triton's status entries of `kind` (one region's when `name` is given: 404 when it is not registered). */
  status(kind: 'system', name?: string): { name: string; key: string; offset: number; byte_size: number }[]
  status(kind: 'cuda', name?: string): { name: string; device_id: number; byte_size: number }[]
  status(kind: RegionKind, name?: string): Record<string, unknown>[] {
    let list: ShmRegion[]
    if (name === undefined || name === '') list = [...this.regions.values()].filter((r) => r.kind === kind)
    else {
      const r = this.regions.get(name)
      if (!r)
        throw new ProtocolError(
          404,
          `Unable to find ${kind === 'cuda' ? 'cuda' : 'system'} shared memory region: '${name}'`,
        )
      if (r.kind !== kind) throw new ProtocolError(404, kindMismatch(r, kind))
      list = [r]
    }
    return list.map((r) => {
      if (r.system) return { name: r.name, key: r.system.key, offset: r.system.offset, byte_size: r.byteSize }
      const entry: Record<string, unknown> = {
        name: r.name,
        device_id: r.cuda?.deviceId,
        byte_size: r.byteSize,
      }
      // the simulator cannot open an IPC handle (no GPU): it says so rather than pretend
      if (!r.opened)
        entry.note = `${this.host.kind === 'sim' ? 'simulator backend' : 'not opened'}: the CUDA IPC handle was checked for form and recorded, not opened (no GPU)`
      return entry
    })
  }

  /** Closes every region (the server is shutting down; the backend goes with it). */
  async closeAll(): Promise<void> {
    await Promise.all([this.unregister('system'), this.unregister('cuda')])
  }

  private claim(name: string) {
    if (this.regions.has(name) || this.opening.has(name))
      throw bad(`shared memory region '${name}' already in manager (unregister it first)`)
    this.opening.add(name)
  }

  private async open(r: ShmRegion): Promise<void> {
    if (!this.host.openRegion) {
      if (this.host.kind === 'gpu')
        throw bad(
          `failed to register shared memory region '${r.name}': this server's backend does not take tensors in shared memory`,
        )
      return // the simulator reads no tensor: recorded, checked as far as Node can
    }
    try {
      await this.host.openRegion(r)
    } catch (err) {
      if (err instanceof ProtocolError) throw err
      const message = `failed to register shared memory region '${r.name}': ${(err as Error).message}`
      // the backend is restarting: the client may try again, its request was fine
      if (err instanceof BackendUnavailableError)
        throw new ProtocolError(503, message, { 'retry-after': '1' })
      throw bad(message)
    }
    r.opened = true
  }

  private async close(r: ShmRegion): Promise<void> {
    if (!r.opened || !this.host.closeRegion) return
    r.opened = false
    try {
      await this.host.closeRegion(r)
    } catch (err) {
      // the backend died with it (a dead process holds nothing) or could not close it: logged, not the client's
      this.opts.log?.(`shm: closing region '${r.name}' failed: ${(err as Error).message}`)
    }
  }
}

function checkName(name: string) {
  if (typeof name !== 'string' || name.length === 0)
    throw bad('a shared memory region needs a non-empty name')
}

function checkSize(name: string, field: string, v: unknown, min: number) {
  // an integer past 2^53 (a uint64 over gRPC, a long JSON number) is no longer exact: too large, not "not an integer"
  if (Number.isInteger(v) && (v as number) > Number.MAX_SAFE_INTEGER)
    throw bad(
      `failed to register shared memory region '${name}': "${field}" ${JSON.stringify(v)} is too large (at most ${Number.MAX_SAFE_INTEGER}, 2^53 − 1)`,
    )
  if (!Number.isSafeInteger(v) || (v as number) < min)
    throw bad(
      `failed to register shared memory region '${name}': "${field}" must be an integer ≥ ${min}, got ${JSON.stringify(v)}`,
    )
}

/**
 * The file of a system shared-memory key: shm_open's "/name" is `dir`/name. Only one path component; the server's
 * own rings (shm-ring.ts) are not a client's to map.
 */
function keyPath(dir: string, name: string, key: string): string {
  const base = key.startsWith('/') ? key.slice(1) : key
  if (base === '' || base === '.' || base === '..' || base.includes('/') || base.includes('\0'))
    throw bad(
      `failed to register shared memory region '${name}': key '${key}' is not a shared memory object name ("/name")`,
    )
  if (base.startsWith(RING_PREFIX))
    throw bad(
      `failed to register shared memory region '${name}': key '${key}' is reserved for the server's own use`,
    )
  return join(dir, base)
}

function kindMismatch(r: ShmRegion, asked: RegionKind): string {
  const is = r.kind === 'cuda' ? 'CUDA shared memory' : 'system shared memory'
  const not = asked === 'cuda' ? 'CUDA shared memory' : 'system shared memory'
  return `The region named '${r.name}' is registered as ${is}, not ${not}`
}
