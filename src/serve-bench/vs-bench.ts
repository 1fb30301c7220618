// "served ÷ bench" (serve-bench --bench FILE): each served run against the closed-loop `eclip bench` run of the same
// mix, policy and batch (the GPU's rate without the server, ideally measured in the same device call): per worker,
// for the mix in all (Σ req/s ÷ Σ req/s), and the policy's gain over baseline served beside the bench's.
import type { Results, Run, ServeRun } from '../formats/index.ts'
import { mean } from '../measure/stats.ts'
import { gridTable } from '../report/tables.ts'

/** The bench's run for a served (mix, policy, batch): closed loop, mix role, the served backend; graph mode first. */
export function findBenchRun(
  bench: Results,
  want: { mix: string; policy: string; batch: number | null; backend: string },
): Run | undefined {
  const same = bench.runs.filter(
    (r) =>
      r.role === 'mix' &&
      r.loop.kind === 'closed' &&
      r.mix === want.mix &&
      r.policy === want.policy &&
      r.batch === want.batch &&
      r.backend === want.backend,
  )
  // the server replays one graph per request: graph mode is the like-for-like run where the bench has several
  return same.find((r) => r.mode === 'graph') ?? same.find((r) => r.mode === null) ?? same[0]
}

/** A clear error for every (mix, policy) the bench file cannot answer for; null when it has them all. */
export function missingBenchRuns(
  bench: Results,
  file: string,
  mixes: string[],
  policies: string[],
  batch: number | null,
  backend: string,
): string | null {
  const missing = mixes.flatMap((mix) =>
    policies
      .filter((policy) => !findBenchRun(bench, { mix, policy, batch, backend }))
      .map((p) => `${mix} ${p}`),
  )
  if (missing.length === 0) return null
  const has = [
    ...new Set(
      bench.runs
        .filter((r) => r.role === 'mix' && r.loop.kind === 'closed')
        .map((r) => `${r.mix} ${r.policy} b${r.batch ?? 'mix'} ${r.backend}`),
    ),
  ]
  return (
    `--bench ${file}: no closed-loop ${backend} run at batch ${batch ?? "the mix's"} for ${missing.join(', ')} ` +
    `(the file has ${has.length > 0 ? has.join(', ') : 'no closed-loop mix runs'}); run eclip bench with the same --mix, --policies and --batch`
  )
}

/** Sets each run's and worker's served ÷ bench from `bench` (runs it lacks stay without). Mutates `runs`. */
export function compareWithBench(runs: ServeRun[], bench: Results, file: string): ServeRun[] {
  for (const r of runs) {
    const b = findBenchRun(bench, r)
    if (!b) continue
    for (const w of r.workers) {
      const bw = b.workers.find((x) => x.name === w.name)
      if (!bw) continue
      w.benchRps = bw.throughputRps
      w.servedVsBench = bw.throughputRps > 0 ? w.throughputRps / bw.throughputRps : null
    }
    const benchRps = b.workers.reduce((a, w) => a + w.throughputRps, 0)
    const served = r.workers.reduce((a, w) => a + w.throughputRps, 0)
    r.bench = {
      file,
      runId: b.id,
      benchRps,
      servedVsBench: benchRps > 0 ? served / benchRps : null,
      benchThroughputVsBaseline: b.metrics.throughputVsBaseline,
    }
  }
  return runs
}

/** The served ÷ bench tables (mix × policy), for runs that have a bench run. */
export function benchTables(
  runs: ServeRun[],
  label: string,
  axes: { mixes: string[]; policies: string[] },
): string {
  const { mixes, policies } = axes
  const f = (v: number | null | undefined, digits = 2) =>
    v === null || v === undefined ? '–' : v.toFixed(digits)
  const find = (m: string, p: string) => runs.find((r) => r.mix === m && r.policy === p)
  const grid = (title: string, cell: (r: ServeRun) => string, meanOf?: (r: ServeRun) => number | null) =>
    gridTable(
      `${title} — ${label}`,
      ['mix', ...policies],
      [
        ...mixes.map((m) => [
          m,
          ...policies.map((p) => {
            const r = find(m, p)
            return r?.bench ? cell(r) : '–'
          }),
        ]),
        ...(meanOf
          ? [
              [
                'mean',
                ...policies.map((p) =>
                  f(
                    mean(
                      runs
                        .filter((r) => r.policy === p && r.bench)
                        .map(meanOf)
                        .filter((v): v is number => v !== null),
                    ),
                  ),
                ),
              ],
            ]
          : []),
      ],
    )
  return [
    grid(
      'Served ÷ bench: Σ served req/s ÷ Σ the closed-loop eclip bench req/s of the same mix, policy and batch',
      (r) => f(r.bench?.servedVsBench),
      (r) => r.bench?.servedVsBench ?? null,
    ),
    grid('Served ÷ bench per worker (workers in mix order)', (r) =>
      r.workers.map((w) => f(w.servedVsBench)).join(' / '),
    ),
    grid(
      'Throughput vs baseline (mean over workers), served (bench)',
      (r) => `${f(r.metrics.throughputVsBaseline)} (${f(r.bench?.benchThroughputVsBaseline)})`,
    ),
  ].join('\n\n')
}
