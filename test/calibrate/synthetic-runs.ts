// Calibration tests' "measurements": simulated runs on the synthetic H100 and its profiles, made with known constants
// and relabelled as GPU runs, and their re-simulation cases in the same windows and seeds (so that the constants
// that made them reproduce them exactly).
import { copyFileSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { handPlanner } from '../../bench/hand-planner.ts'
import { runExperiment } from '../../src/bench/experiment.ts'
import { type PrepareOptions, prepareCases } from '../../src/calibrate/calibrate.ts'
import { type Calibration, defaultPrimitives, SimBackend } from '../../src/execute/sim/index.ts'
import type { Mix, Policy, PowerModel, Run, SimCalibration } from '../../src/formats/index.ts'
import { syntheticH100Gpu, syntheticProfile } from '../../src/profile/synthetic.ts'

export const gpu = syntheticH100Gpu()
export const gpuRef = { name: gpu.name, smCount: gpu.smCount, sliceSize: gpu.sliceSize }
export const profilesFor = (ws: { model: string; batch: number; dtype: 'fp16' | 'bf16' | 'fp32' }[]) =>
  ws.map((w) => syntheticProfile({ model: w.model, batch: w.batch, dtype: w.dtype, gpu }))
export const WINDOW_S = 0.04

/** Simulated runs of `mixes` made with `cal` and `power` (hand-made plans, closed loop, one window). */
export function simulatedRuns(o: {
  cal: Calibration
  power: PowerModel
  mixes: Mix[]
  policies: Policy[]
  modes: ('stream' | 'graph')[]
  solo: boolean
}): Promise<Run[]> {
  return runExperiment({
    mixes: o.mixes,
    policies: o.policies,
    modes: o.modes,
    batch: null,
    gpu,
    profilesFor,
    primitives: defaultPrimitives(gpuRef),
    power: o.power,
    backend: new SimBackend(o.cal),
    planner: handPlanner,
    loop: { kind: 'closed' },
    warmupS: WINDOW_S / 10,
    windowS: WINDOW_S,
    seed: 3,
    solo: o.solo,
  })
}

/** The same runs relabelled as measured on the GPU. */
export const asGpu = (runs: Run[]): Run[] => runs.map((r) => ({ ...r, backend: 'gpu', id: `${r.key}|gpu` }))

/** Re-simulation cases of `sets`, in the measurements' own window. */
export const prepare = (sets: PrepareOptions['sets']) =>
  prepareCases({
    sets,
    gpu,
    profilesFor,
    primitives: defaultPrimitives(gpuRef),
    planner: handPlanner,
    requestsPerWindow: 1,
    minWindowS: WINDOW_S,
    maxWindowS: WINDOW_S,
  })

/** A copy of the shipped H100 profile directory (its JSON files) whose sim-calibration.json is `cal`. */
export function h100DirWith(cal: SimCalibration): string {
  const dir = mkdtempSync(join(tmpdir(), 'eclip-cal-h100-'))
  for (const f of readdirSync('profiles/h100').filter((x) => x.endsWith('.json')))
    copyFileSync(join('profiles/h100', f), join(dir, f))
  writeFileSync(join(dir, 'sim-calibration.json'), JSON.stringify(cal))
  return dir
}
