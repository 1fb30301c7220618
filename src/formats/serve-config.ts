// Serve config: what `eclip serve` serves and how. Written by people (YAML or JSON). Relative paths are relative to
// the config file.
import Type from 'typebox'
import { Dtype, ModelName } from './common.ts'
import { MPS_POLICIES, POLICIES } from './plan.ts'

/** The server runs every worker in one backend process: MPS's one process per worker is a bench policy only. */
const ServePolicy = Type.Enum(POLICIES.filter((p) => !(MPS_POLICIES as readonly string[]).includes(p)))

/** The KServe v2 / Triton datatype names eclip accepts (BYTES, strings, is not used by any served model). */
export const KSERVE_DATATYPES = [
  'BOOL',
  'UINT8',
  'UINT16',
  'UINT32',
  'UINT64',
  'INT8',
  'INT16',
  'INT32',
  'INT64',
  'FP16',
  'BF16',
  'FP32',
  'FP64',
] as const
const KserveDatatype = Type.Enum([...KSERVE_DATATYPES])

/** A user model's tensor: shape without the batch dimension (the server puts the batch first). */
export const ServeTensor = Type.Object(
  {
    name: Type.String({ minLength: 1 }),
    datatype: KserveDatatype,
    shape: Type.Array(Type.Integer({ minimum: 1 })),
  },
  { additionalProperties: false },
)
export type ServeTensor = Type.Static<typeof ServeTensor>

export const ServeModel = Type.Object(
  {
    /** KServe model name clients use; defaults to `model` (must be unique in the config). */
    name: Type.Optional(Type.String({ minLength: 1, pattern: '^[A-Za-z0-9_.-]+$' })),
    /** A zoo name (albert, densenet201, …) or the name of a user model given with `source` + `inputs`/`outputs`. */
    model: ModelName,
    /** Batch the model is profiled, planned and run at: the most items one execution carries. */
    batch: Type.Optional(Type.Integer({ minimum: 1, default: 1 })),
    dtype: Type.Optional(Dtype),
    /** Requests that may wait for this model; one more gets 429 with Retry-After. */
    queueSize: Type.Optional(Type.Integer({ minimum: 1, default: 64 })),
    /** From acceptance to answer; a request not answered by then gets 504. */
    timeoutMs: Type.Optional(Type.Integer({ minimum: 1, default: 10000 })),
    /** Most requests merged into one execution (their items up to `batch`); 1 turns dynamic batching off. */
    maxDynamicBatch: Type.Optional(Type.Integer({ minimum: 1 })),
    /** User models: the file the GPU backend loads (TorchScript .pt). */
    source: Type.Optional(Type.String({ minLength: 1 })),
    /** User models: input tensors, shapes without the batch dimension. */
    inputs: Type.Optional(Type.Array(ServeTensor, { minItems: 1 })),
    /** User models: output tensors, shapes without the batch dimension. */
    outputs: Type.Optional(Type.Array(ServeTensor, { minItems: 1 })),
  },
  { additionalProperties: false },
)
export type ServeModel = Type.Static<typeof ServeModel>

export const ServeConfig = Type.Object(
  {
    format: Type.Optional(Type.Literal('eclip.serve/1')),
    host: Type.Optional(Type.String({ minLength: 1, default: '127.0.0.1' })),
    port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535, default: 8000 })),
    /** `sim`: no model runs, compute times from the profiles/plan, responses marked simulated. `gpu`: the GPU backend. */
    backend: Type.Optional(Type.Enum(['sim', 'gpu'])),
    policy: Type.Optional(ServePolicy),
    /** Profile directory (gpu.json + one profile per model/batch/dtype). The sim backend without one uses synthetic profiles. */
    profiles: Type.Optional(Type.String({ minLength: 1 })),
    /** A ready plan for exactly these models, in this order; skips the optimizer. */
    plan: Type.Optional(Type.String({ minLength: 1 })),
    /** Largest request body accepted, bytes (a larger one gets 413). */
    maxBodyBytes: Type.Optional(Type.Integer({ minimum: 1024, default: 64 * 1024 * 1024 })),
    /** How long SIGTERM waits for accepted requests before exiting anyway, ms. */
    drainTimeoutMs: Type.Optional(Type.Integer({ minimum: 0, default: 30000 })),
    /** The simulator's power model (W); its readings are reported as source="simulated". */
    simPower: Type.Optional(
      Type.Object(
        { idleW: Type.Number({ minimum: 0 }), maxW: Type.Number({ minimum: 0 }) },
        { additionalProperties: false },
      ),
    ),
    dashboard: Type.Optional(Type.Boolean({ default: true })),
    models: Type.Array(ServeModel, { minItems: 1 }),
  },
  { additionalProperties: false },
)
export type ServeConfig = Type.Static<typeof ServeConfig>

export function serveConfigConsistencyErrors(c: ServeConfig): string[] {
  const errors: string[] = []
  const seen = new Set<string>()
  c.models.forEach((m, i) => {
    const name = m.name ?? m.model
    if (seen.has(name))
      errors.push(`/models/${i}/name: "${name}" is served twice; give each worker of one model its own name`)
    seen.add(name)
    if ((m.inputs === undefined) !== (m.outputs === undefined))
      errors.push(`/models/${i}: a user model gives both "inputs" and "outputs"`)
    if (m.maxDynamicBatch !== undefined && m.maxDynamicBatch > (m.batch ?? 1))
      errors.push(
        `/models/${i}/maxDynamicBatch: ${m.maxDynamicBatch} requests cannot fit in batch ${m.batch ?? 1}`,
      )
  })
  if (c.simPower && c.simPower.maxW < c.simPower.idleW) errors.push('/simPower/maxW: below idleW')
  return errors
}
