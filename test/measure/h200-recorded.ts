// The H200's recorded GPU runs that the simulator is checked on, held out from every fit of its constants
// (test/measure/sim-vs-gpu-h200.test.ts says which series and why; bench/heldout-workers.ts reads them per worker).
export const H200_RECORDED = [
  ...['co-b8', 'co-b1', 'rep-co-b8', 'rep-fifo-b8'].map((p) => `results/h200/coresident-cal/${p}`),
  // not tuned-priorities-b8: resnext101.b8's κ was chosen on its runs
  ...['b1h1', 'b1h2', 'b1h3', 'b1h4', 'b1h5'].map((p) => `results/h200/tuned-priorities-b1/${p}`),
  ...['pb8', 'mb8', 'seeds/n1', 'seeds/o1', 'seeds/n2', 'seeds/o2'].map(
    (p) => `results/h200/priorities-b8/${p}`,
  ),
  ...['pb1', 'mb1', 'ob1'].map((p) => `results/h200/priorities-b1/${p}`),
  ...['s7', 'c7', 's6', 'c6', 's1p', 'c1p', 'c1m'].map((p) => `results/h200/profile-interference/${p}`),
  ...['A1', 'A2', 'A3', 'A4', 'B1', 'B2', 'B3', 'B4'].map((p) => `results/h200/floor-margin/${p}`),
  ...['sA', 'rA', 'sB', 'rB', 'sC', 'rC'].map((p) => `results/h200/interference/refit-plans/${p}`),
  ...['o1', 'n1', 'o2', 'n2', 'p2', 'n3'].map((p) => `results/h200/search-starts-b1/${p}`),
  ...['a1', 'b1', 'a2', 'b2'].map((p) => `results/h200/priorities-starts/${p}`),
  ...['t1', 't4', 't5', 't7', 'tm12', 'tm3', 'tm4', 'tc4', 'cf4', 'tm56'].map(
    (p) => `results/h200/tuned-starts-b1/${p}`,
  ),
  ...['A1', 'A4', 'A5', 'A7', 'B1', 'B4', 'B5', 'P12'].map((p) => `results/h200/tuned-starts-b8/${p}`),
  ...['C7', 'K2', 'K3'].map((p) => `results/h200/checks/confirm/${p}`),
  ...['Q1', 'Q4', 'U1', 'U4'].map((p) => `results/h200/mps-b1/${p}`),
  ...['M1', 'M4', 'N1', 'N4'].map((p) => `results/h200/mps-b8/${p}`),
  ...['V1', 'V4', 'W1', 'W4', 'X1', 'X4'].map((p) => `results/h200/mps-unlimited/${p}`),
  ...['a14', 'b56', 'c14', 'd56', 'e14', 'f56', 'g14', 'h56', 'i14', 'j56'].map(
    (p) => `results/h200/switch-budget/${p}`,
  ),
  ...['A1', 'B1', 'B2', 'A2', 'A3', 'C3', 'A4'].map((p) => `results/h200/switch-price/${p}`),
  ...['off1', 'on1', 'on2', 'off2', 'on3', 'off3', 'off4', 'on4'].map(
    (p) => `results/h200/gemm-target-b1/${p}`,
  ),
  ...['old1', 'new1', 'new2', 'old2', 'new3', 'old3', 'old4', 'new4'].map(
    (p) => `results/h200/gemm-spread-b1/${p}`,
  ),
  // not on3 and on4: their plans have resnet152 on conv lanes, whose profile with them is not shipped
  ...['off1', 'on1', 'on2', 'off2', 'off3', 'off4'].map((p) => `results/h200/conv-lanes-bench/${p}`),
  ...['p1', 'm1'].map((p) => `results/h200/all-mixes-b1/${p}`),
  ...['s1', 'b1', 'b2', 's2'].map((p) => `results/h200/op-spans-b1/${p}`),
  // not tuned-lanes-b1 and tuned-prio-lanes-b1: the batch-1 κ per profile was chosen on their tuning trails
  ...[
    ...['k1s', 'k1k', 'k2k', 'k2s', 'k34s', 'k34k', 'k5k', 'k5s'],
    ...['r2s', 'r2k', 'r3k', 'r3s', 'r14s', 'r14k', 'r5s', 'r5k'],
  ].map((p) => `results/h200/kappa-b1/${p}`),
  ...['p12', 'p34', 'p56', 'p7', 'm12', 'm3', 'm4', 'm56'].map(
    (p) => `results/h200/tuned-prio-kappa-b1/${p}`,
  ),
  ...['off1', 'on1', 'on2', 'off2'].map((p) => `results/h200/p95-cap-b8/${p}`),
  ...['c2', 's2', 's1', 'c1'].map((p) => `results/h200/gamma-rx-b8/${p}`),
  ...['s1', 'm1', 'c1', 's2', 'm2', 'c2'].map((p) => `results/h200/kappa-rx-b8/${p}`),
  ...['p8', 'm8', 'p8b', 'm8b', 'p1', 'm1', 'p1b', 'm1b'].map((p) => `results/h200/shipped-13/${p}`),
  ...['a1', 'b1', 'a2', 'b2'].map((p) => `results/h200/shipped-13/prio-mix2/${p}`),
  ...['s1', 'c1', 'c2', 's2', 'c2r', 's2r'].map((p) => `results/h200/kappa-ad-b8/${p}`),
  ...['f1', 'o1', 'f2', 'o3', 'f3'].map((p) => `results/h200/b1-oracle-ab/${p}`),
]

/** GPU runs in those series (a series added or a run lost shows as a different count). */
export const H200_RUNS = 1234

/** The solo runs each batch's runs are normalised by. */
export const H200_SOLO = { 1: 'results/h200/batch1', 8: 'results/h200/batch8' } as const
