// From a serve config to what the server runs: the served models with their tensors, each one's profile, the plan
// (a given plan file, or the optimizer's; eclip-live: a plan table), and each model's compute time for the simulator.
// The set-up every policy shares is here; paris-elsa's own is src/serve/paris-elsa.ts, and src/serve/policies.ts
// picks a policy's.
import { dirname, isAbsolute, resolve } from 'node:path'
import type { EvaluatorInputs } from '../execute/sim/evaluator.ts'
import { simInputs } from '../execute/sim/inputs.ts'
import { UserError } from '../formats/errors.ts'
import { checkMadeFor, type Gpu } from '../formats/gpu.ts'
import { readFile } from '../formats/index.ts'
import type { WorkerSpec } from '../formats/mix.ts'
import { DEFAULT_POLICY, isTablePolicy, type Plan, type Policy } from '../formats/plan.ts'
import { lookupPlan, PLAN_TABLE_FULL_MAX, type PlanTable } from '../formats/plan-table.ts'
import type { Profile } from '../formats/profile.ts'
import { PARIS_ELSA, type ServeConfig, type ServeModel, servePolicy } from '../formats/serve-config.ts'
import {
  bestEffortPlanned,
  isRealtime,
  type PlanObjective,
  type PlanOptions,
  plansBestEffort,
} from '../plan/index.ts'
import { makePlanTable, type SubsetPlanner } from '../plan/table.ts'
import {
  convSmsOf,
  offSmsOf,
  sameConvSms,
  sameOffSms,
  usesGemmTarget,
  withGemmTarget,
} from '../profile/gemm-target.ts'
import { loadGpu, loadProfile, loadProfileSet } from '../profile/store.ts'
import { SYNTHETIC_MODELS, syntheticH100Gpu, syntheticProfile } from '../profile/synthetic.ts'
import type { ServedModel } from './backend.ts'
import {
  type ComputeTime,
  coLocatedTimes,
  planTimeKey,
  type TimesBefore,
  tableComputeTimes,
  workerComputeTime,
} from './compute-time.ts'
import type { GpuServeOptions } from './gpu-backend.ts'
import { type ModelIO, ZOO_MODELS, zooIO } from './io-specs.ts'
import { DEFAULT_SERVE_HOLD_MS } from './live.ts'
import { givenTableNote, readGivenTable } from './live-table.ts'
import type { GpuProbe } from './paris-setup.ts'
import type { ServeScheduling } from './scheduling.ts'
import type { WorkerOptions } from './worker.ts'

/** Where a GPU backend was asked for without a profile directory. */
const NO_PROFILES =
  'the GPU backend needs "profiles" (a profile directory) in the serve config, or --profiles DIR'

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
  /** Says, while it plans, how far a long search has got (the plans eclip-fit has run on the simulator). */
  progress?: (line: string) => void
  /** eclip-rt: the config's `realtime` (mechanism, reserved SMs, factor) as the optimizer's options. */
  realtime?: RealtimeOptions
  /** eclip-fit: the guard on total requests/s (PlanOptions.minTotalShare) a plan table asks of a set's plan. */
  minTotalShare?: number
  /** eclip-fit and eclip-rt's best-effort plan: the config's `objective` (PlanOptions.objective). */
  objective?: PlanObjective
  /** eclip-fit: the config's `streamPriorities` (PlanOptions.fitPriorities). */
  streamPriorities?: boolean
  /** eclip-fit and eclip-rt's best-effort plan: the config's `maxP95` (PlanOptions.maxP95). */
  maxP95?: number
  /**
   * The paper's eclip: its floors checked on the simulator, each model under its floor said in a note (the start-up
   * plan; a plan table's sets are not checked: one warning per set, made while others serve, would say little).
   */
  checkFloors?: boolean
}) => Promise<Plan> | Plan

/** eclip-rt's options of a serve config, as makePlan names them. */
export type RealtimeOptions = Pick<
  PlanOptions,
  'rtMechanism' | 'rtReserveSms' | 'rtFactor' | 'rtGateUs' | 'rtBestEffort' | 'rtUngatedSms'
>

/**
 * eclip-rt keeps `maxP95` in its best-effort models' plan alone, which eclip-fit makes among them under the gate
 * mechanism with `realtime.bestEffort` eclip-fit, for two or more best-effort models beside a real-time one: refused
 * where the config makes no such plan (it would be silently dropped).
 */
function rtMaxP95Check(config: ServeConfig, workers: readonly WorkerSpec[]): void {
  const o = realtimeOptions(config)
  if (bestEffortPlanned(workers, o).length > 0) return
  const rt = workers.filter(isRealtime).length
  throw new UserError(
    `/maxP95: eclip-rt keeps it in its best-effort models' plan alone, made under the gate mechanism with realtime.bestEffort eclip-fit for two or more best-effort models beside a real-time one; this config has ${rt} real-time and ${workers.length - rt} best-effort model(s)${plansBestEffort(o) ? '' : ' and no such mechanism'}`,
  )
}

/** The serve config's `realtime` as makePlan's options (empty without one). */
export function realtimeOptions(config: ServeConfig): RealtimeOptions {
  const r = config.realtime
  if (!r) return {}
  return {
    ...(r.mechanism !== undefined ? { rtMechanism: r.mechanism } : {}),
    ...(r.reserveSms !== undefined ? { rtReserveSms: r.reserveSms } : {}),
    ...(r.factor !== undefined ? { rtFactor: r.factor } : {}),
    ...(r.gateUs !== undefined ? { rtGateUs: r.gateUs } : {}),
    ...(r.bestEffort !== undefined ? { rtBestEffort: r.bestEffort } : {}),
    ...(r.ungatedSms !== undefined ? { rtUngatedSms: r.ungatedSms } : {}),
  }
}

/** eclip-live: what the server needs to follow a plan table and to load and unload models while serving. */
export interface LiveSetup {
  table: PlanTable
  holdMs: number
  /** Plans the table's subsets (the policy's plans of two or more models), off the event loop where it can. */
  planner: SubsetPlanner
  tablePolicy: Policy
  /** The profile and worker spec of every loaded model (a load adds one, an unload removes it). */
  specs: Map<string, { spec: WorkerSpec; profile: Profile }>
  /** Resolves a model of the repository (the serve config's models) to load it: refused naming what is missing. */
  resolve(name: string): RepositoryModel
  /** Every model of the repository, in the config's order. */
  repository: string[]
  /** Above 6 loaded models, the most plans the table takes on demand (serve config `live.maxPlans`). */
  maxPlans: number
  /** The set plans' guard on total requests/s (serve config `live.minTotalShare`; absent: the table's default). */
  minTotalShare?: number
  /**
   * The plans of the serve config's `live.table` (served names): taken as they are whenever the table is made again.
   */
  given?: Plan[]
  /**
   * The simulator backend's inputs: each plan's models timed co-located on them (compute-time.ts); absent on the GPU.
   */
  coLocated?: EvaluatorInputs
}

/** Above 6 models, a table holds at most this many plans by default (serve config `live.maxPlans`). */
export const DEFAULT_MAX_PLANS = 64

/** A model of the repository made ready to load: everything but its plans. */
export interface RepositoryModel {
  model: ServedModel
  options: WorkerOptions
  spec: WorkerSpec
  profile: Profile
}

export interface ServeSetup {
  models: ServedModel[]
  workerOptions: Map<string, WorkerOptions>
  profiles: Map<string, Profile>
  /** The optimizer's (or a given) plan; absent under paris-elsa, whose partitions are its scheduling's. */
  plan?: Plan
  /** A policy that chooses each request's partition and brings its own backend (paris-elsa). */
  scheduling?: ServeScheduling
  /** More of each model's `…/config`, by served name (paris-elsa: its load, SLO and captured batches). */
  modelConfig?: Map<string, Record<string, unknown>>
  gpu: Gpu
  computeTimes: Map<string, ComputeTime>
  /** What a user should know about where the numbers come from. */
  notes: string[]
  /** eclip-live: the plan table and what model control needs. */
  live?: LiveSetup
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

/** What `eclip serve` hands a policy's set-up besides the config. */
export interface ServeSetupOptions {
  configFile: string
  planner?: Planner
  /** eclip-live: plans the table's subsets (default: `planner`, one subset after another). */
  tablePlanner?: SubsetPlanner
  /** paris-elsa: `--gpus`, over the config's `gpus`. */
  gpus?: number | 'all'
  /** The GPU backend's options, for a set-up that asks the GPU backend first (paris-elsa: its devices). */
  gpuOptions?: GpuServeOptions
  /** paris-elsa on the GPU backend: its devices (how many, their layouts); default: asked with `gpuOptions`. */
  probe?: GpuProbe
}

/** A path the serve config names, absolute (relative ones are relative to the config file). */
export function configPath(configFile: string): (p: string) => string {
  const base = dirname(resolve(configFile))
  return (p) => (isAbsolute(p) ? p : resolve(base, p))
}

/** The set-up of the policies that run under plans: one plan (every policy of makePlan), or eclip-live's table. */
export async function planServeSetup(config: ServeConfig, opts: ServeSetupOptions): Promise<ServeSetup> {
  const path = configPath(opts.configFile)
  const backend = config.backend ?? 'sim'
  if (opts.gpus !== undefined) throw new UserError(`--gpus: only the ${PARIS_ELSA} policy uses it`)
  if (config.policy !== undefined && isTablePolicy(config.policy))
    return liveServeSetup(config, { ...opts, backend, path })
  const notes: string[] = []

  const workers: WorkerSpec[] = config.models.map(workerSpecOf)
  const ios = config.models.map((m, i) => modelIO(m, (workers[i] as WorkerSpec).dtype))

  // profiles: the given directory, or (simulator only) synthetic stand-ins
  let gpu: Gpu
  let profiles: Profile[]
  if (config.profiles) {
    const set = loadProfileSet(path(config.profiles), workers, { gemmTarget: config.gemmTarget !== false })
    gpu = set.gpu
    profiles = set.profiles
    if (profiles.some((p) => p.measured.method === 'synthetic'))
      notes.push(`profiles in ${config.profiles} are synthetic: nothing in them was measured`)
  } else {
    if (backend !== 'sim') throw new UserError(NO_PROFILES)
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
    if (config.policy !== undefined && config.policy !== plan.policy)
      throw new UserError(
        `${config.plan}: a ${plan.policy} plan, but the serve config's policy is ${config.policy}: leave policy out ` +
          '(the plan says it) or make the plan with that policy',
      )
    checkPlan(plan, workers, profiles, config.plan, gpu)
    notes.push(`plan from ${config.plan} (policy ${plan.policy})`)
  } else {
    if (!opts.planner)
      throw new UserError('no "plan" in the serve config and no optimizer available to make one')
    if (config.maxP95 !== undefined && config.policy === 'eclip-rt') rtMaxP95Check(config, workers)
    plan = await opts.planner({
      gpu,
      workers,
      profiles,
      policy: servePolicy(config) as Policy,
      mix: `serve:${workers.map((w) => w.name).join('+')}`,
      ...(config.profiles ? { profilesDir: path(config.profiles) } : {}),
      note: (line) => notes.push(line),
      ...(config.policy === 'eclip-rt' ? { realtime: realtimeOptions(config) } : {}),
      ...(config.objective !== undefined ? { objective: config.objective } : {}),
      ...(config.streamPriorities ? { streamPriorities: true } : {}),
      ...(config.maxP95 !== undefined ? { maxP95: config.maxP95 } : {}),
      checkFloors: true,
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
  if (backend === 'sim' && plan.workers.length > 1 && workers.some(openLoop)) notes.push(OPEN_LOOP_NOTE)
  else if (backend === 'sim' && plan.workers.length > 1) {
    const inputs = simulatorInputs(gpu, config.profiles ? path(config.profiles) : undefined, notes)
    const specs = new Map(workers.map((w, i) => [w.name, { spec: w, profile: profiles[i] as Profile }]))
    for (const [name, t] of coLocatedTimes(plan, specs, inputs)) computeTimes.set(name, t)
  }
  // a model's priority and SLO, and its streams' priority where the plan gives one, in its `…/config`
  const modelConfig = new Map<string, Record<string, unknown>>()
  for (const [i, w] of workers.entries()) {
    const pw = plan.workers[i]
    if (w.priority === undefined && pw?.streamPriority === undefined) continue
    modelConfig.set(w.name, {
      ...(w.priority !== undefined ? { priority: w.priority } : {}),
      ...(w.sloMs !== undefined ? { slo_ms: w.sloMs } : {}),
      ...(pw?.streamPriority !== undefined ? { stream_priority: pw.streamPriority } : {}),
    })
  }
  return {
    models,
    workerOptions,
    profiles: profileByName,
    plan,
    gpu,
    computeTimes,
    notes,
    ...(modelConfig.size > 0 ? { modelConfig } : {}),
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
    // the simulator and the compute times read the times the plan was made from
    if ((pw.gemmTarget === true) !== usesGemmTarget(p))
      throw new UserError(
        pw.gemmTarget
          ? `${source}: plan worker ${i} (${pw.model}) was made from GEMM-target times: ${p.gemmTarget ? 'remove "gemmTarget: false" from the serve config' : 'its profile has none (profile it with them, or re-make the plan with --no-gemm-target)'}`
          : `${source}: plan worker ${i} (${pw.model}) was made without GEMM targets, but "gemmTarget" is on and its profile has them: make the plan without --no-gemm-target, or set "gemmTarget: false"`,
      )
    const off = offSmsOf(p)
    if (pw.gemmTarget && !sameOffSms(pw, off))
      throw new UserError(
        `${source}: plan worker ${i} (${pw.model}) leaves the GEMM target off at [${pw.gemmTargetOffSms ?? []}] SMs, its profile at [${off}]: re-make the plan from this profile`,
      )
    const conv = convSmsOf(p)
    if (pw.gemmTarget && !sameConvSms(pw, conv))
      throw new UserError(
        `${source}: plan worker ${i} (${pw.model}) has its convolutions picked per partition at [${pw.convTargetSms ?? []}] SMs, its profile at [${conv}]: re-make the plan from this profile`,
      )
  })
  if (plan.gpu.smCount !== profiles[0]?.gpu.smCount)
    throw new UserError(
      `${source}: the plan is for ${plan.gpu.name}, the profiles for ${profiles[0]?.gpu.name}`,
    )
}

/**
 * eclip-live: the repository's models not loaded at start whose libraries the GPU backend imports ahead (zoo names and
 * module:function factories; a TorchScript file needs none), so that loading one later does not hold the backend for
 * seconds of imports while the others serve.
 */
export function modelsToPrepare(config: ServeConfig): string[] {
  if (config.policy === undefined || !isTablePolicy(config.policy)) return []
  return [
    ...new Set(config.models.filter((m) => m.loaded === false && m.source === undefined).map((m) => m.model)),
  ]
}

/**
 * A serve config model's worker spec (its served name, batch, dtype, planning fields). A real-time model's expected
 * `rate` is Poisson arrivals at that rate for the planner's checks (the server cannot know how clients send); without
 * one it counts as a closed loop, always busy.
 */
function workerSpecOf(m: ServeModel): WorkerSpec {
  const rt = m.priority === 'realtime'
  return {
    name: m.name ?? m.model,
    model: m.model,
    batch: m.batch ?? SERVE_DEFAULTS.batch,
    dtype: m.dtype ?? SERVE_DEFAULTS.dtype,
    ...(m.weight !== undefined ? { weight: m.weight } : {}),
    ...(m.minShare !== undefined ? { minShare: m.minShare } : {}),
    ...(m.priority !== undefined ? { priority: m.priority } : {}),
    ...(rt && m.sloMs !== undefined ? { sloMs: m.sloMs } : {}),
    ...(rt && m.rate !== undefined ? { arrival: { kind: 'poisson' as const, rate: m.rate } } : {}),
  }
}

/**
 * eclip-live: the models loaded at start-up (every model but those with `loaded: false`), the plan table over them
 * (src/plan/table.ts: every subset up to 6 models, a model alone on the whole GPU) and each model's compute time
 * under each plan that lists it. The other models of the config stay in the repository: their profiles are read
 * only when they are loaded, so a missing one is said then, naming the file.
 */
async function liveServeSetup(
  config: ServeConfig,
  o: {
    configFile: string
    planner?: Planner
    tablePlanner?: SubsetPlanner
    backend: 'sim' | 'gpu'
    path: (p: string) => string
  },
): Promise<ServeSetup> {
  const notes: string[] = []
  const profilesDir = config.profiles ? o.path(config.profiles) : undefined
  if (!profilesDir && o.backend !== 'sim') throw new UserError(NO_PROFILES)
  // the GPU of every profile: the directory's gpu.json, or the synthetic H100 the simulator stands in with
  const gpu = profilesDir ? loadGpu(profilesDir) : syntheticH100Gpu()
  if (!profilesDir)
    notes.push('synthetic H100 profiles (no "profiles" directory given): nothing in them was measured')
  const byName = new Map(config.models.map((m) => [m.name ?? m.model, m]))
  const resolveModel = (name: string): RepositoryModel => {
    const m = byName.get(name)
    if (!m)
      throw new UserError(
        `no model "${name}" in the repository (the serve config's models: ${[...byName.keys()].join(', ')})`,
      )
    const spec = workerSpecOf(m)
    let profile: Profile
    if (profilesDir) {
      try {
        profile = loadProfile(profilesDir, gpu, spec.model, spec.batch, spec.dtype)
        if (config.gemmTarget !== false) profile = withGemmTarget(profile)
      } catch (err) {
        if (err instanceof UserError) throw new UserError(`model "${name}": ${err.message}`)
        throw err
      }
    } else {
      if (!SYNTHETIC_MODELS[spec.model])
        throw new UserError(
          `model "${name}": no profile directory given and "${spec.model}" has no synthetic profile; set "profiles" in the serve config`,
        )
      profile = syntheticProfile({ model: spec.model, batch: spec.batch, dtype: spec.dtype, gpu })
    }
    return {
      model: {
        name,
        model: spec.model,
        version: '1',
        batch: spec.batch,
        dtype: spec.dtype,
        io: modelIO(m, spec.dtype),
        ...(m.source ? { source: o.path(m.source) } : {}),
      },
      options: {
        queueSize: m.queueSize ?? SERVE_DEFAULTS.queueSize,
        timeoutMs: m.timeoutMs ?? SERVE_DEFAULTS.timeoutMs,
        maxDynamicBatch: m.maxDynamicBatch ?? spec.batch,
      },
      spec,
      profile,
    }
  }
  const planner: SubsetPlanner =
    o.tablePlanner ??
    (async (g, mix, workers, profiles, po) => {
      if (!o.planner) throw new UserError('no optimizer available to make the plan table')
      return o.planner({
        gpu: g,
        workers,
        profiles,
        policy: po.policy,
        mix,
        ...(po.minTotalShare !== undefined ? { minTotalShare: po.minTotalShare } : {}),
        ...(config.maxP95 !== undefined && po.policy === 'eclip-fit' ? { maxP95: config.maxP95 } : {}),
        ...(profilesDir ? { profilesDir } : {}),
        note: (line) => notes.push(line),
      })
    })
  const loaded = config.models.filter((m) => m.loaded !== false).map((m) => resolveModel(m.name ?? m.model))
  const specs = new Map(loaded.map((r) => [r.spec.name, { spec: r.spec, profile: r.profile }]))
  const given = config.live?.table
    ? readGivenTable(
        o.path(config.live.table),
        gpu,
        config.models.map((m) => {
          const s = workerSpecOf(m)
          const p = specs.get(s.name)?.profile
          return {
            name: s.name,
            model: s.model,
            batch: s.batch,
            dtype: s.dtype,
            ...(p
              ? {
                  fingerprint: p.fingerprint,
                  gemmTarget: usesGemmTarget(p),
                  gemmTargetOffSms: offSmsOf(p),
                  convTargetSms: convSmsOf(p),
                }
              : {}),
          }
        }),
        {
          ...(config.live.tablePolicy ? { policy: config.live.tablePolicy as Policy } : {}),
          ...(config.live.minTotalShare !== undefined ? { minTotalShare: config.live.minTotalShare } : {}),
        },
      )
    : undefined
  const tablePolicy = (config.live?.tablePolicy ?? given?.policy ?? DEFAULT_POLICY) as Policy
  const minTotalShare = config.live?.minTotalShare ?? given?.minTotalShare
  const table = await makeServeTable(gpu, specs, {
    policy: tablePolicy,
    planner,
    ...(given ? { reuse: given.plans } : {}),
    ...(minTotalShare !== undefined ? { minTotalShare } : {}),
  })
  if (given && config.live?.table) notes.push(givenTableNote(config.live.table, given, table))
  const full = lookupPlan(table, specs.keys())?.plan as Plan
  const realtime = [...specs.values()].some((x) => openLoop(x.spec))
  if (o.backend === 'sim' && realtime) notes.push(OPEN_LOOP_NOTE)
  const coLocated = o.backend === 'sim' && !realtime ? simulatorInputs(gpu, profilesDir, notes) : undefined
  const computeTimes = liveComputeTimes(table, specs, coLocated)
  notes.push(
    `eclip-live: a plan table of ${table.plans.length} plans (${tablePolicy}; a model alone on the whole GPU), ${table.union.partitions.length} partitions in all; hold ${config.live?.holdMs ?? DEFAULT_SERVE_HOLD_MS} ms` +
      (table.complete
        ? ''
        : `; above ${PLAN_TABLE_FULL_MAX} models the sets traffic shows are planned on demand, up to ${config.live?.maxPlans ?? DEFAULT_MAX_PLANS} plans`),
  )
  const models = loaded.map((r) => {
    const pw = full.workers.find((w) => w.name === r.model.name)
    return { ...r.model, ...(pw ? { worker: pw } : {}) }
  })
  return {
    models,
    workerOptions: new Map(loaded.map((r) => [r.model.name, r.options])),
    profiles: new Map(loaded.map((r) => [r.model.name, r.profile])),
    plan: full,
    gpu,
    computeTimes,
    notes,
    live: {
      table,
      holdMs: config.live?.holdMs ?? DEFAULT_SERVE_HOLD_MS,
      planner,
      tablePolicy,
      specs,
      resolve: resolveModel,
      repository: [...byName.keys()],
      maxPlans: config.live?.maxPlans ?? DEFAULT_MAX_PLANS,
      ...(minTotalShare !== undefined ? { minTotalShare } : {}),
      ...(given ? { given: given.plans } : {}),
      ...(coLocated ? { coLocated } : {}),
    },
  }
}

/**
 * A real-time model, whose requests come open loop at a rate (DISB's): co-located timing assumes every model busy,
 * which would keep such a model's priority raised all the time and starve the others, so a served set with one keeps
 * each model's time alone, and the notes say so.
 */
const openLoop = (w: WorkerSpec) => w.priority === 'realtime' || w.arrival !== undefined
const OPEN_LOOP_NOTE =
  "simulator backend: a real-time model is served, so each model's time per execution is its time alone (co-location not priced)"

/**
 * The simulator backend's inputs (the profile directory's calibration, primitives and power model, else the
 * simulator's defaults, each said in `notes`), for timing every plan's models co-located (compute-time.ts).
 */
function simulatorInputs(gpu: Gpu, profilesDir: string | undefined, notes: string[]): EvaluatorInputs {
  const ev = simInputs(gpu, profilesDir ? { dir: profilesDir } : {})
  for (const w of ev.warnings) notes.push(`simulator backend: ${w}`)
  notes.push(
    "simulator backend: each model's time per execution is the simulator's with every model of its plan busy (contention priced in alike for every policy); a model alone keeps its profile's time",
  )
  return ev.inputs
}

/**
 * The plan table of the loaded models (in the given order); `reuse`: plans of an earlier table still valid. Up to 6
 * models every set is planned; above, the whole set and `subsets` (sets traffic showed), besides those reused.
 */
export function makeServeTable(
  gpu: Gpu,
  specs: ReadonlyMap<string, { spec: WorkerSpec; profile: Profile }>,
  o: {
    policy: Policy
    planner: SubsetPlanner
    reuse?: readonly Plan[]
    subsets?: string[][]
    minTotalShare?: number
  },
): Promise<PlanTable> {
  const entries = [...specs.values()]
  return makePlanTable(
    gpu,
    `serve:${[...specs.keys()].join('+')}`,
    entries.map((e) => e.spec),
    entries.map((e) => e.profile),
    {
      policy: o.policy,
      planner: o.planner,
      ...(o.reuse ? { reuse: o.reuse } : {}),
      ...(entries.length > PLAN_TABLE_FULL_MAX ? { subsets: o.subsets ?? [] } : {}),
      ...(o.minTotalShare !== undefined ? { minTotalShare: o.minTotalShare } : {}),
      concurrency: 4,
    },
  )
}

/**
 * Each model's compute time under the whole set's plan (by name) and under every plan of the table; `coLocated`: the
 * simulator backend's inputs, each plan's models timed together on them.
 */
export function liveComputeTimes(
  table: PlanTable,
  specs: ReadonlyMap<string, { spec: WorkerSpec; profile: Profile }>,
  coLocated?: EvaluatorInputs,
  before?: TimesBefore,
): Map<string, ComputeTime> {
  const out = tableComputeTimes(table, specs, coLocated, before)
  const full = lookupPlan(table, specs.keys())
  if (full)
    for (const pw of full.plan.workers)
      out.set(
        pw.name,
        out.get(planTimeKey(pw.name, full.key)) ??
          workerComputeTime(full.plan, pw, specs.get(pw.name)?.profile),
      )
  return out
}
