// Is eclip-fit's choice tuned to one set of simulator constants? Plans model-wise, eclip and eclip-fit once per paper
// mix with the profile directory's calibrated contention model (eclip-fit scores its candidates on it), then
// simulates the same plans under perturbed constants (memory interference γ, demand tolerance, fair sharing) and
// prints each policy's means vs baseline (throughput / p95 / requests-per-J) per constant set. Then the ablation:
// eclip-fit at model-wise's homes with fixed prices for every worker (no search), on the fitted constants — (a)
// λ = ∞ (homes with right-sizing inside) and (b) one overlap price λ for all. SIMULATED only.
//   node --import tsx bench/fit-robustness.ts [--profiles profiles/h100] [--batch 8] [--window 0.5]
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type Calibration, withCommonGamma } from '../src/execute/sim/contention.ts'
import { simEvaluator } from '../src/execute/sim/evaluator.ts'
import { simInputs } from '../src/execute/sim/inputs.ts'
import { expandWorkers, type MixFile, type Policy, readFile } from '../src/formats/index.ts'
import { fitMetrics, makePlan } from '../src/plan/index.ts'
import { loadProfileSet } from '../src/profile/store.ts'

const args = process.argv.slice(2)
const arg = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? (args[i + 1] ?? def) : def
}
const dir = arg('profiles', 'profiles/h100')
const batch = Number(arg('batch', '8'))
const windowS = Number(arg('window', '0.5'))
if (!existsSync(join(dir, 'sim-calibration.json'))) throw new Error(`${dir}: no sim-calibration.json`)
const mixes = readFile<MixFile>('mix', fileURLToPath(new URL('../mixes/paper.yaml', import.meta.url))).mixes
const policies: Policy[] = ['model-wise', 'eclip', 'eclip-fit']

const sets: [string, (c: Calibration) => Calibration][] = [
  ['fitted', (c) => c],
  ['γ 0.25', (c) => withCommonGamma(c, 0.25)],
  ['γ 0.5', (c) => withCommonGamma(c, 0.5)],
  ['γ 1.0', (c) => withCommonGamma(c, 1.0)],
  ['demand tol 5%', (c) => ({ ...c, saturationTolerance: 0.05 })],
  ['fair sharing', (c) => ({ ...c, sharing: 'fair' })],
]
const fixedPrices: [string, { lambda: number; mu: number }][] = [
  ['(a) λ ∞, μ 0', { lambda: Number.POSITIVE_INFINITY, mu: 0 }],
  ['(a) λ ∞, μ 0.5', { lambda: Number.POSITIVE_INFINITY, mu: 0.5 }],
  ['(a) λ ∞, μ 1', { lambda: Number.POSITIVE_INFINITY, mu: 1 }],
  ['(b) λ 2, μ 0.5', { lambda: 2, mu: 0.5 }],
  ['(b) λ 1, μ 0.5', { lambda: 1, mu: 0.5 }],
  ['(b) λ 0.5, μ 0.5', { lambda: 0.5, mu: 0.5 }],
  ['(b) λ 0, μ 0.5', { lambda: 0, mu: 0.5 }],
]
const sums = new Map<string, number[]>()
const add = (key: string, m: { thr: number; p95: number; reqPerJ: number }) => {
  const s = sums.get(key) ?? [0, 0, 0]
  sums.set(key, [(s[0] as number) + m.thr, (s[1] as number) + m.p95, (s[2] as number) + m.reqPerJ])
}
for (const mix of mixes) {
  const workers = expandWorkers(mix, batch)
  const { gpu, profiles } = loadProfileSet(dir, workers)
  const { inputs } = simInputs(gpu, { dir })
  const evaluator = simEvaluator(inputs, workers, profiles)
  const plan = (policy: Policy) =>
    makePlan(gpu, mix.name, workers, profiles, policy === 'eclip-fit' ? { policy, evaluator } : { policy })
  const base = await plan('baseline')
  const plans = await Promise.all(policies.map(plan))
  const cells: string[] = []
  for (const [name, perturb] of sets) {
    // the bench's window and seed, the perturbed constants
    const ev = simEvaluator(
      { ...inputs, calibration: perturb(inputs.calibration), windowS, seed: 1 },
      workers,
      profiles,
    )
    const b = await ev.evaluate(base)
    const thr: string[] = []
    for (const [i, p] of plans.entries()) {
      const m = fitMetrics(await ev.evaluate(p), b)
      add(`${name}|${policies[i]}`, m)
      thr.push(m.thr.toFixed(2))
    }
    cells.push(`${name} ${thr.join('/')}`)
    if (name !== 'fitted') continue
    for (const [label, fitPrices] of fixedPrices) {
      const p = await makePlan(gpu, mix.name, workers, profiles, {
        policy: 'eclip-fit',
        evaluator,
        fitPrices,
      })
      add(`ablation|${label}`, fitMetrics(await ev.evaluate(p), b))
    }
  }
  console.log(`${mix.name} throughput ${policies.join('/')}: ${cells.join(' | ')}`)
}
console.log(
  `\nmeans over ${mixes.length} mixes, batch ${batch}, throughput / p95 / requests-per-J vs baseline`,
)
for (const [name] of sets)
  console.log(
    `${name.padEnd(14)} ${policies
      .map((p) => {
        const s = sums.get(`${name}|${p}`) ?? [0, 0, 0]
        return `${p} ${s.map((x) => (x / mixes.length).toFixed(3)).join(' / ')}`
      })
      .join('   ')}`,
  )
console.log(
  `\nablation on the fitted constants: eclip-fit at model-wise's homes, fixed prices for every worker`,
)
for (const [label] of fixedPrices) {
  const s = sums.get(`ablation|${label}`) ?? [0, 0, 0]
  console.log(`${label.padEnd(18)} ${s.map((x) => (x / mixes.length).toFixed(3)).join(' / ')}`)
}
