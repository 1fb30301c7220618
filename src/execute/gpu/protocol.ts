// The TypeScript side of the boundary with the Python GPU backend (the Python side is gpu/eclip_gpu/protocol.py).
// Frames on dedicated pipes (fd 3: TS → Python, fd 4: Python → TS), never stdout:
// [u32 total][u32 header length][JSON header][raw bytes], little-endian; total counts everything after itself.
// Messages: bench's hello/run/shutdown; serve's load/infer/power/shm-register/shm-unregister; paris's
// paris-table/paris-run/paris-gpus (gpu/eclip_gpu/protocol.py's docstring lists them all). hello/run/load/paris-* are
// answered one at a time, in order; infer, power and shm-(un)register carry an `id` their reply echoes, so several can
// be in flight (infer replies of different workers come back in any order).
import type { Gpu, KSERVE_DATATYPES, LatencyTable, Plan } from '../../formats/index.ts'
import type { Schedule } from '../../workload/arrivals.ts'

/** A KServe tensor datatype: tensors cross the boundary as raw little-endian bytes of one of these. */
export type TensorDatatype = (typeof KSERVE_DATATYPES)[number]

export interface RunMessage {
  type: 'run'
  key: string
  plan: Plan
  mode: 'stream' | 'graph' | null
  warmupS: number
  windowS: number
  checkOutputs: boolean
  /**
   * Per plan worker, when its requests come (src/workload/arrivals.ts, gpu/eclip_gpu/arrivals.py), µs from the run's
   * origin; absent: the paper's closed loop for every worker.
   */
  arrivals?: Schedule[]
}

/** One served worker to build and capture. */
export interface LoadWorker {
  name: string
  model: string
  batch: number
  dtype: string
  /** User model: a TorchScript file, built with `inputShape` (without the batch dimension). */
  source?: string
  inputShape?: number[]
  /** paris-elsa: the batch sizes to capture besides `batch` (the model's batch-size mix). */
  batches?: number[]
}
/**
 * A partition of a PARIS server (paris-elsa's load, paris-run): slice ids of GPU `gpu`'s one split (a CUDA ordinal of
 * the backend process).
 */
export interface ServePartition {
  id: string
  gpu: number
  slices: number[]
  sms: number
}
/**
 * serve: build, partition (the plan's pool, once) and capture every worker; no plan: each on the whole GPU. With
 * `partitions` (policy paris-elsa, gpu/eclip_gpu/paris_serve.py): every worker on every partition at each of its
 * batches, and each infer names its partition.
 */
export interface LoadMessage {
  type: 'load'
  plan: Plan | null
  workers: LoadWorker[]
  partitions?: ServePartition[]
  /** Shared-memory rings by worker name (src/serve/shm-ring.ts): files the backend maps, then unlinks. */
  rings?: Record<string, { path: string; bytes: number }>
  /**
   * The plan per set of active models: each worker is also captured under every plan that lists it (its
   * captures share its static input, stream and memory pool), and an infer naming `plan` runs that capture.
   */
  plans?: { key: string; plan: Plan }[]
}
/** Where an infer's tensors lie in its worker's ring: the input, and room for the output. */
export interface InferShm {
  offset: number
  bytes: number
  outOffset: number
  outBytes: number
}
/**
 * A tensor in a client's registered shared-memory region (gpu/eclip_gpu/regions.py): `region` is the registration's
 * id (ShmRegisterMessage.name), `offset` from the region's start; `range`: the input's allowed values (token ids),
 * checked by the backend since the server never reads such an input.
 */
export interface RegionSpan {
  region: string
  offset: number
  bytes: number
  range?: [number, number]
}
/**
 * serve: a client's shared-memory region, opened once by the backend (system: the file at `path`, checked by the
 * server, mapped from `offset`; cuda: the base64 cudaIpcMemHandle_t on `deviceId`). `name` is unique per
 * registration (the client's name may be registered again while the old region drains).
 */
export interface ShmRegisterMessage {
  type: 'shm-register'
  id: number
  name: string
  kind: 'system' | 'cuda'
  bytes: number
  key?: string
  path?: string
  offset?: number
  rawHandle?: string
  deviceId?: number
}
/** serve: closes a region now, or once the requests holding it are done. */
export interface ShmUnregisterMessage {
  type: 'shm-unregister'
  id: number
  name: string
}
/**
 * serve: one execution; the input's first `n` items as raw `dtype` bytes are the frame's body, or, with `shm`, in
 * the worker's ring (the frame has no body then), or, with `input`, in a client's region. With `output`, the output
 * is written into a client's region (the reply has no body then).
 */
export interface InferMessage {
  type: 'infer'
  name: string
  id: number
  n: number
  dtype: TensorDatatype
  shm?: InferShm
  input?: RegionSpan
  output?: RegionSpan
  /** paris-elsa: the partition (id) the server's dispatcher chose; it runs the smallest captured batch ≥ n. */
  partition?: string
  /** The key of a plan of the load's `plans` to run under; absent: the default capture. */
  plan?: string
}
/** paris: one model's latency table measured at `batches` on every partition size of the slice layout. */
export interface ParisTableMessage {
  type: 'paris-table'
  key: string
  model: string
  batches: number[]
  dtype: string
  /** Time budget of the timed replays of one cell (batch × size), ms. */
  cellMs: number
}
/**
 * paris: the number of GPUs the backend process sees, and the slice layouts of the first `count` (each read off its
 * device), before a comparison puts partitions on them.
 */
export interface ParisGpusMessage {
  type: 'paris-gpus'
  key: string
  count: number
}
/** paris: replay one trace open-loop on these partitions with this dispatch (gpu/eclip_gpu/paris.py). */
export interface ParisRunMessage {
  type: 'paris-run'
  key: string
  /**
   * The server's partitions: each on GPU `gpu` (a CUDA ordinal of the backend process; one process drives every GPU
   * of the server, with one dispatcher over all the partitions), as slice ids of that GPU's one split.
   */
  partitions: ServePartition[]
  models: { model: string; batches: number[]; sloUs: number }[]
  dtype: string
  /** estUs[partition][model][batchIdx]: the latency-table estimates ELSA and least-loaded dispatch on, µs. */
  estUs: number[][][]
  dispatch: 'fifo' | 'least-loaded' | 'elsa'
  sloMargin: number
  /** A query that has waited this many times its SLO when its partition reaches it is dropped unexecuted. */
  dropAfterSlo: number
  /** Index of the first measured query: the energy window starts at its release. */
  firstMeasured: number
  /** Arrival µs from the trace's origin (ascending), model index, batch index per query. */
  trace: { arrivalUs: number[]; model: number[]; batchIdx: number[] }
  /** eclip-kw: partition i is a dedicated worker of model serves[i] (src/paris/kernelwise.ts). */
  serves?: number[]
  /**
   * eclip-kw: the pool every GPU of the server holds (green contexts) and, per model and batch index, the groups of
   * its plan there (partition ids of that pool) with the kernel sequence they were planned for.
   */
  kernelWise?: {
    pool: { id: number; slices: number[]; sms: number }[]
    plans: { groups: { first: number; last: number; partition: number }[]; fingerprint: string }[][]
  }
}
export type ToBackend =
  | { type: 'hello' }
  | RunMessage
  | LoadMessage
  | InferMessage
  | ParisTableMessage
  | ParisRunMessage
  | ParisGpusMessage
  | ShmRegisterMessage
  | ShmUnregisterMessage
  | { type: 'power'; id: number }
  | { type: 'shutdown' }

export interface WorkerTimes {
  name: string
  /** Open loop: each request's scheduled arrival (latency counts from it); absent for a closed loop (= startUs). */
  arrivalUs?: number[]
  startUs: number[]
  endUs: number[]
  /** Host CPU time of the worker's thread spent enqueuing each request, µs (absent from MPS runs). */
  cpuUs?: number[]
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
/** One captured worker: its static input and output (batch dimension = the captured batch). */
export interface LoadedWorker {
  name: string
  inputShape: number[]
  inputDtype: TensorDatatype
  outputShape: number[]
  outputDtype: TensorDatatype
  fingerprint: string
  mode?: string
  kernels?: number
  switches?: number
  /** paris-elsa: the batch sizes captured on every partition. */
  batches?: number[]
  /** Its captures under the load's keyed `plans`. */
  plans?: Record<string, { mode: string; switches: number }>
  /** GPU memory its model and captures took (what torch reserved for them), bytes. */
  memoryBytes?: number
}
export interface LoadedReply {
  type: 'loaded'
  workers: LoadedWorker[]
  /** Per ring of the load: true when mapped, else why not (that worker's tensors then go through the pipe). */
  rings?: Record<string, true | string>
  /** Executions of one worker the backend overlaps on its stream (its pipeline depth); absent: one at a time. */
  pipelineDepth?: number
}
/**
 * The output's first `n` items as raw `datatype` bytes: the body, or, with `shm`, at `shm.offset` of the worker's
 * ring (inside the request's `outOffset`/`outBytes`); computeUs is the replay's device time.
 */
export interface OutputReply {
  type: 'output'
  id: number
  shape: number[]
  datatype: TensorDatatype
  computeUs: number
  shm?: { offset: number; bytes: number }
  /** The output went into the client's region the infer named (`bytes` written). */
  output?: RegionSpan
}
export interface ShmRegisteredReply {
  type: 'shm-registered'
  id: number
  name: string
  /** e.g. the mapping could not be page-locked (copies then go through pageable memory). */
  note?: string
}
export interface ShmUnregisteredReply {
  type: 'shm-unregistered'
  id: number
  name: string
  /** False: closed later, once the requests holding it are done. */
  closed: boolean
}
export interface PowerReply {
  type: 'power'
  id: number
  /** NVML board power, W. */
  powerW: number
  /** NVML energy since this process's first power reading, J. */
  energyJ: number
}
export interface LatencyTableReply {
  type: 'latency-table'
  key: string
  table: LatencyTable
  wallS: number
}
/** Per query, µs from the trace's origin on the backend's host clock. */
export interface ParisRunReply {
  type: 'paris-result'
  key: string
  /** When the dispatcher released it (its trace arrival + the dispatcher's lag). */
  releaseUs: number[]
  /** When its partition took it up (launched its graph or dropped it). */
  startUs: number[]
  /** When its graph had completed (event synchronized); for a dropped query, startUs. */
  endUs: number[]
  /** The partition (index into the message's partitions) that ran or dropped it. */
  partition: number[]
  /** The dispatcher's choice at release: a partition index, or -1 for the central FIFO. */
  assigned: number[]
  /** 1 where the query was dropped unexecuted. */
  dropped: number[]
  /**
   * NVML energy from energyFromUs (first measured release) to energyToUs (last completion), J: summed over the
   * server's GPUs (`gpus`), and per GPU in energyPerGpuJ.
   */
  energyJ: number | null
  energyPerGpuJ?: number[] | null
  /** The server's GPUs: 0..the highest any partition is on. */
  gpus?: number[]
  energyFromUs: number
  energyToUs: number
  /** Graphs captured for this run (the rest were kept from earlier runs on the same slices) and their cost. */
  captures: number
  captureS: number
  /** Graphs alive after this run. */
  graphs: number
  wallS: number
  clocks: unknown
  notes: string[]
}
export interface ParisGpusReply {
  type: 'paris-gpus'
  key: string
  /** GPUs the backend process sees (after CUDA_VISIBLE_DEVICES). */
  deviceCount: number
  /** eclip.gpu/1 of GPUs 0..min(count, deviceCount)-1. */
  gpus: Gpu[]
}
export interface ErrorReply {
  type: 'error'
  key?: string
  /** Set when the error answers an infer/power request. */
  id?: number
  message: string
  /** The CUDA context is poisoned: the process exits 3 right after. */
  fatal: boolean
  trace?: string
}
export type FromBackend =
  | { type: 'ready'; gpu: Gpu; versions: Record<string, string> }
  | { type: 'progress'; key: string; message: string }
  | RunReply
  | LoadedReply
  | OutputReply
  | PowerReply
  | LatencyTableReply
  | ParisRunReply
  | ParisGpusReply
  | ShmRegisteredReply
  | ShmUnregisteredReply
  | ErrorReply

/** Replies matched to their request by `id` (the others answer the one serial request in flight). */
export function repliesById(
  m: FromBackend,
): m is OutputReply | PowerReply | ShmRegisteredReply | ShmUnregisteredReply | (ErrorReply & { id: number }) {
  return (
    (m.type === 'output' ||
      m.type === 'power' ||
      m.type === 'error' ||
      m.type === 'shm-registered' ||
      m.type === 'shm-unregistered') &&
    typeof m.id === 'number'
  )
}

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
      const header = JSON.parse(buf.subarray(8, 8 + hlen).toString('utf8'))
      frames.push({ header, body: buf.subarray(8 + hlen, total) })
      const rest = buf.subarray(total)
      this.chunks = rest.length > 0 ? [rest] : []
      this.have = rest.length
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
