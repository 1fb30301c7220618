// The priority probe (results/h100/stream-priorities/probe/, gpu/scripts/priority-probe.py) re-simulated on a grid
// of contention constants. Per grid point: the RMS of log(simulated ÷ measured) of each worker's share of its solo
// rate with none raised and with each set raised, and the RMS of the error in the STP that raising gains (simulated
// ratio − measured ratio). Each grid point's constants replace the shipped calibration's
// (profiles/h100/sim-calibration.json) where given; V=1 prints each mix's shares with none raised.
//   node --import tsx bench/priority-grid.ts results/h100/stream-priorities/probe/b1.json 1 '[{"coresidency":0.5}]'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { resolveMix } from '../src/cli/commands/plan.ts'
import type { Calibration } from '../src/execute/sim/contention.ts'
import { simInputs } from '../src/execute/sim/inputs.ts'
import { scorePlan } from '../src/execute/sim/score.ts'
import { expandWorkers } from '../src/formats/mix.ts'
import { makePlan } from '../src/plan/index.ts'
import { loadGpu, profilesIn } from '../src/profile/store.ts'

/** One mix of the probe's file: per arm (alone, none, hi:<raised workers>) the median rate of each worker. */
interface ProbeRow {
  mix: string
  median: Record<string, number[]>
  stp: Record<string, number>
}

const [file, batchArg, gridArg] = process.argv.slice(2)
if (!file || !batchArg) throw new Error('usage: priority-grid.ts PROBE.json BATCH [GRID-JSON]')
const batch = Number(batchArg)
const grid = JSON.parse(gridArg ?? '[{}]') as Partial<Calibration>[]
const ROOT = join(import.meta.dirname, '..')
const dir = join(ROOT, 'profiles/h100')
const gpu = loadGpu(dir)
const { inputs } = simInputs(gpu, { dir })
const profilesFor = profilesIn(dir, gpu)
const probe = JSON.parse(readFileSync(file, 'utf8')) as { rows: ProbeRow[] }

const cases = []
for (const row of probe.rows) {
  const more = row.mix.startsWith('more')
  const mix = resolveMix(more ? join(ROOT, 'mixes/more.yaml') : row.mix, more ? row.mix : undefined)
  const workers = expandWorkers(mix).map((w) => ({ ...w, batch }))
  const ps = profilesFor(workers)
  const base = await makePlan(gpu, row.mix, workers, ps, { policy: 'baseline' })
  const solo = ps.map((p) => 1e6 / (p.requestUs.at(-1) as number))
  cases.push({ row, workers, ps, base, solo })
}

const at = (xs: readonly number[], i: number) => xs[i] as number
const rms = (xs: number[]) => Math.sqrt(xs.reduce((a, x) => a + x * x, 0) / xs.length)
for (const g of grid) {
  const run = { ...inputs, calibration: { ...inputs.calibration, ...g }, warmupS: 0.1, windowS: 0.6 }
  const none: number[] = []
  const raised: number[] = []
  const gain: number[] = []
  for (const { row, workers, ps, base, solo } of cases) {
    const alone = row.median.alone as number[]
    const share = (rates: readonly number[], i: number) => at(rates, i) / at(solo, i)
    const stp = (rates: readonly number[]) => rates.reduce((a, _, i) => a + share(rates, i), 0)
    const b = scorePlan(run, base, workers, ps).throughputRps
    const m0 = row.median.none as number[]
    b.forEach((_, i) => {
      none.push(Math.log(share(b, i) / (at(m0, i) / at(alone, i))))
    })
    if (process.env.V)
      console.log(
        `${row.mix}: none raised, share of solo: sim ${b.map((_, i) => share(b, i).toFixed(2)).join('/')} gpu ${m0.map((x, i) => (x / at(alone, i)).toFixed(2)).join('/')}`,
      )
    for (const arm of Object.keys(row.median)) {
      if (!arm.startsWith('hi:')) continue
      const up = arm.slice(3).split('+').map(Number)
      const plan = {
        ...base,
        workers: base.workers.map((w, i) => (up.includes(i) ? { ...w, streamPriority: 'high' as const } : w)),
      }
      const t = scorePlan(run, plan, workers, ps).throughputRps
      const m = row.median[arm] as number[]
      t.forEach((_, i) => {
        raised.push(Math.log(share(t, i) / (at(m, i) / at(alone, i))))
      })
      gain.push(stp(t) / stp(b) - (row.stp[arm] as number) / (row.stp.none as number))
    }
  }
  console.log(
    `${JSON.stringify(g)}  share RMS(log) none raised ${rms(none).toFixed(3)}, raised ${rms(raised).toFixed(3)}; STP gain error RMS ${rms(gain).toFixed(4)}`,
  )
}
