// The server process's Node runtime over a window, from the /metrics readings at its edges (src/serve/
// process-metrics.ts: prom-client's default metrics): how many garbage-collection pauses and how much of the window
// they took, and the longest event-loop delay seen — what a served rate below the GPU's may be waiting on.
import type { ServeRun } from '../formats/serve-results.ts'

type Scraped = Map<string, { value: number; labels: string }>
export type ServerRuntime = NonNullable<ServeRun['metrics']['serverRuntime']>

/**
 * The window's runtime figures, or null where the server exports no Node runtime metrics (Triton, an older eclip).
 * The GC histogram has no sample before the process's first collection: absent counts as 0.
 */
export function serverRuntime(start: Scraped, end: Scraped): ServerRuntime | null {
  if (!end.has('nodejs_version_info')) return null
  const v = (m: Scraped, name: string) => m.get(name)?.value ?? 0
  // the delay histogram restarts at each reading, so the end's maximum is the window's
  const lag = end.get('nodejs_eventloop_lag_max_seconds')
  return {
    gcPauses: Math.max(
      0,
      v(end, 'nodejs_gc_duration_seconds_count') - v(start, 'nodejs_gc_duration_seconds_count'),
    ),
    gcMs: Math.max(
      0,
      (v(end, 'nodejs_gc_duration_seconds_sum') - v(start, 'nodejs_gc_duration_seconds_sum')) * 1000,
    ),
    eventLoopDelayMaxMs: lag ? lag.value * 1000 : null,
  }
}

export function serverRuntimeNote(r: ServerRuntime, windowS: number): string {
  const share = windowS > 0 ? ` (${((r.gcMs / (windowS * 1000)) * 100).toFixed(1)}% of the window)` : ''
  const lag =
    r.eventLoopDelayMaxMs === null
      ? ''
      : `; the longest event-loop delay ${r.eventLoopDelayMaxMs.toFixed(1)} ms`
  return `server's Node runtime in the window: ${r.gcPauses} garbage-collection pauses, ${r.gcMs.toFixed(1)} ms${share}${lag}`
}
