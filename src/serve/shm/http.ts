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
  const name = (req: FastifyRequest) => (req.params as { name: string }).name
  for (const kind of ['system', 'cuda'] as const) {
    const base = `/v2/${kind}sharedmemory`
    const status = (n?: string) => (kind === 'system' ? svc.systemShmStatus(n) : svc.cudaShmStatus(n))
    const unregister = (n?: string) =>
      kind === 'system' ? svc.unregisterSystemShm(n) : svc.unregisterCudaShm(n)
    app.get(`${base}/status`, () => status())
    app.get(`${base}/region/:name/status`, (req) => status(name(req)))
    app.post(`${base}/region/:name/register`, async (req, reply) => {
      const body = jsonBody(req, kind)
      if (kind === 'system')
        await svc.registerSystemShm(name(req), {
          key: body.key as string,
          offset: (body.offset ?? 0) as number,
          byteSize: body.byte_size as number,
        })
      else await svc.registerCudaShm(name(req), cudaSpec(body))
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
