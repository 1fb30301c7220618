// The report of an experiment: the paper's tables (normalised throughput, p95 and energy efficiency per mix and
// policy, with means; switches per request — its Table I) as text, and its figures as SVG + PNG. When a results file
// holds runs of both backends, each cell shows the measured value with the simulated one beside it.
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Profile, Run } from '../formats/index.ts'
import { rightSizes } from './bound.ts'
import { groupedBars, policyLabel, rightSizeSpec, svgToPng, systemFontsPresent, toSvg } from './plots.ts'
import { mean } from './stats.ts'

type Metric = 'throughputVsBaseline' | 'p95VsBaseline' | 'energyEffVsBaseline' | 'switchesPerRequest'

export const TABLES: { metric: Metric; title: string; file: string; y: string }[] = [
  {
    metric: 'throughputVsBaseline',
    title: 'Normalised throughput',
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
    title: 'Normalised energy efficiency (requests/J)',
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

function value(runs: Run[], mix: string, column: string, backend: string, metric: Metric): number | null {
  const r = runs.find(
    (x) => x.role === 'mix' && x.mix === mix && policyLabel(x) === column && x.backend === backend,
  )
  return r ? r.metrics[metric] : null
}

/** One table as text: rows = mixes + mean, columns = policy/mode. */
export function table(runs: Run[], metric: Metric, title: string): string {
  const { mixes, columns, backends } = axes(runs)
  const primary = backends.includes('gpu') ? 'gpu' : (backends[0] ?? 'sim')
  const other = backends.find((b) => b !== primary)
  const fmt = (v: number | null) =>
    v === null ? '–' : metric === 'switchesPerRequest' ? String(Math.round(v)) : v.toFixed(2)
  const cell = (mix: string | null, col: string) => {
    const get = (b: string) =>
      mix === null
        ? mean(mixes.map((m) => value(runs, m, col, b, metric)).filter((v): v is number => v !== null))
        : value(runs, mix, col, b, metric)
    const v = fmt(get(primary))
    return other ? `${v} (${other} ${fmt(get(other))})` : v
  }
  const label = backends.map((b) => (b === 'sim' ? 'simulated' : 'measured on GPU')).join(' vs ')
  return gridTable(
    `${title} — ${label}${metric === 'switchesPerRequest' ? '' : ', arithmetic mean over mixes'}`,
    ['mix', ...columns],
    [
      ...mixes.map((m) => [m, ...columns.map((c) => cell(m, c))]),
      ['mean', ...columns.map((c) => cell(null, c))],
    ],
  )
}

/** A titled text table: the first column left-aligned, the others right-aligned, two spaces apart. */
export function gridTable(title: string, header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ')
  return [title, line(header), ...rows.map(line)].join('\n')
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

export function textReport(runs: Run[]): string {
  const cpu = hostCpuTable(runs)
  return [...TABLES.map((t) => table(runs, t.metric, t.title)), ...(cpu ? [cpu] : [])].join('\n\n')
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
  for (const t of TABLES) {
    const bars = []
    for (const b of backends) {
      for (const c of columns) {
        const vs: number[] = []
        for (const m of mixes) {
          const v = value(runs, m, c, b, t.metric)
          if (v === null) continue
          vs.push(v)
          bars.push({ mix: m, policy: c, value: v, backend: b })
        }
        if (t.metric !== 'switchesPerRequest' && vs.length > 0)
          bars.push({ mix: 'mean', policy: c, value: mean(vs) as number, backend: b })
      }
    }
    const isSwitch = t.metric === 'switchesPerRequest'
    const spec = groupedBars(
      `${t.title} (${f.caption})`,
      t.y,
      isSwitch ? bars.filter((x) => x.value > 0) : bars,
      {
        ...(isSwitch ? { log: true } : { rule: 1 }),
      },
    )
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
      `${r.mix} ${policyLabel(r)} [${r.backend}${r.role === 'solo' ? ', solo' : ''}]: ${m.requests} requests in ${r.windowS} s, ` +
        `${f(m.energyJ)} J (${r.inputs.power}), ${f(m.jPerRequest === null ? null : m.jPerRequest * 1000, 3)} mJ/request, ` +
        `${f(m.meanPowerW, 0)} W, Jain ${f(m.jainFairness, 3)}, SM utilisation ${f(m.meanSmUtilisation)}, ` +
        `rounds ${f(m.roundsPerS, 0)}/s vs ideal ${f(m.idealRoundsPerS, 0)}/s (${f(m.vsIdeal)})`,
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
