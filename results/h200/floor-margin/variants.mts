// Baseline runs of part A re-simulated with the shipped H200 calibration and with one constant changed at a time:
// each worker's simulated rate against the GPU's. Usage, in this folder: node --import tsx variants.mts > variants.txt
import { join } from 'node:path'
import { replaySpec } from '../../../src/calibrate/calibrate.ts'
import { calibrationFrom, simulate } from '../../../src/execute/sim/index.ts'
import {
  readFile,
  type Plan,
  type Profile,
  type Results,
  type SimCalibration,
  type PowerModel,
} from '../../../src/formats/index.ts'
import { buildRun } from '../../../src/measure/metrics.ts'
import { profilesOfPlan } from '../../../src/profile/gemm-target.ts'
import { loadGpu, loadPrimitives, profilesIn } from '../../../src/profile/store.ts'
const ROOT = join(import.meta.dirname, '../../..')
const dir = join(ROOT, 'profiles/h200')
const gpu = loadGpu(dir)
const primitives = loadPrimitives(dir, gpu)
const pf = profilesIn(dir, gpu)
const profileOf = (w: any) =>
  pf([{ name: w.model, model: w.model, batch: w.batch, dtype: w.dtype }])[0] as Profile
const base = readFile<SimCalibration>('sim-calibration', join(dir, 'sim-calibration.json'))
const power = readFile<PowerModel>('power', join(dir, 'power.json'))
const variants: Record<string, any> = {
  shipped: {},
  fair: { sharing: 'fair' },
  fifo: { sharing: 'fifo' },
  k0: { coresidency: 0 },
  g0: { memoryInterference: 0 },
  fp1: { footprint: 1 },
  rho1: { residency: 1 },
  rho025: { residency: 0.25 },
}
for (const [set, mix] of [
  ['A1', 'mix5'],
  ['A2', 'more2'],
  ['A3', 'more4'],
  ['A3', 'more3'],
]) {
  const res = readFile<Results>('results', join(import.meta.dirname, set, 'results.json'))
  for (const pol of ['baseline']) {
    const r = res.runs.find((r) => r.backend === 'gpu' && r.mix === mix && r.policy === pol)!
    const workers = r.workers.map((w) => ({ name: w.name, model: w.model, batch: w.batch, dtype: w.dtype }))
    const plan = readFile<Plan>('plan', join(import.meta.dirname, set, r.planFile!))
    const spec = replaySpec(r, {
      gpu,
      plan,
      workers,
      profiles: profilesOfPlan(plan, workers.map(profileOf)),
      warmupS: 0.1,
      windowS: 1,
      primitives: primitives as any,
      power,
    })
    const out: string[] = []
    for (const [name, v] of Object.entries(variants)) {
      const cal = calibrationFrom({ ...base, ...v })
      const { stats: _s, ...result } = simulate(spec, { calibration: cal })
      const run = buildRun(spec, result, { backend: 'sim' })
      out.push(
        name +
          ': ' +
          run.workers
            .map(
              (w, i) =>
                `${w.name.split('#')[0]} ${w.throughputRps / r.workers[i]!.throughputRps - 1 >= 0 ? '+' : ''}${((w.throughputRps / r.workers[i]!.throughputRps - 1) * 100).toFixed(0)}%`,
            )
            .join(' '),
      )
    }
    console.log(mix, pol, '\n  ' + out.join('\n  '))
  }
}
