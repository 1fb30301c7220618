// Metrics of the results format, computed the same way for every backend.
export { achievedRoundsPerS, type PackingBound, packedArea, packingBound, rightSizes } from './bound.ts'
export {
  attachProfileRefs,
  buildRun,
  normalise,
  profileRefs,
  type RunContext,
  soloMixName,
} from './metrics.ts'
export { jain, latencySummary, mean } from './stats.ts'
export {
  antt,
  profileSystemMetrics,
  type StpBound,
  stp,
  stpBound,
  systemMetrics,
  worstWorker,
} from './system.ts'
