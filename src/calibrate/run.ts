// `eclip calibrate`'s application: reads the GPU runs' results files and the profile directory, fits the simulator's
// contention constants and power model (the method is in calibrate.ts), prints the report and writes
// sim-calibration.json and power.json. The CLI (src/cli/commands/calibrate.ts) parses flags and calls runCalibrate.
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { recordedPlanOptions } from '../bench/resume.ts'
import { type SimPlannerOptions, simPlanner } from '../execute/sim/evaluator.ts'
import {
  CALIBRATION,
  type Calibration,
  calibrationFrom,
  defaultPowerModel,
  describePower,
  type InterferenceLoad,
  LINEAR_LOAD,
  mpsClientRateOf,
} from '../execute/sim/index.ts'
import { simInputs } from '../execute/sim/inputs.ts'
import {
  type Gpu,
  incompleteNote,
  type Plan,
  type PowerModel,
  type Primitives,
  parseFormat,
  type Results,
  type Run,
  readFile,
  type SimCalibration,
  UserError,
} from '../formats/index.ts'
import type { Planner } from '../plan/index.ts'
import { checkSameGpu, loadGpu, loadPrimitives, loadSimFiles, profilesIn } from '../profile/store.ts'
import {
  type CalibrationReport,
  type Case,
  type ContentionConstants,
  calibrate,
  DEFAULT_GRID,
  DEFAULT_GRIDS,
  type ErrorSummary,
  type FitScope,
  type Grid,
  gridAt,
  prepareCases,
  type RunSet,
} from './calibrate.ts'
import {
  fitProfileInterference,
  PROFILE_GAMMA_GRID,
  type ProfileInterferenceFit,
} from './profile-interference.ts'

/**
 * Re-simulation windows: the simulator has no counter noise to average out, only whole requests to count: ≥ 40
 * requests of the slowest worker, 0.1–1 s.
 */
export const SIM_WINDOWS = { requestsPerWindow: 40, minWindowS: 0.1, maxWindowS: 1 }

const f2 = (x: number | null) => (x === null ? '–' : x.toFixed(3))
const pct = (x: number | null) => (x === null ? '–' : `${(x * 100).toFixed(0)}%`)

/** The runs a fit scope chooses the constants on, in words. */
const SCOPE_TEXT: Record<FitScope, string> = {
  all: 'every GPU run',
  'single-launch': 'the single-launch GPU runs (solo, baseline, model-wise)',
  graph: 'the single-launch GPU runs and every run in graph mode',
}

/** A set's label: the results file's directory name (batch1/results.json → batch1), else the file name. */
function labelOf(file: string, taken: Set<string>): string {
  const base = basename(file) === 'results.json' ? basename(dirname(file)) : basename(file)
  let l = base
  for (let i = 2; taken.has(l); i++) l = `${base}#${i}`
  taken.add(l)
  return l
}

function errCells(e: ErrorSummary): string {
  return `${f2(e.normTput).padStart(6)} ${f2(e.baselineVsSolo).padStart(6)} ${pct(e.stp).padStart(5)} ${pct(e.stpVsBaseline).padStart(5)} ${pct(e.rpsRel).padStart(5)} ${f2(e.normReqPerJ).padStart(6)} ${pct(e.reqPerJRel).padStart(5)}`
}

const signed = (sim: number | null, gpu: number) =>
  sim === null ? '–' : `${sim / gpu - 1 >= 0 ? '+' : '−'}${(Math.abs(sim / gpu - 1) * 100).toFixed(1)}%`

/** The held-out sets' mix runs one by one: STP and STP ÷ baseline, measured, before and after (signed errors). */
export function perRunText(r: CalibrationReport): string {
  const lines = [
    'held out, per mix run: STP measured / simulated before (error) / after (error); STP ÷ baseline the same way',
  ]
  for (const h of r.heldOut.filter((x) => x.runs === 'all')) {
    lines.push(`${h.checkOn}:`)
    for (const p of h.perRun) {
      const s = p.stp
      const v = p.stpVsBaseline
      lines.push(
        `  ${p.id.padEnd(34)} STP ${s.gpu.toFixed(3)} / ${f2(s.before)} (${signed(s.before, s.gpu)}) / ${f2(s.after)} (${signed(s.after, s.gpu)})` +
          (v
            ? `   ÷ baseline ${v.gpu.toFixed(3)} / ${f2(v.before)} (${signed(v.before, v.gpu)}) / ${f2(v.after)} (${signed(v.after, v.gpu)})`
            : ''),
      )
    }
  }
  return lines.join('\n')
}

/**
 * `sharing=fifo;tolerance=0,0.01;gamma=0,0.5`: the axes given replace `base`'s (the default grid's: the full grid
 * re-simulates every run 90 times), the others stay.
 */
export function parseGrid(spec: string, base: Grid = DEFAULT_GRID): Grid {
  const grid: Grid = { ...base }
  for (const part of spec.split(';').filter((p) => p.trim() !== '')) {
    const [key, list = ''] = part.split('=').map((x) => x.trim())
    const values = list.split(',').map((x) => x.trim())
    if (key === 'sharing') {
      if (values.some((v) => v !== 'fifo' && v !== 'fair' && v !== 'coresident'))
        throw new UserError(`--grid: sharing is fifo, fair and/or coresident, got "${list}"`)
      grid.sharing = values as Grid['sharing']
    } else if (key === 'residency') {
      const nums = values.map((v) => (v === 'none' ? null : Number(v)))
      if (nums.some((n, i) => values[i] === '' || (n !== null && !(Number.isFinite(n) && n > 0))))
        throw new UserError(`--grid: residency wants none and/or numbers > 0, got "${list}"`)
      grid.residency = nums
    } else if (key === 'coresidency') {
      const nums = values.map((v) => (v === 'none' ? null : Number(v)))
      if (nums.some((n, i) => values[i] === '' || (n !== null && !(Number.isFinite(n) && n >= 0))))
        throw new UserError(`--grid: coresidency wants none and/or numbers ≥ 0, got "${list}"`)
      grid.coresidency = nums
    } else if (key === 'footprint' || key === 'switch') {
      const nums = values.map((v) => (v === 'none' ? null : Number(v)))
      if (nums.some((n, i) => values[i] === '' || (n !== null && !(Number.isFinite(n) && n >= 0))))
        throw new UserError(`--grid: ${key} wants none and/or numbers ≥ 0, got "${list}"`)
      if (key === 'footprint') {
        if (nums.some((n) => n === 0)) throw new UserError('--grid: a footprint of 0 takes nothing; say none')
        grid.footprint = nums
      } else grid.switchGraphEdgeUs = nums
    } else if (key === 'tolerance' || key === 'gamma') {
      const nums = values.map(Number)
      if (values.length === 0 || nums.some((n, i) => values[i] === '' || !Number.isFinite(n) || n < 0))
        throw new UserError(`--grid: ${key} wants numbers ≥ 0, got "${list}"`)
      if (key === 'tolerance') grid.saturationTolerance = nums
      else grid.memoryInterference = nums
    } else
      throw new UserError(
        `--grid: unknown axis "${key}" (sharing, tolerance, gamma, residency, footprint, coresidency, switch)`,
      )
  }
  return grid
}

/**
 * A run's recorded plan (Run.planFile, beside its results file), or undefined where the file is not there (results
 * kept without their plans directory): the plan is then made again, and prepareCases checks it against the run.
 */
export function recordedPlanReader(
  resultsFile: string,
  warn: (w: string) => void,
): (r: Run) => Plan | undefined {
  const warned = new Set<string>()
  return (r) => {
    if (!r.planFile) return undefined
    const file = join(dirname(resultsFile), r.planFile)
    if (existsSync(file)) return readFile<Plan>('plan', file)
    if (!warned.has(resultsFile))
      warn(`${resultsFile}: recorded plans not found (e.g. ${file}): plans made again from the profiles`)
    warned.add(resultsFile)
    return undefined
  }
}

/** The optional constants a fit set, as the report names them (empty where none is). */
function extraConstants(c: ContentionConstants): string {
  return (
    (c.residency !== undefined ? `, residency ρ ${c.residency}` : '') +
    (c.footprint !== undefined ? `, footprint ρ_f ${c.footprint}` : '') +
    (c.coresidency !== undefined ? `, co-residency κ ${c.coresidency}` : '') +
    (c.switchGraphEdgeUs !== undefined ? `, graph edge ${c.switchGraphEdgeUs} µs` : '')
  )
}

/** The contention fit's objective as the report and the provenance say it. */
const objectiveText = (o: number | null) =>
  o === null
    ? 'objective: none, no run in its scope has a solo rate or a partitioned plan to score it on'
    : `objective ${o.toFixed(3)}`

/** `keptFrom`: the file the contention constants were kept from (--keep-contention), not fitted. */
export function reportText(r: CalibrationReport, before: string, keptFrom?: string): string {
  const c = r.constants
  const p = r.power
  const head =
    '                           ' +
    'Δtput  Δbase  |STP| ΔSTP  Δrps  ΔreqJ  ΔJrel  |  Δtput  Δbase  |STP| ΔSTP  Δrps  ΔreqJ  ΔJrel'
  const lines = [
    `contention constants (${keptFrom ? `kept from ${keptFrom}, not fitted` : `grid of ${r.points} points, fitted on ${SCOPE_TEXT[r.scope]}`}): ` +
      `sharing ${c.sharing}, demand tolerance ${c.saturationTolerance}, memory interference γ ${c.memoryInterference}${extraConstants(c)} (${objectiveText(r.objective)})`,
    `power model: ${p.idleW.toFixed(1)} W idle + ${p.wPerWorkSm.toFixed(3)} W per SM of work rate, right-sizes within ${p.workTolerance * 100}%; ` +
      `R² ${p.r2.toFixed(3)}, residual RMS ${p.rmsW.toFixed(1)} W (${pct(p.relRms)}), max ${p.maxAbsW.toFixed(0)} W (${p.maxRun}), ${p.points} runs${p.clamped ? ', CLAMPED to ≥ 0' : ''}; ` +
      `R² by right-size tolerance: ${p.byTolerance.map((t) => `${t.workTolerance * 100}% ${t.r2.toFixed(3)}`).join(', ')}`,
    '',
    `errors, mean |sim − measured| (before: ${before}; after: the fit above):`,
    '  Δtput: normalised throughput (worker vs baseline, partitioned runs); Δbase: baseline worker vs its solo rate;',
    "  |STP|: |sim/measured − 1| of STP (every mix run); ΔSTP: the same of STP ÷ the mix's baseline STP (partitioned runs);",
    "  Δrps: |sim/measured − 1| of raw req/s; ΔreqJ: total requests/J ÷ baseline's; ΔJrel: |sim/measured − 1| of requests/J",
    `${'set / runs'.padEnd(27)}${'before'.padEnd(50)}|  after`,
    head,
    ...r.rows.map(
      (row) => `${`${row.set} ${row.runs}`.padEnd(27)}${errCells(row.before)}  |  ${errCells(row.after)}`,
    ),
  ]
  if (r.heldOut.length > 0) {
    lines.push('', 'held out (fitted on the other sets, checked on this one):', head)
    for (const h of r.heldOut)
      lines.push(
        `${`${h.checkOn} ${h.runs}`.padEnd(27)}${errCells(h.before)}  |  ${errCells(h.after)}   ` +
          `(${h.constants.sharing}, tol ${h.constants.saturationTolerance}, γ ${h.constants.memoryInterference}${extraConstants(h.constants)}; ` +
          `${h.power.idleW.toFixed(0)} W + ${h.power.wPerWorkSm.toFixed(2)} W/SM of work at ${h.power.workTolerance * 100}%)`,
      )
  }
  return lines.join('\n')
}

/**
 * The planner that re-makes a GPU run's plan. eclip-fit's plan depends on the simulator that scored its candidates
 * (eclip bench passes it the profile directory's calibrated inputs): it is re-made with the power.json and
 * sim-calibration.json of `calibrationDir` — those in force when the runs were planned — else it is not the plan the
 * run executed, and prepareCases refuses the run. The switch costs come from `primitives` (the profiles').
 */
export function replanner(
  calibrationDir: string,
  primitives: Primitives,
  warn: (w: string) => void,
  options: SimPlannerOptions['options'] = {},
): Planner {
  let warned = false
  return simPlanner(
    (gpu) => {
      const ev = simInputs(gpu, { dir: calibrationDir })
      if (!warned) for (const w of ev.warnings.filter((w) => !w.includes('primitives.json'))) warn(w)
      warned = true
      return { ...ev.inputs, primitives }
    },
    { options },
  )
}

/**
 * One results file's runs (`results`, read from `file`) as a RunSet: each with the plan it recorded beside them, a plan
 * missing made again by replanner with the plan options its bench recorded (recordedPlanOptions). `warn`: the
 * evaluator's warnings; `planWarn`: a recorded plan's (default `warn`).
 */
export function recordedRunSet(
  file: string,
  results: Results,
  label: string,
  calibrationDir: string,
  primitives: Primitives,
  warn: (w: string) => void,
  planWarn: (w: string) => void = warn,
): RunSet {
  return {
    label,
    runs: results.runs,
    recordedPlan: recordedPlanReader(file, planWarn),
    planner: replanner(
      calibrationDir,
      primitives,
      warn,
      recordedPlanOptions(file, results.provenance.options),
    ),
  }
}

/** `eclip calibrate`'s options, as the flags give them. */
export interface RunCalibrateOptions {
  /** results files with GPU runs */
  results: string[]
  /** the profile directory the runs were planned from */
  profiles: string
  /** where to write power.json and sim-calibration.json (default: the profile directory) */
  out?: string
  fitOn: FitScope
  /** where the calibration lies that eclip-fit's runs were planned with (default: the profile directory) */
  planCalibration?: string
  /** refit the power model alone, keeping the profile directory's sim-calibration.json */
  keepContention?: boolean
  /** print the fit, write nothing */
  dryRun?: boolean
  /**
   * the calibration to compare against (a directory's sim-calibration.json and power.json); default the neutral
   * constants
   */
  before?: string
  /** a smaller grid: any of the default grid's axes narrowed (parseGrid) */
  grid?: string
  /** also print the held-out sets' mix runs one by one */
  perRun?: boolean
  /**
   * fit each profile's own memory interference γ on the co-located runs instead, keeping the profile directory's
   * sim-calibration.json otherwise (profile-interference.ts); writes sim-calibration.json only
   */
  fitProfiles?: boolean
  /**
   * with fitProfiles: the γ term's load shape, "p", "p,q" or "p,q,n0" (parseInterferenceLoad), written into the file
   * and the γ's fitted under it; absent: the directory's file's shape, if any, kept
   */
  interferenceLoad?: string
}

/**
 * `--interference-load p[,q[,n0]]`: the exponents of u^p ÷ max(1, n ÷ n0)^q (q absent: 0, n0: 1); p > 0, q ≥ 0,
 * n0 ≥ 1.
 */
export function parseInterferenceLoad(spec: string): InterferenceLoad {
  const parts = spec.split(',').map((x) => x.trim())
  const [p, q = LINEAR_LOAD.neighbourExponent, n0 = LINEAR_LOAD.neighbourFrom] = parts.map(Number)
  if (
    parts.length > 3 ||
    parts.some((x) => x === '') ||
    !(p !== undefined && p > 0) ||
    !(q >= 0) ||
    !(n0 >= 1)
  )
    throw new UserError(
      `--interference-load: wants p, p,q or p,q,n0 with p > 0, q ≥ 0 and n0 ≥ 1, got "${spec}"`,
    )
  return { exponent: p, neighbourExponent: q, neighbourFrom: n0 }
}

/**
 * What a calibration made: the contention and power fit's report, or with --fit-profiles the per-profile fit (and
 * the power model read, unchanged); `written` lists the files written (none on a dry run).
 */
export interface RunCalibrateResult {
  report?: CalibrationReport
  profileFit?: ProfileInterferenceFit
  calibration: SimCalibration
  power: PowerModel
  written: string[]
}

/** Fits, prints the report (stdout, progress on stderr) and, unless dry-running, writes the files. */
export async function runCalibrate(o: RunCalibrateOptions): Promise<RunCalibrateResult> {
  const t0 = performance.now()
  const files = o.results
  // contradictory or missing options are refused before the runs are prepared (re-planning takes minutes)
  if (o.keepContention && o.grid !== undefined)
    throw new UserError(
      "--keep-contention keeps the profile directory's constants as the only grid point: --grid cannot go with it",
    )
  if (o.planCalibration !== undefined) directoryOf('--plan-calibration', o.planCalibration)
  const gpu = loadGpu(o.profiles)
  const gpuRef = { name: gpu.name, smCount: gpu.smCount, sliceSize: gpu.sliceSize }
  const beforeSim = o.before !== undefined ? beforeFrom(o.before, gpu) : undefined
  const primitives = loadPrimitives(o.profiles, gpu)
  if (!primitives)
    throw new UserError(
      `${o.profiles}: no primitives.json; the runs were simulated with measured costs, calibrate with the same`,
    )
  const profilesFor = profilesIn(o.profiles, gpu)
  const taken = new Set<string>()
  // the evaluator's warnings once, however many sets plan again
  const warned = new Set<string>()
  const warnOnce = (w: string) => {
    if (!warned.has(w)) process.stderr.write(`eclip calibrate: WARNING: eclip-fit's evaluator: ${w}\n`)
    warned.add(w)
  }
  const sets: RunSet[] = files.map((f) => {
    const results = readFile<Results>('results', f)
    const incomplete = incompleteNote(results)
    if (incomplete)
      process.stderr.write(`eclip calibrate: WARNING: ${f}: ${incomplete}; fitted on the runs it holds\n`)
    // plans recorded beside the results (eclip bench writes them) are taken as they ran; a plan missing is made
    // again with the options its bench recorded (--switch-max, --min-share, eclip-rt's mechanism, …)
    return recordedRunSet(
      f,
      results,
      labelOf(f, taken),
      o.planCalibration ?? o.profiles,
      primitives,
      warnOnce,
      (w) => process.stderr.write(`eclip calibrate: WARNING: ${w}\n`),
    )
  })
  // --fit-profiles keeps the directory's calibration: refused before the runs are prepared (re-planning takes minutes)
  const keptForProfiles = o.fitProfiles ? keptCalibration(o.profiles, gpu, '--fit-profiles') : undefined
  const cases = await prepareCases({ sets, gpu, profilesFor, primitives, ...SIM_WINDOWS })
  if (keptForProfiles) return runProfileFit(o, cases, gpu, keptForProfiles, t0)
  const scope = o.fitOn
  let grid: Grid | readonly Grid[] = o.grid ? parseGrid(o.grid) : DEFAULT_GRIDS
  let kept: SimCalibration | undefined
  if (o.keepContention) {
    kept = keptCalibration(o.profiles, gpu, '--keep-contention')
    grid = gridAt(kept)
  }
  // the real-time constants are fitted apart (docs/calibrate.md): a new file keeps those of the one it replaces
  const calFileNow = join(o.profiles, 'sim-calibration.json')
  const calNow =
    kept ?? (existsSync(calFileNow) ? readFile<SimCalibration>('sim-calibration', calFileNow) : undefined)
  const realtime = calNow?.realtime
  const mps = calNow?.mps // measured apart too (results of MPS with no caps), kept as it is
  // before: the calibration a directory holds (e.g. the one this fit would replace), else the neutral defaults
  const beforeCal = beforeSim?.calibration ?? CALIBRATION
  const beforePower = beforeSim?.power ?? defaultPowerModel(gpuRef)
  const report = calibrate({
    cases,
    grid,
    scope,
    kept: kept !== undefined,
    before: beforeCal,
    beforePower,
    // the constants kept come with their per-profile γ and κ; a new fit of the constants has none (fitted against
    // others)
    ...(kept?.profileInterference ? { profileInterference: kept.profileInterference.gamma } : {}),
    ...(kept?.profileCoresidency ? { coresidencyByProfile: kept.profileCoresidency.kappa } : {}),
    // the MPS client rate the file keeps acts on any MPS runs among the cases, as it will once written
    ...(mps ? { mpsClientRate: mpsClientRateOf(mps) } : {}),
    onPoint: (done, total) => {
      if (done % 10 === 0 || done === total)
        process.stderr.write(`eclip calibrate: ${done}/${total} grid points simulated\n`)
    },
  })
  const before = `${o.before !== undefined ? `${o.before}: ` : ''}${beforeSim?.calibrationFile ? '' : 'neutral constants '}${beforeCal.sharing}, tol ${beforeCal.saturationTolerance}, γ ${beforeCal.memoryInterference} + ${beforeSim?.powerFile ? '' : 'placeholder '}${describePower(beforePower)}`
  console.log(
    `eclip calibrate: ${cases.length} GPU runs (${sets.map((s) => s.label).join(', ')}) on ${gpu.name}, each re-simulated with its plan at ${report.points} grid points\n`,
  )
  console.log(
    reportText(
      report,
      before,
      kept
        ? `${join(o.profiles, 'sim-calibration.json')}${kept.profileInterference ? ' with its per-profile γ' : ''}`
        : undefined,
    ),
  )
  // per-profile γ and κ are fitted against the constants they sit beside: a new fit of the constants leaves them out
  if (!kept && calNow?.profileInterference)
    console.log(
      `\n${calFileNow} has each profile's own γ, fitted against its constants; the file this fit writes has none: fit them again with --fit-profiles`,
    )
  if (!kept && calNow?.profileCoresidency)
    console.log(
      `\n${calFileNow} has each profile's own κ, set against its constants; the file this fit writes has none`,
    )
  if (o.perRun && report.heldOut.length > 0) console.log(`\n${perRunText(report)}`)

  const date = new Date().toISOString().slice(0, 10)
  const sources = files.join(', ')
  const heldOut = report.heldOut.map((h) => ({
    checkOn: h.checkOn,
    runs: h.runs,
    constants: h.constants,
    power: h.power,
    normTputBefore: h.before.normTput,
    normTputAfter: h.after.normTput,
    normReqPerJBefore: h.before.normReqPerJ,
    normReqPerJAfter: h.after.normReqPerJ,
  }))
  const c = report.constants
  // extra provenance fields (fit quality, held-out checks) ride along: Provenance allows them
  const calMeasured = {
    date,
    method: `grid search (${report.points} points) minimising mean |sim − measured| of normalised throughput over ${SCOPE_TEXT[scope]}`,
    tool: 'eclip calibrate',
    host: hostname(),
    gpu: gpu.name,
    notes:
      `GPU runs of ${sources}, each re-simulated with its plan (made again by makePlan from ${o.profiles}, checked against the switches and kernels the run recorded) ` +
      `in windows long enough for ${SIM_WINDOWS.requestsPerWindow} requests of the slowest worker (${SIM_WINDOWS.minWindowS}–${SIM_WINDOWS.maxWindowS} s); objective: per worker, |Δ normVsBaseline| on partitioned runs and |Δ normVsSolo| on baseline runs, pooled (${objectiveText(report.objective)}). ` +
      'fitRelRms: RMS of sim/measured − 1 of raw req/s over the fitting runs.',
    objective: report.objective,
    heldOut,
  }
  const calibration: SimCalibration = {
    format: 'eclip.sim-calibration/1',
    gpu: gpuRef,
    ...c,
    fitted: true,
    ...(report.fitRelRms !== null ? { fitRelRms: report.fitRelRms } : {}),
    measured: calMeasured,
    ...(mps ? { mps } : {}),
    ...(realtime ? { realtime } : {}),
  }
  const p = report.power
  const powerMeasured = {
    date,
    method:
      'least squares of NVML mean power (energy-counter delta over the window / window) against the measured work rate (Σ workers req/s × SM·s of work per request), best of right-size tolerances',
    tool: 'eclip calibrate',
    host: hostname(),
    gpu: gpu.name,
    notes:
      `${p.points} GPU runs of ${sources}. A request's work: Σ over its kernels of the fewest profiled SMs within ${p.workTolerance * 100}% of the kernel's full-GPU time × that time, whatever partition it ran on. ` +
      `R² ${p.r2.toFixed(3)}, residual RMS ${p.rmsW.toFixed(1)} W, max ${p.maxAbsW.toFixed(0)} W (${p.maxRun}); R² by tolerance: ${p.byTolerance.map((t) => `${t.workTolerance} ${t.r2.toFixed(3)}`).join(', ')}. ` +
      'No memory term: profiles carry no DRAM traffic. fitRelRms: relative RMS of predicted vs measured energy.',
    r2: p.r2,
    rmsW: p.rmsW,
    maxAbsW: p.maxAbsW,
    points: p.points,
    heldOut: heldOut.filter((h) => h.runs === 'all').map((h) => ({ checkOn: h.checkOn, power: h.power })),
  }
  const power: PowerModel = {
    format: 'eclip.power/2',
    gpu: gpuRef,
    idleW: p.idleW,
    wPerWorkSm: p.wPerWorkSm,
    workTolerance: p.workTolerance,
    wPerMemGBs: 0,
    // a real fit: least squares over ≥ 3 runs, no bound imposed
    fitted: !p.clamped && p.points >= 3,
    fitRelRms: p.relRms,
    measured: powerMeasured,
  }
  parseFormat('sim-calibration', calibration, 'sim-calibration.json (about to be written)')
  parseFormat('power', power, 'power.json (about to be written)')
  if (o.dryRun) {
    console.log(`\n--dry-run: nothing written (${((performance.now() - t0) / 1000).toFixed(1)} s)`)
    return { report, calibration, power, written: [] }
  }
  const out = o.out ?? o.profiles
  if (!existsSync(out)) mkdirSync(out, { recursive: true })
  const calFile = join(out, 'sim-calibration.json')
  const powerFile = join(out, 'power.json')
  // --keep-contention: the constants were not fitted here, so sim-calibration.json is left as it is
  if (!kept) writeFileSync(calFile, `${JSON.stringify(calibration, null, 1)}\n`)
  writeFileSync(powerFile, `${JSON.stringify(power, null, 1)}\n`)
  console.log(
    `\nwrote ${kept ? '' : `${calFile}, `}${powerFile} in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  )
  return { report, calibration, power, written: kept ? [powerFile] : [calFile, powerFile] }
}

/** A directory an option names: refused where there is none or it is a file. */
function directoryOf(flag: string, dir: string): string {
  if (!existsSync(dir)) throw new UserError(`${flag} ${dir}: no such directory`)
  if (!statSync(dir).isDirectory()) throw new UserError(`${flag} ${dir}: not a directory`)
  return dir
}

/**
 * --before: the sim-calibration.json and power.json of a directory, each made on the GPU of the profiles' gpu.json;
 * one of them missing is the neutral constants or the placeholder power, with a warning; both missing is refused,
 * since the before column would then be the defaults under the directory's name. Its primitives.json (and gpu.json)
 * play no part: the before column re-simulates the runs with the profiles' switch costs.
 */
export function beforeFrom(
  dir: string,
  gpu: Gpu,
): { calibration?: Calibration; power?: PowerModel; calibrationFile?: string; powerFile?: string } {
  directoryOf('--before', dir)
  const calibrationFile = join(dir, 'sim-calibration.json')
  const powerFile = join(dir, 'power.json')
  const hasCal = existsSync(calibrationFile)
  const hasPower = existsSync(powerFile)
  if (!hasCal && !hasPower)
    throw new UserError(
      `--before ${dir}: neither sim-calibration.json nor power.json there (leave --before out to compare against the neutral constants and placeholder power)`,
    )
  // read as the simulator reads them, each checked against the profiles' GPU
  const files = loadSimFiles(gpu, {
    ...(hasCal ? { calibration: calibrationFile } : {}),
    ...(hasPower ? { power: powerFile } : {}),
  })
  const warn = (w: string) => process.stderr.write(`eclip calibrate: WARNING: --before ${dir}: ${w}\n`)
  if (!hasCal) warn('no sim-calibration.json: the before column is simulated on the neutral constants')
  if (!hasPower) warn("no power.json: the before column's energy comes from the placeholder power model")
  return {
    ...(files.calibration ? { calibration: calibrationFrom(files.calibration), calibrationFile } : {}),
    ...(files.power ? { power: files.power, powerFile } : {}),
  }
}

/** The profile directory's sim-calibration.json, which `flag` keeps: refused where there is none or another GPU's. */
function keptCalibration(profiles: string, gpu: Gpu, flag: string): SimCalibration {
  const file = join(profiles, 'sim-calibration.json')
  if (!existsSync(file)) throw new UserError(`${flag}: ${file} does not exist; calibrate without it first`)
  const kept = readFile<SimCalibration>('sim-calibration', file)
  checkSameGpu(file, kept.gpu, gpu)
  return kept
}

/**
 * `--fit-profiles`: each profile's γ on the co-located runs, the directory's calibration kept otherwise; a profile
 * with no co-located worker in these runs keeps the γ the file had for it.
 */
function runProfileFit(
  o: RunCalibrateOptions,
  cases: Case[],
  gpu: Gpu,
  kept: SimCalibration,
  t0: number,
): RunCalibrateResult {
  const gpuRef = { name: gpu.name, smCount: gpu.smCount, sliceSize: gpu.sliceSize }
  const file = join(o.profiles, 'sim-calibration.json')
  const powerFile = join(o.profiles, 'power.json')
  const power = existsSync(powerFile) ? readFile<PowerModel>('power', powerFile) : defaultPowerModel(gpuRef)
  const colocated = cases.filter((c) => c.gpu.workers.length > 1).length
  if (colocated === 0)
    throw new UserError('--fit-profiles: none of the GPU runs has two or more workers: nothing to fit a γ on')
  const shape = o.interferenceLoad !== undefined ? parseInterferenceLoad(o.interferenceLoad) : undefined
  const base = calibrationFrom(kept)
  const fit = fitProfileInterference(
    cases,
    shape ? { ...base, interferenceLoad: shape } : base,
    power,
    PROFILE_GAMMA_GRID,
    (done, total) => process.stderr.write(`eclip calibrate: ${done}/${total} re-simulations of the runs\n`),
  )
  const keptGammas = Object.entries(kept.profileInterference?.gamma ?? {}).filter(([k]) => !(k in fit.gamma))
  const gamma = Object.fromEntries(
    [...Object.entries(fit.gamma), ...keptGammas].sort(([a], [b]) => a.localeCompare(b)),
  )
  const sources = o.results.join(', ')
  console.log(
    `eclip calibrate --fit-profiles: ${cases.length} GPU runs (${colocated} with two or more workers) of ${sources}; ` +
      `the constants of ${file} kept (common γ ${kept.memoryInterference})` +
      (shape
        ? `; the γ term's load shape u^${shape.exponent} ÷ max(1, n ÷ ${shape.neighbourFrom})^${shape.neighbourExponent}`
        : kept.interferenceLoad
          ? `, its γ term's load shape with them`
          : '') +
      "; each profile's γ where the mean of " +
      'ln(simulated ÷ measured req/s) over its workers in co-located runs crosses 0, on the grid ' +
      `${PROFILE_GAMMA_GRID.join(', ')}\n`,
  )
  const f = (x: number) => `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(3)}`
  console.log(
    `${'profile'.padEnd(22)}${'worker-runs'.padStart(12)}${'γ'.padStart(8)}   mean ln(sim/gpu) before → after   mean |ln| before → after`,
  )
  for (const p of fit.profiles)
    console.log(
      `${p.profile.padEnd(22)}${String(p.workerRuns).padStart(12)}${p.gamma.toFixed(3).padStart(8)}${p.atEdge ? '*' : ' '}  ` +
        `${f(p.before.meanLog).padStart(14)} → ${f(p.after.meanLog).padEnd(14)}${p.before.meanAbsLog.toFixed(3).padStart(10)} → ${p.after.meanAbsLog.toFixed(3)}`,
    )
  if (fit.profiles.some((p) => p.atEdge))
    console.log("* the mean did not cross 0 within the grid: γ is the grid's end")
  if (keptGammas.length > 0)
    console.log(
      `kept from ${file} (no co-located worker in these runs): ${keptGammas.map(([k, g]) => `${k} ${g}`).join(', ')}`,
    )
  // what both records written here say of where they come from
  const stamp = {
    date: new Date().toISOString().slice(0, 10),
    tool: 'eclip calibrate --fit-profiles',
    host: hostname(),
    gpu: gpuRef.name,
  }
  const calibration: SimCalibration = {
    ...kept,
    ...(shape
      ? {
          interferenceLoad: {
            ...shape,
            measured: {
              ...stamp,
              method: `given (--interference-load ${o.interferenceLoad}); the per-profile γ fitted under it`,
            },
          },
        }
      : {}),
    profileInterference: {
      gamma,
      measured: {
        ...stamp,
        method: `per profile, γ where the mean of ln(simulated ÷ measured req/s) over its workers in runs of two or more workers crosses 0, every run re-simulated at γ ${PROFILE_GAMMA_GRID.join(', ')} for every profile at once (linear between grid points), the other constants kept`,
        notes:
          `GPU runs of ${sources}, each re-simulated with its plan (the one recorded with it, else made again and checked against the run) in windows long enough for ${SIM_WINDOWS.requestsPerWindow} requests of the slowest worker (${SIM_WINDOWS.minWindowS}–${SIM_WINDOWS.maxWindowS} s).` +
          (keptGammas.length > 0
            ? ` ${keptGammas.map(([k]) => k).join(', ')}: kept from the file this one replaced (${kept.profileInterference?.measured.notes ?? ''})`
            : ''),
      },
    },
  }
  parseFormat('sim-calibration', calibration, 'sim-calibration.json (about to be written)')
  const made = { profileFit: fit, calibration, power }
  if (o.dryRun) {
    console.log(`\n--dry-run: nothing written (${((performance.now() - t0) / 1000).toFixed(1)} s)`)
    return { ...made, written: [] }
  }
  const out = o.out ?? o.profiles
  if (!existsSync(out)) mkdirSync(out, { recursive: true })
  const calFile = join(out, 'sim-calibration.json')
  writeFileSync(calFile, `${JSON.stringify(calibration, null, 1)}\n`)
  console.log(`\nwrote ${calFile} in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
  return { ...made, written: [calFile] }
}
