// An evaluator that says how far eclip-fit's search has got: its search runs many candidate plans on the simulator,
// and `eclip plan` or a starting server would otherwise be silent all that time. The scores are the wrapped
// evaluator's, untouched: the plan does not change.
import type { PlanEvaluator } from './options.ts'

/** Seconds between two reports. */
export const PROGRESS_EVERY_S = 5

/**
 * `evaluator` with a report after a score resolves, when at least `everyS` have passed since the last report (or
 * since the first score was asked for): the scores so far (a run on another seed, `evaluateAt`, counts as one; a
 * rejected score not at all) and the seconds since the first was asked for. Nothing is reported between scores, and
 * a report that throws is ignored. For the simulator's evaluator: the result is a plain PlanEvaluator (a measured
 * evaluator's own fields would be dropped).
 */
export function withProgress(
  evaluator: PlanEvaluator,
  report: (runs: number, seconds: number) => void,
  everyS = PROGRESS_EVERY_S,
  now: () => number = () => performance.now(),
): PlanEvaluator {
  let t0: number | undefined
  let last = 0
  let runs = 0
  const counted = <T>(run: () => Promise<T>): Promise<T> => {
    if (t0 === undefined) {
      t0 = now()
      last = t0
    }
    const start = t0
    return run().then((x) => {
      runs++
      const t = now()
      if (t - last >= everyS * 1000) {
        last = t
        try {
          report(runs, (t - start) / 1000)
        } catch {
          // a progress line is not worth a plan
        }
      }
      return x
    })
  }
  const { evaluateAt, soloRps } = evaluator
  return {
    evaluate: (plan) => counted(() => evaluator.evaluate(plan)),
    ...(evaluateAt
      ? { evaluateAt: (plan, seed) => counted(() => evaluateAt.call(evaluator, plan, seed)) }
      : {}),
    ...(soloRps ? { soloRps: (i: number) => soloRps.call(evaluator, i) } : {}),
    switchCostUs: evaluator.switchCostUs,
  }
}

/** The report as `eclip plan` and the server write it. */
export const progressLine = (runs: number, seconds: number) =>
  `eclip-fit: ${runs} plans run on the simulator in ${seconds.toFixed(0)} s`
