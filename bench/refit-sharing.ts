// The H200's SM-sharing constants (co-residency κ, residency ρ, footprint ρ_f) fitted again with each profile's own
// memory γ held fixed — a candidate's Calibration.profileInterference, e.g. bench/probe-fit.ts's (A), fitted on the
// interference probe's disjoint partitions where only the memory term acts. Why: the shipped constants were fitted
// together with one common γ (profiles/h200/sim-calibration.json's `measured`), so they may absorb part of the memory
// effect; `eclip calibrate --grid` cannot hold per-profile γ while it searches (a new fit of the constants drops them,
// src/calibrate/run.ts), so this script runs the same search itself: the same fitting runs (coresident-cal b8, b1),
// the same re-simulation (prepareCases, simulateCases, run.ts's SIM_WINDOWS) and the same objective (errorsOf over
// every GPU run: per worker |Δ normVsBaseline| on partitioned runs, |Δ normVsSolo| on baseline runs, pooled), with the
// candidate's γ applied at every point; sharing and saturation tolerance stay the shipped ones. `--shipped` also
// scores the shipped file as it is (one γ, no per-profile γ) for comparison. `--shard i/n` evaluates every n-th point
// (parallel processes); `--write FILE` writes the candidate file (its γ, the best point's constants). Nothing in
// profiles/ is touched.
//   node --import tsx bench/refit-sharing.ts --gammas CANDIDATE_JSON
//     [--grid "coresidency=..;residency=..;footprint=.."] [--shipped] [--shard i/n] [--write FILE]
import { writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import {
  asCalibration,
  type Case,
  type ContentionConstants,
  errorsOf,
  gridAt,
  gridPoints,
  neutralPower,
  prepareCases,
  simulateCases,
} from '../src/calibrate/calibrate.ts'
import { parseGrid, recordedRunSet, SIM_WINDOWS } from '../src/calibrate/run.ts'
import { calibrationFrom } from '../src/execute/sim/index.ts'
import { type PowerModel, type Results, readFile, type SimCalibration } from '../src/formats/index.ts'
import { loadGpu, loadPrimitives, profilesIn } from '../src/profile/store.ts'

const PROFILES = 'profiles/h200'
const FILES = ['results/h200/coresident-cal/b8/results.json', 'results/h200/coresident-cal/b1/results.json']

const args = process.argv.slice(2)
const opt = (name: string) => {
  const i = args.indexOf(name)
  return i >= 0 ? args[i + 1] : undefined
}
const gammasFile = opt('--gammas')
if (!gammasFile) throw new Error('--gammas CANDIDATE_JSON is required')
const candidate = readFile<SimCalibration>('sim-calibration', gammasFile)
const gamma = candidate.profileInterference?.gamma
if (!gamma) throw new Error(`${gammasFile}: no profileInterference`)
const shippedFile = join(PROFILES, 'sim-calibration.json')
const shipped = readFile<SimCalibration>('sim-calibration', shippedFile)
const [shardI, shardN] = (opt('--shard') ?? '0/1').split('/').map(Number) as [number, number]

const constantsOf = (c: SimCalibration): ContentionConstants => ({
  sharing: c.sharing,
  saturationTolerance: c.saturationTolerance,
  memoryInterference: c.memoryInterference,
  ...(c.residency !== undefined ? { residency: c.residency } : {}),
  ...(c.footprint !== undefined ? { footprint: c.footprint } : {}),
  ...(c.coresidency !== undefined ? { coresidency: c.coresidency } : {}),
  ...(c.switchGraphEdgeUs !== undefined ? { switchGraphEdgeUs: c.switchGraphEdgeUs } : {}),
})
// the axes given replace the shipped point's (sharing, tolerance, γ stay the shipped file's)
const grid = parseGrid(
  opt('--grid') ?? 'coresidency=0.2,0.35,0.5;residency=0.35,0.5,0.65;footprint=1,1.5,2',
  gridAt(constantsOf(shipped)),
)
const points = gridPoints(grid).filter((_, i) => i % shardN === shardI)

const t0 = performance.now()
const gpu = loadGpu(PROFILES)
const primitives = loadPrimitives(PROFILES, gpu)
if (!primitives) throw new Error(`${PROFILES}: no primitives.json`)
const cases: Case[] = await prepareCases({
  sets: FILES.map((f) => {
    const results = readFile<Results>('results', f)
    const warn = (w: string) => process.stderr.write(`WARNING: ${w}\n`)
    return recordedRunSet(f, results, f.split('/').at(-2) as string, PROFILES, primitives, warn)
  }),
  gpu,
  profilesFor: profilesIn(PROFILES, gpu),
  primitives,
  ...SIM_WINDOWS,
})
process.stderr.write(
  `${cases.length} GPU runs prepared in ${((performance.now() - t0) / 1000).toFixed(0)} s\n`,
)
const power: PowerModel = neutralPower(gpu, 'bench/refit-sharing.ts')

const f4 = (x: number | null | undefined) => (x === null || x === undefined ? '–' : x.toFixed(4))
function score(label: string, cal: Parameters<typeof simulateCases>[1]) {
  const t = performance.now()
  const sim = simulateCases(cases, cal, power)
  const all = errorsOf(cases, sim, () => true)
  const b8 = errorsOf(cases, sim, (c) => c.set === 'b8')
  const b1 = errorsOf(cases, sim, (c) => c.set === 'b1')
  console.log(
    `${label.padEnd(44)} objective ${f4(all?.objective)}  b8 ${f4(b8?.objective)}  b1 ${f4(b1?.objective)}  ` +
      `rpsRelRms ${f4(all?.rpsRelRms)}  (${((performance.now() - t) / 1000).toFixed(0)} s)`,
  )
  return all?.objective ?? Number.POSITIVE_INFINITY
}

if (args.includes('--shipped')) score(`shipped (${shippedFile}, one γ)`, calibrationFrom(shipped))
let best: { c: ContentionConstants; objective: number } | undefined
for (const c of points) {
  const objective = score(`κ ${c.coresidency} ρ ${c.residency} ρ_f ${c.footprint} + per-profile γ`, {
    ...asCalibration(c, 'refit-sharing', false),
    profileInterference: gamma,
  })
  if (!best || objective < best.objective - 1e-12) best = { c, objective }
}
if (best)
  console.log(
    `best of ${points.length}: κ ${best.c.coresidency} ρ ${best.c.residency} ρ_f ${best.c.footprint} objective ${f4(best.objective)}`,
  )

const out = opt('--write')
if (out && best) {
  // extra provenance fields (the objective) ride along, as in src/calibrate/run.ts
  const shippedObjective = (shipped.measured as { objective?: number } | undefined)?.objective
  const measured = {
    date: new Date().toISOString().slice(0, 10),
    method: `grid search (${points.length} points: co-residency κ, residency ρ, footprint ρ_f; sharing ${shipped.sharing}, tolerance ${shipped.saturationTolerance}) minimising mean |sim − measured| of normalised throughput over every GPU run, each profile's γ held at ${gammasFile}'s`,
    tool: 'bench/refit-sharing.ts',
    host: hostname(),
    gpu: gpu.name,
    notes: `GPU runs of ${FILES.join(', ')}, re-simulated as eclip calibrate does; objective as the shipped fit's (${best.objective.toFixed(4)}; shipped ${shippedObjective?.toFixed(4) ?? '?'})`,
    objective: best.objective,
  }
  const file: SimCalibration = { ...candidate, ...best.c, measured }
  delete (file as { fitRelRms?: number }).fitRelRms
  writeFileSync(out, `${JSON.stringify(file, null, 1)}\n`)
  console.log(`wrote ${out}`)
}
