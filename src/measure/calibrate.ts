// Calibrating the simulator against GPU measurements (issue #4): the contention constants (format
// eclip.sim-calibration/1) and the power model (eclip.power/1), fitted to GPU runs of results files.
//
// Every GPU run is re-simulated with its exact plan: plans are deterministic, so the planner (makePlan in the CLI;
// for eclip-fit with the simulator evaluator and calibration it was planned with) is asked again for the run's mix,
// workers and policy, and the plan is checked against what the run recorded (switches and kernels per request of
// every worker). A re-simulation keeps the run's loop and seed but not its
// 10-s window: the simulator has no counter noise to average out (DESIGN §6's ≥ 10 s is for NVML), only whole
// requests to count, so its window is sized to a number of requests of the run's slowest worker.
//
// Contention: a grid over the constants (sharing rule × demand tolerance × memory interference γ); each point
// re-simulates every run once, and errors are taken per results file and kind of run from the same simulations, so
// held-out errors (fit on some files, check on the others) cost nothing more. Throughput is compared normalised, as
// DESIGN §6 says: a partitioned run's workers by their rate vs the same worker under baseline, a baseline run's
// workers by their rate vs their solo rate (what the sharing rule and γ decide; a baseline's normVsBaseline is 1 by
// definition). By default only single-launch runs (solo, baseline, model-wise) choose the constants: kernel-wise runs
// on the GPU are dominated by the executor's host side, which the contention model does not describe.
//
// Power: P = idle W + W per busy SM. The GPU cannot observe busy SMs, so each GPU run's busy SMs are estimated from
// its re-simulation with the fitted constants (scaled to the measured request rates, powerPoints says how); the
// measured mean power (NVML energy over the window / window) is regressed on them by least squares.
import type { RunResult, RunSpec } from '../execute/backend.ts'
import type { Sharing } from '../execute/sim/contention.ts'
import { type Calibration, simulate } from '../execute/sim/index.ts'
import {
  type Gpu,
  type GpuRef,
  type PowerModel,
  type Primitives,
  type Profile,
  type Run,
  UserError,
  type WorkerSpec,
} from '../formats/index.ts'
import type { Planner } from './experiment.ts'
import { buildRun, normalise } from './metrics.ts'
import { mean } from './stats.ts'

/** GPU runs of one results file: normalisation (baseline, solo) stays inside a file, as it does when measured. */
export interface RunSet {
  label: string
  runs: Run[]
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
  planner: Planner
  /**
   * The simulator's window per re-simulation: long enough for the slowest worker (at its measured rate) to complete
   * `requestsPerWindow` requests — a window's request count is whole, so a short window quantises slow workers'
   * rates — within [minWindowS, maxWindowS]; warm-up a tenth of it.
   */
  requestsPerWindow: number
  minWindowS: number
  maxWindowS: number
}

const sameGpu = (a: GpuRef, b: GpuRef) =>
  a.name === b.name && a.smCount === b.smCount && a.sliceSize === b.sliceSize

/** The GPU runs of every set, each with its re-made plan; refuses what cannot be compared. */
export async function prepareCases(o: PrepareOptions): Promise<Case[]> {
  const cases: Case[] = []
  const plans = new Map<string, RunSpec['plan']>()
  for (const set of o.sets) {
    const gpuRuns = set.runs.filter((r) => r.backend === 'gpu')
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
      const planKey = `${r.mix}|${r.policy}|${workers.map((w) => `${w.name}:${w.model}:${w.batch}:${w.dtype}`).join(',')}`
      let plan = plans.get(planKey)
      if (!plan) {
        plan = await o.planner(o.gpu, r.mix, workers, profiles, { policy: r.policy })
        plans.set(planKey, plan)
      }
      // the plan must be the one the run executed: same groups (switches) and kernels per worker
      plan.workers.forEach((pw, i) => {
        const w = r.workers[i]
        if (!w || pw.groups.length - 1 !== w.switchesPerRequest || pw.kernels !== w.kernelsPerRequest)
          throw new UserError(
            `${set.label}: run ${r.id}: the plan made again from the profiles differs from the one the run executed ` +
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
        spec: {
          key: r.key,
          role: r.role,
          mix: r.mix,
          mode: r.mode,
          batch: r.batch,
          gpu: o.gpu,
          plan,
          workers,
          profiles,
          loop: r.loop,
          warmupS: windowS / 10,
          windowS,
          seed: r.seed,
          primitives: o.primitives,
          // replaced per simulation; the contention fit does not look at energy
          power: neutralPower(o.gpu),
        },
      })
    }
  }
  return cases
}

function neutralPower(gpu: GpuRef): PowerModel {
  return {
    format: 'eclip.power/1',
    gpu: { name: gpu.name, smCount: gpu.smCount, sliceSize: gpu.sliceSize },
    idleW: 0,
    wPerBusySm: 1,
    wPerMemGBs: 0,
    fitted: false,
    measured: { date: '-', method: 'placeholder', tool: 'eclip calibrate' },
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

/** A sim run's energy metrics under another power model (energy is linear in busy SM-time: no re-simulation). */
export function withPower(run: Run, power: PowerModel, smCount: number): Run {
  const util = run.metrics.meanSmUtilisation ?? 0
  const meanPowerW = power.idleW + power.wPerBusySm * util * smCount
  const energyJ = meanPowerW * run.windowS
  const requests = run.metrics.requests
  return {
    ...run,
    metrics: {
      ...run.metrics,
      energyJ,
      meanPowerW,
      jPerRequest: requests > 0 ? energyJ / requests : null,
      requestsPerJ: energyJ > 0 ? requests / energyJ : null,
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
  /** Mean |sim − measured| of energyEffVsBaseline (requests/J normalised to baseline) over partitioned mix runs. */
  normReqPerJ: number | null
  /** Mean |sim / measured − 1| of requests/J over every run. */
  reqPerJRel: number | null
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
    const ge = g.metrics.energyEffVsBaseline
    const se = s.metrics.energyEffVsBaseline
    if (isPartitioned(g) && ge !== null && se !== null) eff.push(Math.abs(se - ge))
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
 * adds no host cost per group, so they show SM sharing alone — what the contention constants describe.
 */
export const isSingleLaunch = (r: Run) =>
  r.role === 'solo' || r.policy === 'baseline' || r.policy === 'model-wise'

/** Which GPU runs the contention constants are chosen on. */
export type FitScope = 'all' | 'single-launch'
export const inScope = (scope: FitScope) => (c: Case) => scope === 'all' || isSingleLaunch(c.gpu)

/** The constants a grid point sets. */
export interface ContentionConstants {
  sharing: Sharing
  saturationTolerance: number
  memoryInterference: number
}

export interface Grid {
  sharing: Sharing[]
  saturationTolerance: number[]
  memoryInterference: number[]
}

/** Default search grid: both rules, demand tolerances 0–20%, γ 0–2 (γ = 1: all other SMs busy halves a rate). */
export const DEFAULT_GRID: Grid = {
  sharing: ['fifo', 'fair'],
  saturationTolerance: [0, 0.01, 0.05, 0.1, 0.2],
  memoryInterference: [0, 0.1, 0.25, 0.35, 0.5, 0.75, 1, 1.5, 2],
}

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

/** Simulates every case at every grid point. `onPoint` reports progress. */
export function searchGrid(
  cases: readonly Case[],
  grid: Grid,
  onPoint?: (done: number, total: number) => void,
): GridPoint[] {
  const gpu = (cases[0] as Case).spec.gpu
  const power = neutralPower(gpu)
  const points: GridPoint[] = []
  const total = grid.sharing.length * grid.saturationTolerance.length * grid.memoryInterference.length
  for (const sharing of grid.sharing)
    for (const saturationTolerance of grid.saturationTolerance)
      for (const memoryInterference of grid.memoryInterference) {
        const constants = { sharing, saturationTolerance, memoryInterference }
        const sim = simulateCases(cases, asCalibration(constants, 'grid search', false), power)
        points.push({ constants, sim })
        onPoint?.(points.length, total)
      }
  return points
}

/** The grid point with the least objective over the cases `pick` selects (pooled worker-runs). */
export function bestPoint(
  points: readonly GridPoint[],
  cases: readonly Case[],
  pick: (c: Case) => boolean,
): { point: GridPoint; objective: number } {
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

/** Least-squares fit of measured mean power against simulated busy SMs. */
export interface PowerFit {
  idleW: number
  wPerBusySm: number
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
}

export interface PowerPoint {
  id: string
  busySms: number
  powerW: number
}

/**
 * SM·µs one request of each worker holds on its plan when nothing else runs: Σ over its kernels of the kernel's
 * demand (capped at its partition) × its solo time at its partition's size (the largest profiled size ≤ it). Used
 * only as weights between workers, so the simulator's finer accounting (gaps, scaling) does not matter here.
 */
export function smUsPerRequest(spec: RunSpec, tolerance: number): number[] {
  const part = new Map(spec.plan.pool.partitions.map((p) => [p.id, p.sms]))
  return spec.plan.workers.map((pw, w) => {
    const prof = spec.profiles[w] as Profile
    const S = prof.sizes.length
    let sum = 0
    for (const g of pw.groups) {
      const own = part.get(g.partition) ?? spec.gpu.smCount
      let at = 0
      for (let i = 0; i < S; i++) if ((prof.sizes[i] as number) <= own) at = i
      for (let k = g.first; k <= g.last; k++) {
        const t = prof.kernels[k]?.timesUs ?? []
        const full = t[S - 1] ?? 0
        let d = prof.sizes[S - 1] as number
        for (let i = 0; i < S; i++)
          if ((t[i] ?? 0) <= full * (1 + tolerance)) {
            d = prof.sizes[i] as number
            break
          }
        sum += Math.min(d, own) * (t[at] ?? 0)
      }
    }
    return sum
  })
}

/**
 * Pairs each GPU run's measured power with an estimate of its busy SMs: the re-simulation's busy SMs, scaled by how
 * much SM-time the GPU's measured request rates need against the simulated rates (Σ_w rps_w · SM·µs per request of
 * w, measured over simulated). Where the GPU ran fewer requests than the simulator (host-bound stream mode), its
 * SMs were busy correspondingly less; without the scaling those runs would pull the fit off. `scale: false` takes
 * the simulator's busy SMs as they are.
 */
export function powerPoints(
  cases: readonly Case[],
  sim: readonly Run[],
  tolerance: number,
  scale = true,
): PowerPoint[] {
  return cases.flatMap((c, i) => {
    const s = sim[i] as Run
    const u = s.metrics.meanSmUtilisation
    if (u === null || !(c.gpu.metrics.meanPowerW > 0)) return []
    let f = 1
    if (scale) {
      const a = smUsPerRequest(c.spec, tolerance)
      let measured = 0
      let simulated = 0
      a.forEach((aw, w) => {
        measured += aw * (c.gpu.workers[w]?.throughputRps ?? 0)
        simulated += aw * (s.workers[w]?.throughputRps ?? 0)
      })
      if (simulated > 0) f = measured / simulated
    }
    return [{ id: c.gpu.id, busySms: u * c.spec.gpu.smCount * f, powerW: c.gpu.metrics.meanPowerW }]
  })
}

export function fitPower(points: readonly PowerPoint[]): PowerFit {
  if (points.length < 2) throw new UserError(`a power fit needs at least 2 GPU runs, got ${points.length}`)
  const n = points.length
  const mx = points.reduce((a, p) => a + p.busySms, 0) / n
  const my = points.reduce((a, p) => a + p.powerW, 0) / n
  let sxx = 0
  let sxy = 0
  for (const p of points) {
    sxx += (p.busySms - mx) ** 2
    sxy += (p.busySms - mx) * (p.powerW - my)
  }
  if (sxx === 0) throw new UserError('a power fit needs runs with different busy SMs')
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
      points.reduce((a, p) => a + p.busySms * p.powerW, 0) / points.reduce((a, p) => a + p.busySms ** 2, 0)
    clamped = true
  }
  return { ...powerErrors(points, idle, slope), idleW: idle, wPerBusySm: slope, clamped }
}

/** How well P = idle + slope · busy SMs explains the points. */
export function powerErrors(
  points: readonly PowerPoint[],
  idleW: number,
  wPerBusySm: number,
): Omit<PowerFit, 'idleW' | 'wPerBusySm' | 'clamped'> {
  const n = points.length
  const my = points.reduce((a, p) => a + p.powerW, 0) / n
  let ssRes = 0
  let ssTot = 0
  let rel = 0
  let maxAbsW = 0
  let maxRun = ''
  for (const p of points) {
    const r = p.powerW - (idleW + wPerBusySm * p.busySms)
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

/** The sim runs of a grid point with energy from `power`, re-normalised per set (energyEffVsBaseline). */
export function simWithPower(cases: readonly Case[], sim: readonly Run[], power: PowerModel): Run[] {
  const smCount = (cases[0] as Case).spec.gpu.smCount
  const out = sim.map((r) => withPower(structuredClone(r), power, smCount))
  for (const set of new Set(cases.map((c) => c.set))) normalise(out.filter((_, i) => cases[i]?.set === set))
  return out
}

/** What `calibrate` found: the fitted constants and power model, and errors before / after, in and out of sample. */
export interface CalibrationReport {
  constants: ContentionConstants
  /** The contention fit's objective over its fitting runs. */
  objective: number
  /** RMS of sim / measured − 1 of raw req/s over the fitting runs' workers (the format's fitRelRms). */
  fitRelRms: number | null
  scope: FitScope
  power: PowerFit
  /** The same fit with the simulator's busy SMs unscaled (for comparison in the report). */
  powerUnscaled: PowerFit
  /** Per results set when there are several, per kind of run: fitted on the other sets, checked on this one. */
  heldOut: {
    checkOn: string
    runs: RunKind
    constants: ContentionConstants
    power: { idleW: number; wPerBusySm: number }
    before: ErrorSummary
    after: ErrorSummary
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
  grid: Grid
  scope: FitScope
  /** The simulator's constants before calibration (CALIBRATION) and the placeholder power model. */
  before: Calibration
  beforePower: PowerModel
  onPoint?: (done: number, total: number) => void
}

const sameConstants = (a: ContentionConstants, b: ContentionConstants) =>
  a.sharing === b.sharing &&
  a.saturationTolerance === b.saturationTolerance &&
  a.memoryInterference === b.memoryInterference

/** A power model made of fitted numbers, for evaluating the sim's energy with them. */
function powerOf(gpu: GpuRef, idleW: number, wPerBusySm: number): PowerModel {
  return { ...neutralPower(gpu), idleW, wPerBusySm, fitted: true }
}

export function calibrate(o: CalibrateOptions): CalibrationReport {
  const { cases } = o
  if (cases.length === 0) throw new UserError('no GPU runs to calibrate against')
  const gpu = (cases[0] as Case).spec.gpu
  const points = searchGrid(cases, o.grid, o.onPoint)
  const beforeConstants: ContentionConstants = {
    sharing: o.before.sharing,
    saturationTolerance: o.before.saturationTolerance,
    memoryInterference: o.before.memoryInterference,
  }
  const beforeSim = simWithPower(
    cases,
    points.find((p) => sameConstants(p.constants, beforeConstants))?.sim ??
      simulateCases(cases, o.before, neutralPower(gpu)),
    o.beforePower,
  )
  const scoped = inScope(o.scope)
  const fitOn = (sets: string[]) => {
    const pick = (c: Case) => sets.includes(c.set)
    const best = bestPoint(points, cases, (c) => pick(c) && scoped(c))
    const tol = best.point.constants.saturationTolerance
    const sub = cases.flatMap((c, i) => (pick(c) ? [i] : []))
    const pp = (scale: boolean) =>
      powerPoints(
        sub.map((i) => cases[i] as Case),
        sub.map((i) => best.point.sim[i] as Run),
        tol,
        scale,
      )
    return { ...best, power: fitPower(pp(true)), powerUnscaled: fitPower(pp(false)) }
  }
  const labels = [...new Set(cases.map((c) => c.set))]
  const heldOut: CalibrationReport['heldOut'] = []
  if (labels.length > 1)
    for (const l of labels) {
      const fit = fitOn(labels.filter((x) => x !== l))
      const sim = simWithPower(cases, fit.point.sim, powerOf(gpu, fit.power.idleW, fit.power.wPerBusySm))
      for (const runs of RUN_KINDS) {
        const pick = (c: Case) => c.set === l && ofKind(runs)(c)
        const before = errorsOf(cases, beforeSim, pick)
        const after = errorsOf(cases, sim, pick)
        if (before && after)
          heldOut.push({
            checkOn: l,
            runs,
            constants: fit.point.constants,
            power: { idleW: fit.power.idleW, wPerBusySm: fit.power.wPerBusySm },
            before,
            after,
          })
      }
    }
  const final = fitOn(labels)
  const afterSim = simWithPower(
    cases,
    final.point.sim,
    powerOf(gpu, final.power.idleW, final.power.wPerBusySm),
  )
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
    powerUnscaled: final.powerUnscaled,
    heldOut,
    rows,
    cases: cases.length,
    points: points.length,
  }
}
