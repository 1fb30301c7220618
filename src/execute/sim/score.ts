// A simulated or measured run reduced to what the planner compares (eclip-fit's evaluators, eclip-rt's floor check).
import type { FitScore } from '../../plan/index.ts'
import type { RunResult } from '../backend.ts'

/** p95 as the results use it (nearest rank); NaN with no request. */
function p95(xs: number[]): number {
  if (xs.length === 0) return Number.NaN
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.ceil(0.95 * s.length) - 1)] as number
}

/**
 * A run reduced to what the planner compares: each worker's throughput — closed loop, 1 / its mean latency over the
 * requests that end inside the window, which does not jump by a whole request at the window's edges the way a count
 * of completions does (a few % over a short window) —, its p95, and the mean power over the window.
 */
export function fitScoreOf(
  r: Pick<RunResult, 'workers' | 'windowStartUs' | 'windowEndUs' | 'energyJ'>,
): FitScore {
  const span = (r.windowEndUs - r.windowStartUs) / 1e6
  const throughputRps: number[] = []
  const p95Us: number[] = []
  for (const w of r.workers) {
    const lat: number[] = []
    w.endUs.forEach((e, i) => {
      if (e > r.windowStartUs && e <= r.windowEndUs) lat.push(e - (w.arrivalUs[i] ?? 0))
    })
    const sum = lat.reduce((a, x) => a + x, 0)
    throughputRps.push(sum > 0 ? (lat.length * 1e6) / sum : 0)
    p95Us.push(p95(lat))
  }
  return { throughputRps, p95Us, powerW: span > 0 ? r.energyJ / span : 0 }
}
