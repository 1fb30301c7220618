// GPU description: the SM layout as read off the device by the GPU backend (never hard-coded).
// A slice is one group of ONE device-wide split at the device's minimum partition size; the split's leftover SMs
// form one remainder slice that cannot be split again. Partitions are unions of slices of this one split.
import Type from 'typebox'
import type { GpuRef } from './common.ts'
import { Provenance } from './common.ts'
import { UserError } from './errors.ts'

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

/**
 * Which GPU a plan or profile was made for: the GpuRef fields plus, where the maker knew them, the slice layout (SMs
 * per slice in id order), the compute capability and the driver. A plan's groups name slices and its partitions' SM
 * counts: on another GPU they mean other hardware, so executors refuse it (checkMadeFor).
 */
export const GpuIdentity = Type.Object(
  {
    name: Type.String({ minLength: 1 }),
    smCount: Type.Integer({ minimum: 1 }),
    sliceSize: Type.Integer({ minimum: 1 }),
    computeCapability: Type.Optional(Type.String()),
    slices: Type.Optional(Type.Array(Type.Integer({ minimum: 1 }), { minItems: 1 })),
    driver: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
)
export type GpuIdentity = Type.Static<typeof GpuIdentity>

/** The identity of a described GPU (what makePlan writes into a plan). */
export function gpuIdentity(gpu: Gpu): GpuIdentity {
  return {
    name: gpu.name,
    smCount: gpu.smCount,
    sliceSize: gpu.sliceSize,
    computeCapability: gpu.computeCapability,
    slices: gpu.slices.map((s) => s.sms),
    ...(gpu.measured.driver ? { driver: gpu.measured.driver } : {}),
  }
}

const identityOf = (g: Gpu | GpuIdentity | GpuRef): GpuIdentity =>
  'format' in g ? gpuIdentity(g) : (g as GpuIdentity)

/** "NVIDIA H100 80GB HBM3, 132 SMs, slices 15×8+12, cc 9.0, driver 580.159.04": as much as is known. */
export function describeGpu(g: Gpu | GpuIdentity | GpuRef): string {
  const id = identityOf(g)
  const parts = [id.name, `${id.smCount} SMs`]
  if (id.slices) {
    const regular = id.slices.filter((n) => n === id.sliceSize).length
    const rest = id.slices.filter((n) => n !== id.sliceSize)
    parts.push(`slices ${[`${regular}×${id.sliceSize}`, ...rest].join('+')}`)
  } else parts.push(`slice ${id.sliceSize}`)
  if (id.computeCapability) parts.push(`cc ${id.computeCapability}`)
  if (id.driver) parts.push(`driver ${id.driver}`)
  return parts.join(', ')
}

/**
 * What differs between the GPU something was made for and this one, or undefined when they are the same GPU. Fields
 * one side does not know are not compared; the driver never refuses (a driver update keeps the SM layout).
 */
export function gpuMismatch(
  made: Gpu | GpuIdentity | GpuRef,
  here: Gpu | GpuIdentity | GpuRef,
): string | undefined {
  const a = identityOf(made)
  const b = identityOf(here)
  if (a.name !== b.name) return 'name'
  if (a.smCount !== b.smCount) return 'SM count'
  if (a.sliceSize !== b.sliceSize) return 'slice size'
  if (a.computeCapability && b.computeCapability && a.computeCapability !== b.computeCapability)
    return 'compute capability'
  if (a.slices && b.slices && a.slices.join(',') !== b.slices.join(',')) return 'slice layout'
  return undefined
}

/**
 * Refuses `what` (a plan, a profile) made for another GPU than `here`, saying which and what differs. `whose` says
 * where `here` comes from when it is not the GPU itself ("the profile directory's").
 */
export function checkMadeFor(
  what: string,
  made: Gpu | GpuIdentity | GpuRef,
  here: Gpu | GpuIdentity | GpuRef,
  whose?: string,
): void {
  const diff = gpuMismatch(made, here)
  if (diff)
    throw new UserError(
      `${what} was made for another GPU (${describeGpu(made)}), this is ${describeGpu(here)}` +
        `${whose ? ` (${whose})` : ''}: ${diff} differs; re-profile and re-plan on this GPU`,
    )
}
