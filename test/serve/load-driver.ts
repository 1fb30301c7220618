// Fixed-rate load test of `eclip serve` on the simulator (run by scripts/load-test.sh, not by npm test): starts the
// real CLI on loopback, drives it with autocannon at LOAD_RATE req/s for LOAD_DURATION s over two models (albert with
// JSON tensors, shufflenet with binary tensors), records every response's latency client-side, checks the server's
// own failure counters, then stops the server with SIGTERM. Exit 1 on any error or a rate shortfall.
import { spawn } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createHistogram } from 'node:perf_hooks'
import autocannon from 'autocannon'
import YAML from 'yaml'

const rate = Number(process.env.LOAD_RATE ?? 200)
const duration = Number(process.env.LOAD_DURATION ?? 60)
const connections = Number(process.env.LOAD_CONNECTIONS ?? 16)
const root = join(import.meta.dirname, '..', '..')

const dir = mkdtempSync(join(tmpdir(), 'eclip-load-'))
const config = join(dir, 'serve.yaml')
writeFileSync(
  config,
  YAML.stringify({
    host: '127.0.0.1',
    policy: 'eclip',
    models: [
      { model: 'albert', batch: 4, queueSize: 256, timeoutMs: 10000 },
      { model: 'shufflenet', batch: 4, queueSize: 256, timeoutMs: 10000 },
    ],
  }),
)

const child = spawn(
  process.execPath,
  [join(root, 'bin', 'eclip.mjs'), 'serve', '--config', config, '--port', '0'],
  {
    stdio: ['ignore', 'pipe', 'inherit'],
  },
)
let out = ''
const url = await new Promise<string>((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error(`server did not start in 60 s:\n${out}`)), 60_000)
  child.stdout.on('data', (d) => {
    out += d
    const m = out.match(/listening on (http:\/\/\S+)/)
    if (m) {
      clearTimeout(timer)
      resolve(m[1] as string)
    }
  })
  child.on('exit', (code) => reject(new Error(`server exited ${code}:\n${out}`)))
})
const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)))
process.stdout.write(out)

const albert = JSON.stringify({
  inputs: [
    {
      name: 'input_ids',
      datatype: 'INT64',
      shape: [1, 128],
      data: Array.from({ length: 128 }, (_, i) => (i * 31) % 30000),
    },
  ],
})
const pixels = Buffer.alloc(3 * 224 * 224 * 2, 0x3c) // FP16 bytes
const header = Buffer.from(
  JSON.stringify({
    inputs: [
      {
        name: 'input',
        datatype: 'FP16',
        shape: [1, 3, 224, 224],
        parameters: { binary_data_size: pixels.length },
      },
    ],
  }),
)
const shufflenet = Buffer.concat([header, pixels])

// warm-up, and a check that both request kinds work before measuring
for (const [path, body, headers] of [
  ['/v2/models/albert/infer', albert, { 'content-type': 'application/json' }],
  [
    '/v2/models/shufflenet/infer',
    shufflenet,
    { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) },
  ],
] as const) {
  const r = await fetch(url + path, { method: 'POST', body, headers })
  if (r.status !== 200) throw new Error(`warm-up ${path}: ${r.status} ${await r.text()}`)
}

const hist = createHistogram()
const statuses = new Map<number, number>()
console.log(
  `load: ${rate} req/s for ${duration} s over ${connections} connections (albert JSON, shufflenet binary), loopback`,
)
const result = await autocannon({
  url,
  connections,
  overallRate: rate,
  duration,
  timeout: 15,
  requests: [
    {
      method: 'POST',
      path: '/v2/models/albert/infer',
      headers: { 'content-type': 'application/json' },
      body: albert,
    },
    {
      method: 'POST',
      path: '/v2/models/shufflenet/infer',
      headers: {
        'content-type': 'application/octet-stream',
        'inference-header-content-length': String(header.length),
      },
      body: shufflenet,
    },
  ],
  setupClient: (client) => {
    client.on('response', (status, _bytes, ms) => {
      statuses.set(status, (statuses.get(status) ?? 0) + 1)
      hist.record(Math.max(1, Math.round(ms * 1000)))
    })
  },
})

const metrics = await (await fetch(`${url}/metrics`)).text()
const sum = (name: string, filter = '') =>
  metrics
    .split('\n')
    .filter((l) => l.startsWith(name) && l.includes(filter))
    .reduce((a, l) => a + Number(l.split(' ').at(-1)), 0)
const serverFailures = sum('nv_inference_request_failure')
const serverOk = sum('nv_inference_request_success')
child.kill('SIGTERM')
const code = await exited

const total = [...statuses.values()].reduce((a, b) => a + b, 0)
const ok = statuses.get(200) ?? 0
const achieved = total / duration
const errors = result.errors + result.timeouts + (total - ok)
const ms = (p: number) => (hist.percentile(p) / 1000).toFixed(2)
console.log(
  `load: ${total} responses in ${duration} s = ${achieved.toFixed(1)} req/s (target ${rate}); ` +
    `latency p50 ${ms(50)} ms, p95 ${ms(95)} ms, p99 ${ms(99)} ms, max ${(hist.max / 1000).toFixed(2)} ms`,
)
console.log(
  `load: errors ${errors} (non-200 ${total - ok}, timeouts ${result.timeouts}, socket errors ${result.errors}); ` +
    `server: ${serverOk} successes, ${serverFailures} failures; statuses ${JSON.stringify(Object.fromEntries(statuses))}`,
)
console.log(
  `load: server-side per model: albert ${sum('nv_inference_request_success', 'albert')} ok in ${sum('nv_inference_exec_count', 'albert')} executions, ` +
    `shufflenet ${sum('nv_inference_request_success', 'shufflenet')} ok in ${sum('nv_inference_exec_count', 'shufflenet')} executions`,
)
const problems: string[] = []
if (errors > 0) problems.push(`${errors} errors`)
if (serverFailures > 0) problems.push(`${serverFailures} server-side failures`)
if (achieved < rate * 0.9) problems.push(`achieved ${achieved.toFixed(1)} req/s, below 90% of ${rate}`)
if (code !== 0) problems.push(`server exited ${code} after SIGTERM`)
if (problems.length > 0) {
  console.log(`load: FAILED: ${problems.join('; ')}`)
  process.exit(1)
}
console.log('load: ok')
