// The recorded H100 series in the system metrics (src/measure/system.ts; Eyerman & Eeckhout, IEEE Micro 2008): per
// series a table per policy of STP ÷ baseline's STP, the worst worker (throughput ÷ baseline, named), Jain's index over
// rate/solo, total requests/s ÷ baseline, the STP bound and measured ÷ bound, per mix and the mean over mixes, with
// the mean of per-worker ratios (the old headline) beside them; a summary table first. Recomputed from each
// results.json's GPU runs (per-worker rates and mean latencies over the steady window), simulated STP beside it.
// Solo rates: the series' own solo runs where it made them, else the profile's whole-GPU request latency (the tables
// say which); the summary also gives STP ÷ baseline with the GPU solo runs of results/h100/batch{1,8} instead, to
// show how little the ratio depends on that choice.
//   node --import tsx bench/system-metrics.ts [--out results/h100/system-metrics.md]
import { execFileSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Profile, Results, Run, SystemMetrics } from '../src/formats/index.ts'
import { readFile } from '../src/formats/index.ts'
import { attachProfileRefs, normalise } from '../src/measure/metrics.ts'
import { mean } from '../src/measure/stats.ts'
import { DEFAULT_TOLERANCE } from '../src/profile/rightsize.ts'
import { loadGpu, loadProfile } from '../src/profile/store.ts'
import { policyLabel } from '../src/report/plots.ts'
import { gridTable } from '../src/report/tables.ts'

const args = process.argv.slice(2)
const outIdx = args.indexOf('--out')
const out = outIdx >= 0 ? args[outIdx + 1] : undefined
const PROFILES = 'profiles/h100'
const SERIES = [
  'results/h100/batch8',
  'results/h100/batch1',
  'results/h100/eclip-fit/batch8',
  'results/h100/eclip-fit/batch1',
  'results/h100/eclip-fit-v2/batch8',
  'results/h100/eclip-fit-v2/batch1',
]
const SOLO_SERIES: Record<number, string> = { 1: 'results/h100/batch1', 8: 'results/h100/batch8' }

const gpu = loadGpu(PROFILES)
const cache = new Map<string, Profile>()
const profileOf = (w: { model: string; batch: number; dtype: 'fp16' | 'bf16' | 'fp32' }) => {
  const k = `${w.model}|${w.batch}|${w.dtype}`
  const p = cache.get(k) ?? loadProfile(PROFILES, gpu, w.model, w.batch, w.dtype)
  cache.set(k, p)
  return p
}
const runsOf = (dir: string) => readFile<Results>('results', join(dir, 'results.json')).runs
const f = (v: number | null | undefined, d = 2) => (v === null || v === undefined ? '–' : v.toFixed(d))

/** The series' runs with the system metrics recomputed; `extraSolos` adds solo runs (another series' GPU ones). */
function recompute(dir: string, extraSolos: Run[] = []): Run[] {
  const runs = structuredClone(runsOf(dir))
  const all = [...runs, ...structuredClone(extraSolos)]
  normalise(attachProfileRefs(all, profileOf, DEFAULT_TOLERANCE))
  return runs
}

interface Row {
  label: string
  gpu: SystemMetrics | null | undefined
  sim: SystemMetrics | null | undefined
  /** Workers slower than under baseline / all workers. */
  slower: [number, number]
}

function rowsOf(runs: Run[], column: string): Row[] {
  const mixes = [...new Set(runs.filter((r) => r.role === 'mix').map((r) => r.mix))]
  return mixes.map((m) => {
    const find = (b: string) =>
      runs.find((r) => r.role === 'mix' && r.mix === m && policyLabel(r) === column && r.backend === b)
    const g = find('gpu')
    return {
      label: m,
      gpu: g?.metrics.system,
      sim: find('sim')?.metrics.system,
      slower: [
        g?.workers.filter((w) => w.normVsBaseline !== null && w.normVsBaseline < 1).length ?? 0,
        g?.workers.length ?? 0,
      ],
    }
  })
}

/** Workers slower than under baseline, and all workers, over the rows. */
const slowerOf = (rows: Row[]): [number, number] =>
  rows.reduce<[number, number]>((a, r) => [a[0] + r.slower[0], a[1] + r.slower[1]], [0, 0])

const HEADER = [
  'mix',
  'STP÷base',
  '(sim)',
  'worst worker',
  'Jain',
  'req/s÷base',
  'STP',
  'bound',
  'STP÷bound',
  'mean ratio',
]

function policyTable(series: string, column: string, rows: Row[]): string {
  const m = (get: (s: SystemMetrics) => number | null) =>
    mean(rows.flatMap((r) => (r.gpu && get(r.gpu) !== null ? [get(r.gpu) as number] : [])))
  const ms = (get: (s: SystemMetrics) => number | null) =>
    mean(rows.flatMap((r) => (r.sim && get(r.sim) !== null ? [get(r.sim) as number] : [])))
  const worst = rows
    .filter((r) => r.gpu?.worstVsBaseline !== null && r.gpu?.worstVsBaseline !== undefined)
    .sort((a, b) => (a.gpu?.worstVsBaseline ?? 0) - (b.gpu?.worstVsBaseline ?? 0))[0]
  const above = rows.filter((r) => (r.gpu?.stpVsBound ?? 0) > 1).map((r) => r.label)
  const slower = slowerOf(rows)
  const body = rows.map((r) => [
    r.label,
    f(r.gpu?.stpVsBaseline, 3),
    f(r.sim?.stpVsBaseline),
    r.gpu?.worstWorker ? `${f(r.gpu.worstVsBaseline)} ${r.gpu.worstWorker}` : '–',
    f(r.gpu?.jain, 3),
    f(r.gpu?.totalRpsVsBaseline, 3),
    f(r.gpu?.stp),
    f(r.gpu?.stpBound),
    `${f(r.gpu?.stpVsBound)}${(r.gpu?.stpVsBound ?? 0) > 1 ? '!' : ''}`,
    f(r.gpu?.meanVsBaseline, 3),
  ])
  body.push([
    'mean',
    f(
      m((s) => s.stpVsBaseline),
      3,
    ),
    f(ms((s) => s.stpVsBaseline)),
    worst?.gpu ? `min ${f(worst.gpu.worstVsBaseline)} (${worst.label})` : '–',
    f(
      m((s) => s.jain),
      3,
    ),
    f(
      m((s) => s.totalRpsVsBaseline),
      3,
    ),
    f(m((s) => s.stp)),
    f(m((s) => s.stpBound)),
    f(m((s) => s.stpVsBound)),
    f(
      m((s) => s.meanVsBaseline),
      3,
    ),
  ])
  const solo = [...new Set(rows.flatMap((r) => (r.gpu ? [r.gpu.soloFrom] : [])))].join(' / ')
  return [
    `${series} — ${column}, measured on the GPU (simulated STP÷base beside it); solo rates from ${solo}; ` +
      `workers slower than under baseline: ${slower[0]} of ${slower[1]}` +
      (above.length > 0 ? `; above the bound (!): ${above.join(', ')}` : ''),
    '',
    '```',
    gridTable('', HEADER, body).split('\n').slice(1).join('\n'),
    '```',
  ].join('\n')
}

const sections: string[] = []
const summary: string[][] = []
for (const series of SERIES) {
  const runs = recompute(series)
  const batch = runs.find((r) => r.role === 'mix')?.batch ?? 1
  const hasSolo = runs.some((r) => r.role === 'solo' && r.backend === 'gpu')
  // the same with the GPU solo runs of the main series (where this one made none)
  const alt = hasSolo
    ? null
    : recompute(
        series,
        runsOf(SOLO_SERIES[batch] as string).filter((r) => r.role === 'solo' && r.backend === 'gpu'),
      )
  const columns = [
    ...new Set(runs.filter((r) => r.role === 'mix' && r.policy !== 'baseline').map((r) => policyLabel(r))),
  ]
  sections.push(`### ${series}`)
  for (const c of columns) {
    const rows = rowsOf(runs, c)
    sections.push(policyTable(series, c, rows))
    const g = (get: (s: SystemMetrics) => number | null) =>
      mean(rows.flatMap((r) => (r.gpu && get(r.gpu) !== null ? [get(r.gpu) as number] : [])))
    const minWorst = Math.min(...rows.map((r) => r.gpu?.worstVsBaseline ?? Number.POSITIVE_INFINITY))
    const worstRow = rows.find((r) => r.gpu?.worstVsBaseline === minWorst)
    const altMean = alt
      ? mean(
          rowsOf(alt, c).flatMap((r) =>
            r.gpu?.stpVsBaseline !== null && r.gpu?.stpVsBaseline !== undefined ? [r.gpu.stpVsBaseline] : [],
          ),
        )
      : null
    const slower = slowerOf(rows)
    summary.push([
      series.replace('results/h100/', ''),
      c,
      f(
        g((s) => s.stpVsBaseline),
        3,
      ),
      alt ? f(altMean, 3) : '(same)',
      Number.isFinite(minWorst)
        ? `${f(minWorst)} ${worstRow?.gpu?.worstWorker ?? ''} ${worstRow?.label ?? ''}`
        : '–',
      `${slower[0]}/${slower[1]}`,
      f(
        g((s) => s.jain),
        3,
      ),
      f(
        g((s) => s.totalRpsVsBaseline),
        3,
      ),
      f(g((s) => s.stpVsBound)),
      f(
        g((s) => s.meanVsBaseline),
        3,
      ),
    ])
  }
}

let commit = 'unknown'
try {
  commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim()
} catch {
  // not a git checkout: the commit stays unknown
}
const text = [
  '# The recorded H100 series in system metrics',
  '',
  `Made by \`node --import tsx bench/system-metrics.ts --out results/h100/system-metrics.md\` at commit ${commit}, ` +
    `${new Date().toISOString().slice(0, 10)}, from the GPU runs of each series' results.json (nothing re-run).`,
  '',
  'Definitions (Eyerman & Eeckhout, IEEE Micro 2008; `src/measure/system.ts`): STP = Σ_w rate_w / solo_w, compared',
  "to the same mix's baseline STP; the worst worker = min_w rate_w / its rate under baseline; Jain's index over",
  'rate_w / solo_w; total requests/s ÷ baseline (a sum over different models); the STP bound = max Σ x_w with',
  'x_w = rate_w / solo_w ≤ 1 and Σ x_w·solo_w·A_w ≤ 132 SMs, A_w the SM·s of a request with every kernel at its',
  'right-size (5% tolerance): it ignores overlap inside a graph and memory contention, so a run can land above it (!).',
  "'mean ratio' is the mean of per-worker throughput ratios to baseline — the old headline, which rewards starving",
  "one model — kept beside the others. Solo rates: the series' own solo runs (batch1, batch8), else the profile's",
  "whole-GPU request latency (the eclip-fit series made no solo runs); 'STP÷base, main solo' recomputes the ratio",
  'with the GPU solo runs of batch1/batch8 instead. Every ratio is to the baseline run of the same mix in the same',
  'bench part (back to back on one GPU).',
  '',
  '## Summary: means over the seven paper mixes',
  '',
  '```',
  gridTable(
    '',
    [
      'series',
      'policy',
      'STP÷base',
      'STP÷base, main solo',
      'worst worker (mix)',
      'slower',
      'Jain',
      'req/s÷base',
      'STP÷bound',
      'mean ratio',
    ],
    summary,
  )
    .split('\n')
    .slice(1)
    .join('\n'),
  '```',
  '',
  '## Per series, policy and mix',
  '',
  ...sections.flatMap((s) => [s, '']),
].join('\n')
if (out) {
  writeFileSync(out, text)
  console.log(`wrote ${out}`)
} else console.log(text)
