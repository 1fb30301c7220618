// A bench experiment on the simulator with synthetic H100 profiles, for the tests: each names what it varies (mixes,
// policies, planner, loop, window, seed…) and takes the rest from here.
import type { ExperimentOptions } from '../../src/bench/experiment.ts'
import { defaultPowerModel, defaultPrimitives, SimBackend } from '../../src/execute/sim/index.ts'
import { syntheticH100Gpu, syntheticProfile } from '../../src/profile/synthetic.ts'

export const gpu = syntheticH100Gpu()
export const gpuRef = { name: gpu.name, smCount: gpu.smCount, sliceSize: gpu.sliceSize }

type Given = Pick<
  ExperimentOptions,
  'mixes' | 'policies' | 'planner' | 'warmupS' | 'windowS' | 'seed' | 'solo'
>

/** Graph mode, the mixes' own batches, synthetic profiles, default primitives and power, a closed loop. */
export const simExperiment = (o: Given & Partial<ExperimentOptions>): ExperimentOptions => ({
  modes: ['graph'],
  batch: null,
  gpu,
  profilesFor: (ws) =>
    ws.map((w) => syntheticProfile({ model: w.model, batch: w.batch, dtype: w.dtype, gpu })),
  primitives: defaultPrimitives(gpuRef),
  power: defaultPowerModel(gpuRef),
  backend: new SimBackend(),
  loop: { kind: 'closed' },
  ...o,
})
