// The simulator's real-time constants (sim-calibration.json's `realtime`: the open-loop issue delay, its jitter and
// the priority drain, src/execute/sim/contention.ts) fitted to GPU runs with real-time workers, on some workloads,
// and checked on the others (src/calibrate/realtime.ts says how). Prints every run measured beside simulated, before
// (the file's constants) and after the fit; --write puts the fit into the profile directory's sim-calibration.json.
// --jitter-only fits the issue delay's jitter alone, keeping the file's other real-time constants (a minute instead
// of several).
//   node --import tsx bench/realtime-fit.ts [--results results/h100/disb/gpu-bench/results.json]
//     [--profiles profiles/h100] [--fit-on disb-A,disb-C] [--jitter-only] [--write]
import { writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { parseArgs } from 'node:util'
import {
  driftText,
  fitIssueJitter,
  fitRealtime,
  JITTER_MEAN_SLACK,
  loadRealtimeSet,
  type RealtimeFit,
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
    'jitter-only': { type: 'boolean', default: false },
    write: { type: 'boolean', default: false },
  },
})
const fitOn = o['fit-on'].split(',').filter((x) => x !== '')
const { runs, inputs, calibration, calibrationFile } = loadRealtimeSet(o.results, o.profiles)
const workloads = [...new Set(runs.map((r) => r.mix.replace(/:rt-alone$/, '')))]
for (const w of fitOn)
  if (!workloads.includes(w)) throw new Error(`--fit-on ${w}: no such workload in ${o.results}`)
const cal = calibrationFrom(calibration)
const was = cal.realtime
if (o['jitter-only'] && !was)
  throw new Error(`--jitter-only: ${calibrationFile} has no real-time constants to keep`)
const t0 = performance.now()
const before = realtimeDrift(runs, resimulateRealtime(runs, inputs, cal))
const fit: Partial<RealtimeFit> & Pick<RealtimeFit, 'openLoopIssueJitterUs' | 'tailErr' | 'fixedTailErr'> = o[
  'jitter-only'
]
  ? fitIssueJitter(runs, fitOn, inputs, cal)
  : fitRealtime(runs, fitOn, inputs, cal)
// the constants fitted, over the file's for those this fit does not set (--jitter-only: all but the jitter)
const { openLoopIssueUs, priorityDrainUs, gateWaitUs } = { ...was, ...fit }
const realtime = {
  openLoopIssueUs: openLoopIssueUs as number,
  openLoopIssueJitterUs: fit.openLoopIssueJitterUs,
  priorityDrainUs: priorityDrainUs as number,
  ...(gateWaitUs !== undefined ? { gateWaitUs } : {}),
}
const after = realtimeDrift(runs, resimulateRealtime(runs, inputs, { ...cal, realtime }))
console.log(
  `before (${o.profiles}: ${was ? `issue ${was.openLoopIssueUs} µs (jitter ${was.openLoopIssueJitterUs ?? 0}), drain ${was.priorityDrainUs} µs` : 'no real-time constants'}):\n${driftText(before, fitOn)}\n`,
)
const pc = (x: number) => `${(x * 100).toFixed(1)}%`
console.log(
  `fitted on ${fitOn.join(', ')}: ` +
    (fit.aloneErr !== undefined && fit.priorityErr !== undefined
      ? `openLoopIssueUs ${fit.openLoopIssueUs} (their alone runs' mean |RT mean error| ${pc(fit.aloneErr)}), ` +
        `priorityDrainUs ${fit.priorityDrainUs} (their eclip-rt runs' ${pc(fit.priorityErr)})` +
        (fit.gateWaitUs !== undefined
          ? `, gateWaitUs ${fit.gateWaitUs} (their gated runs' mean |overall ÷ baseline error| ${pc(fit.gateErr ?? 0)})`
          : '') +
        ', '
      : `(the other real-time constants kept) `) +
    `openLoopIssueJitterUs ${fit.openLoopIssueJitterUs} (their alone runs' mean |RT p99 error| ${pc(fit.tailErr)}, fixed delay ${pc(fit.fixedTailErr)})` +
    ` in ${((performance.now() - t0) / 1000).toFixed(0)} s:\n${driftText(after, fitOn)}`,
)
if (o.write) {
  const jitterMethod = `openLoopIssueJitterUs (the delay's exponential part, its mean kept) on the rt-alone runs' RT p99 latency, minimising mean |sim ÷ measured − 1| among the values that leave their mean |RT mean error| within ${JITTER_MEAN_SLACK * 100} points of the fixed delay's`
  // --jitter-only: the file's method for the constants it keeps (without a jitter clause of its own), then the jitter's
  const kept = (was && calibration.realtime?.measured.method.split('; last openLoopIssueJitterUs')[0]) ?? ''
  const next: SimCalibration = {
    ...calibration,
    realtime: {
      ...realtime,
      measured: {
        date: new Date().toISOString().slice(0, 10),
        method: o['jitter-only']
          ? `${kept}; last ${jitterMethod}, over the constants before it as they were (bench/realtime-fit.ts --jitter-only)`
          : `grid search: openLoopIssueUs on the rt-alone runs, then priorityDrainUs on the eclip-rt runs, of ${fitOn.join(', ')}, each minimising mean |sim ÷ measured − 1| of the RT mean latency${fit.gateWaitUs !== undefined ? "; then gateWaitUs on the gated eclip-rt runs' overall throughput ÷ baseline's" : ''}; last ${jitterMethod}`,
        tool: 'bench/realtime-fit.ts',
        host: hostname(),
        gpu: inputs.gpu.name,
        notes: `GPU runs of ${o.results} (fitted on ${fitOn.join(', ')}; the other workloads held out), each re-simulated with its recorded plan, seed, arrivals and window; contention constants as above${o['jitter-only'] ? `; the constants before the jitter kept from the fit of ${calibration.realtime?.measured.date}` : ''}`,
      },
    },
  }
  parseFormat('sim-calibration', next, `${calibrationFile} (about to be written)`)
  writeFileSync(calibrationFile, `${JSON.stringify(next, null, 1)}\n`)
  console.log(`\nwrote ${calibrationFile}`)
}
