// The KServe v2 gRPC front-end (Triton's `inference.GRPCInferenceService`, docs/serve-grpc.md) beside the HTTP
// routes: health, metadata, model config, ModelInfer and ModelStreamInfer, statistics, the model repository and the
// system / CUDA shared-memory RPCs.
// Talks to the server through `InferenceService` only, as the HTTP routes do, and decodes every request with the
// HTTP layer's decodeInferRequest (convert.ts), so both protocols accept and refuse the same requests.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import * as grpc from '@grpc/grpc-js'
import * as protoLoader from '@grpc/proto-loader'
import { ECLIP_HOME } from '../../paths.ts'
import { ProtocolError } from '../kserve/errors.ts'
import { modelControl, repositoryIndex } from '../kserve/repository.ts'
import { type InferenceService, MAX_JSON_BYTES, type ServiceModel, servedModel } from '../kserve/routes.ts'
import { type DecodedRequest, decodeInferRequest } from '../kserve/tensors.ts'
import { type ContentsLimits, inputCapacity, limitedDeserializer, refusal } from './contents-limit.ts'
import {
  grpcCode,
  inferResponse,
  kserveRequest,
  type ModelInferRequest,
  type ModelInferResponse,
} from './convert.ts'
import { advertiseSettings, type Http2Sizes, http2Sizes, widenConnectionWindow } from './flow-control.ts'

/** proto-loader's options: field names as in the proto, 64-bit integers as JS numbers, bytes as Buffers. */
export const PROTO_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: false,
  arrays: true,
  objects: true,
  oneofs: true,
}

/** The proto: next to this module (the repository), or under $ECLIP_HOME's src/ (a bundled CLI). */
export function inferenceProtoPath(): string {
  const here = join(import.meta.dirname, 'inference.proto')
  return existsSync(here) ? here : join(ECLIP_HOME, 'src', 'serve', 'grpc', 'inference.proto')
}

let service: grpc.ServiceDefinition | undefined
/** The service definition, loaded once per process. */
export function inferenceService(): grpc.ServiceDefinition {
  if (!service) {
    const def = protoLoader.loadSync(inferenceProtoPath(), PROTO_OPTIONS)
    const pkg = grpc.loadPackageDefinition(def) as unknown as {
      inference: { GRPCInferenceService: { service: grpc.ServiceDefinition } }
    }
    service = pkg.inference.GRPCInferenceService.service
  }
  return service
}

export interface GrpcOptions {
  /** Largest message received or sent, bytes (the serve config's maxBodyBytes). */
  maxMessageBytes: number
  /**
   * Largest typed contents of a ModelInfer request, bytes (the serve config's maxJsonBytes, which bounds HTTP's JSON
   * tensors; default MAX_JSON_BYTES): a larger request is refused RESOURCE_EXHAUSTED before it is decoded.
   */
  maxJsonBytes?: number
  /** Errors that are the server's fault (gRPC INTERNAL). */
  log?: (err: unknown, msg: string) => void
}

type Unary<Req, Res> = grpc.handleUnaryCall<Req, Res>
type Named = { name?: string; version?: string }

/** An error as a gRPC status: ProtocolErrors with Triton's code for their HTTP status, anything else INTERNAL. */
function statusOf(err: unknown, log?: GrpcOptions['log']): Partial<grpc.StatusObject> {
  if (err instanceof ProtocolError) {
    const metadata = new grpc.Metadata()
    for (const [k, v] of Object.entries(err.headers)) metadata.set(k, v)
    return { code: grpcCode(err.status, err.message), details: err.message, metadata }
  }
  log?.(err, 'gRPC request failed')
  return { code: grpc.status.INTERNAL, details: (err as Error)?.message || 'internal error' }
}

export class GrpcFrontEnd {
  private readonly server: grpc.Server
  /** A served model by name, as the service serves them now (eclip-live loads and unloads models). */
  private readonly model: (name: string) => ServiceModel | undefined
  /** Open ModelStreamInfer streams and their requests not yet answered (closing ends each once it has none). */
  private readonly streams = new Map<
    grpc.ServerDuplexStream<ModelInferRequest, unknown>,
    { pending: number }
  >()
  private closing = false
  /** host:port it listens on, once listening. */
  address: string | undefined
  /** Whether the HTTP/2 windows and frame size were set (flow-control.ts); false: grpc-js changed, warned at listen. */
  private tuned: boolean
  private readonly sizes: Http2Sizes

  constructor(
    private readonly svc: InferenceService,
    private readonly opts: GrpcOptions,
  ) {
    this.model = servedModel(svc)
    this.server = new grpc.Server({
      'grpc.max_receive_message_length': opts.maxMessageBytes,
      'grpc.max_send_message_length': opts.maxMessageBytes,
      // per-call bookkeeping nobody reads here
      'grpc.enable_channelz': 0,
    })
    this.server.addService(this.limitedService(), this.handlers())
    this.sizes = http2Sizes()
    this.tuned = advertiseSettings(this.server, this.sizes)
  }

  /** Binds `host:port` (0: a free port) without TLS; resolves with the address it listens on. */
  listen(port: number, host: string): Promise<string> {
    const h = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host
    return new Promise((resolve, reject) =>
      this.server.bindAsync(`${h}:${port}`, grpc.ServerCredentials.createInsecure(), (err, bound) => {
        if (err) {
          // grpc-js names the system's error (a busy port, …) only in its message: give it the code the HTTP
          // listener's error has, so both are reported alike
          const e = err as NodeJS.ErrnoException
          e.code ??= /\b(EADDRINUSE|EACCES|EADDRNOTAVAIL|ENOTFOUND)\b/.exec(err.message)?.[1]
          return reject(e)
        }
        this.address = `${h}:${bound}`
        this.tuned = widenConnectionWindow(this.server, this.sizes.connectionWindow) && this.tuned
        if (!this.tuned)
          this.opts.log?.(
            new Error('grpc-js internals changed'),
            'gRPC: the HTTP/2 windows or frame size could not be set (grpc-js internals changed): large requests may arrive in 64-KiB bursts, one round trip each',
          )
        resolve(this.address)
      }),
    )
  }

  /**
   * Stops taking calls and waits up to `timeoutMs` for those in progress (streams end once their requests are
   * answered); then cancels what is left.
   */
  close(timeoutMs = 5000): Promise<void> {
    this.closing = true
    for (const [call, s] of this.streams)
      if (s.pending === 0) {
        this.streams.delete(call)
        call.end()
      }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.server.forceShutdown()
        resolve()
      }, timeoutMs)
      timer.unref()
      this.server.tryShutdown(() => {
        clearTimeout(timer)
        resolve()
      })
    })
  }

  /**
   * The service with ModelInfer's and ModelStreamInfer's typed contents limited before decoding (contents-limit.ts):
   * to the shape × batch size of the input they are for, and in all to maxJsonBytes.
   */
  private limitedService(): grpc.ServiceDefinition {
    const base = inferenceService()
    const limits: ContentsLimits = {
      maxBytes: this.opts.maxJsonBytes ?? MAX_JSON_BYTES,
      capacity: (model, input) => inputCapacity(this.model(model), input),
    }
    const limited = (m: grpc.MethodDefinition<ModelInferRequest, unknown>) => ({
      ...m,
      requestDeserialize: limitedDeserializer(m.requestDeserialize, limits),
    })
    return {
      ...base,
      ModelInfer: limited(base.ModelInfer as grpc.MethodDefinition<ModelInferRequest, unknown>),
      ModelStreamInfer: limited(base.ModelStreamInfer as grpc.MethodDefinition<ModelInferRequest, unknown>),
    }
  }

  private find(name: string | undefined, version: string | undefined): ServiceModel {
    const m = this.model(name ?? '')
    if (!m)
      throw new ProtocolError(
        404,
        this.svc.unavailableReason?.(name ?? '') ?? `unknown model "${name ?? ''}"`,
      )
    if (version && version !== m.version)
      throw new ProtocolError(404, `model "${m.name}" has no version "${version}" (versions: ${m.version})`)
    return m
  }

  /** One inference request, decoded and checked exactly as the HTTP layer's. */
  private async infer(req: ModelInferRequest, deadline: grpc.Deadline): Promise<ModelInferResponse> {
    const receivedAt = performance.now()
    const refused = refusal(req)
    // a message that could not be read names no model to count it against
    if (refused && req.model_name === undefined) throw refused
    const m = this.find(req.model_name, req.model_version)
    if (refused) {
      this.svc.invalid(m)
      throw refused
    }
    let decoded: DecodedRequest
    try {
      const { json, binary } = kserveRequest(req, deadline instanceof Date ? deadline.getTime() : deadline)
      decoded = decodeInferRequest(json, m.io, m.maxBatch, binary, this.svc.shmRegions())
    } catch (err) {
      if (err instanceof ProtocolError && err.status < 500) this.svc.invalid(m)
      throw err
    }
    // the message's bytes live on only in the decoded inputs, which the server lets go once the backend has them
    req.raw_input_contents = undefined
    const outcome = await this.svc.infer(m, decoded, receivedAt)
    return inferResponse(m, decoded, outcome)
  }

  private handlers(): grpc.UntypedServiceImplementation {
    const svc = this.svc
    const log = this.opts.log
    /** A unary handler from a function that returns the response or throws. */
    const unary =
      <Req, Res>(
        f: (req: Req, call: grpc.ServerUnaryCall<Req, Res>) => Res | Promise<Res>,
      ): Unary<Req, Res> =>
      (call, cb) => {
        let res: Res | Promise<Res>
        try {
          res = f(call.request, call)
        } catch (err) {
          return cb(statusOf(err, log))
        }
        if (res instanceof Promise)
          res.then(
            (r) => cb(null, r),
            (err) => cb(statusOf(err, log)),
          )
        else cb(null, res)
      }
    const tensor = (t: { name: string; datatype: string; shape: number[] }) => ({
      name: t.name,
      datatype: t.datatype,
      shape: t.shape,
    })
    const regionName = (r: { name?: string }) => r.name || undefined

    return {
      ServerLive: unary(() => ({ live: svc.live() })),
      ServerReady: unary(() => ({ ready: svc.ready() })),
      // a model this server does not serve is not ready (no error), as Triton answers
      ModelReady: unary((r: Named) => {
        const m = this.model(r.name ?? '')
        return { ready: !!m && (!r.version || r.version === m.version) && svc.modelReady(m.name) }
      }),
      ServerMetadata: unary(() => svc.metadata()),
      ModelMetadata: unary((r: Named) => {
        const m = this.find(r.name, r.version)
        return {
          name: m.name,
          versions: [m.version],
          platform: m.platform,
          inputs: m.io.inputs.map(tensor),
          outputs: m.io.outputs.map(tensor),
        }
      }),
      ModelConfig: unary((r: Named) => ({ config: modelConfig(this.find(r.name, r.version)) })),
      ModelInfer: unary((r: ModelInferRequest, call) => this.infer(r, call.getDeadline())),
      ModelStreamInfer: (call: grpc.ServerDuplexStream<ModelInferRequest, unknown>) => this.stream(call),
      // Triton's statistics extension, where the server keeps statistics (the same objects GET …/stats answers)
      ModelStatistics: unary(async (r: Named) => {
        if (!svc.modelStats)
          throw new ProtocolError(501, 'this server keeps no statistics (no statistics extension)')
        return { model_stats: await svc.modelStats(r.name ? this.find(r.name, r.version).name : undefined) }
      }),
      // the model repository extension: the HTTP routes' index and model control (kserve/repository.ts)
      RepositoryIndex: unary(async (r: { ready?: boolean }) => ({
        models: await repositoryIndex(svc, r.ready === true),
      })),
      RepositoryModelLoad: unary(async (r: { model_name?: string; parameters?: Record<string, unknown> }) => {
        await modelControl(svc, 'load', r.model_name ?? '', Object.keys(r.parameters ?? {}))
        return {}
      }),
      RepositoryModelUnload: unary(async (r: { model_name?: string }) => {
        await modelControl(svc, 'unload', r.model_name ?? '')
        return {}
      }),

      SystemSharedMemoryStatus: unary((r: { name?: string }) => ({
        regions: Object.fromEntries(
          svc
            .systemShmStatus(regionName(r))
            .map((s) => [s.name, { name: s.name, key: s.key, offset: s.offset, byte_size: s.byte_size }]),
        ),
      })),
      SystemSharedMemoryRegister: unary(
        async (r: { name?: string; key?: string; offset?: number; byte_size?: number }) => {
          await svc.registerSystemShm(r.name ?? '', {
            key: r.key ?? '',
            offset: r.offset ?? 0,
            byteSize: r.byte_size ?? 0,
          })
          return {}
        },
      ),
      SystemSharedMemoryUnregister: unary(async (r: { name?: string }) => {
        await svc.unregisterSystemShm(regionName(r))
        return {}
      }),
      CudaSharedMemoryStatus: unary((r: { name?: string }) => ({
        regions: Object.fromEntries(
          svc
            .cudaShmStatus(regionName(r))
            .map((s) => [s.name, { name: s.name, device_id: s.device_id, byte_size: s.byte_size }]),
        ),
      })),
      CudaSharedMemoryRegister: unary(
        async (r: { name?: string; raw_handle?: Buffer; device_id?: number; byte_size?: number }) => {
          await svc.registerCudaShm(r.name ?? '', {
            rawHandle: r.raw_handle ?? Buffer.alloc(0),
            deviceId: r.device_id ?? 0,
            byteSize: r.byte_size ?? 0,
          })
          return {}
        },
      ),
      CudaSharedMemoryUnregister: unary(async (r: { name?: string }) => {
        await svc.unregisterCudaShm(regionName(r))
        return {}
      }),
    }
  }

  /**
   * ModelStreamInfer: each request on the stream is answered on it as soon as it is done (answers may come in
   * another order than the requests: clients match them by id); a failed request is answered with its
   * error_message and the stream goes on. A stream has no status per request: the code a ModelInfer call would have
   * failed with rides along as the response parameter `grpc_status` (an eclip addition; Triton's clients ignore it).
   */
  private stream(call: grpc.ServerDuplexStream<ModelInferRequest, unknown>) {
    const state = { pending: 0 }
    let ended = false
    this.streams.set(call, state)
    const finish = () => {
      if ((ended || this.closing) && state.pending === 0 && this.streams.delete(call)) call.end()
    }
    call.on('data', (req: ModelInferRequest) => {
      state.pending++
      const id = req.id
      this.infer(req, call.getDeadline())
        .then(
          (res) => {
            if (!call.cancelled) call.write({ infer_response: res })
          },
          (err) => {
            const s = statusOf(err, this.opts.log)
            if (!call.cancelled)
              call.write({
                error_message: s.details,
                infer_response: {
                  model_name: req.model_name ?? '',
                  model_version: req.model_version ?? '',
                  ...(id ? { id } : {}),
                  parameters: { grpc_status: { int64_param: s.code } },
                },
              })
          },
        )
        // answered: the stream may end
        .finally(() => {
          state.pending--
          finish()
        })
    })
    call.on('end', () => {
      ended = true
      finish()
    })
    call.on('cancelled', () => this.streams.delete(call))
    call.on('error', () => this.streams.delete(call))
  }
}

/** Triton's model configuration of what eclip serves (dims leave out the batch dimension). */
function modelConfig(m: ServiceModel) {
  const tensor = (t: { name: string; datatype: string; shape: number[] }) => ({
    name: t.name,
    data_type: `TYPE_${t.datatype}`,
    dims: t.shape.slice(1),
  })
  // eclip's own settings (dtype, queue, dynamic batching, plan, …) as string parameters, objects as JSON
  const parameters: Record<string, { string_value: string }> = {}
  for (const [k, v] of Object.entries(m.config))
    if (v !== undefined) parameters[k] = { string_value: typeof v === 'string' ? v : JSON.stringify(v) }
  return {
    name: m.name,
    platform: m.platform,
    max_batch_size: m.maxBatch,
    input: m.io.inputs.map(tensor),
    output: m.io.outputs.map(tensor),
    parameters,
  }
}
