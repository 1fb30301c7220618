// serve-bench with arrival sources: each worker's schedule (src/workload/arrivals.ts, the one `eclip bench` and the
// simulator run: the same seed gives the same times) as its clients' send plan, and what a run's requests say against
// it — per worker the offered and served rates, latency from the scheduled time (a request that waited for a free
// slot counts its wait, as the bench counts a worker's queue), SLO attainment, requests sent late, unsent or refused;
// per run DISB's real-time metrics as the bench takes them.
import type { Loop, RealtimeMetrics, ServeOpenLoop, ServeWorkerResult, WorkerSpec } from '../formats/index.ts'
import { arrivalRecord } from '../formats/index.ts'
import { latencySummary } from '../measure/stats.ts'
import { runSchedules } from '../workload/arrivals.ts'
import type { Call, SendPlan } from './clients/index.ts'

/** A request sent more than this after its scheduled time is late (ms). */
export const LATE_MS = 1

/** Each worker's send plan for a run of warm-up + window (ms from the clients' start); none for the closed loop. */
export function sendPlans(
  loop: Loop,
  workers: readonly WorkerSpec[],
  seed: number,
  horizonS: number,
): SendPlan[] | undefined {
  if (loop.kind === 'closed') return undefined
  return runSchedules(loop, workers, seed, horizonS * 1e6).map((s): SendPlan => {
    if (s.kind === 'open') return { kind: 'open', atMs: s.arrivalsUs.map((t) => t / 1000) }
    return s.plain ? { kind: 'closed' } : { kind: 'closed', periodsMs: s.periodsUs.map((t) => t / 1000) }
  })
}

/** What a worker's window says beyond the closed loop's counts: latency, SLO and its sending against its schedule. */
export interface WorkerArrivals {
  /** Latencies that count (µs): from the scheduled time for an open loop, from the send for a closed one. */
  latenciesUs: number[]
  fields: Pick<ServeWorkerResult, 'arrival' | 'priority' | 'sloMs' | 'withinSlo' | 'open'> & {
    latencyUs?: ServeWorkerResult['latencyUs']
  }
}

/**
 * One worker's requests of the window ((fromMs, toMs], the /metrics readings' times) against its plan. Open loop:
 * the requests scheduled in [fromMs, toMs), each answered, refused or never sent, latency from its scheduled time.
 * Closed: the requests that ended in the window, latency from the send.
 */
export function workerArrivals(
  w: WorkerSpec,
  plan: SendPlan | undefined,
  calls: readonly Call[],
  fromMs: number,
  toMs: number,
): WorkerArrivals {
  const sloUs = w.sloMs !== undefined ? w.sloMs * 1000 : undefined
  const known = {
    ...(w.arrival !== undefined ? { arrival: arrivalRecord(w.arrival) } : {}),
    ...(w.priority !== undefined ? { priority: w.priority } : {}),
    ...(w.sloMs !== undefined ? { sloMs: w.sloMs } : {}),
  }
  const within = (lat: number[], of: number) =>
    sloUs === undefined ? {} : { withinSlo: of > 0 ? lat.filter((l) => l <= sloUs).length / of : null }
  if (plan?.kind !== 'open') {
    const win = calls.filter((c) => c.endMs > fromMs && c.endMs <= toMs)
    const lat = win.filter((c) => c.ok).map((c) => (c.endMs - c.startMs) * 1000)
    return { latenciesUs: lat, fields: { ...known, ...within(lat, win.length) } }
  }
  const inWindow = (t: number) => t >= fromMs && t < toMs
  const scheduled = plan.atMs.filter(inWindow).length
  const sent = calls.filter((c) => c.scheduledMs !== undefined && inWindow(c.scheduledMs))
  const lat = sent.filter((c) => c.ok).map((c) => (c.endMs - (c.scheduledMs as number)) * 1000)
  const lags = sent.map((c) => (c.startMs - (c.scheduledMs as number)) * 1000)
  const open: ServeOpenLoop = {
    scheduled,
    offeredRps: scheduled / ((toMs - fromMs) / 1000),
    sent: sent.length,
    late: lags.filter((l) => l > LATE_MS * 1000).length,
    unsent: scheduled - sent.length,
    refused: sent.filter((c) => c.status === 429).length,
    sendLagUs: lags.length > 0 ? latencySummary(lags) : null,
  }
  return {
    latenciesUs: lat,
    fields: {
      ...known,
      latencyUs: lat.length > 0 ? latencySummary(lat) : null,
      ...within(lat, scheduled),
      open,
    },
  }
}

/** DISB's real-time metrics of a served run (every real-time worker's requests together); none without one. */
export function servedRealtime(
  workers: readonly WorkerSpec[],
  perWorker: readonly WorkerArrivals[],
  results: readonly ServeWorkerResult[],
  windowS: number,
): RealtimeMetrics | undefined {
  const rt = workers.flatMap((w, i) => (w.priority === 'realtime' ? [i] : []))
  if (rt.length === 0) return undefined
  const lat = rt.flatMap((i) => perWorker[i]?.latenciesUs ?? [])
  // within SLO over each worker's own denominator (an open loop's scheduled requests, a closed loop's answered ones)
  let within = 0
  let of = 0
  for (const i of rt) {
    const r = results[i]
    const n = r?.open ? r.open.scheduled : (perWorker[i]?.latenciesUs.length ?? 0) + (r?.errors ?? 0)
    of += n
    within += (r?.withinSlo ?? 0) * n
  }
  const s = lat.length > 0 ? latencySummary(lat) : null
  return {
    requests: lat.length,
    meanUs: s?.mean ?? null,
    p99Us: s?.p99 ?? null,
    withinSlo: of > 0 ? within / of : null,
    aloneMeanUs: null,
    aloneP99Us: null,
    increaseUs: null,
    increasePct: null,
    overallRps: results.reduce((a, w) => a + w.requests, 0) / windowS,
    overallVsBaseline: null,
  }
}
