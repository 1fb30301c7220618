// The server process's Node runtime over a serve-bench window (src/serve-bench/server-runtime.ts) from two /metrics
// readings, and the metrics it reads in a server's /metrics (src/serve/process-metrics.ts).
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ServerMetrics } from '../../src/serve/metrics.ts'

const metrics = () =>
  new ServerMetrics({
    models: [{ name: 'a', version: '1' }],
    pending: () => 0,
    power: () => undefined,
    backendReady: () => true,
    simulated: true,
  })

import { parseMetrics } from '../../src/serve-bench/client-driver.ts'
import { serverRuntime, serverRuntimeNote } from '../../src/serve-bench/server-runtime.ts'

const scrape = (lines: string[]) => parseMetrics(lines.join('\n'))
const node = 'nodejs_version_info{version="v20.20.2",major="20",minor="20",patch="2"} 1'

describe('serverRuntime: GC pauses and event-loop delay between two readings', () => {
  it("takes the GC counts and time between the edges, summed over kinds, and the end reading's delay maximum", () => {
    const start = scrape([
      node,
      'nodejs_gc_duration_seconds_sum{kind="minor"} 0.5',
      'nodejs_gc_duration_seconds_count{kind="minor"} 100',
      'nodejs_gc_duration_seconds_sum{kind="major"} 0.2',
      'nodejs_gc_duration_seconds_count{kind="major"} 2',
      'nodejs_eventloop_lag_max_seconds 0.9',
    ])
    const end = scrape([
      node,
      'nodejs_gc_duration_seconds_sum{kind="minor"} 0.53',
      'nodejs_gc_duration_seconds_count{kind="minor"} 130',
      'nodejs_gc_duration_seconds_sum{kind="major"} 0.21',
      'nodejs_gc_duration_seconds_count{kind="major"} 3',
      'nodejs_eventloop_lag_max_seconds 0.0042',
    ])
    const r = serverRuntime(start, end)
    assert.ok(r)
    assert.equal(r.gcPauses, 31)
    assert.ok(Math.abs(r.gcMs - 40) < 1e-6)
    assert.ok(Math.abs((r.eventLoopDelayMaxMs ?? 0) - 4.2) < 1e-9)
    assert.equal(
      serverRuntimeNote(r, 2),
      "server's Node runtime in the window: 31 garbage-collection pauses, 40.0 ms (2.0% of the window); the longest event-loop delay 4.2 ms",
    )
  })

  it('counts a process that had not collected yet at the start from 0', () => {
    const r = serverRuntime(
      scrape([node]),
      scrape([
        node,
        'nodejs_gc_duration_seconds_sum{kind="minor"} 0.01',
        'nodejs_gc_duration_seconds_count{kind="minor"} 4',
      ]),
    )
    assert.deepEqual(r && { ...r, gcMs: Math.round(r.gcMs) }, {
      gcPauses: 4,
      gcMs: 10,
      eventLoopDelayMaxMs: null,
    })
  })

  it('is null for a server without Node runtime metrics (Triton)', () => {
    assert.equal(
      serverRuntime(
        scrape(['nv_energy_consumption{gpu_uuid="x"} 5']),
        scrape(['nv_energy_consumption{gpu_uuid="x"} 9']),
      ),
      null,
    )
  })
})

describe("a server's /metrics ends with its process's Node metrics", () => {
  it("has the GC histogram, the event-loop delay and the version, once, after the server's own", async () => {
    const text = await metrics().text()
    for (const name of [
      'nodejs_version_info',
      'nodejs_gc_duration_seconds',
      'nodejs_eventloop_lag_max_seconds',
    ])
      assert.equal(text.split('\n').filter((l) => l.startsWith(`# TYPE ${name} `)).length, 1, name)
    const lines = text.split('\n')
    const last = (prefix: string) => lines.findLastIndex((l) => l.startsWith(prefix))
    const own = last('# TYPE nv_')
    assert.ok(own >= 0 && own < lines.indexOf('# TYPE nodejs_version_info gauge'), "the server's own first")
    const again = await metrics().text() // a second server in the process: the collectors are not doubled
    assert.equal(again.split('\n').filter((l) => l.startsWith('# TYPE nodejs_version_info ')).length, 1)
  })
})
