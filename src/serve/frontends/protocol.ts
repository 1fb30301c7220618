// The messages between the engine (the primary process: workers, queues, dynamic batching, the plan, the backend)
// and its HTTP front-end processes (Node cluster workers that parse, validate and answer the KServe requests). Infer
// calls and their replies, one pair per request, go on a channel of their own (FrameChannel: a socket pair at fd
// CHANNEL_FD of the front-end, the GPU backend's framing: a JSON header and the tensors' bytes after it, no copy);
// everything else (start-up, shared-memory calls, state and region tables, close) over the cluster's IPC channel with
// `serialization: 'advanced'` (Buffers travel as bytes, not JSON). A request's tensor bytes normally do not cross
// either channel at all: the front-end writes them into its staging region (a /dev/shm file the engine registered
// with the backend like a client's system shared-memory region) and sends where they lie.
import type { Socket } from 'node:net'
import { FrameDecoder, FrameWriter } from '../../execute/gpu/frames.ts'
import type { ServiceModel } from '../kserve/routes.ts'

/** Where a tensor lies: a client's registered region, or (`staging`) the sending front-end's own region. */
export interface WireRef {
  region: string
  staging?: true
  offset: number
  bytes: number
}

export interface WireTensor {
  name: string
  datatype: string
  shape: number[]
  /** The bytes, when they cross the channel (no staging region, or a request the engine may batch with others). */
  data?: Uint8Array
  shm?: WireRef
}

/** A decoded, validated infer request (kserve/tensors.ts DecodedRequest) with its regions named, not resolved. */
export interface WireRequest {
  id?: string
  batch: number
  inputs: WireTensor[]
  outputs?: { name: string; binary: boolean; shm?: WireRef }[]
  binaryOutputs: boolean
  timeoutUs?: number
  parameters: Record<string, unknown>
}

/** A failed call: a ProtocolError's status, message and headers (the same JSON error the client gets), or a bare message (500). */
export interface WireError {
  status?: number
  message: string
  headers?: Record<string, string>
}

/** Triton's status entries of both kinds, and what decodeInferRequest needs to check a request naming a region. */
export interface RegionTable {
  seq: number
  system: { name: string; key: string; offset: number; byte_size: number }[]
  cuda: Record<string, unknown>[]
  lookup: { name: string; kind: 'system' | 'cuda'; byteSize: number }[]
}

/**
 * What the engine pushes whenever it changes: health, the models whose queue is full (name → queue size), and
 * (eclip-live) why each model of the repository that is not served cannot be asked (name → reason).
 */
export interface EngineState {
  live: boolean
  ready: boolean
  full: Record<string, number>
  unavailable?: Record<string, string>
}

export interface FrontendInit {
  index: number
  port: number
  host: string
  /** The engine's own HTTP listener (127.0.0.1): every route the front-end does not serve itself is forwarded there. */
  engineUrl: string
  metadata: { name: string; version: string; extensions: string[] }
  models: ServiceModel[]
  /** The engine's fastify settings (app.initialConfig): limits and timeouts as the single-process server has them. */
  fastify: Record<string, unknown>
  /** The engine's HTTP server settings fastify's options do not carry (headersTimeout; maxConnections, this front-end's share). */
  server: { headersTimeout?: number; maxConnections?: number }
  /** Listen for gRPC (KServe v2 GRPCInferenceService) on this port too (0: a free one, shared by every front-end). */
  grpcPort?: number
  logLevel: string
  /** Largest JSON part of an infer request (the server's maxJsonBytes; absent: the routes' default). */
  maxJsonBytes?: number
  /** Bytes of the staging region to create (0: none; every tensor crosses the channel). */
  stagingBytes: number
  shmDir: string
  state: EngineState
  regions: RegionTable
}

/** The shared-memory calls a front-end forwards (InferenceService's, by name). */
export type ShmMethod = 'registerSystemShm' | 'unregisterSystemShm' | 'registerCudaShm' | 'unregisterCudaShm'

export type ToEngine =
  | { t: 'hello' }
  | { t: 'infer'; id: number; model: string; req: WireRequest; receivedAtEpochMs: number }
  | { t: 'shm'; id: number; method: ShmMethod; args: unknown[] }
  | { t: 'staging'; id: number; key: string; byteSize: number }
  | { t: 'invalid'; model: string }
  /** A request for `model` refused here before its body was read: its queue was full (counted as REJECTED). */
  | { t: 'rejected'; model: string }
  | { t: 'ack'; seq: number }
  | { t: 'listening'; address: string; grpcAddress?: string }
  /** It could not listen (the port is taken, …): the engine gives up starting. */
  | { t: 'failed'; message: string; code?: string }

export type ToFrontend =
  | { t: 'init'; init: FrontendInit }
  | { t: 'reply'; id: number; ok: true; value?: unknown }
  | { t: 'reply'; id: number; ok: false; error: WireError }
  | ({ t: 'state' } & EngineState)
  | { t: 'regions'; table: RegionTable }
  /** The served models after a load or unload (eclip-live); acknowledged with `ack` and this seq. */
  | { t: 'models'; seq: number; models: ServiceModel[] }
  | { t: 'close' }

/** An infer call's answer: the outputs (bytes, a client's region, or the front-end's staging region) and parameters. */
export interface WireOutcome {
  outputs: WireTensor[]
  parameters: Record<string, unknown>
}

/** The staging file name prefix in /dev/shm: `eclip-frontend-<engine pid>-<front-end pid>`. */
export const STAGING_PREFIX = 'eclip-frontend-'

/** A Buffer over a Uint8Array that came over the channel (no copy). */
export function asBuffer(u: Uint8Array): Buffer {
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength)
}

/** The front-end's fd of its infer channel (the engine's end is the worker process's stdio[CHANNEL_FD]). */
export const CHANNEL_FD = 4

/**
 * Length-prefixed frames on a socket, as between the server and the GPU backend (src/execute/gpu/frames.ts):
 * `[u32 total][u32 header length][JSON header][bytes]`. A message's tensors carry their bytes in the frame's body
 * (in order; each tensor's `data` replaced by its length, `dataBytes`), written after the header as they are.
 */
export class FrameChannel {
  private readonly decoder = new FrameDecoder()
  private readonly writer: FrameWriter

  constructor(
    private readonly socket: Socket,
    onFrame: (header: unknown, body: Buffer) => void,
  ) {
    this.writer = new FrameWriter(socket)
    socket.on('data', (chunk: Buffer) => {
      for (const f of this.decoder.push(chunk)) onFrame(f.header, f.body)
    })
    // a peer that is gone: its process's exit (or the IPC channel's disconnect) says so
    socket.on('error', () => {})
  }

  /**
   * Sends `header` with `parts` (tensors' bytes) as its body, in one write with the other frames of this event-loop
   * turn (FrameWriter); false when the socket is gone.
   */
  send(header: object, parts?: Uint8Array[]): boolean {
    const s = this.socket
    if (s.destroyed || !s.writable) return false
    this.writer.write(header, parts)
    return true
  }

  close() {
    this.socket.destroy()
  }
}

/** Frames from a front-end on its channel: infer calls (inputs' bytes in the body), failed validations, early refusals. */
export type FramedToEngine =
  | {
      t: 'infer'
      id: number
      model: string
      req: Omit<WireRequest, 'inputs'> & { inputs: FramedTensor[] }
      receivedAtEpochMs: number
    }
  | { t: 'invalid'; model: string }
  | { t: 'rejected'; model: string }

/** Frames to a front-end on its channel: the replies to its infer calls (outputs' bytes in the body). */
export type FramedReply =
  | {
      t: 'reply'
      id: number
      ok: true
      value: { outputs: FramedTensor[]; parameters: Record<string, unknown> }
    }
  | { t: 'reply'; id: number; ok: false; error: WireError }

/** A tensor as a frame's header carries it: its bytes (when it has any) moved to the frame's body. */
export type FramedTensor = Omit<WireTensor, 'data'> & { dataBytes?: number }

/** `tensors` with their bytes taken out into `parts`, for a frame (FrameChannel). */
export function detachData(tensors: WireTensor[], parts: Uint8Array[]): FramedTensor[] {
  return tensors.map((t) => {
    if (!t.data) return t
    const { data, ...rest } = t
    parts.push(data)
    return { ...rest, dataBytes: data.byteLength }
  })
}

/** Tensors of a frame's header with their bytes put back (views of `body` from `at`); returns where the next start. */
export function attachData(
  tensors: FramedTensor[],
  body: Buffer,
  at: number,
): { tensors: WireTensor[]; at: number } {
  let off = at
  const out = tensors.map((t): WireTensor => {
    if (t.dataBytes === undefined) return t
    const { dataBytes, ...rest } = t
    const data = body.subarray(off, off + dataBytes)
    off += dataBytes
    return { ...rest, data }
  })
  return { tensors: out, at: off }
}
