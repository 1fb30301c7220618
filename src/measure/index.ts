// Metrics of the results format, computed the same way for every backend.
export { achievedRoundsPerS, type PackingBound, packedArea, packingBound, rightSizes } from './bound.ts'
export { buildRun, normalise, type RunContext, soloMixName } from './metrics.ts'
export { jain, latencySummary, mean } from './stats.ts'
