// KServe v2 REST routes (Triton's HTTP protocol): health, server and model metadata, model readiness and infer, with
// JSON tensors and the binary-tensor extension. Talks to the server through `InferenceService` only.
import { Readable } from 'node:stream'
import { gunzip, inflate, inflateRaw } from 'node:zlib'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { ModelIO } from '../io-specs.ts'
import { registerShmRoutes, type ShmService } from '../shm/http.ts'
import type { RegionLookup } from '../shm/registry.ts'
import { type DecodedRequest, decodeInferRequest, encodeInferResponse, ProtocolError } from './tensors.ts'

export interface ServiceModel {
  name: string
  version: string
  platform: string
  /** Most items one request may carry (the model's batch). */
  maxBatch: number
  io: ModelIO
  /** Extra configuration shown by GET /v2/models/{name}/config. */
  config: Record<string, unknown>
}

export interface InferOutcome {
  outputs: import('../backend.ts').RawTensor[]
  parameters: Record<string, unknown>
}

/** What the protocol layer needs from the server (with Triton's shared-memory extensions: ShmService). */
export interface InferenceService extends ShmService {
  metadata(): { name: string; version: string; extensions: string[] }
  live(): boolean
  ready(): boolean
  /** Why the server is not ready (the body of a 503 /v2/health/ready), or undefined when it is. */
  notReadyReason?(): string | undefined
  models(): ServiceModel[]
  /** Triton's statistics extension: `model_stats` of every model, or of the one named. */
  modelStats?(name?: string): Record<string, unknown>[]
  modelReady(name: string): boolean
  /** Throws a ProtocolError (429/503/504/…) or resolves with the outputs. Failed-validation requests are reported through `invalid`. */
  infer(model: ServiceModel, req: DecodedRequest, receivedAt: number): Promise<InferOutcome>
  /** A request for a known model that failed validation (counted as a failure). */
  invalid(model: ServiceModel): void
  /** The registered shared-memory regions requests may name (pass it to decodeInferRequest). */
  shmRegions(): RegionLookup
}

const BINARY_HEADER = 'inference-header-content-length'
/** Binary responses up to this size are sent as one Buffer; larger ones as their parts (see infer). */
export const CONCAT_BYTES = 64 * 1024
const ACCEPTED_TYPES = [
  'application/json',
  'application/octet-stream',
  'application/vnd.sagemaker-triton.binary+json',
  'text/plain',
]

interface ModelParams {
  name: string
  version?: string
}

/** Registers the /v2 routes, the JSON error shape and the body parsing on `app`. */
export function registerKserveRoutes(app: FastifyInstance, svc: InferenceService, bodyLimit: number) {
  // Bodies come in as bytes: the binary extension needs them, and JSON errors are reported our way.
  app.removeAllContentTypeParsers()
  // Content-Encoding gzip or deflate (as Triton accepts them): inflated off the event loop, to at most bodyLimit
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit }, (req, body, done) => {
    const enc = String(req.headers['content-encoding'] ?? '')
      .trim()
      .toLowerCase()
    if (enc === '' || enc === 'identity') return done(null, body)
    const method = enc === 'gzip' || enc === 'x-gzip' ? gunzip : enc === 'deflate' ? inflate : undefined
    if (!method)
      return done(new ProtocolError(415, `unsupported Content-Encoding "${enc}" (gzip, deflate or none)`))
    const inflated = (raw: boolean) => (err: Error | null, out: Buffer) => {
      if (!err) return done(null, out)
      if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE')
        return done(
          new ProtocolError(
            413,
            `the decompressed request body is larger than the limit of ${bodyLimit} bytes`,
          ),
        )
      // "deflate" is zlib-wrapped by the standard, raw by some clients: try the raw form once
      if (enc === 'deflate' && !raw)
        return inflateRaw(body as Buffer, { maxOutputLength: bodyLimit }, inflated(true))
      done(new ProtocolError(400, `the request body is not valid ${enc} data (${err.message})`))
    }
    method(body as Buffer, { maxOutputLength: bodyLimit }, inflated(false))
  })

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, _req, reply) => {
    if (err instanceof ProtocolError)
      return reply.code(err.status).headers(err.headers).send({ error: err.message })
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
      return reply.code(413).send({ error: `request body is larger than the limit of ${bodyLimit} bytes` })
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500
    if (status >= 500) reply.log.error({ err }, 'request failed')
    return reply.code(status).send({ error: err.message || 'internal error' })
  })
  app.setNotFoundHandler((req, reply) => {
    // a URL of kilobytes is not echoed back whole
    const path = req.url.split('?')[0] ?? ''
    const shown = path.length > 120 ? `${path.slice(0, 120)}… (${path.length} characters)` : path
    return reply.code(404).send({ error: `no route ${req.method} ${shown}` })
  })

  const find = (p: ModelParams): ServiceModel => {
    const m = svc.models().find((x) => x.name === p.name)
    if (!m) throw new ProtocolError(404, `unknown model "${p.name}"`)
    if (p.version !== undefined && p.version !== m.version)
      throw new ProtocolError(404, `model "${p.name}" has no version "${p.version}" (versions: ${m.version})`)
    return m
  }

  app.get('/v2/health/live', (_req, reply) => reply.code(svc.live() ? 200 : 503).send())
  app.get('/v2/health/ready', (_req, reply) => {
    if (svc.ready()) return reply.code(200).send()
    return reply.code(503).send({ error: svc.notReadyReason?.() ?? 'the server is not ready' })
  })
  app.get('/v2', () => svc.metadata())

  const metadata = (req: FastifyRequest) => {
    const m = find(req.params as ModelParams)
    const spec = (t: { name: string; datatype: string; shape: number[] }) => ({
      name: t.name,
      datatype: t.datatype,
      shape: t.shape,
    })
    return {
      name: m.name,
      versions: [m.version],
      platform: m.platform,
      inputs: m.io.inputs.map(spec),
      outputs: m.io.outputs.map(spec),
    }
  }
  const config = (req: FastifyRequest) => {
    const m = find(req.params as ModelParams)
    return { name: m.name, platform: m.platform, max_batch_size: m.maxBatch, ...m.config }
  }
  const ready = (req: FastifyRequest, reply: FastifyReply) => {
    const m = find(req.params as ModelParams)
    return reply.code(svc.modelReady(m.name) ? 200 : 503).send()
  }
  const infer = async (req: FastifyRequest, reply: FastifyReply) => {
    const receivedAt = performance.now()
    const m = find(req.params as ModelParams)
    let decoded: DecodedRequest
    try {
      decoded = decodeBody(req, m, svc.shmRegions())
    } catch (err) {
      if (err instanceof ProtocolError && err.status < 500) svc.invalid(m)
      throw err
    }
    // the body's bytes live on only in the request's input tensors, which the server lets go once the backend has
    // them (buffers that outlive two young-generation collections cost full collections to free)
    req.body = undefined
    const { inputs: _, ...answer } = decoded
    const outcome = await svc.infer(m, decoded, receivedAt)
    const enc = encodeInferResponse(
      { model_name: m.name, model_version: m.version, parameters: outcome.parameters },
      { ...answer, inputs: [] },
      outcome.outputs,
    )
    if (!enc.binary) return reply.send(enc.json)
    const head = Buffer.from(JSON.stringify(enc.json))
    const parts = [head, ...enc.binary]
    const length = parts.reduce((a, b) => a + b.length, 0)
    reply.header(BINARY_HEADER, String(head.length)).type('application/octet-stream')
    // large outputs go as they are, after the JSON head (a body of parts; content-length keeps it one plain body):
    // Buffer.concat would copy them once more on the event loop (1.5 MB per albert request at batch 8); small ones
    // (a vision model's logits) are cheaper to copy than to stream
    if (length <= CONCAT_BYTES) return reply.send(Buffer.concat(parts, length))
    return reply.header('content-length', String(length)).send(bodyOf(parts))
  }

  // Triton's statistics extension; registered before the :name routes' siblings ("stats" is not a model name here)
  app.get('/v2/models/stats', (_req, reply) => {
    if (!svc.modelStats) throw new ProtocolError(404, 'this server keeps no statistics')
    return reply.send({ model_stats: svc.modelStats() })
  })
  const stats = (req: FastifyRequest, reply: FastifyReply) => {
    const m = find(req.params as ModelParams)
    if (!svc.modelStats) throw new ProtocolError(404, 'this server keeps no statistics')
    return reply.send({ model_stats: svc.modelStats(m.name) })
  }

  for (const base of ['/v2/models/:name', '/v2/models/:name/versions/:version']) {
    app.get(`${base}/stats`, stats)
    app.get(base, metadata)
    app.get(`${base}/config`, config)
    app.get(`${base}/ready`, ready)
    app.post(`${base}/infer`, infer)
  }
  registerShmRoutes(app, svc)
}

/** A readable body of `parts`, in order (each pushed as it is: no copy). */
export function bodyOf(parts: Buffer[]): Readable {
  let i = 0
  return new Readable({
    read() {
      while (i < parts.length) if (!this.push(parts[i++])) return
      this.push(null)
    },
  })
}

function decodeBody(req: FastifyRequest, m: ServiceModel, regions: RegionLookup): DecodedRequest {
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? ''
  if (type !== '' && !ACCEPTED_TYPES.includes(type))
    throw new ProtocolError(
      415,
      `unsupported content type "${type}" (send application/json, or application/octet-stream with ${BINARY_HEADER})`,
    )
  const body = req.body
  if (!Buffer.isBuffer(body) || body.length === 0) throw new ProtocolError(400, 'the request has no body')
  const headerLen = req.headers[BINARY_HEADER]
  let jsonPart = body
  let binary: Buffer | undefined
  if (headerLen !== undefined) {
    const n = Number(headerLen)
    if (!/^\d+$/.test(String(headerLen)) || !Number.isSafeInteger(n))
      throw new ProtocolError(400, `${BINARY_HEADER} must be a non-negative integer, got "${headerLen}"`)
    if (n > body.length)
      throw new ProtocolError(400, `${BINARY_HEADER} ${n} is larger than the body (${body.length} bytes)`)
    jsonPart = body.subarray(0, n)
    binary = body.subarray(n)
  }
  let json: unknown
  try {
    json = JSON.parse(jsonPart.toString('utf8'))
  } catch (err) {
    throw new ProtocolError(400, `malformed JSON in the request body: ${(err as Error).message}`)
  }
  return decodeInferRequest(json, m.io, m.maxBatch, binary, regions)
}
