// The simulator's real-time constants (sim-calibration.json's `realtime`: the open-loop issue delay and the priority
// drain, src/execute/sim/contention.ts) fitted to GPU runs with real-time workers, on some workloads, and checked on
// the others (src/calibrate/realtime.ts says how). Prints every run measured beside simulated, before (the file's
// constants) and after the fit; --write puts the fit into the profile directory's sim-calibration.json.
//   node --import tsx bench/realtime-fit.ts [--results results/h100/disb/gpu-bench/results.json]
//     [--profiles profiles/h100] [--fit-on disb-A,disb-C] [--write]
import { writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { parseArgs } from 'node:util'
import {
  driftText,
  fitRealtime,
  loadRealtimeSet,
  realtimeDrift,
  resimulateRealtime,
} from '../src/calibrate/realtime.ts'
import { calibrationFrom } from '../src/execute/sim/index.ts'
import { parseFormat, type SimCalibration } from '../src/formats/index.ts'

const { values: o } = parseArgs({
  options: {
    results: { type: 'string', default: 'results/h100/disb/gpu-bench/results.json' },
    profiles: { type: 'string', default: 'profiles/h100' },
    'fit-on': { type: 'string', default: 'disb-A,disb-C' },
    write: { type: 'boolean', default: false },
  },
})
const fitOn = o['fit-on'].split(',').filter((x) => x !== '')
const { runs, inputs, calibration, calibrationFile } = loadRealtimeSet(o.results, o.profiles)
const workloads = [...new Set(runs.map((r) => r.mix.replace(/:rt-alone$/, '')))]
for (const w of fitOn)
  if (!workloads.includes(w)) throw new Error(`--fit-on ${w}: no such workload in ${o.results}`)
const cal = calibrationFrom(calibration)
const t0 = performance.now()
const before = realtimeDrift(runs, resimulateRealtime(runs, inputs, cal))
const fit = fitRealtime(runs, fitOn, inputs, cal)
const after = realtimeDrift(runs, resimulateRealtime(runs, inputs, { ...cal, realtime: fit }))
const was = cal.realtime
console.log(
  `before (${o.profiles}: ${was ? `issue ${was.openLoopIssueUs} µs, drain ${was.priorityDrainUs} µs` : 'no real-time constants'}):\n${driftText(before, fitOn)}\n`,
)
console.log(
  `fitted on ${fitOn.join(', ')}: openLoopIssueUs ${fit.openLoopIssueUs} (their alone runs' mean |RT mean error| ${(fit.aloneErr * 100).toFixed(1)}%), ` +
    `priorityDrainUs ${fit.priorityDrainUs} (their eclip-rt runs' ${(fit.priorityErr * 100).toFixed(1)}%)` +
    (fit.gateWaitUs !== undefined
      ? `, gateWaitUs ${fit.gateWaitUs} (their gated runs' mean |overall ÷ baseline error| ${((fit.gateErr ?? 0) * 100).toFixed(1)}%)`
      : '') +
    ` in ${((performance.now() - t0) / 1000).toFixed(0)} s:\n${driftText(after, fitOn)}`,
)
if (o.write) {
  const next: SimCalibration = {
    ...calibration,
    realtime: {
      openLoopIssueUs: fit.openLoopIssueUs,
      priorityDrainUs: fit.priorityDrainUs,
      ...(fit.gateWaitUs !== undefined ? { gateWaitUs: fit.gateWaitUs } : {}),
      measured: {
        date: new Date().toISOString().slice(0, 10),
        method: `grid search: openLoopIssueUs on the rt-alone runs, then priorityDrainUs on the eclip-rt runs, of ${fitOn.join(', ')}, each minimising mean |sim ÷ measured − 1| of the RT mean latency${fit.gateWaitUs !== undefined ? "; then gateWaitUs on the gated eclip-rt runs' overall throughput ÷ baseline's" : ''}`,
        tool: 'bench/realtime-fit.ts',
        host: hostname(),
        gpu: inputs.gpu.name,
        notes: `GPU runs of ${o.results} (fitted on ${fitOn.join(', ')}; the other workloads held out), each re-simulated with its recorded plan, seed, arrivals and window; contention constants as above`,
      },
    },
  }
  parseFormat('sim-calibration', next, `${calibrationFile} (about to be written)`)
  writeFileSync(calibrationFile, `${JSON.stringify(next, null, 1)}\n`)
  console.log(`\nwrote ${calibrationFile}`)
}
