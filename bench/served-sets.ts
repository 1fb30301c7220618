// eclip-live served: where a policy's requests go in each active set, from a serve-bench directory's request log
// (requests.csv[.gz]: client start and end, the server's queue and compute µs per request). Per policy the active sets
// are rebuilt from the clients' request times by the bench's rule (measure/active-set.ts: a model active from a
// request's start until its end plus the hold), and per window and set, per model: requests, mean client latency and
// mean compute µs. Set beside each other, the policies' latency minus compute shows time a request spent neither
// queued in the server nor on the GPU as its own execution. Nothing runs on a GPU.
//   node --import tsx bench/served-sets.ts DIR [--hold-ms 5]
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { gunzipSync } from 'node:zlib'
import type { WorkerRequests } from '../src/execute/backend.ts'
import { readFile, type ServeResults } from '../src/formats/index.ts'
import { activeSetTimeline } from '../src/measure/active-set.ts'
import { gridTable } from '../src/report/tables.ts'

const args = process.argv.slice(2)
const at = args.indexOf('--hold-ms')
const holdMs = at >= 0 ? Number(args.splice(at, 2)[1]) : 5
const dir = args[0]
if (!dir) throw new Error('usage: served-sets.ts DIR [--hold-ms 5]')

const raw = join(dir, 'requests.csv')
const text = existsSync(raw)
  ? readFileSync(raw, 'utf8')
  : gunzipSync(readFileSync(`${raw}.gz`)).toString('utf8')
interface Req {
  start: number
  end: number
  compute: number
}
// per policy (and server start), per worker: its requests
const byPolicy = new Map<string, Map<string, Req[]>>()
for (const line of text.split('\n').slice(1)) {
  if (!line) continue
  const [run, worker, , start, end, status, , compute] = line.split(',')
  if (status !== '200' || !run || !worker) continue
  // a column per policy and server start (each start's windows are logged under its first window's run id: …|s2w1)
  const serverStart = /\|s(\d+)w\d+$/.exec(run)?.[1]
  const policy = `${run.split('|')[1] as string}${serverStart && serverStart !== '1' ? ` (server ${serverStart})` : ''}`
  const ws = byPolicy.get(policy) ?? new Map<string, Req[]>()
  byPolicy.set(policy, ws)
  const xs = ws.get(worker) ?? []
  ws.set(worker, xs)
  xs.push({ start: Number(start) * 1000, end: Number(end) * 1000, compute: Number(compute) })
}
const results = readFile<ServeResults>('serve-results', join(dir, 'results.json'))
// the windows of one server start (every start's lie at the same times from its own origin)
const windows = results.runs
  .filter((r) => r.policy === 'baseline' && /\|s1w\d+$/.test(r.id))
  .map((r) => [r.warmupS * 1e6, (r.warmupS + r.windowS) * 1e6] as const)
const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN)
windows.forEach(([w0, w1], k) => {
  const cells = new Map<string, Map<string, string>>()
  const policies = [...byPolicy.keys()]
  for (const policy of policies) {
    const ws = byPolicy.get(policy) as Map<string, Req[]>
    const names = [...ws.keys()].sort()
    const reqs: WorkerRequests[] = names.map((n) => {
      const xs = (ws.get(n) ?? []).sort((a, b) => a.start - b.start)
      return {
        arrivalUs: xs.map((x) => x.start),
        startUs: xs.map((x) => x.start),
        endUs: xs.map((x) => x.end),
      }
    })
    const timeline = activeSetTimeline(reqs, names, holdMs * 1000)
    names.forEach((n) => {
      const groups = new Map<string, Req[]>()
      for (const r of ws.get(n) ?? [])
        if (r.end >= w0 && r.end < w1) {
          const key = `${timeline.at(r.start)}|${n}`
          groups.set(key, [...(groups.get(key) ?? []), r])
        }
      for (const [key, xs] of groups) {
        const row = cells.get(key) ?? new Map<string, string>()
        cells.set(key, row)
        const lat = mean(xs.map((x) => x.end - x.start)) / 1000
        const comp = mean(xs.map((x) => x.compute)) / 1000
        row.set(policy, `${xs.length}: ${lat.toFixed(2)} / ${comp.toFixed(2)}`)
      }
    })
  }
  const rows = [...cells.keys()].sort().map((key) => {
    const [set, worker] = key.split('|') as [string, string]
    return [set, worker, ...policies.map((p) => cells.get(key)?.get(p) ?? '–')]
  })
  console.log(
    gridTable(
      `window ${k + 1}: per active set (rebuilt from the clients' times, hold ${holdMs} ms) and model, per policy: requests: mean client latency ms / mean compute ms`,
      ['active set', 'model', ...policies],
      rows,
    ),
  )
  console.log('')
})
