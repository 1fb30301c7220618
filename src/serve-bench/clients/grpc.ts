// serve-bench's `--transport grpc` and `grpc-stream`: KServe v2's GRPCInferenceService (Triton's proto,
// src/serve/grpc/inference.proto) through @grpc/grpc-js, the inputs' bytes in raw_input_contents, the outputs read
// from raw_output_contents. One channel (one HTTP/2 connection) per slot (a closed-loop client, or one request an open
// loop may have outstanding), as the HTTP transport has one socket each. `grpc`: a ModelInfer call per request, its
// gRPC status logged as the HTTP status Triton would give for it. `grpc-stream`: one ModelStreamInfer stream per
// slot, opened at its first request and kept, each request written on it and its answer awaited before the next
// (as perf_analyzer --streaming sends): no call to set up per request. A stream answers a failed request with its
// message (and, from eclip's server, the status a call would have had); a stream that fails or times out is closed
// and the slot's next request opens another.
import { join } from 'node:path'
import * as grpc from '@grpc/grpc-js'
import * as protoLoader from '@grpc/proto-loader'
import { ECLIP_HOME } from '../../paths.ts'
import { mulberry32 } from '../../random.ts'
import { DEFAULT_WINDOW, http2Sizes } from '../../serve/grpc/flow-control.ts'
import type { InferAnswer } from '../../serve/kserve/client.ts'
import type { Datatype } from '../../serve/kserve/datatypes.ts'
import {
  type ClientModel,
  type InputTensor,
  type LoadGen,
  noAnswer,
  type OutputSpec,
  requestTensors,
  type SlotCounts,
  slotCount,
  slotLoadGen,
} from './load.ts'

/** The proto the server serves (the GRPC front-end's own file). */
export const INFERENCE_PROTO = join(ECLIP_HOME, 'src', 'serve', 'grpc', 'inference.proto')

/**
 * gRPC status → the HTTP status that says the same (the request log has one status column). A full queue is refused
 * with UNAVAILABLE, as Triton does, and told from a backend not ready by its message: it is logged 429,
 * the HTTP refusal, so serve-bench counts it refused, not failed, over every transport.
 */
export function httpStatusOf(code: grpc.status, message = ''): number {
  switch (code) {
    case grpc.status.OK:
      return 200
    case grpc.status.INVALID_ARGUMENT:
    case grpc.status.FAILED_PRECONDITION:
    case grpc.status.OUT_OF_RANGE:
      return 400
    case grpc.status.NOT_FOUND:
      return 404
    case grpc.status.RESOURCE_EXHAUSTED:
      return 413 // a message past the size limit (eclip's server and grpc-js's own)
    case grpc.status.UNIMPLEMENTED:
      return 501
    case grpc.status.UNAVAILABLE:
      return QUEUE_FULL.test(message) ? 429 : 503
    case grpc.status.DEADLINE_EXCEEDED:
    case grpc.status.CANCELLED:
      return 0 // no answer, as the HTTP client counts a timeout or a reset
    default:
      return 500
  }
}

/** A call or stream that failed with a gRPC status, as the request log has it. */
const callFailed = (err: grpc.ServiceError): InferAnswer =>
  noAnswer(httpStatusOf(err.code, err.details), `gRPC ${grpc.status[err.code]}: ${err.details}`)

/** The words of a refusal for a full queue: eclip's (src/serve/kserve/routes.ts, worker.ts) and Triton's. */
const QUEUE_FULL = /: queue full \(|Exceeds maximum queue size/

/** InferParameter (a oneof) → its number, or null. */
const paramNumber = (p: unknown): number | null => {
  if (typeof p !== 'object' || p === null) return null
  const v = p as Record<string, unknown>
  for (const k of ['int64_param', 'uint64_param', 'double_param']) {
    const x = v[k]
    if (typeof x === 'number') return x
    if (typeof x === 'string' && x !== '') return Number(x)
  }
  return null
}

/** The ModelInferRequest of one client (sent again and again). */
export function grpcInferRequest(model: string, inputs: InputTensor[], outputs: OutputSpec[]) {
  return {
    model_name: model,
    model_version: '',
    inputs: inputs.map((t) => ({ name: t.name, datatype: t.datatype, shape: t.shape })),
    outputs: outputs.map((o) => ({ name: o.name })),
    raw_input_contents: inputs.map((t) => t.data),
  }
}

export interface GrpcInferResponse {
  outputs?: { name?: string; datatype?: string; shape?: (number | string)[] }[]
  raw_output_contents?: Buffer[]
  parameters?: Record<string, unknown>
}

/**
 * Checks a ModelInferResponse: every output asked for, with its datatype, shape and the bytes they need in
 * raw_output_contents (in the outputs' order) — unless the server says it simulated.
 */
export function checkGrpcAnswer(res: GrpcInferResponse, outputs: OutputSpec[]): InferAnswer {
  const p = res.parameters ?? {}
  const sim = p.simulated as { bool_param?: unknown } | undefined
  const simulated = sim?.bool_param === true
  if (!simulated)
    for (const o of outputs) {
      const k = res.outputs?.findIndex((x) => x.name === o.name) ?? -1
      const got = res.outputs?.[k]
      if (!got) return noAnswer(200, `output "${o.name}" missing`)
      const shape = (got.shape ?? []).map(Number)
      if (got.datatype !== o.datatype || JSON.stringify(shape) !== JSON.stringify(o.shape))
        return noAnswer(
          200,
          `output "${o.name}" is ${got.datatype} [${shape}], expected ${o.datatype} [${o.shape}]`,
        )
      const raw = res.raw_output_contents?.[k]
      if (raw?.length !== o.bytes)
        return noAnswer(200, `output "${o.name}": ${raw?.length ?? 'no'} raw bytes, expected ${o.bytes}`)
    }
  return {
    status: 200,
    ok: true,
    simulated,
    queueUs: paramNumber(p.queue_us),
    computeUs: paramNumber(p.compute_us),
    error: null,
  }
}

/** The client class's ModelInfer method: its path and its (de)serializers, from the proto. */
type ServiceClass = {
  new (address: string, creds: grpc.ChannelCredentials, options?: grpc.ChannelOptions): grpc.Client
  service: {
    ModelInfer: grpc.MethodDefinition<object, GrpcInferResponse>
    ModelStreamInfer: grpc.MethodDefinition<object, GrpcStreamResponse>
  }
}

/** One answer on a ModelStreamInfer stream: the response, or the message of a request that failed. */
export interface GrpcStreamResponse {
  error_message?: string
  infer_response?: GrpcInferResponse
}

/**
 * A stream answer as serve-bench logs it. A stream carries no status per request: a failed request's answer is its
 * message, logged with the status its `grpc_status` response parameter names (eclip's server adds it); without one
 * (Triton's), a refusal for a full queue as 429 by its words, anything else as 500.
 */
export function checkGrpcStreamAnswer(res: GrpcStreamResponse, outputs: OutputSpec[]): InferAnswer {
  if (res.error_message) {
    const code = paramNumber(res.infer_response?.parameters?.grpc_status)
    const status =
      code === null ? (QUEUE_FULL.test(res.error_message) ? 429 : 500) : httpStatusOf(code, res.error_message)
    return noAnswer(status, res.error_message)
  }
  return checkGrpcAnswer(res.infer_response ?? {}, outputs)
}

/**
 * A slot's ModelStreamInfer stream: `infer` writes the request's bytes and resolves with the next answer. One request
 * at a time (the load generator waits for each), so answers need no matching by id.
 */
export function streamSlot(
  c: grpc.Client,
  method: grpc.MethodDefinition<object, GrpcStreamResponse>,
  bytes: Buffer,
  outputs: OutputSpec[],
  timeoutMs: number,
): { infer: () => Promise<InferAnswer>; close: () => void } {
  let call: grpc.ClientDuplexStream<Buffer, GrpcStreamResponse> | null = null
  let waiting: ((a: InferAnswer) => void) | null = null
  let timer: NodeJS.Timeout | undefined
  const settle = (a: InferAnswer) => {
    const w = waiting
    waiting = null
    clearTimeout(timer)
    w?.(a)
  }
  const drop = (s: grpc.ClientDuplexStream<Buffer, GrpcStreamResponse>) => {
    if (call === s) call = null
  }
  const open = () => {
    const s = c.makeBidiStreamRequest(method.path, (b: Buffer) => b, method.responseDeserialize)
    // events of a stream already dropped (timed out, cancelled) are not the waiting request's
    s.on('data', (res: GrpcStreamResponse) => {
      if (call === s) settle(checkGrpcStreamAnswer(res, outputs))
    })
    s.on('error', (err: grpc.ServiceError) => {
      if (call !== s) return
      drop(s)
      settle(callFailed(err))
    })
    s.on('end', () => {
      if (call !== s) return
      drop(s)
      settle(noAnswer(0, 'the server ended the stream'))
    })
    return s
  }
  return {
    infer: () =>
      new Promise<InferAnswer>((resolve) => {
        const s = call ?? open()
        call = s
        waiting = resolve
        timer = setTimeout(() => {
          // a late answer must not be taken for the next request's: this stream is done
          drop(s)
          s.cancel()
          settle(noAnswer(0, `no answer within ${timeoutMs} ms`))
        }, timeoutMs)
        s.write(bytes)
      }),
    // the end of the requests: the server answers what it holds, then ends its side (the channel can then close)
    close: () => {
      call?.end()
      call = null
    },
  }
}

/**
 * One client's ModelInferRequest as protobuf bytes, made once: the load generator sends the same tensors again and
 * again (as Triton's perf_analyzer does), so encoding megabytes of images per request would measure the client's
 * protobuf encoder, on the cores the server uses, not the server. The server still receives and decodes every byte.
 */
export function serializedInferRequest(Service: ServiceClass, req: object): Buffer {
  return Service.service.ModelInfer.requestSerialize(req)
}

/** The GRPCInferenceService client class, from the proto (a clear error where the file is missing). */
export function grpcServiceClient(protoPath = INFERENCE_PROTO): ServiceClass {
  let def: protoLoader.PackageDefinition
  try {
    def = protoLoader.loadSync(protoPath, { keepCase: true, longs: Number, enums: String, defaults: false })
  } catch (err) {
    throw new Error(
      `--transport grpc, grpc-stream: cannot load the KServe proto ${protoPath}: ${(err as Error).message}`,
    )
  }
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    inference?: { GRPCInferenceService?: ServiceClass }
  }
  const Service = pkg.inference?.GRPCInferenceService
  if (!Service) throw new Error(`${protoPath} defines no inference.GRPCInferenceService`)
  return Service
}

export async function openGrpcClients(
  spec: SlotCounts & {
    /** host:port of the server's gRPC listener. */
    address: string
    models: ClientModel[]
    seed: number
    inputDatatype?: Datatype
    timeoutMs?: number
    protoPath?: string
    /** Each slot's requests on one ModelStreamInfer stream (`grpc-stream`), not a ModelInfer call each. */
    stream?: boolean
  },
): Promise<LoadGen> {
  const Service = grpcServiceClient(spec.protoPath)
  const channels: grpc.Client[] = []
  const streams: (() => void)[] = []
  const timeoutMs = spec.timeoutMs ?? 60_000
  const { streamWindow } = http2Sizes()
  const slots = spec.models.map((m, i) => {
    if (slotCount(spec, i) === 0) return [] // another client process drives it
    const { inputs, outputs } = requestTensors(
      m.io,
      m.batch,
      mulberry32(spec.seed * 1009 + i),
      spec.inputDatatype,
    )
    const bytes = serializedInferRequest(Service, grpcInferRequest(m.name, inputs, outputs))
    const method = Service.service.ModelInfer
    return Array.from({ length: slotCount(spec, i) }, () => {
      // a channel of its own (not grpc-js's shared subchannel): one connection per client
      const c = new Service(spec.address, grpc.credentials.createInsecure(), {
        'grpc.use_local_subchannel_pool': 1,
        'grpc.max_receive_message_length': -1,
        'grpc.max_send_message_length': -1,
        // replies arrive without a WINDOW_UPDATE round trip per 64 KiB (the server widens its side: flow-control.ts);
        // HTTP/2's default or less: grpc-js's default, as the server's
        ...(streamWindow > DEFAULT_WINDOW ? { 'grpc-node.flow_control_window': streamWindow } : {}),
      })
      channels.push(c)
      if (spec.stream) {
        const slot = streamSlot(c, Service.service.ModelStreamInfer, bytes, outputs, timeoutMs)
        streams.push(slot.close)
        return slot
      }
      return {
        infer: () =>
          new Promise<InferAnswer>((resolve) =>
            c.makeUnaryRequest(
              method.path,
              (b: Buffer) => b, // already protobuf bytes
              method.responseDeserialize,
              bytes,
              new grpc.Metadata(),
              { deadline: Date.now() + timeoutMs },
              (err, res) => {
                if (err) resolve(callFailed(err))
                else resolve(checkGrpcAnswer(res ?? {}, outputs))
              },
            ),
          ),
      }
    })
  })
  return slotLoadGen(
    slots,
    async () => {
      for (const end of streams) end()
      for (const c of channels) c.close()
    },
    spec.plans,
  )
}
