// An evaluator that says how far eclip-fit's search has got: its search scores tens to hundreds of candidate plans,
// a minute or more on a small host for a mix of five, and `eclip plan` or a starting server would otherwise be
// silent all that time. The scores are the wrapped evaluator's, untouched: the plan does not change.
import type { PlanEvaluator } from './options.ts'

/** Seconds between two reports. */
export const PROGRESS_EVERY_S = 5

/**
 * `evaluator` with a report after a candidate's score when at least `everyS` have passed since the last report (or
 * since the wrapper was made): the scores so far (a candidate's run on another seed, `evaluateAt`, counts as one
 * more) and the seconds since the wrapper was made.
 */
export function withProgress(
  evaluator: PlanEvaluator,
  report: (scored: number, seconds: number) => void,
  everyS = PROGRESS_EVERY_S,
  now: () => number = () => performance.now(),
): PlanEvaluator {
  const t0 = now()
  let last = t0
  let scored = 0
  const counted = <T>(p: Promise<T>): Promise<T> =>
    p.then((x) => {
      scored++
      const t = now()
      if (t - last >= everyS * 1000) {
        last = t
        report(scored, (t - t0) / 1000)
      }
      return x
    })
  const { evaluateAt, soloRps } = evaluator
  return {
    evaluate: (plan) => counted(evaluator.evaluate(plan)),
    ...(evaluateAt ? { evaluateAt: (plan, seed) => counted(evaluateAt.call(evaluator, plan, seed)) } : {}),
    ...(soloRps ? { soloRps: (i: number) => soloRps.call(evaluator, i) } : {}),
    switchCostUs: evaluator.switchCostUs,
  }
}

/** The report as `eclip plan` and the server's log write it. */
export const progressLine = (scored: number, seconds: number) =>
  `eclip-fit: ${scored} candidate plans scored in ${seconds.toFixed(0)} s`
