// The per-request metrics are plain numbers bound to each model's label set (no label hashing per update), exported
// through prom-client's registry: the exposition must be the very text prom-client's own Counter and Histogram give.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Counter, Histogram, Registry } from 'prom-client'
import { ServerMetrics } from '../../src/serve/metrics.ts'

const BUCKETS = [
  100, 250, 500, 1000, 2500, 5000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000,
  5_000_000, 10_000_000,
]

/** The lines of one metric family (HELP, TYPE, samples) from an exposition. */
function family(text: string, name: string): string[] {
  return text
    .split('\n')
    .filter(
      (l) =>
        l.startsWith(`# HELP ${name} `) ||
        l.startsWith(`# TYPE ${name} `) ||
        new RegExp(`^${name}(_bucket|_sum|_count)?[{ ]`).test(l),
    )
}

describe('ServerMetrics: plain counters and histograms', () => {
  it('export exactly what prom-client exports for the same updates', async () => {
    const m = new ServerMetrics({
      models: [
        { name: 'a', version: '1' },
        { name: 'b', version: '1' },
      ],
      pending: () => 0,
      power: () => undefined,
      backendReady: () => true,
      simulated: false,
    })
    const ref = new Registry()
    const registers = [ref]
    const labelNames = ['model', 'version']
    const success = new Counter({ name: 'nv_inference_request_success', help: 'h', labelNames, registers })
    const failure = new Counter({
      name: 'nv_inference_request_failure',
      help: 'h',
      labelNames: [...labelNames, 'reason'],
      registers,
    })
    const requestUs = new Counter({
      name: 'nv_inference_request_duration_us',
      help: 'h',
      labelNames,
      registers,
    })
    const exec = new Counter({ name: 'nv_inference_exec_count', help: 'h', labelNames, registers })
    const reqHist = new Histogram({
      name: 'eclip_inference_request_duration_histogram_us',
      help: 'h',
      labelNames,
      buckets: BUCKETS,
      registers,
    })
    const computeHist = new Histogram({
      name: 'eclip_inference_compute_duration_histogram_us',
      help: 'h',
      labelNames,
      buckets: BUCKETS,
      registers,
    })
    // b first: label sets appear in the order they are first updated
    const updates: [string, number][] = [
      ['b', 120.5],
      ['a', 99],
      ['a', 100],
      ['b', 2e7],
      ['a', 0.25],
      ['b', 5000],
    ]
    for (const [model, us] of updates) {
      m.requestOk(model, '1', 2, { queueUs: us / 2, computeUs: us / 4, totalUs: us })
      m.execution(model, '1', us / 4)
      success.inc({ model, version: '1' })
      requestUs.inc({ model, version: '1' }, us)
      reqHist.observe({ model, version: '1' }, us)
      exec.inc({ model, version: '1' })
      computeHist.observe({ model, version: '1' }, us / 4)
    }
    m.requestFailed('a', '1', 'TIMEOUT')
    m.requestFailed('b', '1', 'INVALID')
    m.requestFailed('a', '1', 'TIMEOUT')
    failure.inc({ model: 'a', version: '1', reason: 'TIMEOUT' })
    failure.inc({ model: 'b', version: '1', reason: 'INVALID' })
    failure.inc({ model: 'a', version: '1', reason: 'TIMEOUT' })
    const ours = await m.text()
    const theirs = await ref.metrics()
    for (const name of [
      'nv_inference_request_success',
      'nv_inference_request_failure',
      'nv_inference_request_duration_us',
      'nv_inference_exec_count',
      'eclip_inference_request_duration_histogram_us',
      'eclip_inference_compute_duration_histogram_us',
    ]) {
      const strip = (ls: string[]) => ls.filter((l) => !l.startsWith('# HELP'))
      const mine = strip(family(ours, name))
      assert.ok(mine.length > 2, `${name} exported`)
      assert.deepEqual(mine, strip(family(theirs, name)), name)
    }
    // and the statistics extension reads the same numbers
    const stats = m.modelStats('a')[0] as { inference_count: number; execution_count: number }
    assert.equal(stats.inference_count, 6)
    assert.equal(stats.execution_count, 3)
  })

  it('exports nothing for a model before its first request, as prom-client does', async () => {
    const m = new ServerMetrics({
      models: [{ name: 'a', version: '1' }],
      pending: () => 0,
      power: () => undefined,
      backendReady: () => true,
      simulated: false,
    })
    const text = await m.text()
    assert.doesNotMatch(text, /^nv_inference_request_success\{/m)
    assert.match(text, /^# TYPE nv_inference_request_success counter$/m)
  })
})
