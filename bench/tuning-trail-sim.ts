// Does the simulator rank the plans the GPU measured the way the GPU does? A tuned run's trail (its `tuning.runs`)
// holds every candidate the tuning measured in its own process, each in a window beside the same baseline: this
// makes each candidate again from its description (homes, λ, μ: PlanOptions.fitAt), scores it on the simulator as
// eclip-fit's search does (the profile directory's calibration, or --calibration FILE), and prints per mix the
// rank correlation of the two, their mean difference, and the simulator's pick among the measured plans (the best by
// its STP ratio with every worker at its floor or above) against the GPU's best (every worker at the floor plus the
// tuning's margin): what the simulator's choice lost, among plans the GPU measured (a pick the GPU measured under
// that held floor is marked, and left out of the mean loss: the tuning would not take it). The windows are short: a
// window's noise is in both the correlation and the loss. Runs benched with another switch budget, objective or
// floor than the defaults are refused (their plans would be made again otherwise). Trails that record each
// worker's ratio (workersVsBaseline) are compared worker by worker too (--rows lists them).
//   node --import tsx bench/tuning-trail-sim.ts [--profiles DIR] [--calibration FILE] [--rows] DIR_OR_RESULTS_JSON...
import { statSync } from 'node:fs'
import { join } from 'node:path'
import { simEvaluator } from '../src/execute/sim/evaluator.ts'
import { simInputs } from '../src/execute/sim/inputs.ts'
import type { Gpu } from '../src/formats/gpu.ts'
import type { Plan, Results, Run, WorkerSpec } from '../src/formats/index.ts'
import { readFile } from '../src/formats/index.ts'
import { mean } from '../src/measure/stats.ts'
import type { FitState } from '../src/plan/fit.ts'
import { soloRates } from '../src/plan/floors.ts'
import type { PlanEvaluator } from '../src/plan/index.ts'
import {
  DEFAULT_MIN_SHARE,
  DEFAULT_OBJECTIVE,
  DEFAULT_SWITCH_MAX,
  MEASURED_FLOOR_MARGIN,
  makePlan,
} from '../src/plan/index.ts'
import { loadProfileSet } from '../src/profile/store.ts'
import { gridTable } from '../src/report/tables.ts'

/** One measured candidate: what the GPU's window and the simulator said of it. */
export interface TrailPoint {
  plan: string
  gpuStp: number
  gpuWorst: number
  simStp: number
  simWorst: number
  /**
   * Each worker's throughput ÷ its baseline's, plan order: the window's (trails recorded since it is) and the
   * simulator's.
   */
  gpuWorkers?: number[]
  simWorkers: number[]
}

/** A trail's description of a plan ("homes 48/32/40 SMs, λ 2, home, 0.5, μ 1") as a point of the search space. */
export function stateOf(desc: string, sliceSize: number): FitState | null {
  const m = /^homes ([\d/]+) SMs, λ ([^μ]+), μ ([\d.]+)$/.exec(desc.trim())
  if (!m) return null
  const lengths = (m[1] as string).split('/').map((s) => Number(s) / sliceSize)
  const lambdas = (m[2] as string)
    .split(',')
    .map((s) => s.trim())
    .map((s) => (s === 'home' ? Number.POSITIVE_INFINITY : Number(s)))
  const mu = Number(m[3])
  if (lengths.some((L) => !Number.isInteger(L)) || lambdas.some((l) => Number.isNaN(l))) return null
  return { lengths, lambdas, mu }
}

/** Spearman's rank correlation (average ranks for ties); null under three points. */
export function spearman(xs: readonly number[], ys: readonly number[]): number | null {
  if (xs.length < 3) return null
  const rank = (v: readonly number[]) => {
    const idx = v.map((x, i) => [x, i] as const).sort((a, b) => a[0] - b[0])
    const r = new Array<number>(v.length)
    for (let i = 0; i < idx.length; ) {
      let j = i
      while (j + 1 < idx.length && idx[j + 1]?.[0] === idx[i]?.[0]) j++
      for (let k = i; k <= j; k++) r[idx[k]?.[1] as number] = (i + j) / 2
      i = j + 1
    }
    return r
  }
  const rx = rank(xs)
  const ry = rank(ys)
  const mx = rx.reduce((a, b) => a + b, 0) / rx.length
  const my = ry.reduce((a, b) => a + b, 0) / ry.length
  let sxy = 0
  let sxx = 0
  let syy = 0
  for (let i = 0; i < rx.length; i++) {
    const dx = (rx[i] as number) - mx
    const dy = (ry[i] as number) - my
    sxy += dx * dy
    sxx += dx * dx
    syy += dy * dy
  }
  return sxx > 0 && syy > 0 ? sxy / Math.sqrt(sxx * syy) : null
}

/** The best point by `stp` among those whose `worst` is at the floor or above; null if none is. */
export function pick<T>(
  xs: readonly T[],
  stp: (x: T) => number,
  worst: (x: T) => number,
  floor: number,
): T | null {
  let top: T | null = null
  for (const x of xs) if (worst(x) >= floor - 1e-9 && (top === null || stp(x) > stp(top))) top = x
  return top
}

/** Each candidate of one tuned run's trail scored on the simulator (the baseline's placement left out). */
export async function trailPoints(
  run: Run,
  profilesDir: string,
  calibration?: string,
): Promise<TrailPoint[]> {
  const workers: WorkerSpec[] = run.workers.map((w) => ({
    name: w.name,
    model: w.model,
    batch: w.batch,
    dtype: w.dtype,
  }))
  const set = loadProfileSet(profilesDir, workers, { gemmTarget: true })
  const gpu: Gpu = set.gpu
  const ev = simInputs(gpu, { dir: profilesDir, ...(calibration ? { calibration } : {}) }).inputs
  const evaluator = memoised(simEvaluator(ev, workers, set.profiles))
  // STP's solo rates as eclip-fit's search takes them (the simulator's, else the profile's)
  const solo = await soloRates(evaluator, set.profiles)
  const base = await evaluator.evaluate(
    await makePlan(gpu, run.mix, workers, set.profiles, { policy: 'baseline' }),
  )
  const stpOf = (thr: readonly number[]) => thr.reduce((a, t, i) => a + t / (solo[i] as number), 0)
  const out: TrailPoint[] = []
  for (const t of run.tuning?.runs ?? []) {
    const at = stateOf(t.plan, gpu.sliceSize)
    // the seeds and the search's moves: a set of raised workers or a confirmation is measured otherwise
    if (!at || (t.phase !== 'seed' && t.phase !== 'search')) continue
    const plan = await makePlan(gpu, run.mix, workers, set.profiles, {
      policy: 'eclip-fit',
      evaluator,
      fitAt: at,
      acceptShortfall: true,
    })
    const s = await evaluator.evaluate(plan)
    const simWorkers = s.throughputRps.map((x, i) => x / (base.throughputRps[i] as number))
    out.push({
      plan: t.plan,
      gpuStp: t.stpVsBaseline,
      gpuWorst: t.worstVsBaseline,
      simStp: stpOf(s.throughputRps) / stpOf(base.throughputRps),
      simWorst: Math.min(...simWorkers),
      ...(t.workersVsBaseline ? { gpuWorkers: t.workersVsBaseline } : {}),
      simWorkers,
    })
  }
  return out
}

/**
 * The evaluator, each plan scored once: makePlan scores the baseline and the candidate it makes, and the tool the plan
 * it returns, the same workers on the same pool (the simulator's run of a plan is seeded: the same score again).
 */
function memoised(ev: PlanEvaluator): PlanEvaluator {
  const scores = new Map<string, ReturnType<PlanEvaluator['evaluate']>>()
  return {
    ...ev,
    evaluate: (plan: Plan) => {
      const key = JSON.stringify([plan.pool, plan.workers])
      let s = scores.get(key)
      if (!s) {
        s = ev.evaluate(plan)
        scores.set(key, s)
      }
      return s
    },
  }
}

/** The bench options a trail's plans depend on, as the defaults must have them for them to be made again. */
const DEFAULT_OPTIONS: Record<string, string> = {
  '--switch-max': String(DEFAULT_SWITCH_MAX),
  '--objective': DEFAULT_OBJECTIVE,
  '--min-share': String(DEFAULT_MIN_SHARE),
}

function runsOf(path: string): Run[] {
  const file = statSync(path).isDirectory() ? join(path, 'results.json') : path
  const r = readFile<Results>('results', file)
  const opts = (r.provenance.options ?? {}) as Record<string, string>
  for (const [k, v] of Object.entries(DEFAULT_OPTIONS))
    if (opts[k] !== undefined && opts[k] !== v)
      throw new Error(
        `${file}: benched with ${k} ${opts[k]}; this tool makes plans again with the default, ${v}`,
      )
  return r.runs
}

async function main(argv: string[]) {
  let profiles: string | undefined
  let calibration: string | undefined
  let rows = false
  const files: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string
    if (a === '--profiles') profiles = argv[++i]
    else if (a === '--calibration') calibration = argv[++i]
    else if (a === '--rows') rows = true
    else if (a.startsWith('--')) throw new Error(`unknown option ${a}`)
    else files.push(a)
  }
  if (files.length === 0)
    throw new Error(
      'usage: tuning-trail-sim.ts [--profiles DIR] [--calibration FILE] [--rows] DIR_OR_RESULTS_JSON...',
    )
  const f3 = (x: number | null) => (x === null ? '–' : x.toFixed(3))
  const body: string[][] = []
  const sums = {
    rho: [] as number[],
    err: [] as number[],
    loss: [] as number[],
    under: 0,
    worker: [] as number[],
  }
  for (const path of files) {
    for (const run of runsOf(path)) {
      if (!run.tuning?.runs?.length || run.backend !== run.tuning.backend) continue
      const dir = profiles ?? (run.gpu?.name?.includes('H200') ? 'profiles/h200' : 'profiles/h100')
      const pts = await trailPoints(run, dir, calibration)
      if (pts.length === 0) continue
      const rho = spearman(
        pts.map((p) => p.simStp),
        pts.map((p) => p.gpuStp),
      )
      const err = mean(pts.map((p) => Math.abs(p.simStp - p.gpuStp))) as number
      // each worker's |sim − GPU| over the points whose trail has it
      const wErr = pts.flatMap((p) =>
        (p.gpuWorkers ?? []).map((g, i) => Math.abs((p.simWorkers[i] as number) - g)),
      )
      const workerErr = mean(wErr)
      if (workerErr !== null) sums.worker.push(workerErr)
      const bias = mean(pts.map((p) => p.simStp - p.gpuStp)) as number
      const floor = DEFAULT_MIN_SHARE
      const held = floor + MEASURED_FLOOR_MARGIN
      const simPick = pick(
        pts,
        (p) => p.simStp,
        (p) => p.simWorst,
        floor,
      )
      const gpuBest = pick(
        pts,
        (p) => p.gpuStp,
        (p) => p.gpuWorst,
        held,
      )
      // a pick the GPU measured under the held floor is one the tuning would not take: no loss to compare
      const under = simPick !== null && simPick.gpuWorst < held - 1e-9
      if (under) sums.under++
      const loss = simPick && gpuBest && !under ? gpuBest.gpuStp - simPick.gpuStp : null
      if (rho !== null) sums.rho.push(rho)
      sums.err.push(err)
      if (loss !== null) sums.loss.push(loss)
      body.push([
        `${path} ${run.mix} b${run.batch}`,
        String(pts.length),
        f3(rho),
        f3(err),
        `${bias >= 0 ? '+' : ''}${bias.toFixed(3)}`,
        f3(workerErr),
        simPick ? `${f3(simPick.gpuStp)} (${simPick.gpuWorst.toFixed(3)}${under ? ' < floor' : ''})` : '–',
        gpuBest ? `${f3(gpuBest.gpuStp)} (${gpuBest.gpuWorst.toFixed(3)})` : '–',
        f3(loss),
      ])
      if (rows)
        for (const p of pts)
          process.stdout.write(
            `  ${run.mix} ${p.plan}: window ${f3(p.gpuStp)} (${p.gpuWorkers ? p.gpuWorkers.map(f3).join(' ') : p.gpuWorst.toFixed(3)}), sim ${f3(p.simStp)} (${(p.gpuWorkers ? p.simWorkers : [p.simWorst]).map(f3).join(' ')})\n`,
          )
    }
  }
  body.push([
    'mean',
    '',
    f3(mean(sums.rho)),
    f3(mean(sums.err)),
    '',
    f3(mean(sums.worker)),
    sums.under > 0 ? `${sums.under} under the held floor` : '',
    '',
    f3(mean(sums.loss)),
  ])
  process.stdout.write(
    `${gridTable(
      `Tuning trails re-scored on the simulator${calibration ? ` (calibration ${calibration})` : ''}: STP ÷ baseline's per measured candidate, the tuning's window (on its backend) against the simulator`,
      [
        'run',
        'plans',
        'rank ρ',
        '|sim − window|',
        'sim − window',
        'worker |sim − window|',
        "sim's pick: window (worst)",
        'best window (worst)',
        'lost',
      ],
      body,
    )}\n`,
  )
}

if (import.meta.url === `file://${process.argv[1]}`)
  main(process.argv.slice(2)).catch((e) => {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`)
    process.exit(1)
  })
