// Loaded into a process under test with `node --import <this file>` (bench/serve-load.ts starts `eclip serve` so):
// every ECLIP_LOAD_PROBE_MS (default 1000) ms it appends one JSON line to the file ECLIP_LOAD_PROBE names — the
// process's memory (RSS, V8 heap, buffers outside the heap) and its event loop's delay since the line before
// (perf_hooks.monitorEventLoopDelay: how late the loop turned, ms). With ECLIP_LOAD_PROBE_GC_S set (and node run
// with --expose-gc) it also collects garbage fully every that many seconds and reports the heap left (`liveMB`): the
// live heap, which a leak grows and the collector's sawtooth does not (that collection shows in the event loop's
// delay). Nothing else: the server runs as it would. Each process of a server with front-ends writes its own lines.
import { appendFileSync } from 'node:fs'
import { monitorEventLoopDelay } from 'node:perf_hooks'

const file = process.env.ECLIP_LOAD_PROBE
if (file) {
  const every = Number(process.env.ECLIP_LOAD_PROBE_MS ?? 1000)
  const resolutionMs = 10
  const delay = monitorEventLoopDelay({ resolution: resolutionMs })
  delay.enable()
  // the histogram holds the intervals between its samples, which are `resolutionMs` apart on an idle loop: the
  // delay is what is left over
  const ms = (ns) => Math.max(0, Math.round(ns / 1e4) / 100 - resolutionMs)
  const gcEvery = Number(process.env.ECLIP_LOAD_PROBE_GC_S ?? 0) * 1000
  let lastGc = Date.now()
  const timer = setInterval(() => {
    let liveMB
    if (gcEvery > 0 && typeof globalThis.gc === 'function' && Date.now() - lastGc >= gcEvery) {
      globalThis.gc()
      lastGc = Date.now()
      liveMB = process.memoryUsage().heapUsed / 2 ** 20
    }
    const m = process.memoryUsage()
    const line = {
      t: Date.now(),
      pid: process.pid,
      rssMB: m.rss / 2 ** 20,
      heapUsedMB: m.heapUsed / 2 ** 20,
      heapTotalMB: m.heapTotal / 2 ** 20,
      externalMB: m.external / 2 ** 20,
      elP50Ms: ms(delay.percentile(50)),
      elP99Ms: ms(delay.percentile(99)),
      elMaxMs: ms(delay.max),
      elMeanMs: ms(delay.mean),
      ...(liveMB !== undefined ? { liveMB } : {}),
    }
    delay.reset()
    try {
      appendFileSync(file, `${JSON.stringify(line)}\n`)
    } catch {
      // the reader went away: nothing to report to
    }
  }, every)
  timer.unref()
}
