// The simulator against GPU runs with real-time workers (DISB's workloads, docs/workloads.md): each run re-simulated
// with the plan it executed, its seed, arrivals, warm-up and window (the same arrival times, so the same real-time
// requests), and DISB's metrics compared. Fits the calibration's real-time constants (contention.ts,
// RealtimeCalibration) on some workloads and reports the others held out:
// - openLoopIssueUs on the fitting workloads' rt-alone runs (the real-time workers alone on the whole GPU: no
//   contention, so the gap between the simulated and the measured mean is the host's alone);
// - priorityDrainUs then, on their eclip-rt runs (the only runs with high-priority streams);
// - gateWaitUs last, where those runs have gates (eclip-rt's gate mechanism), on their overall throughput ÷
//   baseline's (what a gate costs is best-effort work, not real-time latency);
// - openLoopIssueJitterUs last, on the rt-alone runs' RT p99 (the delay's random part, its mean kept: the tail the
//   host's varying wake-up gives), among the values that leave their RT mean as close as the fixed delay did. The
//   constants before it are fitted on means with the delay fixed, so it leaves them as they are.
// The contention constants are left as they are: `eclip calibrate` fits them on closed-loop runs.
import { dirname, join } from 'node:path'
import { type Calibration, simulate } from '../execute/sim/index.ts'
import {
  type Gpu,
  type Plan,
  type PowerModel,
  type Primitives,
  type Profile,
  type Results,
  type Run,
  readFile,
  type SimCalibration,
  UserError,
  type WorkerSpec,
} from '../formats/index.ts'
import { buildRun, normalise } from '../measure/metrics.ts'
import { profilesOfPlan } from '../profile/gemm-target.ts'
import { checkSameGpu, loadGpu, loadPrimitives, profilesIn } from '../profile/store.ts'
import { replaySpec } from './calibrate.ts'

export interface RealtimeInputs {
  gpu: Gpu
  primitives: Primitives
  power: PowerModel
  profilesFor: (workers: WorkerSpec[]) => Profile[]
  /** The plan a GPU run executed (its recorded plan file). */
  planOf: (run: Run) => Plan
}

/**
 * A results file's GPU runs with real-time workers, and what re-simulating them takes from a profile directory: its
 * GPU, primitives, power model and calibration (sim-calibration.json), each run's recorded plan.
 */
export function loadRealtimeSet(
  resultsFile: string,
  profilesDir: string,
): { runs: Run[]; inputs: RealtimeInputs; calibration: SimCalibration; calibrationFile: string } {
  const gpu = loadGpu(profilesDir)
  const primitives = loadPrimitives(profilesDir, gpu)
  if (!primitives) throw new UserError(`${profilesDir}: no primitives.json`)
  const calibrationFile = join(profilesDir, 'sim-calibration.json')
  const calibration = readFile<SimCalibration>('sim-calibration', calibrationFile)
  checkSameGpu(calibrationFile, calibration.gpu, gpu)
  const runs = readFile<Results>('results', resultsFile).runs.filter(
    (r) => r.backend === 'gpu' && r.metrics.realtime !== undefined,
  )
  if (runs.length === 0) throw new UserError(`${resultsFile}: no GPU runs with real-time workers`)
  const planOf = (r: Run) => {
    if (!r.planFile) throw new UserError(`${resultsFile}: run ${r.id} recorded no plan file`)
    return readFile<Plan>('plan', join(dirname(resultsFile), r.planFile))
  }
  return {
    runs,
    inputs: {
      gpu,
      primitives,
      power: readFile<PowerModel>('power', join(profilesDir, 'power.json')),
      profilesFor: profilesIn(profilesDir, gpu),
      planOf,
    },
    calibration,
    calibrationFile,
  }
}

/** A run's workers as the bench gave them to its backend: priorities and SLOs included. */
const workersOf = (r: Run): WorkerSpec[] =>
  r.workers.map((w) => ({
    name: w.name,
    model: w.model,
    batch: w.batch,
    dtype: w.dtype,
    ...(w.priority !== undefined ? { priority: w.priority } : {}),
    ...(w.sloMs !== undefined ? { sloMs: w.sloMs } : {}),
  }))

/** Every GPU run of `runs` re-simulated under `cal`, normalised together (alone and baseline runs as measured). */
export function resimulateRealtime(runs: readonly Run[], inputs: RealtimeInputs, cal: Calibration): Run[] {
  const sim = runs.map((r) => {
    const plan = inputs.planOf(r)
    plan.workers.forEach((pw, i) => {
      const w = r.workers[i]
      if (!w || pw.name !== w.name || pw.kernels !== w.kernelsPerRequest)
        throw new Error(`run ${r.id}: its plan does not match the run (worker ${pw.name})`)
    })
    const workers = workersOf(r)
    const spec = replaySpec(r, {
      gpu: inputs.gpu,
      plan,
      workers,
      profiles: profilesOfPlan(plan, inputs.profilesFor(workers)),
      warmupS: r.warmupS,
      windowS: r.windowS,
      primitives: inputs.primitives,
      power: inputs.power,
    })
    const { stats: _s, ...result } = simulate(spec, { calibration: cal })
    return buildRun(spec, result, { backend: 'sim' })
  })
  return normalise(sim)
}

/** One run's simulated DISB metrics against the measured: relative errors (sim ÷ GPU − 1), the increase in points. */
export interface RealtimeDrift {
  /** The workload: the run's mix without `:rt-alone`. */
  workload: string
  policy: string
  role: Run['role']
  rtMean: number
  rtP99: number
  /** RT latency increase over alone, simulated minus measured, in percentage points (null: an alone run). */
  increasePp: number | null
  /** Overall req/s ÷ baseline's, sim ÷ GPU − 1 (null: baseline and alone runs, 1 by definition). */
  overallVsBaseline: number | null
  /** Overall req/s, sim ÷ GPU − 1. */
  overall: number
  gpu: { rtMeanUs: number; increasePct: number | null; overallVsBaseline: number | null }
  sim: { rtMeanUs: number; increasePct: number | null; overallVsBaseline: number | null }
}

export function realtimeDrift(gpuRuns: readonly Run[], simRuns: readonly Run[]): RealtimeDrift[] {
  return gpuRuns.map((g, i) => {
    const s = simRuns[i] as Run
    const a = g.metrics.realtime
    const b = s.metrics.realtime
    if (!a || !b || a.meanUs === null || b.meanUs === null || a.p99Us === null || b.p99Us === null)
      throw new Error(`run ${g.id}: no real-time requests to compare`)
    const ratio = (x: number | null, y: number | null) =>
      x !== null && y !== null && y > 0 ? x / y - 1 : null
    return {
      workload: g.mix.replace(/:rt-alone$/, ''),
      policy: g.policy,
      role: g.role,
      rtMean: b.meanUs / a.meanUs - 1,
      rtP99: b.p99Us / a.p99Us - 1,
      increasePp: a.increasePct !== null && b.increasePct !== null ? b.increasePct - a.increasePct : null,
      overallVsBaseline:
        g.policy === 'baseline' ? null : ratio(b.overallVsBaseline ?? null, a.overallVsBaseline ?? null),
      overall: b.overallRps / a.overallRps - 1,
      gpu: { rtMeanUs: a.meanUs, increasePct: a.increasePct, overallVsBaseline: a.overallVsBaseline },
      sim: { rtMeanUs: b.meanUs, increasePct: b.increasePct, overallVsBaseline: b.overallVsBaseline },
    }
  })
}

const meanAbs = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + Math.abs(b), 0) / xs.length : 0)

export interface RealtimeFit {
  openLoopIssueUs: number
  openLoopIssueJitterUs: number
  priorityDrainUs: number
  /** Fitted only where the fitting eclip-rt runs have gates. */
  gateWaitUs?: number
  /** Mean |overall ÷ baseline error| of the fitting gated runs at the fit. */
  gateErr?: number
  /** Mean |RT mean error| of the fitting workloads' rt-alone runs, then of their eclip-rt runs, at the fit. */
  aloneErr: number
  priorityErr: number
  /** Mean |RT p99 error| of the fitting workloads' rt-alone runs at the fit, and with the delay fixed (jitter 0). */
  tailErr: number
  fixedTailErr: number
}

/** Grids of the fit (µs). */
export const ISSUE_GRID = Array.from({ length: 41 }, (_, i) => i * 5)
export const DRAIN_GRID = [0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4, 5, 6, 8, 10]
export const GATE_GRID = [0, 0.5, 1, 1.5, 2, 2.5, 3, 4, 5, 6, 8]
export const JITTER_GRID = [0, 5, 10, 15, 20, 25, 30, 35, 40, 50, 60, 80, 100]
/** How much worse than the fixed delay's the rt-alone runs' mean |RT mean error| may get for a jitter value. */
export const JITTER_MEAN_SLACK = 0.005

/**
 * Fits the real-time constants on the GPU runs of `fitOn` workloads (over `contention`'s other constants): the issue
 * delay on their rt-alone runs, then the drain on their eclip-rt runs, each the grid value of least mean |RT mean
 * error|; last the issue delay's jitter on the rt-alone runs, the grid value of least mean |RT p99 error| whose mean
 * |RT mean error| is within JITTER_MEAN_SLACK of the fixed delay's.
 */
export function fitRealtime(
  gpuRuns: readonly Run[],
  fitOn: readonly string[],
  inputs: RealtimeInputs,
  contention: Calibration,
): RealtimeFit {
  const of = (pick: (r: Run) => boolean) =>
    gpuRuns.filter((r) => fitOn.includes(r.mix.replace(/:rt-alone$/, '')) && pick(r))
  const alone = of((r) => r.role === 'rt-alone')
  if (alone.length === 0)
    throw new Error(`no rt-alone GPU runs of ${fitOn.join(', ')} to fit the issue delay on`)
  // the delay fixed: the constants below are fitted on means, the jitter last on its own
  const at = (issue: number, drain: number, gate?: number): Calibration => ({
    ...contention,
    realtime: {
      openLoopIssueUs: issue,
      priorityDrainUs: drain,
      ...(gate !== undefined ? { gateWaitUs: gate } : {}),
    },
  })
  // the eclip-rt runs are compared with their alone runs and baselines: simulate those beside them
  const errOf = (
    runs: readonly Run[],
    pick: (r: Run) => boolean,
    cal: Calibration,
    metric: (d: RealtimeDrift) => number = (d) => d.rtMean,
  ) => {
    const drift = realtimeDrift(runs, resimulateRealtime(runs, inputs, cal))
    return meanAbs(drift.filter((_, i) => pick(runs[i] as Run)).map(metric))
  }
  const best = (grid: readonly number[], score: (v: number) => number) => {
    let v0 = grid[0] as number
    let e0 = Number.POSITIVE_INFINITY
    for (const v of grid) {
      const e = score(v)
      if (e < e0 - 1e-12) {
        e0 = e
        v0 = v
      }
    }
    return { value: v0, err: e0 }
  }
  const issue = best(ISSUE_GRID, (v) => errOf(alone, () => true, at(v, 0)))
  const fitJitter = () => fitIssueJitter(gpuRuns, fitOn, inputs, at(issue.value, 0))
  const withPriority = of((r) => r.policy === 'eclip-rt' || r.role === 'rt-alone' || r.policy === 'baseline')
  if (!withPriority.some((r) => r.policy === 'eclip-rt'))
    throw new Error(`no eclip-rt GPU runs of ${fitOn.join(', ')} to fit the drain on`)
  const drain = best(DRAIN_GRID, (v) =>
    errOf(withPriority, (r) => r.policy === 'eclip-rt', at(issue.value, v)),
  )
  // the runs whose plans have gates, read once (the grid below asks for every value)
  const gatedRuns = new Set(
    withPriority.filter((r) => r.policy === 'eclip-rt' && inputs.planOf(r).workers.some((w) => w.gate)),
  )
  const gated = (r: Run) => gatedRuns.has(r)
  const fit = {
    openLoopIssueUs: issue.value,
    priorityDrainUs: drain.value,
    aloneErr: issue.err,
    priorityErr: drain.err,
  }
  if (gatedRuns.size === 0) return { ...fit, ...fitJitter() }
  const gate = best(GATE_GRID, (v) =>
    errOf(withPriority, gated, at(issue.value, drain.value, v), (d) => d.overallVsBaseline ?? 0),
  )
  return { ...fit, gateWaitUs: gate.value, gateErr: gate.err, ...fitJitter() }
}

/**
 * The issue delay's jitter alone, over `cal`'s real-time constants (its issue delay): on the rt-alone runs of `fitOn`
 * (no priorities, no gates: the drain and the gate wait play no part), the grid value of least mean |RT p99 error|
 * among those whose mean |RT mean error| is within JITTER_MEAN_SLACK of the fixed delay's.
 */
export function fitIssueJitter(
  gpuRuns: readonly Run[],
  fitOn: readonly string[],
  inputs: RealtimeInputs,
  cal: Calibration,
): Pick<RealtimeFit, 'openLoopIssueJitterUs' | 'tailErr' | 'fixedTailErr'> {
  const rt = cal.realtime
  if (!rt) throw new Error("no real-time constants to fit the issue delay's jitter over")
  const alone = gpuRuns.filter(
    (r) => fitOn.includes(r.mix.replace(/:rt-alone$/, '')) && r.role === 'rt-alone',
  )
  if (alone.length === 0)
    throw new Error(`no rt-alone GPU runs of ${fitOn.join(', ')} to fit the issue delay's jitter on`)
  // each value's runs once, both errors from them
  const tails = JITTER_GRID.filter((v) => v <= rt.openLoopIssueUs).map((v) => {
    const { openLoopIssueJitterUs: _j, ...base } = rt
    const at = { ...cal, realtime: v > 0 ? { ...base, openLoopIssueJitterUs: v } : base }
    const drift = realtimeDrift(alone, resimulateRealtime(alone, inputs, at))
    return { v, mean: meanAbs(drift.map((d) => d.rtMean)), p99: meanAbs(drift.map((d) => d.rtP99)) }
  })
  const fixed = tails[0] as (typeof tails)[number]
  let pick = fixed
  for (const x of tails) if (x.mean <= fixed.mean + JITTER_MEAN_SLACK && x.p99 < pick.p99 - 1e-12) pick = x
  return { openLoopIssueJitterUs: pick.v, tailErr: pick.p99, fixedTailErr: fixed.p99 }
}

const pct = (x: number | null, signedPp = false) =>
  x === null
    ? '–'
    : signedPp
      ? `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(1)}`
      : `${x >= 0 ? '+' : '−'}${(Math.abs(x) * 100).toFixed(1)}%`

/** The comparison as a table: one row per run, measured beside simulated. */
export function driftText(drift: readonly RealtimeDrift[], fitOn: readonly string[]): string {
  const rows = drift.map((d) => {
    const name = `${d.workload}${d.role === 'rt-alone' ? ' alone' : ` ${d.policy}`}`
    const inc = (x: number | null) => (x === null ? '–' : `${x >= 0 ? '+' : ''}${x.toFixed(1)}%`)
    const ov = (x: number | null) => (x === null ? '–' : x.toFixed(2))
    return (
      `${name.padEnd(22)} ${fitOn.includes(d.workload) ? 'fit ' : 'test'} ` +
      `${(d.gpu.rtMeanUs / 1000).toFixed(3).padStart(7)} ${(d.sim.rtMeanUs / 1000).toFixed(3).padStart(7)} ${pct(d.rtMean).padStart(7)}  ` +
      `${inc(d.gpu.increasePct).padStart(8)} ${inc(d.sim.increasePct).padStart(8)} ${pct(d.increasePp, true).padStart(7)}  ` +
      `${ov(d.gpu.overallVsBaseline).padStart(5)} ${ov(d.sim.overallVsBaseline).padStart(5)}  ${pct(d.rtP99).padStart(7)}  ${pct(d.overall).padStart(7)}`
    )
  })
  return [
    'run                    set  RT mean ms (gpu, sim, error)   increase (gpu, sim, points)  overall ÷ base  RT p99 err  overall err',
    ...rows,
  ].join('\n')
}
