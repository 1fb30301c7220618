// The H100's recorded GPU runs that the simulator is checked on, held out from every fit of its constants
// (test/measure/sim-vs-gpu.test.ts says which series and why; bench/heldout-workers.ts reads them per worker).
/** The series whose runs recorded the plans they executed (Run.planFile, beside results.json). */
export const H100_RECORDED = [
  'results/h100/eclip-fit-floors/batch8',
  'results/h100/eclip-fit-floors/batch8-repeat',
  'results/h100/eclip-fit-floors/batch1',
  'results/h100/eclip-fit-floors/more-batch8',
  'results/h100/profile-retime-fit/b8',
  'results/h100/profile-retime-fit/b1',
  'results/h100/profile-retime-fit/more-b8',
  'results/h100/coresident-plans/b8-co',
  'results/h100/coresident-plans/b1-co',
  'results/h100/coresident-plans/more-co',
  'results/h100/headline-priorities/b1-plain',
  'results/h100/headline-priorities/b1-prio',
  'results/h100/headline-priorities/b8-prio',
  ...['a1', 'a2', 'q3', 'q4', 'q5'].map((p) => `results/h100/tuned-priorities/tuned/${p}`),
  ...['p1', 'p2', 'p3', 'p4', 'p5'].map((p) => `results/h100/tuned-priorities/tuned-prio/${p}`),
  ...['m1a1', 'm1a2', 'm1b1', 'm1b2', 'm1c'].map((p) => `results/h100/tuned-priorities/tuned-margin/${p}`),
  ...['f1', 'f2'].map((p) => `results/h100/tuned-priorities/tuned-floor-margin/${p}`),
  ...['untuned/u8p', 'untuned/u8m', 'untuned-prio/s8p', 'untuned-prio/s8m'].map(
    (p) => `results/h100/tuned-priorities-b8/${p}`,
  ),
  ...['p8a1', 'p8a2', 'p8b1', 'p8b2', 'p8c'].map((p) => `results/h100/tuned-priorities-b8/tuned-prio/${p}`),
  ...['t8a1', 't8a2', 't8b1', 't8b2', 't8c'].map((p) => `results/h100/tuned-priorities-b8/tuned/${p}`),
  'results/h100/tuned-priorities-b8/tuned-margins/g8',
  ...['q1', 'q2', 'q3', 'q4', 'q5'].map((p) => `results/h100/tuned-priorities-b8/tuned-plans2/${p}`),
  'results/h100/tuned-priorities-b8/floor-margin-0/r3',
  ...['d2', 'd3', 'd5', 'd6', 'd13', 'd14', 'd15'].map((p) => `results/h100/tuned-priorities-b8/deep/${p}`),
  ...['f14', 'f15'].map((p) => `results/h100/tuned-priorities-b8/floor-085/${p}`),
  'results/h100/tuned-priorities-b8/sim-slack/s14',
  ...['a', 'b', 'c', 'd', 'e', 'm1'].map((p) => `results/h100/tuned-priorities-b8/sim-slack/${p}`),
  ...['t1', 't2'].map((p) => `results/h100/tuned-priorities/sim-slack/${p}`),
  ...['p8', 'p8b', 'm8', 'p1', 'p1b', 'm1', 'n-p1', 'n-m1'].map((p) => `results/h100/shipped-13/${p}`),
  ...['p-a1', 'p-a2', 'p-b1', 'p-b2', 'p-c'].map((p) => `results/h100/tuned-shipped-13/${p}`),
  ...['n-p8', 'p8', 'm8', 'n-m8'].map((p) => `results/h100/reprofiled-b8/${p}`),
  ...['q8a1', 'q8a2', 'q8b1', 'q8b2', 'q8c'].map((p) => `results/h100/tuned-shipped-b8/${p}`),
  ...['r-p8', 'r-n-p8'].map((p) => `results/h100/reprofiled-b8/${p}`),
  ...[
    'L8p-shipped',
    'L8p-candidate',
    'L1p-shipped',
    'L1p-candidate',
    'L8m-shipped',
    'L8m-candidate-2',
    'L8m-shipped-2',
  ].map((p) => `results/h100/load-shape-ab/${p}`),
  ...['BP-shipped', 'BP-candidate', 'BM-shipped', 'BM-candidate'].map(
    (p) => `results/h100/batch-split-ab/${p}`,
  ),
  ...['T3', 'T5', 'T1', 'D1'].map((p) => `results/h100/tuned-wide-b1/${p}`),
  ...[
    'D-mix3',
    'P-mix3',
    'D-more5',
    'P-more5',
    'D-more1',
    'P-more1',
    'D-more3',
    'P-more3',
    'D-more6',
    'P-more6',
    'D-mix4',
    'P-mix4',
    'P2-mix3',
    'D2-mix3',
  ].map((p) => `results/h100/tuned-p95-b1/${p}`),
  ...[
    'O-mix4',
    'N-mix4',
    'D-mix4',
    'N-mix3',
    'D-mix3',
    'O-mix3',
    'N-more5',
    'D-more5',
    'D-more1',
    'N-more1',
    'D-more3',
    'N-more3',
    'N-more6',
    'D-more6',
    'N2-mix4',
  ].map((p) => `results/h100/tuned-p95-gpu-cap/${p}`),
  ...[
    'D-more1',
    'C-more1',
    'D-more3',
    'C-more3',
    'D-more6',
    'C-more6',
    'D-mix3',
    'C-mix3',
    'D2-more3',
    'C2-more3',
    'D2-more6',
    'C2-more6',
  ].map((p) => `results/h100/confirm-close-calls/${p}`),
  ...['N-mix2', 'N-mix5', 'N-mix7', 'N-mix6', 'N-mix1', 'N-more2', 'N-more4'].map(
    (p) => `results/h100/tuned-p95-13/${p}`,
  ),
  ...['S', 'C', 'S2'].map((p) => `results/h100/profile-interference-b1/${p}`),
]

/** GPU runs in those series (a series added or a run lost shows as a different count). */
export const H100_RUNS = 1004

/** eclip-fit-v2 kept no plan files: its plans made again (by fixtures/make-h100-plans.ts), and its run count. */
export const H100_FIXTURE = 'test/measure/fixtures/h100-eclip-fit-v2-plans.json'
export const H100_FIXTURE_RUNS = 56

/** The solo runs each batch's runs are normalised by: same GPU, profiles and 32 hardware queues as the series. */
export const H100_SOLO = { 1: 'results/h100/batch1', 8: 'results/h100/batch8' } as const
