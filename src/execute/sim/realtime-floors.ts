// eclip-rt's best-effort floors with the real-time requests in. The planner keeps each best-effort (BE) worker's
// floor against the other BE workers only (its BE plan is made among them, src/plan/realtime.ts); at run time the
// real-time (RT) requests take GPU time on top — the gate mechanism gives them the whole GPU while they run. This
// simulates the whole workload, RT arrivals and all, under the plan and under baseline (every worker on the whole
// GPU, the RT requests beside the BE work, as Triton runs them) and names each BE worker whose rate under the plan
// falls short of its floor × its rate under baseline. The RT workers come first: a shortfall is said, not refused.
import type { Gpu, Plan, Profile, WorkerSpec } from '../../formats/index.ts'
import { DEFAULT_MIN_SHARE, floorShortfall, isRealtime, makePlan } from '../../plan/index.ts'
import { loopOfWorkers } from '../../workload/arrivals.ts'
import { type EvaluatorInputs, scorePlan } from './score.ts'

/** Simulated seconds of the whole workload per run, after a short warm-up. */
export const FLOOR_CHECK_WINDOW_S = 3
const FLOOR_CHECK_WARMUP_S = 0.2

export interface RealtimeFloorCheck {
  /** Per worker (plan order): its rate under the plan ÷ under baseline, simulated; null for RT workers. */
  ratios: (number | null)[]
  /** Each BE worker short of its floor, with its ratio, floor and shortfall; [] if none. */
  short: string[]
  /** The plan note that says it. */
  note: string
}

/**
 * The BE workers of an eclip-rt `plan` against their floors (minShare, else `minShare`, else DEFAULT_MIN_SHARE) with
 * the RT requests in, on the simulator. Null for a mix without both RT and BE workers.
 */
export async function realtimeFloorCheck(
  inputs: EvaluatorInputs,
  gpu: Gpu,
  plan: Plan,
  workers: readonly WorkerSpec[],
  profiles: readonly Profile[],
  minShare?: number,
): Promise<RealtimeFloorCheck | null> {
  if (!workers.some(isRealtime) || workers.every(isRealtime)) return null
  const base = await makePlan(gpu, plan.mix, [...workers], [...profiles], { policy: 'baseline' })
  // the whole workload, each worker's own arrivals, a few hundred RT requests at DISB's rates
  const run = { ...inputs, warmupS: FLOOR_CHECK_WARMUP_S, windowS: FLOOR_CHECK_WINDOW_S }
  const loop = loopOfWorkers(workers, undefined, plan.mix)
  const under = scorePlan(run, plan, workers, profiles, loop).throughputRps
  const was = scorePlan(run, base, workers, profiles, loop).throughputRps
  const ratios = workers.map((w, i) =>
    isRealtime(w) ? null : (was[i] ?? 0) > 0 ? (under[i] ?? 0) / (was[i] as number) : 0,
  )
  const short = workers.flatMap((w, i) => {
    const r = ratios[i]
    return r == null ? [] : (floorShortfall(w, r, w.minShare ?? minShare ?? DEFAULT_MIN_SHARE) ?? [])
  })
  const each = workers
    .flatMap((w, i) => (ratios[i] === null ? [] : [`${w.name} ${(ratios[i] as number).toFixed(3)}×`]))
    .join(', ')
  // one plan note (notes are joined by '; ', so none inside it)
  const within = `with the real-time requests in (the whole workload simulated, ${FLOOR_CHECK_WINDOW_S} s)`
  const note =
    short.length === 0
      ? `${within}: best-effort workers at ${each} their rates under baseline, every floor met`
      : `WARNING: ${short.length} best-effort floor(s) NOT met ${within}, the real-time workers coming first: ${short.join(' and ')}. Best-effort workers at ${each} their rates under baseline. The real-time requests take GPU time the best-effort plan does not see: lower those workers' minShare to accept it, or use --rt-mechanism priority to let best-effort work run beside the real-time requests at the cost of their latency`
  return { ratios, short, note }
}
