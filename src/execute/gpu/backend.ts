// `eclip bench --backend gpu`'s executor: runs go to the GPU backend one at a time through its client (client.ts).
// A run that follows a plan table (eclip-live) sends the table's plans and, for every set of workers, the plan it
// runs under; the backend keeps the active set (gpu/eclip_gpu/live.py) and says, per request, which set it started in.
import { type Gpu, UserError } from '../../formats/index.ts'
import { runSchedules, type Schedule } from '../../workload/arrivals.ts'
import type { ExecuteBackend, LiveObservations, RunResult, RunSpec } from '../backend.ts'
import { type LiveLayout, liveLayout } from '../sim/live.ts'
import { BackendCrash, BackendProcess, type BackendProcessOptions } from './client.ts'
import type { RunLive, RunReply } from './protocol.ts'

/** A table-following run on the GPU names a plan for each of its 2^n − 1 sets: at most this many workers. */
export const GPU_LIVE_MAX_WORKERS = 10
export interface GpuBackendOptions extends BackendProcessOptions {
  /** Seconds a run may take beyond warm-up + window (captures, output checks) before it counts as hung. */
  slackS?: number
  /** Verify each worker's outputs against its baseline capture before measuring. */
  checkOutputs?: boolean
}

/**
 * `eclip bench --backend gpu`: one run at a time through the backend process; restarted by the caller after a crash.
 */
export class GpuBackend implements ExecuteBackend {
  readonly name = 'gpu' as const

  private constructor(
    private readonly proc: BackendProcess,
    private readonly opts: GpuBackendOptions,
  ) {}

  get gpu(): Gpu {
    return this.proc.gpu
  }
  get versions(): Record<string, string> {
    return this.proc.versions
  }

  static async start(opts: GpuBackendOptions = {}): Promise<GpuBackend> {
    return new GpuBackend(await BackendProcess.start(opts), opts)
  }

  /** After a crash: a fresh backend process (a CUDA error poisons the old one; it is never reused). */
  recover(): Promise<void> {
    return this.proc.respawn()
  }

  async run(spec: RunSpec): Promise<RunResult> {
    const arrivals = arrivalsOf(spec)
    const live = liveOf(spec)
    const reply = await this.proc.run(
      {
        key: spec.key,
        plan: spec.plan,
        mode: spec.mode,
        warmupS: spec.warmupS,
        windowS: spec.windowS,
        checkOutputs: spec.checkOutputs ?? this.opts.checkOutputs ?? true,
        ...(arrivals ? { arrivals } : {}),
        ...(live ? { live: live.message } : {}),
      },
      spec.warmupS + spec.windowS + (this.opts.slackS ?? 600),
    )
    const result = toRunResult(reply)
    if (!live) return result
    if (!reply.live)
      throw new BackendCrash(`run ${spec.key}: the GPU backend did not say what the active set was`)
    return { ...result, live: liveObservations(spec.key, live.layout, live.message, reply) }
  }

  close(): Promise<void> {
    return this.proc.close()
  }
}

/**
 * The schedules the executor runs (plan order): the simulator's, for the same seed (src/workload/arrivals.ts); none
 * for the closed loop, which the executor runs as it always has.
 */
export function arrivalsOf(spec: RunSpec): Schedule[] | undefined {
  // a table-following run always drives its workers by schedule: the backend keeps the active set from their ends
  if (spec.loop.kind === 'closed' && !spec.live) return undefined
  const horizonUs = (spec.warmupS + spec.windowS) * 1e6
  const round = (xs: number[]) => xs.map((x) => Math.round(x * 10) / 10)
  return runSchedules(spec.loop, spec.workers, spec.seed, horizonUs).map((s) =>
    s.kind === 'open'
      ? { kind: 'open', arrivalsUs: round(s.arrivalsUs) }
      : { kind: 'closed', periodsUs: round(s.periodsUs) },
  )
}

/**
 * eclip-live: the run message's `live` — the table's plans any set runs under and, per set (a bit mask over the
 * run's workers), its plan's key — with the layout that resolved them (the simulator's checks of the table against the
 * run: src/execute/sim/live.ts). Undefined for a run of one plan.
 */
export function liveOf(spec: RunSpec): { message: RunLive; layout: LiveLayout } | undefined {
  if (!spec.live) return undefined
  if (spec.live.availableUs && Object.keys(spec.live.availableUs).length > 0)
    throw new UserError(
      `run ${spec.key}: the GPU runner follows a plan table planned before the run (no plans planned on demand)`,
    )
  const n = spec.workers.length
  if (n > GPU_LIVE_MAX_WORKERS)
    throw new UserError(
      `run ${spec.key}: a table-following run on the GPU takes at most ${GPU_LIVE_MAX_WORKERS} workers, not ${n}`,
    )
  const names = spec.plan.workers.map((w) => w.name).join(',')
  if (names !== spec.workers.map((w) => w.name).join(','))
    throw new Error(`run ${spec.key}: the plan lists its workers in another order than the run`)
  const layout = liveLayout(spec.key, spec.live, spec.workers, spec.profiles)
  const sets = ['']
  for (let mask = 1; mask < 2 ** n; mask++) sets.push(layout.resolve(mask).key)
  const used = new Set(sets)
  const plans = spec.live.table.plans
    .filter((e) => used.has(e.key))
    .map((e) => ({ key: e.key, plan: e.plan }))
  return { message: { holdUs: spec.live.holdUs, plans, sets }, layout }
}

/**
 * What the backend saw of the active set, as the simulator reports it: the plan each request ran under (its set's,
 * resolved as sent), each set's time in the window by key ('' when none is active), the switches, and the sets that
 * ran under a superset's plan.
 */
export function liveObservations(
  runKey: string,
  layout: LiveLayout,
  sent: RunLive,
  reply: RunReply,
): LiveObservations {
  const seen = reply.live
  if (!seen) throw new BackendCrash(`run ${runKey}: the GPU backend did not say what the active set was`)
  const n = reply.workers.length
  const bad = (why: string) => new BackendCrash(`run ${runKey}: the GPU backend's live reply: ${why}`)
  if (seen.requestSets.length !== n) throw bad(`${seen.requestSets.length} request lists for ${n} workers`)
  if (seen.setTimeUs.length !== 2 ** n) throw bad(`${seen.setTimeUs.length} set times for ${2 ** n} sets`)
  const keys: string[] = []
  const index = new Map<string, number>()
  const fallbacks: Record<string, string> = {}
  const requestPlans = seen.requestSets.map((masks, w) => {
    if (masks.length !== reply.workers[w]?.endUs.length)
      throw bad(`worker ${w}: ${masks.length} sets for ${reply.workers[w]?.endUs.length} requests`)
    return masks.map((mask) => {
      if (mask >= 2 ** n || !((mask >> w) & 1))
        throw bad(`worker ${w}: a request started in set ${mask}, which does not hold it`)
      const r = layout.resolve(mask)
      if (r.key !== sent.sets[mask]) throw bad(`set ${mask} ran under ${sent.sets[mask]}, not ${r.key}`)
      if (!r.exact) fallbacks[r.setKey] = r.key
      let i = index.get(r.key)
      if (i === undefined) {
        i = keys.length
        keys.push(r.key)
        index.set(r.key, i)
      }
      return i
    })
  })
  const setTimeUs: Record<string, number> = {}
  seen.setTimeUs.forEach((us, mask) => {
    if (us > 0) setTimeUs[mask === 0 ? '' : layout.resolve(mask).setKey] = us
  })
  return {
    holdUs: sent.holdUs,
    keys,
    requestPlans,
    setTimeUs,
    switches: seen.switches,
    switchesTotal: seen.switchesTotal,
    fallbacks,
  }
}

function toRunResult(r: RunReply): RunResult {
  if (r.energyJ === null) throw new BackendCrash('GPU backend returned no energy reading (NVML)')
  const notes = [...r.notes, `executed as ${r.mode}`]
  for (const c of r.outputCheck ?? [])
    notes.push(
      `${c.name}: output ${c.bitwise ? 'bitwise equal to' : `rel. error ${c.relErr?.toExponential(1) ?? 'n/a'} vs`} baseline`,
    )
  return {
    workers: r.workers.map((w) => ({
      arrivalUs: w.arrivalUs ?? w.startUs,
      startUs: w.startUs,
      endUs: w.endUs,
      ...(w.cpuUs ? { cpuUs: w.cpuUs } : {}),
    })),
    windowStartUs: r.windowStartUs,
    windowEndUs: r.windowEndUs,
    energyJ: r.energyJ,
    energySource: 'nvml',
    smBusyUs: null,
    kernels: null,
    wallS: r.wallS,
    notes,
  }
}
