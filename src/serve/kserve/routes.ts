// KServe v2 REST routes (Triton's HTTP protocol): health, server and model metadata, model readiness and infer, with
// JSON tensors and the binary-tensor extension. Talks to the server through `InferenceService` only.
import type { IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from 'node:http'
import { Readable } from 'node:stream'
import { gunzip, inflate, inflateRaw } from 'node:zlib'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { ModelIO } from '../io-specs.ts'
import { registerShmRoutes, type ShmService } from '../shm/http.ts'
import type { RegionLookup } from '../shm/region.ts'
import { DecodeMemo } from './decode-memo.ts'
import { ProtocolError } from './errors.ts'
import { type RepositoryService, registerRepositoryRoutes } from './repository.ts'
import { type DecodedRequest, decodeInferRequest, encodeInferResponse } from './tensors.ts'

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
export interface InferenceService extends ShmService, RepositoryService {
  metadata(): { name: string; version: string; extensions: string[] }
  live(): boolean
  ready(): boolean
  /** Why the server is not ready (the body of a 503 /v2/health/ready), or undefined when it is. */
  notReadyReason?(): string | undefined
  /** The served models; a new array whenever the set changes (the routes look names up again then). */
  models(): ServiceModel[]
  /** Why a model of the repository that is not served cannot be asked (not loaded, failed to load), or undefined. */
  unavailableReason?(name: string): string | undefined
  /**
   * Triton's statistics extension: `model_stats` of every model, or of the one named (a front-end asks its engine for
   * them: a promise there).
   */
  modelStats?(name?: string): Record<string, unknown>[] | Promise<Record<string, unknown>[]>
  modelReady(name: string): boolean
  /**
   * Throws a ProtocolError (429/503/504/…) or resolves with the outputs. Failed-validation requests are reported
   * through `invalid`.
   */
  infer(model: ServiceModel, req: DecodedRequest, receivedAt: number): Promise<InferOutcome>
  /** A request for a known model that failed validation (counted as a failure). */
  invalid(model: ServiceModel): void
  /** The registered shared-memory regions requests may name (pass it to decodeInferRequest). */
  shmRegions(): RegionLookup
}

/** A served model by name, from the service's list as it is now (a model loaded or unloaded changes it). */
export function servedModel(
  svc: Pick<InferenceService, 'models'>,
): (name: string) => ServiceModel | undefined {
  let listed = svc.models()
  let named = new Map(listed.map((m) => [m.name, m]))
  return (name) => {
    const now = svc.models()
    if (now !== listed) {
      listed = now
      named = new Map(now.map((m) => [m.name, m]))
    }
    return named.get(name)
  }
}

const BINARY_HEADER = 'inference-header-content-length'
/** Default of the largest JSON part of an infer request (the serve config's maxJsonBytes). */
export const MAX_JSON_BYTES = 8 * 1024 * 1024
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

/** An answer given before a request's body is read (a draining server, a full queue): status, headers, error. */
export interface EarlyAnswer {
  status: number
  headers: Record<string, string>
  error: string
}

/**
 * The headers of an answer sent before the request's body is read. Clients write their whole body before they read
 * (Python's http.client, tritonclient): a connection closed under a body still arriving is reset, and the client gets
 * a broken pipe instead of the answer. So a body within the server's body limit is read and dropped once the answer
 * is sent (Node does it on a kept-alive connection; dropping costs no parsing), and only a larger one closes it.
 */
export function unreadBodyHeaders(
  contentLength: string | undefined,
  bodyLimit: number,
): Record<string, string> {
  return Number(contentLength ?? 0) > bodyLimit ? { connection: 'close' } : {}
}

/**
 * The refusal of a request for a model whose queue is full, before its body is read (the engine's and a front-end's).
 */
export function queueFullAnswer(
  model: string,
  queueSize: number,
  contentLength: string | undefined,
  bodyLimit: number,
): EarlyAnswer {
  return {
    status: 429,
    headers: { ...unreadBodyHeaders(contentLength, bodyLimit), 'retry-after': '1' },
    error: `model "${model}": queue full (${queueSize} requests waiting); retry later`,
  }
}

export interface KserveRouteOptions {
  /**
   * Whether a POST to `url` (model `name`, for an infer) is answered before its body is read, and how; the server's
   * onRequest hook asks the same question for requests fastify routes. Undefined: it is not.
   */
  early?: (
    method: string,
    url: string,
    name: string | undefined,
    contentLength: string | undefined,
  ) => EarlyAnswer | undefined
  /** Whether the model repository's routes are served here (default true; a front-end forwards them to the engine). */
  repository?: boolean
  /** Serve plain infer requests without fastify's request lifecycle (default true; see inferFastPath). */
  fastPath?: boolean
  /**
   * Largest JSON part of an infer request, bytes (default MAX_JSON_BYTES): the whole body, or the JSON header of the
   * binary tensor extension. Parsing JSON holds the event loop (tens of ms per MB) and its tensors take several
   * times their size in the heap: a larger one is refused 413, before its body is read where its size is stated.
   */
  maxJsonBytes?: number
}

/** The methods a 405 answer may name in its Allow header. */
const ROUTE_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH'] as const

/** What registerKserveRoutes leaves behind: how many infer requests took the fast path (tests). */
export interface KserveRoutes {
  fastPath: { served: number; enabled: boolean }
}

/** Registers the /v2 routes, the JSON error shape and the body parsing on `app`. */
export function registerKserveRoutes(
  app: FastifyInstance,
  svc: InferenceService,
  bodyLimit: number,
  opts: KserveRouteOptions = {},
): KserveRoutes {
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
    // a route there under another method: 405 with the methods it takes, as HTTP says (not "no route")
    const allow = ROUTE_METHODS.filter((m) => m !== req.method && app.findRoute({ method: m, url: path }))
    if (allow.length > 0)
      return reply
        .code(405)
        .header('allow', allow.join(', '))
        .send({ error: `${req.method} is not allowed on ${shown}: it takes ${allow.join(', ')}` })
    return reply.code(404).send({ error: `no route ${req.method} ${shown}` })
  })

  const byName = servedModel(svc)
  const find = (p: ModelParams): ServiceModel => {
    const m = byName(p.name)
    if (!m) throw new ProtocolError(404, svc.unavailableReason?.(p.name) ?? `unknown model "${p.name}"`)
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
  const maxJson = opts.maxJsonBytes ?? MAX_JSON_BYTES
  // the JSON limit where the headers state the size: before the body is read
  const jsonLimit = async (req: FastifyRequest, reply: FastifyReply) => {
    const m = byName((req.params as ModelParams).name)
    const refused = m && jsonTooLarge(req.headers, maxJson, bodyLimit)
    if (!refused || !m) return
    svc.invalid(m)
    return reply.code(refused.status).headers(refused.headers).send({ error: refused.error })
  }
  const infer = async (req: FastifyRequest, reply: FastifyReply) => {
    const receivedAt = performance.now()
    const m = find(req.params as ModelParams)
    const decoded = decodeFor(svc, m, req.headers, req.body, maxJson)
    // the body's bytes live on only in the request's input tensors, which the server lets go once the backend has
    // them (buffers that outlive two young-generation collections cost full collections to free)
    req.body = undefined
    const answer = await answerInfer(svc, m, decoded, receivedAt)
    if ('json' in answer) return reply.send(answer.json)
    reply.header(BINARY_HEADER, String(answer.headLength)).type('application/octet-stream')
    if (answer.parts.length === 1) return reply.send(answer.parts[0])
    return reply.header('content-length', String(answer.length)).send(bodyOf(answer.parts))
  }

  // Triton's statistics extension; registered before the :name routes' siblings ("stats" is not a model name here)
  app.get('/v2/models/stats', async (_req, reply) => {
    if (!svc.modelStats) throw new ProtocolError(404, 'this server keeps no statistics')
    return reply.send({ model_stats: await svc.modelStats() })
  })
  const stats = async (req: FastifyRequest, reply: FastifyReply) => {
    const m = find(req.params as ModelParams)
    if (!svc.modelStats) throw new ProtocolError(404, 'this server keeps no statistics')
    return reply.send({ model_stats: await svc.modelStats(m.name) })
  }

  for (const base of ['/v2/models/:name', '/v2/models/:name/versions/:version']) {
    app.get(`${base}/stats`, stats)
    app.get(base, metadata)
    app.get(`${base}/config`, config)
    app.get(`${base}/ready`, ready)
    app.post(`${base}/infer`, { onRequest: jsonLimit }, infer)
  }
  registerShmRoutes(app, svc)
  if (opts.repository !== false) registerRepositoryRoutes(app, svc)
  const fastPath = { served: 0, enabled: false }
  if (opts.fastPath !== false && !logsRequests(app))
    fastPath.enabled = inferFastPath(app.server, (req, res) => {
      const hit = fastInfer(req, res, svc, byName, { bodyLimit, maxJson }, opts.early, (err) =>
        app.log.error({ err }, 'request failed'),
      )
      if (hit) fastPath.served++
      return hit
    })
  return { fastPath }
}

/** Whether fastify would log each request (its "incoming request"/"request completed" lines at info level). */
function logsRequests(app: FastifyInstance): boolean {
  const log = app.log as { isLevelEnabled?: (l: string) => boolean; level?: string }
  if (typeof log.isLevelEnabled === 'function') return log.isLevelEnabled('info')
  return log.level !== undefined && log.level !== 'silent' && !['warn', 'error', 'fatal'].includes(log.level)
}

/**
 * The refusal of a request whose headers state a JSON part larger than `limit` (the body without the binary tensor
 * extension, unless it is compressed; the extension's JSON header), or undefined.
 */
function jsonTooLarge(
  headers: IncomingHttpHeaders,
  limit: number,
  bodyLimit: number,
): EarlyAnswer | undefined {
  const stated = headers[BINARY_HEADER]
  const length = headers['content-length']
  const enc = headers['content-encoding']?.trim().toLowerCase()
  const plain = length !== undefined && (enc === undefined || enc === '' || enc === 'identity')
  let n: number
  if (typeof stated === 'string') {
    n = /^\d+$/.test(stated) ? Number(stated) : 0
    // a stated JSON part longer than the whole body is the client's mistake, named as such once the body is read
    if (plain && n > Number(length)) return undefined
  } else {
    if (!plain) return undefined
    n = Number(length)
  }
  if (!(n > limit)) return undefined
  return {
    status: 413,
    headers: unreadBodyHeaders(length, bodyLimit),
    error: jsonLimitMessage(n, limit),
  }
}

const jsonLimitMessage = (n: number, limit: number) =>
  `the request's JSON is ${n} bytes, more than the limit of ${limit} (the server's maxJsonBytes): send tensors as binary data (the binary tensor extension, ${BINARY_HEADER}) or in shared memory`

/** A request's decoded body, counted as INVALID for its model when the client got it wrong. */
function decodeFor(
  svc: InferenceService,
  m: ServiceModel,
  headers: IncomingHttpHeaders,
  body: unknown,
  maxJson: number,
): DecodedRequest {
  try {
    return decodeBody(headers, body, m, svc.shmRegions(), maxJson)
  } catch (err) {
    if (err instanceof ProtocolError && err.status < 500) svc.invalid(m)
    throw err
  }
}

/** An infer's answer: a JSON body, or the binary extension's JSON head and output bytes (parts, in order). */
type InferAnswer = { json: Record<string, unknown> } | { headLength: number; parts: Buffer[]; length: number }

/** Runs a decoded request and encodes its answer (the request's inputs are the server's from here on). */
async function answerInfer(
  svc: InferenceService,
  m: ServiceModel,
  decoded: DecodedRequest,
  receivedAt: number,
): Promise<InferAnswer> {
  // what the answer needs of the request (not its inputs: they are the server's, and may be large)
  const asked = { id: decoded.id, outputs: decoded.outputs, binaryOutputs: decoded.binaryOutputs }
  const outcome = await svc.infer(m, decoded, receivedAt)
  const enc = encodeInferResponse(
    { model_name: m.name, model_version: m.version, parameters: outcome.parameters },
    asked,
    outcome.outputs,
  )
  if (!enc.binary) return { json: enc.json }
  const head = Buffer.from(JSON.stringify(enc.json))
  const parts = [head, ...enc.binary]
  const length = parts.reduce((a, b) => a + b.length, 0)
  // large outputs go as they are, after the JSON head (a body of parts; content-length keeps it one plain body):
  // Buffer.concat would copy them once more on the event loop (1.5 MB per albert request at batch 8); small ones
  // (a vision model's logits) are cheaper to copy than to stream
  if (length <= CONCAT_BYTES)
    return { headLength: head.length, parts: [Buffer.concat(parts, length)], length }
  return { headLength: head.length, parts, length }
}

/**
 * Puts `fast` in front of the fastify instance's request handler on its HTTP server: a request `fast` takes (it
 * returns true) never reaches fastify. Returns false (nothing changed) when the server is not as fastify makes it.
 */
function inferFastPath(
  server: Server,
  fast: (req: IncomingMessage, res: ServerResponse) => boolean,
): boolean {
  const handlers = server.listeners('request') as ((req: IncomingMessage, res: ServerResponse) => void)[]
  const fastify = handlers[0]
  if (handlers.length !== 1 || !fastify) return false
  server.removeAllListeners('request')
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (!fast(req, res)) fastify.call(server, req, res)
  })
  return true
}

/** POST /v2/models/{name}[/versions/{version}]/infer, with names fastify's router would take as they are. */
const INFER_URL = /^\/v2\/models\/([^/?#%]{1,100})(?:\/versions\/([^/?#%]{1,100}))?\/infer(?:\?.*)?$/
/** A content type fastify parses as it is (else it may answer 415 itself): a type, at most a charset. */
const PLAIN_TYPE = /^[\w.+-]+\/[\w.+-]+(?:\s*;\s*charset=[\w.-]+)?$/i

/**
 * The fast path of an infer request (the request rate bounds the server on shared memory and small tensors): the
 * request as Node parsed it, answered by the same code as the fastify route (decodeBody, svc.infer, the same
 * encoding, the same error shape and status), without fastify's per-request lifecycle (request and reply objects,
 * hooks, the content-type parser, the serializer). It takes only the plain case: a known model on a URL fastify
 * would route as is, a body of a stated length within the limit, no content encoding, a plain content type; every
 * other request goes to fastify, which answers it (and its errors) as before. Returns whether it took the request.
 */
function fastInfer(
  req: IncomingMessage,
  res: ServerResponse,
  svc: InferenceService,
  model: (name: string) => ServiceModel | undefined,
  limits: { bodyLimit: number; maxJson: number },
  early: KserveRouteOptions['early'],
  logError: (err: unknown) => void,
): boolean {
  if (req.method !== 'POST') return false
  const url = req.url as string
  const match = INFER_URL.exec(url)
  if (!match) return false
  const h = req.headers
  const name = match[1] as string
  // what the onRequest hooks answer before the body is read: answered here alike
  const refused = early?.('POST', url, name, h['content-length'])
  if (refused) {
    writeJson(res, refused.status, { error: refused.error }, refused.headers)
    return true
  }
  const m = model(name)
  if (!m || (match[2] !== undefined && match[2] !== m.version)) return false
  const length = h['content-length']
  if (length === undefined || h['transfer-encoding'] !== undefined) return false
  const n = Number(length)
  if (!(n > 0 && n <= limits.bodyLimit) || !/^\d+$/.test(length)) return false
  const tooLarge = jsonTooLarge(h, limits.maxJson, limits.bodyLimit)
  if (tooLarge) {
    svc.invalid(m)
    writeJson(res, tooLarge.status, { error: tooLarge.error }, tooLarge.headers)
    return true
  }
  const enc = h['content-encoding']?.trim().toLowerCase()
  if (enc !== undefined && enc !== '' && enc !== 'identity') return false
  const type = h['content-type']
  if (type !== undefined && !PLAIN_TYPE.test(type)) return false
  const receivedAt = performance.now()
  const chunks: Buffer[] = []
  let got = 0
  req.on('data', (c: Buffer) => {
    chunks.push(c)
    got += c.length
  })
  // a client that goes away mid-body: nothing to answer (its socket is gone)
  req.on('error', () => {})
  req.on('end', () => {
    if (got !== n)
      return writeError(res, new ProtocolError(400, 'Request body size did not match Content-Length'))
    // a copy of its own, never a view of the socket's read buffer (as fastify's body parser makes)
    const body = Buffer.concat(chunks, got)
    chunks.length = 0
    let decoded: DecodedRequest
    try {
      decoded = decodeFor(svc, m, h, body, limits.maxJson)
    } catch (err) {
      return writeError(res, err, logError)
    }
    answerInfer(svc, m, decoded, receivedAt).then(
      (answer) => {
        if ('json' in answer) return writeJson(res, 200, answer.json)
        res.writeHead(200, {
          [BINARY_HEADER]: String(answer.headLength),
          'content-type': 'application/octet-stream',
          'content-length': String(answer.length),
        })
        if (answer.parts.length === 1) return res.end(answer.parts[0])
        res.cork()
        for (const p of answer.parts) res.write(p)
        res.end()
        res.uncork()
      },
      (err: unknown) => writeError(res, err, logError),
    )
  })
  return true
}

/** A JSON body as fastify sends an object (its content type, a content-length). */
function writeJson(res: ServerResponse, status: number, body: unknown, headers?: Record<string, string>) {
  const text = JSON.stringify(body)
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(text)),
  })
  res.end(text)
}

/** An error as the routes' error handler answers it (ProtocolError: its status and headers; else a logged 500). */
function writeError(res: ServerResponse, err: unknown, logError?: (err: unknown) => void) {
  if (res.headersSent) return
  if (err instanceof ProtocolError) return writeJson(res, err.status, { error: err.message }, err.headers)
  const e = err as Error & { statusCode?: number }
  const status = e?.statusCode && e.statusCode >= 400 && e.statusCode < 600 ? e.statusCode : 500
  if (status >= 500) logError?.(err)
  writeJson(res, status, { error: e?.message || 'internal error' })
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

/** JSON bodies decoded before, per model (shared-memory clients send the same one with every request). */
const decoded = new DecodeMemo<ServiceModel>()

function decodeBody(
  headers: IncomingHttpHeaders,
  body: unknown,
  m: ServiceModel,
  regions: RegionLookup,
  maxJson: number,
): DecodedRequest {
  const type = (headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? ''
  if (type !== '' && !ACCEPTED_TYPES.includes(type))
    throw new ProtocolError(
      415,
      `unsupported content type "${type}" (send application/json, or application/octet-stream with ${BINARY_HEADER})`,
    )
  if (!Buffer.isBuffer(body) || body.length === 0) throw new ProtocolError(400, 'the request has no body')
  const headerLen = headers[BINARY_HEADER]
  let jsonPart = body
  let binary: Buffer | undefined
  if (headerLen !== undefined) {
    const n = Number(headerLen)
    if (!/^\d+$/.test(String(headerLen)) || !Number.isSafeInteger(n))
      throw new ProtocolError(400, `${BINARY_HEADER} must be a non-negative integer, got "${headerLen}"`)
    if (n > body.length)
      throw new ProtocolError(400, `${BINARY_HEADER} ${n} is larger than the body (${body.length} bytes)`)
    // 0, as Triton reads it: no binary part, the whole body is the JSON
    if (n > 0) {
      jsonPart = body.subarray(0, n)
      binary = body.subarray(n)
    }
  }
  // (a compressed or chunked body's size is known only now)
  if (jsonPart.length > maxJson) throw new ProtocolError(413, jsonLimitMessage(jsonPart.length, maxJson))
  const known = binary ? undefined : decoded.get(m, jsonPart, regions)
  if (known) return known
  let json: unknown
  try {
    json = JSON.parse(jsonPart.toString('utf8'))
  } catch (err) {
    throw new ProtocolError(400, `malformed JSON in the request body: ${(err as Error).message}`)
  }
  const req = decodeInferRequest(json, m.io, m.maxBatch, binary, regions)
  if (!binary) decoded.set(m, jsonPart, req)
  return req
}
