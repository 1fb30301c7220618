// The numbers a results README states for a series of one policy against baseline, read from its results.json files
// (the metrics the bench recorded, nothing re-run or recomputed): per file the mean and min over mixes of STP ÷
// baseline's STP, the worst worker, total requests/s, the mean of per-worker ratios, requests/J two ways, the worst
// p95 ratio, measured ÷ the STP bound (the policy's and baseline's), the bound ÷ baseline's measured STP (how much any
// plan could give), the simulated ratio beside it and the simulator's STP error; per mix the same; with two or more
// files of the same mixes and batch, the spread between them (repeats). Files recorded before the bench wrote system
// metrics need --profiles: their metrics are then recomputed from the runs as bench/system-metrics.ts does.
// An argument of several DIR_OR_RESULTS_JSON joined by commas is one series recorded in parts (their runs pooled); a
// part written PART@mixA+mixB gives only those mixes' runs (a series that takes some mixes from another recording);
// LABEL=... names a series in the output (two series whose parts share names: `now=p1,p2 before=../old/p1,../old/p2`).
//   node --import tsx bench/series-summary.ts [--policy eclip-fit/graph] [--profiles DIR]
//     [LABEL=]DIR_OR_RESULTS_JSON[@MIX+...][,...]...
import { statSync } from 'node:fs'
import { basename, join } from 'node:path'
import type { Results, Run } from '../src/formats/index.ts'
import { readFile } from '../src/formats/index.ts'
import { attachProfileRefs, normalise } from '../src/measure/metrics.ts'
import { mean, spreadOf } from '../src/measure/stats.ts'
import { profileSystemMetrics, requestsPerJRatio } from '../src/measure/system.ts'
import { DEFAULT_MIN_SHARE } from '../src/plan/fit.ts'
import { DEFAULT_TOLERANCE } from '../src/profile/rightsize.ts'
import { loadGpu, loadProfile } from '../src/profile/store.ts'
import { policyLabel } from '../src/report/plots.ts'
import { gridTable } from '../src/report/tables.ts'

/** One mix: the policy's GPU run against the baseline run of the same mix (and the simulator's beside them). */
export interface MixRow {
  mix: string
  batch: number
  stpVsBaseline: number
  simStpVsBaseline: number | null
  /** |simulated STP ÷ measured STP − 1| of the policy's run and of baseline's (the same solo rates on both sides). */
  simStpErr: number | null
  simBaselineStpErr: number | null
  stp: number
  baselineStp: number
  worstWorker: string
  worstVsBaseline: number
  totalRpsVsBaseline: number
  meanVsBaseline: number
  /** The bench's per-worker requests/J ratio: mean of per-worker throughput ratios × baseline power ÷ this power. */
  energyEffVsBaseline: number | null
  /** Total requests ÷ energy, ratio to baseline's (issue #18's definition: a sum over different models). */
  requestsPerJVsBaseline: number | null
  /** The largest p95 ÷ baseline's p95 over the run's workers, and that worker. */
  worstP95: { worker: string; ratio: number }
  stpBound: number
  stpVsBound: number
  baselineVsBound: number
  /** The bound ÷ baseline's measured STP: the most any plan could add, by the bound. */
  boundVsBaseline: number
  /**
   * The floored bound (every worker ≥ 0.9 of its rate under baseline; src/profile/bound.ts) as the bench recorded it,
   * or, in files recorded before it, computed from the runs' recorded solo references and areas; null where neither.
   */
  flooredBound: number | null
  stpVsFloored: number | null
  flooredVsBaseline: number | null
  switchesPerRequest: number
  /** Workers under `floor` × their baseline rate. */
  belowFloor: string[]
  /** A tuned plan: the STP ratio its tuning window measured (the plan's own run is stpVsBaseline); else null. */
  tuningStpVsBaseline: number | null
}

export interface SeriesSummary {
  policy: string
  rows: MixRow[]
  /** The floor the rows were read against (workers below it listed; the floored bound's, where computed here). */
  floor: number
}

const must = <T>(v: T | null | undefined, what: string): T => {
  if (v === null || v === undefined) throw new Error(`${what}: not recorded`)
  return v
}

/** The non-baseline policy of the runs when there is exactly one (e.g. 'eclip-fit/graph'). */
export function onlyPolicy(runs: Run[]): string {
  const labels = [
    ...new Set(runs.filter((r) => r.role === 'mix' && r.policy !== 'baseline').map(policyLabel)),
  ]
  if (labels.length !== 1)
    throw new Error(
      `the runs hold ${labels.length} policies besides baseline (${labels.join(', ')}): name one`,
    )
  return labels[0] as string
}

/** Per mix, the policy's GPU run against baseline's; workers below `floor` of their baseline rate are listed. */
export function summarise(runs: Run[], policy = onlyPolicy(runs), floor = DEFAULT_MIN_SHARE): SeriesSummary {
  const mixRuns = runs.filter((r) => r.role === 'mix')
  const find = (mix: string, batch: number, label: string, backend: string) =>
    mixRuns.find(
      (r) => r.mix === mix && r.batch === batch && policyLabel(r) === label && r.backend === backend,
    )
  const rows: MixRow[] = []
  for (const g of mixRuns.filter((r) => r.backend === 'gpu' && policyLabel(r) === policy)) {
    const batch = must(g.batch, `${g.mix} ${policy}: batch`)
    const id = `${g.mix} b${batch}`
    const b = must(find(g.mix, batch, 'baseline', 'gpu'), `${id}: baseline's GPU run`)
    const gs = must(g.metrics.system, `${id} ${policy}: system metrics`)
    const bs = must(b.metrics.system, `${id} baseline: system metrics`)
    const sim = find(g.mix, batch, policy, 'sim')?.metrics.system
    const simBase = find(g.mix, batch, 'baseline', 'sim')?.metrics.system
    const worstP95 = g.workers.reduce<{ worker: string; ratio: number }>(
      (w, x) =>
        x.p95VsBaseline !== null && x.p95VsBaseline > w.ratio
          ? { worker: x.name, ratio: x.p95VsBaseline }
          : w,
      { worker: '–', ratio: Number.NEGATIVE_INFINITY },
    )
    const bound = must(gs.stpBound, `${id}: STP bound`)
    // the recorded floored bound is at the planner's default floor; at another, computed here
    const floored =
      (floor === DEFAULT_MIN_SHARE ? gs.stpBoundFloored : undefined) ?? flooredBoundOf(g, b, floor)
    rows.push({
      mix: g.mix,
      batch,
      stpVsBaseline: must(gs.stpVsBaseline, `${id}: STP ÷ baseline`),
      simStpVsBaseline: sim?.stpVsBaseline ?? null,
      simStpErr: sim ? Math.abs(sim.stp / gs.stp - 1) : null,
      simBaselineStpErr: simBase ? Math.abs(simBase.stp / bs.stp - 1) : null,
      stp: gs.stp,
      baselineStp: bs.stp,
      worstWorker: must(gs.worstWorker, `${id}: worst worker`),
      worstVsBaseline: must(gs.worstVsBaseline, `${id}: worst worker's ratio`),
      totalRpsVsBaseline: must(gs.totalRpsVsBaseline, `${id}: total req/s ratio`),
      meanVsBaseline: must(gs.meanVsBaseline, `${id}: mean of per-worker ratios`),
      energyEffVsBaseline: g.metrics.energyEffVsBaseline,
      requestsPerJVsBaseline: requestsPerJRatio(g.metrics.requestsPerJ, b.metrics.requestsPerJ),
      worstP95,
      stpBound: bound,
      stpVsBound: gs.stp / bound,
      baselineVsBound: bs.stp / bound,
      boundVsBaseline: bound / bs.stp,
      flooredBound: floored,
      stpVsFloored: floored ? gs.stp / floored : null,
      flooredVsBaseline: floored ? floored / bs.stp : null,
      switchesPerRequest: g.metrics.switchesPerRequest ?? 0,
      belowFloor: g.workers
        .filter((w) => w.normVsBaseline !== null && w.normVsBaseline < floor)
        .map((w) => w.name),
      tuningStpVsBaseline: g.tuning?.stpVsBaseline ?? null,
    })
  }
  if (rows.length === 0) throw new Error(`no GPU mix run of ${policy}`)
  return { policy, rows, floor }
}

type NumKey = { [K in keyof MixRow]: MixRow[K] extends number | null ? K : never }[keyof MixRow]
const values = (rows: MixRow[], k: NumKey) => rows.flatMap((r) => (r[k] === null ? [] : [r[k] as number]))
export const meanOf = (rows: MixRow[], k: NumKey) => mean(values(rows, k))
/** The row with the smallest (or, with `largest`, the largest) value of k. */
export const extremeOf = (rows: MixRow[], k: NumKey, largest = false) =>
  rows
    .filter((r) => r[k] !== null)
    .reduce<MixRow | undefined>(
      (a, r) =>
        !a || (largest ? (r[k] as number) > (a[k] as number) : (r[k] as number) < (a[k] as number)) ? r : a,
      undefined,
    )

/** Per mix present in both, |a − b| of STP ÷ baseline and |a/b − 1| of each side's measured STP. */
export function spread(a: SeriesSummary, b: SeriesSummary) {
  return a.rows.flatMap((ra) => {
    const rb = b.rows.find((r) => r.mix === ra.mix && r.batch === ra.batch)
    return rb
      ? [
          {
            mix: ra.mix,
            stpVsBaseline: [ra.stpVsBaseline, rb.stpVsBaseline] as const,
            ratioDiff: Math.abs(ra.stpVsBaseline - rb.stpVsBaseline),
            policyStpDiff: Math.abs(ra.stp / rb.stp - 1),
            baselineStpDiff: Math.abs(ra.baselineStp / rb.baselineStp - 1),
            worstVsBaseline: [ra.worstVsBaseline, rb.worstVsBaseline] as const,
          },
        ]
      : []
  })
}

/**
 * The floored STP bound of a run recorded before results carried it (or at another floor): its system metrics again
 * from its workers' recorded whole-GPU latency and right-sized area (the profiles' solo references, as the bench's
 * metrics took them) and baseline's rates; null when the run took its solo rates from solo runs or lacks either.
 */
function flooredBoundOf(g: Run, b: Run, floor: number): number | null {
  if (g.metrics.system?.soloFrom !== 'profiles') return null
  return profileSystemMetrics(g.workers, b.workers, g.gpu.smCount, floor)?.stpBoundFloored ?? null
}

/**
 * Issue #18's STP targets per batch (the mean over mixes, against baseline): the bound says where one is out of
 * reach.
 */
export const STP_TARGET: Record<number, number> = { 1: 1.12, 8: 1.2 }

const f = (v: number | null | undefined, d = 2) => (v === null || v === undefined ? '–' : v.toFixed(d))
const pct = (v: number | null | undefined) =>
  v === null || v === undefined ? '–' : `${(v * 100).toFixed(1)}%`

/**
 * Tuned plans: how far the STP ratio the tuning's short window measured for the plan it chose lies from the plan's own
 * run (window − run: the mean is the bias of keeping the best of noisy windows, the spread the windows' noise).
 */
export function tuningWindowText(rows: MixRow[]): string[] {
  const d = rows.flatMap((x) =>
    x.tuningStpVsBaseline === null ? [] : [x.tuningStpVsBaseline - x.stpVsBaseline],
  )
  const s = spreadOf(d)
  if (!s) return []
  const sign = (x: number) => `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(4)}`
  if (s.sd === null)
    return [`  tuning window's STP ratio − the plan's own run, 1 tuned plan: ${sign(s.mean)}`]
  return [
    `  tuning window's STP ratio − the plan's own run, ${d.length} tuned plans: mean ${sign(s.mean)}, sd ${s.sd.toFixed(4)}, from ${sign(s.min)} to ${sign(s.max)}`,
  ]
}

export function summaryText(label: string, s: SeriesSummary): string {
  const r = s.rows
  const minStp = extremeOf(r, 'stpVsBaseline')
  const worst = extremeOf(r, 'worstVsBaseline')
  const p95 = r.reduce((a, x) => (x.worstP95.ratio > a.worstP95.ratio ? x : a))
  const minBound = extremeOf(r, 'stpVsBound')
  const minBaseBound = extremeOf(r, 'baselineVsBound')
  const below = r.flatMap((x) => x.belowFloor.map((w) => `${w} ${x.mix}`))
  const target = (x: MixRow) => STP_TARGET[x.batch] ?? Number.NaN
  const outOfReach = r.filter((x) => x.boundVsBaseline < target(x)).map((x) => `${x.mix} (b${x.batch})`)
  const minFloored = extremeOf(r, 'stpVsFloored')
  const flooredOut = r
    .filter((x) => x.flooredVsBaseline !== null && x.flooredVsBaseline < target(x))
    .map((x) => `${x.mix} (b${x.batch})`)
  const lines = [
    `${label}: ${s.policy} ÷ baseline over ${r.length} mixes`,
    `  STP ratio mean ${f(meanOf(r, 'stpVsBaseline'), 3)} (min ${f(minStp?.stpVsBaseline, 3)} ${minStp?.mix}); simulated ${f(meanOf(r, 'simStpVsBaseline'), 3)}`,
    `  worst worker min ${f(worst?.worstVsBaseline)} (${worst?.worstWorker}, ${worst?.mix}); below the floor: ${below.length > 0 ? below.join(', ') : 'none'}`,
    `  total req/s ${f(meanOf(r, 'totalRpsVsBaseline'), 3)}; mean of per-worker ratios ${f(meanOf(r, 'meanVsBaseline'), 3)}`,
    `  requests/J: per-worker (recorded energyEffVsBaseline) ${f(meanOf(r, 'energyEffVsBaseline'), 3)}, total requests ÷ energy ${f(meanOf(r, 'requestsPerJVsBaseline'), 3)}`,
    `  worst p95 ratio ${f(p95.worstP95.ratio)} (${p95.worstP95.worker}, ${p95.mix})`,
    `  measured ÷ bound mean ${f(meanOf(r, 'stpVsBound'))} (min ${f(minBound?.stpVsBound)} ${minBound?.mix}); baseline's ${f(meanOf(r, 'baselineVsBound'))} (min ${f(minBaseBound?.baselineVsBound)} ${minBaseBound?.mix})`,
    `  bound ÷ baseline's STP mean ${f(meanOf(r, 'boundVsBaseline'))}; under the STP target (${[...new Set(r.map(target))].join(', ')}) in: ${outOfReach.length > 0 ? outOfReach.join(', ') : 'none'}`,
    `  floored bound (every worker ≥ ${s.floor} of its baseline rate): measured ÷ it mean ${f(meanOf(r, 'stpVsFloored'))} (min ${f(minFloored?.stpVsFloored)} ${minFloored?.mix ?? ''}); ÷ baseline's STP mean ${f(meanOf(r, 'flooredVsBaseline'))}; under the STP target in: ${flooredOut.length > 0 ? flooredOut.join(', ') : 'none'}`,
    `  simulator's |STP error| (the bench's simulated runs): ${s.policy} mean ${pct(meanOf(r, 'simStpErr'))}, baseline mean ${pct(meanOf(r, 'simBaselineStpErr'))}`,
    ...tuningWindowText(r),
  ]
  const table = gridTable(
    '',
    [
      'mix',
      'STP÷base',
      '(sim)',
      'worst worker',
      'req/s÷base',
      'mean ratio',
      'req/J (per-worker)',
      'req/J (total)',
      'worst p95',
      'STP',
      'base STP',
      'bound',
      '÷bound',
      'base ÷bound',
      'bound÷base',
      'floored',
      '÷floored',
      'floored÷base',
      'switches',
    ],
    r.map((x) => [
      x.mix,
      f(x.stpVsBaseline, 3),
      f(x.simStpVsBaseline),
      `${f(x.worstVsBaseline)} ${x.worstWorker}`,
      f(x.totalRpsVsBaseline, 3),
      f(x.meanVsBaseline, 3),
      f(x.energyEffVsBaseline, 3),
      f(x.requestsPerJVsBaseline, 3),
      `${f(x.worstP95.ratio)} ${x.worstP95.worker}`,
      f(x.stp),
      f(x.baselineStp),
      f(x.stpBound),
      f(x.stpVsBound),
      f(x.baselineVsBound),
      f(x.boundVsBaseline),
      f(x.flooredBound),
      f(x.stpVsFloored),
      f(x.flooredVsBaseline),
      String(x.switchesPerRequest),
    ]),
  )
  return [...lines, table.split('\n').slice(1).join('\n')].join('\n')
}

export function spreadText(la: string, a: SeriesSummary, lb: string, b: SeriesSummary): string {
  const s = spread(a, b)
  if (s.length === 0) return `${la} and ${lb}: no mix in common`
  const both = s.map((x) => (x.stpVsBaseline[0] + x.stpVsBaseline[1]) / 2)
  return [
    `spread ${la} vs ${lb} over ${s.length} mixes: |Δ STP ratio| mean ${f(mean(s.map((x) => x.ratioDiff)), 3)}, max ${f(Math.max(...s.map((x) => x.ratioDiff)), 3)}; ` +
      `|Δ STP| of the policy's runs mean ${pct(mean(s.map((x) => x.policyStpDiff)))}, max ${pct(Math.max(...s.map((x) => x.policyStpDiff)))}; ` +
      `of baseline's mean ${pct(mean(s.map((x) => x.baselineStpDiff)))}, max ${pct(Math.max(...s.map((x) => x.baselineStpDiff)))}; ` +
      `STP ratio, mean of both ${f(mean(both), 3)}`,
    gridTable(
      '',
      ['mix', `STP÷base ${la}`, lb, '|Δ|', 'policy STP Δ', 'baseline STP Δ', `worst ${la}`, lb],
      s.map((x) => [
        x.mix,
        f(x.stpVsBaseline[0], 3),
        f(x.stpVsBaseline[1], 3),
        f(x.ratioDiff, 3),
        pct(x.policyStpDiff),
        pct(x.baselineStpDiff),
        f(x.worstVsBaseline[0]),
        f(x.worstVsBaseline[1]),
      ]),
    )
      .split('\n')
      .slice(1)
      .join('\n'),
  ].join('\n')
}

/** The runs with their metrics recomputed, solo rates from the profiles of `dir` (for files without system metrics). */
export function recomputed(runs: Run[], dir: string): Run[] {
  const gpu = loadGpu(dir)
  const all = structuredClone(runs)
  return normalise(
    attachProfileRefs(all, (w) => loadProfile(dir, gpu, w.model, w.batch, w.dtype), DEFAULT_TOLERANCE),
  )
}

function main() {
  const args = process.argv.slice(2)
  const option = (name: string) => {
    const i = args.indexOf(name)
    return i >= 0 ? args.splice(i, 2)[1] : undefined
  }
  const policy = option('--policy')
  const profiles = option('--profiles')
  const usage =
    'usage: series-summary.ts [--policy P] [--profiles DIR] [LABEL=]DIR_OR_RESULTS_JSON[@MIX+...][,...]...'
  if (args.length === 0 || args.includes('--help') || args.includes('-h')) throw new Error(usage)
  const flag = args.find((a) => a.startsWith('-'))
  if (flag) throw new Error(`unknown option ${flag} (${usage})`)
  const runsOf = (part: string) => {
    const [a = part, only] = part.split('@')
    const kind = statSync(a, { throwIfNoEntry: false })
    if (!kind) throw new Error(`${a}: no such results.json or directory`)
    const file = kind.isDirectory() ? join(a, 'results.json') : a
    const all = readFile<Results>('results', file).runs
    const mixes = only?.split('+')
    const absent = mixes?.find((m) => !all.some((r) => r.mix === m))
    if (absent) throw new Error(`${file}: no run of mix ${absent}`)
    const recorded = mixes ? all.filter((r) => mixes.includes(r.mix)) : all
    const missing = recorded.some((r) => r.role === 'mix' && !r.metrics.system)
    if (missing && !profiles)
      throw new Error(`${file}: runs without system metrics: give --profiles DIR to recompute`)
    return missing && profiles ? recomputed(recorded, profiles) : recorded
  }
  const series = args.map((given) => {
    const [, name, arg = given] = /^([\w.-]+)=(.+)$/.exec(given) ?? []
    const parts = arg.split(',')
    const runs = parts.flatMap(runsOf)
    // parts of one series hold different runs: one (mix, batch, policy, backend) twice would pair across parts
    const keys = runs
      .filter((r) => r.role === 'mix')
      .map((r) => `${r.mix} b${r.batch} ${r.policy}/${r.mode ?? ''} ${r.backend}`)
    const twice = parts.length > 1 ? keys.find((k, i) => keys.indexOf(k) !== i) : undefined
    if (twice) throw new Error(`${arg}: the parts hold ${twice} more than once: not parts of one series`)
    return {
      label:
        name ??
        parts
          .map((p) => {
            const [a = p, only] = p.split('@')
            return `${basename(a.replace(/\/results\.json$/, ''))}${only ? `[${only}]` : ''}`
          })
          .join('+'),
      summary: summarise(runs, policy ?? onlyPolicy(runs)),
    }
  })
  for (const s of series) console.log(`${summaryText(s.label, s.summary)}\n`)
  for (let i = 1; i < series.length; i++) {
    const a = series[0] as (typeof series)[number]
    const b = series[i] as (typeof series)[number]
    console.log(`${spreadText(a.label, a.summary, b.label, b.summary)}\n`)
  }
}

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  try {
    main()
  } catch (e) {
    console.error(`series-summary: ${(e as Error).message}`)
    process.exit(2)
  }
}
