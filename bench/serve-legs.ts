// Served ÷ bench leg by leg: each serve-bench results.json given (one leg: a server start per policy with one
// setting, e.g. ECLIP_SERVE_AHEAD) in one row per policy — Σ served req/s ÷ the bench's, STP and eclip-fit's STP ÷
// baseline's served beside the bench's, the worst worker against its served baseline, mean client latency, the
// server's queue and compute µs per request, and the engine's event loop per request. Then the mean and range of
// served ÷ bench per group of files (the part of a file name before the first '-', e.g. a0 / a2) and transport (the
// name's ending: shm, cuda-shm, http, grpc). STP ÷ baseline and the worst worker as serve-bench recorded them (against
// the baseline of the same mix, window and server start). Nothing runs here.
//   node --import tsx bench/serve-legs.ts FILE...
import { basename, dirname } from 'node:path'
import { readFile, type ServeResults } from '../src/formats/index.ts'
import { gridTable } from '../src/report/tables.ts'

const files = process.argv.slice(2)
if (files.length === 0) throw new Error('usage: serve-legs.ts FILE...')
const rows: string[][] = []
const groups = new Map<string, Map<string, number[]>>()
const f3 = (x: number | null | undefined) => (x == null ? '–' : x.toFixed(3))
const f0 = (x: number) => x.toFixed(0)
for (const file of files) {
  const r = readFile<ServeResults>('serve-results', file)
  const name = `${basename(dirname(file))}/${basename(file, '.json')}`
  for (const run of r.runs) {
    const n = run.workers.length
    const mean = (f: (w: (typeof run.workers)[number]) => number) =>
      run.workers.reduce((a, w) => a + f(w), 0) / n
    const sys = run.metrics.system
    // against the baseline of the same mix, window and server start, as serve-bench normalised them
    const isBase = run.policy === 'baseline'
    const vs = run.bench?.servedVsBench ?? null
    rows.push([
      name,
      run.policy ?? '?',
      f0(sys?.totalRps ?? 0),
      f3(vs),
      f3(sys?.stp),
      isBase ? '' : f3(sys?.stpVsBaseline),
      isBase ? '' : `${sys?.worstWorker ?? '?'} ${f3(sys?.worstVsBaseline)}`,
      f0(mean((w) => w.latencyUs?.mean ?? 0)),
      f0(mean((w) => w.serverQueueUs ?? 0)),
      f0(mean((w) => w.serverComputeUs ?? 0)),
      f3(run.metrics.hostCpuMsPerRequest?.eventLoop),
    ])
    const group = basename(file).split('-')[0] as string
    const stem = basename(file, '.json')
    const transport =
      ['cuda-shm', 'shm', 'http', 'grpc-stream', 'grpc'].find((t) => stem.endsWith(t)) ?? 'one'
    const key = `${group} ${transport}`
    const g = groups.get(key) ?? new Map<string, number[]>()
    if (vs != null) g.set(run.policy ?? '?', [...(g.get(run.policy ?? '?') ?? []), vs])
    groups.set(key, g)
  }
}
console.log(
  gridTable(
    'Served legs (one row per policy and file)',
    [
      'leg',
      'policy',
      'req/s',
      'served ÷ bench',
      'STP',
      'STP ÷ baseline',
      'worst ÷ baseline',
      'latency µs',
      'queue µs',
      'compute µs',
      'event loop ms/req',
    ],
    rows,
  ),
)
console.log('\nserved ÷ bench by group (file name before the first "-") and transport: mean [min–max] (n)')
for (const [key, g] of groups)
  for (const [policy, xs] of g)
    console.log(
      `${key} ${policy}: ${(xs.reduce((a, b) => a + b, 0) / xs.length).toFixed(3)} [${Math.min(...xs).toFixed(3)}–${Math.max(...xs).toFixed(3)}] (${xs.length})`,
    )
