// The optimizer's public face: makePlan (make-plan.ts) and what its callers name beside it. Re-exports only.

export { DEFAULT_TOLERANCE, rightSizeIndex, rightSizes } from '../profile/rightsize.ts'
export {
  DEFAULT_MIN_SHARE,
  FIT_LAMBDAS,
  FIT_MUS,
  FIT_STARTS,
  FIT_STARTS_CHOICES,
  type FitScore,
  type FitStarts,
  fitAssignment,
  fitLayout,
  fitMetrics,
} from './fit.ts'
export { floorShortfall, floorShortfalls } from './floors.ts'
export {
  DEFAULT_MIP_GAP,
  DEFAULT_MODEL_WISE_FACTOR,
  DEFAULT_SWITCH_MAX,
  DEFAULT_TIME_LIMIT_S,
  makePlan,
  type Planner,
} from './make-plan.ts'
export {
  DEFAULT_OBJECTIVE,
  type MeasuredOn,
  PLAN_OBJECTIVES,
  type PlanEvaluator,
  type PlanObjective,
  type PlanOptions,
  type PlanTuning,
  type SolverChoice,
} from './options.ts'
export { buildPool, DEFAULT_MAX_PARTITIONS } from './pool.ts'
export { heldP95Cap } from './priorities.ts'
export {
  bestEffortPlanned,
  checkRealtime,
  DEFAULT_RT_BEST_EFFORT,
  DEFAULT_RT_FACTOR,
  DEFAULT_RT_GATE_US,
  DEFAULT_RT_MECHANISM,
  DEFAULT_RT_RESERVE_SMS,
  gatePositions,
  isRealtime,
  plansBestEffort,
  predictedLatencyUs,
  RT_BEST_EFFORT,
  RT_MECHANISMS,
  type RtBestEffort,
  type RtMechanism,
  type RtOptions,
  rtLayout,
  rtMechanismOf,
  withBestEffortPlan,
} from './realtime.ts'
export { type EclipSolveOptions, type EclipSolveResult, solveEclip } from './solve-eclip.ts'
export {
  CONFIRM,
  MEASURED_FLOOR_MARGIN,
  NOTHING_TO_TUNE,
  plansUnderFloors,
  plansUnderSwitchBudget,
  SIM_FLOOR_SLACK,
  TUNE_DEFAULTS,
  type TunablePlans,
  tunablePlans,
} from './tune.ts'
