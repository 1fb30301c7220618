// The simulator against the GPU's interference probe (gpu/scripts/dispatch-probe.py, its `mixes` part): every worker
// of a mix alone and all at once, on the whole GPU and on disjoint partitions (the probe's), simulated closed loop
// with the shipped calibration beside what the probe measured. Disjoint partitions share no SM, so what the simulator
// takes from a worker there is its memory-interference term alone (γ, src/execute/sim/contention.ts); what the GPU
// takes is everything the workers share besides SMs.
// `--extra JSON` merges constants into the directory's calibration (e.g. '{"memoryInterference":0.25}': one γ for
// every profile, their own dropped). With
// `--results FILE,...` (GPU runs of the same mixes and batch) it also prints the STP bound of each mix (docs/design.md
// §6) capped by what every worker kept beside its neighbours on disjoint partitions (x_w ≤ together ÷ alone), plain
// and floored, beside the runs' baseline and eclip-fit STP, and the same floored and capped with each worker's SM-time
// at the latency its rate allows (bench/latency-bound.ts).
//   node --import tsx bench/interference-sim.ts [--profiles profiles/h100] [--extra JSON] [--results FILES]
//     DISPATCH_JSON...
import { readFileSync } from 'node:fs'
import { withCommonGamma } from '../src/execute/sim/contention.ts'
import { scorePlan } from '../src/execute/sim/evaluator.ts'
import { simInputs } from '../src/execute/sim/inputs.ts'
import type { Gpu, Partition, Plan, Profile, Results, Run, WorkerSpec } from '../src/formats/index.ts'
import { readFile } from '../src/formats/index.ts'
import { DEFAULT_MIN_SHARE, makePlan } from '../src/plan/index.ts'
import { stpBound } from '../src/profile/bound.ts'
import { loadGpu, profilesIn } from '../src/profile/store.ts'
import { gridTable } from '../src/report/tables.ts'
import { latencyStpBound, latencyWorker } from './latency-bound.ts'

/** The probe's record of one mix (dispatch.json, part "mixes"): per arm, each worker's median requests/s. */
export interface ProbeMix {
  part: 'mixes'
  mix: string
  models: string[]
  batch: number
  partitionSms: number[]
  /** Each worker's slices (absent in the first runs: the equal runs of disjointSlices). */
  partitionSlices?: number[][]
  median: Record<'whole-alone' | 'whole-all' | 'part-alone' | 'part-all', number[]>
}

/** The probe's k disjoint slice sets: equal runs of the split's groups, the remainder slice left out. */
export function disjointSlices(gpu: Gpu, k: number): number[][] {
  const n = gpu.slices.length
  const width = k > 1 ? Math.max(1, Math.floor((n - 1) / k)) : n - 1
  return Array.from({ length: k }, (_, i) => Array.from({ length: width }, (_, j) => i * width + j))
}

/** `base` (a baseline plan of the mix) with worker i's whole request on partition i + 1 of `sets`. */
export function onPartitions(gpu: Gpu, base: Plan, sets: number[][]): Plan {
  const partitions: Partition[] = [
    { id: 0, slices: gpu.slices.map((s) => s.id), sms: gpu.smCount },
    ...sets.map((slices, i) => ({
      id: i + 1,
      slices,
      sms: slices.reduce((a, s) => a + (gpu.slices[s]?.sms ?? 0), 0),
    })),
  ]
  return {
    ...base,
    policy: 'model-wise',
    pool: { partitions },
    workers: base.workers.map((w, i) => ({
      ...w,
      partitions: [i + 1],
      groups: [{ first: 0, last: w.kernels - 1, partition: i + 1 }],
      meanSms: partitions[i + 1]?.sms ?? 0,
    })),
  }
}

/** The mixes of a probe file (dispatch.json). */
export const probeMixes = (file: string): ProbeMix[] =>
  (JSON.parse(readFileSync(file, 'utf8')) as { rows: { part: string }[] }).rows.filter(
    (r): r is ProbeMix => r.part === 'mixes',
  )

/**
 * One probed mix set up to simulate: its workers (named as the bench names them), their profiles, the baseline plan
 * (every worker on the whole GPU) and the probe's disjoint partitions (checked against the SMs it recorded).
 */
export async function probeSetup(gpu: Gpu, m: ProbeMix, profilesOf: (workers: WorkerSpec[]) => Profile[]) {
  const seen = new Map<string, number>()
  const workers: WorkerSpec[] = m.models.map((model) => {
    const n = seen.get(model) ?? 0
    seen.set(model, n + 1)
    return { name: `${model}#${n}`, model, batch: m.batch, dtype: 'fp16' }
  })
  const profiles = profilesOf(workers)
  const base = await makePlan(gpu, m.mix, workers, profiles, { policy: 'baseline' })
  const parted = onPartitions(gpu, base, m.partitionSlices ?? disjointSlices(gpu, workers.length))
  const sms = parted.pool.partitions.slice(1).map((p) => p.sms)
  if (sms.join() !== m.partitionSms.join())
    throw new Error(`${m.mix}: the probe's partitions had ${m.partitionSms} SMs, these ${sms}`)
  return { workers, profiles, base, parted }
}

/** `plan` with worker i alone. */
export const only = (plan: Plan, i: number): Plan => ({
  ...plan,
  workers: [plan.workers[i] as Plan['workers'][number]],
})

type Arm = 'whole-alone' | 'whole-all' | 'part-alone' | 'part-all'

/** One mix, measured and simulated: per arm, each worker's requests/s. */
export interface MixComparison {
  mix: string
  batch: number
  /** Each worker's model, in the probe's order. */
  models: string[]
  gpu: Record<Arm, number[]>
  sim: Record<Arm, number[]>
}

export interface Comparison {
  mixes: MixComparison[]
  /** Per worker, |sim ÷ GPU − 1| of its rate together ÷ alone on the same partition. */
  errTogether: number[]
  /** Per mix and placement (whole GPU, disjoint), |sim ÷ GPU − 1| of STP (solo: each alone on the whole GPU). */
  errStp: number[]
}

const stpOf = (all: number[], solo: number[]) => all.reduce((a, x, i) => a + x / (solo[i] as number), 0)

/** Re-simulates every mix of the probe files with `dir`'s profiles and calibration (`extra` merged into it). */
export async function compareProbe(
  files: readonly string[],
  dir: string,
  extra: Record<string, unknown> = {},
): Promise<Comparison> {
  const gpu = loadGpu(dir)
  const { inputs } = simInputs(gpu, { dir })
  const profilesOf = profilesIn(dir, gpu)
  // a γ given replaces every profile's own (one γ for all, as the flag says)
  const base =
    'memoryInterference' in extra
      ? withCommonGamma(inputs.calibration, extra.memoryInterference as number)
      : inputs.calibration
  const run = { ...inputs, calibration: { ...base, ...extra }, warmupS: 0.05, windowS: 0.6 }
  const out: Comparison = { mixes: [], errTogether: [], errStp: [] }
  for (const file of files) {
    for (const m of probeMixes(file)) {
      const { workers, profiles, base, parted } = await probeSetup(gpu, m, profilesOf)
      const alone = (plan: Plan) =>
        workers.map(
          (w, i) => scorePlan(run, only(plan, i), [w], [profiles[i] as Profile]).throughputRps[0] ?? 0,
        )
      const sim: Record<Arm, number[]> = {
        'whole-alone': alone(base),
        'whole-all': scorePlan(run, base, workers, profiles).throughputRps,
        'part-alone': alone(parted),
        'part-all': scorePlan(run, parted, workers, profiles).throughputRps,
      }
      const g = m.median
      sim['part-all'].forEach((x, i) => {
        const gpuRatio = (g['part-all'][i] as number) / (g['part-alone'][i] as number)
        out.errTogether.push(Math.abs(x / (sim['part-alone'][i] as number) / gpuRatio - 1))
      })
      for (const all of ['whole-all', 'part-all'] as const)
        out.errStp.push(Math.abs(stpOf(sim[all], sim['whole-alone']) / stpOf(g[all], g['whole-alone']) - 1))
      out.mixes.push({ mix: m.mix, batch: m.batch, models: m.models, gpu: g, sim })
    }
  }
  return out
}

const mean = (xs: number[]) => xs.reduce((a, x) => a + x, 0) / xs.length

export function comparisonText(c: Comparison): string {
  const ratios = (a: number[], b: number[]) => a.map((x, i) => (x / (b[i] as number)).toFixed(2)).join(' / ')
  const rows = c.mixes.flatMap((m) =>
    (['GPU', 'sim'] as const).map((label) => {
      const d = label === 'GPU' ? m.gpu : m.sim
      return [
        label === 'GPU' ? `${m.mix} b${m.batch}` : '',
        label,
        stpOf(d['whole-all'], d['whole-alone']).toFixed(2),
        stpOf(d['part-all'], d['whole-alone']).toFixed(2),
        ratios(d['part-alone'], d['whole-alone']),
        ratios(d['part-all'], d['part-alone']),
      ]
    }),
  )
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`
  return [
    gridTable(
      'Each worker alone and all at once, on the whole GPU and on disjoint partitions: GPU (probe) and simulator',
      [
        'mix',
        'from',
        'STP whole GPU',
        'STP disjoint',
        'alone on its partition ÷ solo',
        'together ÷ alone, same partition',
      ],
      rows,
    ),
    `mean |sim ÷ GPU − 1|: together ÷ alone on the same partition ${pct(mean(c.errTogether))} ` +
      `(max ${pct(Math.max(...c.errTogether))}), STP ${pct(mean(c.errStp))} (max ${pct(Math.max(...c.errStp))})`,
  ].join('\n')
}

/** One mix's bounds beside its recorded runs (STP with the profiles' solo rates, as the runs' metrics). */
export interface CappedBound {
  mix: string
  batch: number
  baseline: number
  eclipFit: number | null
  plain: number
  capped: number
  floored: number | null
  flooredCapped: number | null
  /** Floored and capped, each worker's SM-time at the latency its rate allows (with `profilesOf`; else absent). */
  latency?: number | null
  /** Per worker, share of its solo rate: its cap, the latency-consistent estimate's, baseline's and eclip-fit's. */
  shares?: { cap: number[]; latency: number[] | null; baseline: number[]; eclipFit: number[] | null }
}

/**
 * The STP bound of every probed mix with a baseline run in `runs`, plain and capped by the probe, floored or not; with
 * `profilesOf` (each run's workers' profiles) also the latency-consistent estimate.
 */
export function cappedBounds(
  c: Comparison,
  runs: readonly Run[],
  smCount: number,
  profilesOf?: (workers: WorkerSpec[]) => Profile[],
): CappedBound[] {
  const out: CappedBound[] = []
  for (const m of c.mixes) {
    const gpuRun = (policy: string) =>
      runs.find((r) => r.backend === 'gpu' && r.mix === m.mix && r.batch === m.batch && r.policy === policy)
    const base = gpuRun('baseline')
    const sys = base?.metrics.system
    if (!base || !sys) continue
    const solo = base.workers.map((w) => 1e6 / (w.fullGpuUs as number))
    const area = base.workers.map((w) => w.packedAreaSmUs as number)
    if (
      solo.length !== m.gpu['part-all'].length ||
      !solo.every(Number.isFinite) ||
      !area.every(Number.isFinite)
    )
      continue
    const caps = m.gpu['part-all'].map((x, i) => x / (m.gpu['part-alone'][i] as number))
    const floors = base.workers.map((w, i) => (DEFAULT_MIN_SHARE * w.throughputRps) / (solo[i] as number))
    const fit = gpuRun('eclip-fit')
    const est = profilesOf
      ? latencyStpBound(
          profilesOf(base.workers).map((p, i) =>
            latencyWorker(p, base.workers[i]?.fullGpuUs as number, caps[i] as number, floors[i]),
          ),
          smCount,
        )
      : undefined
    const sharesOf = (r: Run) => r.workers.map((w, i) => w.throughputRps / (solo[i] as number))
    out.push({
      mix: m.mix,
      batch: m.batch,
      baseline: sys.stp,
      eclipFit: fit?.metrics.system?.stp ?? null,
      plain: stpBound(solo, area, smCount).stp,
      capped: stpBound(solo, area, smCount, undefined, caps)?.stp ?? Number.NaN,
      floored: stpBound(solo, area, smCount, floors)?.stp ?? null,
      flooredCapped: stpBound(solo, area, smCount, floors, caps)?.stp ?? null,
      ...(est !== undefined ? { latency: est?.stp ?? null } : {}),
      shares: {
        cap: caps,
        latency: est?.shares ?? null,
        baseline: sharesOf(base),
        eclipFit: fit ? sharesOf(fit) : null,
      },
    })
  }
  return out
}

export function boundsText(rows: readonly CappedBound[]): string {
  const f = (x: number | null, d = 2) => (x === null || !Number.isFinite(x) ? '—' : x.toFixed(d))
  const r = (a: number | null, b: number | null) => (a === null || b === null ? null : a / b)
  return gridTable(
    'The STP bound capped by what each worker kept beside its neighbours on disjoint partitions (÷ the runs’ baseline STP)',
    [
      'mix',
      'baseline STP',
      'eclip-fit',
      'bound',
      'capped',
      'floored',
      'floored+capped',
      'eclip-fit ÷ capped',
      'eclip-fit ÷ floored+capped',
      ...(rows.some((b) => b.latency !== undefined) ? ['latency-consistent', 'eclip-fit ÷ it'] : []),
    ],
    rows.map((b) => [
      `${b.mix} b${b.batch}`,
      f(b.baseline),
      f(r(b.eclipFit, b.baseline), 3),
      f(r(b.plain, b.baseline)),
      f(r(b.capped, b.baseline)),
      f(r(b.floored, b.baseline)),
      f(r(b.flooredCapped, b.baseline)),
      f(r(b.eclipFit, b.capped)),
      f(r(b.eclipFit, b.flooredCapped)),
      ...(b.latency !== undefined ? [f(r(b.latency, b.baseline)), f(r(b.eclipFit, b.latency))] : []),
    ]),
  )
}

/** Per worker, where each mix's workers stand: their caps, the estimate's shares and what the runs gave them. */
export function sharesText(rows: readonly CappedBound[]): string {
  const f = (xs: readonly number[] | null | undefined) => (xs ? xs.map((x) => x.toFixed(2)).join(' / ') : '—')
  return gridTable(
    "Each worker's share of its solo rate: its cap (together ÷ alone), the latency-consistent estimate's, the runs'",
    ['mix', 'cap', 'estimate', 'baseline', 'eclip-fit'],
    rows.map((b) => [
      `${b.mix} b${b.batch}`,
      f(b.shares?.cap),
      f(b.shares?.latency),
      f(b.shares?.baseline),
      f(b.shares?.eclipFit),
    ]),
  )
}

async function main() {
  const args = process.argv.slice(2)
  let dir = 'profiles/h100'
  let extra = {}
  let results: string[] = []
  const files: string[] = []
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--profiles') dir = args[++i] as string
    else if (args[i] === '--extra') extra = JSON.parse(args[++i] as string)
    else if (args[i] === '--results') results = (args[++i] as string).split(',')
    else files.push(args[i] as string)
  }
  if (files.length === 0)
    throw new Error('usage: interference-sim.ts [--profiles DIR] [--extra JSON] DISPATCH_JSON...')
  const c = await compareProbe(files, dir, extra)
  console.log(comparisonText(c))
  if (results.length > 0) {
    const runs = results.flatMap((f) => readFile<Results>('results', f).runs)
    const gpu = loadGpu(dir)
    const rows = cappedBounds(c, runs, gpu.smCount, profilesIn(dir, gpu))
    console.log(`\n${boundsText(rows)}\n\n${sharesText(rows)}`)
  }
}

if (process.argv[1] && import.meta.filename === process.argv[1]) await main()
