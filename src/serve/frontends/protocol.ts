// The messages between the engine (the primary process: workers, queues, dynamic batching, the plan, the backend)
// and its HTTP front-end processes (Node cluster workers that parse, validate and answer the KServe requests). Infer
// calls and their replies, one pair per request, go on a channel of their own (FrameChannel: a socket pair at fd
// CHANNEL_FD of the front-end, the GPU backend's framing: a JSON header and the tensors' bytes after it, no copy;
// their headers are compact arrays, see INFER);
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
  /**
   * The request's scalar parameters (wireParameters): the engine reads none of them (decoding took
   * binary_data_output and timeout into binaryOutputs and timeoutUs), and a client's JSON may nest them thousands of
   * levels deep.
   */
  parameters: Record<string, unknown>
}

/** Triton's statistics extension's `model_stats`, as the engine's server gives them (ServerMetrics.modelStats). */
export type ModelStats = Record<string, unknown>[]

/**
 * A failed call: a ProtocolError's status, message and headers (the same JSON error the client gets), or a bare
 * message (500).
 */
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
  /**
   * The engine's HTTP server settings fastify's options do not carry (headersTimeout; maxConnections, this
   * front-end's share).
   */
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
  | { t: 'infer'; id: number; model: string; req: WireRequest; receivedAtMonotonicMs: number }
  | { t: 'shm'; id: number; method: ShmMethod; args: unknown[] }
  | { t: 'staging'; id: number; key: string; byteSize: number }
  /** The engine's statistics now (answered with a `reply` whose value is the ModelStats), where there is no channel. */
  | { t: 'stats'; id: number }
  | { t: 'invalid'; model: string }
  /** A request for `model` refused here before its body was read: its queue was full (counted as REJECTED). */
  | { t: 'rejected'; model: string }
  | { t: 'ack'; seq: number }
  | { t: 'listening'; address: string; grpcAddress?: string }
  /** It could not listen (the port is taken, …): the engine gives up starting. `grpcPort`: the gRPC listener failed. */
  | { t: 'failed'; message: string; code?: string; grpcPort?: number }

export type ToFrontend =
  | { t: 'init'; init: FrontendInit }
  | { t: 'reply'; id: number; ok: true; value?: unknown }
  | { t: 'reply'; id: number; ok: false; error: WireError }
  | ({ t: 'state' } & EngineState)
  | { t: 'regions'; table: RegionTable }
  /** The served models after a load or unload (eclip-live); acknowledged with `ack` and this seq. */
  | { t: 'models'; seq: number; models: ServiceModel[] }
  /** Drain, then exit: the engine kills a front-end still running `budgetMs` after it sent this. */
  | { t: 'close'; budgetMs: number }

/** An infer call's answer: the outputs (bytes, a client's region, or the front-end's staging region) and parameters. */
export interface WireOutcome {
  outputs: WireTensor[]
  parameters: Record<string, unknown>
}

/** The staging file name prefix in /dev/shm: `eclip-frontend-<engine pid>-<front-end pid>`. */
export const STAGING_PREFIX = 'eclip-frontend-'

/**
 * A request's parameters as they cross to the engine: those of Triton's kinds (bool, int64, double, string). Nested
 * values, which no Triton parameter has and nothing past decoding reads, stay in the front-end (as the single-process
 * server keeps and ignores them), so a header never holds a client's arbitrarily deep JSON.
 */
export function wireParameters(p: Record<string, unknown>): Record<string, unknown> {
  const entries = Object.entries(p)
  return entries.every(isScalar) ? p : Object.fromEntries(entries.filter(isScalar))
}

function isScalar([, v]: [string, unknown]): boolean {
  return typeof v === 'boolean' || typeof v === 'number' || typeof v === 'string'
}

/** A Buffer over a Uint8Array that came over the channel (no copy). */
export function asBuffer(u: Uint8Array): Buffer {
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength)
}

/** The front-end's fd of its infer channel (the engine's end is the worker process's stdio[CHANNEL_FD]). */
export const CHANNEL_FD = 4

/**
 * Length-prefixed frames on a socket, as between the server and the GPU backend (src/execute/gpu/frames.ts):
 * `[u32 total][u32 header length][JSON header][bytes]`. A message's tensors carry their bytes in the frame's body
 * (in order; the header gives each one's length), written after the header as they are.
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
   * Sends `header` with `parts` (tensors' bytes) as its body, in one write with the other frames written together
   * (FrameWriter); false when the socket is gone.
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

/**
 * The two frames every request makes on a channel, infer and reply, have compact headers: positional arrays, not
 * objects (a JSON array parses and prints in about half the time of the same fields as an object, and the engine's
 * one event loop does this per request). The tag is the array's first element; every other frame is an object with
 * `t` ({t: 'invalid' | 'rejected', model}; {t: 'stats', id}).
 */
export const INFER = 0
export const REPLY = 1
export const FAILED = 2
/** The engine's statistics: the answer to a front-end's `{t: 'stats', id}` frame. */
export const STATS = 3

/**
 * A tensor in a compact frame: [name, datatype, shape, byte length] with its bytes in the frame's body (in order), or
 * [name, datatype, shape, region, offset, bytes, staging 0|1] where it lies in a region.
 */
type CompactTensor =
  | [name: string, datatype: string, shape: number[], dataBytes: number]
  | [
      name: string,
      datatype: string,
      shape: number[],
      region: string,
      offset: number,
      bytes: number,
      staging: 0 | 1,
    ]
/** A requested output: [name, binary 0|1], and where it goes when it goes to a region. */
type CompactOutput =
  | [name: string, binary: 0 | 1]
  | [name: string, binary: 0 | 1, region: string, offset: number, bytes: number, staging: 0 | 1]

type InferHeader = [
  tag: typeof INFER,
  id: number,
  model: string,
  receivedAtMonotonicMs: number,
  batch: number,
  inputs: CompactTensor[],
  outputs: CompactOutput[] | 0,
  binaryOutputs: 0 | 1,
  timeoutUs: number | null,
  requestId: string | null,
  parameters: Record<string, unknown>,
]
type ReplyHeader = [
  tag: typeof REPLY,
  id: number,
  outputs: CompactTensor[],
  parameters: Record<string, unknown>,
]
type FailedHeader = [
  tag: typeof FAILED,
  id: number,
  message: string,
  status: number | null,
  headers: Record<string, string> | 0,
]
type StatsHeader = [tag: typeof STATS, id: number, stats: ModelStats]

/** An infer call as the engine takes it off its channel. */
export interface InferCall {
  id: number
  model: string
  req: WireRequest
  /** The request's arrival at its front-end, ms on the host's monotonic clock (src/clock.ts, toMonotonicMs). */
  receivedAtMonotonicMs: number
}

/**
 * Frames from a front-end on its channel: infer calls (inputs' bytes in the body), failed validations, early refusals,
 * and asks for the statistics (on the channel the failures are told on, so the answer counts those told before).
 */
export type FramedToEngine =
  | ({ t: 'infer' } & InferCall)
  | { t: 'invalid'; model: string }
  | { t: 'rejected'; model: string }
  | { t: 'stats'; id: number }

/** Frames to a front-end on its channel: the replies to its infer calls (outputs' bytes in the body). */
export type FramedReply = { id: number } & (
  | { ok: true; value: WireOutcome }
  | { ok: false; error: WireError }
)

/** The engine's statistics on a front-end's channel: the answer to its call `id`. */
export interface FramedStats {
  id: number
  stats: ModelStats
}

function compactTensor(t: WireTensor, parts: Uint8Array[]): CompactTensor {
  const r = t.shm
  if (r) return [t.name, t.datatype, t.shape, r.region, r.offset, r.bytes, r.staging ? 1 : 0]
  const data = t.data ?? new Uint8Array()
  parts.push(data)
  return [t.name, t.datatype, t.shape, data.byteLength]
}

/** The tensors of a frame's header, their bytes views of `body` (in order, from its start). */
function wireTensors(ts: CompactTensor[], body: Buffer): WireTensor[] {
  let at = 0
  const out: WireTensor[] = new Array(ts.length)
  for (let i = 0; i < ts.length; i++) {
    const t = ts[i] as CompactTensor
    if (t.length === 4) {
      out[i] = { name: t[0], datatype: t[1], shape: t[2], data: body.subarray(at, at + t[3]) }
      at += t[3]
    } else {
      const shm: WireRef = { region: t[3], offset: t[4], bytes: t[5] }
      if (t[6] === 1) shm.staging = true
      out[i] = { name: t[0], datatype: t[1], shape: t[2], shm }
    }
  }
  return out
}

/** An infer call's frame header; the inputs' bytes that cross the channel are added to `parts` (the body). */
export function inferHeader(
  id: number,
  model: string,
  req: WireRequest,
  receivedAtMonotonicMs: number,
  parts: Uint8Array[],
): InferHeader {
  const outputs = req.outputs
    ? req.outputs.map((o): CompactOutput => {
        const r = o.shm
        return r
          ? [o.name, o.binary ? 1 : 0, r.region, r.offset, r.bytes, r.staging ? 1 : 0]
          : [o.name, o.binary ? 1 : 0]
      })
    : 0
  return [
    INFER,
    id,
    model,
    receivedAtMonotonicMs,
    req.batch,
    req.inputs.map((t) => compactTensor(t, parts)),
    outputs,
    req.binaryOutputs ? 1 : 0,
    req.timeoutUs ?? null,
    req.id ?? null,
    req.parameters,
  ]
}

/** The statistics' frame header: the answer to call `id`. */
export function statsHeader(id: number, stats: ModelStats): StatsHeader {
  return [STATS, id, stats]
}

/** A reply's frame header: the outputs (their bytes that cross the channel added to `parts`) and parameters. */
export function replyHeader(id: number, outcome: WireOutcome, parts: Uint8Array[]): ReplyHeader {
  return [REPLY, id, outcome.outputs.map((t) => compactTensor(t, parts)), outcome.parameters]
}

/** A failed call's frame header. */
export function failedHeader(id: number, error: WireError): FailedHeader {
  return [FAILED, id, error.message, error.status ?? null, error.headers ?? 0]
}

/** A frame from a front-end as the engine handles it; null for a frame it does not know (ignored). */
export function engineFrame(header: unknown, body: Buffer): FramedToEngine | null {
  if (!Array.isArray(header)) {
    const m = header as { t?: unknown; model?: unknown; id?: unknown }
    if (m?.t === 'stats') return Number.isInteger(m.id) ? { t: 'stats', id: m.id as number } : null
    return (m?.t === 'invalid' || m?.t === 'rejected') && typeof m.model === 'string'
      ? { t: m.t, model: m.model }
      : null
  }
  const h = header as InferHeader
  if (h[0] !== INFER) return null
  const req: WireRequest = {
    batch: h[4],
    inputs: wireTensors(h[5], body),
    binaryOutputs: h[7] === 1,
    parameters: h[10],
  }
  if (h[6] !== 0)
    req.outputs = h[6].map((o) => {
      const out: NonNullable<WireRequest['outputs']>[number] = { name: o[0], binary: o[1] === 1 }
      if (o.length === 6) {
        out.shm = { region: o[2], offset: o[3], bytes: o[4] }
        if (o[5] === 1) out.shm.staging = true
      }
      return out
    })
  if (h[8] !== null) req.timeoutUs = h[8]
  if (h[9] !== null) req.id = h[9]
  return { t: 'infer', id: h[1], model: h[2], req, receivedAtMonotonicMs: h[3] }
}

/** The engine's statistics as a front-end takes them off its channel; null for any other frame. */
export function statsFrame(header: unknown): FramedStats | null {
  if (!Array.isArray(header) || header[0] !== STATS) return null
  const h = header as StatsHeader
  return Number.isInteger(h[1]) && Array.isArray(h[2]) ? { id: h[1], stats: h[2] } : null
}

/** A frame from the engine as a front-end handles it: a reply to one of its calls; null for one it does not know. */
export function frontendFrame(header: unknown, body: Buffer): FramedReply | null {
  if (!Array.isArray(header)) return null
  if (header[0] === REPLY) {
    const h = header as ReplyHeader
    return { id: h[1], ok: true, value: { outputs: wireTensors(h[2], body), parameters: h[3] } }
  }
  if (header[0] === FAILED) {
    const h = header as FailedHeader
    const error: WireError = { message: h[2] }
    if (h[3] !== null) error.status = h[3]
    if (h[4] !== 0) error.headers = h[4]
    return { id: h[1], ok: false, error }
  }
  return null
}
