// How long one execution of a served model takes, for the simulator: from the model's profile at the partition the
// plan gives it, or the plan's prediction. Never invented: a model with neither has no compute time.
import { type EvaluatorInputs, scorePlan } from '../execute/sim/evaluator.ts'
import { UserError } from '../formats/errors.ts'
import type { WorkerSpec } from '../formats/mix.ts'
import type { Plan, PlanWorker } from '../formats/plan.ts'
import type { PlanTable } from '../formats/plan-table.ts'
import type { Profile } from '../formats/profile.ts'

export interface ComputeTime {
  /** One execution at the model's batch, µs. */
  us: number
  /** Where the number comes from, for logs and the dashboard. */
  source: string
}

export interface ComputeTimeModel {
  /** Modelled time of one execution of served model `name`, under the table's plan `plan` where one is named. */
  executionTime(name: string, plan?: string): ComputeTime
}

/** The key of a model's compute time under one plan of a table (eclip-live) in a times map. */
export const planTimeKey = (name: string, plan: string) => `${name}\u0000${plan}`

/** An earlier table and the times taken under it: a plan it holds unchanged under the same key keeps its times. */
export interface TimesBefore {
  table: PlanTable
  times: ReadonlyMap<string, ComputeTime>
}

/**
 * Each model's compute time under every plan of `table` that lists it (keys: planTimeKey); with `coLocated`, each
 * plan of two or more models co-located on the simulator (coLocatedTimes), but for the plans `before` held unchanged
 * under the same key, which keep their times (a load or a newly seen set re-simulates only what is new).
 */
export function tableComputeTimes(
  table: PlanTable,
  specs: ReadonlyMap<string, { spec: WorkerSpec; profile: Profile }>,
  coLocated?: EvaluatorInputs,
  before?: TimesBefore,
): Map<string, ComputeTime> {
  const out = new Map<string, ComputeTime>()
  const was = new Map(before?.table.plans.map((e) => [e.key, JSON.stringify(e.plan)]))
  for (const e of table.plans) {
    const keys = e.plan.workers.map((pw) => planTimeKey(pw.name, e.key))
    const kept = was.get(e.key) === JSON.stringify(e.plan) ? keys.map((k) => before?.times.get(k)) : []
    if (kept.length > 0 && kept.every((t) => t !== undefined)) {
      for (const [i, k] of keys.entries()) out.set(k, kept[i] as ComputeTime)
      continue
    }
    const together = coLocated && e.plan.workers.length > 1 ? coLocatedTimes(e.plan, specs, coLocated) : null
    for (const [i, pw] of e.plan.workers.entries())
      out.set(
        keys[i] as string,
        together?.get(pw.name) ?? workerComputeTime(e.plan, pw, specs.get(pw.name)?.profile),
      )
  }
  return out
}

/**
 * The simulator backend's time per execution of each model of a plan of two or more: the simulator's mean request
 * time of that worker when every worker of the plan is busy (a closed loop, one execution in flight each, on the
 * profile directory's calibrated contention model: src/execute/sim/evaluator.ts), so that co-location costs every
 * policy alike — a model's profile latency alone would serve baseline as if each model had the GPU to itself. A
 * model alone keeps its profile's time (workerComputeTime); so does a worker the run completed no request of.
 */
export function coLocatedTimes(
  plan: Plan,
  specs: ReadonlyMap<string, { spec: WorkerSpec; profile: Profile }>,
  inputs: EvaluatorInputs,
): Map<string, ComputeTime> {
  const out = new Map<string, ComputeTime>()
  const ws = plan.workers.map((pw) => specs.get(pw.name))
  if (plan.workers.length < 2 || ws.some((w) => !w)) return out
  const given = ws as { spec: WorkerSpec; profile: Profile }[]
  const run = (windowS?: number) =>
    scorePlan(
      windowS === undefined ? inputs : { ...inputs, windowS },
      plan,
      given.map((w) => w.spec),
      given.map((w) => w.profile),
    )
  let score = run()
  // a worker that completed no request in the evaluator's window (a very slow one beside fast ones): a longer run
  if (score.throughputRps.some((r) => !(r > 0))) score = run(CO_LOCATED_LONG_WINDOW_S)
  plan.workers.forEach((pw, i) => {
    const rps = score.throughputRps[i] ?? 0
    if (!(rps > 0))
      throw new UserError(
        `the simulator completed no request of ${pw.name} in ${CO_LOCATED_LONG_WINDOW_S} s beside ${plan.workers.length - 1} other model(s) under the ${plan.policy} plan: no time per execution to serve it with`,
      )
    out.set(pw.name, {
      us: 1e6 / rps,
      source: `simulated with the plan's ${plan.workers.length} models all busy (${plan.policy}, ${inputs.calibration.fitted ? 'calibrated' : 'uncalibrated'} contention model)`,
    })
  })
  return out
}

/** The simulated run of a plan whose first run completed no request of some worker, s. */
const CO_LOCATED_LONG_WINDOW_S = 5

/** Request latency of a profile at `sms` SMs: the measured point, or linear between the two nearest sizes. */
export function profileRequestUs(profile: Profile, sms: number): number {
  const { sizes, requestUs } = profile
  const last = sizes.length - 1
  if (sms <= (sizes[0] as number)) return requestUs[0] as number
  if (sms >= (sizes[last] as number)) return requestUs[last] as number
  for (let i = 1; i <= last; i++) {
    const hi = sizes[i] as number
    if (sms <= hi) {
      const lo = sizes[i - 1] as number
      const a = requestUs[i - 1] as number
      const b = requestUs[i] as number
      return a + ((b - a) * (sms - lo)) / (hi - lo)
    }
  }
  return requestUs[last] as number
}

/**
 * A worker whose whole request runs on one partition (baseline, model-wise) takes the profile's measured request
 * latency at that partition's size; a kernel-wise worker takes the plan's prediction (Σ kernel times at the chosen
 * sizes with the co-location slowdown α), which is what the optimizer promised for it.
 */
export function workerComputeTime(plan: Plan, worker: PlanWorker, profile?: Profile): ComputeTime {
  const used = new Set(worker.groups.map((g) => g.partition))
  if (profile && used.size === 1) {
    const pid = [...used][0]
    const part = plan.pool.partitions.find((p) => p.id === pid)
    if (part)
      return {
        us: profileRequestUs(profile, part.sms),
        source: `profile requestUs at ${part.sms} SMs (${profile.measured.method})`,
      }
  }
  return { us: worker.predictedUs, source: `plan predictedUs (${plan.policy}, ${worker.switches} switches)` }
}

/** A ComputeTimeModel from fixed per-model times (resolved once at start-up). */
export function fixedComputeTimes(times: Map<string, ComputeTime>): ComputeTimeModel {
  return {
    executionTime(name, plan) {
      const t = (plan !== undefined ? times.get(planTimeKey(name, plan)) : undefined) ?? times.get(name)
      if (!t) throw new UserError(`no compute time for model "${name}" (no profile or plan covers it)`)
      return t
    },
  }
}
