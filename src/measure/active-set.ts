// The active set of a table-following run (eclip-live, docs/live.md) at any instant, rebuilt from its requests' times:
// a worker is active from a request's arrival (queued) or start, whichever is first, until its end plus the hold time —
// the rule both backends follow (src/execute/sim/engine.ts, gpu/eclip_gpu/live.py), so the per-set times it gives
// match the run's own. The run reports each request's set at its start; this gives the set at any other instant (the
// set in force when a request completed: the "new set" a switch moved it into). Requests that had not completed when
// the run ended are not in the observations: their worker's activity at the run's very end is missed.
// A run that follows no table (baseline) got the same traffic: activeSetMetrics gives its requests by the set active
// when each started, as a table-following run reports its own, so that the two can be compared set by set.
import type { WorkerRequests } from '../execute/backend.ts'
import { type ActiveSetMetrics, keyNames, planKey } from '../formats/index.ts'
import { mean } from './stats.ts'

export interface ActiveSetTimeline {
  /** The key of the set active at `tUs` ('' when none): workers whose [activity start, end + hold) holds tUs. */
  at(tUs: number): string
  /** µs of [fromUs, toUs) each set was the active set, by key ('' when none). */
  timeIn(fromUs: number, toUs: number): Record<string, number>
}

/** Merged [from, to) spans of one worker's activity, in time order. */
function spans(w: WorkerRequests, holdUs: number): [number, number][] {
  const raw: [number, number][] = w.endUs.map((e, i) => {
    const s = Math.min(w.arrivalUs[i] ?? e, w.startUs[i] ?? e)
    return [s, e + holdUs]
  })
  raw.sort((a, b) => a[0] - b[0])
  const out: [number, number][] = []
  for (const [a, b] of raw) {
    const last = out[out.length - 1]
    if (last && a <= last[1]) last[1] = Math.max(last[1], b)
    else out.push([a, b])
  }
  return out
}

/** Whether t lies in one of the (sorted, disjoint) spans: binary search. */
function inside(ss: [number, number][], t: number): boolean {
  let lo = 0
  let hi = ss.length - 1
  while (lo <= hi) {
    const mid = (lo + hi) >> 1
    const [a, b] = ss[mid] as [number, number]
    if (t < a) hi = mid - 1
    else if (t >= b) lo = mid + 1
    else return true
  }
  return false
}

export function activeSetTimeline(
  workers: readonly WorkerRequests[],
  names: readonly string[],
  holdUs: number,
): ActiveSetTimeline {
  const per = workers.map((w) => spans(w, holdUs))
  const at = (t: number) => planKey(names.filter((_, i) => inside(per[i] ?? [], t)))
  return {
    at,
    timeIn(fromUs, toUs) {
      // the set changes only at a span's edge: between two consecutive edges it is one set
      const edges = [
        ...new Set([
          fromUs,
          toUs,
          ...per
            .flat()
            .flat()
            .filter((t) => t > fromUs && t < toUs),
        ]),
      ].sort((a, b) => a - b)
      const out: Record<string, number> = {}
      for (let i = 0; i + 1 < edges.length; i++) {
        const a = edges[i] as number
        const b = edges[i + 1] as number
        const k = at(a)
        out[k] = (out[k] ?? 0) + (b - a)
      }
      return out
    },
  }
}

/**
 * The request times (start to end, µs) of the requests that completed in (windowStartUs, windowEndUs], by the set
 * `timeline` gives at their start (or, `at: 'end'`, at their end: the set a switch moved them into) and their
 * worker: keyed `${set key}|${worker name}`.
 */
export function requestsBySet(
  workers: readonly WorkerRequests[],
  names: readonly string[],
  timeline: ActiveSetTimeline,
  windowStartUs: number,
  windowEndUs: number,
  at: 'start' | 'end' = 'start',
): Map<string, number[]> {
  const service = new Map<string, number[]>()
  workers.forEach((w, wi) => {
    w.endUs.forEach((e, i) => {
      if (!(e > windowStartUs && e <= windowEndUs)) return
      const s = w.startUs[i] ?? e
      const k = `${timeline.at(at === 'start' ? s : e)}|${names[wi]}`
      const xs = service.get(k) ?? []
      xs.push(e - s)
      service.set(k, xs)
    })
  })
  return service
}

/**
 * The active sets of a run's traffic by the rule above (hold `holdUs`): per set, its time in the window
 * (windowStartUs, windowEndUs] and each of its workers' requests that started while it was the active set and
 * completed in the window, with their mean request time (start to end). Sets in order of size, then key.
 */
export function activeSetMetrics(
  workers: readonly WorkerRequests[],
  names: readonly string[],
  holdUs: number,
  windowStartUs: number,
  windowEndUs: number,
): ActiveSetMetrics {
  const timeline = activeSetTimeline(workers, names, holdUs)
  const service = requestsBySet(workers, names, timeline, windowStartUs, windowEndUs)
  const timeUs = timeline.timeIn(windowStartUs, windowEndUs)
  const windowS = (windowEndUs - windowStartUs) / 1e6
  const keys = new Set([
    ...Object.keys(timeUs),
    ...[...service.keys()].map((k) => k.slice(0, k.lastIndexOf('|'))),
  ])
  const sets = [...keys]
    .sort((a, b) => keyNames(a).length - keyNames(b).length || (a < b ? -1 : a > b ? 1 : 0))
    .map((key) => {
      const timeS = (timeUs[key] ?? 0) / 1e6
      return {
        key,
        timeS,
        share: windowS > 0 ? timeS / windowS : 0,
        workers: (key === '' ? [] : keyNames(key)).map((name) => {
          const xs = service.get(`${key}|${name}`) ?? []
          return { name, requests: xs.length, serviceUs: xs.length > 0 ? mean(xs) : null }
        }),
      }
    })
  return { holdMs: holdUs / 1000, sets }
}
