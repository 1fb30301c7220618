// Typed contents (InferTensorContents) of a ModelInferRequest, limited on the message's wire bytes before protobuf
// decodes them. Decoding costs the event loop per element (a 64-bit integer becomes a JS number one at a time), so a
// message of millions of elements would hold every other request up for seconds before decodeInferRequest could
// refuse it. Only length prefixes are read: the message's top-level fields, each input's name and contents, each
// contents field; elements are counted only where a field's bytes could hold more than the input takes, and only
// until they do. A message this walk cannot follow is left to the decoder, which reports it as it does any.
import { ProtocolError } from '../kserve/errors.ts'
import type { ServiceModel } from '../kserve/routes.ts'
import type { ModelInferRequest } from './convert.ts'

export interface ContentsLimits {
  /** Largest typed contents of one request, bytes (the server's maxJsonBytes, as HTTP's JSON tensors). */
  maxBytes: number
  /** What input `input` of model `model` takes at most, or undefined (unknown, or a dimension varies). */
  capacity(model: string, input: string): Capacity | undefined
}

/** Most elements an input takes: its shape (batch dimension -1) at the model's batch size. */
export interface Capacity {
  elements: number
  shape: number[]
  batch: number
}

const REFUSED = Symbol('refused')

/** What a refused message decodes to: its model, version and id (for the answer and the statistics), and why. */
type Refused = ModelInferRequest & { [REFUSED]: ProtocolError }

/** Why the contents limits refused `req` before it was decoded, or undefined. */
export function refusal(req: ModelInferRequest): ProtocolError | undefined {
  return (req as Partial<Refused>)[REFUSED]
}

/**
 * A deserializer that refuses oversized typed contents (see `refusal`) before `decode` runs, and a message `decode`
 * cannot read: grpc-js would end the call on a throw, and with a stream every answer still owed on it.
 */
export function limitedDeserializer(
  decode: (b: Buffer) => ModelInferRequest,
  limits: ContentsLimits,
): (b: Buffer) => ModelInferRequest {
  return (b) => {
    const refused = refuseContents(b, limits)
    if (refused) return refused
    try {
      return decode(b)
    } catch (err) {
      const malformed: Refused = {
        [REFUSED]: new ProtocolError(400, `malformed ModelInferRequest: ${(err as Error).message}`),
      }
      return malformed
    }
  }
}

/** Most elements `input` of `m` takes; undefined where the model or input is unknown or a dimension varies. */
export function inputCapacity(m: ServiceModel | undefined, input: string): Capacity | undefined {
  const spec = m?.io.inputs.find((s) => s.name === input)
  if (!m || !spec) return undefined
  let n = m.maxBatch
  for (let d = 1; d < spec.shape.length; d++) {
    const x = spec.shape[d] as number
    if (x < 0) return undefined
    n *= x
  }
  return { elements: n, shape: spec.shape, batch: m.maxBatch }
}

/** Wire types: varint, 64-bit, length-delimited, 32-bit (groups are not used by the proto). */
const VARINT = 0
const I64 = 1
const LEN = 2
const I32 = 5

/** Reads a varint at `at` (before `end`): [value, next offset], or undefined when malformed. */
function varint(b: Buffer, at: number, end: number): [number, number] | undefined {
  let v = 0
  let scale = 1
  for (let i = at; i < end && i < at + 10; i++) {
    const x = b[i] as number
    v += (x & 0x7f) * scale
    if (x < 0x80) return [v, i + 1]
    scale *= 128
  }
  return undefined
}

/**
 * Calls `visit` with each field of the message in b[start, end): its number, wire type and where its value lies (a
 * length-delimited field's payload, else the encoded value), until it returns false. False when the bytes walked
 * are not a well-formed message.
 */
function fields(
  b: Buffer,
  start: number,
  end: number,
  visit: (field: number, wire: number, from: number, to: number) => boolean | undefined,
): boolean {
  let at = start
  while (at < end) {
    const tag = varint(b, at, end)
    if (!tag) return false
    const [key, next] = tag
    const field = Math.floor(key / 8)
    const wire = key % 8
    let from = next
    let to: number
    if (wire === VARINT) {
      const v = varint(b, next, end)
      if (!v) return false
      to = v[1]
    } else if (wire === I64) to = next + 8
    else if (wire === I32) to = next + 4
    else if (wire === LEN) {
      const len = varint(b, next, end)
      if (!len) return false
      from = len[1]
      to = from + len[0]
    } else return false
    if (to > end) return false
    if (visit(field, wire, from, to) === false) return true
    at = to
  }
  return true
}

/** Bytes per element of a packed InferTensorContents field (fp32_contents 6, fp64_contents 7); 0: varints. */
const PACKED_WIDTH: Record<number, number> = { 6: 4, 7: 8 }

/** Elements in contents messages `parts`, counted up to `cap` + 1 (more is not needed); undefined when malformed. */
function countElements(b: Buffer, parts: [number, number][], cap: number): number | undefined {
  let n = 0
  for (const [start, end] of parts) {
    const ok = fields(b, start, end, (field, wire, from, to) => {
      if (field < 1 || field > 8) return true
      const width = PACKED_WIDTH[field]
      if (wire !== LEN || field === 8) n++
      else if (width) n += Math.floor((to - from) / width)
      // packed varints: one element ends at each byte below 0x80
      else for (let i = from; i < to && n <= cap; i++) if ((b[i] as number) < 0x80) n++
      return n <= cap
    })
    if (!ok) return undefined
    if (n > cap) break
  }
  return n
}

interface InputContents {
  name: string
  /** Where its contents message (one part per occurrence: protobuf merges them) lies. */
  parts: [number, number][]
  bytes: number
}

/** The refused stand-in for a ModelInferRequest whose typed contents are over `limits`, or undefined. */
function refuseContents(b: Buffer, limits: ContentsLimits): Refused | undefined {
  // the name, version and id as byte ranges: decoded only for a request with typed contents (not every request's)
  const at: { model_name?: [number, number]; model_version?: [number, number]; id?: [number, number] } = {}
  const inputs: [number, number][] = []
  const text = (from: number, to: number) => b.toString('utf8', from, to)
  const top = fields(b, 0, b.length, (field, wire, from, to) => {
    if (wire !== LEN) return true
    if (field === 1) at.model_name = [from, to]
    else if (field === 2) at.model_version = [from, to]
    else if (field === 3) at.id = [from, to]
    else if (field === 5) inputs.push([from, to])
    return true
  })
  if (!top || inputs.length === 0) return undefined
  const typed: InputContents[] = []
  let total = 0
  for (const [start, end] of inputs) {
    const t: InputContents = { name: '', parts: [], bytes: 0 }
    const ok = fields(b, start, end, (field, wire, from, to) => {
      if (wire !== LEN) return true
      if (field === 1) t.name = text(from, to)
      else if (field === 5) {
        t.parts.push([from, to])
        t.bytes += to - from
      }
      return true
    })
    if (!ok) return undefined
    if (t.parts.length > 0) typed.push(t)
    total += t.bytes
  }
  if (typed.length === 0) return undefined
  const head: { model_name?: string; model_version?: string; id?: string } = {}
  for (const k of ['model_name', 'model_version', 'id'] as const) {
    const r = at[k]
    if (r) head[k] = text(r[0], r[1])
  }
  const refuse = (error: ProtocolError): Refused => ({ ...head, [REFUSED]: error })
  const model = head.model_name ?? ''
  // each input's own limit first (the more telling), then the request's in all
  for (const t of typed) {
    const cap = limits.capacity(model, t.name)
    // every element takes a byte at least: contents no longer than the cap cannot hold more
    if (cap === undefined || t.bytes <= cap.elements) continue
    const n = countElements(b, t.parts, cap.elements)
    if (n !== undefined && n > cap.elements)
      return refuse(
        new ProtocolError(
          400,
          `input "${t.name}": its typed contents hold more than ${cap.elements} elements, the most it takes (shape [${cap.shape}] at the model's batch size of ${cap.batch})`,
        ),
      )
  }
  if (total > limits.maxBytes)
    return refuse(
      new ProtocolError(
        413,
        `the request's typed contents are ${total} bytes, more than the limit of ${limits.maxBytes} (the server's maxJsonBytes, as for JSON tensors over HTTP): send tensors in raw_input_contents or in shared memory`,
      ),
    )
  return undefined
}
