// ECLIP_HOTPATH_TIMING=1 (a diagnosis): each garbage-collection pause of the process, and each time its event loop
// was held (a 1-ms timer fired over 1 ms late: a long turn or a collection), on stderr on the host's monotonic clock —
// the clock the backend's stream-pause lines use — so that gpu/scripts/pause-causes.py can tell what the server (or
// serve-bench's client processes: `who`) was doing while the GPU's streams stood empty.
import { constants, PerformanceObserver, performance } from 'node:perf_hooks'
import { toMonotonicMs } from '../clock.ts'

const KINDS: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
}
let observer: PerformanceObserver | null = null

/** Starts the trace once per process when `env` asks for the backend's timing; true when it runs. */
export function tracePauses(
  env: NodeJS.ProcessEnv = process.env,
  who: 'serve' | 'clients' = 'serve',
  write: (s: string) => void = (s) => {
    process.stderr.write(s)
  },
) {
  if (env.ECLIP_HOTPATH_TIMING !== '1') return false
  if (observer) return true
  toMonotonicMs(0) // performance.now()'s origin on hrtime's clock read now, not in a traced turn
  observer = new PerformanceObserver((list) => {
    let lines = ''
    for (const e of list.getEntries()) {
      const kind = (e as { detail?: { kind?: number } }).detail?.kind ?? 0
      lines += `eclip ${who}: gc ${KINDS[kind] ?? kind} at ${toMonotonicMs(e.startTime).toFixed(3)} ms (monotonic) for ${(e.duration * 1000).toFixed(0)} µs\n`
    }
    write(lines)
  })
  observer.observe({ entryTypes: ['gc'] })
  let last = performance.now()
  setInterval(() => {
    const now = performance.now()
    // the timer is due 1 ms after the last firing: over 1 ms later than that, a turn or a collection held the loop
    if (now - last > 2)
      write(
        `eclip ${who}: loop held at ${toMonotonicMs(last + 1).toFixed(3)} ms (monotonic) for ${((now - last - 1) * 1000).toFixed(0)} µs\n`,
      )
    last = now
  }, 1).unref()
  return true
}
