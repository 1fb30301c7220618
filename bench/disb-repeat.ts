// The GPU against itself on DISB: every recorded run of a workload's real-time workers alone (whole GPU, nothing
// beside them, the same arrivals: seed 1) is the same experiment, repeated over sessions, machine starts and window
// lengths. Their spread is how far one measurement of a run may sit from another, so it bounds how close a simulator
// (one number per run) can be to every recorded measurement. Prints, per workload, the measured RT mean and p99 over
// the runs (min, median, max, max ÷ min), the simulator's value (the shipped calibration, the runs' own windows), and
// in how many runs the simulator is within `--tolerance` of the GPU.
//   node --import tsx bench/disb-repeat.ts [--profiles profiles/h100] [--tolerance 0.1] RESULTS.json...
import { parseArgs } from 'node:util'
import { loadRealtimeSet, realtimeDrift, resimulateRealtime } from '../src/calibrate/realtime.ts'
import { calibrationFrom } from '../src/execute/sim/index.ts'

const { values: o, positionals } = parseArgs({
  options: {
    profiles: { type: 'string', default: 'profiles/h100' },
    tolerance: { type: 'string', default: '0.1' },
  },
  allowPositionals: true,
})
const tol = Number(o.tolerance)

interface Repeat {
  file: string
  windowS: number
  gpuMean: number
  gpuP99: number
  simMean: number
  simP99: number
}
const byWorkload = new Map<string, Repeat[]>()
let used = 0
for (const file of positionals) {
  const set = (() => {
    try {
      return loadRealtimeSet(file, o.profiles)
    } catch (err) {
      process.stderr.write(`skipped ${file}: ${(err as Error).message}\n`)
      return undefined
    }
  })()
  const alone = set?.runs.filter((r) => r.role === 'rt-alone') ?? []
  if (!set || alone.length === 0) continue
  used++
  const { inputs, calibration } = set
  const sim = resimulateRealtime(alone, inputs, calibrationFrom(calibration))
  realtimeDrift(alone, sim).forEach((d, i) => {
    const g = alone[i]?.metrics.realtime
    const s = sim[i]?.metrics.realtime
    if (!g?.p99Us || !s?.p99Us) return
    const list = byWorkload.get(d.workload) ?? []
    list.push({
      file,
      windowS: Math.round(alone[i]?.windowS ?? 0),
      gpuMean: d.gpu.rtMeanUs,
      gpuP99: g.p99Us,
      simMean: d.sim.rtMeanUs,
      simP99: s.p99Us,
    })
    byWorkload.set(d.workload, list)
  })
}

const ms = (us: number) => (us / 1000).toFixed(3)
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2
}
const spread = (xs: number[]) =>
  `${ms(Math.min(...xs))} / ${ms(median(xs))} / ${ms(Math.max(...xs))} (${(Math.max(...xs) / Math.min(...xs)).toFixed(2)}×)`
const within = (rs: Repeat[], g: (r: Repeat) => number, s: (r: Repeat) => number) =>
  `${rs.filter((r) => Math.abs(s(r) / g(r) - 1) <= tol).length}/${rs.length}`

console.log(
  `The real-time workers alone, every recorded GPU run (${used} results files): measured min / median / max (max ÷ min), ms; the simulator (shipped calibration of ${o.profiles}); runs the simulator is within ${tol * 100}% of`,
)
console.log(
  'workload  runs  windows (s)   RT mean, GPU                       sim     within   RT p99, GPU                        sim      within',
)
for (const [w, rs] of [...byWorkload].sort(([a], [b]) => a.localeCompare(b))) {
  const windows = [...new Set(rs.map((r) => r.windowS))].sort((a, b) => a - b).join(',')
  console.log(
    `${w.padEnd(9)} ${String(rs.length).padStart(4)}  ${windows.padEnd(12)}  ${spread(rs.map((r) => r.gpuMean)).padEnd(33)}  ${ms(median(rs.map((r) => r.simMean)))}   ${within(
      rs,
      (r) => r.gpuMean,
      (r) => r.simMean,
    ).padEnd(
      7,
    )}  ${spread(rs.map((r) => r.gpuP99)).padEnd(33)}  ${ms(median(rs.map((r) => r.simP99)))}   ${within(
      rs,
      (r) => r.gpuP99,
      (r) => r.simP99,
    )}`,
  )
}
