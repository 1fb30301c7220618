// A profile directory: `gpu.json` (the device layout), optional `primitives.json`, and one profile per
// (model, batch, dtype) named by `profileFileName()`. This module is the one place that reads such a directory; it
// refuses anything that would silently mix GPUs or plan one graph with another's profile.
import { existsSync, statSync } from 'node:fs'
import { join } from 'node:path'
import type { Dtype, GpuRef } from '../formats/common.ts'
import { UserError } from '../formats/errors.ts'
import type { Gpu } from '../formats/gpu.ts'
import { readFile } from '../formats/index.ts'
import type { WorkerSpec } from '../formats/mix.ts'
import type { Primitives } from '../formats/primitives.ts'
import { type Profile, profileFileName } from '../formats/profile.ts'

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

const sameGpu = (a: GpuRef, b: GpuRef) =>
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
  return p
}

/** Loads the GPU and the profile of every worker (each distinct profile read once), plus primitives if present. */
export function loadProfileSet(dir: string, workers: readonly WorkerSpec[]): ProfileSet {
  const gpu = loadGpu(dir)
  const cache = new Map<string, Profile>()
  const profiles = workers.map((w) => {
    const key = profileFileName(w.model, w.batch, w.dtype)
    let p = cache.get(key)
    if (!p) {
      p = loadProfile(dir, gpu, w.model, w.batch, w.dtype)
      cache.set(key, p)
    }
    return p
  })
  const primitives = loadPrimitives(dir, gpu)
  return { dir, gpu, profiles, ...(primitives ? { primitives } : {}) }
}
