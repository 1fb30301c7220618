// Profile: per (GPU, model, batch, dtype), the kernels of one request in launch order with each kernel's solo time
// at every partition size, measured by the GPU backend (or generated, marked `measured.method: "synthetic"`).
import Type from 'typebox'
import { Dim3, Dtype, ModelName, Provenance } from './common.ts'
import { GpuIdentity } from './gpu.ts'

export const Kernel = Type.Object(
  {
    index: Type.Integer({ minimum: 0 }),
    name: Type.String({ minLength: 1 }),
    grid: Dim3,
    block: Dim3,
    sharedMemBytes: Type.Integer({ minimum: 0 }),
    /** Solo time in µs at each of the profile's `sizes`, same order. */
    timesUs: Type.Array(Type.Number({ minimum: 0 })),
  },
  { additionalProperties: false },
)
export type Kernel = Type.Static<typeof Kernel>

export const GemmTarget = Type.Object(
  {
    requestUs: Type.Array(Type.Number({ minimum: 0 })),
    kernelSumRatio: Type.Array(Type.Number({ minimum: 0 })),
    timesUs: Type.Array(Type.Array(Type.Number({ minimum: 0 }))),
    /**
     * Sizes (SMs) the target stays off at: with it their capture dispatched another number of ops (its kernels could
     * not be matched to the profile's, not even op by op), so their times above are the profile's own and the GPU
     * backend captures their GEMMs for the whole GPU. Absent: none.
     */
    offSms: Type.Optional(Type.Array(Type.Integer({ minimum: 1 }), { minItems: 1 })),
    /**
     * Sizes (SMs) where the target changed the kernel count, so each op's time with it is laid over the op's default
     * kernels in proportion to their default times: a group of whole ops (the executor switches only at op starts)
     * has its measured time, a single kernel an estimate. Absent: none.
     */
    spreadSms: Type.Optional(Type.Array(Type.Integer({ minimum: 1 }), { minItems: 1 })),
    /**
     * Sizes (SMs) whose convolutions were timed with algorithms benchmarked on that size (conv lanes, docs/design.md
     * §7), where that was faster than cuDNN's own choice: a plan from these times has its worker's convolutions
     * captured so there (`convTargetSms`). Absent: cuDNN's own choice everywhere.
     */
    convSms: Type.Optional(Type.Array(Type.Integer({ minimum: 1 }), { minItems: 1 })),
    /**
     * Each of the profile's ops' span in a replay of the capture with the target (`opSpanUs[op][size]`, µs; the
     * profile's own where its times are, the whole GPU and `offSms`): the top-level `opSpanUs` for these times.
     */
    opSpanUs: Type.Optional(Type.Array(Type.Array(Type.Number({ minimum: 0 })))),
    /**
     * Set in memory only, by src/profile/gemm-target.ts: the profile's own times above are these (a plan made from it
     * captures its GEMMs so). Never in a file.
     */
    inUse: Type.Optional(Type.Literal(true)),
  },
  { additionalProperties: false },
)
export type GemmTarget = Type.Static<typeof GemmTarget>

export const Profile = Type.Object(
  {
    format: Type.Literal('eclip.profile/1'),
    /** The GPU measured on; the slice layout and driver where the profiler recorded them. */
    gpu: GpuIdentity,
    model: ModelName,
    batch: Type.Integer({ minimum: 1 }),
    dtype: Dtype,
    /** Hash of the kernel sequence (names + launch dims): a plan applies only to the graph it was made for. */
    fingerprint: Type.String({ pattern: '^sha256:[0-9a-f]{64}$' }),
    /** Partition sizes in SMs, ascending; the last is the whole GPU. */
    sizes: Type.Array(Type.Integer({ minimum: 1 }), { minItems: 1 }),
    kernels: Type.Array(Kernel, { minItems: 1 }),
    /**
     * Kernel indices at which a new PyTorch op begins. The GPU executor changes partition only between ops (it
     * switches streams at op boundaries while capturing), so a switch is possible only at these kernels.
     * Absent: every kernel may start a group.
     */
    opStarts: Type.Optional(Type.Array(Type.Integer({ minimum: 0 }))),
    /**
     * Each op's span in a replay at each size (`opSpanUs[op][size]`, µs, median): from its first kernel's start to its
     * last kernel's end, the ops those of `opStarts`. Less than the op's kernel times added up where its kernels ran
     * side by side (a grouped convolution's); the simulator and planner then take the op's kernels as that much
     * shorter (src/profile/op-spans.ts; the GEMM target's times by its own `opSpanUs`). Absent: profiled before
     * spans were recorded.
     */
    opSpanUs: Type.Optional(Type.Array(Type.Array(Type.Number({ minimum: 0 })))),
    /** Whole-request latency (one graph replay, median) in µs at each size. */
    requestUs: Type.Array(Type.Number({ minimum: 0 })),
    /** Sum of kernel times over the request latency at each size: how much of the request the kernels explain. */
    kernelSumRatio: Type.Array(Type.Number({ minimum: 0 })),
    /**
     * The request timed again with each matrix product's kernel picked for the partition's SM count (cuBLASLt's SM
     * target, docs/design.md §7; `eclip profile` unless `--no-gemm-target`), at `convSms` with its convolutions'
     * algorithms benchmarked on the partition (`--conv-target`): request latency, kernel-sum ratio and
     * a time per default kernel (`timesUs[kernel][size]`) at each size; at the whole GPU and at `offSms` they are the
     * ones above. Absent: not profiled so, or no size's capture with it could be matched (the notes say so).
     */
    gemmTarget: Type.Optional(GemmTarget),
    repeats: Type.Integer({ minimum: 1 }),
    measured: Provenance,
  },
  { additionalProperties: false },
)
export type Profile = Type.Static<typeof Profile>

export function profileConsistencyErrors(p: Profile): string[] {
  const errors: string[] = []
  const n = p.sizes.length
  for (let i = 1; i < n; i++)
    if ((p.sizes[i] ?? 0) <= (p.sizes[i - 1] ?? 0))
      errors.push(`/sizes/${i}: sizes must be strictly ascending`)
  if ((p.sizes[n - 1] ?? 0) !== p.gpu.smCount)
    errors.push(`/sizes/${n - 1}: the last size must be the whole GPU (${p.gpu.smCount} SMs)`)
  if (p.requestUs.length !== n) errors.push(`/requestUs: ${p.requestUs.length} values for ${n} sizes`)
  for (const [path, spans] of [
    ['/opSpanUs', p.opSpanUs],
    ['/gemmTarget/opSpanUs', p.gemmTarget?.opSpanUs],
  ] as const) {
    if (!spans) continue
    if (!p.opStarts) errors.push(`${path}: spans of ops, but the profile has no opStarts`)
    else if (spans.length !== p.opStarts.length)
      errors.push(`${path}: ${spans.length} ops, opStarts has ${p.opStarts.length}`)
    spans.forEach((r, o) => {
      if (r.length !== n) errors.push(`${path}/${o}: ${r.length} values for ${n} sizes`)
    })
  }
  if (p.kernelSumRatio.length !== n)
    errors.push(`/kernelSumRatio: ${p.kernelSumRatio.length} values for ${n} sizes`)
  p.kernels.forEach((k, i) => {
    if (k.index !== i) errors.push(`/kernels/${i}/index: expected ${i}, got ${k.index}`)
    if (k.timesUs.length !== n)
      errors.push(`/kernels/${i}/timesUs: ${k.timesUs.length} values for ${n} sizes`)
  })
  const t = p.gemmTarget
  if (t) {
    if (t.requestUs.length !== n)
      errors.push(`/gemmTarget/requestUs: ${t.requestUs.length} values for ${n} sizes`)
    if (t.kernelSumRatio.length !== n)
      errors.push(`/gemmTarget/kernelSumRatio: ${t.kernelSumRatio.length} values for ${n} sizes`)
    if (t.timesUs.length !== p.kernels.length)
      errors.push(`/gemmTarget/timesUs: ${t.timesUs.length} kernels, the profile has ${p.kernels.length}`)
    t.timesUs.forEach((r, i) => {
      if (r.length !== n) errors.push(`/gemmTarget/timesUs/${i}: ${r.length} values for ${n} sizes`)
    })
    for (const key of ['offSms', 'spreadSms', 'convSms'] as const)
      t[key]?.forEach((s, i, list) => {
        if (!p.sizes.slice(0, -1).includes(s))
          errors.push(
            `/gemmTarget/${key}/${i}: ${s} is not one of the profile's partition sizes below the whole GPU`,
          )
        else if (i > 0 && s <= (list[i - 1] ?? 0))
          errors.push(`/gemmTarget/${key}/${i}: sizes must be strictly ascending`)
      })
    t.spreadSms?.forEach((s, i) => {
      if (t.offSms?.includes(s))
        errors.push(
          `/gemmTarget/spreadSms/${i}: ${s} SMs is in offSms too (the target is either off or spread)`,
        )
    })
    t.convSms?.forEach((s, i) => {
      if (t.offSms?.includes(s))
        errors.push(
          `/gemmTarget/convSms/${i}: ${s} SMs is in offSms too (where the target is off, so are the conv lanes)`,
        )
    })
  }
  return errors
}

/** File name a profile is stored under inside a profile directory. */
export function profileFileName(model: string, batch: number, dtype: string): string {
  return `${model.replace(/[^A-Za-z0-9_.-]/g, '_')}.b${batch}.${dtype}.json`
}
