// From a backend's raw observations to the results format's runs: per-worker throughput and latency over the steady
// window, energy per request, SM utilisation, the ideal-packing bound; then, across the runs of one experiment, the
// ratios to baseline and to solo rates, and the system metrics of each mix run (STP, ANTT, worst worker, Jain, the STP
// bound: src/measure/system.ts; docs/design.md §6).
import type { RunResult, RunSpec } from '../execute/backend.ts'
import {
  type ActiveSetMetrics,
  keyNames,
  type LiveMetrics,
  type LiveSetMetrics,
  type Profile,
  type RealtimeMetrics,
  type Run,
  type WorkerResult,
} from '../formats/index.ts'
import { packedArea, packingBound } from '../profile/bound.ts'
import { activeSetMetrics, activeSetTimeline, requestsBySet } from './active-set.ts'
import { jain, latencySummary, mean } from './stats.ts'
import {
  achievedRoundsPerS,
  baselineRatios,
  type SoloSource,
  type SystemWorker,
  systemMetrics,
} from './system.ts'

export interface RunContext {
  backend: 'sim' | 'gpu'
  /** The plan's solver status line, when a plan was made. */
  planSolver?: string
  /** Where the executed plan was written, relative to the results file (Run.planFile). */
  planFile?: string
  notes?: string[]
  /**
   * A run that follows no table, of a mix an eclip-live run of the same bench follows one for: the hold, µs, to
   * rebuild its traffic's active sets with (RunMetrics.activeSets), which eclip-live's sets are held against.
   */
  activeSetsHoldUs?: number
}

/** Name of the solo run of a worker (one worker alone on the whole GPU under baseline). */
export const soloMixName = (model: string, batch: number, dtype: string) => `solo-${model}-b${batch}-${dtype}`

/** Name of the run of a mix's real-time workers alone (baseline, the same arrivals). */
export const rtAloneMixName = (mix: string) => `${mix}:rt-alone`

/** Name of the run of one set of an eclip-live table held (its workers alone, closed loop, under its plan). */
export const setAloneMixName = (mix: string, key: string) => `${mix}[${key}]`

/**
 * What a table-following run observed, per active set: its time in the window and, for each of its workers, the
 * requests that ran under its plan and completed in the window (the held reference is filled by normalise).
 */
function liveMetrics(
  spec: RunSpec,
  result: RunResult,
  inWindow: (e: number) => boolean,
  windowS: number,
): LiveMetrics | undefined {
  const live = result.live
  const table = spec.live?.table
  if (!live || !table) return undefined
  const names = spec.workers.map((w) => w.name)
  const fallbackOf = new Map(Object.entries(live.fallbacks))
  // each request in the window also by the set active when it completed (the run gives the set it started in)
  const timeline = activeSetTimeline(result.workers, names, live.holdUs)
  // `${set key}|${worker}` -> request times
  const ended = requestsBySet(
    result.workers,
    names,
    timeline,
    result.windowStartUs,
    result.windowEndUs,
    'end',
  )
  const endedKeys = [...ended.keys()].map((k) => k.slice(0, k.lastIndexOf('|')))
  const keys = new Set([...Object.keys(live.setTimeUs), ...live.keys, ...endedKeys])
  let planChanges = 0
  result.workers.forEach((w, wi) => {
    const plans = live.requestPlans[wi] ?? []
    w.endUs.forEach((e, i) => {
      if (i > 0 && inWindow(e) && plans[i] !== plans[i - 1]) planChanges++
    })
  })
  const sets: LiveSetMetrics[] = [...keys]
    .sort((a, b) => keyNames(a).length - keyNames(b).length || (a < b ? -1 : a > b ? 1 : 0))
    .map((key) => {
      const idx = live.keys.indexOf(key)
      const members = key === '' ? [] : keyNames(key)
      const timeS = (live.setTimeUs[key] ?? 0) / 1e6
      const workers = members.map((name) => {
        const wi = names.indexOf(name)
        const w = result.workers[wi]
        const plans = live.requestPlans[wi] ?? []
        const service: number[] = []
        w?.endUs.forEach((e, i) => {
          if (idx >= 0 && plans[i] === idx && inWindow(e)) service.push(e - (w.startUs[i] ?? e))
        })
        const atEnd = ended.get(`${key}|${name}`) ?? []
        return {
          name,
          requests: service.length,
          serviceUs: service.length > 0 ? mean(service) : null,
          heldServiceUs: null,
          speedVsHeld: null,
          p99ServiceUs: service.length > 0 ? latencySummary(service).p99 : null,
          heldP99Us: null,
          p99VsHeld: null,
          endedRequests: atEnd.length,
          p99EndedUs: atEnd.length > 0 ? latencySummary(atEnd).p99 : null,
          p99EndedVsHeld: null,
        }
      })
      const ranUnder = fallbackOf.get(key)
      return {
        key,
        timeS,
        share: windowS > 0 ? timeS / windowS : 0,
        ...(ranUnder !== undefined ? { ranUnder } : {}),
        workers,
        speedVsHeld: null,
      }
    })
  return {
    holdMs: live.holdUs / 1000,
    tablePlans: table.plans.length,
    unionPartitions: table.union.partitions.length,
    tablePolicy: table.policy,
    switches: live.switches,
    switchesPerS: windowS > 0 ? live.switches / windowS : 0,
    planChanges,
    sets,
  }
}

export function buildRun(spec: RunSpec, result: RunResult, ctx: RunContext): Run {
  const windowUs = result.windowEndUs - result.windowStartUs
  const windowS = windowUs / 1e6
  const inWindow = (e: number) => e > result.windowStartUs && e <= result.windowEndUs
  const tolerance = spec.plan.params.tolerance
  const bound = packingBound(spec.profiles, spec.gpu.smCount, tolerance)
  // the real-time workers' latencies, all together (DISB's RT latency)
  const rtLat: number[] = []
  let rtWithin = 0
  const workers: WorkerResult[] = spec.plan.workers.map((pw, w) => {
    const profile = spec.profiles[w]
    const ws = spec.workers[w]
    const obs = result.workers[w] ?? { arrivalUs: [], startUs: [], endUs: [] }
    const lat: number[] = []
    const cpu: number[] = []
    obs.endUs.forEach((e, i) => {
      if (!inWindow(e)) return
      lat.push(e - (obs.arrivalUs[i] ?? 0))
      const c = obs.cpuUs?.[i]
      if (c !== undefined) cpu.push(c)
    })
    const sloUs = ws?.sloMs !== undefined ? ws.sloMs * 1000 : undefined
    const within = sloUs === undefined ? 0 : lat.filter((l) => l <= sloUs).length
    if (ws?.priority === 'realtime') {
      rtLat.push(...lat)
      rtWithin += within
    }
    return {
      name: pw.name,
      model: pw.model,
      batch: pw.batch,
      dtype: pw.dtype,
      requests: lat.length,
      throughputRps: lat.length / windowS,
      latencyUs: lat.length > 0 ? latencySummary(lat) : null,
      normVsBaseline: null,
      p95VsBaseline: null,
      normVsSolo: null,
      soloRps: null,
      switchesPerRequest: pw.groups.length - 1,
      kernelsPerRequest: pw.kernels,
      ...(cpu.length > 0 ? { hostCpuUsPerRequest: cpu.reduce((x, y) => x + y, 0) / cpu.length } : {}),
      ...(profile ? profileRefs(profile, tolerance) : {}),
      ...(ws?.priority !== undefined ? { priority: ws.priority } : {}),
      ...(ws?.sloMs !== undefined
        ? { sloMs: ws.sloMs, withinSlo: lat.length > 0 ? within / lat.length : null }
        : {}),
    }
  })
  const requests = workers.reduce((a, w) => a + w.requests, 0)
  const rtSummary = rtLat.length > 0 ? latencySummary(rtLat) : null
  const realtime: RealtimeMetrics | undefined = spec.workers.some((w) => w.priority === 'realtime')
    ? {
        requests: rtLat.length,
        meanUs: rtSummary?.mean ?? null,
        p99Us: rtSummary?.p99 ?? null,
        withinSlo: rtLat.length > 0 ? rtWithin / rtLat.length : null,
        aloneMeanUs: null,
        aloneP99Us: null,
        increaseUs: null,
        increasePct: null,
        overallRps: requests / windowS,
        overallVsBaseline: null,
      }
    : undefined
  const live = liveMetrics(spec, result, inWindow, windowS)
  const activeSets =
    !spec.live && ctx.activeSetsHoldUs !== undefined
      ? activeSetMetrics(
          result.workers,
          spec.workers.map((w) => w.name),
          ctx.activeSetsHoldUs,
          result.windowStartUs,
          result.windowEndUs,
        )
      : undefined
  const energyJ = result.energyJ
  const rounds = achievedRoundsPerS(workers.map((w) => w.throughputRps))
  const synthetic = spec.profiles.some((p) => p.measured.method === 'synthetic')
  return {
    id: `${spec.key}|${ctx.backend}`,
    key: spec.key,
    role: spec.role,
    mix: spec.mix,
    // a table-following run executes many plans: it is eclip-live's, whatever policy made them
    policy: spec.live ? 'eclip-live' : spec.plan.policy,
    mode: spec.mode,
    backend: ctx.backend,
    batch: spec.batch,
    gpu: { name: spec.gpu.name, smCount: spec.gpu.smCount, sliceSize: spec.gpu.sliceSize },
    loop: spec.loop,
    warmupS: result.windowStartUs / 1e6,
    windowS,
    seed: spec.seed,
    workers,
    metrics: {
      requests,
      energyJ,
      jPerRequest: requests > 0 ? energyJ / requests : null,
      requestsPerJ: energyJ > 0 ? requests / energyJ : null,
      meanPowerW: energyJ / windowS,
      energyEffVsBaseline: null,
      requestsPerJVsBaseline: null,
      throughputVsBaseline: null,
      p95VsBaseline: null,
      jainFairness: null,
      meanSmUtilisation: result.smBusyUs === null ? null : result.smBusyUs / (spec.gpu.smCount * windowUs),
      idealRoundsPerS: Number.isFinite(bound.idealRoundsPerS) ? bound.idealRoundsPerS : null,
      roundsPerS: rounds,
      vsIdeal: Number.isFinite(bound.idealRoundsPerS) ? rounds / bound.idealRoundsPerS : null,
      switchesPerRequest: workers.reduce((a, w) => a + w.switchesPerRequest, 0),
      ...(realtime ? { realtime } : {}),
      ...(live ? { live } : {}),
      ...(activeSets ? { activeSets } : {}),
    },
    inputs: {
      profiles: synthetic ? 'synthetic' : 'measured',
      primitives: spec.primitives.measured.method === 'defaults' ? 'defaults' : 'measured',
      power: result.energySource,
    },
    ...(ctx.planSolver ? { planSolver: ctx.planSolver } : {}),
    ...(ctx.planFile ? { planFile: ctx.planFile } : {}),
    wallS: result.wallS,
    notes: [...(ctx.notes ?? []), ...result.notes],
  }
}

/** What a worker's profile says for the system metrics: its whole-GPU request latency and right-sized SM·µs. */
export function profileRefs(
  profile: Profile,
  tolerance: number,
): { fullGpuUs: number; packedAreaSmUs: number } {
  return {
    fullGpuUs: profile.requestUs[profile.requestUs.length - 1] ?? 0,
    packedAreaSmUs: packedArea(profile, tolerance),
  }
}

/**
 * Results written before the system metrics lack each worker's profile references: fills them from `profilesFor`
 * (at right-size tolerance `tolerance`) where missing, so that normalise can compute them. Mutates and returns `runs`.
 */
export function attachProfileRefs(
  runs: Run[],
  profilesFor: (w: Pick<WorkerResult, 'model' | 'batch' | 'dtype'>) => Profile | null,
  tolerance: number,
): Run[] {
  for (const r of runs)
    for (const w of r.workers) {
      if (w.fullGpuUs !== undefined && w.packedAreaSmUs !== undefined) continue
      const p = profilesFor(w)
      if (p) Object.assign(w, profileRefs(p, tolerance))
    }
  return runs
}

/**
 * An eclip-live set against baseline's requests in the same set of the same traffic (its run's activeSets, rebuilt with
 * the same hold): each worker's mean request time there over its own here, and the lowest of them. Absent without
 * baseline's sets.
 */
function vsBaseline(set: LiveSetMetrics, traffic: ActiveSetMetrics | undefined, holdMs: number) {
  if (!traffic || traffic.holdMs !== holdMs) {
    delete set.speedVsBaseline
    for (const w of set.workers) {
      delete w.baselineRequests
      delete w.baselineServiceUs
      delete w.speedVsBaseline
    }
    return
  }
  const there = traffic.sets.find((x) => x.key === set.key)
  for (const w of set.workers) {
    const bw = there?.workers.find((x) => x.name === w.name)
    w.baselineRequests = bw?.requests ?? 0
    w.baselineServiceUs = bw?.serviceUs ?? null
    w.speedVsBaseline = w.baselineServiceUs !== null && w.serviceUs ? w.baselineServiceUs / w.serviceUs : null
  }
  const speeds = set.workers.flatMap((w) =>
    w.requests > 0 && w.speedVsBaseline != null ? [w.speedVsBaseline] : [],
  )
  set.speedVsBaseline = speeds.length > 0 ? Math.min(...speeds) : null
}

/**
 * Fills the ratios that need other runs: to the same worker under baseline (same mix, batch and backend), to the
 * worker's solo rate (its solo run on the same backend), Jain's fairness over the solo-normalised throughputs, and the
 * run-level means. Mutates and returns `runs`.
 */
export function normalise(runs: Run[]): Run[] {
  const baselineOf = new Map<string, Run>()
  const afterOf = new Map<string, Run>()
  const aloneOf = new Map<string, Run>()
  const heldOf = new Map<string, Run>()
  const soloOf = new Map<string, number>()
  const soloLatOf = new Map<string, number>()
  for (const r of runs) {
    if (r.role === 'mix' && r.policy === 'baseline') baselineOf.set(`${r.mix}|${r.batch}|${r.backend}`, r)
    if (r.role === 'baseline-after') afterOf.set(`${r.mix}|${r.batch}|${r.backend}`, r)
    if (r.role === 'rt-alone') aloneOf.set(`${r.mix}|${r.batch}|${r.backend}`, r)
    if (r.role === 'set-alone') heldOf.set(`${r.mix}|${r.batch}|${r.backend}|${r.mode}`, r)
    if (r.role === 'solo' && r.workers[0]) {
      soloOf.set(`${r.mix}|${r.backend}`, r.workers[0].throughputRps)
      const lat = r.workers[0].latencyUs?.mean
      if (lat) soloLatOf.set(`${r.mix}|${r.backend}`, lat)
    }
  }
  // a worker's solo reference: its solo run on the same backend, else its profile's whole-GPU request latency
  const soloRef = (w: WorkerResult, backend: string): SystemWorker['solo'] => {
    const k = `${soloMixName(w.model, w.batch, w.dtype)}|${backend}`
    const rps = soloOf.get(k)
    const lat = soloLatOf.get(k)
    if (rps && rps > 0 && lat) return { rps, latencyUs: lat, from: 'solo-run' satisfies SoloSource }
    if (w.fullGpuUs && w.fullGpuUs > 0)
      return { rps: 1e6 / w.fullGpuUs, latencyUs: w.fullGpuUs, from: 'profile' satisfies SoloSource }
    return null
  }
  const systemWorkers = (r: Run, base: Run | undefined): SystemWorker[] =>
    r.workers.map((w) => ({
      name: w.name,
      rps: w.throughputRps,
      meanLatencyUs: w.latencyUs?.mean ?? null,
      baselineRps: base?.workers.find((b) => b.name === w.name)?.throughputRps ?? null,
      solo: soloRef(w, r.backend),
      areaSmUs: w.packedAreaSmUs ?? null,
    }))
  // what a mix's runs are taken against: its baseline run, or the mean of it and its baseline run again (--bracket)
  const referenceOf = new Map<string, Run>()
  const trafficOf = new Map<string, ActiveSetMetrics | undefined>()
  // (either run alone where the other failed)
  for (const k of new Set([...baselineOf.keys(), ...afterOf.keys()])) {
    const before = baselineOf.get(k)
    const after = afterOf.get(k)
    const only = (before ?? after) as Run
    referenceOf.set(k, before && after ? bracketReference(before, after) : only)
    trafficOf.set(
      k,
      bracketSets(only.metrics.activeSets, before && after ? after.metrics.activeSets : undefined),
    )
  }
  for (const r of runs) {
    const inMix = r.role === 'mix' || r.role === 'baseline-after'
    const k = `${r.mix}|${r.batch}|${r.backend}`
    const base = inMix ? referenceOf.get(k) : undefined
    // eclip-live's active sets against baseline's in the same traffic: its run's, or with --bracket both runs' mean
    const trafficSets = inMix ? trafficOf.get(k) : undefined
    for (const w of r.workers) {
      const solo = soloOf.get(`${soloMixName(w.model, w.batch, w.dtype)}|${r.backend}`)
      w.soloRps = solo ?? null
      w.normVsSolo = solo ? w.throughputRps / solo : null
    }
    Object.assign(r.metrics, baselineRatios(r, base)) // and each worker's ratios
    const solo = r.workers.every((w) => w.normVsSolo !== null)
      ? r.workers.map((w) => w.normVsSolo as number)
      : null
    r.metrics.jainFairness = solo ? jain(solo) : null
    if (inMix) {
      // the baseline seen with the same solo references, its workers in this run's order
      const baseWorkers = base
        ? systemWorkers(r, base).map((w) => ({
            ...w,
            rps: w.baselineRps ?? 0,
            meanLatencyUs: base.workers.find((b) => b.name === w.name)?.latencyUs?.mean ?? null,
          }))
        : null
      const complete = base && r.workers.every((w) => base.workers.some((b) => b.name === w.name))
      r.metrics.system = systemMetrics(systemWorkers(r, base), complete ? baseWorkers : null, r.gpu.smCount)
    }
    const lv = r.metrics.live
    if (lv && r.role === 'mix')
      for (const set of lv.sets) {
        // the held run of the set's own plan (or of the superset's it ran under): this run's mode, or none (one group)
        const k = `${setAloneMixName(r.mix, set.ranUnder ?? set.key)}|${r.batch}|${r.backend}`
        const held = heldOf.get(`${k}|${r.mode}`) ?? heldOf.get(`${k}|null`)
        for (const w of set.workers) {
          const hw = held?.workers.find((x) => x.name === w.name)
          w.heldServiceUs = hw?.latencyUs?.mean ?? null
          w.speedVsHeld = w.heldServiceUs !== null && w.serviceUs ? w.heldServiceUs / w.serviceUs : null
          w.heldP99Us = hw?.latencyUs?.p99 ?? null
          w.p99VsHeld = w.heldP99Us && w.p99ServiceUs != null ? w.p99ServiceUs / w.heldP99Us : null
          if (w.endedRequests !== undefined)
            w.p99EndedVsHeld = w.heldP99Us && w.p99EndedUs != null ? w.p99EndedUs / w.heldP99Us : null
        }
        const speeds = set.workers.flatMap((w) =>
          w.requests > 0 && w.speedVsHeld !== null ? [w.speedVsHeld] : [],
        )
        set.speedVsHeld = speeds.length > 0 ? Math.min(...speeds) : null
        vsBaseline(set, trafficSets, lv.holdMs)
      }
    const rt = r.metrics.realtime
    if (rt && r.role === 'mix') {
      // alone: the real-time workers' own run; a mix of real-time workers only is its own baseline
      const alone =
        aloneOf.get(`${rtAloneMixName(r.mix)}|${r.batch}|${r.backend}`) ??
        (r.workers.every((w) => w.priority === 'realtime') ? base : undefined)
      const a = alone?.metrics.realtime
      rt.aloneMeanUs = a?.meanUs ?? null
      rt.aloneP99Us = a?.p99Us ?? null
      rt.increaseUs = rt.meanUs !== null && rt.aloneMeanUs !== null ? rt.meanUs - rt.aloneMeanUs : null
      rt.increasePct =
        rt.increaseUs !== null && rt.aloneMeanUs ? (rt.increaseUs / rt.aloneMeanUs) * 100 : null
      const b = base?.metrics.realtime?.overallRps
      rt.overallVsBaseline = b ? rt.overallRps / b : null
    }
  }
  return runs
}

/**
 * A mix's baseline as two runs of it give it, one before its other policies and one after (bench --bracket): each
 * worker's throughput, p95 and mean latency, the mean power, requests/J and the real-time metrics' overall rate
 * averaged; everything else the first run's. Ratios taken against it are free of a drift that is linear in time
 * over the runs between the two.
 */
function bracketReference(before: Run, after: Run): Run {
  const avg = (a: number, b: number | undefined) => (b === undefined ? a : (a + b) / 2)
  const workers = before.workers.map((w) => {
    const a = after.workers.find((x) => x.name === w.name)
    if (!a) return w
    const latencyUs =
      w.latencyUs && a.latencyUs
        ? {
            ...w.latencyUs,
            p95: avg(w.latencyUs.p95, a.latencyUs.p95),
            mean: avg(w.latencyUs.mean, a.latencyUs.mean),
          }
        : w.latencyUs
    return { ...w, throughputRps: avg(w.throughputRps, a.throughputRps), latencyUs }
  })
  const rt = before.metrics.realtime
  const rtAfter = after.metrics.realtime
  return {
    ...before,
    workers,
    metrics: {
      ...before.metrics,
      meanPowerW: avg(before.metrics.meanPowerW, after.metrics.meanPowerW),
      // either run without energy: the one that has it
      requestsPerJ:
        before.metrics.requestsPerJ === null
          ? after.metrics.requestsPerJ
          : avg(before.metrics.requestsPerJ, after.metrics.requestsPerJ ?? undefined),
      ...(rt ? { realtime: { ...rt, overallRps: avg(rt.overallRps, rtAfter?.overallRps) } } : {}),
    },
  }
}

/**
 * Baseline's active sets in the traffic an eclip-live run got, from its two runs (bench --bracket): per set and
 * worker the mean of the two runs' mean request times (each where it has one) and their requests summed; one run's
 * sets as they are without the other, or when the two were rebuilt with different holds.
 */
function bracketSets(
  before: ActiveSetMetrics | undefined,
  after: ActiveSetMetrics | undefined,
): ActiveSetMetrics | undefined {
  if (!before || !after || before.holdMs !== after.holdMs) return before
  const sets = before.sets.map((s) => {
    const a = after.sets.find((x) => x.key === s.key)
    return {
      ...s,
      workers: s.workers.map((w) => {
        const aw = a?.workers.find((x) => x.name === w.name)
        const us = [w.serviceUs, aw?.serviceUs ?? null].filter((v): v is number => v !== null)
        return {
          ...w,
          requests: w.requests + (aw?.requests ?? 0),
          serviceUs: us.length > 0 ? us.reduce((x, y) => x + y, 0) / us.length : null,
        }
      }),
    }
  })
  return { ...before, sets }
}
