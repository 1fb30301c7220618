// KServe v2 gRPC messages ↔ the JSON request and response of the HTTP layer (docs/serve-grpc.md). A ModelInferRequest
// becomes the JSON object + binary part the HTTP layer gives decodeInferRequest (raw_input_contents as the binary
// part, binary_data_size per input; typed contents as JSON data), so every check is the HTTP path's; the answer
// encodeInferResponse gives becomes a ModelInferResponse. Messages are proto-loader's plain objects (keepCase,
// 64-bit integers as JS numbers, bytes as Buffer, repeated fields always arrays, maps always objects).

import * as grpc from '@grpc/grpc-js'
import { MAX_TIMER_MS } from '../../formats/serve-config.ts'
import { type Datatype, encodeElements, isDatatype } from '../kserve/datatypes.ts'
import { ProtocolError } from '../kserve/errors.ts'
import type { InferOutcome, ServiceModel } from '../kserve/routes.ts'
import { type DecodedRequest, encodeInferResponse } from '../kserve/tensors.ts'

/** An InferParameter as proto-loader gives it (oneofs: the name of the field that is set). */
export interface InferParameter {
  parameter_choice?: 'bool_param' | 'int64_param' | 'string_param' | 'double_param' | 'uint64_param'
  bool_param?: boolean
  int64_param?: number
  string_param?: string
  double_param?: number
  uint64_param?: number
}
export type ParameterMap = Record<string, InferParameter>

export interface TensorContents {
  bool_contents?: boolean[]
  int_contents?: number[]
  int64_contents?: number[]
  uint_contents?: number[]
  uint64_contents?: number[]
  fp32_contents?: number[]
  fp64_contents?: number[]
  bytes_contents?: Buffer[]
}

export interface ModelInferRequest {
  model_name?: string
  model_version?: string
  id?: string
  parameters?: ParameterMap
  inputs?: {
    name?: string
    datatype?: string
    shape?: number[]
    parameters?: ParameterMap
    contents?: TensorContents
  }[]
  outputs?: { name?: string; parameters?: ParameterMap }[]
  raw_input_contents?: Buffer[]
}

export interface ModelInferResponse {
  model_name: string
  model_version: string
  id?: string
  parameters: ParameterMap
  outputs: { name: string; datatype: string; shape: number[]; parameters?: ParameterMap }[]
  raw_output_contents: Buffer[]
}

const bad = (msg: string) => new ProtocolError(400, msg)

/** An InferParameter's plain value (64-bit integers beyond 2^53 lose precision, as in any JSON client). */
export function parameterValue(p: InferParameter): unknown {
  const k = p.parameter_choice
  if (k !== undefined) return p[k]
  // a message built by hand (no oneof name): the one field that is set
  return p.bool_param ?? p.int64_param ?? p.string_param ?? p.double_param ?? p.uint64_param
}

/** A parameter map as plain values (what the HTTP layer has in a JSON "parameters" object). */
export function plainParameters(m: ParameterMap | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  if (m) for (const k of Object.keys(m)) out[k] = parameterValue(m[k] as InferParameter)
  return out
}

/** A plain value as an InferParameter: integers as int64, other numbers as double, anything else as a string. */
export function inferParameter(v: unknown): InferParameter {
  if (typeof v === 'boolean') return { bool_param: v }
  if (typeof v === 'number') return Number.isSafeInteger(v) ? { int64_param: v } : { double_param: v }
  if (typeof v === 'string') return { string_param: v }
  return { string_param: JSON.stringify(v) }
}

export function parameterMap(p: Record<string, unknown> | undefined): ParameterMap {
  const out: ParameterMap = {}
  if (p) for (const [k, v] of Object.entries(p)) if (v !== undefined) out[k] = inferParameter(v)
  return out
}

/** Which InferTensorContents field holds a datatype's elements (FP16 and BF16 have none). */
const CONTENTS_FIELD: Partial<Record<Datatype, keyof TensorContents>> = {
  BOOL: 'bool_contents',
  INT8: 'int_contents',
  INT16: 'int_contents',
  INT32: 'int_contents',
  INT64: 'int64_contents',
  UINT8: 'uint_contents',
  UINT16: 'uint_contents',
  UINT32: 'uint_contents',
  UINT64: 'uint64_contents',
  FP32: 'fp32_contents',
  FP64: 'fp64_contents',
}

/** The elements of an input given as typed contents, as JSON data (checked by decodeInferRequest like any). */
function contentsData(c: TensorContents, datatype: string, name: string): unknown[] {
  const given = (Object.keys(c) as (keyof TensorContents)[]).filter((k) => (c[k]?.length ?? 0) > 0)
  // an unknown datatype is reported by decodeInferRequest, before the data
  if (!isDatatype(datatype)) return []
  const field = CONTENTS_FIELD[datatype]
  if (!field)
    throw bad(
      `input "${name}": ${datatype} has no typed contents; send its bytes in raw_input_contents (or a shared-memory region)`,
    )
  const other = given.find((k) => k !== field)
  if (other) throw bad(`input "${name}": ${datatype} elements go in contents.${field}, not contents.${other}`)
  return c[field] ?? []
}

/**
 * The JSON request body and binary part the HTTP layer would have for `req`. Raw inputs are views of the message's
 * buffer: one input's bytes are passed as they are; several inputs' are joined once (decodeInferRequest takes one
 * binary part). `deadlineMs` (the call's gRPC deadline, epoch ms) becomes the request's `timeout` parameter unless
 * it has one, so the server drops a request nobody waits for any more.
 */
export function kserveRequest(
  req: ModelInferRequest,
  deadlineMs = Number.POSITIVE_INFINITY,
): { json: Record<string, unknown>; binary?: Buffer } {
  const raws = req.raw_input_contents ?? []
  const parts: Buffer[] = []
  const inputs: Record<string, unknown>[] = []
  for (const t of req.inputs ?? []) {
    const name = t.name ?? ''
    const params = plainParameters(t.parameters)
    const input: Record<string, unknown> = { name, datatype: t.datatype ?? '', shape: t.shape ?? [] }
    const inShm = params.shared_memory_region !== undefined || params.shared_memory_byte_size !== undefined
    if (t.contents) {
      if (raws.length > 0)
        throw bad(
          `input "${name}": has typed contents while the request has raw_input_contents (give every input its bytes one way)`,
        )
      input.data = contentsData(t.contents, input.datatype as string, name)
    } else if (!inShm) {
      const raw = raws[parts.length]
      if (raw === undefined)
        throw bad(
          `input "${name}": no data (no contents, no raw_input_contents[${parts.length}], no shared-memory region)`,
        )
      params.binary_data_size = raw.length
      parts.push(raw)
    }
    if (Object.keys(params).length > 0) input.parameters = params
    inputs.push(input)
  }
  if (parts.length < raws.length)
    throw bad(
      `raw_input_contents has ${raws.length} entries, but ${parts.length} input(s) take raw bytes (one entry per input without contents or a shared-memory region, in input order)`,
    )
  const parameters = plainParameters(req.parameters)
  // gRPC answers every output in raw_output_contents; a value of the wrong type is refused as HTTP refuses it
  if (parameters.binary_data_output !== undefined && typeof parameters.binary_data_output !== 'boolean')
    throw bad('parameter "binary_data_output" must be a boolean')
  parameters.binary_data_output = true
  // timeout 0 (Triton's default) is no timeout of the request's own, as when it is absent: the deadline bounds it;
  // one further off than a server timer can hold bounds nothing the model's timeoutMs does not
  const leftMs = deadlineMs - Date.now()
  if ((parameters.timeout === undefined || parameters.timeout === 0) && leftMs <= MAX_TIMER_MS)
    parameters.timeout = Math.max(1, Math.round(leftMs * 1000))
  const json: Record<string, unknown> = { inputs, parameters }
  if (req.id) json.id = req.id
  if (req.outputs && req.outputs.length > 0)
    json.outputs = req.outputs.map((o, i) => {
      const p = plainParameters(o.parameters)
      if (p.binary_data !== undefined && typeof p.binary_data !== 'boolean')
        throw bad(`outputs[${i}]: "binary_data" must be a boolean`)
      if (p.shared_memory_region === undefined && p.shared_memory_byte_size === undefined)
        p.binary_data = true
      return { name: o.name ?? '', parameters: p }
    })
  const binary = parts.length === 0 ? undefined : parts.length === 1 ? parts[0] : Buffer.concat(parts)
  return binary ? { json, binary } : { json }
}

const EMPTY = Buffer.alloc(0)

/**
 * The ModelInferResponse of an answered request: each output's bytes in raw_output_contents (one entry per output,
 * in order; empty for an output written to a shared-memory region, whose parameters say where).
 */
export function inferResponse(
  m: ServiceModel,
  req: DecodedRequest,
  outcome: InferOutcome,
): ModelInferResponse {
  const enc = encodeInferResponse(
    { model_name: m.name, model_version: m.version, parameters: outcome.parameters },
    req,
    outcome.outputs,
  )
  const outputs: ModelInferResponse['outputs'] = []
  const raw: Buffer[] = []
  let b = 0
  for (const o of enc.json.outputs as Record<string, unknown>[]) {
    const { binary_data_size: size, ...params } = (o.parameters ?? {}) as Record<string, unknown>
    const out: ModelInferResponse['outputs'][number] = {
      name: o.name as string,
      datatype: o.datatype as string,
      shape: o.shape as number[],
    }
    if (Object.keys(params).length > 0) out.parameters = parameterMap(params)
    outputs.push(out)
    if (size !== undefined) raw.push(enc.binary?.[b++] ?? EMPTY)
    else if (o.data !== undefined)
      raw.push(encodeElements(o.datatype as Datatype, o.data as (number | boolean)[]))
    else raw.push(EMPTY)
  }
  const res: ModelInferResponse = {
    model_name: m.name,
    model_version: m.version,
    parameters: parameterMap(outcome.parameters),
    outputs,
    raw_output_contents: raw,
  }
  if (req.id !== undefined) res.id = req.id
  return res
}

/** The gRPC status Triton gives for what the HTTP layer answers with `httpStatus`. */
export function grpcCode(httpStatus: number, message = ''): grpc.status {
  switch (httpStatus) {
    case 400:
      // a region registered twice: Triton's shared-memory manager says ALREADY_EXISTS
      return /already in manager/.test(message) ? grpc.status.ALREADY_EXISTS : grpc.status.INVALID_ARGUMENT
    case 404:
      return grpc.status.NOT_FOUND
    case 409:
      return grpc.status.ALREADY_EXISTS
    case 413:
      return grpc.status.RESOURCE_EXHAUSTED
    // a full queue: Triton rejects with UNAVAILABLE (its HTTP front-end says 503)
    case 429:
    case 503:
      return grpc.status.UNAVAILABLE
    case 501:
      return grpc.status.UNIMPLEMENTED
    case 504:
      return grpc.status.DEADLINE_EXCEEDED
    default:
      return httpStatus >= 400 && httpStatus < 500 ? grpc.status.INVALID_ARGUMENT : grpc.status.INTERNAL
  }
}
