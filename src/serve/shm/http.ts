// The HTTP routes of Triton's shared-memory extensions (docs/serve-shared-memory.md):
//   GET  /v2/{system,cuda}sharedmemory[/region/{name}]/status
//   POST /v2/{system,cuda}sharedmemory/region/{name}/register   system {key, offset, byte_size};
//                                                                cuda {raw_handle: {b64}, device_id, byte_size}
//   POST /v2/{system,cuda}sharedmemory[/region/{name}]/unregister (no name: every region of that kind)
// Success is 200 (status: a JSON array); failures {"error": …} with 400 (404: status of a region not registered).
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { ProtocolError } from '../kserve/errors.ts'
import type { CudaRegionSpec, SystemRegionSpec } from './region.ts'

/** What the routes need from the server (InferenceService's shared-memory part). */
export interface ShmService {
  registerSystemShm(name: string, spec: SystemRegionSpec): Promise<void>
  unregisterSystemShm(name?: string): Promise<void>
  systemShmStatus(name?: string): { name: string; key: string; offset: number; byte_size: number }[]
  registerCudaShm(name: string, spec: CudaRegionSpec): Promise<void>
  unregisterCudaShm(name?: string): Promise<void>
  cudaShmStatus(name?: string): { name: string; device_id: number; byte_size: number }[]
}

const bad = (msg: string) => new ProtocolError(400, msg)

export function registerShmRoutes(app: FastifyInstance, svc: ShmService) {
  // an empty name would mean every region to the registry (as gRPC's empty name does): on a route that names one,
  // it is a mistake, not a wish to unregister or list every client's regions
  const name = (req: FastifyRequest) => {
    const n = (req.params as { name: string }).name
    if (n === '')
      throw bad(
        'the region name is empty: name the region in the URL (…/unregister or …/status without /region/{name}: every region)',
      )
    return n
  }
  for (const kind of ['system', 'cuda'] as const) {
    const base = `/v2/${kind}sharedmemory`
    const status = (n?: string) => (kind === 'system' ? svc.systemShmStatus(n) : svc.cudaShmStatus(n))
    const unregister = (n?: string) =>
      kind === 'system' ? svc.unregisterSystemShm(n) : svc.unregisterCudaShm(n)
    app.get(`${base}/status`, () => status())
    app.get(`${base}/region/:name/status`, (req) => status(name(req)))
    app.post(`${base}/region/:name/register`, async (req, reply) => {
      const region = name(req)
      const body = jsonBody(req, kind)
      if (kind === 'system')
        await svc.registerSystemShm(region, {
          key: body.key as string,
          // absent: 0; null or any other value is the registry's to check (and refuse)
          offset: (body.offset === undefined ? 0 : body.offset) as number,
          byteSize: body.byte_size as number,
        })
      else await svc.registerCudaShm(region, cudaSpec(body))
      return reply.code(200).send()
    })
    app.post(`${base}/unregister`, async (_req, reply) => {
      await unregister()
      return reply.code(200).send()
    })
    app.post(`${base}/region/:name/unregister`, async (req, reply) => {
      await unregister(name(req))
      return reply.code(200).send()
    })
  }
}

function jsonBody(req: FastifyRequest, kind: 'system' | 'cuda'): Record<string, unknown> {
  const fields = kind === 'system' ? '{key, offset, byte_size}' : '{raw_handle: {b64}, device_id, byte_size}'
  const body = req.body
  if (!Buffer.isBuffer(body) || body.length === 0)
    throw bad(`the register request needs a JSON body ${fields}`)
  let json: unknown
  try {
    json = JSON.parse(body.toString('utf8'))
  } catch (err) {
    throw bad(`malformed JSON in the register request: ${(err as Error).message}`)
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw bad(`the register request must be a JSON object ${fields}`)
  // a misspelt field would otherwise be dropped and its default taken (an offset of 0 for "offest")
  const known = kind === 'system' ? ['key', 'offset', 'byte_size'] : ['raw_handle', 'device_id', 'byte_size']
  const unknown = Object.keys(json).filter((k) => !known.includes(k))
  if (unknown.length > 0)
    throw bad(
      `unknown field(s) ${unknown.map((k) => `"${k}"`).join(', ')} in the register request: it takes ${fields}`,
    )
  return json as Record<string, unknown>
}

function cudaSpec(body: Record<string, unknown>): CudaRegionSpec {
  const raw = body.raw_handle as { b64?: unknown } | undefined
  const b64 = typeof raw === 'object' && raw !== null ? raw.b64 : undefined
  if (typeof b64 !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(b64))
    throw bad('"raw_handle" must be {"b64": the cudaIpcMemHandle_t in base64}')
  return {
    rawHandle: Buffer.from(b64, 'base64'),
    deviceId: body.device_id as number,
    byteSize: body.byte_size as number,
  }
}
