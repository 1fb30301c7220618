// Simulated ÷ measured system throughput (STP, Σ rate ÷ solo rate, each side's solo rates from its own solo runs) of
// the scaling series (examples/disb-scaling.yaml: DISB's best-effort models at batch 1, 2 to 10 workers), per number
// of workers and policy: how the simulator's whole-GPU sharing rule (baseline), disjoint partitions (model-wise) and
// MPS's caps (mps) follow the GPU's growth with the number of co-located models (results/h100/disb/README.md).
//   eclip bench --mix examples/disb-scaling.yaml --policies baseline,model-wise,mps --duration 1.5 --warmup 0.3 \
//     --calibration F --out DIR --no-plots
//   node --import tsx bench/scaling-ratios.ts DIR/results.json [more results.json…] \
//     [--gpu results/h100/disb/scaling/results.json] [--policies baseline,model-wise,mps] [--workers]
// --gpu: the measured series (results/h100/disb/scaling-mps/results.json has mps beside the other two); a policy it
// lacks is left out, said once. One line per simulated file; --workers adds, per policy and number of workers, each
// worker's simulated ÷ measured rate (its range over the workers, then each worker's). --pair mps/model-wise compares
// two policies worker by worker: each worker's rate under the first ÷ under the second, measured and simulated, per
// number of workers, and per model the mean |simulated − measured| of that ratio (MPS's caps against disjoint
// partitions of the same SM counts, apart from what the simulator gets wrong on both).
import { parseArgs } from 'node:util'
import { type Results, type Run, readFile } from '../src/formats/index.ts'

const { values: o, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    gpu: { type: 'string', default: 'results/h100/disb/scaling/results.json' },
    policies: { type: 'string', default: 'baseline,model-wise,mps' },
    workers: { type: 'boolean', default: false },
    pair: { type: 'string' },
  },
})
if (positionals.length === 0) throw new Error('name one or more simulated results.json files')
const policies = o.policies.split(',')

/** Mix runs by policy and number of workers, and the solo rate of each model (the file's own solo runs). */
function runsOf(file: string): { byKey: Map<string, Run>; solo: Map<string, number> } {
  const runs = readFile<Results>('results', file).runs
  const solo = new Map<string, number>()
  for (const r of runs)
    if (r.role === 'solo') for (const w of r.workers) solo.set(`${w.model}|${w.batch}`, w.throughputRps)
  const byKey = new Map<string, Run>()
  for (const r of runs) if (r.role !== 'solo') byKey.set(`${r.policy}|${r.workers.length}`, r)
  return { byKey, solo }
}

/** STP of a run, solo rates from its own file. */
function stp(r: Run, solo: Map<string, number>): number {
  let s = 0
  for (const w of r.workers) {
    const rate = solo.get(`${w.model}|${w.batch}`)
    if (rate === undefined) throw new Error(`${r.key}: no solo run of ${w.model} at batch ${w.batch}`)
    s += w.throughputRps / rate
  }
  return s
}

const gpu = runsOf(o.gpu)
const counts = [...new Set([...gpu.byKey.keys()].map((k) => Number(k.split('|')[1])))].sort((a, b) => a - b)
const policiesHere = policies.filter((p) => counts.some((n) => gpu.byKey.has(`${p}|${n}`)))
if (policiesHere.length < policies.length)
  console.log(`(${o.gpu} has no runs of ${policies.filter((p) => !policiesHere.includes(p)).join(', ')})`)
console.log(`simulated ÷ measured STP by workers ${counts.join(' ')} (measured: ${o.gpu})`)
for (const f of positionals) {
  const sim = runsOf(f)
  const parts = policiesHere.map((p) => {
    const rs = counts.map((n) => {
      const g = gpu.byKey.get(`${p}|${n}`)
      const s = sim.byKey.get(`${p}|${n}`)
      return g === undefined || s === undefined ? Number.NaN : stp(s, sim.solo) / stp(g, gpu.solo)
    })
    const worst = Math.max(...rs.map((r) => Math.abs(r - 1)))
    return `${p} ${rs.map((r) => r.toFixed(2)).join(' ')} (worst ${(worst * 100).toFixed(0)}%)`
  })
  console.log(`${f}: ${parts.join(' | ')}`)
  if (o.pair) pairs(o.pair, sim)
  if (!o.workers) continue
  for (const p of policiesHere)
    for (const n of counts) {
      const g = gpu.byKey.get(`${p}|${n}`)
      const s = sim.byKey.get(`${p}|${n}`)
      if (!g || !s) continue
      // per worker, matched by name (model#i)
      const simRate = new Map(s.workers.map((w) => [w.name, w.throughputRps]))
      const ratios = g.workers.map((w) => ({
        name: w.name,
        r: (simRate.get(w.name) ?? Number.NaN) / w.throughputRps,
      }))
      const rs = ratios.map((x) => x.r)
      console.log(
        `  ${p.padEnd(10)} ${String(n).padStart(2)} workers: sim ÷ GPU ${Math.min(...rs).toFixed(2)}–${Math.max(...rs).toFixed(2)}  ${ratios.map((x) => `${x.name} ${x.r.toFixed(2)}`).join(' ')}`,
      )
    }
}

/** Per worker, its rate under policy a ÷ under policy b, measured / simulated; per model the mean |difference|. */
function pairs(pair: string, sim: ReturnType<typeof runsOf>) {
  const [a, b] = pair.split('/')
  const rate = (side: ReturnType<typeof runsOf>, p: string | undefined, n: number, name: string) =>
    side.byKey.get(`${p}|${n}`)?.workers.find((w) => w.name === name)?.throughputRps ?? Number.NaN
  const diffs = new Map<string, number[]>()
  for (const n of counts) {
    const g = gpu.byKey.get(`${a}|${n}`)
    if (!g) continue
    const cells = g.workers.map((w) => {
      const m = rate(gpu, a, n, w.name) / rate(gpu, b, n, w.name)
      const s = rate(sim, a, n, w.name) / rate(sim, b, n, w.name)
      const d = diffs.get(w.model) ?? []
      d.push(s - m)
      diffs.set(w.model, d)
      return `${w.name} ${m.toFixed(2)}/${s.toFixed(2)}`
    })
    console.log(`  ${a} ÷ ${b}, measured/simulated, ${String(n).padStart(2)} workers: ${cells.join('  ')}`)
  }
  const summary = [...diffs].map(([model, d]) => {
    const mean = d.reduce((x, y) => x + Math.abs(y), 0) / d.length
    return `${model} ${(mean * 100).toFixed(1)} (${d.length})`
  })
  console.log(`  ${a} ÷ ${b}: mean |simulated − measured| per model, points (workers): ${summary.join(', ')}`)
}
