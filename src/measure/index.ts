// Metrics of the results format, computed the same way for every backend.
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
  achievedRoundsPerS,
  antt,
  profileSystemMetrics,
  stp,
  systemMetrics,
  worstWorker,
} from './system.ts'
