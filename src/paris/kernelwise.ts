// eclip-kw: eclip's kernel-wise plans as a multi-GPU inference server, for `eclip paris` (compare.ts's eclip-kw/fifo
// and eclip-kw/elsa). On every GPU all of the scenario's models are co-located, one worker per model serving one query
// at a time, each worker's kernels on the partitions eclip's plans give them (src/plan, from per-kernel profiles); a
// query of model m goes to m's worker on one of the GPUs (the dispatcher: sim.ts with dedicated workers).
//
// THE SERVER'S PLANS: one `eclip` plan per batch size b, made for the mix of every model that has b in its batch mix,
// all at b (`kernelWisePlans`). A worker's graph for (m, b) follows that plan and is captured once at start-up, so a
// query's kernel placement cannot depend on what the other workers happen to run at that moment. Every GPU holds the
// union of those plans' pools (one partition per distinct slice set: `KernelWisePlans.pool`). The simulator and the
// GPU run (src/paris/gpu.ts, gpu/eclip_gpu/paris.py) run these same plans.
//
// Service times for the request-level simulator (and ELSA's estimates on the GPU) come from the kernel-level
// simulator (src/execute/sim/engine.ts), not from a latency table at a partition size: for every combination of batch
// sizes (one per model, from the models' mixes) the composed plan (each worker's groups from its batch's plan, over
// the union pool) is run closed-loop (every worker always has a query in flight, in graph mode, with the profile
// directory's primitives, power model and contention calibration), and each worker's mean request latency is read
// off. The co-located latency of (m, b) is the mean over the combinations where m runs at b, weighted by the other
// models' batch probabilities. The request-level simulator then serves each query for that latency × the log-normal
// noise every scheme gets.
//
// THE APPROXIMATION: contention is fixed at the level of that closed-loop run — every other model busy all the time —
// whatever the load. At low load a real co-located worker would often run next to idle neighbours and be faster, so
// the numbers are pessimistic there; near saturation (where the sustained load is decided) the workers are busy most
// of the time and the closed loop is close. On a GPU (`eclip paris --backend gpu`) the service is the real one.
//
// Per-kernel profiles exist only at some batch sizes (profiles/h100: 1 and 8), and a kernel-wise plan cannot be
// interpolated between batches: the scheme needs a profile for every (model, batch) of the scenario's mixes.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { RunResult } from '../execute/backend.ts'
import { simulate as simulateKernels } from '../execute/sim/engine.ts'
import type { EvaluatorInputs } from '../execute/sim/evaluator.ts'
import { simInputs } from '../execute/sim/inputs.ts'
import {
  type Plan,
  type Partition as PlanPartition,
  type PlanWorker,
  type Profile,
  profileFileName,
  readFile,
  UserError,
  type WorkerSpec,
} from '../formats/index.ts'
import { makePlan } from '../plan/index.ts'
import type { Partition } from './partition.ts'
import type { LoadedScenario } from './scenario.ts'

/** The co-located service of every (model, batch) of a scenario under eclip's kernel-wise plans. */
export interface KernelWise {
  /** The profile directory the plans were made from. */
  profiles: string
  /** Per scenario model, per batch index: mean co-located request latency, µs. */
  latencyUs: number[][]
  /** Per scenario model, per batch index: the profile's solo whole-GPU request latency, µs. */
  soloUs: number[][]
  /**
   * Per scenario model: the SMs its worker keeps busy while it serves (its share of the busy SMs of the closed-loop
   * runs, time-weighted over its batch mix). The request-level simulator's utilisation counts a query's SM-time as
   * this × its service time, so Σ over a GPU's workers ≤ its SMs.
   */
  sms: number[]
  /** The server's plans: per batch, eclip's plan; per GPU, their pools' union (see the header). */
  server: KernelWisePlans
  /** Batch combinations simulated. */
  combinations: number
  /** Closed-loop window per combination, s (after a warm-up of warmupS). */
  windowS: number
  warmupS: number
  seed: number
  notes: string[]
}

export interface KernelWiseOptions {
  /** Seed of the kernel-level runs. Default 1. */
  seed?: number
  /** Closed-loop window per batch combination, s. Default 1. */
  windowS?: number
  warmupS?: number
  /** The kernel-level simulator's inputs; default: from the profile directory (simInputs). */
  inputs?: EvaluatorInputs
  /** Reads one profile; default: `<dir>/<model>.b<batch>.<dtype>.json`. */
  readProfile?: (model: string, batch: number) => Profile
}

const profilePath = (dir: string, model: string, batch: number, dtype: string) =>
  join(dir, profileFileName(model, batch, dtype))

/** The (model, batch) pairs of the scenario's mixes with no per-kernel profile in `dir`, as "model bN". */
export function missingProfiles(sc: LoadedScenario, dir: string): string[] {
  return sc.models.flatMap((m) =>
    m.batches
      .filter((b) => !existsSync(profilePath(dir, m.model, b, m.table.dtype)))
      .map((b) => `${m.model} b${b}`),
  )
}

/** The refusal when profiles are missing: names every missing (model, batch). */
export function missingProfilesMessage(missing: string[], dir: string): string {
  return (
    `eclip-kw needs a per-kernel profile for every (model, batch) of the scenario's mixes; ${dir} has none for ` +
    `${missing.join(', ')} (profiles/h100 has batches 1 and 8 only: use a scenario whose mixes stay within the ` +
    'profiled batches, e.g. examples/paris-kw.yaml, or profile the missing batches with `eclip profile`)'
  )
}

/**
 * The co-located latency table of the scenario's models under eclip's kernel-wise plans (see the header). Throws a
 * UserError naming the missing profiles when some (model, batch) has none.
 */
export async function kernelWise(
  sc: LoadedScenario,
  dir: string,
  opts: KernelWiseOptions = {},
): Promise<KernelWise> {
  const readProfile =
    opts.readProfile ??
    ((model: string, batch: number) => {
      const dtype = sc.models.find((m) => m.model === model)?.table.dtype ?? 'fp16'
      return readFile<Profile>('profile', profilePath(dir, model, batch, dtype))
    })
  if (!opts.readProfile) {
    const missing = missingProfiles(sc, dir)
    if (missing.length) throw new UserError(missingProfilesMessage(missing, dir))
  }
  const notes: string[] = []
  let inputs = opts.inputs
  if (!inputs) {
    const r = simInputs(sc.gpu, { dir })
    inputs = r.inputs
    notes.push(...r.warnings)
  }
  const seed = opts.seed ?? 1
  const windowS = opts.windowS ?? 1
  const warmupS = opts.warmupS ?? 0.1
  const M = sc.models.length
  const profiles = sc.models.map((m) => m.batches.map((b) => readProfile(m.model, b)))
  const server = await kernelWisePlans(sc, profiles)
  // sums over the combinations, weighted by the other models' batch probabilities
  const latSum = sc.models.map((m) => m.batches.map(() => 0))
  const weightSum = sc.models.map((m) => m.batches.map(() => 0))
  const smSum = sc.models.map((m) => m.batches.map(() => 0))
  let combinations = 0
  const idx = new Array<number>(M).fill(0)
  for (;;) {
    const workers: WorkerSpec[] = sc.models.map((m, i) => ({
      name: `${m.model}#0`,
      model: m.model,
      batch: m.batches[idx[i] ?? 0] ?? 1,
      dtype: m.table.dtype,
    }))
    const profs = sc.models.map((_, i) => profiles[i]?.[idx[i] ?? 0] as Profile)
    const mix = `kw:${workers.map((w) => `${w.model}.b${w.batch}`).join('+')}`
    const plan = composePlan(server, idx, mix)
    const run = simulateKernels(
      {
        key: `${mix}|eclip|graph|closed`,
        role: 'mix',
        mix,
        mode: plan.workers.some((w) => w.groups.length > 1) ? 'graph' : null,
        batch: null,
        gpu: sc.gpu,
        plan,
        workers,
        profiles: profs,
        loop: { kind: 'closed' },
        warmupS,
        windowS,
        seed: seed + combinations,
        primitives: inputs.primitives,
        power: inputs.power,
      },
      { calibration: inputs.calibration },
    )
    const { meanUs, smShare } = workerStats(run, planSmUs(profs, plan))
    combinations++
    for (let i = 0; i < M; i++) {
      const w = sc.models.reduce((a, m, j) => (j === i ? a : a * (m.probs[idx[j] ?? 0] ?? 0)), 1)
      const b = idx[i] ?? 0
      const mean = meanUs[i] ?? Number.NaN
      if (!(mean > 0))
        throw new Error(`eclip-kw: ${mix}: no request of ${workers[i]?.name} completed in ${windowS} s`)
      ;(latSum[i] as number[])[b] = ((latSum[i] as number[])[b] ?? 0) + w * mean
      ;(weightSum[i] as number[])[b] = ((weightSum[i] as number[])[b] ?? 0) + w
      ;(smSum[i] as number[])[b] = ((smSum[i] as number[])[b] ?? 0) + w * (smShare[i] ?? 0)
    }
    // next combination (odometer over the models' batch indices)
    let k = 0
    for (; k < M; k++) {
      const n = sc.models[k]?.batches.length ?? 1
      idx[k] = ((idx[k] ?? 0) + 1) % n
      if (idx[k] !== 0) break
    }
    if (k === M) break
  }
  const latencyUs = latSum.map((row, i) => row.map((s, b) => s / ((weightSum[i] as number[])[b] ?? 1)))
  const smsAt = smSum.map((row, i) => row.map((s, b) => s / ((weightSum[i] as number[])[b] ?? 1)))
  const sms = sc.models.map((m, i) => {
    // time-weighted over the mix: Σ P(b)·L(b)·SMs(b) / Σ P(b)·L(b)
    let num = 0
    let den = 0
    m.batches.forEach((_, b) => {
      const t = (m.probs[b] ?? 0) * (latencyUs[i]?.[b] ?? 0)
      num += t * (smsAt[i]?.[b] ?? 0)
      den += t
    })
    return den > 0 ? Math.round((num / den) * 10) / 10 : 0
  })
  const soloUs = profiles.map((row) => row.map((p) => p.requestUs[p.requestUs.length - 1] ?? Number.NaN))
  return { profiles: dir, latencyUs, soloUs, sms, server, combinations, windowS, warmupS, seed, notes }
}

/** The eclip-kw server's plans (see the header): what the simulator composes and the GPU captures. */
export interface KernelWisePlans {
  /** The batch sizes planned, ascending; plans[i] is batches[i]'s. */
  batches: number[]
  plans: Plan[]
  /** One GPU's partitions: the union of the plans' pools, one per distinct slice set, ids 0.. in first-seen order. */
  pool: PlanPartition[]
  /** Per scenario model, per batch index: its worker in that batch's plan, partition ids mapped into `pool`. */
  workers: PlanWorker[][]
}

/**
 * One eclip plan per batch size of the scenario: the mix of every model that has that batch, all at it. `profiles`
 * is per scenario model, per batch index (as the scenario lists its batches).
 */
export async function kernelWisePlans(sc: LoadedScenario, profiles: Profile[][]): Promise<KernelWisePlans> {
  const batches = [...new Set(sc.models.flatMap((m) => m.batches))].sort((a, b) => a - b)
  const pool: PlanPartition[] = []
  const idOf = new Map<string, number>()
  const workers: PlanWorker[][] = sc.models.map(() => [])
  const plans: Plan[] = []
  for (const b of batches) {
    const at = sc.models.flatMap((m, i) => (m.batches.includes(b) ? [i] : []))
    const specs: WorkerSpec[] = at.map((i) => {
      const m = sc.models[i] as LoadedScenario['models'][number]
      return { name: `${m.model}#0`, model: m.model, batch: b, dtype: m.table.dtype }
    })
    const profs = at.map((i) => {
      const m = sc.models[i] as LoadedScenario['models'][number]
      return profiles[i]?.[m.batches.indexOf(b)] as Profile
    })
    const plan = await makePlan(sc.gpu, `kw:b${b}:${specs.map((w) => w.model).join('+')}`, specs, profs, {
      policy: 'eclip',
    })
    plans.push(plan)
    const remap = new Map<number, number>()
    for (const p of plan.pool.partitions) {
      const key = [...p.slices].sort((x, y) => x - y).join(',')
      let id = idOf.get(key)
      if (id === undefined) {
        id = pool.length
        idOf.set(key, id)
        pool.push({ ...p, id })
      }
      remap.set(p.id, id)
    }
    const to = (id: number) => remap.get(id) ?? id
    at.forEach((i, k) => {
      const w = plan.workers[k] as PlanWorker
      const m = sc.models[i] as LoadedScenario['models'][number]
      ;(workers[i] as PlanWorker[])[m.batches.indexOf(b)] = {
        ...w,
        partitions: w.partitions.map(to),
        groups: w.groups.map((g) => ({ ...g, partition: to(g.partition) })),
      }
    })
  }
  return { batches, plans, pool, workers }
}

/**
 * The plan one batch combination runs (idx: per model, its batch index): the union pool, each worker from its batch's
 * plan.
 */
export function composePlan(server: KernelWisePlans, idx: number[], mix: string): Plan {
  const first = server.plans[0] as Plan
  return {
    ...first,
    mix,
    pool: { partitions: server.pool },
    workers: server.workers.map((row, i) => row[idx[i] ?? 0] as PlanWorker),
  }
}

/** Per worker: SM·µs one request reserves on its plan's partitions when alone (Σ kernel time × partition SMs). */
function planSmUs(profs: Profile[], plan: Plan): number[] {
  const smsOf = new Map(plan.pool.partitions.map((p) => [p.id, p.sms]))
  return plan.workers.map((pw, w) => {
    const prof = profs[w] as Profile
    let a = 0
    for (const g of pw.groups) {
      const sms = smsOf.get(g.partition) ?? 0
      const i = prof.sizes.indexOf(sms)
      for (let k = g.first; k <= g.last; k++) {
        const t = prof.kernels[k]?.timesUs
        a += (t?.[i >= 0 ? i : t.length - 1] ?? 0) * sms
      }
    }
    return a
  })
}

/**
 * Each worker's mean latency over the requests completed in the window, and its share of the run's busy SMs
 * (the engine counts busy SM·µs for all workers together): apportioned by requests completed × planSmUs.
 */
function workerStats(run: RunResult, smUs: number[]): { meanUs: number[]; smShare: number[] } {
  const meanUs: number[] = []
  const weight: number[] = []
  for (const [w, r] of run.workers.entries()) {
    let sum = 0
    let n = 0
    r.endUs.forEach((e, i) => {
      if (e > run.windowStartUs && e <= run.windowEndUs) {
        sum += e - (r.arrivalUs[i] ?? 0)
        n++
      }
    })
    meanUs.push(n ? sum / n : Number.NaN)
    weight.push(n * (smUs[w] ?? 0))
  }
  const busySms = (run.smBusyUs ?? 0) / (run.windowEndUs - run.windowStartUs)
  const total = weight.reduce((a, x) => a + x, 0)
  return { meanUs, smShare: weight.map((x) => (total > 0 ? (busySms * x) / total : 0)) }
}

/**
 * The eclip-kw server at `g` GPUs: per GPU one worker per model (scenario order), as request-level "partitions" over
 * all of the GPU's slices with the worker's busy SMs (KernelWise.sms); `serves[i]` is worker i's model.
 */
export function kernelWiseWorkers(
  sc: LoadedScenario,
  kw: KernelWise,
  g: number,
): { parts: Partition[]; serves: number[] } {
  const parts: Partition[] = []
  const serves: number[] = []
  for (let gpu = 0; gpu < g; gpu++)
    sc.models.forEach((_, i) => {
      parts.push({
        id: `g${gpu}w${i}`,
        gpu,
        slices: sc.gpu.slices.map((s) => s.id),
        sms: kw.sms[i] ?? 0,
      })
      serves.push(i)
    })
  return { parts, serves }
}
