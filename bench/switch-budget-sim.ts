// The simulator against the GPU on eclip-fit's switch budget (results/h200/switch-budget): every GPU run of the
// given results files re-simulated with its recorded plan under the profile directory's calibration and under the
// same with each graph edge given (µs per partition switch inside a request's graph), and per mix the STP ratio to
// baseline, measured and simulated, of each file; with two files of the same mixes (two budgets), the change
// between them, measured and as each calibration predicts it.
//   node --import tsx bench/switch-budget-sim.ts --profiles DIR [--edge US]... A.json,B.json[,…] …
// Files joined by commas are one arm recorded in parts; two arms are compared (the first is the reference).
import { join } from 'node:path'
import { prepareCases } from '../src/calibrate/calibrate.ts'
import { recordedRunSet } from '../src/calibrate/run.ts'
import { calibrationFrom } from '../src/execute/sim/index.ts'
import { type Results, readFile, type SimCalibration } from '../src/formats/index.ts'
import { loadGpu, loadPrimitives, profilesIn } from '../src/profile/store.ts'
import { errors } from './sim-gain.ts'

const args = process.argv.slice(2)
const take = (flag: string) => {
  const out: string[] = []
  for (let i = args.indexOf(flag); i >= 0; i = args.indexOf(flag)) out.push(...args.splice(i, 2).slice(1))
  return out
}
const [dir] = take('--profiles')
if (!dir) throw new Error('--profiles DIR')
const edges = take('--edge').map(Number)
const arms = args.map((a) => a.split(','))
const gpu = loadGpu(dir)
const primitives = loadPrimitives(dir, gpu)
if (!primitives) throw new Error(`${dir}: no primitives.json`)
const shipped = readFile<SimCalibration>('sim-calibration', join(dir, 'sim-calibration.json'))
const cals = [
  {
    label: `shipped (edge ${shipped.switchGraphEdgeUs !== undefined ? `${shipped.switchGraphEdgeUs} µs` : `${primitives.switchGraphEdge?.medianUs} µs, primitives'`})`,
    cal: calibrationFrom(shipped),
  },
  ...edges.map((e) => ({
    label: `edge ${e} µs`,
    cal: calibrationFrom({ ...shipped, switchGraphEdgeUs: e }),
  })),
]
const cases = await prepareCases({
  sets: arms.flatMap((files, a) =>
    files.map((file) => {
      const results = readFile<Results>('results', file)
      const warn = (w: string) => process.stderr.write(`${w}\n`)
      const set = recordedRunSet(file, results, `arm${a}`, dir, primitives, warn)
      return { ...set, runs: set.runs.filter((r) => r.backend === 'gpu' && r.mode !== 'stream') }
    }),
  ),
  gpu,
  profilesFor: profilesIn(dir, gpu),
  primitives,
  requestsPerWindow: 40,
  minWindowS: 0.1,
  maxWindowS: 1,
})
const per = cals.map(({ cal }) => errors(cases, cal).runs)
const mixes = [...new Set(per[0]?.map((r) => r.mix))]
const at = (k: number, arm: number, mix: string) =>
  per[k]?.find((r) => r.set === `arm${arm}` && r.mix === mix)
const f = (x: number | undefined) => (x === undefined ? '    –' : x.toFixed(3))
console.log(`calibrations: ${cals.map((c, k) => `[${k}] ${c.label}`).join('; ')}`)
console.log(
  `mix     ${arms.map((_, a) => `arm${a} GPU  ${cals.map((_, k) => `sim[${k}]`).join('  ')}`).join('  ')}${arms.length > 1 ? `  Δ GPU   ${cals.map((_, k) => `Δ sim[${k}]`).join(' ')}` : ''}`,
)
const sums = new Array(cals.length).fill(0)
const absErr = new Array(cals.length).fill(0)
// a mix one arm lacks (its part stopped before it) is shown, not counted in the change's scores
let both = 0
for (const mix of mixes) {
  const cols = arms.map((_, a) =>
    [at(0, a, mix)?.gpuRatio, ...cals.map((_, k) => at(k, a, mix)?.simRatio)].map(f).join('  '),
  )
  let delta = ''
  if (arms.length > 1) {
    const d = (k: number, key: 'gpuRatio' | 'simRatio') =>
      (at(k, 1, mix)?.[key] ?? Number.NaN) - (at(k, 0, mix)?.[key] ?? Number.NaN)
    const g = d(0, 'gpuRatio')
    const s = cals.map((_, k) => d(k, 'simRatio'))
    if (!Number.isNaN(g)) {
      both++
      s.forEach((x, k) => {
        sums[k] += Math.sign(x) === Math.sign(g) || Math.abs(g) < 0.005 ? 1 : 0
        absErr[k] += Math.abs(x - g)
      })
    }
    const signed = (x: number) => (Number.isNaN(x) ? '     –' : `${x >= 0 ? '+' : ''}${x.toFixed(3)}`)
    delta = `  ${signed(g)}  ${s.map((x) => signed(x).padStart(9)).join(' ')}`
  }
  console.log(`${mix.padEnd(6)}  ${cols.join('    ')}${delta}`)
}
if (arms.length > 1 && both > 0)
  console.log(
    cals
      .map(
        (c, k) =>
          `[${k}] ${c.label}: Δ's sign right (or |Δ GPU| < 0.005) in ${sums[k]} of ${both}, mean |Δ sim − Δ GPU| ${(absErr[k] / both).toFixed(3)}${both < mixes.length ? ` (${mixes.length - both} mix(es) in one arm only)` : ''}`,
      )
      .join('\n'),
  )
