// How well does a power model (power.json of the profile directory, or --power FILE) predict the measured mean power
// of GPU runs, per results file and policy — in particular a partitioned plan's power against its baseline's
// (eclip-fit's search scores requests/J on it)? Re-simulates every GPU run with its plan and the directory's
// calibrated constants, as `eclip calibrate` does (same windows; each run with the plan it recorded, else re-planned
// with the options its bench recorded and --plan-calibration, the calibration it was planned with), and prints
// measured vs predicted mean power: "rates" with the GPU's measured request rates (eclip.power/2 only: what calibrate
// fits on), "sim" with the simulator's own rates and busy SMs (what eclip bench and eclip-fit's evaluator predict).
// SIMULATED predictions only.
//   node --import tsx bench/power-check.ts [--profiles profiles/h100] [--power FILE] [--plan-calibration DIR]
//                                          [--results a,b,...]
import { join } from 'node:path'
import { prepareCases, simulateCases, withPower } from '../src/calibrate/calibrate.ts'
import { recordedRunSet } from '../src/calibrate/run.ts'
import { calibrationFrom, describePower } from '../src/execute/sim/index.ts'
import {
  type PowerModel,
  type Profile,
  type Results,
  type Run,
  readFile,
  type SimCalibration,
  type WorkerSpec,
} from '../src/formats/index.ts'
import { loadGpu, loadPrimitives, loadProfile } from '../src/profile/store.ts'

const args = process.argv.slice(2)
const arg = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? (args[i + 1] ?? def) : def
}
const dir = arg('profiles', 'profiles/h100')
const planCal = arg('plan-calibration', dir)
const files = arg(
  'results',
  'results/h100/batch1/results.json,results/h100/batch8/results.json,results/h100/eclip-fit/batch1/results.json,results/h100/eclip-fit/batch8/results.json',
).split(',')
const gpu = loadGpu(dir)
const primitives = loadPrimitives(dir, gpu)
if (!primitives) throw new Error(`${dir}: no primitives.json`)
const cache = new Map<string, Profile>()
const profileOf = (w: WorkerSpec) => {
  const k = `${w.model}|${w.batch}|${w.dtype}`
  let p = cache.get(k)
  if (!p) {
    p = loadProfile(dir, gpu, w.model, w.batch, w.dtype)
    cache.set(k, p)
  }
  return p
}
const label = (f: string) => f.replace(/^results\/[^/]+\//, '').replace(/\/results\.json$/, '')
const warn = (w: string) => process.stderr.write(`WARNING: ${w}\n`)
const sets = files.map((f) => {
  const results = readFile<Results>('results', f)
  return recordedRunSet(f, results, label(f), planCal, primitives, warn)
})
const cases = await prepareCases({
  sets,
  gpu,
  profilesFor: (ws) => ws.map(profileOf),
  primitives,
  // eclip calibrate's re-simulation windows
  requestsPerWindow: 40,
  minWindowS: 0.1,
  maxWindowS: 1,
})
const cal = calibrationFrom(readFile<SimCalibration>('sim-calibration', join(dir, 'sim-calibration.json')))
const powerFile = arg('power', join(dir, 'power.json'))
const power = readFile<PowerModel>('power', powerFile)
const sim = simulateCases(cases, cal, power)
// eclip.power/2 on the measured request counts (calibrate's withPower, as the fit); eclip.power/1 needs busy SMs the
// GPU cannot observe: the simulator's stand in
const onRates = (c: (typeof cases)[number]) =>
  power.format === 'eclip.power/2' ? withPower(c.gpu, power, c.spec).metrics.meanPowerW : null

interface Row {
  set: string
  run: Run
  sim: Run
  kind: string
  measW: number
  fitW: number
  simW: number
}
const kindOf = (r: Run) => (r.role === 'solo' ? 'solo' : `${r.policy}${r.mode ? `:${r.mode}` : ''}`)
const rows: Row[] = cases.map((c, i) => ({
  set: c.set,
  run: c.gpu,
  sim: sim[i] as Run,
  kind: kindOf(c.gpu),
  measW: c.gpu.metrics.meanPowerW,
  fitW: onRates(c) ?? (sim[i] as Run).metrics.meanPowerW,
  simW: (sim[i] as Run).metrics.meanPowerW,
}))
const mean = (xs: number[]) => xs.reduce((a, x) => a + x, 0) / xs.length
const f1 = (x: number) => x.toFixed(1)
const f3 = (x: number) => x.toFixed(3)
const errors = (rs: { m: number; p: number }[]) => {
  const my = mean(rs.map((r) => r.m))
  const ssr = rs.reduce((a, r) => a + (r.m - r.p) ** 2, 0)
  const sst = rs.reduce((a, r) => a + (r.m - my) ** 2, 0)
  return `bias ${f1(mean(rs.map((r) => r.m - r.p))).padStart(6)} W, RMS ${f1(Math.sqrt(ssr / rs.length)).padStart(5)} W, R² ${f3(1 - ssr / sst).padStart(6)}`
}
const baseOf = (r: Row) =>
  rows.find((b) => b.set === r.set && b.run.mix === r.run.mix && b.kind === 'baseline')

console.log(
  `power model ${powerFile}: ${describePower(power)}; contention ${cal.sharing}, tolerance ${cal.saturationTolerance}, γ ${cal.memoryInterference}; eclip-fit re-planned with ${planCal}`,
)
console.log(
  `\nmeasured − predicted mean power (rates: the model on the GPU's measured request rates${power.format === 'eclip.power/2' ? '' : ' — eclip.power/1 cannot, the simulator stands in'}; sim: the simulator alone)`,
)
const batches = [...new Set(rows.map((r) => r.run.batch))]
const groups: [string, Row[]][] = [
  ...sets.map((s) => [s.label, rows.filter((r) => r.set === s.label)] as [string, Row[]]),
  ...batches.map((b) => [`batch ${b}, all files`, rows.filter((r) => r.run.batch === b)] as [string, Row[]]),
  ['all', rows],
]
for (const [name, rs] of groups)
  console.log(
    `${name.padEnd(20)} ${String(rs.length).padStart(3)} runs  rates: ${errors(rs.map((r) => ({ m: r.measW, p: r.fitW })))}  |  sim: ${errors(rs.map((r) => ({ m: r.measW, p: r.simW })))}`,
  )

console.log(
  '\nper file and policy: mean power W measured / rates / sim; power vs the same mix’s baseline measured / rates / sim; requests/J vs baseline measured / sim',
)
for (const s of sets) {
  const rs = rows.filter((r) => r.set === s.label)
  for (const kind of [...new Set(rs.map((r) => r.kind))]) {
    const g = rs.filter((r) => r.kind === kind)
    let line = `${s.label.padEnd(18)} ${kind.padEnd(19)} ${f1(mean(g.map((r) => r.measW))).padStart(6)} / ${f1(mean(g.map((r) => r.fitW))).padStart(6)} / ${f1(mean(g.map((r) => r.simW))).padStart(6)}`
    const withBase = g.filter((r) => kind !== 'solo' && baseOf(r))
    if (withBase.length > 0) {
      const ratio = (k: 'measW' | 'fitW' | 'simW') =>
        f3(mean(withBase.map((r) => r[k] / ((baseOf(r) as Row)[k] as number))))
      line += `   vs baseline ${ratio('measW')} / ${ratio('fitW')} / ${ratio('simW')}`
      const e = g.filter(
        (r) => r.run.metrics.energyEffVsBaseline !== null && r.sim.metrics.energyEffVsBaseline !== null,
      )
      if (kind !== 'baseline' && e.length > 0)
        line += `   req/J ${f3(mean(e.map((r) => r.run.metrics.energyEffVsBaseline as number)))} / ${f3(mean(e.map((r) => r.sim.metrics.energyEffVsBaseline as number)))}`
    }
    console.log(line)
  }
}
