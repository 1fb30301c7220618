// A small KServe v2 HTTP client for load generation (eclip serve-bench): infer requests in the binary-tensor
// extension both ways, checked answers, keep-alive connections. node:http rather than fetch: on loopback, where
// client and server share one Node process, fetch (undici's web streams) costs about twice the CPU per request, and
// that CPU is taken from the server under test.
import http from 'node:http'
import type { ModelIO } from '../io-specs.ts'
import { type Datatype, ELEMENT_BYTES, encodeElements } from './datatypes.ts'

const BINARY_HEADER = 'inference-header-content-length'

/** One infer request ready to send again and again: the JSON header and the inputs' raw bytes in one body. */
export interface InferBody {
  body: Buffer
  headerLength: number
  items: number
  /** The outputs asked for (as binary data), to check answers against. */
  outputs: { name: string; datatype: Datatype; shape: number[] }[]
}

/**
 * A request of `items` items with every input filled from `rng`: ids uniform in the input's range (albert's token
 * ids), floats uniform in [-1, 1), other integers in [0, 100). `datatype`: inputs that also accept it are sent in it
 * (FP32 images for an FP16 model: twice the bytes, converted by the backend); the others in their own.
 */
export function binaryInferBody(
  io: ModelIO,
  items: number,
  rng: () => number,
  datatype?: Datatype,
): InferBody {
  const datas: Buffer[] = []
  const inputs = io.inputs.map((spec) => {
    const shape = [items, ...spec.shape.slice(1)]
    const count = shape.reduce((a, b) => a * b, 1)
    const [lo, hi] = spec.range ?? [0, 99]
    const float = /^(FP|BF)/.test(spec.datatype)
    const dt = datatype && spec.alsoAccepts?.includes(datatype) ? datatype : spec.datatype
    const values = Array.from({ length: count }, () =>
      float && !spec.range ? rng() * 2 - 1 : lo + Math.floor(rng() * (hi - lo + 1)),
    )
    const data = encodeElements(dt, values)
    datas.push(data)
    return {
      name: spec.name,
      datatype: dt,
      shape,
      parameters: { binary_data_size: data.length },
    }
  })
  const outputs = io.outputs.map((o) => ({
    name: o.name,
    datatype: o.datatype,
    shape: [items, ...o.shape.slice(1)],
  }))
  const header = Buffer.from(
    JSON.stringify({
      inputs,
      outputs: outputs.map((o) => ({ name: o.name, parameters: { binary_data: true } })),
    }),
  )
  return { body: Buffer.concat([header, ...datas]), headerLength: header.length, items, outputs }
}

export interface InferAnswer {
  /** HTTP status; 0 when no answer came (connection refused or reset, client timeout). */
  status: number
  /** 200 with the outputs asked for (or, from the simulator, marked simulated with none). */
  ok: boolean
  simulated: boolean
  /** The response's `queue_us` / `compute_us` parameters (eclip's server reports both). */
  queueUs: number | null
  computeUs: number | null
  /** Why the answer is not ok. */
  error: string | null
}

/**
 * Checks an infer answer: a 200 must carry every output asked for as binary data with `items` rows and the bytes its
 * shape and datatype need — unless the server says it is the simulator, whose answers carry no outputs.
 */
export function checkInferAnswer(
  status: number,
  headerLength: string | undefined,
  body: Buffer,
  req: InferBody,
): InferAnswer {
  const fail = (error: string): InferAnswer => ({
    status,
    ok: false,
    simulated: false,
    queueUs: null,
    computeUs: null,
    error,
  })
  const n = headerLength === undefined ? body.length : Number(headerLength)
  if (!Number.isSafeInteger(n) || n < 0 || n > body.length)
    return fail(`bad ${BINARY_HEADER} "${headerLength}"`)
  let head: {
    error?: unknown
    outputs?: {
      name?: string
      datatype?: string
      shape?: number[]
      parameters?: { binary_data_size?: number }
    }[]
    parameters?: { simulated?: unknown; queue_us?: unknown; compute_us?: unknown }
  }
  try {
    head = JSON.parse(body.subarray(0, n).toString('utf8'))
  } catch {
    return fail(`HTTP ${status}: ${body.subarray(0, 200).toString('utf8')}`)
  }
  if (status !== 200) return fail(`HTTP ${status}: ${String(head.error ?? 'no reason given')}`)
  const p = head.parameters ?? {}
  const num = (v: unknown) => (typeof v === 'number' ? v : null)
  const simulated = p.simulated === true
  if (!simulated) {
    let bytes = 0
    for (const o of req.outputs) {
      const got = head.outputs?.find((x) => x.name === o.name)
      const want = o.shape.reduce((a, b) => a * b, 1) * ELEMENT_BYTES[o.datatype]
      if (!got) return fail(`output "${o.name}" missing`)
      if (got.datatype !== o.datatype || JSON.stringify(got.shape) !== JSON.stringify(o.shape))
        return fail(
          `output "${o.name}" is ${got.datatype} [${got.shape}], expected ${o.datatype} [${o.shape}]`,
        )
      if (got.parameters?.binary_data_size !== want)
        return fail(
          `output "${o.name}": binary_data_size ${got.parameters?.binary_data_size}, expected ${want}`,
        )
      bytes += want
    }
    if (bytes !== body.length - n) return fail(`${body.length - n} bytes of output data, expected ${bytes}`)
  }
  return { status, ok: true, simulated, queueUs: num(p.queue_us), computeUs: num(p.compute_us), error: null }
}

/** Keep-alive connections to one server; `close()` drops them. */
export class KserveClient {
  private readonly agent = new http.Agent({ keepAlive: true })
  private readonly url: URL

  constructor(
    baseUrl: string,
    /** No answer after this long counts as none (status 0), ms. */
    private readonly timeoutMs = 60_000,
  ) {
    this.url = new URL(baseUrl)
  }

  /** POSTs `req` to model `model`; never rejects. */
  async infer(model: string, req: InferBody): Promise<InferAnswer> {
    const r = await this.request('POST', `/v2/models/${encodeURIComponent(model)}/infer`, req.body, {
      'content-type': 'application/octet-stream',
      [BINARY_HEADER]: String(req.headerLength),
    })
    if (r.status === 0)
      return { status: 0, ok: false, simulated: false, queueUs: null, computeUs: null, error: r.error }
    const h = r.headers[BINARY_HEADER]
    return checkInferAnswer(r.status, Array.isArray(h) ? h[0] : h, r.body, req)
  }

  /** GET `path`; status 0 with `error` when no answer came. */
  get(path: string) {
    return this.request('GET', path)
  }

  /** POST `body` (JSON unless `headers` say otherwise) to `path`; status 0 with `error` when no answer came. */
  post(path: string, body: Buffer, headers: Record<string, string> = { 'content-type': 'application/json' }) {
    return this.request('POST', path, body, headers)
  }

  close() {
    this.agent.destroy()
  }

  private request(
    method: string,
    path: string,
    body?: Buffer,
    headers: Record<string, string> = {},
    retry = true,
  ): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer; error: string }> {
    return new Promise((resolve) => {
      const none = (error: string) => resolve({ status: 0, headers: {}, body: Buffer.alloc(0), error })
      const req = http.request(
        {
          host: this.url.hostname,
          port: this.url.port,
          path,
          method,
          agent: this.agent,
          headers: body ? { ...headers, 'content-length': String(body.length) } : headers,
        },
        (res) => {
          const chunks: Buffer[] = []
          res.on('data', (c: Buffer) => chunks.push(c))
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: Buffer.concat(chunks),
              error: '',
            }),
          )
          res.on('error', (e) => none(e.message))
        },
      )
      req.setTimeout(this.timeoutMs, () => req.destroy(new Error(`no answer within ${this.timeoutMs} ms`)))
      req.on('error', (e: NodeJS.ErrnoException) => {
        // a kept-alive connection the server closed (its keepAliveTimeout) just as this request went out on it: the
        // request never reached the server; sent again once, on a fresh connection
        if (retry && req.reusedSocket && e.code === 'ECONNRESET')
          return resolve(this.request(method, path, body, headers, false))
        none(e.message)
      })
      req.end(body)
    })
  }
}
