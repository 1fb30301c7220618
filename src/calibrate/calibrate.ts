// Calibrating the simulator against GPU measurements (issue #4): the contention constants (format
// eclip.sim-calibration/1) and the power model (eclip.power/2), fitted to GPU runs of results files.
//
// Every GPU run is re-simulated with its exact plan: plans are deterministic, so the planner (makePlan in the CLI;
// for eclip-fit with the simulator evaluator and calibration it was planned with) is asked again for the run's mix,
// workers and policy, and the plan is checked against what the run recorded (switches and kernels per request of
// every worker). A re-simulation keeps the run's loop and seed but not its
// 10-s window: the simulator has no counter noise to average out (docs/design.md §6's ≥ 10 s is for NVML), only whole
// requests to count, so its window is sized to a number of requests of the run's slowest worker.
//
// Contention: a grid over the constants (sharing rule × demand tolerance × memory interference γ); each point
// re-simulates every run once, and errors are taken per results file and kind of run from the same simulations, so
// held-out errors (fit on some files, check on the others) cost nothing more. Throughput is compared normalised, as
// docs/design.md §6 says: a partitioned run's workers by their rate vs the same worker under baseline, a baseline run's
// workers by their rate vs their solo rate (what the sharing rule and γ decide; a baseline's normVsBaseline is 1 by
// definition). By default only single-launch runs (solo, baseline, model-wise) choose the constants: kernel-wise runs
// on the GPU are dominated by the executor's host side, which the contention model does not describe.
//
// Power: P = idle W + W per SM of work rate (src/formats/power.ts). A GPU run's work rate needs no simulation: its
// measured request rates × each request's work (SM·s at the kernels' right-sizes on the whole GPU). The measured mean
// power (NVML energy over the window / window) is regressed on it by least squares, at each right-size tolerance of
// WORK_TOLERANCES; the best R² wins.
import type { RunResult, RunSpec } from '../execute/backend.ts'
import type { Sharing } from '../execute/sim/contention.ts'
import { type Calibration, simulate } from '../execute/sim/index.ts'
import { energyJ, workSmUs } from '../execute/sim/power.ts'
import {
  type Gpu,
  type GpuRef,
  type Plan,
  type PowerModel,
  type Primitives,
  type Profile,
  type Run,
  UserError,
  type WorkerSpec,
} from '../formats/index.ts'
import { attachProfileRefs, buildRun, normalise } from '../measure/metrics.ts'
import { mean } from '../measure/stats.ts'
import type { Planner } from '../plan/index.ts'
import { profilesOfPlan } from '../profile/gemm-target.ts'
import { DEFAULT_TOLERANCE } from '../profile/rightsize.ts'

/** GPU runs of one results file: normalisation (baseline, solo) stays inside a file, as it does when measured. */
export interface RunSet {
  label: string
  runs: Run[]
  /** The plan a run executed as recorded with it (Run.planFile), where there is one; else it is made again. */
  recordedPlan?: (run: Run) => Plan | undefined
  /** What makes a plan again for this set's runs (the options its bench recorded); else PrepareOptions.planner. */
  planner?: Planner
}

/** One GPU run ready to be re-simulated. */
export interface Case {
  set: string
  gpu: Run
  spec: RunSpec
}

export interface PrepareOptions {
  sets: RunSet[]
  gpu: Gpu
  profilesFor: (workers: WorkerSpec[]) => Profile[]
  primitives: Primitives
  /** What makes a plan again for the runs of a set without its own planner. */
  planner?: Planner
  /**
   * The simulator's window per re-simulation: long enough for the slowest worker (at its measured rate) to complete
   * `requestsPerWindow` requests — a window's request count is whole, so a short window quantises slow workers'
   * rates — within [minWindowS, maxWindowS]; warm-up a tenth of it.
   */
  requestsPerWindow: number
  minWindowS: number
  maxWindowS: number
}

/**
 * A GPU run as the simulator replays it: its key, loop and seed, with `plan`, `workers` and `profiles`, in a window.
 */
export function replaySpec(
  r: Run,
  o: Pick<RunSpec, 'gpu' | 'plan' | 'workers' | 'profiles' | 'primitives' | 'power' | 'warmupS' | 'windowS'>,
): RunSpec {
  return {
    key: r.key,
    role: r.role,
    mix: r.mix,
    mode: r.mode,
    batch: r.batch,
    loop: r.loop,
    seed: r.seed,
    ...o,
  }
}

const sameGpu = (a: GpuRef, b: GpuRef) =>
  a.name === b.name && a.smCount === b.smCount && a.sliceSize === b.sliceSize

/** The GPU runs of every set, each with its re-made plan; refuses what cannot be compared. */
export async function prepareCases(o: PrepareOptions): Promise<Case[]> {
  const cases: Case[] = []
  const plans = new Map<string, RunSpec['plan']>()
  for (const set of o.sets) {
    const gpuRuns = set.runs.filter((r) => r.backend === 'gpu')
    // the system metrics of runs recorded before them: each worker's profile references, then the set normalised
    // again (the ratios to baseline and solo come out as recorded)
    attachProfileRefs(
      gpuRuns,
      (w) => o.profilesFor([{ name: w.model, model: w.model, batch: w.batch, dtype: w.dtype }])[0] ?? null,
      DEFAULT_TOLERANCE,
    )
    normalise(gpuRuns)
    if (gpuRuns.length === 0)
      throw new UserError(`${set.label}: no GPU runs (backend "gpu"): nothing measured to calibrate against`)
    for (const r of gpuRuns) {
      if (!sameGpu(r.gpu, o.gpu))
        throw new UserError(
          `${set.label}: run ${r.id} was measured on ${r.gpu.name} (${r.gpu.smCount} SMs), but the profiles are from ${o.gpu.name} (${o.gpu.smCount} SMs)`,
        )
      const workers: WorkerSpec[] = r.workers.map((w) => ({
        name: w.name,
        model: w.model,
        batch: w.batch,
        dtype: w.dtype,
      }))
      const profiles = o.profilesFor(workers)
      // a set with its own planner plans with its own options: its plans are not another set's
      const planKey = `${set.planner ? `${set.label}|` : ''}${r.mix}|${r.policy}|${workers.map((w) => `${w.name}:${w.model}:${w.batch}:${w.dtype}`).join(',')}`
      let plan = set.recordedPlan?.(r) ?? plans.get(planKey)
      if (!plan) {
        const planner = set.planner ?? o.planner
        if (!planner)
          throw new Error(`${set.label}: run ${r.id} has no recorded plan and no planner to make it`)
        plan = await planner(o.gpu, r.mix, workers, profiles, { policy: r.policy })
        plans.set(planKey, plan)
      }
      // the plan must be the one the run executed: same groups (switches) and kernels per worker
      plan.workers.forEach((pw, i) => {
        const w = r.workers[i]
        if (!w || pw.groups.length - 1 !== w.switchesPerRequest || pw.kernels !== w.kernelsPerRequest)
          throw new UserError(
            `${set.label}: run ${r.id}: the plan ${set.recordedPlan?.(r) ? `recorded with it${r.planFile ? ` (${r.planFile})` : ''}` : 'made again from the profiles'} differs from the one the run executed ` +
              `(worker ${pw.name}: ${pw.groups.length - 1} switches / ${pw.kernels} kernels per request, recorded ${w?.switchesPerRequest} / ${w?.kernelsPerRequest}); were the runs made from other profiles?`,
          )
      })
      const slowest = Math.min(...r.workers.map((w) => w.throughputRps))
      const windowS = Math.min(
        o.maxWindowS,
        Math.max(o.minWindowS, slowest > 0 ? o.requestsPerWindow / slowest : o.maxWindowS),
      )
      cases.push({
        set: set.label,
        gpu: r,
        spec: replaySpec(r, {
          gpu: o.gpu,
          plan,
          workers,
          profiles: profilesOfPlan(plan, profiles),
          warmupS: windowS / 10,
          windowS,
          primitives: o.primitives,
          // replaced per simulation; the contention fit does not look at energy
          power: neutralPower(o.gpu),
        }),
      })
    }
  }
  return cases
}

/** A placeholder power model (contention fits score throughput, not energy); `tool`: who made it. */
export function neutralPower(gpu: GpuRef, tool = 'eclip calibrate'): PowerModel {
  return {
    format: 'eclip.power/1',
    gpu: { name: gpu.name, smCount: gpu.smCount, sliceSize: gpu.sliceSize },
    idleW: 0,
    wPerBusySm: 1,
    wPerMemGBs: 0,
    fitted: false,
    measured: { date: '-', method: 'placeholder', tool },
  }
}

/** Re-simulates every case with `cal` and `power`; returns the sim runs, normalised per set, in case order. */
export function simulateCases(cases: readonly Case[], cal: Calibration, power: PowerModel): Run[] {
  const out: Run[] = []
  for (const c of cases) {
    const spec = { ...c.spec, power }
    const { stats: _s, ...result } = simulate(spec, { calibration: cal })
    out.push(simRun(spec, result, c.gpu))
  }
  for (const set of new Set(cases.map((c) => c.set))) normalise(out.filter((_, i) => cases[i]?.set === set))
  return out
}

function simRun(spec: RunSpec, result: RunResult, gpu: Run): Run {
  const s = spec.plan.solver
  return buildRun(spec, result, {
    backend: 'sim',
    planSolver: `${s.name} ${s.status}`,
    notes: [`re-simulated for calibration against ${gpu.id}`],
  })
}

/**
 * A run's energy metrics under another power model, from what it recorded (busy SMs, requests per worker): energy is
 * linear in both, no re-simulation needed. On a GPU run (no busy SMs) only eclip.power/2 means anything.
 */
export function withPower(run: Run, power: PowerModel, spec: RunSpec): Run {
  const windowUs = run.windowS * 1e6
  const util = run.metrics.meanSmUtilisation ?? 0
  const tol = power.format === 'eclip.power/2' ? power.workTolerance : 0
  const energy = energyJ(power, {
    windowUs,
    smBusyUs: util * spec.gpu.smCount * windowUs,
    workSmUs: workSmUs(
      spec.profiles,
      run.workers.map((w) => w.requests),
      tol,
    ),
  })
  const requests = run.metrics.requests
  return {
    ...run,
    metrics: {
      ...run.metrics,
      energyJ: energy,
      meanPowerW: energy / run.windowS,
      jPerRequest: requests > 0 ? energy / requests : null,
      requestsPerJ: energy > 0 ? requests / energy : null,
    },
  }
}

/** How far simulated runs are from the measured ones, over one set of cases. */
export interface ErrorSummary {
  /** Mean |sim − measured| of normVsBaseline over the workers of partitioned (non-baseline) mix runs. */
  normTput: number | null
  /** Mean |sim − measured| of normVsSolo over the workers of baseline mix runs. */
  baselineVsSolo: number | null
  /** The fit's objective: the mean of both terms above over all their worker-runs pooled. */
  objective: number | null
  /** Mean |sim / measured − 1| of raw req/s over the workers of every run (solo included). */
  rpsRel: number | null
  /** RMS of (sim / measured − 1) of raw req/s over the same worker-runs. */
  rpsRelRms: number | null
  /** Mean |sim − measured| of requests/J ÷ baseline's (total requests ÷ energy) over partitioned mix runs. */
  normReqPerJ: number | null
  /** Mean |sim / measured − 1| of requests/J over every run. */
  reqPerJRel: number | null
  /**
   * Mean |sim / measured − 1| of STP ÷ the mix's baseline STP (src/measure/system.ts) over partitioned mix runs: the
   * system throughput the headline quotes.
   */
  stpVsBaseline: number | null
  /** Mean |sim / measured − 1| of STP itself over every mix run, baseline included. */
  stp: number | null
  runs: number
  workerRuns: number
}

const isPartitioned = (r: Run) => r.role === 'mix' && r.policy !== 'baseline'
const isBaselineMix = (r: Run) => r.role === 'mix' && r.policy === 'baseline'

export function compareRuns(gpu: readonly Run[], sim: readonly Run[]): ErrorSummary {
  const tput: number[] = []
  const base: number[] = []
  const rps: number[] = []
  const eff: number[] = []
  const rpj: number[] = []
  const stp: number[] = []
  const stpAbs: number[] = []
  gpu.forEach((g, i) => {
    const s = sim[i] as Run
    g.workers.forEach((gw, wi) => {
      const sw = s.workers[wi]
      if (!sw) return
      if (isPartitioned(g) && gw.normVsBaseline !== null && sw.normVsBaseline !== null)
        tput.push(Math.abs(sw.normVsBaseline - gw.normVsBaseline))
      if (isBaselineMix(g) && gw.normVsSolo !== null && sw.normVsSolo !== null)
        base.push(Math.abs(sw.normVsSolo - gw.normVsSolo))
      if (gw.throughputRps > 0) rps.push(sw.throughputRps / gw.throughputRps - 1)
    })
    const ge = g.metrics.requestsPerJVsBaseline ?? null
    const se = s.metrics.requestsPerJVsBaseline ?? null
    if (isPartitioned(g) && ge !== null && se !== null) eff.push(Math.abs(se - ge))
    const gs = g.metrics.system?.stpVsBaseline
    const ss = s.metrics.system?.stpVsBaseline
    if (isPartitioned(g) && gs && ss) stp.push(Math.abs(ss / gs - 1))
    const ga = g.metrics.system?.stp
    const sa = s.metrics.system?.stp
    if (g.role === 'mix' && ga && sa) stpAbs.push(Math.abs(sa / ga - 1))
    const gj = g.metrics.requestsPerJ
    const sj = s.metrics.requestsPerJ
    if (gj !== null && sj !== null && gj > 0) rpj.push(Math.abs(sj / gj - 1))
  })
  return {
    normTput: mean(tput),
    baselineVsSolo: mean(base),
    objective: mean([...tput, ...base]),
    rpsRel: mean(rps.map(Math.abs)),
    rpsRelRms: rps.length > 0 ? Math.sqrt(mean(rps.map((x) => x * x)) as number) : null,
    normReqPerJ: mean(eff),
    reqPerJRel: mean(rpj),
    stpVsBaseline: mean(stp),
    stp: mean(stpAbs),
    runs: gpu.length,
    workerRuns: tput.length + base.length,
  }
}

/** Errors over the cases `pick` selects, for sim runs in case order; null when it selects none. */
export function errorsOf(
  cases: readonly Case[],
  sim: readonly Run[],
  pick: (c: Case) => boolean,
): ErrorSummary | null {
  const idx = cases.flatMap((c, i) => (pick(c) ? [i] : []))
  if (idx.length === 0) return null
  return compareRuns(
    idx.map((i) => (cases[i] as Case).gpu),
    idx.map((i) => sim[i] as Run),
  )
}

/**
 * Runs whose plan is one launch per request with no switch (solo, baseline, model-wise): there the GPU's executor
 * adds no host cost per group, so they show SM sharing alone — what the contention constants describe. A mix's
 * baseline run again (bench --bracket) is left out: one mix counts once.
 */
export const isSingleLaunch = (r: Run) =>
  r.role !== 'baseline-after' && (r.role === 'solo' || r.policy === 'baseline' || r.policy === 'model-wise')

/**
 * Which GPU runs the contention constants are chosen on: every one, the single-launch ones, or those and every run
 * in graph mode (one launch per request too, its partitions joined by graph edges: no host cost per group, but the
 * footprint and the edges' cost show).
 */
export type FitScope = 'all' | 'single-launch' | 'graph'
export const inScope = (scope: FitScope) => (c: Case) =>
  scope === 'all' || isSingleLaunch(c.gpu) || (scope === 'graph' && c.gpu.mode === 'graph')

/** The constants a grid point sets. */
export interface ContentionConstants {
  sharing: Sharing
  saturationTolerance: number
  memoryInterference: number
  /** block residency ρ (contention.ts); absent: none */
  residency?: number
  /** footprint ρ_f (contention.ts); absent: a kernel takes its demand */
  footprint?: number
  /** co-residency slowdown κ under 'coresident' sharing (contention.ts); absent: none */
  coresidency?: number
  /** µs of a graph edge between partitions; absent: the primitives file's */
  switchGraphEdgeUs?: number
}

export interface Grid {
  sharing: Sharing[]
  saturationTolerance: number[]
  memoryInterference: number[]
  /** ρ values; null: no residency (each SM a kernel's alone, as before ρ existed) */
  residency: (number | null)[]
  /** ρ_f values; null: no footprint (a kernel takes its demand) */
  footprint: (number | null)[]
  /** κ values; null: no co-residency slowdown */
  coresidency: (number | null)[]
  /** graph-edge µs; null: the primitives file's */
  switchGraphEdgeUs: (number | null)[]
}

/** Default search grid of the whole-SM rules: fifo and fair, demand tolerances 0–20%, γ 0–2 (γ = 1: all other SMs
 * busy halves a rate). `--grid` narrows this one. */
export const DEFAULT_GRID: Grid = {
  sharing: ['fifo', 'fair'],
  saturationTolerance: [0, 0.01, 0.05, 0.1, 0.2],
  memoryInterference: [0, 0.1, 0.25, 0.35, 0.5, 0.75, 1, 1.5, 2],
  residency: [null],
  footprint: [null],
  coresidency: [null],
  switchGraphEdgeUs: [null],
}

/** The co-resident rule's own axes (block residency ρ, footprint ρ_f, slowdown κ), around the values that described
 * the H100 (docs/calibrate.md); without them the rule has no residency to share by. */
export const CORESIDENT_GRID: Grid = {
  sharing: ['coresident'],
  saturationTolerance: [0.01],
  memoryInterference: [0.35, 0.5, 0.75],
  residency: [0.5, 1],
  footprint: [1, 1.5],
  coresidency: [0.25, 0.35, 0.45],
  switchGraphEdgeUs: [null],
}

/** What `eclip calibrate` searches without `--grid`: both grids above. */
export const DEFAULT_GRIDS: readonly Grid[] = [DEFAULT_GRID, CORESIDENT_GRID]

export interface GridPoint {
  constants: ContentionConstants
  /** The simulated runs, in case order (with the neutral power model: energy not meaningful). */
  sim: Run[]
}

export const asCalibration = (c: ContentionConstants, source: string, fitted: boolean): Calibration => ({
  ...c,
  fitted,
  source,
})

/** The grid of one point: a calibration's constants (none where it has none). */
export const gridAt = (c: ContentionConstants): Grid => ({
  sharing: [c.sharing],
  saturationTolerance: [c.saturationTolerance],
  memoryInterference: [c.memoryInterference],
  residency: [c.residency ?? null],
  footprint: [c.footprint ?? null],
  coresidency: [c.coresidency ?? null],
  switchGraphEdgeUs: [c.switchGraphEdgeUs ?? null],
})

/** Every point of a grid (or of several, one after another), in the order the axes are listed (sharing outermost). */
export function gridPoints(grid: Grid | readonly Grid[]): ContentionConstants[] {
  if (!('sharing' in grid)) return grid.flatMap((g) => gridPoints(g))
  const points: ContentionConstants[] = []
  for (const sharing of grid.sharing)
    for (const saturationTolerance of grid.saturationTolerance)
      for (const memoryInterference of grid.memoryInterference)
        for (const residency of grid.residency)
          for (const footprint of grid.footprint)
            for (const coresidency of grid.coresidency)
              for (const switchGraphEdgeUs of grid.switchGraphEdgeUs)
                points.push({
                  sharing,
                  saturationTolerance,
                  memoryInterference,
                  ...(residency !== null ? { residency } : {}),
                  ...(footprint !== null ? { footprint } : {}),
                  ...(coresidency !== null ? { coresidency } : {}),
                  ...(switchGraphEdgeUs !== null ? { switchGraphEdgeUs } : {}),
                })
  return points
}

/** What a fit keeps at every grid point: each profile's own γ and κ, the MPS client rate (where given). */
export type KeptConstants = Pick<
  Calibration,
  'profileInterference' | 'coresidencyByProfile' | 'mpsClientRate'
>

/**
 * Simulates every case at every grid point, with what the fit keeps: each profile's own γ in place of the point's for
 * that profile's kernels, the MPS client rate on MPS runs. `onPoint` reports progress.
 */
export function searchGrid(
  cases: readonly Case[],
  grid: Grid | readonly Grid[],
  onPoint?: (done: number, total: number) => void,
  kept: KeptConstants = {},
): GridPoint[] {
  const power = neutralPower((cases[0] as Case).spec.gpu)
  const all = gridPoints(grid)
  return all.map((constants, i) => {
    const cal = asCalibration(constants, 'grid search', false)
    const sim = simulateCases(cases, { ...cal, ...kept }, power)
    onPoint?.(i + 1, all.length)
    return { constants, sim }
  })
}

/**
 * The grid point with the least objective over the cases `pick` selects (pooled worker-runs). `kept`: the grid is the
 * one point of constants kept as they are (`--keep-contention`): nothing to choose, so it is taken, with no objective
 * where no run scores it (no solo or partitioned runs: the power model is fitted on them all the same). A grid to
 * fit needs runs that score it.
 */
export function bestPoint(
  points: readonly GridPoint[],
  cases: readonly Case[],
  pick: (c: Case) => boolean,
  kept = false,
): { point: GridPoint; objective: number | null } {
  const [only] = points
  if (kept && points.length === 1 && only)
    return { point: only, objective: errorsOf(cases, only.sim, pick)?.objective ?? null }
  let best: GridPoint | undefined
  let bestErr = Number.POSITIVE_INFINITY
  for (const p of points) {
    const e = errorsOf(cases, p.sim, pick)?.objective ?? null
    // ties (a γ no run is sensitive to) keep the earlier, simpler point
    if (e !== null && e < bestErr - 1e-12) {
      bestErr = e
      best = p
    }
  }
  if (!best) throw new UserError('no GPU run to fit the contention constants on')
  return { point: best, objective: bestErr }
}

/**
 * Right-size tolerances the power fit tries. On the H100 and H200 series R² rose from 0 to 20–30% and fell again
 * beyond 100% (at ∞ every kernel's right-size is the smallest profiled size: work becomes time, R² ≈ 0.1).
 */
export const WORK_TOLERANCES = [0, 0.05, 0.1, 0.2, 0.3, 0.5, 1]

/** Least-squares fit of measured mean power against measured work rate. */
export interface PowerFit {
  idleW: number
  wPerWorkSm: number
  workTolerance: number
  /** Coefficient of determination over the fitting runs. */
  r2: number
  /** RMS of measured − predicted power, W. */
  rmsW: number
  /** Largest |measured − predicted|, W, and its run. */
  maxAbsW: number
  maxRun: string
  /** RMS of (predicted − measured) / measured: with equal windows, also the relative RMS error of energy. */
  relRms: number
  points: number
  /** True when a bound (≥ 0) had to be imposed, so the fit is constrained, not the plain least squares. */
  clamped: boolean
  /** R² at every tolerance tried (for the report). */
  byTolerance: { workTolerance: number; r2: number }[]
}

export interface PowerPoint {
  id: string
  /** SMs of work rate: Σ_w measured req/s × work per request (SM·s). */
  workSms: number
  powerW: number
}

/** Each GPU run's measured power against its measured work rate at right-size tolerance `tolerance`. */
export function workPoints(cases: readonly Case[], tolerance: number): PowerPoint[] {
  return cases.flatMap((c) => {
    if (!(c.gpu.metrics.meanPowerW > 0)) return []
    const work = workSmUs(
      c.spec.profiles,
      c.gpu.workers.map((w) => w.throughputRps),
      tolerance,
    )
    return [{ id: c.gpu.id, workSms: work / 1e6, powerW: c.gpu.metrics.meanPowerW }]
  })
}

/** P = idle + slope · work SMs by least squares over `points`; both kept ≥ 0. */
export function fitLine(points: readonly PowerPoint[]): Omit<PowerFit, 'workTolerance' | 'byTolerance'> {
  if (points.length < 2) throw new UserError(`a power fit needs at least 2 GPU runs, got ${points.length}`)
  const n = points.length
  const mx = points.reduce((a, p) => a + p.workSms, 0) / n
  const my = points.reduce((a, p) => a + p.powerW, 0) / n
  let sxx = 0
  let sxy = 0
  for (const p of points) {
    sxx += (p.workSms - mx) ** 2
    sxy += (p.workSms - mx) * (p.powerW - my)
  }
  if (sxx === 0) throw new UserError('a power fit needs runs with different work rates')
  let slope = sxy / sxx
  let idle = my - slope * mx
  let clamped = false
  // the format wants both ≥ 0; if least squares says otherwise, fit the other alone
  if (slope < 0) {
    slope = 0
    idle = my
    clamped = true
  } else if (idle < 0) {
    idle = 0
    slope =
      points.reduce((a, p) => a + p.workSms * p.powerW, 0) / points.reduce((a, p) => a + p.workSms ** 2, 0)
    clamped = true
  }
  return { ...powerErrors(points, idle, slope), idleW: idle, wPerWorkSm: slope, clamped }
}

/** The power model over `cases`: a line at every tolerance of `tolerances`, the best R² kept. */
export function fitPower(cases: readonly Case[], tolerances: readonly number[] = WORK_TOLERANCES): PowerFit {
  const fits = tolerances.map((workTolerance) => ({
    workTolerance,
    ...fitLine(workPoints(cases, workTolerance)),
  }))
  const best = fits.reduce((a, f) => (f.r2 > a.r2 + 1e-12 ? f : a))
  return { ...best, byTolerance: fits.map((f) => ({ workTolerance: f.workTolerance, r2: f.r2 })) }
}

/** How well P = idle + slope · work SMs explains the points. */
export function powerErrors(
  points: readonly PowerPoint[],
  idleW: number,
  wPerWorkSm: number,
): Omit<PowerFit, 'idleW' | 'wPerWorkSm' | 'workTolerance' | 'clamped' | 'byTolerance'> {
  const n = points.length
  const my = points.reduce((a, p) => a + p.powerW, 0) / n
  let ssRes = 0
  let ssTot = 0
  let rel = 0
  let maxAbsW = 0
  let maxRun = ''
  for (const p of points) {
    const r = p.powerW - (idleW + wPerWorkSm * p.workSms)
    ssRes += r * r
    ssTot += (p.powerW - my) ** 2
    rel += (r / p.powerW) ** 2
    if (Math.abs(r) > maxAbsW) {
      maxAbsW = Math.abs(r)
      maxRun = p.id
    }
  }
  return {
    r2: ssTot > 0 ? 1 - ssRes / ssTot : 1,
    rmsW: Math.sqrt(ssRes / n),
    maxAbsW,
    maxRun,
    relRms: Math.sqrt(rel / n),
    points: n,
  }
}

/** The sim runs of a grid point with energy from `power`, re-normalised per set (the requests/J ratios). */
export function simWithPower(cases: readonly Case[], sim: readonly Run[], power: PowerModel): Run[] {
  const out = sim.map((r, i) => withPower(structuredClone(r), power, (cases[i] as Case).spec))
  for (const set of new Set(cases.map((c) => c.set))) normalise(out.filter((_, i) => cases[i]?.set === set))
  return out
}

/** One mix run's STP and STP ÷ its baseline's: measured, simulated before and after a fit. */
export interface RunStp {
  id: string
  policy: string
  stp: { gpu: number; before: number | null; after: number | null }
  /** null on baseline runs (1 by definition) and where a run has no baseline. */
  stpVsBaseline: { gpu: number; before: number | null; after: number | null } | null
}

/** The mix runs among `cases` that `pick` selects, side by side with two simulations of them (in case order). */
export function runStps(
  cases: readonly Case[],
  before: readonly Run[],
  after: readonly Run[],
  pick: (c: Case) => boolean,
): RunStp[] {
  return cases.flatMap((c, i) => {
    const g = c.gpu.metrics.system
    if (!pick(c) || c.gpu.role !== 'mix' || !g) return []
    const b = before[i]?.metrics.system ?? null
    const a = after[i]?.metrics.system ?? null
    return [
      {
        id: c.gpu.id,
        policy: c.gpu.policy,
        stp: { gpu: g.stp, before: b?.stp ?? null, after: a?.stp ?? null },
        stpVsBaseline:
          isPartitioned(c.gpu) && g.stpVsBaseline !== null
            ? {
                gpu: g.stpVsBaseline,
                before: b?.stpVsBaseline ?? null,
                after: a?.stpVsBaseline ?? null,
              }
            : null,
      },
    ]
  })
}

/** What `calibrate` found: the fitted constants and power model, and errors before / after, in and out of sample. */
export interface CalibrationReport {
  constants: ContentionConstants
  /** The contention fit's objective over its fitting runs; null where none scores it (a grid of one point). */
  objective: number | null
  /** RMS of sim / measured − 1 of raw req/s over the fitting runs' workers (the format's fitRelRms). */
  fitRelRms: number | null
  scope: FitScope
  power: PowerFit
  /** Per results set when there are several, per kind of run: fitted on the other sets, checked on this one. */
  heldOut: {
    checkOn: string
    runs: RunKind
    constants: ContentionConstants
    power: PowerParams
    before: ErrorSummary
    after: ErrorSummary
    /** Every mix run of the set (with runs 'all' only; else empty): STP measured, before, after the held-out fit. */
    perRun: RunStp[]
  }[]
  /** In-sample, per set and per kind of run: before (defaults + placeholder power) and after (the final fit). */
  rows: {
    set: string
    runs: RunKind
    before: ErrorSummary
    after: ErrorSummary
  }[]
  cases: number
  points: number
}

/** Which runs an error row covers: every run, the single-launch ones (isSingleLaunch), or the others. */
export type RunKind = 'all' | 'single-launch' | 'kernel-wise'
const RUN_KINDS: readonly RunKind[] = ['all', 'single-launch', 'kernel-wise']
const ofKind = (kind: RunKind) => (c: Case) =>
  kind === 'all' || (kind === 'single-launch') === isSingleLaunch(c.gpu)

export interface CalibrateOptions {
  cases: Case[]
  grid: Grid | readonly Grid[]
  scope: FitScope
  /** The simulator's constants before calibration (CALIBRATION) and the placeholder power model. */
  before: Calibration
  beforePower: PowerModel
  onPoint?: (done: number, total: number) => void
  /** Each profile's own γ, applied at every grid point (--keep-contention keeps a file's); absent: none. */
  profileInterference?: Calibration['profileInterference']
  /** Each profile's own κ, applied at every grid point (--keep-contention keeps a file's); absent: none. */
  coresidencyByProfile?: Calibration['coresidencyByProfile']
  /** The MPS client rate the written file keeps, applied to MPS runs at every grid point; absent: none. */
  mpsClientRate?: Calibration['mpsClientRate']
  /** The grid is the directory's constants, kept (`--keep-contention`): taken even where no run scores them. */
  kept?: boolean
}

const sameRecord = (
  a: Readonly<Record<string, number>> | undefined,
  b: Readonly<Record<string, number>> | undefined,
) => JSON.stringify(Object.entries(a ?? {}).sort()) === JSON.stringify(Object.entries(b ?? {}).sort())

const sameConstants = (a: ContentionConstants, b: ContentionConstants) =>
  a.sharing === b.sharing &&
  a.saturationTolerance === b.saturationTolerance &&
  a.memoryInterference === b.memoryInterference &&
  a.residency === b.residency &&
  a.footprint === b.footprint &&
  a.coresidency === b.coresidency &&
  a.switchGraphEdgeUs === b.switchGraphEdgeUs

/** The numbers a power fit sets. */
export interface PowerParams {
  idleW: number
  wPerWorkSm: number
  workTolerance: number
}
const paramsOf = (f: PowerFit): PowerParams => ({
  idleW: f.idleW,
  wPerWorkSm: f.wPerWorkSm,
  workTolerance: f.workTolerance,
})

/** A power model made of fitted numbers, for evaluating the sim's energy with them. */
function powerOf(gpu: GpuRef, p: PowerParams): PowerModel {
  return {
    format: 'eclip.power/2',
    gpu: { name: gpu.name, smCount: gpu.smCount, sliceSize: gpu.sliceSize },
    ...p,
    wPerMemGBs: 0,
    fitted: true,
    measured: { date: '-', method: 'fit in progress', tool: 'eclip calibrate' },
  }
}

export function calibrate(o: CalibrateOptions): CalibrationReport {
  const { cases } = o
  if (cases.length === 0) throw new UserError('no GPU runs to calibrate against')
  const gpu = (cases[0] as Case).spec.gpu
  const points = searchGrid(cases, o.grid, o.onPoint, {
    ...(o.profileInterference ? { profileInterference: o.profileInterference } : {}),
    ...(o.coresidencyByProfile ? { coresidencyByProfile: o.coresidencyByProfile } : {}),
    ...(o.mpsClientRate ? { mpsClientRate: o.mpsClientRate } : {}),
  })
  const beforeConstants: ContentionConstants = {
    sharing: o.before.sharing,
    saturationTolerance: o.before.saturationTolerance,
    memoryInterference: o.before.memoryInterference,
    ...(o.before.residency !== undefined ? { residency: o.before.residency } : {}),
    ...(o.before.footprint !== undefined ? { footprint: o.before.footprint } : {}),
    ...(o.before.coresidency !== undefined ? { coresidency: o.before.coresidency } : {}),
    ...(o.before.switchGraphEdgeUs !== undefined ? { switchGraphEdgeUs: o.before.switchGraphEdgeUs } : {}),
  }
  const beforeSim = simWithPower(
    cases,
    // a grid point stands for the before column only where the per-profile γ and κ and the MPS client rate are the
    // same too
    (sameRecord(o.before.profileInterference, o.profileInterference) &&
    sameRecord(o.before.coresidencyByProfile, o.coresidencyByProfile) &&
    sameRecord(o.before.mpsClientRate, o.mpsClientRate)
      ? points.find((p) => sameConstants(p.constants, beforeConstants))?.sim
      : undefined) ?? simulateCases(cases, o.before, neutralPower(gpu)),
    o.beforePower,
  )
  const scoped = inScope(o.scope)
  const fitOn = (sets: string[]) => {
    const pick = (c: Case) => sets.includes(c.set)
    const best = bestPoint(points, cases, (c) => pick(c) && scoped(c), o.kept)
    return { ...best, power: fitPower(cases.filter(pick)) }
  }
  const labels = [...new Set(cases.map((c) => c.set))]
  const heldOut: CalibrationReport['heldOut'] = []
  if (labels.length > 1)
    for (const l of labels) {
      const fit = fitOn(labels.filter((x) => x !== l))
      const sim = simWithPower(cases, fit.point.sim, powerOf(gpu, paramsOf(fit.power)))
      for (const runs of RUN_KINDS) {
        const pick = (c: Case) => c.set === l && ofKind(runs)(c)
        const before = errorsOf(cases, beforeSim, pick)
        const after = errorsOf(cases, sim, pick)
        if (before && after)
          heldOut.push({
            checkOn: l,
            runs,
            constants: fit.point.constants,
            power: paramsOf(fit.power),
            before,
            after,
            perRun: runs === 'all' ? runStps(cases, beforeSim, sim, pick) : [],
          })
      }
    }
  const final = fitOn(labels)
  const afterSim = simWithPower(cases, final.point.sim, powerOf(gpu, paramsOf(final.power)))
  const rows: CalibrationReport['rows'] = []
  for (const set of [...labels, ...(labels.length > 1 ? ['all'] : [])])
    for (const runs of RUN_KINDS) {
      const pick = (c: Case) => (set === 'all' || c.set === set) && ofKind(runs)(c)
      const before = errorsOf(cases, beforeSim, pick)
      const after = errorsOf(cases, afterSim, pick)
      if (before && after) rows.push({ set, runs, before, after })
    }
  return {
    constants: final.point.constants,
    objective: final.objective,
    fitRelRms: errorsOf(cases, afterSim, scoped)?.rpsRelRms ?? null,
    scope: o.scope,
    power: final.power,
    heldOut,
    rows,
    cases: cases.length,
    points: points.length,
  }
}
