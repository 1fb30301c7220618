// eclip-fit's stream-priority stage (--stream-priorities) on the plan its search chose: each set of raised workers
// drafted on that plan and scored on the evaluator, the choice made by priorities.ts, and the words the plan's note
// gives it. The tuning (tune-fit.ts) runs the same stage on its measurements.

import type { WorkerSpec } from '../formats/mix.ts'
import type { Plan } from '../formats/plan.ts'
import { baselineDraft, candidatePlan, type PolicyContext } from './assemble.ts'
import { type FitCandidate, type FitMetrics, type FitObjective, type FitScore, fitMetrics } from './fit.ts'
import type { PlanEvaluator } from './options.ts'
import { choosePriorities, heldP95Cap, P95_SEEDS, type PriorityChoice } from './priorities.ts'

/**
 * --stream-priorities (opts.fitPriorities): the sets of raised workers scored on `cand` (the chosen plan, with metrics
 * `cand.chosen`) by `evaluator` and ranked by `value` (src/plan/priorities.ts), with the chooser's margin, p95 cap and
 * strictness where given (`how`; else the chooser's defaults, and the plan's own cap, heldP95Cap) and each set's
 * metrics passed to `how.onScore`; undefined where the option is off or there is one worker.
 */
export async function raiseStreams(
  c: PolicyContext,
  evaluator: PlanEvaluator,
  cand: FitCandidate & { chosen: FitMetrics },
  baseline: FitScore,
  objective: FitObjective,
  value: (m: FitMetrics) => number,
  how: {
    margin?: number
    p95Cap?: number
    strict?: boolean
    onScore?: (high: boolean[], m: FitMetrics) => void
  } = {},
): Promise<PriorityChoice | undefined> {
  const n = c.workers.length
  if (!c.opts.fitPriorities || n < 2) return undefined
  const score = async (high: boolean[]) => {
    const m = fitMetrics(await evaluator.evaluate(candidatePlan(c, cand, high)), baseline, objective)
    how.onScore?.(high, m)
    return m
  }
  const tail = p95Tail(c, evaluator, objective)
  return choosePriorities(
    n,
    cand.chosen,
    score,
    value,
    how.margin,
    how.p95Cap ?? heldP95Cap(c.opts.maxP95),
    how.strict,
    tail && ((high, m) => tail(candidatePlan(c, cand, high), m)),
  )
}

/**
 * The p95s the priority chooser holds to its cap, on an evaluator that can rerun a plan on other seeds (the
 * simulator): each worker's p95 ÷ baseline's on the evaluator's own run and on each seed of P95_SEEDS, and the mean
 * over them, past any cap where one of them is not finite (a worker that finished nothing on some seed); one seed's
 * closed loop can fall into phases that spare a lowered worker's tail (docs/plan.md, "Stream priorities"). Undefined
 * elsewhere: the metrics as they are.
 */
function p95Tail(c: PolicyContext, evaluator: PlanEvaluator, objective: FitObjective) {
  const at = evaluator.evaluateAt?.bind(evaluator)
  if (!at) return undefined
  // baseline's runs on the seeds, made once, when a set first gains
  let bases: Promise<FitScore[]> | undefined
  return async (plan: Plan, m: FitMetrics): Promise<FitMetrics> => {
    if (!bases) {
      const base = baselineDraft(c)
      bases = Promise.all(P95_SEEDS.map((s) => at(base, s)))
    }
    const b = await bases
    const more = await Promise.all(
      P95_SEEDS.map(async (s, k) => fitMetrics(await at(plan, s), b[k] as FitScore, objective).p95Ratios),
    )
    const mean = (i: number) => {
      const xs = [m.p95Ratios[i], ...more.map((r) => r[i])]
      return xs.every((x) => x !== undefined && Number.isFinite(x))
        ? (xs as number[]).reduce((a, x) => a + x, 0) / xs.length
        : Number.POSITIVE_INFINITY
    }
    return { ...m, p95Ratios: m.p95Ratios.map((_, i) => mean(i)) }
  }
}

/** What the priority stage did, for eclip-fit's note ('' when it did not run); `how`: scored or measured. */
export function priorityText(
  workers: readonly WorkerSpec[],
  p: PriorityChoice | undefined,
  plain: FitMetrics,
  objective: FitObjective,
  how = 'scored',
): string {
  if (!p) return ''
  const what = objective.weights.some((x) => x !== 1) ? 'the objective' : 'STP'
  const capped =
    p.capped > 0
      ? ` within the p95 cap: ${p.capped === 1 ? '1 set that gained lifts' : `${p.capped} sets that gained lift`} a worker's p95 past ${+p.p95Cap.toFixed(3)}× baseline's`
      : ''
  if (!p.high)
    return `, stream priorities: none raised (${p.tried} sets of raised workers ${how}, none better${capped})`
  const raised = workers.filter((_, i) => p.high?.[i]).map((w) => w.name)
  // the highest p95 of the set taken, as the simulator predicted it: how near the cap the choice came (a tuned note
  // names the measured one of its own)
  const top = p.metrics.p95Ratios.reduce((a, r, i) => (Number.isFinite(r) && r > a.r ? { r, i } : a), {
    r: Number.NEGATIVE_INFINITY,
    i: -1,
  })
  // past the cap only where none raised had it there already: the cap a worker is held to is then that p95
  const before = p.plainP95?.[top.i]
  const past =
    top.r <= p.p95Cap + 1e-9 || before === undefined
      ? ''
      : Number.isFinite(before)
        ? ` (${before.toFixed(3)}× with none raised: held to that, not to ${+p.p95Cap.toFixed(3)}×)`
        : ' (no p95 with none raised: not capped)'
  const highest =
    how === 'scored' && top.i >= 0
      ? `, highest predicted p95 ${workers[top.i]?.name}'s at ${top.r.toFixed(3)}× baseline's${past}`
      : ''
  return `, stream priorities: ${raised.join(', ')} raised (best of ${p.tried} sets ${how}${capped}${highest}; ${what} ${plain.stpRatio.toFixed(3)}× baseline's with none raised)`
}
