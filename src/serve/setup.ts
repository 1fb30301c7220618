// From a serve config to what the server runs: the served models with their tensors, each one's profile, the plan
// (a given plan file, or the optimizer's), and each model's compute time for the simulator.
import { dirname, isAbsolute, resolve } from 'node:path'
import { UserError } from '../formats/errors.ts'
import { checkMadeFor, type Gpu } from '../formats/gpu.ts'
import { readFile } from '../formats/index.ts'
import type { WorkerSpec } from '../formats/mix.ts'
import type { Plan, Policy } from '../formats/plan.ts'
import type { Profile } from '../formats/profile.ts'
import { PARIS_ELSA, type ServeConfig, type ServeModel } from '../formats/serve-config.ts'
import { loadProfileSet } from '../profile/store.ts'
import { SYNTHETIC_MODELS, syntheticH100Gpu, syntheticProfile } from '../profile/synthetic.ts'
import type { ServedModel } from './backend.ts'
import { type ComputeTime, workerComputeTime } from './compute-time.ts'
import { type ModelIO, ZOO_MODELS, zooIO } from './io-specs.ts'
import type { ParisModel } from './paris-backend.ts'
import { type GpuProbe, type ParisServe, resolveParisSetup } from './paris-setup.ts'
import type { WorkerOptions } from './worker.ts'

/** Makes a plan for `workers` (names are the served names) from their profiles. */
export type Planner = (args: {
  gpu: Gpu
  workers: WorkerSpec[]
  profiles: Profile[]
  policy: Policy
  mix: string
  /** The profile directory (absolute), where the profiles came from one: its calibration files are there. */
  profilesDir?: string
  /** Says something a user should know about the plan (start-up notes, the dashboard). */
  note?: (line: string) => void
}) => Promise<Plan> | Plan

export interface ServeSetup {
  models: ServedModel[]
  workerOptions: Map<string, WorkerOptions>
  profiles: Map<string, Profile>
  /** The optimizer's (or a given) plan; absent under paris-elsa, whose partitions are `paris`'s. */
  plan?: Plan
  /** paris-elsa: the host's GPUs, PARIS's partitions over them, each model's load and latency table. */
  paris?: ParisServe
  /** More of each model's `…/config`, by served name (paris-elsa: its load, SLO and captured batches). */
  modelConfig?: Map<string, Record<string, unknown>>
  gpu: Gpu
  computeTimes: Map<string, ComputeTime>
  /** What a user should know about where the numbers come from. */
  notes: string[]
}

export const SERVE_DEFAULTS = { queueSize: 64, timeoutMs: 10_000, batch: 1, dtype: 'fp16' as const }

export function modelIO(m: ServeModel, dtype: ServeModel['dtype'] & string): ModelIO {
  if (m.inputs && m.outputs) {
    const withBatch = (t: {
      name: string
      datatype: ModelIO['inputs'][number]['datatype']
      shape: number[]
    }) => ({
      name: t.name,
      datatype: t.datatype,
      shape: [-1, ...t.shape],
    })
    return { inputs: m.inputs.map(withBatch), outputs: m.outputs.map(withBatch) }
  }
  const io = zooIO(m.model, dtype)
  if (!io)
    throw new UserError(
      `model "${m.model}" is not in the zoo (${ZOO_MODELS.join(', ')}); a user model needs "source", "inputs" and "outputs"`,
    )
  return io
}

export async function resolveServeSetup(
  config: ServeConfig,
  opts: {
    configFile: string
    planner?: Planner
    /** paris-elsa: `--gpus`, over the config's `gpus`. */
    gpus?: number | 'all'
    /** paris-elsa on the GPU backend: its devices (how many, their layouts). */
    probe?: GpuProbe
  },
): Promise<ServeSetup> {
  const base = dirname(resolve(opts.configFile))
  const path = (p: string) => (isAbsolute(p) ? p : resolve(base, p))
  const backend = config.backend ?? 'sim'
  if (config.policy === PARIS_ELSA) return parisServeSetup(config, { ...opts, backend, path })
  if (opts.gpus !== undefined) throw new UserError(`--gpus: only the ${PARIS_ELSA} policy uses it`)
  const notes: string[] = []

  const workers: WorkerSpec[] = config.models.map((m) => ({
    name: m.name ?? m.model,
    model: m.model,
    batch: m.batch ?? SERVE_DEFAULTS.batch,
    dtype: m.dtype ?? SERVE_DEFAULTS.dtype,
    ...(m.weight !== undefined ? { weight: m.weight } : {}),
    ...(m.minShare !== undefined ? { minShare: m.minShare } : {}),
  }))
  const ios = config.models.map((m, i) => modelIO(m, (workers[i] as WorkerSpec).dtype))

  // profiles: the given directory, or (simulator only) synthetic stand-ins
  let gpu: Gpu
  let profiles: Profile[]
  if (config.profiles) {
    const set = loadProfileSet(path(config.profiles), workers)
    gpu = set.gpu
    profiles = set.profiles
    if (profiles.some((p) => p.measured.method === 'synthetic'))
      notes.push(`profiles in ${config.profiles} are synthetic: nothing in them was measured`)
  } else {
    if (backend !== 'sim')
      throw new UserError('the GPU backend needs "profiles" (a profile directory) in the serve config')
    gpu = syntheticH100Gpu()
    profiles = workers.map((w) => {
      if (!SYNTHETIC_MODELS[w.model])
        throw new UserError(
          `no profile directory given and "${w.model}" has no synthetic profile; set "profiles" in the serve config`,
        )
      return syntheticProfile({ model: w.model, batch: w.batch, dtype: w.dtype, gpu })
    })
    notes.push('synthetic H100 profiles (no "profiles" directory given): nothing in them was measured')
  }

  // plan: a given file (checked against these workers and profiles), or the optimizer's
  let plan: Plan
  if (config.plan) {
    plan = readFile<Plan>('plan', path(config.plan))
    checkPlan(plan, workers, profiles, config.plan, gpu)
    notes.push(`plan from ${config.plan} (policy ${plan.policy})`)
  } else {
    if (!opts.planner)
      throw new UserError('no "plan" in the serve config and no optimizer available to make one')
    plan = await opts.planner({
      gpu,
      workers,
      profiles,
      policy: (config.policy ?? 'eclip') as Policy,
      mix: `serve:${workers.map((w) => w.name).join('+')}`,
      ...(config.profiles ? { profilesDir: path(config.profiles) } : {}),
      note: (line) => notes.push(line),
    })
    checkPlan(plan, workers, profiles, 'the optimizer', gpu)
    notes.push(
      `plan made at start-up (policy ${plan.policy}, solver ${plan.solver.name} ${plan.solver.status})`,
    )
  }

  const models: ServedModel[] = []
  const workerOptions = new Map<string, WorkerOptions>()
  const computeTimes = new Map<string, ComputeTime>()
  const profileByName = new Map<string, Profile>()
  config.models.forEach((m, i) => {
    const w = workers[i] as WorkerSpec
    const pw = plan.workers[i]
    const profile = profiles[i] as Profile
    models.push({
      name: w.name,
      model: w.model,
      version: '1',
      batch: w.batch,
      dtype: w.dtype,
      io: ios[i] as ModelIO,
      ...(m.source ? { source: path(m.source) } : {}),
      ...(pw ? { worker: pw } : {}),
    })
    workerOptions.set(w.name, {
      queueSize: m.queueSize ?? SERVE_DEFAULTS.queueSize,
      timeoutMs: m.timeoutMs ?? SERVE_DEFAULTS.timeoutMs,
      maxDynamicBatch: m.maxDynamicBatch ?? w.batch,
    })
    profileByName.set(w.name, profile)
    if (pw) computeTimes.set(w.name, workerComputeTime(plan, pw, profile))
  })
  return { models, workerOptions, profiles: profileByName, plan, gpu, computeTimes, notes }
}

/**
 * paris-elsa: PARIS's partitions over the host's GPUs (paris-setup.ts); every model is captured at each batch of its
 * mix, and its worker hands each request to ELSA at once (no dynamic batching; the backlogs are the partitions').
 */
async function parisServeSetup(
  config: ServeConfig,
  o: {
    configFile: string
    gpus?: number | 'all'
    probe?: GpuProbe
    backend: 'sim' | 'gpu'
    path: (p: string) => string
  },
): Promise<ServeSetup> {
  const { paris, notes } = await resolveParisSetup(config, {
    configFile: o.configFile,
    backend: o.backend,
    path: o.path,
    ...(o.gpus !== undefined ? { gpus: o.gpus } : {}),
    ...(o.probe ? { probe: o.probe } : {}),
  })
  const models: ServedModel[] = []
  const workerOptions = new Map<string, WorkerOptions>()
  const modelConfig = new Map<string, Record<string, unknown>>()
  config.models.forEach((m, i) => {
    const dtype = m.dtype ?? SERVE_DEFAULTS.dtype
    const pm = paris.models[i] as ParisModel
    modelConfig.set(pm.name, {
      paris: {
        slo_ms: m.sloMs,
        rate: m.rate,
        batch_mix: m.batches,
        captured_batches: pm.captured,
        latency_table: pm.table.measured.method,
        partitions: paris.partitions.length,
        gpus: paris.gpus,
      },
    })
    const batch = pm.captured.at(-1) as number
    models.push({
      name: pm.name,
      model: m.model,
      version: '1',
      batch,
      dtype,
      io: modelIO(m, dtype),
      batches: pm.captured,
    })
    workerOptions.set(pm.name, {
      queueSize: m.queueSize ?? SERVE_DEFAULTS.queueSize,
      timeoutMs: m.timeoutMs ?? SERVE_DEFAULTS.timeoutMs,
      maxDynamicBatch: 1,
      // every request goes to the dispatcher at once: it holds the backlogs ELSA decides on
      concurrency: Number.POSITIVE_INFINITY,
    })
  })
  return {
    models,
    workerOptions,
    profiles: new Map(),
    paris,
    modelConfig,
    gpu: paris.gpu,
    computeTimes: new Map(),
    notes,
  }
}

/** A plan serves these workers only if it lists them in order, at their batch/dtype, for their kernel sequences. */
function checkPlan(plan: Plan, workers: WorkerSpec[], profiles: Profile[], source: string, gpu: Gpu) {
  // first: on another GPU every kernel sequence differs too, and the fingerprint message would hide why
  checkMadeFor(`${source}: the plan`, plan.gpu, gpu, "the profile directory's GPU")
  if (plan.workers.length !== workers.length)
    throw new UserError(
      `${source}: the plan has ${plan.workers.length} workers, the serve config ${workers.length} models`,
    )
  workers.forEach((w, i) => {
    const pw = plan.workers[i]
    const p = profiles[i]
    if (!pw || !p) return
    if (pw.model !== w.model || pw.batch !== w.batch || pw.dtype !== w.dtype)
      throw new UserError(
        `${source}: plan worker ${i} is ${pw.model} batch ${pw.batch} ${pw.dtype}, the config's model ${i} is ${w.model} batch ${w.batch} ${w.dtype}`,
      )
    if (pw.fingerprint !== p.fingerprint)
      throw new UserError(
        `${source}: plan worker ${i} (${pw.model}) was made for another kernel sequence than its profile (fingerprint differs)`,
      )
  })
  if (plan.gpu.smCount !== profiles[0]?.gpu.smCount)
    throw new UserError(
      `${source}: the plan is for ${plan.gpu.name}, the profiles for ${profiles[0]?.gpu.name}`,
    )
}
