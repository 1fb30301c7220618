// The server process's own Node metrics, from prom-client's default collectors: garbage-collection pauses by kind
// (nodejs_gc_duration_seconds), event-loop delay since the last scrape (nodejs_eventloop_lag_*_seconds, sampled every
// 10 ms), heap, CPU, handles. A server whose GPU idles while requests wait needs them to tell a stall of its own
// event loop from one elsewhere. Registered once per process, however many servers it starts (each collector is a
// process-wide observer that cannot be stopped), and appended to every server's /metrics.
import { collectDefaultMetrics, Registry } from 'prom-client'

let registry: Registry | null = null

/** The process's registry of default metrics, made at the first call. */
export function processRegistry(): Registry {
  if (registry === null) {
    registry = new Registry()
    collectDefaultMetrics({ register: registry })
  }
  return registry
}

/** The process metrics' Prometheus text (the delay histogram restarts at each read). */
export function processMetricsText(): Promise<string> {
  return processRegistry().metrics()
}
