// serve-bench's repeats (--repeats, --server-starts): an arm — one (mix, policy or --url label) of one transport's
// report — measured in several windows, back to back on one server start, on several fresh server starts, or both.
// Each window is a run of its own in results.json (its ratios to baseline taken against baseline's window of the
// same server start and index). The report's cells summarise an arm's windows as their mean with the range
// [min–max] beside it; a line per arm says the spread within one server (window to window) and between server starts
// (each start places its threads on the host's cores anew).
import type { ServeRepeat, ServeRun } from '../formats/index.ts'
import { serveRunName } from '../formats/index.ts'
import { mean } from '../measure/stats.ts'
import { gridTable } from '../report/tables.ts'

const f = (v: number | null | undefined, digits = 2) =>
  v === null || v === undefined ? '–' : v.toFixed(digits)
const numbers = (xs: readonly (number | null | undefined)[]) =>
  xs.filter((x): x is number => typeof x === 'number')

/** A run's window in words for the per-run detail ("server 1 window 2"); '' for the one window of one server. */
export const windowWords = (r: Pick<ServeRun, 'repeat'>): string =>
  r.repeat ? `server ${r.repeat.server} window ${r.repeat.window}` : ''

/** The note of a window's run: which window of which server start, and how they were measured. */
export function repeatNote(repeat: ServeRepeat, windows: number, servers: number): string {
  return `window ${repeat.window} of ${windows}${servers > 1 ? ` on server start ${repeat.server} of ${servers}` : ''} (the windows of one server start back to back after its one warm-up${servers > 1 ? '; each server start a fresh eclip serve' : ''})`
}

/** Whether any run is one window of several (the report then summarises arms and says their spread). */
export const repeated = (runs: readonly ServeRun[]): boolean => runs.some((r) => r.repeat !== undefined)

/** An arm's windows, in the order they ran. */
export const armRuns = (runs: readonly ServeRun[], mix: string, name: string): ServeRun[] =>
  runs.filter((r) => r.mix === mix && serveRunName(r) === name)

/**
 * An arm's values as a cell: one window, its value as before; several, the mean over the windows that have one with
 * [min–max] beside it ('–' for none).
 */
export function summaryCell(values: readonly (number | null | undefined)[], digits = 2): string {
  if (values.length <= 1) return f(values[0], digits)
  const xs = numbers(values)
  if (xs.length === 0) return '–'
  const m = mean(xs) as number
  if (xs.length === 1) return f(m, digits)
  return `${f(m, digits)} [${f(Math.min(...xs), digits)}–${f(Math.max(...xs), digits)}]`
}

/** The mean over mixes of each arm's mean (a "mean" row): with one window per arm, the mean over the runs. */
export function meanOverArms(
  runs: readonly ServeRun[],
  value: (r: ServeRun) => number | null | undefined,
): number | null {
  const byMix = new Map<string, number[]>()
  for (const r of runs) {
    const v = value(r)
    if (typeof v === 'number') byMix.set(r.mix, [...(byMix.get(r.mix) ?? []), v])
  }
  return mean([...byMix.values()].map((xs) => mean(xs) as number))
}

/**
 * How far an arm's windows spread, in `value`'s units: within a server, the widest range of one server start's
 * windows (null with one window per start); between servers, the range of the server starts' means (null with one
 * start).
 */
export function spread(
  runs: readonly ServeRun[],
  value: (r: ServeRun) => number | null | undefined,
): { within: number | null; between: number | null; starts: number; windows: number } {
  const byStart = new Map<number, number[]>()
  for (const r of runs) {
    const v = value(r)
    if (typeof v === 'number') {
      const s = r.repeat?.server ?? 1
      byStart.set(s, [...(byStart.get(s) ?? []), v])
    }
  }
  const range = (xs: number[]) => Math.max(...xs) - Math.min(...xs)
  const several = [...byStart.values()].filter((xs) => xs.length > 1)
  const means = [...byStart.values()].map((xs) => mean(xs) as number)
  return {
    within: several.length > 0 ? Math.max(...several.map(range)) : null,
    between: means.length > 1 ? range(means) : null,
    starts: byStart.size,
    windows: [...byStart.values()].reduce((a, xs) => a + xs.length, 0),
  }
}

/** Σ served req/s over the workers of a window's run. */
const totalRps = (r: ServeRun) => r.workers.reduce((a, w) => a + w.throughputRps, 0)

/**
 * A line per arm: the spread of served ÷ bench (where --bench gave one) and of Σ req/s (relative to the arm's mean)
 * within one server and between server starts, each where it was measured. '' when no arm has several windows.
 */
export function spreadLines(
  runs: readonly ServeRun[],
  label: string,
  axes: { mixes: string[]; policies: string[] },
): string {
  if (!repeated(runs)) return ''
  const lines: string[] = []
  for (const mix of axes.mixes)
    for (const name of axes.policies) {
      const rs = armRuns(runs, mix, name)
      if (rs.length === 0) continue
      const say = (what: string, s: ReturnType<typeof spread>, fmt: (x: number) => string) =>
        `${what} within a server ${s.within === null ? 'not measured (one window per start)' : fmt(s.within)}, between servers ${s.between === null ? 'not measured (one server start)' : fmt(s.between)}`
      const rps = spread(rs, totalRps)
      const m = mean(rs.map(totalRps)) as number
      const parts = [
        ...(rs.some((r) => typeof r.bench?.servedVsBench === 'number')
          ? [
              say(
                'served ÷ bench',
                spread(rs, (r) => r.bench?.servedVsBench),
                (x) => x.toFixed(2),
              ),
            ]
          : []),
        say('Σ req/s', rps, (x) => (m > 0 ? `${((x / m) * 100).toFixed(1)}%` : '–')),
      ]
      lines.push(
        `${mix} ${name}: ${rps.starts} server start${rps.starts === 1 ? '' : 's'}, ${rps.windows} window${rps.windows === 1 ? '' : 's'}; ${parts.join('; ')}`,
      )
    }
  return [
    `Spread over the repeats (within a server: the widest max − min of one server start's windows; between servers: max − min of the server starts' means; Σ req/s as a share of the arm's mean) — ${label}`,
    ...lines,
  ].join('\n')
}

/** The host-CPU tables of repeated runs: server and event-loop CPU per request, mean [min–max] over the windows. */
export function hostCpuTables(
  runs: readonly ServeRun[],
  label: string,
  axes: { mixes: string[]; policies: string[] },
): string {
  if (!repeated(runs)) return ''
  const per = (r: ServeRun) => r.metrics.hostCpuMsPerRequest
  const table = (title: string, value: (r: ServeRun) => number | null | undefined) =>
    gridTable(
      `${title} — ${label}`,
      ['mix', ...axes.policies],
      [
        ...axes.mixes.map((m) => [
          m,
          ...axes.policies.map((p) => {
            const rs = armRuns(runs, m, p)
            return rs.length > 0 ? summaryCell(rs.map(value), 3) : '–'
          }),
        ]),
        [
          'mean',
          ...axes.policies.map((p) =>
            f(
              meanOverArms(
                runs.filter((r) => serveRunName(r) === p),
                value,
              ),
              3,
            ),
          ),
        ],
      ],
    )
  return [
    table(
      'Server CPU per request in the window, ms (the server process and its front-ends; mean over windows [min–max])',
      (r) => per(r)?.server,
    ),
    table(
      "Server's event-loop CPU per request in the window, ms (mean over windows [min–max])",
      (r) => per(r)?.eventLoop,
    ),
  ].join('\n\n')
}
