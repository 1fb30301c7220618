// The served request path's host cost, without a GPU: `eclip serve-bench --backend gpu` itself (the real server, the
// real KServe clients, binary tensors, closed loop), where the "GPU backend" is bench/serve_echo_backend.py — the
// real Python frame loop and Serving with echo workers that run no model and take no compute time (ECLIP_PYTHON
// points the server at it). What is measured is the rate the host path (HTTP, the server, the Node <-> Python
// transport, the clients) sustains, how busy the server's event loop is, and the CPU each process spends per request
// in the window (serve-bench's "host CPU" note). NOT a GPU result: no model runs.
//
// Run: node --import tsx bench/serve-host-bench.ts [--duration 10] [--warmup 2] [--concurrency 2] [--sizes fp16,fp32]
//      [--repeat 1] [--mix mix3] [--batch 8] [--transport http,grpc,shm] [--frontends 0]
//      [--backend-transport auto|shm|pipe] [--cli CHECKOUT/bin/eclip.mjs[,CHECKOUT2/bin/eclip.mjs]] [--bundle]
//      [--out out/serve-host-bench] [--prof DIR] [--perf DIR] [--pin] [--service-us 0] [--node-flags="..."]
// fp16: by default mix3 at batch 8 as on the H100 (vgg19/densenet201 send 2.4 MB of FP16 pixels, albert gets 1.5 MB
// back); fp32: the images sent as FP32 (4.8 MB), the models' outputs unchanged. --mix mix7 --batch 1: 3×alexnet at
// batch 1 (300-KB images), the mix where the host path's cost per request, not per byte, bounds the rate.
// --transport: how the clients send (serve-bench's --transport: http binary tensors, grpc raw_input_contents, shm
// system shared-memory regions: only a small JSON header reaches the server); each is its own serve-bench run.
// --frontends N: serve-bench's, front-end processes in front of the engine (their CPU counts as the server's).
// --backend-transport: tensors between the server and the backend (ECLIP_SERVE_TRANSPORT; `--transport auto|pipe`
// still means this). --cli with several checkouts, comma-separated: each (mix, size, transport) is run once per
// checkout in turn, back to back, --repeat times (A/B comparisons on a shared machine).
// --bundle runs the CLI as the GPU machine does (one esbuild bundle, scripts/device-bundle.sh's flags): its heap is
// half that of the sources run through tsx, and garbage collection, a large part of the server's cost, scales with it.
// On a machine with few cores the clients' and the backend's CPU compete with the server's: compare the server's CPU
// per request and its event loop, not only requests/s. --cli measures another checkout (its CLI and its Python
// backend; before/after comparisons), --bundle bundles that checkout's CLI first. --prof DIR profiles a run rather
// than measuring it: the server's process under `node --cpu-prof` (a .cpuprofile per run in DIR, for Chrome's
// DevTools or speedscope) and the echo backend under `py-spy record` (raw collapsed stacks, every thread; py-spy from
// the venv or PATH). Profilers cost CPU of their own: the rates of a profiled run are not the host path's.
// --service-us S: each model's requests take S µs of service in the echo backend (ECLIP_ECHO_SERVICE_US), two in
// flight per model as on the GPU, so replies come spread out at a GPU's pace rather than all at once.
// --node-flags="F ...": V8/Node flags for the server's process (e.g. "--trace-gc --trace-gc-nvp", which Node refuses
// in NODE_OPTIONS); its stdout is kept as OUT/server-stdout-N.log (N the run).
import { spawn, spawnSync } from 'node:child_process'
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
import YAML from 'yaml'
import { writeSyntheticProfileDir } from '../src/profile/synthetic.ts'

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    concurrency: { type: 'string', default: '2' },
    sizes: { type: 'string', default: 'fp16,fp32' },
    repeat: { type: 'string', default: '1' },
    mix: { type: 'string', default: 'mix3' },
    batch: { type: 'string', default: '8' },
    transport: { type: 'string' },
    'backend-transport': { type: 'string' },
    frontends: { type: 'string', default: '0' },
    bundle: { type: 'boolean', default: false },
    cli: { type: 'string' },
    out: { type: 'string', default: 'out/serve-host-bench' },
    prof: { type: 'string' },
    perf: { type: 'string' },
    pin: { type: 'boolean', default: false },
    'service-us': { type: 'string', default: '0' },
    'node-flags': { type: 'string' },
  },
})
const here = resolve(import.meta.dirname, '..')
const out = resolve(args.out)
mkdirSync(out, { recursive: true })
const dir = mkdtempSync(join(tmpdir(), 'eclip-host-bench-'))
const mixes = YAML.parse(readFileSync(join(here, 'mixes', 'paper.yaml'), 'utf8')) as {
  mixes: { name: string; workers: { model: string }[] }[]
}
const mixModels = mixes.mixes.find((m) => m.name === args.mix)?.workers.map((w) => w.model)
if (!mixModels) throw new Error(`--mix ${args.mix}: not a mix of mixes/paper.yaml`)
writeSyntheticProfileDir(join(dir, 'profiles'), {
  models: [...new Set(mixModels)],
  batch: Number(args.batch),
})
const py =
  process.env.ECLIP_PYTHON ??
  (existsSync(join(here, '.venv/bin/python')) ? join(here, '.venv/bin/python') : 'python3')
const prof = args.prof ? resolve(args.prof) : undefined
if (prof) mkdirSync(prof, { recursive: true })
// --perf DIR: the whole run under `perf record -g` (CPU time, kernel included, every process of it; JavaScript
// frames named through the server's /tmp/perf-PID.map): `perf report -i DIR/perf-N.data --pid PID` per process
const perf = args.perf ? resolve(args.perf) : undefined
if (perf) mkdirSync(perf, { recursive: true })
// py-spy from the venv or PATH; without it --prof profiles the server only
const pySpy = existsSync(join(here, '.venv/bin/py-spy'))
  ? join(here, '.venv/bin/py-spy')
  : spawnSync('py-spy', ['--version']).status === 0
    ? 'py-spy'
    : undefined
if (prof && !pySpy) console.error('serve-host-bench: no py-spy (venv or PATH): the backend is not profiled')
// tensors between the server and the backend: --backend-transport, or the old --transport auto|pipe
const clientTransports = ['http', 'grpc', 'grpc-stream', 'shm', 'cuda-shm']
const given = (args.transport ?? 'http').split(',')
const backendTransport =
  args['backend-transport'] ??
  (given.every((t) => t === 'auto' || t === 'pipe') && args.transport ? args.transport : undefined)
const transports = backendTransport && !args['backend-transport'] ? ['http'] : given
for (const t of transports)
  if (!clientTransports.includes(t))
    throw new Error(`--transport ${t}: expected ${clientTransports.join(', ')}`)

/** One measured checkout: its CLI (bundled with --bundle) and its echo backend's "python". */
interface Checkout {
  label: string
  root: string
  cli: string
  python: string
}
async function checkout(cliArg: string | undefined, i: number): Promise<Checkout> {
  // the checkout whose server and Python backend are measured: this one, or --cli's (its bin/eclip.mjs)
  const root = cliArg ? resolve(cliArg, '..', '..') : here
  const d = join(dir, `checkout-${i}`)
  mkdirSync(d)
  // the backend's "python": the echo stand-in, whatever arguments the server passes; under --prof it runs as
  // py-spy's child (it inherits fds 3/4 as they are), each start its own file
  const python = join(d, 'python')
  // (this checkout's echo script, on the measured checkout's Python package: every checkout paced alike)
  const backend = `'${py}' '${join(here, 'bench', 'serve_echo_backend.py')}'`
  const env = `export ECLIP_ECHO_GPU='${join(root, 'gpu')}'\n`
  writeFileSync(
    python,
    prof && pySpy
      ? `#!/usr/bin/env bash\n${env}exec '${pySpy}' record --threads --nonblocking -r 200 -f raw -o "${prof}/backend-$$.txt" -- ${backend}\n`
      : `#!/usr/bin/env bash\n${env}exec ${args.pin ? 'taskset -c 1 ' : ''}${backend}\n`,
  )
  chmodSync(python, 0o755)
  let cli = join(root, 'bin', 'eclip.mjs')
  if (args.bundle) {
    const b = join(d, 'cli')
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
  return { label: cliArg ?? 'this checkout', root, cli, python }
}
const checkouts: Checkout[] = []
for (const [i, c] of (args.cli ? args.cli.split(',') : [undefined]).entries())
  checkouts.push(await checkout(c, i))

interface Row {
  checkout: string
  mix: string
  batch: number
  size: string
  rep: number
  clients: string
  frontends: number
  transport: string
  reqPerS: Record<string, number>
  totalReqPerS: number
  p95Ms: Record<string, number>
  eventLoopUtilisation: number
  hostCpu: string | null
  serverCpuMsPerRequest: number | null
  eventLoopCpuMsPerRequest: number | null
  /** The event loop's read and write system calls per request (checkouts whose serve-bench reports them). */
  eventLoopReadsPerRequest: number | null
  eventLoopWritesPerRequest: number | null
  /** Server CPU and event-loop CPU per request, µs, from the cores and rates (more digits than the note's ms). */
  serverCpuUsPerRequest: number | null
  eventLoopUsPerRequest: number | null
  errors: number
}
/**
 * Runs one serve-bench to its end. --pin: the server (and its front-ends) stay on CPU 0 (taskset), the backend goes
 * to CPU 1 (its wrapper), and the clients' process, forked by the server, is moved to CPU 1 once it shows up.
 */
function runServeBench(
  cmd: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolvePromise) => {
    const child = spawn(cmd[0] as string, cmd.slice(1), { env })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => {
      stdout += d
    })
    child.stderr.on('data', (d) => {
      stderr += d
    })
    const pinned = new Set<number>()
    const timer = args.pin
      ? setInterval(() => {
          for (const pid of descendants(child.pid as number))
            if (!pinned.has(pid) && /serve-bench-clients/.test(cmdline(pid))) {
              pinned.add(pid)
              spawnSync('taskset', ['-a', '-p', '-c', '1', String(pid)])
            }
        }, 50)
      : undefined
    child.on('close', (status) => {
      clearInterval(timer)
      resolvePromise({ status, stdout, stderr })
    })
  })
}
function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8')
  } catch {
    return ''
  }
}
function descendants(pid: number): number[] {
  const out: number[] = []
  const walk = (p: number) => {
    let kids: string[] = []
    try {
      kids = readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').trim().split(/\s+/).filter(Boolean)
    } catch {}
    for (const k of kids) {
      out.push(Number(k))
      walk(Number(k))
    }
  }
  walk(pid)
  return out
}

const rows: Row[] = []
const round = (x: number, d = 1) => Number(x.toFixed(d))
let runNo = 0
for (let rep = 1; rep <= Number(args.repeat); rep++)
  for (const size of args.sizes.split(','))
    for (const transport of transports)
      for (const co of checkouts) {
        const runOut = join(dir, `run-${++runNo}`)
        const node = [
          process.execPath,
          ...(prof ? ['--cpu-prof', '--cpu-prof-dir', prof] : []),
          ...(perf ? ['--perf-basic-prof-only-functions', '--interpreted-frames-native-stack'] : []),
          ...(args['node-flags'] ? args['node-flags'].split(/\s+/).filter(Boolean) : []),
        ]
        const cmd = [
          ...(args.pin ? ['taskset', '-c', '0'] : []),
          ...(perf
            ? ['perf', 'record', '-F', '499', '-g', '-o', join(perf, `perf-${runNo}.data`), '--', ...node]
            : node),
          co.cli,
          'serve-bench',
          '--backend',
          'gpu',
          '--mix',
          args.mix,
          '--policies',
          'baseline',
          '--batch',
          args.batch,
          '--profiles',
          join(dir, 'profiles'),
          '--duration',
          args.duration,
          '--warmup',
          args.warmup,
          '--concurrency',
          args.concurrency,
          ...(transport !== 'http' ? ['--transport', transport] : []),
          ...(Number(args.frontends) > 0 ? ['--frontends', args.frontends] : []),
          ...(size === 'fp32' ? ['--input-datatype', 'FP32'] : []),
          '--out',
          runOut,
        ]
        const r = await runServeBench(cmd, {
          ...process.env,
          ECLIP_PYTHON: co.python,
          ECLIP_HOME: co.root,
          ECLIP_ECHO_SERVICE_US: args['service-us'],
          ...(backendTransport ? { ECLIP_SERVE_TRANSPORT: backendTransport } : {}),
        })
        if (r.status !== 0) throw new Error(`serve-bench failed (${r.status}):\n${r.stderr}\n${r.stdout}`)
        if (args['node-flags']) writeFileSync(join(out, `server-stdout-${runNo}.log`), r.stdout)
        const results = JSON.parse(readFileSync(join(runOut, 'results.json'), 'utf8'))
        const run = results.runs[0]
        const notes: string[] = run.notes
        const cpu = notes.find((n) => n.startsWith('host CPU')) ?? null
        const num = (re: RegExp) => {
          const m = cpu ? re.exec(cpu) : null
          return m ? Number(m[1]) : null
        }
        const totalReqPerS = run.workers.reduce(
          (a: number, w: { throughputRps: number }) => a + w.throughputRps,
          0,
        )
        const perReq = (cores: number | null) =>
          cores === null || totalReqPerS === 0 ? null : round((cores * 1e6) / totalReqPerS, 0)
        const row: Row = {
          checkout: co.label,
          mix: args.mix,
          batch: Number(args.batch),
          size,
          rep,
          clients: transport,
          frontends: Number(args.frontends),
          transport:
            notes.find((n) => n.startsWith('tensors'))?.replace(/^tensors to and from the backend: /, '') ??
            'pipe',
          reqPerS: Object.fromEntries(
            run.workers.map((w: { served: string; throughputRps: number }) => [
              w.served,
              round(w.throughputRps),
            ]),
          ),
          totalReqPerS: round(totalReqPerS),
          p95Ms: Object.fromEntries(
            run.workers.map((w: { served: string; latencyUs: { p95: number } | null }) => [
              w.served,
              round((w.latencyUs?.p95 ?? 0) / 1000, 2),
            ]),
          ),
          eventLoopUtilisation: round(run.metrics.eventLoopUtilisation, 3),
          hostCpu: cpu,
          serverCpuMsPerRequest: num(/per request: server ([\d.]+) ms/),
          eventLoopCpuMsPerRequest: num(/per request: server [\d.]+ ms \(event loop ([\d.]+) ms[,)]/),
          eventLoopReadsPerRequest: num(/([\d.]+) reads and [\d.]+ writes\)/),
          eventLoopWritesPerRequest: num(/[\d.]+ reads and ([\d.]+) writes\)/),
          serverCpuUsPerRequest: perReq(num(/server ([\d.]+) cores/)),
          eventLoopUsPerRequest: perReq(num(/cores \(event loop ([\d.]+)\)/)),
          errors: run.metrics.errorsTotal,
        }
        rows.push(row)
        console.log(JSON.stringify(row))
      }
// per (size, transport): each checkout's medians, and with several checkouts the ratio of each to the first by pairs
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2
}
const summary: Record<string, unknown>[] = []
for (const size of args.sizes.split(','))
  for (const transport of transports) {
    const of = (co: Checkout) =>
      rows.filter((r) => r.size === size && r.clients === transport && r.checkout === co.label)
    const base = of(checkouts[0] as Checkout)
    for (const co of checkouts) {
      const mine = of(co)
      const pick = (
        k:
          | 'serverCpuUsPerRequest'
          | 'eventLoopUsPerRequest'
          | 'totalReqPerS'
          | 'eventLoopReadsPerRequest'
          | 'eventLoopWritesPerRequest',
      ) => mine.map((r) => r[k]).filter((x): x is number => x !== null)
      const med = (xs: number[]) => (xs.length ? round(median(xs), 2) : null)
      const ratio = (k: 'serverCpuUsPerRequest' | 'eventLoopUsPerRequest' | 'totalReqPerS') => {
        const rs = mine
          .map((r, i) => {
            const b = base[i]?.[k]
            const x = r[k]
            return b && x !== null ? x / b : null
          })
          .filter((x): x is number => x !== null)
        return rs.length ? round(median(rs), 3) : null
      }
      const s = {
        checkout: co.label,
        size,
        clients: transport,
        runs: mine.length,
        serverUsPerReq: round(median(pick('serverCpuUsPerRequest')), 0),
        eventLoopUsPerReq: round(median(pick('eventLoopUsPerRequest')), 0),
        reqPerS: round(median(pick('totalReqPerS'))),
        eventLoopReadsPerReq: med(pick('eventLoopReadsPerRequest')),
        eventLoopWritesPerReq: med(pick('eventLoopWritesPerRequest')),
        ...(checkouts.length > 1
          ? {
              serverRatio: ratio('serverCpuUsPerRequest'),
              eventLoopRatio: ratio('eventLoopUsPerRequest'),
              reqPerSRatio: ratio('totalReqPerS'),
            }
          : {}),
      }
      summary.push(s)
      console.log(`summary ${JSON.stringify(s)}`)
    }
  }
const file = join(out, `host-bench-${Date.now()}.json`)
writeFileSync(
  file,
  `${JSON.stringify({ what: 'host path only: echo backend, no GPU, no model ran', checkouts: checkouts.map((c) => c.cli), node: process.version, args, rows, summary }, null, 1)}\n`,
)
console.log(`wrote ${file}`)
