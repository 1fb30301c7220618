// Request bodies already decoded, per model. A client on shared memory sends the same small JSON body with every
// request (its regions, offsets and sizes, no tensor bytes), and parsing and checking that body again is a large part
// of the server's own work per request. A body seen before is taken from here while every region it names is still
// the same registration (a region unregistered or registered again is another object: the body is decoded afresh).
// Only bodies whose inputs all lie in shared memory are kept: they hold no tensor bytes.
import type { RawTensor } from '../backend.ts'
import type { RegionLookup } from '../shm/region.ts'
import type { DecodedRequest } from './tensors.ts'

/** Bodies kept per model (a few per client); the memo starts again when full. */
const MAX_BODIES = 256
/** The largest body kept (a request naming its regions is a few hundred bytes). */
const MAX_BODY_BYTES = 4096

export class DecodeMemo<M extends object> {
  private readonly byModel = new WeakMap<M, Map<string, DecodedRequest>>()

  /** The request `body` decodes to, when it was decoded before for `model` and its regions are as they were. */
  get(model: M, body: Buffer, regions: RegionLookup): DecodedRequest | undefined {
    const bodies = this.byModel.get(model)
    if (!bodies || body.length > MAX_BODY_BYTES) return undefined
    const key = body.toString('latin1')
    const d = bodies.get(key)
    if (!d) return undefined
    if (!regionsHold(d, regions)) {
      bodies.delete(key)
      return undefined
    }
    return fresh(d)
  }

  /** Keeps what `body` decoded to, when every input lies in shared memory. */
  set(model: M, body: Buffer, decoded: DecodedRequest): void {
    if (body.length > MAX_BODY_BYTES || !decoded.inputs.every((t) => t.shm)) return
    let bodies = this.byModel.get(model)
    if (!bodies) {
      bodies = new Map()
      this.byModel.set(model, bodies)
    }
    if (bodies.size >= MAX_BODIES) bodies.clear()
    bodies.set(body.toString('latin1'), fresh(decoded))
  }
}

/** Whether each region the request names still resolves to the registration it was checked against. */
function regionsHold(d: DecodedRequest, regions: RegionLookup): boolean {
  for (const t of d.inputs) if (!t.shm || regions.region(t.shm.region.name) !== t.shm.region) return false
  if (d.outputs)
    for (const o of d.outputs) if (o.shm && regions.region(o.shm.region.name) !== o.shm.region) return false
  return true
}

/** A request object of its own (the server owns the request it is given); the descriptions inside are not changed. */
function fresh(d: DecodedRequest): DecodedRequest {
  const inputs: RawTensor[] = d.inputs.map((t) => ({ ...t }))
  return d.outputs ? { ...d, inputs, outputs: d.outputs.slice() } : { ...d, inputs }
}
