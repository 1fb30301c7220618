// The simulator checked against the H200 (test/measure/sim-vs-gpu.ts says how): recorded runs re-simulated with the
// plans they executed, their seeds and loops, and the shipped calibration (profiles/h200: sim-calibration.json,
// power.json). Its contention constants were fitted on results/h200/coresident-cal/b8 and b1, its batch-8 γ set by
// hand from kernel traces (results/h200/kernel-trace), its batch-1 γ's fitted on the interference probes
// (results/h200/interference), its batch-1 κ's per profile chosen on two tuning series' trails and resnext101.b8's on
// results/h200/tuned-priorities-b8, its power model fitted on results/h200/batch1 and batch8: the test checks that
// their provenance names none of the series below. Twenty-nine series, plans recorded (the list: h200-recorded.ts):
// - results/h200/coresident-cal (the arms not fitted on: eclip-fit planned on the fitted calibration at batch 8 and 1,
//   and batch 8 again on another machine, planned on it and on the fifo calibration shipped before it);
// - results/h200/tuned-priorities-b1 (the same 13 mixes at batch 1);
// - results/h200/priorities-b8 and priorities-b1 (the 13 mixes at batch 8 and 1, not tuned, the raised workers chosen
//   on the simulator; at batch 1 two mixes again with the chooser's earlier cap, at batch 8 mix7 four times with the
//   p95 held over one seed and over five);
// - results/h200/profile-interference (eclip-fit untuned, planned on the shipped calibration and on a candidate with a
//   memory interference γ per profile, the 13 mixes at batch 8 and seven of them at batch 1);
// - results/h200/floor-margin (eclip-fit untuned at batch 8 with the default floors and with every floor at 0.93, the
//   six mixes whose plans that changes, more2 twice);
// - results/h200/interference/refit-plans (eclip-fit untuned at batch 8 planned on the shipped calibration and on a
//   candidate refitted beside the interference probe's γ, the seven mixes of three sets, both arms of each set in one
//   call);
// - results/h200/search-starts-b1 (eclip-fit untuned at batch 1 planned from one start and from several, the six mixes
//   whose plans that changes, three of them twice from one start; the other seven once);
// - results/h200/priorities-starts (mix2 at batch 8 with and without its raised worker, each twice);
// - results/h200/tuned-starts-b1 and tuned-starts-b8 (eclip-fit tuned on the GPU from the several-start search, the 13
//   mixes at batch 1, more4 three times, and the 13 at batch 8, more1 and more2 again with sets on two plans);
// - results/h200/checks/confirm (eclip-fit tuned with the floors held higher, so that CONFIRM may run: mix7 at batch 1,
//   more2 at batch 8 twice);
// - results/h200/mps-b1 and mps-b8 (the 13 mixes at batch 1 and 8: baseline and eclip-fit untuned; their MPS runs
//   are left out);
// - results/h200/mps-unlimited (the 13 mixes at batch 8, the paper's seven at batch 1: baseline, beside MPS runs left
//   out);
// - results/h200/switch-budget (eclip-fit untuned at 14 and 56 switches per request, the 13 mixes at batch 1 and ten
//   at batch 8; its graph edge was fitted on the batch-1 arms, but not shipped);
// - results/h200/switch-price (eclip-fit untuned at batch 1, planned as shipped and with a switch price searched, on
//   the shipped calibration and on one with that edge; every arm re-simulated on the shipped one);
// - results/h200/gemm-target-b1 (eclip-fit untuned at batch 1, the six mixes with albert, GEMM target off and on,
//   two pairs on two machine starts);
// - results/h200/gemm-spread-b1 (the same with the target on, albert's profile left off at nine sizes and spread op
//   by op there, two pairs on one machine start);
// - results/h200/conv-lanes-bench (eclip-fit untuned at batch 1, resnext101, resnet152 and densenet201 with and without
//   conv lanes, seven mixes; not the two parts whose plans lane resnet152, whose profile with lanes is not shipped);
// - results/h200/all-mixes-b1 (eclip-fit untuned at batch 1, the 13 mixes once, the profiles shipped before
//   resnext101's op spans);
// - results/h200/op-spans-b1 (the three mixes with resnext101 at batch 1, planned with and without its op spans, two
//   pairs);
// - results/h200/kappa-b1 (eclip-fit untuned at batch 1, planned on the calibration before the batch-1 γ's and κ's per
//   profile and on the shipped one, the nine mixes whose plans that changes, two rounds);
// - results/h200/tuned-prio-kappa-b1 (eclip-fit tuned on the GPU with measured priorities, the 13 mixes at batch 1,
//   planned on the shipped calibration);
// - results/h200/p95-cap-b8 (eclip-fit untuned at batch 8 with and without a p95 cap per worker, the seven mixes whose
//   plans the cap changes, two runs of each arm);
// - results/h200/gamma-rx-b8 (eclip-fit untuned at batch 8, the three mixes with resnext101, planned on the shipped
//   calibration and on a candidate with resnext101's γ lowered, two runs of each arm);
// - results/h200/kappa-rx-b8 (the same three mixes planned on the calibration before resnext101.b8's κ, on the shipped
//   one, and on it with every floor at 0.92, two runs of each arm);
// - results/h200/shipped-13 (eclip-fit untuned, the 13 mixes at batch 8 and 1 as shipped after resnext101.b8's κ, two
//   rounds on one machine start; mix2 at batch 8 with and without its raised worker, each twice);
// - results/h200/kappa-ad-b8 (eclip-fit untuned at batch 8, the eight mixes with albert or densenet201, planned on the
//   shipped calibration and on a candidate with κ's of their own for albert.b8 and densenet201.b8, two rounds; not
//   shipped).
// Not results/h200/tuned-lanes-b1 and tuned-prio-lanes-b1: the batch-1 κ's per profile were chosen on their trails; not
// results/h200/tuned-priorities-b8: resnext101.b8's κ was chosen on its runs.
// The real-time constants (a raised kernel's drain among them) are the H100's, carried over unfitted; the drain's
// effect was looked at on the runs here with raised workers, but priorities-b8's and -b1's, before it was shipped
// (profiles/h200/README.md says what it changed): those runs are held out from every fit, not from that look.
// TARGET: the tolerances; GUARD: what the simulator meets today.
import { H200_RECORDED, H200_RUNS, H200_SOLO } from './h200-recorded.ts'
import { checkHeldOut, type Limits } from './sim-vs-gpu.ts'

/** The targets (#18), as on the H100 (sim-vs-gpu.test.ts). */
export const TARGET: Limits = { stpVsBaseline: 0.08, stpCommon: 0.08, worker: 0.15 }

/**
 * What the simulator meets today, held so that it cannot get worse unnoticed: the H100's common guard (each run's
 * largest drift and the mean over each series' runs), which every run here meets but those in GUARD_EXCEPTIONS.
 */
export const GUARD = {
  perRun: { stpVsBaseline: 0.11, stpCommon: 0.17, worker: 0.17 },
  mean: { stpVsBaseline: 0.03, stpCommon: 0.06, worker: 0.06 },
}

/**
 * Runs held to a guard of their own, named: more4 at batch 8 under the untuned plan shipped before resnext101.b8's κ,
 * one plan run seven times (mps-b8's N4, p95-cap-b8's off arm, gamma-rx-b8's ship arm, kappa-rx-b8's arm before:
 * 17.2–18.6% off), where the GPU gave albert 1.11–1.12× its baseline rate and the simulator less than its baseline
 * rate; and more4's plan made on kappa-ad-b8's candidate calibration (not shipped), run twice (18.7–19.4% off: albert
 * again, rated low).
 */
export const GUARD_EXCEPTIONS: Record<string, Partial<Limits>> = {
  'mps-b8/N4 more4 eclip-fit/graph': { worker: 0.19 },
  'p95-cap-b8/off1 more4 eclip-fit/graph': { worker: 0.19 },
  'p95-cap-b8/off2 more4 eclip-fit/graph': { worker: 0.19 },
  'gamma-rx-b8/s1 more4 eclip-fit/graph': { worker: 0.19 },
  'gamma-rx-b8/s2 more4 eclip-fit/graph': { worker: 0.19 },
  'kappa-rx-b8/s1 more4 eclip-fit/graph': { worker: 0.19 },
  'kappa-rx-b8/s2 more4 eclip-fit/graph': { worker: 0.19 },
  'kappa-ad-b8/c1 more4 eclip-fit/graph': { worker: 0.2 },
  'kappa-ad-b8/c2r more4 eclip-fit/graph': { worker: 0.2 },
}

/**
 * Series past the common mean guard, with a guard of their own. priorities-starts holds one mix, mix2 at batch 8, whose
 * baseline the simulator rates further off than any other mix's in every batch-8 series that has it (STP with the
 * profiles' solo rates): a series' mean there is that mix's error, not a mean over mixes.
 */
export const GUARD_MEAN_EXCEPTIONS: Record<string, Partial<Limits>> = {
  'priorities-starts': { stpVsBaseline: 0.035, stpCommon: 0.085 },
}

checkHeldOut({
  gpu: 'H200',
  profiles: 'profiles/h200',
  solo: H200_SOLO,
  recorded: H200_RECORDED,
  fittedOn: 'results/h200/coresident-cal/b8/results.json',
  notFittedOn: [
    'tuned-priorities-b1',
    'priorities-b8',
    'priorities-b1',
    'profile-interference',
    'floor-margin',
    'interference/refit-plans',
    'search-starts-b1',
    'priorities-starts',
    'tuned-starts-b1',
    'tuned-starts-b8',
    'checks/confirm',
    'mps-b1',
    'mps-b8',
    'switch-budget',
    'switch-price',
    'gemm-target-b1',
    'gemm-spread-b1',
    'conv-lanes-bench',
    'all-mixes-b1',
    'op-spans-b1',
    'kappa-b1',
    'tuned-prio-kappa-b1',
    'p95-cap-b8',
    'gamma-rx-b8',
    'kappa-rx-b8',
    'shipped-13',
    'kappa-ad-b8',
    'b1-oracle-ab',
    ...['co-b8', 'co-b1', 'rep-co-b8', 'rep-fifo-b8'].map((p) => `coresident-cal/${p}`),
  ],
  runs: H200_RUNS,
  target: TARGET,
  guard: GUARD,
  guardExceptions: GUARD_EXCEPTIONS,
  guardMeanExceptions: GUARD_MEAN_EXCEPTIONS,
  probe: { series: 'tuned-priorities-b1', sets: 5, mix: 'mix3' },
})
