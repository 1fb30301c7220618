// Why measured STP stays below the STP bound (src/profile/bound.ts): for each mix of a GPU results set, re-simulated
// with the plans its runs recorded, the bound as the metrics state it (right-sizes at 5% tolerance) and with the
// right-sizes at the simulator's saturation tolerance (the SMs a kernel takes when it may); the measured STP of every
// policy, the simulator's at the shipped calibration, without memory interference (γ = 0) and with γ = 0 and fair
// sharing, and the simulator's busy-SM fraction. A simulated run that fills the SMs and still sits far below the bound
// spends SM-time beyond the right-sizes; one with idle SMs is held back by what its workers have in flight.
//   node --import tsx bench/bound-gap.ts [--profiles profiles/h100] RESULTS_JSON...
import { join } from 'node:path'
import { type Case, prepareCases, simulateCases } from '../src/calibrate/calibrate.ts'
import { recordedRunSet } from '../src/calibrate/run.ts'
import { withCommonGamma } from '../src/execute/sim/contention.ts'
import { calibrationFrom } from '../src/execute/sim/index.ts'
import type { PowerModel, Profile, Results, Run, SimCalibration, WorkerSpec } from '../src/formats/index.ts'
import { readFile } from '../src/formats/index.ts'
import { stp } from '../src/measure/system.ts'
import { packedArea, stpBound } from '../src/profile/bound.ts'
import { DEFAULT_TOLERANCE } from '../src/profile/rightsize.ts'
import { loadGpu, loadPrimitives, profilesIn } from '../src/profile/store.ts'
import { policyLabel } from '../src/report/plots.ts'
import { gridTable } from '../src/report/tables.ts'

/** One mix run: its bound two ways, measured STP and the simulator's under each variant (STP, busy-SM fraction). */
export interface GapRow {
  mix: string
  policy: string
  /** The bound at the metrics' right-size tolerance, and at the simulator's saturation tolerance. */
  bound: number
  boundAtSaturation: number
  /** Each worker's SM-time at its solo rate, right-sized, as a fraction of the GPU's: Σ ≤ 1 makes the bound N. */
  soloShares: number[]
  measured: number
  /** The planner's own prediction of STP ÷ baseline's (plan.solver.stp), where its plan carries one. */
  plannedVsBaseline: number | null
  /** Per worker, the share of its kernel time (full-GPU times) that the plan runs on a whole-GPU partition. */
  wholeGpuShare: number[]
  sim: Record<string, { stp: number; busy: number | null }>
}

/** STP with the profiles' whole-GPU rates as solo rates (what the bench reports without solo runs). */
const profileStp = (r: Run, profileOf: (w: WorkerSpec) => Profile) =>
  stp(
    r.workers.map((w) => w.throughputRps),
    r.workers.map((w) => 1e6 / (profileOf(w).requestUs.at(-1) as number)),
  )

/** The simulator's window per run: long enough for this many requests of the slowest worker, within [min, max] s. */
export interface GapWindow {
  requests: number
  minS: number
  maxS: number
}

export async function boundGap(
  files: string[],
  profilesDir: string,
  window: GapWindow = { requests: 200, minS: 0.5, maxS: 4 },
): Promise<{ rows: GapRow[]; variants: string[] }> {
  const gpu = loadGpu(profilesDir)
  const primitives = loadPrimitives(profilesDir, gpu)
  if (!primitives) throw new Error(`${profilesDir}: no primitives.json`)
  const profilesFor = profilesIn(profilesDir, gpu)
  const profileOf = (w: Pick<WorkerSpec, 'model' | 'batch' | 'dtype'>) =>
    profilesFor([{ name: w.model, model: w.model, batch: w.batch, dtype: w.dtype }])[0] as Profile
  const warn = (w: string) => process.stderr.write(`${w}\n`)
  const cases: Case[] = await prepareCases({
    sets: files.map((f) => {
      const results = readFile<Results>('results', f)
      return recordedRunSet(f, results, f, profilesDir, primitives, warn)
    }),
    gpu,
    profilesFor,
    primitives,
    requestsPerWindow: window.requests,
    minWindowS: window.minS,
    maxWindowS: window.maxS,
  })
  const shipped = readFile<SimCalibration>('sim-calibration', join(profilesDir, 'sim-calibration.json'))
  const power = readFile<PowerModel>('power', join(profilesDir, 'power.json'))
  const base = calibrationFrom(shipped)
  const variants: Record<string, typeof base> = {
    calibration: base,
    'γ 0': withCommonGamma(base, 0),
    'γ 0, fair': { ...withCommonGamma(base, 0), sharing: 'fair' },
  }
  const sims = Object.fromEntries(
    Object.entries(variants).map(([k, cal]) => [k, simulateCases(cases, cal, power)]),
  )
  const rows = cases
    .filter((c) => c.gpu.role === 'mix')
    .map((c) => {
      const i = cases.indexOf(c)
      const ws = c.gpu.workers
      const soloRps = ws.map((w) => 1e6 / (profileOf(w).requestUs.at(-1) as number))
      const areas = (tol: number) => ws.map((w) => packedArea(profileOf(w), tol))
      const a = areas(DEFAULT_TOLERANCE)
      const plan = c.spec.plan
      const sms = new Map(plan.pool.partitions.map((p) => [p.id, p.sms]))
      const wholeGpuShare = plan.workers.map((pw, j) => {
        const t = profileOf(ws[j] as WorkerSpec).kernels.map((k) => k.timesUs.at(-1) as number)
        const sum = (g: { first: number; last: number }) =>
          t.slice(g.first, g.last + 1).reduce((x, y) => x + y, 0)
        const whole = pw.groups
          .filter((g) => sms.get(g.partition) === gpu.smCount)
          .reduce((x, g) => x + sum(g), 0)
        return whole / t.reduce((x, y) => x + y, 0)
      })
      const planned = plan.solver.stp
      return {
        mix: c.gpu.mix,
        policy: policyLabel(c.gpu),
        bound: stpBound(soloRps, a, gpu.smCount).stp,
        boundAtSaturation: stpBound(soloRps, areas(base.saturationTolerance), gpu.smCount).stp,
        soloShares: soloRps.map((s, j) => (s * (a[j] as number)) / (gpu.smCount * 1e6)),
        measured: profileStp(c.gpu, profileOf),
        plannedVsBaseline: planned && c.gpu.policy !== 'baseline' ? planned.value / planned.baseline : null,
        wholeGpuShare,
        sim: Object.fromEntries(
          Object.entries(sims).map(([k, runs]) => {
            const r = runs[i] as Run
            return [k, { stp: profileStp(r, profileOf), busy: r.metrics.meanSmUtilisation }]
          }),
        ),
      }
    })
  return { rows, variants: Object.keys(variants) }
}

const f = (v: number | null | undefined, d = 2) => (v === null || v === undefined ? '–' : v.toFixed(d))

export function gapText({ rows, variants }: { rows: GapRow[]; variants: string[] }): string {
  const header = [
    'mix',
    'policy',
    'bound',
    'bound@sat',
    'solo SM shares',
    'measured',
    '÷bound',
    'planned÷base',
    'whole-GPU share',
    ...variants.flatMap((v) => [`sim ${v}`, 'busy']),
  ]
  return gridTable(
    '',
    header,
    rows.map((r) => [
      r.mix,
      r.policy,
      f(r.bound),
      f(r.boundAtSaturation),
      r.soloShares.map((s) => f(s)).join('/'),
      f(r.measured),
      f(r.measured / r.bound),
      f(r.plannedVsBaseline, 3),
      r.wholeGpuShare.map((x) => f(x)).join('/'),
      ...variants.flatMap((v) => [f(r.sim[v]?.stp), f(r.sim[v]?.busy)]),
    ]),
  )
    .split('\n')
    .slice(1)
    .join('\n')
}

async function main() {
  const args = process.argv.slice(2)
  const i = args.indexOf('--profiles')
  const profiles = i >= 0 ? (args.splice(i, 2)[1] as string) : 'profiles/h100'
  if (args.length === 0) throw new Error('usage: bound-gap.ts [--profiles DIR] RESULTS_JSON...')
  console.log(gapText(await boundGap(args, profiles)))
}

if (process.argv[1] && import.meta.filename === process.argv[1]) await main()
