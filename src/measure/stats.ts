// Small statistics used by the metrics: latency percentiles and Jain's fairness index.
import { createHistogram } from 'node:perf_hooks'
import type { Latency } from '../formats/index.ts'

/**
 * p50/p95/p99/mean/min/max of latencies in µs. Percentiles come from Node's HDR histogram (perf_hooks,
 * 3 significant digits, recorded in ns); mean, min and max are exact.
 */
export function latencySummary(us: readonly number[]): Latency {
  if (us.length === 0) return { p50: 0, p95: 0, p99: 0, mean: 0, min: 0, max: 0 }
  const h = createHistogram()
  let sum = 0
  let min = Number.POSITIVE_INFINITY
  let max = 0
  for (const v of us) {
    h.record(Math.max(1, Math.round(v * 1000)))
    sum += v
    if (v < min) min = v
    if (v > max) max = v
  }
  const r = (ns: number) => Math.round(ns) / 1000
  return {
    p50: r(h.percentile(50)),
    p95: r(h.percentile(95)),
    p99: r(h.percentile(99)),
    mean: sum / us.length,
    min,
    max,
  }
}

/** Jain's fairness index (Σx)² / (n·Σx²): 1 when all equal, 1/n when one gets everything. */
export function jain(xs: readonly number[]): number | null {
  if (xs.length === 0) return null
  let s = 0
  let s2 = 0
  for (const x of xs) {
    s += x
    s2 += x * x
  }
  return s2 === 0 ? null : (s * s) / (xs.length * s2)
}

export const mean = (xs: readonly number[]): number | null =>
  xs.length === 0 ? null : xs.reduce((a, b) => a + b, 0) / xs.length

/** Mean, lowest, highest and sample standard deviation; null without a value. */
export function spreadOf(xs: number[]): { mean: number; min: number; max: number; sd: number | null } | null {
  const m = mean(xs)
  if (m === null) return null
  const sd = xs.length > 1 ? Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1)) : null
  return { mean: m, min: Math.min(...xs), max: Math.max(...xs), sd }
}
