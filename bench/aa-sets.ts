// An A/A floor for "a model alone never runs slower than under baseline": two bench runs of the same policy in the
// same traffic (two bench directories, same mix, batch and seed) sorted into active sets by the bench's own rule
// (measure/active-set.ts: a worker active from a request's start until its end plus the hold; each request in the set
// active when it started), and per set and worker the second run's mean request time against the first's, with the
// half-width of a 95% interval (normal approximation, as bench/live-vs-baseline.ts). Nothing runs on a GPU: it reads
// the recorded results.json and request logs. What two runs of one policy differ by is the resolution of a
// comparison between two policies' runs.
//   node --import tsx bench/aa-sets.ts DIR1 DIR2 [--policy baseline] [--hold-ms 5]
import { join } from 'node:path'
import type { WorkerRequests } from '../src/execute/backend.ts'
import { type Results, type Run, readFile } from '../src/formats/index.ts'
import { activeSetTimeline, requestsBySet } from '../src/measure/active-set.ts'
import { mean } from '../src/measure/stats.ts'
import { gridTable } from '../src/report/tables.ts'
import { readRequestLog, relSe } from './live-vs-baseline.ts'

const args = process.argv.slice(2)
const opt = (flag: string, dflt: string) => {
  const i = args.indexOf(flag)
  if (i < 0) return dflt
  const v = args[i + 1] as string
  args.splice(i, 2)
  return v
}
const policy = opt('--policy', 'baseline')
const holdMs = Number(opt('--hold-ms', '5'))
if (args.length !== 2) throw new Error('usage: aa-sets.ts DIR1 DIR2 [--policy baseline] [--hold-ms 5]')

/** The directory's run of `policy` (the mix role) and its requests' times per `${set}|${worker}`. */
function setsOf(dir: string): { run: Run; times: Map<string, number[]> } {
  const results = readFile<Results>('results', join(dir, 'results.json'))
  const run = results.runs.find((r) => r.role === 'mix' && r.policy === policy)
  if (!run) throw new Error(`${dir}: no ${policy} run`)
  const ws = readRequestLog(dir).get(run.id)
  if (!ws) throw new Error(`${dir}: the request log has no run ${run.id}`)
  const names = run.workers.map((w) => w.name)
  const reqs: WorkerRequests[] = names.map((n) => ws.get(n) ?? { arrivalUs: [], startUs: [], endUs: [] })
  const start = run.warmupS * 1e6
  const times = requestsBySet(
    reqs,
    names,
    activeSetTimeline(reqs, names, holdMs * 1000),
    start,
    start + run.windowS * 1e6,
  )
  return { run, times }
}

const [a, b] = [setsOf(args[0] as string), setsOf(args[1] as string)]
if (a.run.mix !== b.run.mix || a.run.batch !== b.run.batch)
  throw new Error(`${a.run.id} and ${b.run.id}: not the same mix and batch`)
const rows: string[][] = []
let below = 0
for (const k of [...new Set([...a.times.keys(), ...b.times.keys()])].sort()) {
  const x = a.times.get(k) ?? []
  const y = b.times.get(k) ?? []
  const mx = mean(x)
  const my = mean(y)
  const sx = relSe(x)
  const sy = relSe(y)
  // speed of the second run against the first: the first's mean request time ÷ the second's
  const speed = mx !== null && my ? mx / my : null
  const half = speed !== null && sx !== null && sy !== null ? 1.96 * speed * Math.hypot(sx, sy) : null
  if (speed !== null && half !== null && speed + half < 1) below++
  const [set, worker] = k.split('|')
  rows.push([
    set as string,
    worker as string,
    String(x.length),
    String(y.length),
    mx === null ? '–' : mx.toFixed(0),
    my === null ? '–' : my.toFixed(0),
    speed === null ? '–' : speed.toFixed(3),
    half === null ? '–' : `± ${half.toFixed(3)}`,
  ])
}
console.log(
  gridTable(
    `A/A: ${policy} in ${args[0]} (1) and ${args[1]} (2), ${a.run.mix} batch ${a.run.batch}, hold ${holdMs} ms: per set and worker, requests, mean request µs, the second's speed vs the first's (1's mean ÷ 2's) ± half a 95% interval`,
    ['active set', 'worker', 'n 1', 'n 2', 'µs 1', 'µs 2', 'speed 2 vs 1', '95%'],
    rows,
  ),
)
console.log(`${below} of ${rows.length} (set, worker) pairs slower in run 2 beyond their 95% interval`)
