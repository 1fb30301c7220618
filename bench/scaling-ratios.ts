// Simulated ÷ measured system throughput (STP, Σ rate ÷ solo rate, each side's solo rates from its own solo runs) of
// the scaling series (examples/disb-scaling.yaml: DISB's best-effort models at batch 1, 2 to 10 workers), per number
// of workers and policy: how the simulator's whole-GPU sharing rule follows the GPU's growth with the number of
// co-located models (results/h100/disb/README.md, "Why baseline is off in C–E").
//   eclip bench --mix examples/disb-scaling.yaml --policies baseline,model-wise --duration 1.5 --warmup 0.3 \
//     --calibration F --out DIR --no-plots
//   node --import tsx bench/scaling-ratios.ts DIR/results.json [more results.json…] [--gpu results/h100/disb/scaling/results.json]
// One line per simulated file; --csv prints the ratios only.
import { parseArgs } from 'node:util'
import { type Results, type Run, readFile } from '../src/formats/index.ts'

const { values: o, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    gpu: { type: 'string', default: 'results/h100/disb/scaling/results.json' },
    policies: { type: 'string', default: 'baseline,model-wise' },
  },
})
if (positionals.length === 0) throw new Error('name one or more simulated results.json files')
const policies = o.policies.split(',')

/** STP of every mix run, by policy and number of workers (solo rates from the file's own solo runs). */
function stpByCount(runs: readonly Run[]): Map<string, number> {
  const solo = new Map<string, number>()
  for (const r of runs)
    if (r.role === 'solo') for (const w of r.workers) solo.set(`${w.model}|${w.batch}`, w.throughputRps)
  const out = new Map<string, number>()
  for (const r of runs) {
    if (r.role === 'solo') continue
    let s = 0
    for (const w of r.workers) {
      const rate = solo.get(`${w.model}|${w.batch}`)
      if (rate === undefined) throw new Error(`${r.key}: no solo run of ${w.model} at batch ${w.batch}`)
      s += w.throughputRps / rate
    }
    out.set(`${r.policy}|${r.workers.length}`, s)
  }
  return out
}

const gpu = stpByCount(readFile<Results>('results', o.gpu).runs)
const counts = [...new Set([...gpu.keys()].map((k) => Number(k.split('|')[1])))].sort((a, b) => a - b)
console.log(`simulated ÷ measured STP by workers ${counts.join(' ')} (measured: ${o.gpu})`)
for (const f of positionals) {
  const sim = stpByCount(readFile<Results>('results', f).runs)
  const parts = policies.map((p) => {
    const rs = counts.map((n) => {
      const g = gpu.get(`${p}|${n}`)
      const s = sim.get(`${p}|${n}`)
      return g === undefined || s === undefined ? Number.NaN : s / g
    })
    const worst = Math.max(...rs.map((r) => Math.abs(r - 1)))
    return `${p} ${rs.map((r) => r.toFixed(2)).join(' ')} (worst ${(worst * 100).toFixed(0)}%)`
  })
  console.log(`${f}: ${parts.join(' | ')}`)
}
