// System-level metrics of a co-location run, as multiprogram workloads are judged (Eyerman & Eeckhout, "System-level
// performance metrics for multiprogram workloads", IEEE Micro 28(3), 2008; docs/design.md §6):
// - STP (system throughput, weighted speedup) = Σ_w rate_w / solo_rate_w: how many GPUs' worth of solo work the mix
//   got done; compared to the baseline run's STP of the same mix;
// - ANTT (average normalised turnaround time) = mean_w co-run latency_w / solo latency_w (lower is better);
// - the worst worker: min_w rate_w / the same worker's rate under baseline, with its name;
// - Jain's fairness index over rate_w / solo_rate_w;
// - total requests/s and its ratio to baseline, and total requests ÷ energy (requests/J) and its ratio to baseline;
// - the mean of per-worker ratios to baseline, kept beside them but never shown alone: it rewards starving one model
//   to speed up another (a worker at 2× and one at 0.5× average 1.25 while STP falls).
// Solo rates come from solo runs (one worker alone on the whole GPU, same backend) where the experiment made them,
// else from the profile's whole-GPU request latency; `soloFrom` says which.
// The STP bounds a run is compared with are src/profile/bound.ts's: the plain one, and the floored one that keeps
// every worker at ≥ the planner's default floor (DEFAULT_MIN_SHARE) of its rate under the same mix's baseline run.
import type { SystemMetrics } from '../formats/index.ts'
import { DEFAULT_MIN_SHARE } from '../plan/fit.ts'
import { stpBound } from '../profile/bound.ts'
import { jain, mean } from './stats.ts'

/** Where a worker's solo rate came from. */
export type SoloSource = 'solo-run' | 'profile'

/** Σ_w rate_w / solo_w. Throws on a non-positive solo rate (a solo reference that ran nothing is an input error). */
export function stp(rates: readonly number[], soloRates: readonly number[]): number {
  if (rates.length !== soloRates.length)
    throw new RangeError(`stp: ${rates.length} rates but ${soloRates.length} solo rates`)
  let s = 0
  rates.forEach((r, i) => {
    const solo = soloRates[i] as number
    if (!(solo > 0)) throw new RangeError(`stp: solo rate of worker ${i} is ${solo}, must be > 0`)
    s += r / solo
  })
  return s
}

/** mean_w latency_w / solo latency_w; null with no worker. */
export function antt(latencies: readonly number[], soloLatencies: readonly number[]): number | null {
  if (latencies.length !== soloLatencies.length)
    throw new RangeError(`antt: ${latencies.length} latencies but ${soloLatencies.length} solo latencies`)
  return mean(
    latencies.map((l, i) => {
      const solo = soloLatencies[i] as number
      if (!(solo > 0)) throw new RangeError(`antt: solo latency of worker ${i} is ${solo}, must be > 0`)
      return l / solo
    }),
  )
}

/** The worker with the lowest rate relative to its rate under baseline; null when a baseline rate is missing. */
export function worstWorker(
  names: readonly string[],
  rates: readonly number[],
  baselineRates: readonly (number | null)[],
): { worker: string; ratio: number } | null {
  let worst: { worker: string; ratio: number } | null = null
  for (const [i, r] of rates.entries()) {
    const b = baselineRates[i]
    if (b === null || b === undefined || !(b > 0)) return null
    const ratio = r / b
    if (!worst || ratio < worst.ratio) worst = { worker: names[i] ?? String(i), ratio }
  }
  return worst
}

/**
 * A run's requests/J ÷ its baseline's: total requests over the window's joules, the system's energy efficiency (not
 * a mean of per-worker ratios). Null where either run has no energy or there is no baseline.
 */
export function requestsPerJRatio(
  requestsPerJ: number | null,
  baseline: number | null | undefined,
): number | null {
  return requestsPerJ !== null && baseline ? requestsPerJ / baseline : null
}

/** What a run's ratios to its baseline read, in a bench run and a served one alike. */
export interface RatioRun {
  workers: {
    name: string
    throughputRps: number
    latencyUs: { p95: number } | null
    normVsBaseline: number | null
    p95VsBaseline: number | null
  }[]
  metrics: { meanPowerW: number | null; requestsPerJ: number | null }
}

/**
 * A run against the baseline run its caller picked (same mix, batch and backend): each worker's throughput and p95
 * ratio (written on the run's workers), their means (the paper's per-worker figures), the paper's energy
 * efficiency — each worker's requests per joule as its throughput ratio × baseline's power ÷ the run's, averaged —
 * and the system's requests/J ratio (requestsPerJRatio). A mean is null unless the run has workers and every one has
 * its ratio; the energy efficiency also needs both runs' power.
 */
export function baselineRatios(
  r: RatioRun,
  base: RatioRun | null | undefined,
): {
  throughputVsBaseline: number | null
  p95VsBaseline: number | null
  energyEffVsBaseline: number | null
  requestsPerJVsBaseline: number | null
} {
  for (const w of r.workers) {
    const bw = base?.workers.find((b) => b.name === w.name)
    w.normVsBaseline = bw && bw.throughputRps > 0 ? w.throughputRps / bw.throughputRps : null
    w.p95VsBaseline =
      bw?.latencyUs && w.latencyUs && bw.latencyUs.p95 > 0 ? w.latencyUs.p95 / bw.latencyUs.p95 : null
  }
  const all = (xs: (number | null)[]): number[] | null =>
    xs.length > 0 && xs.every((x) => x !== null) ? (xs as number[]) : null
  const norm = all(r.workers.map((w) => w.normVsBaseline))
  const p95 = all(r.workers.map((w) => w.p95VsBaseline))
  const power = r.metrics.meanPowerW ?? 0
  const basePower = base?.metrics.meanPowerW ?? 0
  return {
    throughputVsBaseline: norm ? mean(norm) : null,
    p95VsBaseline: p95 ? mean(p95) : null,
    energyEffVsBaseline:
      norm && power > 0 && basePower > 0 ? (mean(norm) as number) * (basePower / power) : null,
    requestsPerJVsBaseline: requestsPerJRatio(r.metrics.requestsPerJ, base?.metrics.requestsPerJ),
  }
}

/**
 * Rounds per second a run achieved: a round needs one request of every worker, so the rounds completed are the
 * requests of the worker with the fewest. It can exceed the bound when kernels run on fewer SMs than their
 * right-size (a kernel's SM-time is often smaller there, at a longer latency): the bound is docs/design.md §6's
 * yardstick, not a law.
 */
export function achievedRoundsPerS(rps: readonly number[]): number {
  return rps.length > 0 ? Math.min(...rps) : 0
}

/** One worker of a run, as the system metrics see it. */
export interface SystemWorker {
  name: string
  rps: number
  /** Mean latency over the window, µs; null when no request completed. */
  meanLatencyUs: number | null
  /** The worker's rate under baseline (same mix, batch, backend); null without a baseline run. */
  baselineRps: number | null
  /** Solo reference: rate and mean latency alone on the whole GPU, and where they came from. */
  solo: { rps: number; latencyUs: number; from: SoloSource } | null
  /** Right-sized SM·µs per request (A_w); null when the profile is not at hand. */
  areaSmUs: number | null
}

export function soloFromLabel(sources: readonly SoloSource[]): string {
  const s = new Set(sources)
  return s.size === 2 ? 'solo runs + profiles' : s.has('solo-run') ? 'solo runs' : 'profiles'
}

/**
 * The system metrics of one run from its workers; `baseline` is the same mix's baseline run seen the same way (its
 * workers in the same order, the same solo references), or null. Null when a worker has no solo reference.
 */
export function systemMetrics(
  workers: readonly SystemWorker[],
  baseline: readonly SystemWorker[] | null,
  smCount: number,
  /** The floored bound's floor: each worker's share under baseline kept at least this much of it. */
  floor = DEFAULT_MIN_SHARE,
): SystemMetrics | null {
  const solos = workers.map((w) => w.solo)
  if (workers.length === 0 || solos.some((s) => s === null)) return null
  const solo = solos as { rps: number; latencyUs: number; from: SoloSource }[]
  const stpOf = (ws: readonly SystemWorker[]) =>
    stp(
      ws.map((w) => w.rps),
      solo.map((s) => s.rps),
    )
  const anttOf = (ws: readonly SystemWorker[]) =>
    ws.some((w) => w.meanLatencyUs === null)
      ? null
      : antt(
          ws.map((w) => w.meanLatencyUs as number),
          solo.map((s) => s.latencyUs),
        )
  const total = (ws: readonly SystemWorker[]) => ws.reduce((a, w) => a + w.rps, 0)
  const value = stpOf(workers)
  const a = anttOf(workers)
  const sameBase = baseline !== null && baseline.length === workers.length
  const baseStp = sameBase ? stpOf(baseline) : null
  const baseAntt = sameBase ? anttOf(baseline) : null
  const baseTotal = sameBase ? total(baseline) : null
  const worst = worstWorker(
    workers.map((w) => w.name),
    workers.map((w) => w.rps),
    workers.map((w) => w.baselineRps),
  )
  const ratios = workers.map((w) => (w.baselineRps && w.baselineRps > 0 ? w.rps / w.baselineRps : null))
  const areas = workers.map((w) => w.areaSmUs)
  const hasAreas = areas.every((x) => x !== null)
  const bound = hasAreas
    ? stpBound(
        solo.map((s) => s.rps),
        areas as number[],
        smCount,
      ).stp
    : null
  const floors = sameBase ? baseline.map((b, i) => (floor * b.rps) / (solo[i] as { rps: number }).rps) : []
  const floored =
    hasAreas && sameBase && floors.every(Number.isFinite)
      ? (stpBound(
          solo.map((s) => s.rps),
          areas as number[],
          smCount,
          floors,
        )?.stp ?? null)
      : null
  return {
    soloFrom: soloFromLabel(solo.map((s) => s.from)),
    stp: value,
    stpVsBaseline: baseStp && baseStp > 0 ? value / baseStp : null,
    antt: a,
    anttVsBaseline: a !== null && baseAntt ? a / baseAntt : null,
    totalRps: total(workers),
    totalRpsVsBaseline: baseTotal ? total(workers) / baseTotal : null,
    worstWorker: worst?.worker ?? null,
    worstVsBaseline: worst?.ratio ?? null,
    jain: jain(workers.map((w, i) => w.rps / (solo[i] as { rps: number }).rps)),
    meanVsBaseline: ratios.every((r) => r !== null) ? mean(ratios as number[]) : null,
    stpBound: bound,
    stpVsBound: bound ? value / bound : null,
    stpBoundFloored: floored,
    stpVsBoundFloored: floored ? value / floored : null,
  }
}

/** A worker as results files record it: what the system metrics need when its solo reference is its profile. */
export interface ObservedWorker {
  name: string
  throughputRps: number
  latencyUs: { mean: number } | null
  /** The profile's whole-GPU request latency, µs, and right-sized SM·µs per request (absent: no profile at hand). */
  fullGpuUs?: number
  packedAreaSmUs?: number
}

/**
 * The system metrics of a run whose workers have no solo runs (a served run): each worker's solo rate is its
 * profile's whole-GPU request rate. `baseline`: the same mix's baseline run, or null.
 */
export function profileSystemMetrics(
  workers: readonly ObservedWorker[],
  baseline: readonly ObservedWorker[] | null,
  smCount: number,
  floor = DEFAULT_MIN_SHARE,
): SystemMetrics | null {
  const view = (ws: readonly ObservedWorker[], rpsOf: (w: ObservedWorker) => ObservedWorker | undefined) =>
    ws.map((w): SystemWorker => {
      const o = rpsOf(w)
      return {
        name: w.name,
        rps: o?.throughputRps ?? 0,
        meanLatencyUs: o?.latencyUs?.mean ?? null,
        baselineRps: baseline?.find((b) => b.name === w.name)?.throughputRps ?? null,
        solo:
          w.fullGpuUs && w.fullGpuUs > 0
            ? { rps: 1e6 / w.fullGpuUs, latencyUs: w.fullGpuUs, from: 'profile' }
            : null,
        areaSmUs: w.packedAreaSmUs ?? null,
      }
    })
  const complete = baseline !== null && workers.every((w) => baseline.some((b) => b.name === w.name))
  return systemMetrics(
    view(workers, (w) => w),
    complete ? view(workers, (w) => baseline.find((b) => b.name === w.name)) : null,
    smCount,
    floor,
  )
}
