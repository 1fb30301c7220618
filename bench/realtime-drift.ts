// The simulator against recorded GPU runs with real-time workers, nothing fitted: each results file's runs
// re-simulated with the plans they executed and the profile directory's calibration as shipped (src/calibrate/
// realtime.ts), measured beside simulated. bench/realtime-fit.ts fits the real-time constants on some of them instead.
//   node --import tsx bench/realtime-drift.ts [--profiles profiles/h100] RESULTS.json...
import { parseArgs } from 'node:util'
import { driftText, loadRealtimeSet, realtimeDrift, resimulateRealtime } from '../src/calibrate/realtime.ts'
import { calibrationFrom } from '../src/execute/sim/index.ts'

const { values: o, positionals } = parseArgs({
  options: { profiles: { type: 'string', default: 'profiles/h100' } },
  allowPositionals: true,
})
for (const file of positionals) {
  const { runs, inputs, calibration } = loadRealtimeSet(file, o.profiles)
  console.log(
    `${file}\n${driftText(realtimeDrift(runs, resimulateRealtime(runs, inputs, calibrationFrom(calibration))), [])}`,
  )
}
