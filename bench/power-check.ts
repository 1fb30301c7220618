// How well does the profile directory's power model (power.json: idle W + W per busy SM) predict the measured mean
// power of GPU runs, per results file and policy — in particular a partitioned plan's power against its baseline's
// (eclip-fit's search scores requests/J on it)? Re-simulates every GPU run with its plan and the directory's
// calibrated constants, as `eclip calibrate` does (same windows; eclip-fit's runs re-planned with --plan-calibration,
// the calibration they were planned with), and prints measured vs predicted mean power: "fit" on calibrate's points
// (the simulator's busy SMs scaled to the measured request rates), "sim" on the simulator's own busy SMs and rates
// (what eclip bench and eclip-fit's evaluator predict). Then, for comparison, a plan-independent form fitted by least
// squares on the same runs: P = idle + c · A, A = Σ_w measured req/s_w × the SM·s one request needs with each kernel
// at its right-size (tolerance τ) on the whole GPU (DESIGN §6's ideal-packing area). SIMULATED predictions only.
//   node --import tsx bench/power-check.ts [--profiles profiles/h100] [--plan-calibration DIR] [--results a,b,...]
import { join } from 'node:path'
import { replanner } from '../src/cli/commands/calibrate.ts'
import { calibrationFrom } from '../src/execute/sim/index.ts'
import {
  type PowerModel,
  type Profile,
  type Results,
  type Run,
  readFile,
  type SimCalibration,
  type WorkerSpec,
} from '../src/formats/index.ts'
import { powerPoints, prepareCases, simulateCases } from '../src/measure/calibrate.ts'
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
const sets = files.map((f) => ({ label: label(f), runs: readFile<Results>('results', f).runs }))
const cases = await prepareCases({
  sets,
  gpu,
  profilesFor: (ws) => ws.map(profileOf),
  primitives,
  planner: replanner(planCal, primitives, (w) => process.stderr.write(`WARNING: ${w}\n`)),
  // eclip calibrate's re-simulation windows
  requestsPerWindow: 40,
  minWindowS: 0.1,
  maxWindowS: 1,
})
const cal = calibrationFrom(readFile<SimCalibration>('sim-calibration', join(dir, 'sim-calibration.json')))
const power = readFile<PowerModel>('power', join(dir, 'power.json'))
const sim = simulateCases(cases, cal, power)
const scaled = powerPoints(cases, sim, cal.saturationTolerance, true)
const own = powerPoints(cases, sim, cal.saturationTolerance, false)
if (scaled.length !== cases.length || own.length !== cases.length)
  throw new Error('a run without power or SMs')

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
  fitW: power.idleW + power.wPerBusySm * (scaled[i]?.busySms ?? 0),
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
  `power model ${dir}/power.json: ${f1(power.idleW)} W + ${f3(power.wPerBusySm)} W per busy SM; contention ${cal.sharing}, tolerance ${cal.saturationTolerance}, γ ${cal.memoryInterference}; eclip-fit re-planned with ${planCal}`,
)
console.log(
  '\nmeasured − predicted mean power (fit: busy SMs scaled to the measured rates; sim: the simulator alone)',
)
const batches = [...new Set(rows.map((r) => r.run.batch))]
const groups: [string, Row[]][] = [
  ...sets.map((s) => [s.label, rows.filter((r) => r.set === s.label)] as [string, Row[]]),
  ...batches.map((b) => [`batch ${b}, all files`, rows.filter((r) => r.run.batch === b)] as [string, Row[]]),
  ['all', rows],
]
for (const [name, rs] of groups)
  console.log(
    `${name.padEnd(20)} ${String(rs.length).padStart(3)} runs  fit: ${errors(rs.map((r) => ({ m: r.measW, p: r.fitW })))}  |  sim: ${errors(rs.map((r) => ({ m: r.measW, p: r.simW })))}`,
  )

console.log(
  '\nper file and policy: mean power W measured / fit / sim; power vs the same mix’s baseline measured / fit / sim; requests/J vs baseline measured / sim',
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

// the plan-independent form, on measured rates
const areaS = (p: Profile, tol: number) => {
  const S = p.sizes.length
  let a = 0
  for (const k of p.kernels) {
    const full = k.timesUs[S - 1] ?? 0
    let d = p.sizes[S - 1] as number
    for (let i = 0; i < S; i++)
      if ((k.timesUs[i] ?? 0) <= full * (1 + tol)) {
        d = p.sizes[i] as number
        break
      }
    a += d * full
  }
  return a / 1e6
}
console.log(
  '\nplan-independent form P = idle + c · A (A: measured req/s × right-size SM·s per request on the whole GPU), least squares over the same runs',
)
for (const tol of [0, 0.05, 0.1, 0.2]) {
  const A = rows.map((r) =>
    r.run.workers.reduce(
      (a, w) =>
        a +
        w.throughputRps *
          areaS(profileOf({ name: w.name, model: w.model, batch: w.batch, dtype: w.dtype }), tol),
      0,
    ),
  )
  const n = rows.length
  const mx = mean(A)
  const my = mean(rows.map((r) => r.measW))
  let sxx = 0
  let sxy = 0
  rows.forEach((r, i) => {
    sxx += ((A[i] as number) - mx) ** 2
    sxy += ((A[i] as number) - mx) * (r.measW - my)
  })
  const c = sxy / sxx
  const idle = my - c * mx
  const pred = (i: number) => idle + c * (A[i] as number)
  const err = (pick: (r: Row) => boolean) =>
    errors(rows.flatMap((r, i) => (pick(r) ? [{ m: r.measW, p: pred(i) }] : [])))
  console.log(
    `τ ${tol}: ${f1(idle)} W + ${f3(c)} W per SM of area rate; all ${n} runs ${err(() => true)}; ${batches.map((b) => `batch ${b} ${err((r) => r.run.batch === b)}`).join('; ')}`,
  )
  for (const b of batches) {
    const cells: string[] = []
    for (const kind of [...new Set(rows.map((r) => r.kind))]) {
      if (kind === 'solo' || kind === 'baseline') continue
      const idx = rows.flatMap((r, i) => (r.run.batch === b && r.kind === kind && baseOf(r) ? [i] : []))
      if (idx.length === 0) continue
      const ratio = (p: (i: number) => number) =>
        f3(mean(idx.map((i) => p(i) / p(rows.indexOf(baseOf(rows[i] as Row) as Row)))))
      cells.push(`${kind} ${ratio((i) => (rows[i] as Row).measW)}/${ratio(pred)}`)
    }
    console.log(`   batch ${b}, power vs baseline measured/predicted: ${cells.join('  ')}`)
  }
}
