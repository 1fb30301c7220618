// eclip-fit's plan tuned on the backend that will run it (--tune): planFit's simulated search handed to the measured
// coordinate search (tune.ts), its stream-priority sets measured on the tuned plan and its runners-up, then the
// plan's tuning record (Tuning in the plan format) and its note, the floors checked on what was measured.

import { UserError } from '../formats/errors.ts'
import type { WorkerSpec } from '../formats/mix.ts'
import type { Tuning, TuningRun } from '../formats/plan.ts'
import { candidatePlan, evaluateBaseline, type PolicyContext, type PolicyLayout } from './assemble.ts'
import type { FitMetrics, FitSearchResult } from './fit.ts'
import {
  floorShortfalls,
  floorsMetText,
  objectiveOf,
  shortfallOrThrow,
  soloRates,
  stpInfo,
} from './floors.ts'
import type { PlanTuning } from './options.ts'
import { beatsBest, heldP95Cap, PRIORITY_MARGIN, type PriorityChoice } from './priorities.ts'
import { priorityText, raiseStreams } from './raise-streams.ts'
import {
  CONFIRM,
  holdP95,
  MEASURED_FLOOR_MARGIN,
  measuredSearch,
  SIM_FLOOR_SLACK,
  type TunedPlan,
  type TunePick,
} from './tune.ts'

/** 'first', 'second', 'third', then '4th'… */
const ordinal = (rank: number) => ['', 'first', 'second', 'third'][rank] ?? `${rank}th`

/** The priority part of the tuning's note where the p95 hold took the run (holdP95): what that run had raised. */
function heldPriorityText(workers: readonly WorkerSpec[], p: PriorityChoice | undefined): string {
  if (!p) return ''
  const raised = workers.filter((_, i) => p.high?.[i]).map((w) => w.name)
  return `, stream priorities: ${raised.length > 0 ? `${raised.join(', ')} raised` : 'none raised'} (the run the p95 hold took)`
}

/** Which measured plan the priority stage took, for the tuning's note ('' where it measured sets on one plan). */
function runnerUpText(rank: number, plans: number): string {
  if (plans < 2) return ''
  const nth = ordinal(rank)
  const which =
    rank === 1
      ? "the chosen plan's choice kept"
      : `the ${nth} taken (its raised set beat the choice on every plan before it by more than the margin)`
  return `sets of raised workers measured on the ${plans} plans measured best (the tuning's chosen one first), ${which}; `
}

/**
 * eclip-fit's search continued on the measuring evaluator (src/plan/tune.ts): baseline co-location measured, STP's
 * solo rates the evaluator's (else the profiles', as the bench reports them), the floors checked on the measurements.
 */
export async function tuneFit(
  c: PolicyContext,
  t: PlanTuning,
  res: FitSearchResult,
  /** The second search (SIM_FLOOR_SLACK) and its wall time, counted in the tuning's. */
  lowered?: { search: FitSearchResult; ms: number },
): Promise<PolicyLayout> {
  const { gpu, workers, profiles, opts, notes } = c
  const t0 = performance.now() - (lowered?.ms ?? 0)
  const baseline = await evaluateBaseline(c, t.evaluator)
  // every ratio is taken against baseline's rates: a worker it saw finish nothing makes them all meaningless
  const idle = workers.filter((_, i) => !((baseline.throughputRps[i] ?? 0) > 0))
  if (idle.length > 0)
    throw new UserError(
      `tuning: baseline co-location finished no request of ${idle.map((w) => w.name).join(', ')} in its ${t.on.windowS}-s window on the ${t.on.backend} backend: lengthen the tuning window (--tune-window)`,
    )
  const objective = objectiveOf(workers, await soloRates(t.evaluator, profiles), opts)
  // the candidates and the sets ranked with the floors raised by a margin (a window's noise); the plan is still
  // checked against the floors as given
  const floorMargin = t.floorMargin ?? MEASURED_FLOOR_MARGIN
  const evaluateFor = t.evaluator.evaluateFor?.bind(t.evaluator)
  const confirmS = t.on.windowS * CONFIRM.windowFactor
  const tuned = await measuredSearch(res, {
    measure: (cand) => t.evaluator.evaluate(candidatePlan(c, cand)),
    baseline,
    objective,
    floorMargin,
    ...(lowered ? { lowered: lowered.search } : {}),
    candidates: t.candidates,
    evaluations: t.evaluations,
    margin: t.margin,
    // a close call measured again for longer (CONFIRM), where the evaluator can
    ...(evaluateFor
      ? {
          confirm: {
            windowS: confirmS,
            measure: (cand) => evaluateFor(candidatePlan(c, cand), confirmS),
            baseline: () =>
              evaluateBaseline(c, { ...t.evaluator, evaluate: (p) => evaluateFor(p, confirmS) }),
          },
        }
      : {}),
    // with --stream-priorities, the plans after the best whose sets are measured too
    runnersUp: opts.fitPriorities && workers.length >= 2 ? t.priorityPlans - 1 : 0,
    ...(opts.fitEnergyWeight !== undefined ? { energyWeight: opts.fitEnergyWeight } : {}),
  })
  // --stream-priorities: the sets of raised workers measured on the tuned plan and its runners-up, as the search
  // measured its moves (a set must gain more than the tuning's margin, and keep every p95 inside the cap by a margin:
  // a window's noise). Placement and priorities interact: the plan that measured best unraised is not always the best
  // raised, so a runner-up is taken where a raised set on it beats the best plan's choice by the margin as well.
  const setMargin = Math.max(PRIORITY_MARGIN, t.margin)
  const p95Cap = heldP95Cap(opts.maxP95)
  // on a runner-up every p95 is held to the cap itself (its own unraised p95 is no licence: the chosen plan's was not)
  const setRuns: { plan: TunedPlan; high: boolean[]; m: FitMetrics }[] = []
  // a set's run, in a tuning window, is compared with the plan measured in one (TunedPlan.window: where CONFIRM took
  // the plan, its `chosen` is a longer run's)
  const inWindow = (p: TunedPlan) => p.window ?? p.chosen
  const setsOn = (plan: TunedPlan, strict = false) =>
    raiseStreams(
      c,
      t.evaluator,
      { ...plan, chosen: inWindow(plan) },
      baseline,
      tuned.objective,
      tuned.value,
      {
        margin: setMargin,
        p95Cap,
        strict,
        onScore: (high, m) => setRuns.push({ plan, high, m }),
      },
    )
  let pick: TunePick = {
    plan: tuned,
    prio: await setsOn(tuned),
    rank: 1,
  }
  let prioritySets = pick.prio?.tried ?? 0
  const priorityPlans = pick.prio ? 1 + tuned.runnersUp.length : 0
  if (pick.prio)
    for (const [i, plan] of tuned.runnersUp.entries()) {
      const prio = await setsOn(plan, true)
      prioritySets += prio?.tried ?? 0
      // with none raised, a choice's metrics are the plan's in its tuning window (what setsOn compared its sets with)
      const best = pick.prio?.metrics ?? inWindow(pick.plan)
      if (beatsBest(prio, best, tuned.value, setMargin, p95Cap)) pick = { plan, prio, rank: i + 2 }
    }
  const p95Replaced = holdP95(pick, tuned, setRuns, objective.floors, p95Cap)
  if (p95Replaced) pick = p95Replaced.pick
  const { prio } = pick
  const plan = pick.plan
  // what is reported: the raised set's run, else the plan as measured (where CONFIRM took it, its longer run)
  const chosen = prio?.high ? prio.metrics : plan.chosen
  const seconds = (performance.now() - t0) / 1000
  // a plan taken on CONFIRM's longer runs is measured against baseline co-location in the same windows
  const against = chosen === plan.chosen ? (plan.against ?? baseline) : baseline
  const stp = stpInfo(chosen, against, objective, profiles, gpu.smCount, c.params.tolerance)
  const worst = workers[chosen.worst] as WorkerSpec
  const worstRatio = chosen.ratios[chosen.worst] ?? 0
  // against the floors as given (the ranking held them higher)
  const short = floorShortfalls(workers, chosen, objective)
  // the highest p95 ratio the tuning window measured (a worker with no finite p95 left out)
  const p95At = chosen.p95Ratios.reduce(
    (best, r, i) => (Number.isFinite(r) && (best < 0 || r > (chosen.p95Ratios[best] as number)) ? i : best),
    -1,
  )
  const f = (x: number) => (x === Number.POSITIVE_INFINITY ? 'home' : String(x))
  // every run but baseline co-location's, as the record's trail
  const planText = (p?: { homeLengths: number[]; lambdas: number[]; mu: number }) =>
    p
      ? `homes ${p.homeLengths.map((L) => L * gpu.sliceSize).join('/')} SMs, λ ${p.lambdas.map(f).join(', ')}, μ ${p.mu}`
      : "the baseline's placement"
  const r4 = (x: number) => Math.round(x * 1e4) / 1e4
  const runOf = (m: FitMetrics) => {
    const p95s = m.p95Ratios.filter(Number.isFinite)
    return {
      stpVsBaseline: r4(m.stpRatio),
      worstVsBaseline: r4(m.ratios[m.worst] ?? 0),
      ...(p95s.length > 0 ? { worstP95VsBaseline: r4(Math.max(...p95s)) } : {}),
      workersVsBaseline: m.ratios.map(r4),
      floorsMet: m.shortfall === 0,
    }
  }
  // a set run that is the plan and set chosen
  const isChoice = (r: { plan: TunedPlan; high: boolean[] }) =>
    r.plan === plan && prio?.high?.join() === r.high.join()
  const runs: TuningRun[] = [
    ...tuned.trail.map((r) => ({
      phase: r.phase,
      plan: planText(r.plan && { homeLengths: r.plan.homeLengths, ...r.plan.state }),
      ...runOf(r.m),
      ...(r.phase !== 'seed' || r.kept ? { kept: r.kept } : {}),
      // the same metrics object: the plan as measured is the run the hold took
      ...(p95Replaced && !prio?.high && r.m === plan.chosen ? { taken: true } : {}),
    })),
    ...setRuns.map((r) => ({
      phase: 'set' as const,
      plan: planText(
        r.plan.fellBack ? undefined : { ...r.plan.layout, lambdas: r.plan.lambdas, mu: r.plan.mu },
      ),
      raised: workers.filter((_, i) => r.high[i]).map((w) => w.name),
      ...runOf(r.m),
      kept: isChoice(r),
      ...(p95Replaced && isChoice(r) ? { taken: true } : {}),
    })),
  ]
  const tuning: Tuning = {
    ...t.on,
    candidates: t.candidates,
    budget: t.evaluations,
    margin: t.margin,
    floorMargin,
    simFloorSlack: t.simFloorSlack ?? SIM_FLOOR_SLACK,
    evaluations: 1 + tuned.measured + (tuned.confirmed?.runs ?? 0) + prioritySets,
    seconds: Math.round(seconds * 100) / 100,
    moves: tuned.moves,
    stpVsBaseline: stp.value / stp.baseline,
    worstWorker: worst.name,
    worstVsBaseline: worstRatio,
    floorsMet: short.length === 0,
    fellBack: plan.fellBack,
    ...(tuned.confirmed ? { confirmed: tuned.confirmed } : {}),
    ...(priorityPlans > 0 ? { prioritySets, priorityPlans, priorityPlan: pick.rank } : {}),
    ...(p95At >= 0
      ? {
          worstP95Worker: (workers[p95At] as WorkerSpec).name,
          worstP95VsBaseline: chosen.p95Ratios[p95At] as number,
        }
      : {}),
    p95Cap,
    ...(p95Replaced
      ? {
          p95Replaced: {
            worker: (workers[p95Replaced.worker] as WorkerSpec).name,
            p95VsBaseline: p95Replaced.was.p95Ratios[p95Replaced.worker] as number,
            stpVsBaseline: p95Replaced.was.stpRatio,
          },
        }
      : {}),
    runs,
  }
  // the note, in '; '-joined parts: what was measured; why the plan taken is not simply the climb's end (each such
  // reason ends in '; ') and the plan with its raised streams; how it measured; what its numbers are worth
  const on = `${t.on.backend === 'gpu' ? 'the GPU backend' : 'the simulator backend'} (${t.on.gpu}, ${t.on.warmupS} s warm-up + ${t.on.windowS} s window per run)`
  // with the second search, its seeds are counted among the simulator's best (those the first did not give)
  const simBest = `the simulator's ${tuned.seeds - (tuned.homesWhole ? 1 : 2)} best${lowered ? ' of its two searches' : ''}`
  const seeds = tuned.homesWhole
    ? `${tuned.seeds} seeds (the baseline's placement, which model-wise homes make here, ${simBest})`
    : `${tuned.seeds} seeds (the baseline's placement, model-wise homes, ${simBest})`
  const climb = `${tuned.measured - tuned.seeds} more by a coordinate search on measurements, moves kept: ${tuned.moves} (each had to gain more than ${t.margin} of STP)`
  const budget = `${tuning.evaluations} runs in ${seconds.toFixed(1)} s — baseline co-location, ${seeds}, ${climb}`
  const fromLowered =
    tuned.fromLowered && plan === tuned
      ? "the second search's best seed taken, measured above the plan the climb ended on by more than the margin; "
      : ''
  const replaced = tuning.p95Replaced
  // (the baseline's placement is named where the note says it was taken)
  const onPlan = tuned.confirmedOthers?.includes(plan)
    ? `, ${plan.fellBack ? 'its run' : 'a plan as CONFIRM measured it'} in ${tuned.confirmed?.windowS}-s windows`
    : pick.rank > 1
      ? `, on the plan measured ${ordinal(pick.rank)} best unraised`
      : ''
  const instead = `the best measured run within it that meets the floors taken instead${onPlan}`
  const held = replaced
    ? `the choice's window put ${replaced.worker}'s p95 at ${replaced.p95VsBaseline.toFixed(3)}× baseline's, past the cap ${+p95Cap.toFixed(3)} (STP ${replaced.stpVsBaseline.toFixed(3)}× baseline's): ${instead}; `
    : ''
  const cf = tuned.confirmed
  const incumbent = cf?.incumbent === 'plan' ? 'the plan measured best' : "the baseline's placement"
  const confirmText = cf
    ? `${incumbent} would have been taken while plans that beat it met the floors as given: the ${cf.runs - 2} best measured again in ${cf.windowS}-s windows with baseline co-location and ${incumbent}, each floor held ${+cf.floorMargin.toFixed(4)} higher there, ${tuned.confirmedOthers ? 'the best taken' : `none kept those floors and beat ${incumbent} by the STP margin`}; `
    : ''
  const fellBack = plan.fellBack
    ? `the baseline's placement (every kernel on the whole GPU) ${p95Replaced ? 'taken' : pick.rank === 1 ? 'measured best' : 'taken with a set raised'}; `
    : ''
  const runnerUp = p95Replaced ? '' : runnerUpText(pick.rank, priorityPlans)
  const raised = p95Replaced
    ? heldPriorityText(workers, prio)
    : priorityText(workers, prio, inWindow(plan), objective, 'measured')
  const placed = planText({ ...plan.layout, lambdas: plan.lambdas, mu: plan.mu }) + raised
  const p95Text = tuning.worstP95Worker
    ? `, highest p95 ${tuning.worstP95Worker}'s at ${tuning.worstP95VsBaseline?.toFixed(3)}× baseline's`
    : ''
  const stpWorst = `STP ${tuning.stpVsBaseline.toFixed(3)}× baseline's, worst worker ${worst.name} at ${worstRatio.toFixed(3)}× baseline${p95Text}`
  // how the ranking held the floors on the run reported: the baseline's placement's own run to the floors as given;
  // a run of CONFIRM's (measured against its own baseline co-location) as held in its longer windows
  const ownRun = plan.fellBack && !prio?.high
  const long = chosen === plan.chosen && plan.against !== undefined && tuned.confirmed
  const heldHigher =
    ownRun || !tuned.objective.floors.some((f, i) => f !== objective.floors[i])
      ? ''
      : long
        ? `; on the ${long.windowS}-s windows each floor held ${+long.floorMargin.toFixed(4)} higher, to 1 at most`
        : `; on the windows each floor held ${floorMargin} higher, to 1 at most`
  const why = p95Replaced ? "the p95 hold took it (the choice's run past the cap)" : 'it scored best'
  const floorsMet = floorsMetText(objective, tuning.floorsMet, ownRun, heldHigher, why)
  const measured = `measured in tuning: ${stpWorst}, ${floorsMet}, total requests/s ${chosen.totalRatio.toFixed(3)}× baseline's`
  const caveat =
    "heuristic: a local search on short noisy windows, the best of them biased up — the plan's own run is its number"
  notes.push(
    `TUNED on ${on}: ${[budget, fromLowered + confirmText + held + fellBack + runnerUp + placed, measured, caveat].join('; ')}`,
  )
  shortfallOrThrow('the tuned eclip-fit plan', short, opts, notes, `measured on ${t.on.backend}`)
  return {
    partitions: plan.layout.partitions,
    ladders: plan.layout.ladders,
    instances: plan.instances,
    assignments: plan.assignments,
    solver: { name: 'dp', status: 'heuristic', gap: Math.max(0, 1 - stp.value / stp.bound), stp, tuning },
    ...(prio?.high ? { highPriority: prio.high } : {}),
  }
}
