// Triton's model repository extension (explicit model control), as tritonclient calls it: `POST /v2/repository/index`
// (body empty or {"ready": bool}) answers [{name, version, state, reason}]; `POST /v2/repository/models/{name}/load`
// and `/unload` (bodies {"parameters": {…}}: a load's `config` or `file:…` overrides are refused, eclip serving each
// model as its serve config says; anything else is read and not needed) answer 200 with an empty body once the model
// is served, or gone, and {"error": …} with 400 otherwise. What loading and unloading do is the service's business;
// repositoryIndex and modelControl below are what the HTTP routes and the gRPC RPCs (grpc/server.ts) both answer.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { ProtocolError } from './errors.ts'

/** One model of the repository as the index lists it (Triton's states: READY, UNAVAILABLE, LOADING, UNLOADING). */
export interface RepositoryEntry {
  name: string
  version: string
  state: 'READY' | 'UNAVAILABLE' | 'LOADING' | 'UNLOADING'
  /** Why it is not ready (not loaded, the error of its last load, unloaded). */
  reason: string
}

export interface RepositoryService {
  /** Every model of the repository; absent: this server has no repository (the index is then its served models). */
  repositoryIndex?(): RepositoryEntry[] | Promise<RepositoryEntry[]>
  /** Loads a model; resolves once it is served. Rejects with a ProtocolError saying what is missing or wrong. */
  loadModel?(name: string): Promise<void>
  /** Unloads a model once its accepted requests are answered; rejects with a ProtocolError otherwise. */
  unloadModel?(name: string): Promise<void>
  models(): { name: string; version: string }[]
}

/** The request's JSON object, or {} for an empty body; a body that is not a JSON object is refused. */
function jsonObject(req: FastifyRequest, what: string): Record<string, unknown> {
  const body = req.body
  if (body === undefined || body === null || (Buffer.isBuffer(body) && body.length === 0)) return {}
  let json: unknown
  try {
    json = JSON.parse(Buffer.isBuffer(body) ? body.toString('utf8') : String(body))
  } catch {
    throw new ProtocolError(400, `${what}: the body is not JSON`)
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new ProtocolError(400, `${what}: the body must be a JSON object`)
  return json as Record<string, unknown>
}

/** The repository's index (`ready`: only the models ready now). */
export async function repositoryIndex(svc: RepositoryService, ready: boolean): Promise<RepositoryEntry[]> {
  const all: RepositoryEntry[] =
    (await svc.repositoryIndex?.()) ??
    svc.models().map((m) => ({ name: m.name, version: m.version, state: 'READY', reason: '' }))
  return ready ? all.filter((e) => e.state === 'READY') : all
}

/**
 * Loads or unloads `name`; refused with a ProtocolError saying why where this server has no model control, or where
 * a load asks to override the model's configuration or files (`parameters`: the request's parameter names).
 */
export async function modelControl(
  svc: RepositoryService,
  op: 'load' | 'unload',
  name: string,
  parameters: readonly string[] = [],
): Promise<void> {
  const run = op === 'load' ? svc.loadModel?.bind(svc) : svc.unloadModel?.bind(svc)
  if (!run)
    throw new ProtocolError(
      400,
      `model control is not available: this server serves a fixed set of models (policy eclip-live loads and unloads them, docs/live.md)`,
    )
  const overrides = parameters.filter((p) => p === 'config' || p.startsWith('file:'))
  if (op === 'load' && overrides.length > 0)
    throw new ProtocolError(
      400,
      `load of model "${name}": ${overrides.map((p) => `"${p}"`).join(', ')} not supported: eclip serves each model as its serve config says, without config or file overrides (docs/live.md)`,
    )
  await run(name)
}

export function registerRepositoryRoutes(app: FastifyInstance, svc: RepositoryService) {
  app.post('/v2/repository/index', async (req, reply) => {
    const body = jsonObject(req, 'repository index')
    if (body.ready !== undefined && typeof body.ready !== 'boolean')
      throw new ProtocolError(400, 'repository index: "ready" must be true or false')
    return reply.send(await repositoryIndex(svc, body.ready === true))
  })
  const control =
    (op: 'load' | 'unload') => async (req: FastifyRequest, reply: import('fastify').FastifyReply) => {
      const name = (req.params as { name: string }).name
      const body = jsonObject(req, `${op} of model "${name}"`)
      const p = body.parameters
      if (p !== undefined && (typeof p !== 'object' || p === null || Array.isArray(p)))
        throw new ProtocolError(400, `${op} of model "${name}": "parameters" must be a JSON object`)
      await modelControl(svc, op, name, Object.keys(p ?? {}))
      return reply.code(200).send()
    }
  app.post('/v2/repository/models/:name/load', control('load'))
  app.post('/v2/repository/models/:name/unload', control('unload'))
}
