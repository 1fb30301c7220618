// The simulator checked against the H100 (test/measure/sim-vs-gpu.ts says how): recorded runs re-simulated with the
// plans they executed, their seeds and loops, and the shipped calibration (profiles/h100: sim-calibration.json,
// power.json). That calibration was fitted on other runs — the contention constants (sharing rule, footprint and
// graph-edge cost included) on results/h100/batch1 and batch8, the power model on those and eclip-fit/batch1,
// eclip-fit/batch8 —: the test checks that its provenance names none of the series below, so these runs are held out.
// Nineteen series (the list: h100-recorded.ts):
// - results/h100/eclip-fit-v2 (baseline, model-wise, eclip and eclip-fit at batch 1 and 8), with the plans made again
//   (fixtures/h100-eclip-fit-v2-plans.json, made by fixtures/make-h100-plans.ts: the series kept no plan files);
// - results/h100/eclip-fit-floors (baseline and the floored eclip-fit at batch 8, run twice), with the plan files
//   recorded beside each run (Run.planFile);
// - results/h100/profile-retime-fit (baseline and eclip-fit, paper mixes at batch 8 and 1, ours at batch 8), planned
//   and simulated with the profiles as shipped now (request latencies timed without the profiler), plans recorded;
// - results/h100/coresident-plans (baseline and eclip-fit, paper mixes at batch 8 and 1, ours at batch 8: the arm
//   planned with the shipped calibration), plans recorded;
// - results/h100/headline-priorities (baseline and eclip-fit over the paper's and our mixes, at batch 1 with and
//   without --stream-priorities and at batch 8 with it: raised workers' streams re-simulated as raised), plans
//   recorded;
// - results/h100/tuned-priorities (baseline and eclip-fit tuned on the GPU, with and without measured priorities, the
//   13 mixes at batch 1, each recorded in five parts, the measured priorities twice, and four of our mixes with the
//   floors' margin, four with the floors' slack), plans recorded;
// - results/h100/tuned-priorities-b8 (the same at batch 8: not tuned, with and without the simulator's priorities,
//   tuned with and without measured priorities, two mixes and then all 13 tuned with the margins on p95 and floors,
//   and more3 once more with the floors as given; seven mixes tuned with a deeper budget, two with the floors at 0.85,
//   more4 with a second search's seeds, then the nine mixes where those seeds differ), plans recorded;
// - results/h100/shipped-13 (baseline and eclip-fit untuned as shipped, the 13 mixes at batch 8 and 1, the paper's
//   seven twice, and at batch 1 planned on the batch-1 profiles before and after their conv and GEMM targets), plans
//   recorded;
// - results/h100/tuned-shipped-13 (baseline and eclip-fit tuned on the GPU with measured priorities, the 13 mixes at
//   batch 1 on the shipped profiles), plans recorded;
// - results/h100/reprofiled-b8 (baseline and eclip-fit untuned, the 13 mixes at batch 8, planned on the batch-8
//   profiles before and after their conv and GEMM targets, back to back, and the paper's seven again), plans recorded;
// - results/h100/tuned-shipped-b8 (baseline and eclip-fit tuned on the GPU with measured priorities, the 13 mixes at
//   batch 8 on the shipped profiles), plans recorded;
// - results/h100/load-shape-ab (baseline and eclip-fit untuned, the 13 mixes at batch 8 and the paper's seven at
//   batch 1, planned with the shipped calibration and with a candidate one: every plan re-simulated with the shipped
//   one), plans recorded;
// - results/h100/batch-split-ab (the same at batch 8 with batch-split-b8's candidate), plans recorded;
// - results/h100/tuned-wide-b1 (baseline and eclip-fit tuned with twice the candidates, three mixes at batch 1),
//   plans recorded;
// - results/h100/tuned-p95-b1 (baseline and eclip-fit tuned with and without --max-p95 1.1, back to back, six mixes
//   at batch 1, mix3 twice), plans recorded;
// - results/h100/tuned-p95-gpu-cap (the same with --max-p95 held on measurements alone, and with the tuning that
//   held it in the simulator's searches, back to back), plans recorded;
// - results/h100/confirm-close-calls (baseline and eclip-fit tuned with CONFIRM on a fall-back alone and over any
//   choice, back to back, four mixes at batch 1, two of them twice), plans recorded;
// - results/h100/tuned-p95-13 (baseline and eclip-fit tuned with --max-p95 1.1, the seven mixes without vgg19 at
//   batch 1), plans recorded;
// - results/h100/profile-interference-b1 (baseline and eclip-fit untuned, six mixes at batch 1, planned with the
//   shipped calibration, with a candidate giving albert and shufflenet their own γ, and with the shipped one again),
//   plans recorded.
// Every plan is checked against each run's switches and kernels per request.
//
// TARGET: the tolerances; GUARD: what the simulator meets today.
import { H100_FIXTURE, H100_FIXTURE_RUNS, H100_RECORDED, H100_RUNS, H100_SOLO } from './h100-recorded.ts'
import { checkHeldOut, type Limits } from './sim-vs-gpu.ts'

/**
 * The series names (the folder under results/h100) the calibration must not have been fitted on: eclip-fit-v2 (the
 * fixture's) and every series in the recorded list, so a series added there is held out here too.
 */
const SERIES = [...new Set(['eclip-fit-v2', ...H100_RECORDED.map((p) => p.split('/')[2] as string)])]

/**
 * The targets (#18: the simulator's STP within 8% of the GPU's, each worker within 15%), per run and on each
 * series' mean. The simulator does not meet them on every run, nor on every series' mean: they are checked by `todo`
 * tests, which list the runs and the series past them without failing CI; the guard below holds what it meets today.
 */
export const TARGET = { stpVsBaseline: 0.08, stpCommon: 0.08, worker: 0.15 }

/**
 * What the simulator meets today, held so that it cannot get worse unnoticed: each run's largest drift (the worst run
 * measured, rounded up by about a point) and the mean over each series' runs (the common guard under the targets). The
 * re-simulation is deterministic (recorded plans and seeds), so these move only when the simulator, the calibration
 * or the profiles do. With 'coresident' sharing (src/execute/sim/contention.ts), kernels of co-located workers share
 * SMs as far as their blocks leave room: STP with the profiles' solo rates tightened from 18% to 13% at worst, the
 * ratio to baseline from 12.5% to 11%; each series' mean ratio to baseline loosened by a few tenths of a point.
 * Re-simulating a worker planned with GEMMs picked per partition with those kernels' times (as it ran; before, with
 * the whole-GPU times) tightened the two series recorded so (coresident-plans, headline-priorities) in the ratios to
 * baseline — STP's 9.3% and 13.1% at worst to 6.9% and 7.4%, a worker's 18% and 31% to 13% and 25% — and loosened
 * STP with the profiles' solo rates to 16% (albert at batch 1, its absolute rate over-predicted with those times:
 * the contention constants were fitted on runs made before GEMM targets).
 */
export const GUARD = {
  perRun: { stpVsBaseline: 0.11, stpCommon: 0.17, worker: 0.17 },
  mean: { stpVsBaseline: 0.03, stpCommon: 0.06, worker: 0.06 },
}

/**
 * Series held to a mean guard of their own: tuned-priorities, tuned-shipped-13, tuned-wide-b1, tuned-p95-gpu-cap,
 * confirm-close-calls, tuned-p95-13 and profile-interference-b1 are batch 1 alone, where albert's absolute rate is
 * over-predicted (above), so their mean STP with the profiles' solo rates sits past the common mean guard
 * (tuned-wide-b1 and tuned-p95-gpu-cap each have more1 twice, whose baseline is furthest off; confirm-close-calls has
 * albert in three of its four mixes, tuned-p95-13 in three of its seven, mix1 with two, and profile-interference-b1 in
 * four of its six: both past the issue's 8%, which the targets' `todo` lists); eclip-fit-v2's mean STP ratio to
 * baseline sits just past it (by a tenth of a point) on the batch-8 profiles re-profiled with conv lanes and op spans:
 * its batch-8 runs of the paper's eclip in mix2 and mix5 moved the most.
 */
export const GUARD_MEAN_EXCEPTIONS: Record<string, Partial<Limits>> = {
  'eclip-fit-v2': { stpVsBaseline: 0.031 },
  'tuned-priorities': { stpCommon: 0.07 },
  'tuned-shipped-13': { stpCommon: 0.075 },
  'tuned-wide-b1': { stpCommon: 0.085 },
  'tuned-p95-gpu-cap': { stpCommon: 0.07 },
  'confirm-close-calls': { stpCommon: 0.075 },
  'tuned-p95-13': { stpCommon: 0.095 },
  'profile-interference-b1': { stpCommon: 0.095 },
}

/**
 * Runs held to a guard of their own, named: shufflenet in our mix more4 at batch 8 under eclip-fit, whose rate ÷ its
 * baseline rate is further from the GPU's than any other worker's (the same worker in profile-retime-fit's more4 and
 * more5 is within the common guard), and again in headline-priorities at batch 8; and plans tuned on the GPU at
 * batch 8 (tuned-priorities-b8), where the tuning kept what the GPU gives a worker and the simulator does not see:
 * resnext101 in more4 and albert in more6 with measured priorities, and mix2's STP ratio (densenet201's the worker
 * furthest off) with and without them; without them more4's shufflenet again, and more6's albert again (tuned with the
 * margins); the same plans tuned again with the margins (tuned-plans2: more4's shufflenet, more6's albert, and mix2's
 * STP ratio); tuned with a deeper budget (deep: more3's shufflenet with resnet152 raised, faster on the GPU; more4's
 * resnext101, slower) and with the floors at 0.85 (floor-085: more4's albert, faster); tuned again on the batch-8
 * profiles re-profiled with conv lanes and op spans (tuned-shipped-b8: more4's densenet201, raised, faster on the GPU).
 * Each is set about a point above the run's error on today's files, so that a drift there still fails; why the
 * simulator misses them: results/h100/sim-raised-b8/.
 */
export const GUARD_EXCEPTIONS: Record<string, Partial<Limits>> = {
  'eclip-fit-floors/more-batch8 more4 eclip-fit/graph': { worker: 0.24 },
  'headline-priorities/b8-prio more4 eclip-fit/graph': { worker: 0.23 },
  'tuned-prio/p8b2 more4 eclip-fit/graph': { worker: 0.19 },
  'tuned-prio/p8a1 mix2 eclip-fit/graph': { stpVsBaseline: 0.12 },
  'tuned-prio/p8c more6 eclip-fit/graph': { worker: 0.21 },
  'tuned/t8a1 mix2 eclip-fit/graph': { stpVsBaseline: 0.12 },
  'tuned/t8b2 more4 eclip-fit/graph': { worker: 0.21 },
  'tuned-margins/g8 more6 eclip-fit/graph': { worker: 0.21 },
  'tuned-plans2/q1 mix2 eclip-fit/graph': { stpVsBaseline: 0.12 },
  'tuned-plans2/q4 more4 eclip-fit/graph': { worker: 0.19 },
  'tuned-plans2/q5 more6 eclip-fit/graph': { worker: 0.19 },
  'deep/d13 more3 eclip-fit/graph': { worker: 0.21 },
  'deep/d14 more4 eclip-fit/graph': { worker: 0.19 },
  'floor-085/f14 more4 eclip-fit/graph': { worker: 0.21 },
  'tuned-shipped-b8/q8b2 more4 eclip-fit/graph': { worker: 0.2 },
}

checkHeldOut({
  gpu: 'H100',
  profiles: 'profiles/h100',
  solo: H100_SOLO,
  fixture: H100_FIXTURE,
  recorded: H100_RECORDED,
  fittedOn: 'results/h100/batch8/results.json',
  notFittedOn: SERIES,
  runs: H100_RUNS + H100_FIXTURE_RUNS,
  target: TARGET,
  guard: GUARD,
  guardExceptions: GUARD_EXCEPTIONS,
  guardMeanExceptions: GUARD_MEAN_EXCEPTIONS,
  probe: { series: 'eclip-fit-floors', sets: 4, mix: 'mix3' },
})
