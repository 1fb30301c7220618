// Planning benchmark (issue #2): ECLIP's optimizer on every paper mix with synthetic H100 profiles — solve time and
// peak memory. Each (mix, kernel-count setting) runs in its own child process so its peak RSS is its own.
//   node --import tsx bench/plan-bench.ts [--batch 1] [--repeats 5] [--solver dp|highs] [--time-limit 60]
//     [--only mix1,mix2] [--counts real,clamped] [--profiles profiles/h200 --batches 1,8]
// With --profiles the measured profiles of that directory are planned instead (at each of --batches).
// Kernel counts: "real" = the real graphs' (alexnet 30 … densenet201 1470), "clamped" = the same models held to
// 300–1000 kernels per worker (the issue's size). 16 partition sizes (the H100 layout). Target: proven optimal in
// < 1 s, < 500 MB.
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { expandWorkers, type MixFile, readFile } from '../src/formats/index.ts'
import { makePlan, type SolverChoice } from '../src/plan/index.ts'
import { loadProfileSet } from '../src/profile/store.ts'
import { SYNTHETIC_MODELS, syntheticH100Gpu, syntheticProfile } from '../src/profile/synthetic.ts'

const args = process.argv.slice(2)
const arg = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? (args[i + 1] ?? def) : def
}
const batch = Number(arg('batch', '1'))
const repeats = Number(arg('repeats', '5'))
const solver = arg('solver', 'dp') as SolverChoice
const timeLimitS = Number(arg('time-limit', '60'))
const only = arg('only', '')
const mixes = readFile<MixFile>(
  'mix',
  fileURLToPath(new URL('../mixes/paper.yaml', import.meta.url)),
).mixes.filter((m) => !only || only.split(',').includes(m.name))
const profileDir = arg('profiles', '')
const countSettings = profileDir
  ? arg('batches', '1,8')
      .split(',')
      .map((b) => `b${b}`)
  : arg('counts', 'real,clamped').split(',')

interface Row {
  mix: string
  counts: string
  kernels: number[]
  partitions: number
  firstMs: number
  medianMs: number
  maxMs: number
  status: string
  gap: number
  objectiveUs: number
  oracle: string
  rssMB: number
  heapMB: number
}

async function runOne(mixName: string, counts: string): Promise<Row> {
  const mix = mixes.find((m) => m.name === mixName)
  if (!mix) throw new Error(`no mix ${mixName}`)
  let gpu = syntheticH100Gpu()
  let workers = expandWorkers(mix, batch)
  const kernelsOf = (model: string) => {
    const real = SYNTHETIC_MODELS[model]?.kernels ?? 300
    return counts === 'clamped' ? Math.min(1000, Math.max(300, real)) : real
  }
  let profiles = profileDir
    ? []
    : workers.map((w) => syntheticProfile({ model: w.model, batch, kernels: kernelsOf(w.model) }))
  if (profileDir) {
    // counts is "b<batch>" here: the measured profiles at that batch
    workers = expandWorkers(mix, Number(counts.slice(1)))
    const set = loadProfileSet(profileDir, workers)
    gpu = set.gpu
    profiles = set.profiles
  }
  const times: number[] = []
  let plan: Awaited<ReturnType<typeof makePlan>> | undefined
  for (let r = 0; r < repeats; r++) {
    const t = performance.now()
    plan = await makePlan(gpu, mix.name, workers, profiles, { policy: 'eclip', solver, timeLimitS })
    times.push(performance.now() - t)
  }
  if (!plan) throw new Error('no plan')
  const sorted = [...times].sort((a, b) => a - b)
  return {
    mix: mix.name,
    counts,
    kernels: plan.workers.map((w) => w.kernels),
    partitions: plan.pool.partitions.length,
    firstMs: times[0] as number,
    medianMs: sorted[Math.floor(sorted.length / 2)] as number,
    maxMs: sorted[sorted.length - 1] as number,
    status: plan.solver.status,
    gap: plan.solver.gap,
    objectiveUs: plan.solver.objectiveUs ?? 0,
    oracle: /(\d+) subproblem/.exec(plan.solver.notes ?? '')?.[1] ?? '?',
    // maxRSS is in KiB: the child's own peak, Node + tsx + profiles + solver included
    rssMB: process.resourceUsage().maxRSS / 1024,
    heapMB: process.memoryUsage().heapUsed / 2 ** 20,
  }
}

const child = arg('child', '')
if (child) {
  const [mixName, counts] = child.split(':') as [string, string]
  process.stdout.write(JSON.stringify(await runOne(mixName, counts)))
} else {
  const rows: Row[] = []
  for (const counts of countSettings)
    for (const m of mixes) {
      const out = execFileSync(
        process.execPath,
        ['--import', 'tsx', fileURLToPath(import.meta.url), ...args, '--child', `${m.name}:${counts}`],
        { encoding: 'utf8', maxBuffer: 1 << 20 },
      )
      const row = JSON.parse(out) as Row
      rows.push(row)
      console.log(
        [
          row.mix.padEnd(5),
          row.counts.padEnd(8),
          `kernels ${row.kernels.join('+')}`.padEnd(24),
          `pool ${row.partitions}`.padEnd(8),
          `solve first ${row.firstMs.toFixed(0)} ms, median ${row.medianMs.toFixed(0)} ms, max ${row.maxMs.toFixed(0)} ms`.padEnd(
            48,
          ),
          `${row.status} gap ${row.gap.toExponential(1)} objective ${row.objectiveUs.toFixed(3)} µs`.padEnd(
            48,
          ),
          `${row.oracle} subproblems`.padEnd(16),
          `peak RSS ${row.rssMB.toFixed(0)} MB, heap ${row.heapMB.toFixed(0)} MB`,
        ].join(' '),
      )
    }
  const worst = Math.max(...rows.map((r) => r.maxMs))
  const rss = Math.max(...rows.map((r) => r.rssMB))
  const allOptimal = rows.every((r) => r.status === 'optimal')
  console.log(
    `\n${profileDir ? `profiles ${profileDir}` : `synthetic H100 profiles, batch ${batch}`}, solver ${solver}, ${repeats} solves per mix: worst solve ${worst.toFixed(0)} ms, ` +
      `peak RSS ${rss.toFixed(0)} MB, all proven optimal: ${allOptimal}` +
      ` → target (< 1000 ms, < 500 MB, optimal): ${worst < 1000 && rss < 500 && allOptimal ? 'met' : 'NOT met'}`,
  )
}
