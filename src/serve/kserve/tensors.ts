// KServe v2 inference request/response bodies: validation of the JSON (and binary-extension) request against a
// model's tensor specs, and encoding of the backend's outputs. Knows the protocol, not the backend.
import { NO_DATA, type RawTensor, type ShmRef } from '../backend.ts'
import type { ModelIO, TensorSpec } from '../io-specs.ts'
import type { RegionLookup } from '../shm/region.ts'
import {
  type Datatype,
  decodeElements,
  ELEMENT_BYTES,
  elementError,
  encodeElements,
  isDatatype,
} from './datatypes.ts'
import { ProtocolError } from './errors.ts'

const bad = (msg: string) => new ProtocolError(400, msg)

export interface DecodedRequest {
  id?: string
  /** Batch dimension shared by every input. */
  batch: number
  inputs: RawTensor[]
  /**
   * Outputs the client asked for (all when absent), with whether each should come back as binary data, or be
   * written into a client's shared-memory region (`shm`).
   */
  outputs?: { name: string; binary: boolean; shm?: ShmRef }[]
  /** `binary_data_output` request parameter: every output as binary unless an output says otherwise. */
  binaryOutputs: boolean
  /** Triton's `timeout` request parameter (µs): the request's own deadline, within the model's (0: none). */
  timeoutUs?: number
  parameters: Record<string, unknown>
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/**
 * Flattens nested row-major arrays without recursion: a body of a few KB can nest thousands of levels, which a
 * recursive walk answers with a stack overflow. No array may sit deeper than the tensor's rank (`maxDepth`).
 */
function flatten(data: unknown[], maxDepth: number, name: string): unknown[] {
  if (!data.some(Array.isArray)) return data
  const out: unknown[] = []
  const arrays: unknown[][] = [data]
  const next: number[] = [0]
  while (arrays.length > 0) {
    const top = arrays.length - 1
    const a = arrays[top] as unknown[]
    const i = next[top] as number
    if (i >= a.length) {
      arrays.pop()
      next.pop()
      continue
    }
    next[top] = i + 1
    const v = a[i]
    if (!Array.isArray(v)) out.push(v)
    else if (arrays.length >= maxDepth)
      throw bad(
        `input "${name}": "data" is nested deeper than ${maxDepth} level${maxDepth === 1 ? '' : 's'}, the tensor's rank`,
      )
    else {
      arrays.push(v)
      next.push(0)
    }
  }
  return out
}

/**
 * Validates a request body (the JSON header of the binary extension, or the whole JSON body) for a model with
 * `io` tensors and up to `maxBatch` items. `binary` is what follows the JSON header in the binary extension.
 * `regions`: the server's shared-memory regions, which inputs and requested outputs may name (Triton's
 * shared_memory_region / _offset / _byte_size parameters); without it such a tensor is refused.
 */
export function decodeInferRequest(
  body: unknown,
  io: ModelIO,
  maxBatch: number,
  binary?: Buffer,
  regions?: RegionLookup,
): DecodedRequest {
  if (!isObject(body)) throw bad('the request body must be a JSON object')
  for (const k of Object.keys(body))
    if (!['id', 'parameters', 'inputs', 'outputs'].includes(k))
      throw bad(`unknown field "${k}" in the request (allowed: id, parameters, inputs, outputs)`)
  if (body.id !== undefined && typeof body.id !== 'string') throw bad('"id" must be a string')
  if (body.parameters !== undefined && !isObject(body.parameters)) throw bad('"parameters" must be an object')
  const parameters = (body.parameters ?? {}) as Record<string, unknown>
  if (parameters.binary_data_output !== undefined && typeof parameters.binary_data_output !== 'boolean')
    throw bad('parameter "binary_data_output" must be a boolean')
  // 0 is Triton's default: no timeout of the request's own (the model's timeoutMs still bounds it)
  const timeout = parameters.timeout
  if (timeout !== undefined && !(Number.isSafeInteger(timeout) && (timeout as number) >= 0))
    throw bad(
      typeof timeout === 'number' && Number.isInteger(timeout) && timeout > 0
        ? `parameter "timeout" ${timeout} is too large (at most ${Number.MAX_SAFE_INTEGER} µs; 0: no timeout of its own)`
        : 'parameter "timeout" must be a non-negative integer (microseconds; 0: no timeout of its own)',
    )
  if (!Array.isArray(body.inputs) || body.inputs.length === 0)
    throw bad('"inputs" must be a non-empty array of tensors')

  let offset = 0
  const seen = new Set<string>()
  const inputs: RawTensor[] = []
  let batch: number | undefined
  for (const [i, t] of body.inputs.entries()) {
    const at = `inputs[${i}]`
    if (!isObject(t)) throw bad(`${at} must be an object`)
    for (const k of Object.keys(t))
      if (!['name', 'shape', 'datatype', 'parameters', 'data'].includes(k))
        throw bad(`${at}: unknown field "${k}" (allowed: name, shape, datatype, parameters, data)`)
    if (typeof t.name !== 'string') throw bad(`${at}: "name" must be a string`)
    const spec = io.inputs.find((s) => s.name === t.name)
    if (!spec)
      throw bad(
        `${at}: the model has no input "${t.name}" (inputs: ${io.inputs.map((s) => s.name).join(', ')})`,
      )
    if (seen.has(t.name)) throw bad(`${at}: input "${t.name}" is given twice`)
    seen.add(t.name)
    const dt = checkDatatype(t.datatype, spec, t.name)
    const shape = checkShape(t.shape, spec, maxBatch)
    const n0 = shape[0] as number
    if (batch !== undefined && n0 !== batch)
      throw bad(`input "${t.name}": batch dimension ${n0} differs from the other inputs' ${batch}`)
    batch = n0
    const count = shape.reduce((a, b) => a * b, 1)
    if (t.parameters !== undefined && !isObject(t.parameters))
      throw bad(`input "${t.name}": "parameters" must be an object`)
    const binSize = (t.parameters as Record<string, unknown> | undefined)?.binary_data_size
    const shmAt = shmParams(t.parameters as Record<string, unknown> | undefined, `input "${t.name}"`)
    let data: Buffer
    let shm: ShmRef | undefined
    if (shmAt) {
      // the bytes stay in the client's region: only where they lie is checked here (the backend reads them)
      if (t.data !== undefined) throw bad(`input "${t.name}": has both "data" and "shared_memory_region"`)
      if (binSize !== undefined)
        throw bad(`input "${t.name}": has both "binary_data_size" and "shared_memory_region"`)
      const need = count * ELEMENT_BYTES[dt]
      if (shmAt.byteSize !== need)
        throw bad(
          `input "${t.name}": shared_memory_byte_size ${shmAt.byteSize} does not match shape [${shape}] of ${dt} (${need} bytes)`,
        )
      shm = regionRef(regions, shmAt, `input "${t.name}"`, dt)
      data = NO_DATA
    } else if (binSize !== undefined) {
      if (!Number.isInteger(binSize) || (binSize as number) < 0)
        throw bad(`input "${t.name}": "binary_data_size" must be a non-negative integer`)
      if (t.data !== undefined) throw bad(`input "${t.name}": has both "data" and "binary_data_size"`)
      const size = binSize as number
      if (!binary)
        throw bad(
          `input "${t.name}": "binary_data_size" needs the binary tensor extension (Inference-Header-Content-Length header)`,
        )
      if (offset + size > binary.length)
        throw bad(
          `input "${t.name}": binary_data_size ${size} runs past the end of the body (${binary.length - offset} bytes left)`,
        )
      if (size !== count * ELEMENT_BYTES[dt])
        throw bad(
          `input "${t.name}": binary_data_size ${size} does not match shape [${shape}] of ${dt} (${count * ELEMENT_BYTES[dt]} bytes)`,
        )
      data = binary.subarray(offset, offset + size)
      offset += size
      if (spec.range) checkRangeBinary(data, dt, spec, t.name)
    } else {
      if (t.data === undefined)
        throw bad(
          `input "${t.name}": no tensor: give "data", or in parameters "binary_data_size" (binary extension) or "shared_memory_region"`,
        )
      if (!Array.isArray(t.data)) throw bad(`input "${t.name}": "data" must be an array`)
      // more entries than the shape allows (flat: count; nested: the batch dimension) are refused before any
      // per-element work (gRPC's typed contents arrive as one array of millions of numbers)
      if (t.data.length > Math.max(count, n0))
        throw bad(
          `input "${t.name}": shape [${shape}] needs ${count} elements, "data" has ${t.data.length} entries`,
        )
      const flat = flatten(t.data, shape.length, t.name)
      if (flat.length !== count)
        throw bad(`input "${t.name}": shape [${shape}] needs ${count} elements, "data" has ${flat.length}`)
      for (let j = 0; j < flat.length; j++) {
        const err = elementError(dt, flat[j])
        if (err) throw bad(`input "${t.name}": data[${j}]: ${err}`)
        if (spec.range) {
          const v = flat[j] as number
          if (v < spec.range[0] || v > spec.range[1])
            throw bad(`input "${t.name}": data[${j}]: ${v} is outside [${spec.range[0]}, ${spec.range[1]}]`)
        }
      }
      data = encodeElements(dt, flat as (number | boolean)[])
    }
    inputs.push(
      shm ? { name: t.name, datatype: dt, shape, data, shm } : { name: t.name, datatype: dt, shape, data },
    )
  }
  if (binary && offset !== binary.length)
    throw bad(`the binary part has ${binary.length - offset} bytes no input's binary_data_size accounts for`)
  for (const s of io.inputs) if (!seen.has(s.name)) throw bad(`missing input "${s.name}"`)

  let outputs: DecodedRequest['outputs']
  if (body.outputs !== undefined) {
    if (!Array.isArray(body.outputs)) throw bad('"outputs" must be an array')
    const asked = new Set<string>()
    outputs = body.outputs.map((o, i) => {
      if (!isObject(o) || typeof o.name !== 'string')
        throw bad(`outputs[${i}] must be an object with a "name"`)
      if (asked.has(o.name)) throw bad(`outputs[${i}]: output "${o.name}" is requested twice`)
      asked.add(o.name)
      if (!io.outputs.some((s) => s.name === o.name))
        throw bad(
          `outputs[${i}]: the model has no output "${o.name}" (outputs: ${io.outputs.map((s) => s.name).join(', ')})`,
        )
      if (o.parameters !== undefined && !isObject(o.parameters))
        throw bad(`outputs[${i}]: "parameters" must be an object`)
      const b = (o.parameters as Record<string, unknown> | undefined)?.binary_data
      if (b !== undefined && typeof b !== 'boolean')
        throw bad(`outputs[${i}]: "binary_data" must be a boolean`)
      // Triton answers a classification (top-k class labels as strings) in place of the tensor; eclip has no labels
      // and does not list the extension, so the parameter is refused rather than answered with the plain tensor
      // (0 is Triton's "no classification", what clients send when they ask for none)
      const cls = (o.parameters as Record<string, unknown> | undefined)?.classification
      if (cls !== undefined && cls !== 0)
        throw bad(
          `outputs[${i}]: output "${o.name}": the classification extension is not supported (ask for the output without "classification")`,
        )
      const shmAt = shmParams(o.parameters as Record<string, unknown> | undefined, `output "${o.name}"`)
      if (shmAt) {
        const spec = io.outputs.find((s) => s.name === o.name) as TensorSpec
        const need = tensorBytes(spec, batch as number)
        if (need !== null && shmAt.byteSize < need)
          throw bad(
            `output "${o.name}": shared_memory_byte_size ${shmAt.byteSize} is too small to hold the output ([${batch}, ${spec.shape.slice(1)}] of ${spec.datatype}: ${need} bytes)`,
          )
        return {
          name: o.name,
          binary: false,
          shm: regionRef(regions, shmAt, `output "${o.name}"`, spec.datatype),
        }
      }
      return { name: o.name, binary: b ?? parameters.binary_data_output === true }
    })
  }
  return {
    ...(body.id !== undefined ? { id: body.id as string } : {}),
    batch: batch as number,
    inputs,
    ...(outputs ? { outputs } : {}),
    binaryOutputs: parameters.binary_data_output === true,
    ...(timeout !== undefined && timeout !== 0 ? { timeoutUs: timeout as number } : {}),
    parameters,
  }
}

/** A tensor's shared-memory parameters (Triton's), checked for form; undefined when it names no region. */
function shmParams(
  p: Record<string, unknown> | undefined,
  what: string,
): { region: string; offset: number; byteSize: number } | undefined {
  if (!p) return undefined
  const region = p.shared_memory_region
  const size = p.shared_memory_byte_size
  const offset = p.shared_memory_offset
  if (region === undefined && size === undefined) {
    if (offset !== undefined)
      throw bad(
        `${what}: "shared_memory_offset" without "shared_memory_region" and "shared_memory_byte_size"`,
      )
    return undefined
  }
  if (typeof region !== 'string' || region === '')
    throw bad(
      `${what}: "shared_memory_region" must name a registered region (with "shared_memory_byte_size")`,
    )
  for (const [k, v] of [
    ['shared_memory_byte_size', size],
    ['shared_memory_offset', offset],
  ] as const)
    if (Number.isInteger(v) && (v as number) > Number.MAX_SAFE_INTEGER)
      throw bad(`${what}: "${k}" ${v} is too large (at most ${Number.MAX_SAFE_INTEGER}, 2^53 − 1)`)
  if (!Number.isSafeInteger(size) || (size as number) < 0)
    throw bad(
      `${what}: "shared_memory_byte_size" must be a non-negative integer (with "shared_memory_region")`,
    )
  if (offset !== undefined && (!Number.isSafeInteger(offset) || (offset as number) < 0))
    throw bad(`${what}: "shared_memory_offset" must be a non-negative integer`)
  return { region, offset: (offset as number | undefined) ?? 0, byteSize: size as number }
}

/** Where a tensor lies in a registered region, after checking the region exists and holds it. */
function regionRef(
  regions: RegionLookup | undefined,
  at: { region: string; offset: number; byteSize: number },
  what: string,
  dt: Datatype,
): ShmRef {
  if (!regions) throw bad(`${what}: this endpoint does not take tensors in shared memory`)
  const r = regions.region(at.region)
  if (!r) throw bad(`${what}: Unable to find shared memory region: '${at.region}'`)
  if (at.offset + at.byteSize > r.byteSize)
    throw bad(
      `${what}: Invalid offset + byte size for shared memory region: '${at.region}' (offset ${at.offset} + byte_size ${at.byteSize} runs past its ${r.byteSize} bytes)`,
    )
  // a device copy of misaligned elements is a CUDA error that poisons the backend: refused here
  if (r.kind === 'cuda' && at.offset % ELEMENT_BYTES[dt] !== 0)
    throw bad(
      `${what}: shared_memory_offset ${at.offset} in CUDA region '${at.region}' is not a multiple of ${dt}'s ${ELEMENT_BYTES[dt]} bytes`,
    )
  return { region: r, offset: at.offset, bytes: at.byteSize }
}

/** Bytes of `spec` at batch `n`, or null when a dimension besides the batch is variable. */
function tensorBytes(spec: TensorSpec, n: number): number | null {
  let count = n
  for (let d = 1; d < spec.shape.length; d++) {
    const x = spec.shape[d] as number
    if (x < 0) return null
    count *= x
  }
  return count * ELEMENT_BYTES[spec.datatype]
}

function checkDatatype(v: unknown, spec: TensorSpec, name: string): Datatype {
  if (typeof v !== 'string') throw bad(`input "${name}": "datatype" must be a string`)
  if (!isDatatype(v)) throw bad(`input "${name}": unknown datatype "${v}"`)
  const ok = [spec.datatype, ...(spec.alsoAccepts ?? [])]
  if (!ok.includes(v))
    throw bad(`input "${name}": datatype ${v} is not accepted (expected ${ok.join(' or ')})`)
  return v
}

function checkShape(v: unknown, spec: TensorSpec, maxBatch: number): number[] {
  const name = spec.name
  if (!Array.isArray(v) || !v.every((d) => Number.isInteger(d) && d >= 0))
    throw bad(`input "${name}": "shape" must be an array of non-negative integers`)
  const shape = v as number[]
  if (shape.length !== spec.shape.length)
    throw bad(`input "${name}": shape [${shape}] has ${shape.length} dimensions, expected [${spec.shape}]`)
  const n = shape[0] as number
  if (n < 1 || n > maxBatch)
    throw bad(`input "${name}": batch dimension ${n} is outside 1 … ${maxBatch} (the model's batch size)`)
  for (let d = 1; d < shape.length; d++)
    if (spec.shape[d] !== -1 && shape[d] !== spec.shape[d])
      throw bad(`input "${name}": shape [${shape}] does not match [${spec.shape}] at dimension ${d}`)
  return shape
}

function checkRangeBinary(data: Buffer, dt: Datatype, spec: TensorSpec, name: string) {
  const [lo, hi] = spec.range as [number, number]
  const values = decodeElements(dt, data)
  for (let j = 0; j < values.length; j++) {
    const v = values[j] as number
    if (v < lo || v > hi) throw bad(`input "${name}": element ${j}: ${v} is outside [${lo}, ${hi}]`)
  }
}

export interface EncodedResponse {
  /** The JSON part (the whole body when `binary` is absent). */
  json: Record<string, unknown>
  /** Binary extension: raw output bytes that follow the JSON header, in output order. */
  binary?: Buffer[]
}

/** Builds the response body: outputs as JSON data, or as binary data where the request asked for it. */
export function encodeInferResponse(
  head: { model_name: string; model_version: string; id?: string; parameters: Record<string, unknown> },
  req: Pick<DecodedRequest, 'id' | 'outputs' | 'binaryOutputs'>,
  outputs: RawTensor[],
): EncodedResponse {
  const wanted = req.outputs ?? outputs.map((o) => ({ name: o.name, binary: req.binaryOutputs }))
  const out: Record<string, unknown>[] = []
  const binary: Buffer[] = []
  for (const w of wanted) {
    const t = outputs.find((o) => o.name === w.name)
    if (!t) continue
    if (t.shm) {
      // written into the client's region by the backend: the response says where, and carries no data
      const p: Record<string, unknown> = {
        shared_memory_region: t.shm.region.name,
        shared_memory_byte_size: t.shm.bytes,
      }
      if (t.shm.offset !== 0) p.shared_memory_offset = t.shm.offset
      out.push({ name: t.name, datatype: t.datatype, shape: t.shape, parameters: p })
    } else if (w.binary) {
      out.push({
        name: t.name,
        datatype: t.datatype,
        shape: t.shape,
        parameters: { binary_data_size: t.data.length },
      })
      binary.push(t.data)
    } else
      out.push({
        name: t.name,
        datatype: t.datatype,
        shape: t.shape,
        data: decodeElements(t.datatype, t.data),
      })
  }
  const json = { ...head, ...(req.id !== undefined ? { id: req.id } : {}), outputs: out }
  return binary.length > 0 ? { json, binary } : { json }
}
