// serve-bench's tables for runs with arrival sources: DISB's real-time metrics per (mix, policy), and each worker's
// offered against served rate, latency from the scheduled time, SLO attainment and what was not sent on time — with
// the `eclip bench` run of the same workload and seed beside them where --bench gives one.
import { type ServeRun, serveRunName } from '../formats/index.ts'
import { gridTable } from '../report/tables.ts'
import { describeArrival } from '../workload/arrivals.ts'
import { windowWords } from './repeats.ts'

const f = (v: number | null | undefined, digits = 2) =>
  v === null || v === undefined ? '–' : v.toFixed(digits)
const ms = (us: number | null | undefined) => f(us == null ? null : us / 1000, 2)
const pct = (x: number | null | undefined) => (x == null ? '–' : `${(x * 100).toFixed(1)}%`)
/** A row's policy (or label), and its window where it is one of several (--repeats, --server-starts). */
const armWords = (r: ServeRun) => `${serveRunName(r)}${r.repeat ? ` (${windowWords(r)})` : ''}`

/** The tables, '' when no run has arrival sources. `label` says what the numbers are, as serveReport's. */
export function arrivalTables(runs: readonly ServeRun[], label: string): string {
  const loaded = runs.filter((r) => r.loop && r.loop.kind !== 'closed')
  if (loaded.length === 0) return ''
  const out: string[] = []
  const rt = loaded.filter((r) => r.metrics.realtime)
  const bench = loaded.some((r) => r.bench)
  if (rt.length > 0)
    out.push(
      gridTable(
        `Real-time requests (DISB's metrics; latency from the scheduled time, ms)${bench ? ', eclip bench of the same workload and seed beside (bench)' : ''} — ${label}`,
        [
          'mix',
          'policy',
          'RT mean',
          'RT p99',
          'within SLO',
          'overall req/s',
          '÷ baseline',
          ...(bench ? ['bench mean', 'bench p99', 'bench SLO', 'bench req/s'] : []),
        ],
        rt.map((r) => {
          const m = r.metrics.realtime
          const b = r.bench?.realtime
          return [
            r.mix,
            armWords(r),
            ms(m?.meanUs),
            ms(m?.p99Us),
            pct(m?.withinSlo),
            f(m?.overallRps, 1),
            f(m?.overallVsBaseline),
            ...(bench ? [ms(b?.meanUs), ms(b?.p99Us), pct(b?.withinSlo), f(b?.overallRps, 1)] : []),
          ]
        }),
      ),
    )
  out.push(
    gridTable(
      `Per worker: offered and served req/s, latency (open loop: from the scheduled time), ms; requests sent late (> 1 ms after their time), unsent, refused (429: of the window's scheduled; closed loop: the whole run), errors in the window${bench ? '; the bench run beside' : ''} — ${label}`,
      [
        'mix',
        'policy',
        'worker',
        'arrivals',
        'offered',
        'served',
        'p50',
        'p95',
        'p99',
        'SLO',
        'late',
        'unsent',
        '429',
        'errors',
        ...(bench ? ['bench req/s', 'bench p99', 'bench SLO'] : []),
      ],
      loaded.flatMap((r) =>
        r.workers.map((w) => [
          r.mix,
          armWords(r),
          `${w.name}${w.priority === 'realtime' ? ' (RT)' : ''}`,
          r.loop?.kind === 'open' ? `poisson ${r.loop.ratePerWorker} req/s` : describeArrival(w.arrival),
          w.open ? f(w.open.offeredRps, 1) : 'closed',
          f(w.throughputRps, 1),
          ms(w.latencyUs?.p50),
          ms(w.latencyUs?.p95),
          ms(w.latencyUs?.p99),
          w.sloMs !== undefined ? `${pct(w.withinSlo)} of ${w.sloMs} ms` : '–',
          w.open ? String(w.open.late) : '–',
          w.open ? String(w.open.unsent) : '–',
          String(w.open?.refused ?? w.errorStatuses['429'] ?? 0),
          String(w.errors),
          ...(bench ? [f(w.benchRps, 1), ms(w.benchP99Us), pct(w.benchWithinSlo)] : []),
        ]),
      ),
    ),
  )
  return out.join('\n\n')
}
