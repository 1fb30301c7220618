// The switching target's floor: each policy's p99 by the set a request ended in, against eclip-live's held p99 of
// that set, for every policy of a bench — baseline's too, which never switches plans. The bench reports eclip-live's
// (p99EndedVsHeld); the same rule applied to baseline's requests in the same traffic says how far a policy that does
// not switch at all sits from a steady held run. Same rule as the bench (measure/metrics.ts: the set at a request's
// end by measure/active-set.ts with the run's hold; latencySummary's p99). A second line per policy keeps only the
// requests that ran wholly inside one set (no change of the active set between their start and end): what a
// request that a switch did not overtake costs against held. A third gives each model alone (alone), where every
// policy runs baseline's placement. Reads a recorded bench directory.
//   node --import tsx bench/p99-ended.ts DIR...
import { join } from 'node:path'
import type { WorkerRequests } from '../src/execute/backend.ts'
import { type Results, readFile } from '../src/formats/index.ts'
import { activeSetTimeline, requestsBySet } from '../src/measure/active-set.ts'
import { latencySummary } from '../src/measure/stats.ts'
import { readRequestLog } from './live-vs-baseline.ts'

for (const dir of process.argv.slice(2)) {
  const results = readFile<Results>('results', join(dir, 'results.json'))
  const log = readRequestLog(dir)
  const live = results.runs.find((r) => r.role === 'mix' && r.metrics.live)
  if (!live?.metrics.live) throw new Error(`${dir}: no eclip-live run`)
  const holdUs = live.metrics.live.holdMs * 1000
  const held = new Map<string, number>()
  for (const s of live.metrics.live.sets)
    for (const w of s.workers) if (w.heldP99Us) held.set(`${s.key}|${w.name}`, w.heldP99Us)
  console.log(
    `${dir}: p99 by the set a request ended in ÷ eclip-live's held p99 of that set, the three largest`,
  )
  for (const run of results.runs.filter((r) => r.role === 'mix' && r.mix === live.mix)) {
    const ws = log.get(run.id)
    if (!ws) continue
    const names = run.workers.map((w) => w.name)
    const reqs: WorkerRequests[] = names.map((n) => ws.get(n) ?? { arrivalUs: [], startUs: [], endUs: [] })
    const timeline = activeSetTimeline(reqs, names, holdUs)
    const w0 = run.warmupS * 1e6
    const w1 = w0 + run.windowS * 1e6
    const ended = requestsBySet(reqs, names, timeline, w0, w1, 'end')
    console.log(`  ${run.policy.padEnd(10)} ${largest(ended, held)}`)
    console.log(
      `  ${''.padEnd(10)} within one set: ${largest(withinOneSet(reqs, names, timeline, w0, w1), held)}`,
    )
    console.log(`  ${''.padEnd(10)} each model alone: ${alone(reqs, names, timeline, ended, held, w0, w1)}`)
  }
}

/**
 * Each lone set's p99 by the set a request ended in ÷ held, with how many of its requests began in another set (a
 * switch overtook them) of how many. A lone set's plan is baseline's placement, so its held run is every policy's
 * yardstick there: baseline's line is what the same traffic costs a policy that never switches.
 */
function alone(
  reqs: readonly WorkerRequests[],
  names: readonly string[],
  timeline: ReturnType<typeof activeSetTimeline>,
  ended: Map<string, number[]>,
  held: Map<string, number>,
  w0: number,
  w1: number,
): string {
  return names
    .flatMap((n, wi) => {
      const k = `${n}|${n}`
      const xs = ended.get(k)
      const h = held.get(k)
      if (!xs || !h) return []
      const w = reqs[wi] as WorkerRequests
      let overtaken = 0
      w.endUs.forEach((e, i) => {
        const s = w.startUs[i] ?? e
        if (
          e > w0 &&
          e <= w1 &&
          Object.keys(timeline.timeIn(s, e)).length > 1 &&
          Object.keys(timeline.timeIn(e - 1, e))[0] === n
        )
          overtaken++
      })
      return [
        `${n} ${((latencySummary(xs).p99 as number) / h).toFixed(3)} (${overtaken}/${xs.length} overtaken)`,
      ]
    })
    .join('; ')
}

/** The three largest p99 ÷ held among the sets of `bySet` that have a held p99. */
function largest(bySet: Map<string, number[]>, held: Map<string, number>): string {
  return [...bySet]
    .filter(([k]) => held.has(k))
    .map(([k, xs]) => ({ k, n: xs.length, v: (latencySummary(xs).p99 as number) / (held.get(k) as number) }))
    .sort((a, b) => b.v - a.v)
    .slice(0, 3)
    .map((r) => `${r.k} (${r.n} requests) ${r.v.toFixed(3)}`)
    .join('; ')
}

/** Request times by set, of the requests ending in the window during which the active set did not change. */
function withinOneSet(
  reqs: readonly WorkerRequests[],
  names: readonly string[],
  timeline: ReturnType<typeof activeSetTimeline>,
  w0: number,
  w1: number,
): Map<string, number[]> {
  const out = new Map<string, number[]>()
  reqs.forEach((w, wi) => {
    w.endUs.forEach((e, i) => {
      const s = w.startUs[i] ?? e
      if (!(e > w0 && e <= w1)) return
      const sets = Object.keys(timeline.timeIn(s, e))
      if (sets.length !== 1) return
      const k = `${sets[0]}|${names[wi]}`
      const xs = out.get(k) ?? []
      xs.push(e - s)
      out.set(k, xs)
    })
  })
  return out
}
