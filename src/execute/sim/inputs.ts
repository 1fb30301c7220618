// The simulator's inputs besides the profiles: switch and launch costs, the power model and the contention constants,
// read from a profile directory or named files (src/profile/store.ts reads them), each missing one the simulator's
// default with a warning that says so. `eclip bench` runs on them, and eclip-fit's evaluator scores plans with them.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { Gpu, PowerModel, Primitives } from '../../formats/index.ts'
import { loadSimFiles, type SimFileSources } from '../../profile/store.ts'
import { CALIBRATION, type Calibration, calibrationFrom } from './contention.ts'
import { defaultPowerModel, defaultPrimitives } from './costs.ts'
import { describePower } from './power.ts'

export interface SimInputs {
  gpu: Gpu
  primitives: Primitives
  power: PowerModel
  calibration: Calibration
}

/**
 * The simulator's inputs for `gpu` from a profile directory and/or named files (none: every default), with one
 * warning per default taken and per placeholder model, and one naming the per-profile γ keys no profile of the
 * directory has.
 */
export function simInputs(gpu: Gpu, from: SimFileSources = {}): { inputs: SimInputs; warnings: string[] } {
  const warnings: string[] = []
  const ref = { name: gpu.name, smCount: gpu.smCount, sliceSize: gpu.sliceSize }
  const files = loadSimFiles(gpu, from)
  const primitives = files.primitives ?? defaultPrimitives(ref)
  if (!files.primitives)
    warnings.push(
      `no ${from.dir ? join(from.dir, 'primitives.json') : 'primitives file'}: default switch and launch costs (docs/design.md §7)`,
    )
  const power = files.power ?? defaultPowerModel(ref)
  if (!power.fitted)
    warnings.push(
      `power model not fitted to NVML (placeholder: ${describePower(power)}): energy and requests/J are indicative only`,
    )
  const calibration = files.calibration ? calibrationFrom(files.calibration) : CALIBRATION
  if (!calibration.fitted)
    warnings.push(
      `contention model not calibrated against GPU runs (${calibration.source}): simulated on neutral constants`,
    )
  // a per-profile constant whose key names no profile of the directory (a typo, a deleted profile) would be used for
  // no worker, silently
  const perProfile = [
    ['a memory interference γ', files.calibration?.profileInterference?.gamma],
    ['an aggressor weight', files.calibration?.profileInterference?.aggressor],
    ['a co-residency κ', files.calibration?.profileCoresidency?.kappa],
  ] as const
  for (const [what, values] of perProfile) {
    const keys = Object.keys(values ?? {})
    const stray = from.dir ? keys.filter((k) => !existsSync(join(from.dir as string, `${k}.json`))) : []
    if (stray.length > 0)
      warnings.push(
        `${from.calibration ?? join(from.dir as string, 'sim-calibration.json')}: ${what} for ${stray.join(', ')}, which name${stray.length === 1 ? 's' : ''} no profile in ${from.dir}: used for no worker (keys are profile file names without .json, e.g. albert.b1.fp16)`,
      )
  }
  return { inputs: { gpu, primitives, power, calibration }, warnings }
}
