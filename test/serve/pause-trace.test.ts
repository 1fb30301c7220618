// The server's GC pauses and held event-loop turns on the host's monotonic clock under ECLIP_HOTPATH_TIMING=1
// (src/serve/pause-trace.ts), the clock the backend's stream-pause lines use (gpu/scripts/pause-causes.py lines them
// up).
import assert from 'node:assert/strict'
import { performance } from 'node:perf_hooks'
import { describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { tracePauses } from '../../src/serve/pause-trace.ts'

const LINE =
  /^eclip serve: (?:gc (?:minor|major|incremental|weakcb)|loop held) at (\d+\.\d{3}) ms \(monotonic\) for (\d+) µs$/

describe('tracePauses', () => {
  it('does nothing unless ECLIP_HOTPATH_TIMING=1', () => {
    assert.equal(
      tracePauses({}, 'serve', () => assert.fail('wrote without the timing asked for')),
      false,
    )
    assert.equal(tracePauses({ ECLIP_HOTPATH_TIMING: '0' }), false)
  })

  it('writes each collection with its start on the monotonic clock and its length', async () => {
    const lines: string[] = []
    const before = Number(process.hrtime.bigint()) / 1e6
    assert.equal(
      tracePauses({ ECLIP_HOTPATH_TIMING: '1' }, 'serve', (s) => {
        lines.push(...s.trimEnd().split('\n'))
      }),
      true,
    )
    // enough short-lived garbage for several scavenges
    let keep = 0
    for (let i = 0; i < 2_000_000; i++) keep += [i, { i }].length
    assert.ok(keep > 0)
    await sleep(50)
    const after = Number(process.hrtime.bigint()) / 1e6
    assert.ok(lines.length > 0, 'no GC line after ~100 MB of garbage')
    for (const l of lines) {
      const m = LINE.exec(l)
      assert.ok(m, `not a gc line: ${l}`)
      const at = Number(m[1])
      assert.ok(at >= before - 1 && at <= after, `gc at ${at} ms outside [${before}, ${after}]`)
      assert.ok(Number(m[2]) < 1e6)
    }
    assert.ok(lines.some((l) => l.includes('gc minor')))
    // a full collection is named so
    lines.length = 0
    setFlagsFromString('--expose-gc')
    ;(runInNewContext('gc') as () => void)()
    await sleep(20)
    assert.ok(
      lines.some((l) => /^eclip serve: gc major at /.test(l)),
      lines.join('\n'),
    )
    // a turn held 30 ms: a loop-held line whose span covers the turn and ends before the test looks. Only those
    // bounds: on a busy host the process may be descheduled around the turn, which lengthens the span
    lines.length = 0
    const t0 = Number(process.hrtime.bigint()) / 1e6
    const until = performance.now() + 30
    while (performance.now() < until) {}
    await sleep(20)
    const t1 = Number(process.hrtime.bigint()) / 1e6
    const held = lines
      .map((l) => /loop held at ([\d.]+) ms \(monotonic\) for (\d+) µs/.exec(l))
      .filter((m) => m !== null)
      .map((m) => ({ start: Number(m[1]), end: Number(m[1]) + Number(m[2]) / 1000 }))
    assert.ok(
      held.some((h) => h.start <= t0 + 1 && h.end >= t0 + 29 && h.end <= t1 + 1),
      `t0 ${t0}, t1 ${t1}:\n${lines.join('\n')}`,
    )
    // once per process: a second call keeps the first trace (nothing written twice, nothing to the new writer)
    const second: string[] = []
    lines.length = 0
    assert.equal(
      tracePauses({ ECLIP_HOTPATH_TIMING: '1' }, 'clients', (s) => {
        second.push(s)
      }),
      true,
    )
    for (let i = 0; i < 2_000_000; i++) keep += [i, { i }].length
    await sleep(50)
    assert.deepEqual(second, [])
    assert.ok(lines.length > 0 && lines.every((l) => l.startsWith('eclip serve: ')))
  })
})
