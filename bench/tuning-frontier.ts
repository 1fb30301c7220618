// What the floors cost, read from tuned runs' trails (solver.tuning.runs, repeated in each executed run's `tuning`):
// per mix, the best STP ratio (÷ baseline's) any measured plan reached in its tuning window with every worker at or
// above a floor f (its throughput ÷ its baseline's) and every worker's p95 within a cap (÷ its baseline's), for a
// ladder of floors. Where the column at the planner's floor is well under the one a few hundredths below it, the floor
// binds, not the search. The windows are short and the best of many is biased up (docs/plan.md): read the columns
// against each other, and the plan's own run (its fresh window) beside them.
//   node --import tsx bench/tuning-frontier.ts [--p95 1.1] [--floors 0.92,0.9,0.88,0.85,0.8,0] DIR_OR_RESULTS_JSON...
import { statSync } from 'node:fs'
import { join } from 'node:path'
import type { Results, Run, TuningRun } from '../src/formats/index.ts'
import { readFile } from '../src/formats/index.ts'
import { mean } from '../src/measure/stats.ts'
import { gridTable } from '../src/report/tables.ts'

export const DEFAULT_FRONTIER_FLOORS = [0.92, 0.9, 0.88, 0.85, 0.8, 0]
/** Issue #18's latency target: each worker's p95 within 1.1 × its p95 under baseline co-location. */
export const DEFAULT_FRONTIER_P95 = 1.1

export interface FrontierRow {
  /** The file or folder the run was read from, as given. */
  from: string
  mix: string
  /** The tuned policy and mode (eclip-fit/graph, eclip-rt/…): shown beside the mix where not eclip-fit/graph. */
  policy: string
  batch: number | null
  /** Runs in the trail (seeds, search moves, sets of raised workers). */
  runs: number
  /** The chosen plan's tuning window and its own run, STP ÷ baseline's (null: not recorded). */
  chosenWindow: number | null
  chosenRun: number | null
  /** Per floor (same order as the floors asked for): the best window's STP ratio and that run's plan; null: none. */
  best: ({ stp: number; worst: number; plan: string } | null)[]
}

/**
 * One row per tuned run that carries a trail, on the backend its tuning measured (a bench records the simulator's run
 * of the same plan beside the GPU's, with the same record); runs without a trail (untuned, or recorded before trails
 * were) are left out.
 */
export function frontier(
  runs: readonly Run[],
  floors: readonly number[],
  p95Cap: number,
  from = '',
): FrontierRow[] {
  const rows: FrontierRow[] = []
  for (const run of runs) {
    const trail: TuningRun[] | undefined = run.tuning?.runs
    if (!run.tuning || !trail || trail.length === 0 || run.backend !== run.tuning.backend) continue
    const within = trail.filter((t) => (t.worstP95VsBaseline ?? Number.POSITIVE_INFINITY) <= p95Cap + 1e-9)
    rows.push({
      from,
      mix: run.mix,
      policy: run.mode && run.mode !== 'graph' ? `${run.policy}/${run.mode}` : run.policy,
      batch: run.batch,
      runs: trail.length,
      chosenWindow: run.tuning.stpVsBaseline,
      chosenRun: run.metrics.system?.stpVsBaseline ?? null,
      best: floors.map((f) => {
        let top: TuningRun | undefined
        for (const t of within)
          if (t.worstVsBaseline >= f - 1e-9 && (!top || t.stpVsBaseline > top.stpVsBaseline)) top = t
        return top
          ? {
              stp: top.stpVsBaseline,
              worst: top.worstVsBaseline,
              plan: top.raised?.length ? `${top.plan}, raised ${top.raised.join(' ')}` : top.plan,
            }
          : null
      }),
    })
  }
  return rows
}

export function frontierTable(
  rows: readonly FrontierRow[],
  floors: readonly number[],
  p95Cap: number,
): string {
  const f3 = (x: number | null) => (x === null ? '–' : x.toFixed(3))
  const head = [
    'from',
    'mix',
    'runs',
    'chosen: window',
    'its run',
    ...floors.map((f) => (f > 0 ? `worst ≥ ${f}` : 'any')),
  ]
  const body = rows.map((r) => [
    r.from,
    `${r.batch === null ? r.mix : `${r.mix} b${r.batch}`}${r.policy === 'eclip-fit' ? '' : ` ${r.policy}`}`,
    String(r.runs),
    f3(r.chosenWindow),
    f3(r.chosenRun),
    ...r.best.map((b) => (b ? `${f3(b.stp)} (${b.worst.toFixed(2)})` : '–')),
  ])
  // a column's mean only where every row has a value
  const meanAll = (xs: (number | null)[]) =>
    xs.every((x): x is number => x !== null) ? mean(xs as number[]) : null
  body.push([
    'mean',
    '',
    '',
    f3(meanAll(rows.map((r) => r.chosenWindow))),
    f3(meanAll(rows.map((r) => r.chosenRun))),
    ...floors.map((_, i) => f3(meanAll(rows.map((r) => r.best[i]?.stp ?? null)))),
  ])
  return gridTable(
    `Best tuning-window STP ÷ baseline's by the lowest worker allowed (its ratio in brackets), every p95 ≤ ${p95Cap} × baseline's`,
    head,
    body,
  )
}

/** The option's value, each part a number ≥ 0 (no empty part); refused, naming the option, otherwise. */
function numberList(s: string | undefined, what: string): number[] {
  const parts = (s ?? '').split(',')
  const xs = parts.map((x) => (x.trim() === '' ? Number.NaN : Number(x)))
  if (s === undefined || s.startsWith('--') || xs.some((x) => !Number.isFinite(x) || x < 0))
    throw new Error(`${what}: expected numbers ≥ 0 joined by commas, got ${s === undefined ? 'nothing' : s}`)
  return xs
}

function oneNumber(s: string | undefined, what: string): number {
  const [x, ...rest] = numberList(s, what)
  if (rest.length > 0 || !(x !== undefined && x > 0))
    throw new Error(`${what}: expected one number > 0, got ${s}`)
  return x
}

function main(argv: string[]): void {
  let p95 = DEFAULT_FRONTIER_P95
  let floors = DEFAULT_FRONTIER_FLOORS
  const files: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string
    if (a === '--p95') p95 = oneNumber(argv[++i], '--p95')
    else if (a === '--floors') floors = numberList(argv[++i], '--floors')
    else files.push(a)
  }
  if (files.length === 0)
    throw new Error('usage: tuning-frontier.ts [--p95 X] [--floors a,b,...] DIR_OR_RESULTS_JSON...')
  const rows = files.flatMap((a) => {
    const file = statSync(a).isDirectory() ? join(a, 'results.json') : a
    return frontier(readFile<Results>('results', file).runs, floors, p95, a)
  })
  if (rows.length === 0) throw new Error('no tuned run with a trail (solver.tuning.runs) in the files given')
  console.log(frontierTable(rows, floors, p95))
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    main(process.argv.slice(2))
  } catch (e) {
    console.error(`tuning-frontier: ${(e as Error).message}`)
    process.exit(2)
  }
}
