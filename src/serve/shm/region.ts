// One registered shared-memory region (system or CUDA) and how requests hold it: what the protocol layer, the
// backends and the registry share (the registry, shm/registry.ts, keeps them by name).
import { ProtocolError } from '../kserve/errors.ts'

export type RegionKind = 'system' | 'cuda'

/** Bytes of a cudaIpcMemHandle_t (CUDA_IPC_HANDLE_SIZE). */
export const CUDA_IPC_HANDLE_BYTES = 64

export interface SystemRegionSpec {
  /** The shared-memory object's key as shm_open takes it ("/name": the file /dev/shm/name). */
  key: string
  /** Where the region starts in that object, bytes. */
  offset: number
  byteSize: number
}

export interface CudaRegionSpec {
  /** The client's cudaIpcMemHandle_t, as bytes. */
  rawHandle: Buffer
  /** The GPU the memory is on (CUDA ordinal, as the server's backend process numbers its GPUs). */
  deviceId: number
  byteSize: number
}

let regionSeq = 0

/** One registration. Requests hold the object itself, so a name registered again is another region. */
export class ShmRegion {
  /** Unique per registration: what the backend knows the region by (the client's name may come back later). */
  readonly id: string
  /** Accepted requests that name it and are not answered yet. */
  users = 0
  /** The client unregistered it: no new request may name it; the backend closes it when `users` is 0. */
  unregistered = false
  /** Why the backend cannot use it any more (it could not be opened again after a restart), or null. */
  broken: string | null = null
  /** Whether the backend holds it open (false on the simulator, which opens nothing). */
  opened = false

  constructor(
    readonly kind: RegionKind,
    readonly name: string,
    readonly byteSize: number,
    readonly system: (SystemRegionSpec & { path: string }) | null,
    readonly cuda: CudaRegionSpec | null,
    private readonly onIdle: (r: ShmRegion) => void,
  ) {
    this.id = `${++regionSeq}:${name}`
  }

  /** Counts one more request using it; a 400 when it may not be used any more. */
  acquire(): void {
    if (this.unregistered)
      throw new ProtocolError(
        400,
        `shared memory region '${this.name}' was unregistered while the request was read`,
      )
    if (this.broken) throw new ProtocolError(400, this.broken)
    this.users++
  }

  /** The request using it is answered; the last one closes an unregistered region. */
  release(): void {
    this.users--
    if (this.users === 0 && this.unregistered) this.onIdle(this)
  }
}

/** Looks regions up by name for decodeInferRequest. */
export interface RegionLookup {
  region(name: string): ShmRegion | undefined
}
