// The served request path's host cost, without a GPU: `eclip serve-bench --backend gpu` itself (the real server, the
// real KServe clients, binary tensors, closed loop), where the "GPU backend" is bench/serve_echo_backend.py — the
// real Python frame loop and Serving with echo workers that run no model and take no compute time (ECLIP_PYTHON
// points the server at it). What is measured is the rate the host path (HTTP, the server, the Node <-> Python
// transport, the clients) sustains, how busy the server's event loop is, and the CPU each process spends per request
// in the window (serve-bench's "host CPU" note). NOT a GPU result: no model runs.
//
// Run: node --import tsx bench/serve-host-bench.ts [--duration 10] [--warmup 2] [--concurrency 2] [--sizes fp16,fp32]
//      [--repeat 1] [--transport auto|shm|pipe] [--cli CHECKOUT/bin/eclip.mjs] [--bundle] [--out out/serve-host-bench]
//      [--prof DIR]
// fp16: mix3 at batch 8 as on the H100 (vgg19/densenet201 send 2.4 MB of FP16 pixels, albert gets 1.5 MB back);
// fp32: the images sent as FP32 (4.8 MB), the models' outputs unchanged.
// --bundle runs the CLI as the GPU machine does (one esbuild bundle, scripts/device-bundle.sh's flags): its heap is
// half that of the sources run through tsx, and garbage collection, a large part of the server's cost, scales with it.
// On a machine with few cores the clients' and the backend's CPU compete with the server's: compare the server's CPU
// per request and its event loop, not only requests/s. --cli measures another checkout (its CLI and its Python
// backend; before/after comparisons), --bundle bundles that checkout's CLI first. --prof DIR profiles a run rather
// than measuring it: the server's process under `node --cpu-prof` (a .cpuprofile per run in DIR, for Chrome's
// DevTools or speedscope) and the echo backend under `py-spy record` (raw collapsed stacks, every thread; py-spy from
// the venv or PATH). Profilers cost CPU of their own: the rates of a profiled run are not the host path's.
import { spawnSync } from 'node:child_process'
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { build } from 'esbuild'
import { writeSyntheticProfileDir } from '../src/profile/synthetic.ts'

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    concurrency: { type: 'string', default: '2' },
    sizes: { type: 'string', default: 'fp16,fp32' },
    repeat: { type: 'string', default: '1' },
    transport: { type: 'string' },
    bundle: { type: 'boolean', default: false },
    cli: { type: 'string' },
    out: { type: 'string', default: 'out/serve-host-bench' },
    prof: { type: 'string' },
  },
})
const here = resolve(import.meta.dirname, '..')
// the checkout whose server and Python backend are measured: this one, or --cli's (its bin/eclip.mjs)
const root = args.cli ? resolve(args.cli, '..', '..') : here
const out = resolve(args.out)
mkdirSync(out, { recursive: true })
const dir = mkdtempSync(join(tmpdir(), 'eclip-host-bench-'))
writeSyntheticProfileDir(join(dir, 'profiles'), { models: ['albert', 'densenet201', 'vgg19'], batch: 8 })
// the backend's "python": the echo stand-in, whatever arguments the server passes
const python = join(dir, 'python')
const py =
  process.env.ECLIP_PYTHON ??
  (existsSync(join(here, '.venv/bin/python')) ? join(here, '.venv/bin/python') : 'python3')
const prof = args.prof ? resolve(args.prof) : undefined
if (prof) mkdirSync(prof, { recursive: true })
const pySpy = existsSync(join(here, '.venv/bin/py-spy')) ? join(here, '.venv/bin/py-spy') : 'py-spy'
// under --prof the backend runs as py-spy's child (it inherits fds 3/4 as they are); each start its own file
const backend = `'${py}' '${join(root, 'bench', 'serve_echo_backend.py')}'`
writeFileSync(
  python,
  prof
    ? `#!/usr/bin/env bash\nexec '${pySpy}' record --threads --nonblocking -r 200 -f raw -o "${prof}/backend-$$.txt" -- ${backend}\n`
    : `#!/usr/bin/env bash\nexec ${backend}\n`,
)
chmodSync(python, 0o755)

let cli = join(root, 'bin', 'eclip.mjs')
if (args.bundle) {
  const b = join(dir, 'cli')
  mkdirSync(b)
  await build({
    entryPoints: [join(root, 'src/cli/main.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'warning',
    outfile: join(b, 'eclip.mjs'),
    external: ['@resvg/resvg-js', 'highs', 'playwright-core'],
    banner: {
      js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
    },
  })
  cpSync(join(root, 'src/plan/highs-worker.mjs'), join(b, 'highs-worker.mjs'))
  symlinkSync(join(here, 'node_modules'), join(b, 'node_modules'))
  cli = join(b, 'eclip.mjs')
}

interface Row {
  size: string
  rep: number
  transport: string
  reqPerS: Record<string, number>
  totalReqPerS: number
  p95Ms: Record<string, number>
  eventLoopUtilisation: number
  hostCpu: string | null
  serverCpuMsPerRequest: number | null
  eventLoopCpuMsPerRequest: number | null
  errors: number
}
const rows: Row[] = []
const round = (x: number, d = 1) => Number(x.toFixed(d))
for (let rep = 1; rep <= Number(args.repeat); rep++)
  for (const size of args.sizes.split(',')) {
    const runOut = join(dir, `run-${size}-${rep}`)
    const r = spawnSync(
      process.execPath,
      [
        ...(prof ? ['--cpu-prof', '--cpu-prof-dir', prof] : []),
        cli,
        'serve-bench',
        '--backend',
        'gpu',
        '--mix',
        'mix3',
        '--policies',
        'baseline',
        '--batch',
        '8',
        '--profiles',
        join(dir, 'profiles'),
        '--duration',
        args.duration,
        '--warmup',
        args.warmup,
        '--concurrency',
        args.concurrency,
        ...(size === 'fp32' ? ['--input-datatype', 'FP32'] : []),
        '--out',
        runOut,
      ],
      {
        encoding: 'utf8',
        env: {
          ...process.env,
          ECLIP_PYTHON: python,
          ECLIP_HOME: root,
          ...(args.transport ? { ECLIP_SERVE_TRANSPORT: args.transport } : {}),
        },
      },
    )
    if (r.status !== 0) throw new Error(`serve-bench failed (${r.status}):\n${r.stderr}\n${r.stdout}`)
    const results = JSON.parse(readFileSync(join(runOut, 'results.json'), 'utf8'))
    const run = results.runs[0]
    const notes: string[] = run.notes
    const cpu = notes.find((n) => n.startsWith('host CPU')) ?? null
    const num = (re: RegExp) => {
      const m = cpu ? re.exec(cpu) : null
      return m ? Number(m[1]) : null
    }
    const row: Row = {
      size,
      rep,
      transport:
        notes.find((n) => n.startsWith('tensors'))?.replace(/^tensors to and from the backend: /, '') ??
        'pipe',
      reqPerS: Object.fromEntries(
        run.workers.map((w: { model: string; throughputRps: number }) => [w.model, round(w.throughputRps)]),
      ),
      totalReqPerS: round(
        run.workers.reduce((a: number, w: { throughputRps: number }) => a + w.throughputRps, 0),
      ),
      p95Ms: Object.fromEntries(
        run.workers.map((w: { model: string; latencyUs: { p95: number } | null }) => [
          w.model,
          round((w.latencyUs?.p95 ?? 0) / 1000),
        ]),
      ),
      eventLoopUtilisation: round(run.metrics.eventLoopUtilisation, 3),
      hostCpu: cpu,
      serverCpuMsPerRequest: num(/per request: server ([\d.]+) ms/),
      eventLoopCpuMsPerRequest: num(/per request: server [\d.]+ ms \(event loop ([\d.]+) ms\)/),
      errors: run.metrics.errorsTotal,
    }
    rows.push(row)
    console.log(JSON.stringify(row))
  }
const file = join(out, `host-bench-${Date.now()}.json`)
writeFileSync(
  file,
  `${JSON.stringify({ what: 'host path only: echo backend, no GPU, no model ran', cli, node: process.version, args, rows }, null, 1)}\n`,
)
console.log(`wrote ${file}`)
