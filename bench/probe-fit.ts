// Each profile's memory-interference γ (Calibration.profileInterference) fitted on the interference probe's
// disjoint-partition runs (gpu/scripts/dispatch-probe.py, part `mixes`; bench/interference-sim.ts re-simulates them):
// there no SM is shared, so the simulator's only loss beside the others is its memory term, and each worker's
// measured together ÷ alone on its partition isolates what that term should take. Per batch size (the probe files
// given are grouped by their mixes' batch), every mix is re-simulated with one γ for every profile at each grid point;
// a profile's γ is where the mean over its workers of ln(simulated ÷ measured together ÷ alone) crosses 0 (linear
// between grid points, src/calibrate/profile-interference.ts's `crossing`). A worker's slowdown depends on its own γ
// and on its neighbours' busy SMs only, so one sweep fits every profile at once; the fit is then simulated again to
// show what is left (per worker and per mix).
// `--fit-aggressor` fits form B as well: γ per profile as victim and a weight per profile as aggressor (a
// neighbour's busy SMs count × its weight, Calibration.aggressorWeight, src/execute/sim/contention.ts), by coordinate
// search from (A). `--write FILE` / `--write-b FILE` write the profile directory's sim-calibration.json with (A)'s /
// (B)'s constants as its profileInterference (candidates: the shipped file is not touched).
//   node --import tsx bench/probe-fit.ts [--profiles profiles/h200] [--fit-aggressor] [--write FILE] [--write-b FILE]
//     DISPATCH_JSON...
import { readFileSync, writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { crossing } from '../src/calibrate/profile-interference.ts'
import { type Calibration, profileKey } from '../src/execute/sim/contention.ts'
import { scorePlan } from '../src/execute/sim/evaluator.ts'
import { simInputs } from '../src/execute/sim/inputs.ts'
import type { Plan, Profile, SimCalibration, WorkerSpec } from '../src/formats/index.ts'
import { loadGpu, profilesIn } from '../src/profile/store.ts'
import { type Comparison, compareProbe, only, probeMixes, probeSetup } from './interference-sim.ts'

export const GRID = [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 1.2, 1.4, 1.7, 2]

/** The directory's one γ (its sim-calibration.json's memoryInterference), which the fits are compared with. */
const commonGammaOf = (dir: string) =>
  (JSON.parse(readFileSync(join(dir, 'sim-calibration.json'), 'utf8')) as SimCalibration).memoryInterference

/** Per worker of every mix: its profile key and ln(sim ÷ GPU) of together ÷ alone on its partition. */
export function logErrors(c: Comparison): { key: string; mix: string; batch: number; err: number }[] {
  return c.mixes.flatMap((m) => {
    const models = m.models
    return m.gpu['part-all'].map((g, i) => {
      const gpuRatio = g / (m.gpu['part-alone'][i] as number)
      const simRatio = (m.sim['part-all'][i] as number) / (m.sim['part-alone'][i] as number)
      return {
        key: profileKey({ model: models[i] as string, batch: m.batch, dtype: 'fp16' }),
        mix: m.mix,
        batch: m.batch,
        err: Math.log(simRatio / gpuRatio),
      }
    })
  })
}

const mean = (xs: readonly number[]) => xs.reduce((a, x) => a + x, 0) / xs.length
const byKey = (rows: readonly { key: string; err: number }[]) => {
  const out = new Map<string, number[]>()
  for (const r of rows) out.set(r.key, [...(out.get(r.key) ?? []), r.err])
  return out
}

/** The probe's mixes on their disjoint partitions, each worker alone simulated once (no neighbour: no γ term). */
async function partSetup(files: readonly string[], dir: string) {
  const gpu = loadGpu(dir)
  const { inputs } = simInputs(gpu, { dir })
  const profilesOf = profilesIn(dir, gpu)
  const base = { ...inputs, warmupS: 0.05, windowS: 0.6 }
  const mixes: {
    mix: string
    keys: string[]
    workers: WorkerSpec[]
    profiles: Profile[]
    plan: Plan
    gpuRatio: number[]
    alone: number[]
  }[] = []
  for (const f of files)
    for (const m of probeMixes(f)) {
      const { workers, profiles, parted: plan } = await probeSetup(gpu, m, profilesOf)
      const alone = workers.map(
        (w, i) => scorePlan(base, only(plan, i), [w], [profiles[i] as Profile]).throughputRps[0] as number,
      )
      const gpuRatio = m.median['part-all'].map((x, i) => x / (m.median['part-alone'][i] as number))
      mixes.push({
        mix: m.mix,
        keys: workers.map(profileKey),
        workers,
        profiles,
        plan,
        gpuRatio,
        alone,
      })
    }
  /** Per worker of every mix, ln(sim ÷ GPU) of together ÷ alone under `cal` (the directory's, these merged). */
  const errors = (cal: Partial<Calibration>) =>
    mixes.flatMap((m) => {
      const run = { ...base, calibration: { ...inputs.calibration, ...cal } }
      const all = scorePlan(run, m.plan, m.workers, m.profiles).throughputRps
      return all.map((x, i) => ({
        key: m.keys[i] as string,
        mix: m.mix,
        err: Math.log(x / (m.alone[i] as number) / (m.gpuRatio[i] as number)),
      }))
    })
  return { mixes, errors }
}

/**
 * Form B: γ per profile (victim) and an aggressor weight per profile, by coordinate search on the sum of squared
 * ln errors over every worker of the probe's mixes, from (A)'s γ and every weight 1; the weights then scaled to mean 1
 * (γ × their mean: the same products, the SM cap aside).
 */
export async function fitAggressor(files: readonly string[], dir: string, gamma0: Record<string, number>) {
  const { errors } = await partSetup(files, dir)
  const keys = Object.keys(gamma0).sort()
  const g = { ...gamma0 }
  const a: Record<string, number> = Object.fromEntries(keys.map((k) => [k, 1]))
  const g0 = commonGammaOf(dir)
  const sse = () =>
    errors({ memoryInterference: g0, profileInterference: { ...g }, aggressorWeight: { ...a } }).reduce(
      (s, e) => s + e.err * e.err,
      0,
    )
  let best = sse()
  const log: string[] = [`start (A's γ, every a 1): Σ ln² ${best.toFixed(4)}`]
  for (const step of [0.4, 0.2, 0.1, 0.05]) {
    for (let round = 0; round < 2; round++) {
      let moved = false
      for (const k of keys)
        for (const which of [g, a]) {
          const x0 = which[k] as number
          for (const f of [1 + step, 1 / (1 + step)]) {
            which[k] = x0 * f
            const v = sse()
            if (v < best - 1e-6) {
              best = v
              moved = true
              break
            }
            which[k] = x0
          }
        }
      log.push(`step ${step} round ${round + 1}: Σ ln² ${best.toFixed(4)}`)
      if (!moved) break
    }
  }
  const scale = keys.reduce((s, k) => s + (a[k] as number), 0) / keys.length
  for (const k of keys) {
    a[k] = Math.round(((a[k] as number) / scale) * 1000) / 1000
    g[k] = Math.round((g[k] as number) * scale * 1000) / 1000
  }
  const final = errors({ memoryInterference: g0, profileInterference: g, aggressorWeight: a })
  log.push(`scaled to mean a 1: Σ ln² ${final.reduce((s, e) => s + e.err * e.err, 0).toFixed(4)}`)
  return { gamma: g, aggressor: a, final, log }
}

async function main() {
  const args = process.argv.slice(2)
  let dir = 'profiles/h200'
  let write: string | undefined
  let writeB: string | undefined
  let aggressorFit = false
  const files: string[] = []
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--profiles') dir = args[++i] as string
    else if (args[i] === '--write') write = args[++i] as string
    else if (args[i] === '--write-b') writeB = args[++i] as string
    else if (args[i] === '--fit-aggressor') aggressorFit = true
    else files.push(args[i] as string)
  }
  const { errors } = await partSetup(files, dir)
  const curves = new Map<string, { gamma: number; meanLog: number }[]>()
  for (const g of GRID)
    for (const [k, xs] of byKey(errors({ memoryInterference: g, profileInterference: {} })))
      curves.set(k, [...(curves.get(k) ?? []), { gamma: g, meanLog: mean(xs) }])
  const gamma: Record<string, number> = {}
  const lines: string[] = []
  lines.push(
    `(A) γ per profile where mean ln(sim ÷ GPU) of together ÷ alone (disjoint partitions) crosses 0; grid ${GRID.join(', ')}`,
  )
  const g0 = commonGammaOf(dir)
  const shippedErr = byKey(errors({ memoryInterference: g0, profileInterference: {} }))
  const fits = [...curves.keys()].sort().map((k) => {
    const x = crossing(curves.get(k) as { gamma: number; meanLog: number }[])
    gamma[k] = Math.round(x.gamma * 1000) / 1000
    return { k, atEdge: x.atEdge }
  })
  const b = aggressorFit ? await fitAggressor(files, dir, gamma) : undefined
  lines.push(
    `${'profile'.padEnd(22)} ${'workers'.padStart(7)} ${'γ (A)'.padStart(8)}  ${`mean ln at γ ${g0}`.padStart(16)}${b ? `  ${'γ (B)'.padStart(7)} ${'a (B)'.padStart(7)}` : ''}`,
  )
  for (const { k, atEdge } of fits)
    lines.push(
      `${k.padEnd(22)} ${String((shippedErr.get(k) ?? []).length).padStart(7)} ${(gamma[k] as number).toFixed(3).padStart(7)}${atEdge ? '*' : ' '}  ${mean(
        shippedErr.get(k) ?? [],
      )
        .toFixed(3)
        .padStart(16)}` +
        (b
          ? `  ${(b.gamma[k] as number).toFixed(3).padStart(7)} ${(b.aggressor[k] as number).toFixed(3).padStart(7)}`
          : ''),
    )
  if (b) lines.push('', '(B) coordinate search:', ...b.log.map((l) => `  ${l}`))
  // the whole probe again (every arm), the directory's one γ against the fits
  const shipped = await compareProbe(files, dir, { memoryInterference: g0 })
  const fitted = await compareProbe(files, dir, { profileInterference: gamma })
  const fittedB = b
    ? await compareProbe(files, dir, { profileInterference: b.gamma, aggressorWeight: b.aggressor })
    : undefined
  const pct = (xs: number[]) =>
    `mean ${(100 * mean(xs)).toFixed(1)}%, max ${(100 * Math.max(...xs)).toFixed(1)}%`
  lines.push('')
  lines.push(
    `|sim ÷ GPU − 1| of together ÷ alone per worker: one γ ${g0}: ${pct(shipped.errTogether)}; (A): ${pct(fitted.errTogether)}` +
      (fittedB ? `; (B): ${pct(fittedB.errTogether)}` : ''),
  )
  lines.push(
    `STP (whole GPU and disjoint, per mix): one γ ${g0}: ${pct(shipped.errStp)}; (A): ${pct(fitted.errStp)}` +
      (fittedB ? `; (B): ${pct(fittedB.errStp)}` : ''),
  )
  lines.push('')
  lines.push(`per worker, ln(sim ÷ GPU) of together ÷ alone: one γ ${g0} → (A)${fittedB ? ' → (B)' : ''}`)
  const cols = [shipped, fitted, ...(fittedB ? [fittedB] : [])].map(logErrors)
  const f3 = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(3)}`
  for (const m of fitted.mixes) {
    const i0 = (cols[0] as ReturnType<typeof logErrors>).findIndex(
      (r) => r.mix === m.mix && r.batch === m.batch,
    )
    const ws = m.models.map(
      (model, j) => `${model} ${cols.map((c) => f3(c[i0 + j]?.err as number)).join('→')}`,
    )
    lines.push(`  ${`${m.mix} b${m.batch}`.padEnd(10)} ${ws.join('  ')}`)
  }
  console.log(lines.join('\n'))
  const candidate = (file: string, pi: Record<string, unknown>, method: string) => {
    const cal = JSON.parse(readFileSync(join(dir, 'sim-calibration.json'), 'utf8'))
    cal.profileInterference = {
      ...pi,
      measured: {
        date: new Date().toISOString().slice(0, 10),
        method,
        tool: 'bench/probe-fit.ts',
        host: hostname(),
        gpu: cal.gpu.name,
        notes: `probe runs ${files.join(', ')}`,
      },
    }
    writeFileSync(file, `${JSON.stringify(cal, null, 1)}\n`)
  }
  if (write)
    candidate(
      write,
      { gamma },
      "per profile, γ where the mean of ln(simulated ÷ measured together ÷ alone) over its workers on the interference probe's disjoint partitions crosses 0 (bench/probe-fit.ts)",
    )
  if (writeB && b)
    candidate(
      writeB,
      { gamma: b.gamma, aggressor: b.aggressor },
      "per profile, γ (victim) and aggressor weight by coordinate search on Σ ln²(simulated ÷ measured together ÷ alone) over the interference probe's disjoint partitions (bench/probe-fit.ts --fit-aggressor)",
    )
}

if (process.argv[1] && import.meta.filename === process.argv[1]) await main()
