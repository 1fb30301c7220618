// The report of an experiment: first the system metrics (STP vs baseline and vs its bound, the worst worker, total
// requests/s, ANTT, Jain: src/measure/system.ts), then the paper's tables (normalised throughput — the mean of
// per-worker ratios, shown beside STP, never alone —, p95 and energy efficiency per mix and policy, with means;
// switches per request — its Table I) as text, and its figures as SVG + PNG. When a results file holds runs of both
// backends, each cell shows the measured value with the simulated one beside it.
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { LiveSetMetrics, Profile, Run } from '../formats/index.ts'
import { mean } from '../measure/stats.ts'
import { DEFAULT_MIN_SHARE } from '../plan/fit.ts'
import { rightSizes } from '../profile/rightsize.ts'
import {
  groupedBars,
  policyLabel,
  rightSizeSpec,
  svgToPng,
  systemFontsPresent,
  toSvg,
} from '../report/plots.ts'
import { gridTable } from '../report/tables.ts'

type Metric = 'throughputVsBaseline' | 'p95VsBaseline' | 'energyEffVsBaseline' | 'switchesPerRequest'

/** The paper's tables and figures; `note`: what a table's heading adds (a mean of ratios says what to read it by). */
export const TABLES: { metric: Metric; title: string; file: string; y: string; note?: string }[] = [
  {
    metric: 'throughputVsBaseline',
    title: 'Normalised throughput',
    note: '; per run the mean of per-worker ratios, which rewards starving one model: read it beside STP',
    file: 'throughput',
    y: 'throughput / baseline (mean over workers)',
  },
  {
    metric: 'p95VsBaseline',
    title: 'Normalised p95 latency',
    file: 'p95',
    y: 'p95 / baseline (mean over workers)',
  },
  {
    metric: 'energyEffVsBaseline',
    title: "Normalised energy efficiency (the paper's: a mean of per-worker ratios)",
    note: "; per run the mean of per-worker throughput ratios × baseline's power ÷ the run's: read it beside total requests/J",
    file: 'energy-efficiency',
    y: 'requests per J / baseline (mean over workers)',
  },
  {
    metric: 'switchesPerRequest',
    title: 'Switches per request (all workers)',
    file: 'switches',
    y: 'switches',
  },
]

const mixRuns = (runs: Run[]) => runs.filter((r) => r.role === 'mix')
const order = <T>(xs: T[]) => [...new Set(xs)]

/** Mixes, column labels (policy/mode) and backends in the order the runs were made. */
function axes(runs: Run[]) {
  const m = mixRuns(runs)
  return {
    mixes: order(m.map((r) => r.mix)),
    columns: order(m.map(policyLabel)),
    backends: order(m.map((r) => r.backend)),
  }
}

type Getter = (r: Run) => number | null

function runOf(runs: Run[], mix: string, column: string, backend: string): Run | undefined {
  return runs.find(
    (x) => x.role === 'mix' && x.mix === mix && policyLabel(x) === column && x.backend === backend,
  )
}

function value(runs: Run[], mix: string, column: string, backend: string, get: Getter): number | null {
  const r = runOf(runs, mix, column, backend)
  return r ? get(r) : null
}

/** The measured backend where there is one, and the other (simulated) beside it. */
function backendsOf(runs: Run[]) {
  const { backends } = axes(runs)
  const primary = backends.includes('gpu') ? 'gpu' : (backends[0] ?? 'sim')
  return {
    primary,
    other: backends.find((b) => b !== primary),
    label: backends.map((b) => (b === 'sim' ? 'simulated' : 'measured on GPU')).join(' vs '),
  }
}

/**
 * A table of one per-run value: rows = mixes (+ the mean over mixes where `meanRow`), columns = policy/mode; `note`
 * adds text after the primary backend's value (the worst worker's name).
 */
function tableBy(
  runs: Run[],
  title: string,
  get: Getter,
  o: { fmt?: (v: number) => string; meanRow?: boolean; note?: (r: Run) => string } = {},
): string {
  const { mixes, columns } = axes(runs)
  const { primary, other } = backendsOf(runs)
  const fmt = (v: number | null) => (v === null ? '–' : (o.fmt ?? ((x: number) => x.toFixed(2)))(v))
  const cell = (mix: string | null, col: string) => {
    const at = (b: string) =>
      mix === null
        ? mean(mixes.map((m) => value(runs, m, col, b, get)).filter((v): v is number => v !== null))
        : value(runs, mix, col, b, get)
    const r = mix === null ? undefined : runOf(runs, mix, col, primary)
    const v = `${fmt(at(primary))}${r && o.note ? o.note(r) : ''}`
    return other ? `${v} (${other} ${fmt(at(other))})` : v
  }
  return gridTable(
    title,
    ['mix', ...columns],
    [
      ...mixes.map((m) => [m, ...columns.map((c) => cell(m, c))]),
      ...(o.meanRow === false ? [] : [['mean', ...columns.map((c) => cell(null, c))]]),
    ],
  )
}

/** One table as text: rows = mixes + mean, columns = policy/mode. */
export function table(runs: Run[], metric: Metric, title: string): string {
  const { label } = backendsOf(runs)
  const isSwitch = metric === 'switchesPerRequest'
  return tableBy(
    runs,
    `${title} — ${label}${isSwitch ? '' : ', arithmetic mean over mixes'}${TABLES.find((t) => t.metric === metric)?.note ?? ''}`,
    (r) => r.metrics[metric],
    isSwitch ? { fmt: (v) => String(Math.round(v)) } : {},
  )
}

type SystemKey = Exclude<keyof NonNullable<Run['metrics']['system']>, 'soloFrom' | 'worstWorker'>
const sys =
  (k: SystemKey): Getter =>
  (r) =>
    r.metrics.system?.[k] ?? null

/** The system metrics' figures: STP vs baseline, the worst worker and total requests/J vs baseline. */
export const SYSTEM_FIGURES: { get: Getter; title: string; file: string; y: string }[] = [
  {
    get: sys('stpVsBaseline'),
    title: 'System throughput (STP = Σ rate/solo) vs baseline',
    file: 'stp',
    y: 'STP / baseline STP',
  },
  {
    get: sys('worstVsBaseline'),
    title: "Worst worker's throughput vs baseline",
    file: 'worst-worker',
    y: 'min over workers of throughput / baseline',
  },
  {
    get: (r) => r.metrics.requestsPerJVsBaseline ?? null,
    title: 'Requests per joule (total requests ÷ energy) vs baseline',
    file: 'requests-per-joule',
    y: "requests/J / baseline's requests/J",
  },
]

/**
 * The system metrics (Eyerman & Eeckhout, IEEE Micro 2008): STP vs baseline, the worst worker, total requests/s,
 * total requests/J vs baseline, ANTT, Jain over rate/solo, and STP beside its bound (measured ÷ bound). Empty when
 * no run has them.
 */
export function systemTables(runs: Run[]): string {
  const mix = mixRuns(runs)
  if (!mix.some((r) => r.metrics.system)) return ''
  const { label, primary, other } = backendsOf(runs)
  const solo = [...new Set(mix.flatMap((r) => (r.metrics.system ? [r.metrics.system.soloFrom] : [])))]
  const head = (t: string) => `${t} — ${label}, arithmetic mean over mixes`
  const soloNote = `solo rates from ${solo.join(' / ')}`
  const f2 = (v: number | null | undefined) => (v === null || v === undefined ? '–' : v.toFixed(2))
  const { mixes, columns } = axes(runs)
  // the bound per mix (the same for every policy of a mix: profiles and solo rates)
  const boundOf = (m: string) => {
    const r = mix.find((x) => x.mix === m && x.backend === primary && x.metrics.system?.stpBound != null)
    return r?.metrics.system?.stpBound ?? null
  }
  const above: string[] = []
  const boundCell = (m: string, c: string) => {
    const r = runOf(runs, m, c, primary)
    const s = r?.metrics.system
    if (!s) return '–'
    const o = other ? runOf(runs, m, c, other)?.metrics.system : undefined
    if (s.stpVsBound !== null && s.stpVsBound > 1) above.push(`${m} ${c}`)
    return `${f2(s.stp)}${other ? ` (${other} ${f2(o?.stp)})` : ''} ${f2(s.stpVsBound)}${s.stpVsBound !== null && s.stpVsBound > 1 ? '!' : ''}`
  }
  const vsBound = (c: string) =>
    mean(
      mixes
        .map((m) => runOf(runs, m, c, primary)?.metrics.system?.stpVsBound ?? null)
        .filter((v): v is number => v !== null),
    )
  const boundTable = gridTable(
    `STP${other ? ` (${other} beside it)` : ''} and ${primary === 'gpu' ? 'measured' : 'simulated'} ÷ bound — ${label}; ${soloNote}. Bound: max Σ x_w, x_w = rate/solo ≤ 1, ` +
      'Σ x_w·solo_w·(right-sized SM·s per request) ≤ SMs; it ignores overlap inside a graph and memory contention, so a run can exceed it (!)',
    ['mix', 'bound', ...columns],
    [
      ...mixes.map((m) => [m, f2(boundOf(m)), ...columns.map((c) => boundCell(m, c))]),
      ['mean ÷ bound', '', ...columns.map((c) => f2(vsBound(c)))],
    ],
  )
  // the floored bound: every worker kept at ≥ the default floor of its share under the mix's baseline run
  const flooredOf = (m: string) =>
    mix.find((x) => x.mix === m && x.backend === primary && x.metrics.system?.stpBoundFloored != null)
      ?.metrics.system?.stpBoundFloored ?? null
  const vsFloored = (m: string, c: string) =>
    runOf(runs, m, c, primary)?.metrics.system?.stpVsBoundFloored ?? null
  const flooredTable = mixes.some((m) => flooredOf(m) !== null)
    ? gridTable(
        `${primary === 'gpu' ? 'Measured' : 'Simulated'} STP ÷ the floored bound — ${label}; ${soloNote}. Floored bound: the bound above with ` +
          `every x_w ≥ ${DEFAULT_MIN_SHARE} × its value under the mix's baseline run (the planner's default floor): what a plan that starves no model could reach`,
        ['mix', 'plain bound', 'floored bound', ...columns],
        [
          ...mixes.map((m) => [
            m,
            f2(boundOf(m)),
            f2(flooredOf(m)),
            ...columns.map((c) => {
              const v = vsFloored(m, c)
              return v === null ? '–' : `${f2(v)}${v > 1 ? '!' : ''}`
            }),
          ]),
          [
            'mean',
            '',
            '',
            ...columns.map((c) =>
              f2(mean(mixes.map((m) => vsFloored(m, c)).filter((v): v is number => v !== null))),
            ),
          ],
        ],
      )
    : null
  return [
    tableBy(
      runs,
      head(`System throughput STP (Σ rate/solo) ÷ baseline's STP; ${soloNote}`),
      sys('stpVsBaseline'),
    ),
    tableBy(runs, head("Worst worker: its throughput ÷ its baseline's (name)"), sys('worstVsBaseline'), {
      note: (r) =>
        r.policy !== 'baseline' && r.metrics.system?.worstWorker ? ` ${r.metrics.system.worstWorker}` : '',
    }),
    tableBy(
      runs,
      head('Total requests/s ÷ baseline (a sum over different models)'),
      sys('totalRpsVsBaseline'),
    ),
    tableBy(
      runs,
      head("Requests/J (total requests ÷ the run's energy) ÷ baseline's"),
      (r) => r.metrics.requestsPerJVsBaseline ?? null,
    ),
    tableBy(
      runs,
      head(`ANTT (mean latency ÷ solo latency) ÷ baseline's, lower is better; ${soloNote}`),
      sys('anttVsBaseline'),
    ),
    tableBy(runs, head(`Jain's fairness over rate/solo; ${soloNote}`), sys('jain'), {
      fmt: (v) => v.toFixed(3),
    }),
    `${boundTable}${above.length > 0 ? `\nabove the bound: ${above.join(', ')} (the bound ignores intra-graph overlap and memory contention)` : ''}`,
    ...(flooredTable ? [flooredTable] : []),
  ].join('\n\n')
}

/** A worker's host CPU time per request as a share of its mean latency, %; null where not measured. */
export function hostCpuShare(w: Run['workers'][number]): number | null {
  if (w.hostCpuUsPerRequest === undefined || !w.latencyUs) return null
  return (100 * w.hostCpuUsPerRequest) / w.latencyUs.mean
}

/** Host CPU per request on the GPU (graph mode's promise: under 1% of latency): the worst worker of each run. */
export function hostCpuTable(runs: Run[]): string | null {
  const gpu = runs.filter((r) => r.role === 'mix' && r.backend === 'gpu')
  const worst = (r: Run) => {
    const xs = r.workers.map(hostCpuShare).filter((v): v is number => v !== null)
    return xs.length > 0 ? Math.max(...xs) : null
  }
  if (!gpu.some((r) => worst(r) !== null)) return null
  const mixes = order(gpu.map((r) => r.mix))
  const columns = order(gpu.map(policyLabel))
  const cell = (m: string, c: string) => {
    const r = gpu.find((x) => x.mix === m && policyLabel(x) === c)
    const v = r ? worst(r) : null
    return v === null ? '–' : `${v.toFixed(2)}%`
  }
  return gridTable(
    'Host CPU time to enqueue a request, % of its mean latency (worst worker) — measured on GPU',
    ['mix', ...columns],
    mixes.map((m) => [m, ...columns.map((c) => cell(m, c))]),
  )
}

/**
 * Real-time workers beside best-effort ones, in DISB's terms (src/formats/results.ts RealtimeMetrics): per mix and
 * policy, the real-time requests' mean latency, its increase over the real-time workers alone, their p99 and share
 * within SLO, and the overall throughput (every worker's requests/s) with its ratio to baseline. Null without such
 * runs.
 */
export function realtimeTable(runs: Run[]): string | null {
  const rows = runs.filter((r) => r.role === 'mix' && r.metrics.realtime)
  if (rows.length === 0) return null
  const backends = order(rows.map((r) => r.backend))
  const ms = (us: number | null | undefined) =>
    us === null || us === undefined ? '–' : (us / 1000).toFixed(3)
  const sign = (x: number) => (x >= 0 ? '+' : '−')
  const body = rows.map((r) => {
    const m = r.metrics.realtime as NonNullable<Run['metrics']['realtime']>
    const inc =
      m.increaseUs === null
        ? '–'
        : `${sign(m.increaseUs)}${ms(Math.abs(m.increaseUs))} ms ${sign(m.increasePct ?? 0)}${Math.abs(m.increasePct ?? 0).toFixed(1)}%`
    return [
      r.mix,
      `${policyLabel(r)}${backends.length > 1 ? ` [${r.backend}]` : ''}`,
      ms(m.meanUs),
      ms(m.aloneMeanUs),
      inc,
      ms(m.p99Us),
      m.withinSlo === null ? '–' : `${(m.withinSlo * 100).toFixed(1)}%`,
      m.overallRps.toFixed(1),
      m.overallVsBaseline === null ? '–' : m.overallVsBaseline.toFixed(2),
    ]
  })
  const label = backends.map((b) => (b === 'sim' ? 'simulated' : 'measured on GPU')).join(' and ')
  return gridTable(
    `Real-time beside best-effort, DISB's metrics — ${label}: RT latency (mean of the real-time requests, arrival to completion), its increase over the real-time workers alone (same arrivals, whole GPU), RT p99, share within SLO, overall throughput (every request)`,
    [
      'mix',
      'policy',
      'RT mean ms',
      'alone ms',
      'increase',
      'RT p99 ms',
      'within SLO',
      'overall req/s',
      'vs baseline',
    ],
    body,
  )
}

/**
 * eclip-live against the static plans of the same mix (issue #19): per mix that has a table-following run, every
 * policy's total requests, STP (and vs baseline), the active-set switches and each worker's p99; the best static plan
 * (highest STP but baseline's) marked. Then, per table-following run, each active set: its share of the window and,
 * per worker, how fast its requests ran under the set's plan against that plan held (the set-alone runs). Null
 * without such runs.
 */
export function liveTables(runs: Run[]): string | null {
  const lives = runs.filter((r) => r.role === 'mix' && r.metrics.live)
  if (lives.length === 0) return null
  const f = (v: number | null | undefined, d = 2) => (v === null || v === undefined ? '–' : v.toFixed(d))
  const out: string[] = []
  for (const mix of order(lives.map((r) => r.mix)))
    for (const backend of order(lives.filter((r) => r.mix === mix).map((r) => r.backend))) {
      const all = runs.filter((r) => r.role === 'mix' && r.mix === mix && r.backend === backend)
      const statics = all.filter((r) => !r.metrics.live && r.policy !== 'baseline')
      const best = statics.reduce<Run | undefined>(
        (b, r) => ((r.metrics.system?.stp ?? -1) > (b?.metrics.system?.stp ?? -1) ? r : b),
        undefined,
      )
      const names = order(all.flatMap((r) => r.workers.map((w) => w.name)))
      const rows = all.map((r) => {
        const y = r.metrics.system
        return [
          `${policyLabel(r)}${r === best ? ' (best static)' : ''}`,
          String(r.metrics.requests),
          f(y?.stp, 3),
          f(y?.stpVsBaseline, 3),
          f(y?.totalRpsVsBaseline, 3),
          r.metrics.live ? `${r.metrics.live.switches} (${f(r.metrics.live.switchesPerS, 0)}/s)` : '–',
          ...names.map((n) =>
            f((r.workers.find((w) => w.name === n)?.latencyUs?.p99 ?? null) as number | null, 0),
          ),
        ]
      })
      out.push(
        gridTable(
          `Following the active set (eclip-live) vs static plans — ${mix}, ${backend === 'sim' ? 'SIMULATED' : 'measured on GPU'}: requests in the window, STP (Σ rate / solo rate) and vs baseline, total req/s vs baseline, active-set switches, p99 µs per worker`,
          [
            'policy',
            'requests',
            'STP',
            'vs base',
            'req/s vs base',
            'switches',
            ...names.map((n) => `p99 ${n}`),
          ],
          rows,
        ),
      )
      for (const r of lives.filter((x) => x.mix === mix && x.backend === backend)) {
        const lv = r.metrics.live as NonNullable<Run['metrics']['live']>
        // beside held, baseline's requests in the same set of the same traffic, where baseline ran in this bench
        const base = lv.sets.some((set) => set.speedVsBaseline !== undefined)
        const body = lv.sets.map((set) => [
          set.key === '' ? '(none active)' : `${set.key}${set.ranUnder ? ` → ${set.ranUnder}` : ''}`,
          `${(set.share * 100).toFixed(1)}%`,
          set.workers.map((w) => `${w.name} ${w.requests}`).join(', ') || '–',
          set.workers.map((w) => `${f(w.serviceUs, 0)}/${f(w.heldServiceUs, 0)}`).join(', ') || '–',
          f(set.speedVsHeld, 3),
          ...(base
            ? [
                set.workers
                  .map((w) => `${w.baselineRequests ?? 0}: ${f(w.serviceUs, 0)}/${f(w.baselineServiceUs, 0)}`)
                  .join(', ') || '–',
                f(set.speedVsBaseline, 3),
              ]
            : []),
          set.workers
            .filter((w) => w.requests > 0)
            .map((w) => `${f(w.p99ServiceUs ?? null, 0)}/${f(w.heldP99Us ?? null, 0)}`)
            .join(', ') || '–',
          f(worstP99(set, 'started'), 3),
          set.workers
            .filter((w) => (w.endedRequests ?? 0) > 0)
            .map((w) => `${w.endedRequests}: ${f(w.p99EndedUs ?? null, 0)}/${f(w.heldP99Us ?? null, 0)}`)
            .join(', ') || '–',
          f(worstP99(set, 'ended'), 3),
        ])
        out.push(
          gridTable(
            `Active sets of ${mix} ${policyLabel(r)} (hold ${lv.holdMs} ms; table of ${lv.tablePlans} ${lv.tablePolicy} plans, ${lv.unionPartitions} partitions in all; ${lv.planChanges} requests ran under another plan than their previous one): share of the window, requests per worker under the set's plan, mean request µs here/held (the set's plan with its workers alone, closed loop), the slowest worker's speed vs held;${base ? " baseline's requests that started while the same set was active in the same traffic, mean request µs here/baseline there, the slowest worker's speed vs baseline in the same set;" : ''} p99 request µs here/held of the requests that started in the set (under its plan) and the largest ÷ held; then the same for the requests that ended while it was the active set (a request a switch overtook counts in the new set: the issue's reading), with their count`,
            [
              'active set',
              'time',
              'requests',
              'µs here/held',
              'speed vs held',
              ...(base ? ['baseline n: µs here/there', 'vs baseline in the same set'] : []),
              'p99 started here/held',
              '÷ held',
              'ended here: n: p99/held',
              '÷ held',
            ],
            body,
          ),
        )
      }
    }
  return out.join('\n\n')
}

/**
 * The largest p99 here ÷ held of a set's workers with requests (the one switching moved most), the requests counted in
 * the set they started in or in the set active when they ended; null if none.
 */
function worstP99(set: LiveSetMetrics, by: 'started' | 'ended'): number | null {
  const xs = set.workers.flatMap((w) => {
    const r = by === 'started' ? w.p99VsHeld : w.p99EndedVsHeld
    return (by === 'started' ? w.requests : (w.endedRequests ?? 0)) > 0 && r != null ? [r] : []
  })
  return xs.length > 0 ? Math.max(...xs) : null
}

/**
 * bench --bracket: each mix's baseline run again after its other policies, against the first — how far the machine
 * drifted while they ran — and the note that every ratio is against the mean of the two. Null without such runs.
 */
export function bracketTable(runs: Run[]): string | null {
  const after = runs.filter((r) => r.role === 'baseline-after')
  if (after.length === 0) return null
  const total = (r: Run) => r.workers.reduce((a, w) => a + w.throughputRps, 0)
  const stp = (r: Run) => r.metrics.system?.stp ?? null
  const f = (v: number | null) => (v === null ? '–' : v.toFixed(3))
  const rows = after.flatMap((a) => {
    const b = runs.find(
      (r) =>
        r.role === 'mix' &&
        r.policy === 'baseline' &&
        r.mix === a.mix &&
        r.batch === a.batch &&
        r.backend === a.backend,
    )
    if (!b) return []
    const sb = stp(b)
    const sa = stp(a)
    return [
      [
        a.mix,
        a.backend,
        total(b).toFixed(1),
        total(a).toFixed(1),
        f(total(a) / total(b)),
        f(sb !== null && sa !== null && sb > 0 ? sa / sb : null),
      ],
    ]
  })
  return gridTable(
    "Baseline run again after each mix's other policies (--bracket): every ratio to baseline in this report is against the mean of the two runs; the second ÷ the first is how far the machine drifted meanwhile",
    ['mix', 'backend', 'req/s before', 'req/s after', 'after ÷ before', 'STP after ÷ before'],
    rows,
  )
}

export function textReport(runs: Run[]): string {
  const cpu = hostCpuTable(runs)
  const bracket = bracketTable(runs)
  const system = systemTables(runs)
  const rt = realtimeTable(runs)
  const live = liveTables(runs)
  return [
    ...(live ? [live] : []),
    ...(rt ? [rt] : []),
    ...(bracket ? [bracket] : []),
    ...(system ? [system] : []),
    ...TABLES.map((t) => table(runs, t.metric, t.title)),
    ...(cpu ? [cpu] : []),
  ].join('\n\n')
}

export interface FigureInputs {
  /** Profiles to draw right-sizes of (the paper's Fig. 3), one figure each. */
  profiles: Profile[]
  tolerance: number
  /** Shown under figure titles: what the numbers are ("simulated, synthetic profiles", …). */
  caption: string
}

/** Writes every figure as SVG and PNG into dir; returns the files written and any warnings. */
export async function writeFigures(runs: Run[], dir: string, f: FigureInputs) {
  mkdirSync(dir, { recursive: true })
  const files: string[] = []
  const warnings: string[] = []
  const fonts = systemFontsPresent()
  if (!fonts) warnings.push('no system fonts found: PNG figures have no text (the SVG files do)')
  const save = async (name: string, spec: Record<string, unknown>) => {
    const svg = await toSvg(spec)
    const svgFile = join(dir, `${name}.svg`)
    writeFileSync(svgFile, svg)
    files.push(svgFile)
    try {
      const pngFile = join(dir, `${name}.png`)
      writeFileSync(pngFile, await svgToPng(svg))
      files.push(pngFile)
    } catch (err) {
      warnings.push(`${name}.png not written: ${(err as Error).message}`)
    }
  }
  const { mixes, columns, backends } = axes(runs)
  const hasSystem = runs.some((r) => r.metrics.system)
  const figures = [
    ...(hasSystem ? SYSTEM_FIGURES.map((t) => ({ ...t, metric: null })) : []),
    ...TABLES.map((t) => ({ ...t, get: (r: Run) => r.metrics[t.metric] })),
  ]
  for (const t of figures) {
    const bars = []
    for (const b of backends) {
      for (const c of columns) {
        const vs: number[] = []
        for (const m of mixes) {
          const v = value(runs, m, c, b, t.get)
          if (v === null) continue
          vs.push(v)
          bars.push({ mix: m, policy: c, value: v, backend: b })
        }
        if (t.metric !== 'switchesPerRequest' && vs.length > 0)
          bars.push({ mix: 'mean', policy: c, value: mean(vs) as number, backend: b })
      }
    }
    const isSwitch = t.metric === 'switchesPerRequest'
    const spec = groupedBars(t.title, t.y, isSwitch ? bars.filter((x) => x.value > 0) : bars, {
      ...(isSwitch ? { log: true } : { rule: 1 }),
      subtitle: f.caption,
    })
    await save(isSwitch ? 'table1-switches' : `fig-${t.file}`, spec)
  }
  const seen = new Set<string>()
  for (const p of f.profiles) {
    const id = `${p.model}.b${p.batch}.${p.dtype}`
    if (seen.has(id)) continue
    seen.add(id)
    const source =
      p.measured.method === 'synthetic' ? 'SYNTHETIC profile (not measured)' : `profiled on ${p.gpu.name}`
    await save(
      `fig3-rightsizes-${id}`,
      rightSizeSpec(p.model, p.batch, rightSizes(p, f.tolerance), f.tolerance, source),
    )
  }
  return { files, warnings }
}

/** Every run in detail (for report.txt): run metrics, then one line per worker. */
export function detailReport(runs: Run[]): string {
  const f = (v: number | null | undefined, digits = 2) =>
    v === null || v === undefined ? '–' : v.toFixed(digits)
  const out: string[] = ['Runs in detail (latencies in µs; ratios to baseline / solo)']
  for (const r of runs) {
    const m = r.metrics
    out.push(
      '',
      `${r.mix} ${policyLabel(r)} [${r.backend}${r.role === 'mix' ? '' : `, ${r.role}`}]: ${m.requests} requests in ${r.windowS} s, ` +
        `${f(m.energyJ)} J (${r.inputs.power}), ${f(m.jPerRequest === null ? null : m.jPerRequest * 1000, 3)} mJ/request, ` +
        `${f(m.meanPowerW, 0)} W, Jain ${f(m.jainFairness, 3)}, SM utilisation ${f(m.meanSmUtilisation)}, ` +
        `rounds ${f(m.roundsPerS, 0)}/s vs ideal ${f(m.idealRoundsPerS, 0)}/s (${f(m.vsIdeal)})`,
    )
    const y = m.system
    if (y)
      out.push(
        `  system: STP ${f(y.stp)} (${f(y.stpVsBaseline)} of baseline's; bound ${f(y.stpBound)}, ${f(y.stpVsBound)} of it), ` +
          `worst worker ${y.worstWorker ?? '–'} ${f(y.worstVsBaseline)}, total ${f(y.totalRps, 1)} req/s (${f(y.totalRpsVsBaseline)}), ` +
          `${f(m.requestsPerJ, 3)} requests/J (${f(m.requestsPerJVsBaseline)}), ` +
          `ANTT ${f(y.antt)} (${f(y.anttVsBaseline)}), Jain ${f(y.jain, 3)} over rate/solo, mean of ratios ${f(y.meanVsBaseline)}; solo rates from ${y.soloFrom}`,
      )
    const lv = m.live
    if (lv)
      out.push(
        `  live: hold ${lv.holdMs} ms, ${lv.switches} active-set switches (${f(lv.switchesPerS, 0)}/s), ${lv.planChanges} plan changes; ` +
          lv.sets
            .map(
              (x) =>
                `${x.key || '(none)'} ${f(x.share * 100, 1)}% speed vs held ${f(x.speedVsHeld, 3)}${x.speedVsBaseline !== undefined ? ` vs baseline ${f(x.speedVsBaseline, 3)}` : ''}`,
            )
            .join('; '),
      )
    const as = m.activeSets
    if (as)
      out.push(
        `  active sets of its traffic (hold ${as.holdMs} ms, eclip-live's reference): ` +
          as.sets
            .map(
              (x) =>
                `${x.key || '(none)'} ${f(x.share * 100, 1)}% ${x.workers.map((w) => `${w.name} ${w.requests} × ${f(w.serviceUs, 0)} µs`).join(', ') || '–'}`,
            )
            .join('; '),
      )
    const rt = m.realtime
    if (rt)
      out.push(
        `  real-time: ${rt.requests} requests, mean ${f(rt.meanUs, 1)}, p99 ${f(rt.p99Us, 1)}, within SLO ${f(rt.withinSlo === null ? null : rt.withinSlo * 100, 1)}%; ` +
          `alone mean ${f(rt.aloneMeanUs, 1)}, p99 ${f(rt.aloneP99Us, 1)}; increase ${f(rt.increaseUs, 1)} (${f(rt.increasePct, 1)}%); ` +
          `overall ${f(rt.overallRps, 1)} req/s (${f(rt.overallVsBaseline)} of baseline's)`,
      )
    const rows = [
      [
        'worker',
        'requests',
        'req/s',
        'p50',
        'p95',
        'p99',
        'thr/base',
        'p95/base',
        'thr/solo',
        'switches',
        'cpu µs/req',
      ],
    ]
    for (const w of r.workers)
      rows.push([
        w.name,
        String(w.requests),
        f(w.throughputRps, 1),
        f(w.latencyUs?.p50, 1),
        f(w.latencyUs?.p95, 1),
        f(w.latencyUs?.p99, 1),
        f(w.normVsBaseline),
        f(w.p95VsBaseline),
        f(w.normVsSolo),
        String(w.switchesPerRequest),
        f(w.hostCpuUsPerRequest, 1),
      ])
    const widths = (rows[0] ?? []).map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length)))
    for (const row of rows)
      out.push(
        `  ${row.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ')}`,
      )
  }
  return out.join('\n')
}
