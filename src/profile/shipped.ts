// The shipped profile directories (profiles/<gpu>/, each with its gpu.json) and which one is for a given GPU: the
// default of --profiles. On the simulator that is the reference GPU's; on the GPU backend, the directory made on the
// GPU the backend reports, since a plan made from another GPU's profiles is refused by the backend run after run.
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import type { GpuRef } from '../formats/common.ts'
import { UserError } from '../formats/errors.ts'
import { describeGpu, type Gpu } from '../formats/gpu.ts'
import { PROFILES_HOME } from '../paths.ts'
import { loadGpu, sameGpu } from './store.ts'

/**
 * H100 is the reference GPU (docs/design.md); profiles measured on another GPU are the next best thing, labelled as
 * such.
 */
const REFERENCE = 'h100'

/** A profile directory chosen by default, with the warning of a fallback to another GPU than the reference. */
export interface ShippedChoice {
  dir: string
  warning?: string
}

/** Every shipped profile directory (one holding a gpu.json) under `home`, by name. */
export function shippedProfileDirs(home = PROFILES_HOME): string[] {
  if (!existsSync(home)) return []
  return readdirSync(home)
    .sort()
    .map((d) => join(home, d))
    .filter((d) => existsSync(join(d, 'gpu.json')))
}

/** The simulator's default: profiles/h100, else another shipped profiles/<gpu>/ (with a warning), else none. */
export function shippedProfiles(home = PROFILES_HOME): ShippedChoice | undefined {
  const reference = join(home, REFERENCE)
  if (existsSync(join(reference, 'gpu.json'))) return { dir: reference }
  const other = shippedProfileDirs(home)[0]
  if (!other) return undefined
  return {
    dir: other,
    warning: `no H100 profiles (${reference}); simulating with the profiles measured in ${other} — results are for that GPU, not an H100`,
  }
}

/**
 * The GPU backend's default: the shipped directory whose gpu.json is `gpu` (the GPU the backend reported at start).
 * None matching is refused before anything runs, naming this GPU, the shipped directories' GPUs and how to profile it.
 */
export function shippedProfilesFor(gpu: GpuRef | Gpu, home = PROFILES_HOME): ShippedChoice {
  const dirs = shippedProfileDirs(home).map((dir) => ({ dir, gpu: loadGpu(dir) }))
  const match = dirs.find((d) => sameGpu(d.gpu, gpu))
  if (match) return { dir: match.dir }
  const shipped = dirs.length
    ? dirs.map((d) => `${d.dir} (${describeGpu(d.gpu)})`).join('; ')
    : `none in ${home}`
  throw new UserError(
    `the GPU backend runs on ${describeGpu(gpu)}, and no shipped profile directory was made on it (shipped: ${shipped}). ` +
      'Profile this GPU first — ./bin/eclip.mjs profile --models all --batch 1,8 --probe --out profiles/<gpu> ' +
      '(docs/profile.md) — and run again: it is picked by default (or name it: --profiles DIR)',
  )
}
