// "served ÷ bench" (serve-bench --bench FILE): each served run against the `eclip bench` run of the same mix, policy,
// batch and loop (the GPU's rate without the server, ideally measured in the same device call): per worker, for the
// mix in all (Σ req/s ÷ Σ req/s), and the policy's gain over baseline served beside the bench's. A run with arrival
// sources is set beside the bench's run of the same sources (the same seed gives the same times), on the served
// backend or else the simulator's: its latency, SLO attainment and real-time metrics beside the served ones. An
// external server's run (--url) is set beside the bench's run of --bench-policy (baseline), on the GPU or else the
// simulator.
import {
  type Loop,
  type Policy,
  type Results,
  type Run,
  type ServeRun,
  serveRunName,
} from '../formats/index.ts'
import { mean } from '../measure/stats.ts'
import { gridTable } from '../report/tables.ts'
import { armRuns, meanOverArms, repeated, summaryCell } from './repeats.ts'

/** The loop a served run (or a mix about to be served) is compared on: closed, arrivals, or open at a rate. */
export type LoopKey = 'closed' | 'arrivals' | `open ${number}`
export const loopKey = (l: Loop | undefined): LoopKey =>
  !l || l.kind === 'closed' ? 'closed' : l.kind === 'open' ? `open ${l.ratePerWorker}` : 'arrivals'

/**
 * The bench's run for a served (mix, policy, batch, loop): mix role, the served backend — or, for arrivals or an open
 * loop, a simulated run where the file has no run on it; for an external server, the GPU's, else the simulator's —;
 * graph mode first.
 */
export function findBenchRun(
  bench: Results,
  want: { mix: string; policy: string; batch: number | null; backend: string; loop?: Loop | LoopKey },
): Run | undefined {
  const key = typeof want.loop === 'string' ? want.loop : loopKey(want.loop)
  const on = (backend: string) => {
    const same = bench.runs.filter(
      (r) =>
        r.role === 'mix' &&
        loopKey(r.loop) === key &&
        r.mix === want.mix &&
        r.policy === want.policy &&
        r.batch === want.batch &&
        r.backend === backend,
    )
    // the server replays one graph per request: graph mode is the like-for-like run where the bench has several
    return same.find((r) => r.mode === 'graph') ?? same.find((r) => r.mode === null) ?? same[0]
  }
  if (want.backend === 'external') return on('gpu') ?? on('sim')
  return on(want.backend) ?? (key !== 'closed' ? on('sim') : undefined)
}

/** What a served run is compared with: its own policy, or an external server's --bench-policy. */
const benchWant = (r: ServeRun, benchPolicy: Policy) => ({ ...r, policy: r.policy ?? benchPolicy })

/** A clear error for every (mix, policy) the bench file cannot answer for; null when it has them all. */
export function missingBenchRuns(
  bench: Results,
  file: string,
  mixes: { name: string; loop: LoopKey }[],
  policies: string[],
  batch: number | null,
  backend: string,
): string | null {
  const missing = mixes.flatMap((mix) =>
    policies
      .filter((policy) => !findBenchRun(bench, { mix: mix.name, policy, batch, backend, loop: mix.loop }))
      .map((p) => ({ loop: mix.loop, what: `${mix.name} ${p}` })),
  )
  if (missing.length === 0) return null
  const words = (k: LoopKey) =>
    k === 'closed' ? 'closed-loop' : k === 'arrivals' ? "workers' own arrivals" : `${k} req/s`
  const loops = [...new Set(missing.map((m) => m.loop))]
  const on = backend === 'external' ? 'gpu (nor sim)' : backend
  const has = [
    ...new Set(
      bench.runs
        .filter((r) => r.role === 'mix' && loops.includes(loopKey(r.loop)))
        .map((r) => `${r.mix} ${r.policy} b${r.batch ?? 'mix'} ${r.backend}`),
    ),
  ]
  return (
    `--bench ${file}: no ${loops.map(words).join(' or ')} ${on} run${loops.some((k) => k !== 'closed') ? ' (nor a simulated one)' : ''} at batch ${batch ?? "the mix's"} for ${missing.map((m) => m.what).join(', ')} ` +
    `(the file has ${has.length > 0 ? has.join(', ') : `no ${loops.map(words).join(' or ')} mix runs`}); run eclip bench with the same --mix or --workload, --policies, --batch and --rate`
  )
}

/**
 * Sets each run's and worker's served ÷ bench from `bench` (runs it lacks stay without); an external server's runs
 * against the bench's `benchPolicy` runs. Mutates `runs`.
 */
export function compareWithBench(
  runs: ServeRun[],
  bench: Results,
  file: string,
  benchPolicy: Policy = 'baseline',
): ServeRun[] {
  for (const r of runs) {
    const b = findBenchRun(bench, benchWant(r, benchPolicy))
    if (!b) continue
    const loaded = loopKey(r.loop) !== 'closed'
    for (const w of r.workers) {
      const bw = b.workers.find((x) => x.name === w.name)
      if (!bw) continue
      w.benchRps = bw.throughputRps
      w.servedVsBench = bw.throughputRps > 0 ? w.throughputRps / bw.throughputRps : null
      if (loaded) {
        w.benchP99Us = bw.latencyUs?.p99 ?? null
        if (bw.withinSlo !== undefined) w.benchWithinSlo = bw.withinSlo
      }
    }
    if (!loaded) r.notes.push(...clientBoundNotes(r))
    const benchRps = b.workers.reduce((a, w) => a + w.throughputRps, 0)
    const served = r.workers.reduce((a, w) => a + w.throughputRps, 0)
    r.bench = {
      file,
      runId: b.id,
      benchRps,
      servedVsBench: benchRps > 0 ? served / benchRps : null,
      benchThroughputVsBaseline: b.metrics.throughputVsBaseline,
      benchStpVsBaseline: b.metrics.system?.stpVsBaseline ?? null,
      ...(loaded || r.external ? { backend: b.backend } : {}),
      ...(loaded ? { seed: b.seed } : {}),
      ...(r.policy === null ? { policy: b.policy } : {}),
      ...(b.metrics.realtime ? { realtime: b.metrics.realtime } : {}),
    }
  }
  return runs
}

/** Below this share of its bench rate a closed-loop worker is checked for a load too thin to measure the server. */
const SHORT_OF_BENCH = 0.9
/** Its requests' time queued in the server under this share of their time at the client: the server was waiting. */
const QUEUED_SHARE = 0.1

/**
 * A note per closed-loop worker held short of its bench rate outside the server's queue: served under 0.9 of it
 * while its requests spent under a tenth of their time queued in the server. The model's GPU work then waits for
 * requests (Little's law: rate = requests in flight ÷ time per request) while they are in the clients, the protocol,
 * the front-ends or the hops: more clients per model (--concurrency) raise the rate where the host has cores to
 * spare; where it has none, the host path itself is the bound.
 */
export function clientBoundNotes(r: ServeRun): string[] {
  return r.workers.flatMap((w) => {
    const latency = w.latencyUs?.mean
    if (typeof w.servedVsBench !== 'number' || w.servedVsBench >= SHORT_OF_BENCH) return []
    if (w.serverQueueUs == null || !latency || w.serverQueueUs >= QUEUED_SHARE * latency) return []
    return [
      `${w.name}: ${w.servedVsBench.toFixed(2)} of its bench rate, its requests queued in the server ${w.serverQueueUs.toFixed(0)} µs of their ${latency.toFixed(0)} µs at the client: the GPU waited for requests that were in the clients, the protocol, the front-ends or the hops; with host cores to spare (the host-CPU note) more than ${r.concurrency} clients per model (--concurrency) raise it, without them the host path is the bound`,
    ]
  })
}

/**
 * The served ÷ bench tables (mix × policy), for runs that have a bench run; an arm of several windows shows their
 * mean with [min–max] beside it, each window against the same bench run.
 */
export function benchTables(
  runs: ServeRun[],
  label: string,
  axes: { mixes: string[]; policies: string[] },
): string {
  const { mixes, policies } = axes
  const f = (v: number | null | undefined, digits = 2) =>
    v === null || v === undefined ? '–' : v.toFixed(digits)
  const rep = repeated(runs)
  // the bench policy an external server's runs are set beside
  const external = runs.find((r) => r.external && r.bench?.policy)?.bench?.policy
  const grid = (
    title: string,
    cell: (rs: ServeRun[]) => string,
    meanOf?: (r: ServeRun) => number | null | undefined,
  ) =>
    gridTable(
      `${title} — ${label}`,
      ['mix', ...policies],
      [
        ...mixes.map((m) => [
          m,
          ...policies.map((p) => {
            const rs = armRuns(runs, m, p).filter((r) => r.bench)
            return rs.length > 0 ? cell(rs) : '–'
          }),
        ]),
        ...(meanOf
          ? [
              [
                'mean',
                ...policies.map((p) =>
                  f(
                    meanOverArms(
                      runs.filter((r) => serveRunName(r) === p && r.bench),
                      meanOf,
                    ),
                  ),
                ),
              ],
            ]
          : []),
      ],
    )
  const worker = (rs: ServeRun[], i: number) =>
    f(
      mean(
        rs.flatMap((r) =>
          typeof r.workers[i]?.servedVsBench === 'number' ? [r.workers[i].servedVsBench] : [],
        ),
      ),
    )
  // with repeats, what a served ratio to baseline is
  const perWindow = rep
    ? "; served: each window against baseline's window of the same server start and index, the mean of those ratios [min–max]"
    : ''
  return [
    grid(
      `Served ÷ bench: Σ served req/s ÷ Σ the eclip bench req/s of the same mix, policy${external ? ` (an external server's: the bench's ${external})` : ''}, batch and loop${rep ? '; mean over windows [min–max]' : ''}`,
      (rs) => summaryCell(rs.map((r) => r.bench?.servedVsBench)),
      (r) => r.bench?.servedVsBench,
    ),
    grid(`Served ÷ bench per worker (workers in mix order${rep ? '; mean over windows' : ''})`, (rs) =>
      (rs[0]?.workers ?? []).map((_, i) => worker(rs, i)).join(' / '),
    ),
    grid(
      `STP ÷ baseline's STP, served (bench; each with its own solo references)${perWindow}`,
      (rs) =>
        `${summaryCell(rs.map((r) => r.metrics.system?.stpVsBaseline))} (${f(rs[0]?.bench?.benchStpVsBaseline)})`,
    ),
    grid(
      `Throughput vs baseline (mean over workers: read it beside STP), served (bench)${perWindow}`,
      (rs) =>
        `${summaryCell(rs.map((r) => r.metrics.throughputVsBaseline))} (${f(rs[0]?.bench?.benchThroughputVsBaseline)})`,
    ),
  ].join('\n\n')
}
