// GPU description: the SM layout as read off the device by the GPU backend (never hard-coded).
// A slice is one group of ONE device-wide split at the device's minimum partition size; the split's leftover SMs
// form one remainder slice that cannot be split again. Partitions are unions of slices of this one split.
import Type from 'typebox'
import { Provenance } from './common.ts'

export const Slice = Type.Object(
  {
    id: Type.Integer({ minimum: 0 }),
    sms: Type.Integer({ minimum: 1 }),
    remainder: Type.Boolean(),
    /** SM ids this slice ran on, from an %smid probe; absent when not probed. */
    smIds: Type.Optional(Type.Array(Type.Integer({ minimum: 0 }))),
  },
  { additionalProperties: false },
)
export type Slice = Type.Static<typeof Slice>

export const Gpu = Type.Object(
  {
    format: Type.Literal('eclip.gpu/1'),
    name: Type.String({ minLength: 1 }),
    uuid: Type.Optional(Type.String()),
    computeCapability: Type.String(),
    smCount: Type.Integer({ minimum: 1 }),
    sliceSize: Type.Integer({ minimum: 1 }),
    smCoscheduledAlignment: Type.Integer({ minimum: 1 }),
    memoryBytes: Type.Optional(Type.Integer({ minimum: 0 })),
    slices: Type.Array(Slice, { minItems: 1 }),
    measured: Provenance,
  },
  { additionalProperties: false },
)
export type Gpu = Type.Static<typeof Gpu>

/** Regular (non-remainder) slices, in id order. */
export function regularSlices(gpu: Gpu): Slice[] {
  return gpu.slices.filter((s) => !s.remainder).sort((a, b) => a.id - b.id)
}

/**
 * The partition sizes eclip profiles and plans with: 1 … n regular slices, then the whole GPU (which also holds the
 * remainder). H100: 8, 16, …, 120, 132.
 */
export function partitionSizes(gpu: Gpu): number[] {
  const sizes: number[] = []
  let sum = 0
  for (const s of regularSlices(gpu)) {
    sum += s.sms
    sizes.push(sum)
  }
  if (sizes[sizes.length - 1] !== gpu.smCount) sizes.push(gpu.smCount)
  return sizes
}

/** Checks that the slices add up to the SM count and ids are 0..n-1: the schema cannot say this. */
export function gpuConsistencyErrors(gpu: Gpu): string[] {
  const errors: string[] = []
  const total = gpu.slices.reduce((a, s) => a + s.sms, 0)
  if (total !== gpu.smCount) errors.push(`/slices: slice SMs add up to ${total}, not smCount ${gpu.smCount}`)
  gpu.slices.forEach((s, i) => {
    if (s.id !== i) errors.push(`/slices/${i}/id: expected ${i}, got ${s.id}`)
    if (!s.remainder && s.sms !== gpu.sliceSize)
      errors.push(`/slices/${i}/sms: a regular slice has sliceSize (${gpu.sliceSize}) SMs, got ${s.sms}`)
  })
  if (gpu.slices.filter((s) => s.remainder).length > 1) errors.push('/slices: more than one remainder slice')
  return errors
}
