// Raised sets on one placement, the GPU against the simulator: a tuned run's trail (its plan's `solver.tuning.runs`)
// measured its final placement with no worker raised and then with each set of raised workers (phase `set`), each
// worker's rate ÷ its baseline rate in the tuning's window; this re-simulates the recorded plan with each of those
// sets (the placement as recorded, `streamPriority` set to the set's) beside the mix's baseline run, and prints each
// worker's ratio on both, so that what raising a worker changes can be read apart from the placement. The placement
// with none raised is the trail's last kept search (or seed) run; the first line is the run itself, as recorded (its
// own window and baseline run). Candidate calibrations as LABEL=FILE (none: the
// shipped one).
//   node --import tsx bench/priority-sets-sim.ts SET_DIR MIX [LABEL=CALIBRATION_JSON ...]
import { join } from 'node:path'
import { type Plan, type Results, readFile } from '../src/formats/index.ts'
import { simulatorOf } from '../test/measure/sim-vs-gpu.ts'
import { calibrationArgs } from './heldout-workers.ts'

const ROOT = join(import.meta.dirname, '..')

async function main() {
  const [set, mix, ...rest] = process.argv.slice(2)
  if (!set || !mix) throw new Error('usage: priority-sets-sim.ts SET_DIR MIX [LABEL=CALIBRATION_JSON ...]')
  const cands = calibrationArgs(rest)
  const runs = readFile<Results>('results', join(ROOT, set, 'results.json')).runs.filter(
    (r) => r.backend === 'gpu' && r.mix === mix,
  )
  const base = runs.find((r) => r.policy === 'baseline')
  const fit = runs.find((r) => r.policy === 'eclip-fit')
  if (!base?.planFile || !fit?.planFile)
    throw new Error(`${set}: no baseline and eclip-fit runs of ${mix} with plans`)
  const basePlan = readFile<Plan>('plan', join(ROOT, set, base.planFile))
  const plan = readFile<Plan>('plan', join(ROOT, set, fit.planFile))
  const trail = plan.solver.tuning?.runs ?? []
  const names = plan.workers.map((w) => w.name)
  const lastKept = [...trail].reverse().find((t) => (t.phase === 'search' || t.phase === 'seed') && t.kept)
  const variants: { raised: string[]; gpu: number[] | undefined; label: string }[] = [
    {
      raised: plan.workers.filter((w) => w.streamPriority === 'high').map((w) => w.name),
      gpu: fit.workers.map((w, i) => w.throughputRps / (base.workers[i]?.throughputRps as number)),
      label: 'as recorded (the run itself)',
    },
    { raised: [], gpu: lastKept?.workersVsBaseline, label: 'none raised (last kept move)' },
    ...trail
      .filter((t) => t.phase === 'set')
      .map((t) => ({
        raised: t.raised ?? [],
        gpu: t.workersVsBaseline,
        label: `${(t.raised ?? []).join('+')}${t.kept ? ' (kept)' : ''}`,
      })),
  ]
  for (const [label, file] of cands) {
    const sim = simulatorOf({ profiles: 'profiles/h100' }, file)
    const simBase = sim.resimulate(base, basePlan)
    console.log(
      `${label}: ${set} ${mix}; per worker GPU ÷ baseline (tuning window) → simulator, and sim ÷ GPU − 1`,
    )
    console.log(`  ${''.padEnd(44)}${names.map((n) => n.padStart(22)).join('')}`)
    for (const v of variants) {
      const p = structuredClone(plan)
      for (const w of p.workers) {
        if (v.raised.includes(w.name)) w.streamPriority = 'high'
        else delete w.streamPriority
      }
      const s = sim.resimulate(fit, p)
      const cells = s.workers.map((w, i) => {
        const simRatio = w.throughputRps / (simBase.workers[i]?.throughputRps as number)
        const g = v.gpu?.[i]
        const e = g ? `${simRatio / g - 1 >= 0 ? '+' : ''}${(100 * (simRatio / g - 1)).toFixed(0)}%` : ''
        return `${g ? g.toFixed(2) : '–'}→${simRatio.toFixed(2)} ${e}`.padStart(22)
      })
      console.log(`  ${v.label.slice(0, 44).padEnd(44)}${cells.join('')}`)
    }
  }
}

if (process.argv[1] && import.meta.filename === process.argv[1]) await main()
