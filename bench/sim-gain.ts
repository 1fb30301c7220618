// How well the simulator predicts what partitioning gains on the GPU: every recorded H100 run of the paper's mixes
// and ours that has its plan (made again from the profiles, taken from the fixture of eclip-fit-v2's plans, or read
// beside the run) re-simulated with one or more calibrations, and per series the error of each partitioned run's
// STP ÷ its baseline's STP (the ratio eclip-fit's search maximises), signed and absolute, each worker's throughput ÷
// its baseline's, and STP itself (the profiles' whole-GPU rates as both sides' solo rates). `batch1` and `batch8`
// are the runs the shipped contention constants are fitted on (profiles/h100/sim-calibration.json); eclip-fit-v2
// and eclip-fit-floors are held out. Stream-mode runs are left out (their host cost per group is not the contention
// model's).
//   node --import tsx bench/sim-gain.ts [--calibration DIR]... [--per-run]
// With several --calibration directories (their sim-calibration.json), their columns stand side by side.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { type Case, prepareCases } from '../src/calibrate/calibrate.ts'
import { recordedRunSet } from '../src/calibrate/run.ts'
import { type Calibration, calibrationFrom, simulate } from '../src/execute/sim/index.ts'
import {
  type Plan,
  type Profile,
  type Results,
  type Run,
  readFile,
  type SimCalibration,
} from '../src/formats/index.ts'
import { loadGpu, loadPrimitives, profilesIn } from '../src/profile/store.ts'

const PROFILES = 'profiles/h100'
/** The series, each a list of results directories: the calibration's first, then the held-out ones. */
export const SERIES: { name: string; fitted: boolean; sets: string[] }[] = [
  {
    name: 'batch1, batch8 (calibration)',
    fitted: true,
    sets: ['results/h100/batch1', 'results/h100/batch8'],
  },
  {
    name: 'eclip-fit-v2 (held out)',
    fitted: false,
    sets: ['results/h100/eclip-fit-v2/batch1', 'results/h100/eclip-fit-v2/batch8'],
  },
  {
    name: 'eclip-fit-floors (held out)',
    fitted: false,
    sets: [
      'results/h100/eclip-fit-floors/batch8',
      'results/h100/eclip-fit-floors/batch8-repeat',
      'results/h100/eclip-fit-floors/batch1',
      'results/h100/eclip-fit-floors/more-batch8',
    ],
  },
]
const FIXTURE = 'test/measure/fixtures/h100-eclip-fit-v2-plans.json'

/** Every GPU run of the series with its plan, ready to re-simulate (windows as calibrate sizes them). */
export async function loadCases(): Promise<Case[]> {
  const gpu = loadGpu(PROFILES)
  const primitives = loadPrimitives(PROFILES, gpu)
  if (!primitives) throw new Error(`${PROFILES}: no primitives.json`)
  const profilesFor = profilesIn(PROFILES, gpu)
  const fixture = JSON.parse(readFileSync(FIXTURE, 'utf8')) as { plans: Record<string, Plan> }
  const sets = SERIES.flatMap((s) => s.sets).map((set) => {
    const file = join(set, 'results.json')
    const results = readFile<Results>('results', file)
    const s = recordedRunSet(
      file,
      results,
      set,
      PROFILES,
      primitives,
      () => {},
      (w) => process.stderr.write(`${w}\n`),
    )
    return {
      ...s,
      runs: s.runs.filter((r) => r.backend === 'gpu' && r.mode !== 'stream'),
      recordedPlan: (r: Run) => fixture.plans[`${set}|${r.id}`] ?? s.recordedPlan?.(r),
    }
  })
  return prepareCases({
    sets,
    gpu,
    profilesFor,
    primitives,
    requestsPerWindow: 40,
    minWindowS: 0.1,
    maxWindowS: 1,
  })
}

/** Each worker's simulated rate: completed requests ÷ their summed latency over the window (closed loop). */
function simRates(c: Case, cal: Calibration): number[] {
  const r = simulate(c.spec, { calibration: cal })
  return r.workers.map((w) => {
    let n = 0
    let sum = 0
    w.endUs.forEach((e, i) => {
      if (e > r.windowStartUs && e <= r.windowEndUs) {
        n++
        sum += e - (w.startUs[i] as number)
      }
    })
    return sum > 0 ? (n * 1e6) / sum : 0
  })
}

export interface RunError {
  set: string
  mix: string
  policy: string
  /** measured and simulated STP ÷ baseline's STP (profile solo rates on both sides) */
  gpuRatio: number
  simRatio: number
  /** per worker: measured and simulated rate ÷ baseline's */
  workers: { name: string; gpu: number; sim: number }[]
}

/** Every partitioned run's ratios, measured and simulated with `cal`, and each mix run's STP error. */
export function errors(cases: readonly Case[], cal: Calibration) {
  const solo = (c: Case, k: number) => 1e6 / ((c.spec.profiles[k] as Profile).requestUs.at(-1) as number)
  const stpOf = (c: Case, xs: number[]) => xs.reduce((a, x, k) => a + x / solo(c, k), 0)
  const rows = cases.map((c) => ({
    c,
    gpu: c.gpu.workers.map((w) => w.throughputRps),
    sim: simRates(c, cal),
  }))
  const runs: RunError[] = []
  const stp: { set: string; err: number }[] = []
  for (const r of rows) {
    if (r.c.gpu.role !== 'mix') continue
    stp.push({ set: r.c.set, err: stpOf(r.c, r.sim) / stpOf(r.c, r.gpu) - 1 })
    if (r.c.gpu.policy === 'baseline') continue
    const b = rows.find(
      (x) =>
        x.c.set === r.c.set &&
        x.c.gpu.mix === r.c.gpu.mix &&
        x.c.gpu.policy === 'baseline' &&
        x.c.gpu.role === 'mix',
    )
    if (!b) continue
    runs.push({
      set: r.c.set,
      mix: r.c.gpu.mix,
      policy: r.c.gpu.policy,
      gpuRatio: stpOf(r.c, r.gpu) / stpOf(b.c, b.gpu),
      simRatio: stpOf(r.c, r.sim) / stpOf(b.c, b.sim),
      workers: r.c.gpu.workers.map((w, k) => ({
        name: w.name,
        gpu: (r.gpu[k] as number) / (b.gpu[k] as number),
        sim: (r.sim[k] as number) / (b.sim[k] as number),
      })),
    })
  }
  return { runs, stp }
}

const pct = (x: number) => `${x >= 0 ? '+' : '−'}${Math.abs(x * 100).toFixed(1)}%`
const abs = (x: number) => `${(Math.abs(x) * 100).toFixed(1)}%`
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length)

/** One series' summary line per group of runs: signed mean, mean |.|, max |.| of each error. */
export function summary(e: ReturnType<typeof errors>, sets: readonly string[], policy?: string) {
  const runs = e.runs.filter((r) => sets.includes(r.set) && (!policy || r.policy === policy))
  const ratio = runs.map((r) => r.simRatio / r.gpuRatio - 1)
  const worker = runs.flatMap((r) => r.workers.map((w) => w.sim / w.gpu - 1))
  const stp = e.stp.filter((s) => sets.includes(s.set)).map((s) => s.err)
  return {
    runs: runs.length,
    ratio: { mean: mean(ratio), abs: mean(ratio.map(Math.abs)), max: Math.max(0, ...ratio.map(Math.abs)) },
    worker: { abs: mean(worker.map(Math.abs)), max: Math.max(0, ...worker.map(Math.abs)) },
    stp: { mean: mean(stp), abs: mean(stp.map(Math.abs)), max: Math.max(0, ...stp.map(Math.abs)) },
    gpuRatio: mean(runs.map((r) => r.gpuRatio)),
    simRatio: mean(runs.map((r) => r.simRatio)),
  }
}

async function main() {
  const args = process.argv.slice(2)
  const dirs = args.flatMap((a, i) => (args[i - 1] === '--calibration' ? [a] : []))
  if (dirs.length === 0) dirs.push(PROFILES)
  const cases = await loadCases()
  const results = dirs.map((d) => ({
    dir: d,
    e: errors(
      cases,
      calibrationFrom(readFile<SimCalibration>('sim-calibration', join(d, 'sim-calibration.json'))),
    ),
  }))
  console.log(
    `${cases.length} GPU runs re-simulated; per series and policy: STP ÷ baseline's, simulated ÷ measured − 1 (signed mean, mean |·|, max |·|); a worker's rate ÷ baseline's (mean |·|, max); STP itself (signed mean, mean |·|, max); mean STP ratio measured → simulated`,
  )
  for (const s of SERIES) {
    const policies = [
      ...new Set(results[0]?.e.runs.filter((r) => s.sets.includes(r.set)).map((r) => r.policy)),
    ]
    for (const policy of [undefined, ...policies])
      for (const { dir, e } of results) {
        const m = summary(e, s.sets, policy)
        if (m.runs === 0) continue
        console.log(
          `${`${s.name} ${policy ?? 'all'}`.padEnd(44)} ${dir.padEnd(22)} n ${String(m.runs).padStart(2)}  ratio ${pct(m.ratio.mean)} ${abs(m.ratio.abs)} ${abs(m.ratio.max)}  worker ${abs(m.worker.abs)} ${abs(m.worker.max)}` +
            (policy ? '' : `  STP ${pct(m.stp.mean)} ${abs(m.stp.abs)} ${abs(m.stp.max)}`) +
            `  ratio ${m.gpuRatio.toFixed(3)} → ${m.simRatio.toFixed(3)}`,
        )
      }
  }
  if (args.includes('--per-run')) {
    console.log(
      '\nper run: STP ÷ baseline measured, then simulated per calibration; workers measured/simulated ÷ baseline',
    )
    const [first] = results
    first?.e.runs.forEach((r, i) => {
      const sims = results.map(({ e }) => (e.runs[i] as RunError).simRatio.toFixed(3)).join(' / ')
      const ws = r.workers
        .map(
          (w, k) =>
            `${w.name} ${w.gpu.toFixed(2)}/${results.map(({ e }) => ((e.runs[i] as RunError).workers[k]?.sim ?? 0).toFixed(2)).join('/')}`,
        )
        .join(' ')
      console.log(
        `${`${r.set.split('/').slice(2).join('/')} ${r.mix} ${r.policy}`.padEnd(44)} ${r.gpuRatio.toFixed(3)} | ${sims}   ${ws}`,
      )
    })
  }
}

if (import.meta.filename === process.argv[1]) await main()
