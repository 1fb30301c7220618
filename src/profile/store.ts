// A profile directory: `gpu.json` (the device layout), optional `primitives.json`, `power.json` and
// `sim-calibration.json`, and one profile per (model, batch, dtype) named by `profileFileName()`. This module is the
// one place that reads such a directory; it refuses anything that would silently mix GPUs or plan one graph with
// another's profile. What the simulator makes of a missing file is src/execute/sim/inputs.ts's.
import { existsSync, statSync } from 'node:fs'
import { join } from 'node:path'
import type { Dtype, GpuRef } from '../formats/common.ts'
import { UserError } from '../formats/errors.ts'
import type { Gpu } from '../formats/gpu.ts'
import { readFile } from '../formats/index.ts'
import type { WorkerSpec } from '../formats/mix.ts'
import type { PowerModel, SimCalibration } from '../formats/power.ts'
import type { Primitives } from '../formats/primitives.ts'
import { type Profile, profileFileName } from '../formats/profile.ts'
import { withGemmTarget } from './gemm-target.ts'
import { withOpSpans } from './op-spans.ts'

export interface ProfileSet {
  dir: string
  gpu: Gpu
  /** One per worker, same order; workers of the same (model, batch, dtype) share one object. */
  profiles: Profile[]
  primitives?: Primitives
}

function requireDir(dir: string) {
  if (!existsSync(dir)) throw new UserError(`${dir}: no such profile directory`)
  if (!statSync(dir).isDirectory())
    throw new UserError(`${dir}: not a directory (expected a profile directory)`)
}

/** Whether two GPU references are the same GPU: name, SM count and slice size (checkSameGpu's test). */
export const sameGpu = (a: GpuRef, b: GpuRef) =>
  a.name === b.name && a.smCount === b.smCount && a.sliceSize === b.sliceSize
const describeGpu = (g: GpuRef) => `${g.name}, ${g.smCount} SMs, slice ${g.sliceSize}`

/** Reads `<dir>/gpu.json`. */
export function loadGpu(dir: string): Gpu {
  requireDir(dir)
  const file = join(dir, 'gpu.json')
  if (!existsSync(file))
    throw new UserError(
      `${dir}: no gpu.json (a profile directory holds the GPU layout its profiles were made on)`,
    )
  return readFile<Gpu>('gpu', file)
}

/** Reads `<dir>/primitives.json` when present; it must be for the same GPU. */
export function loadPrimitives(dir: string, gpu: Gpu): Primitives | undefined {
  const file = join(dir, 'primitives.json')
  if (!existsSync(file)) return undefined
  const p = readFile<Primitives>('primitives', file)
  if (!sameGpu(p.gpu, gpu))
    throw new UserError(
      `${file}: measured on ${describeGpu(p.gpu)}, but ${join(dir, 'gpu.json')} is ${describeGpu(gpu)}`,
    )
  return p
}

/** Reads one profile and checks it is the one asked for, made on `gpu`. */
export function loadProfile(dir: string, gpu: Gpu, model: string, batch: number, dtype: Dtype): Profile {
  const name = profileFileName(model, batch, dtype)
  const file = join(dir, name)
  if (!existsSync(file))
    throw new UserError(
      `${dir}: no profile for model ${model}, batch ${batch}, ${dtype} (expected file ${name}); ` +
        'profile it on the GPU or generate a synthetic directory',
    )
  const p = readFile<Profile>('profile', file)
  if (p.model !== model || p.batch !== batch || p.dtype !== dtype)
    throw new UserError(
      `${file}: holds ${p.model} batch ${p.batch} ${p.dtype}, not ${model} batch ${batch} ${dtype} as its name says`,
    )
  if (!sameGpu(p.gpu, gpu))
    throw new UserError(
      `${file}: profiled on ${describeGpu(p.gpu)}, but ${join(dir, 'gpu.json')} is ${describeGpu(gpu)}; ` +
        'profiles and the GPU layout must come from the same GPU',
    )
  // kernel times held to their ops' spans where the profile has them: what the simulator and planner read
  return withOpSpans(p)
}

/** Workers' profiles, one per (model, batch, dtype) made once however many workers and calls ask for it. */
export type ProfilesFor = (workers: readonly WorkerSpec[]) => Profile[]

/** A ProfilesFor that makes each distinct profile with `make` (read from a directory, or generated) once. */
export function memoProfiles(make: (w: WorkerSpec) => Profile): ProfilesFor {
  const cache = new Map<string, Profile>()
  return (ws) =>
    ws.map((w) => {
      const key = profileFileName(w.model, w.batch, w.dtype)
      let p = cache.get(key)
      if (!p) {
        p = make(w)
        cache.set(key, p)
      }
      return p
    })
}

/** How profiles are read: `gemmTarget`, with the times of GEMMs picked for each partition where a profile has them. */
export interface ProfileReading {
  gemmTarget?: boolean
}

/** The profiles of `dir` (made on `gpu`, its gpu.json), each read once. */
export const profilesIn = (dir: string, gpu: Gpu, how: ProfileReading = {}): ProfilesFor =>
  memoProfiles((w) => {
    const p = loadProfile(dir, gpu, w.model, w.batch, w.dtype)
    return how.gemmTarget ? withGemmTarget(p) : p
  })

/** Loads the GPU and the profile of every worker (each distinct profile read once), plus primitives if present. */
export function loadProfileSet(
  dir: string,
  workers: readonly WorkerSpec[],
  how: ProfileReading = {},
): ProfileSet {
  const gpu = loadGpu(dir)
  const profiles = profilesIn(dir, gpu, how)(workers)
  const primitives = loadPrimitives(dir, gpu)
  return { dir, gpu, profiles, ...(primitives ? { primitives } : {}) }
}

/**
 * A costs, power or calibration file made on another GPU than the profiles' would mix GPUs in one comparison (eclip
 * plan's evaluator inputs and eclip bench's check alike).
 */
export function checkSameGpu(file: string, ref: GpuRef, gpu: Gpu) {
  if (!sameGpu(ref, gpu))
    throw new UserError(
      `${file}: made on ${ref.name} (${ref.smCount} SMs), but the profiles are from ${gpu.name}`,
    )
}

/** Where the simulator's files come from: a profile directory, and files named on the command line instead. */
export interface SimFileSources {
  dir?: string
  primitives?: string
  power?: string
  calibration?: string
}

/** The simulator's files as read: each absent where neither a named file nor the directory has one. */
export interface SimFiles {
  primitives?: Primitives
  power?: PowerModel
  calibration?: SimCalibration
}

/** Reads the simulator's files for `gpu`: each named file, else the directory's when it has one; all for `gpu`. */
export function loadSimFiles(gpu: Gpu, from: SimFileSources): SimFiles {
  const { dir } = from
  const named = <T extends { gpu: GpuRef }>(format: string, file: string): T => {
    const v = readFile<T>(format, file)
    checkSameGpu(file, v.gpu, gpu)
    return v
  }
  const inDir = (name: string) => {
    const file = dir ? join(dir, name) : undefined
    return file && existsSync(file) ? file : undefined
  }
  const primitives = from.primitives
    ? named<Primitives>('primitives', from.primitives)
    : dir
      ? loadPrimitives(dir, gpu)
      : undefined
  const powerFile = from.power ?? inDir('power.json')
  const calibrationFile = from.calibration ?? inDir('sim-calibration.json')
  return {
    ...(primitives ? { primitives } : {}),
    ...(powerFile ? { power: named<PowerModel>('power', powerFile) } : {}),
    ...(calibrationFile ? { calibration: named<SimCalibration>('sim-calibration', calibrationFile) } : {}),
  }
}
