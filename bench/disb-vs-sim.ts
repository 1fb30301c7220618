// The simulator against recorded DISB runs on the GPU (issue #20: "the same in the simulator within 10%"), with a
// calibration as it is — no fit: each run re-simulated with its recorded plan, seed, arrivals and window
// (src/calibrate/realtime.ts), one table row per run: the RT mean (measured, simulated, error), the increase over
// alone, overall ÷ baseline's, the RT p99's error and the overall throughput's error ("set" reads test: nothing is
// fitted here); then issue #20's four errors per run alone, and per policy how many runs are within the target.
//   node --import tsx bench/disb-vs-sim.ts --results results/h100/rt-gate/fixed/d5/results.json[,more…] \
//     [--profiles profiles/h100] [--calibration FILE] [--target 0.1]
// --calibration: a sim-calibration.json to use instead of the profile directory's (e.g. an unshipped point).
import { parseArgs } from 'node:util'
import { driftText, loadRealtimeSet, realtimeDrift, resimulateRealtime } from '../src/calibrate/realtime.ts'
import { calibrationFrom } from '../src/execute/sim/index.ts'
import { readFile, type SimCalibration } from '../src/formats/index.ts'

const { values: o } = parseArgs({
  options: {
    results: { type: 'string', default: 'results/h100/rt-gate/fixed/d5/results.json' },
    profiles: { type: 'string', default: 'profiles/h100' },
    calibration: { type: 'string' },
    target: { type: 'string', default: '0.1' },
  },
})
const target = Number(o.target)
const pct = (x: number) => `${(x * 100).toFixed(0)}%`
for (const file of o.results.split(',').filter((f) => f !== '')) {
  const set = loadRealtimeSet(file, o.profiles)
  const calFile = o.calibration ?? set.calibrationFile
  const cal = o.calibration ? readFile<SimCalibration>('sim-calibration', o.calibration) : set.calibration
  const drift = realtimeDrift(set.runs, resimulateRealtime(set.runs, set.inputs, calibrationFrom(cal)))
  console.log(`${file} (calibration ${calFile}: sharing ${cal.sharing}):\n${driftText(drift, [])}`)
  // issue #20's four errors per run, sim ÷ GPU − 1 (overall ÷ baseline: of the ratio; none for baseline and alone)
  const e = (x: number | null) => (x === null ? '–' : `${x >= 0 ? '+' : '−'}${Math.abs(x * 100).toFixed(1)}%`)
  console.log('run                    RT mean  RT p99  overall  overall ÷ baseline')
  for (const d of drift)
    console.log(
      `${`${d.workload} ${d.role === 'rt-alone' ? 'alone' : d.policy}`.padEnd(22)} ${e(d.rtMean).padStart(7)} ${e(d.rtP99).padStart(7)} ${e(d.overall).padStart(8)} ${e(d.overallVsBaseline).padStart(8)}`,
    )
  const kinds = [...new Set(drift.map((d) => (d.role === 'rt-alone' ? 'alone' : d.policy)))]
  for (const k of kinds) {
    const ds = drift.filter((d) => (d.role === 'rt-alone' ? 'alone' : d.policy) === k)
    const within = (f: (d: (typeof ds)[number]) => number | null) => {
      const xs = ds.map(f).filter((x): x is number => x !== null)
      return xs.length ? `${xs.filter((x) => Math.abs(x) <= target).length}/${xs.length}` : '–'
    }
    console.log(
      `  ${k.padEnd(10)} within ${pct(target)}: RT mean ${within((d) => d.rtMean)}, RT p99 ${within((d) => d.rtP99)}, overall ${within((d) => d.overall)}, overall ÷ baseline ${within((d) => d.overallVsBaseline)}`,
    )
  }
  console.log('')
}
