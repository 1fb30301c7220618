// The served request path's host cost, without a GPU: `eclip serve-bench`'s own run (serveBenchRun: the real server,
// the real KServe clients, binary tensors, closed loop) with --backend gpu, where the "GPU backend" is
// bench/serve_echo_backend.py — the real Python frame loop and Serving with echo workers that run no model and take
// no compute time. What is measured is how many requests per second the host path (HTTP, the server, the Node <->
// Python transport, the clients) sustains, and how busy the server's event loop is doing it. NOT a GPU result.
//
// Run: node --import tsx bench/serve-host-bench.ts [--duration 10] [--warmup 2] [--concurrency 2] [--sizes fp16,fp32]
//      [--transport auto|shm|pipe] [--out out/serve-host-bench]
// fp16: mix3 at batch 8 as on the H100 (vgg19/densenet201 send 2.4 MB of FP16 pixels, albert gets 1.5 MB back);
// fp32: the images sent as FP32 (4.8 MB), the models' outputs unchanged.
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { resolveMixes } from '../src/cli/options.ts'
import { serveBenchRun } from '../src/measure/serve-bench.ts'
import { writeSyntheticProfileDir } from '../src/profile/synthetic.ts'

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    concurrency: { type: 'string', default: '2' },
    sizes: { type: 'string', default: 'fp16,fp32' },
    transport: { type: 'string' },
    out: { type: 'string', default: 'out/serve-host-bench' },
  },
})
const root = resolve(import.meta.dirname, '..')
const out = resolve(args.out)
mkdirSync(out, { recursive: true })
const dir = mkdtempSync(join(tmpdir(), 'eclip-host-bench-'))
const models = ['albert', 'densenet201', 'vgg19']
writeSyntheticProfileDir(join(dir, 'profiles'), { models, batch: 8 })
// the backend's "python": the echo stand-in, whatever arguments the adapter passes
const python = join(dir, 'python')
const py = process.env.ECLIP_PYTHON ?? 'python3'
writeFileSync(python, `#!/usr/bin/env bash\nexec '${py}' '${join(root, 'bench', 'serve_echo_backend.py')}'\n`)
chmodSync(python, 0o755)
if (args.transport) process.env.ECLIP_SERVE_TRANSPORT = args.transport

const [mix3] = resolveMixes('mix3')
if (!mix3) throw new Error('no mix3')
const rows: Record<string, unknown>[] = []
for (const size of args.sizes.split(',')) {
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  const r = await serveBenchRun({
    mix: mix3,
    policy: 'baseline',
    backend: 'gpu',
    batch: 8,
    profiles: join(dir, 'profiles'),
    concurrency: Number(args.concurrency),
    warmupS: Number(args.warmup),
    windowS: Number(args.duration),
    seed: 1,
    ...(size === 'fp32' ? { inputDatatype: 'FP32' as const } : {}),
    configFile: join(dir, `mix3.${size}.json`),
    gpu: { python, log: () => {} },
  })
  const cpu = process.cpuUsage(cpu0)
  const wall = (performance.now() - t0) / 1000
  const run = r.run
  const row = {
    size,
    transport: process.env.ECLIP_SERVE_TRANSPORT ?? 'default',
    reqPerS: Object.fromEntries(run.workers.map((w) => [w.model, Number(w.throughputRps.toFixed(1))])),
    p95Ms: Object.fromEntries(
      run.workers.map((w) => [w.model, Number(((w.latencyUs?.p95 ?? 0) / 1000).toFixed(2))]),
    ),
    totalReqPerS: Number(run.workers.reduce((a, w) => a + w.throughputRps, 0).toFixed(1)),
    eventLoopUtilisation: Number(run.metrics.eventLoopUtilisation.toFixed(3)),
    nodeCpuCoresBusy: Number(((cpu.user + cpu.system) / 1e6 / wall).toFixed(2)),
    errors: run.metrics.errorsTotal,
    windowS: Number(run.windowS.toFixed(2)),
    notes: run.notes.filter((n) => n.startsWith('first error')),
  }
  rows.push(row)
  console.log(JSON.stringify(row))
}
const file = join(out, `host-bench-${Date.now()}.json`)
writeFileSync(
  file,
  `${JSON.stringify({ what: 'host path only: echo backend, no GPU, no model ran', node: process.version, rows }, null, 1)}\n`,
)
console.log(`wrote ${file}`)
