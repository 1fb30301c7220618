// Building blocks shared by several file formats. Every format carries a `format` tag with a version so a reader
// can refuse a file written for another version instead of misreading it.
import Type from 'typebox'

export const DTYPES = ['fp16', 'bf16', 'fp32'] as const
export const Dtype = Type.Enum([...DTYPES])
export type Dtype = Type.Static<typeof Dtype>

export const Dim3 = Type.Tuple([
  Type.Integer({ minimum: 1 }),
  Type.Integer({ minimum: 1 }),
  Type.Integer({ minimum: 1 }),
])
export type Dim3 = Type.Static<typeof Dim3>

/** Which GPU a profile, plan or result belongs to: enough to refuse mixing GPUs inside one comparison. */
export const GpuRef = Type.Object(
  {
    name: Type.String({ minLength: 1 }),
    smCount: Type.Integer({ minimum: 1 }),
    sliceSize: Type.Integer({ minimum: 1 }),
  },
  { additionalProperties: false },
)
export type GpuRef = Type.Static<typeof GpuRef>

/** How, when and with what a file was made. `method: "synthetic"` marks generated data that no GPU measured. */
export const Provenance = Type.Object(
  {
    date: Type.String({ minLength: 1 }),
    method: Type.String({ minLength: 1 }),
    tool: Type.String({ minLength: 1 }),
    host: Type.Optional(Type.String()),
    gpu: Type.Optional(Type.String()),
    driver: Type.Optional(Type.String()),
    cuda: Type.Optional(Type.String()),
    torch: Type.Optional(Type.String()),
    python: Type.Optional(Type.String()),
    notes: Type.Optional(Type.String()),
  },
  { additionalProperties: true },
)
export type Provenance = Type.Static<typeof Provenance>

export const ModelName = Type.String({ minLength: 1, pattern: '^[A-Za-z0-9_.:/-]+$' })

/** What a command that runs an experiment adds to its results' provenance (`eclip bench`, `eclip serve-bench`). */
export const CommandProvenance = Type.Object({
  eclip: Type.String(),
  node: Type.String(),
  seed: Type.Integer(),
  command: Type.String(),
  warnings: Type.Array(Type.String()),
})
