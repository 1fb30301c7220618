// `eclip serve-bench`: the paper's mixes measured through the server rather than on the executor: for each (mix,
// policy) a serve config of the mix's workers, `eclip serve` started in this process on a loopback port, closed-loop
// KServe v2 clients per model, a steady window; results.json (eclip.serve-results/1), requests.csv and report.txt.
import { closeSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs'
import { hostname } from 'node:os'
import { join, relative, resolve } from 'node:path'
import { type Command, Option } from '@commander-js/extra-typings'
import {
  hasLoadFields,
  isMpsPolicy,
  isPriorityPolicy,
  POLICIES,
  parseFormat,
  type Results,
  readFile,
  type ServeResults,
  type ServeRun,
  type ThroughputPolicy,
  UserError,
} from '../../formats/index.ts'
import { SERVER_VERSION } from '../../serve/server.ts'
import { clientProcessMain } from '../../serve-bench/client-process.ts'
import {
  cudaShmUnavailable,
  TRANSPORT_LABEL,
  TRANSPORTS,
  type Transport,
} from '../../serve-bench/clients/index.ts'
import {
  normaliseServeRuns,
  serveBenchRuns,
  serveReport,
  type TransportOutcome,
} from '../../serve-bench/serve-bench.ts'
import { benchTables, compareWithBench, missingBenchRuns } from '../../serve-bench/vs-bench.ts'
import { num, resolveMixes, resolvePolicies, shippedProfiles } from '../options.ts'

/** The request log: times in ms from the clients' start of each run; queue/compute from the response (µs). */
const LOG_HEADER = 'run,worker,request,start_ms,end_ms,status,queue_us,compute_us'

export function registerServeBench(program: Command) {
  // the closed-loop clients of one run, in a process of their own (spawned by serveBenchRun; IPC channel)
  program.command('serve-bench-clients', { hidden: true }).action(() => clientProcessMain())
  program
    .command('serve-bench')
    .description(
      'sustained throughput and latency of mixes served by `eclip serve` (KServe v2 HTTP, loopback) per policy',
    )
    .option(
      '--mix <name|file|all>',
      'mix names from mixes/paper.yaml (comma-separated), a mix file, or all',
      'all',
    )
    .option(
      '--policies <list|all>',
      `comma-separated serve policies (${POLICIES.filter((p) => !isMpsPolicy(p)).join(', ')}; not the MPS ones), or all`,
      'baseline,eclip',
    )
    .addOption(
      new Option('--backend <name>', 'sim or gpu').choices(['sim', 'gpu'] as const).default('sim' as const),
    )
    .option(
      '--batch <n>',
      "override every worker's batch (default: the mix's, 1 in the paper's)",
      num('batch', 1, true),
    )
    .option(
      '--profiles <dir|synthetic>',
      'profile directory (default: profiles/h100, else another shipped profiles/<gpu>; synthetic: sim only)',
    )
    .option('--duration <s>', 'steady window per run, s', num('duration', 0.001), 10)
    .option('--warmup <s>', 'warm-up per run, s', num('warmup', 0), 2)
    .option(
      '--concurrency <n>',
      'closed-loop clients per model, one request in flight each (2: the next request always waits in the queue)',
      num('concurrency', 1, true),
      2,
    )
    .option(
      '--queue-size <n>',
      "each model's queueSize in the serve config (default: serve's)",
      num('queue-size', 1, true),
    )
    .addOption(
      new Option(
        '--input-datatype <dt>',
        "send inputs that also accept it in this datatype (FP32 images for FP16 models: twice the bytes, converted by the backend); default: the model's own",
      ).choices(['FP32'] as const),
    )
    .option(
      '--transport <list>',
      `how the clients send requests, comma-separated (${TRANSPORTS.join(', ')}): http (binary tensors), grpc (raw_input_contents), shm (system shared-memory regions), cuda-shm (CUDA shared-memory regions; a Python client, needs a GPU). Several: each measured in turn against the same server (one start-up per mix and policy), results in OUT/<transport>/`,
      'http',
    )
    .option(
      '--frontends <n>',
      'HTTP and gRPC front-end processes in front of the engine (eclip serve --frontends; default 0: one process serves)',
      num('frontends', 0, true),
      0,
    )
    .option(
      '--bench <file>',
      'an eclip bench results.json (closed loop, same mixes, policies and batch; --backend gpu beside a GPU run): report served ÷ bench',
    )
    .option('--seed <n>', 'random seed (input tensors)', num('seed', 0, true), 1)
    .option('--out <dir>', 'output directory', 'out/serve-bench')
    .action(async (opts) => {
      const t0 = performance.now()
      const mixes = resolveMixes(opts.mix)
      const loaded = mixes.filter((m) => hasLoadFields(m.workers))
      if (loaded.length > 0)
        throw new UserError(
          `--mix: ${loaded.map((m) => m.name).join(', ')} give their workers' arrivals or priorities; serve-bench drives closed-loop clients only (eclip bench runs them)`,
        )
      const named = resolvePolicies(opts.policies, 'sim')
      const mps = named.filter(isMpsPolicy)
      if (mps.length > 0)
        throw new UserError(
          `--policies: ${mps.join(', ')}: the server runs every model in one backend process; MPS policies are eclip bench's only`,
        )
      const rt = named.filter(isPriorityPolicy)
      if (rt.length > 0)
        throw new UserError(
          `--policies: ${rt.join(', ')}: not a serve policy yet (the server takes no priorities)`,
        )
      const policies = named.filter((p): p is ThroughputPolicy => !isPriorityPolicy(p))
      const warnings: string[] = []
      let profiles: string | undefined
      if (opts.profiles === 'synthetic') {
        if (opts.backend === 'gpu')
          throw new UserError('--profiles synthetic: the GPU backend needs measured profiles')
        warnings.push(
          'SYNTHETIC PROFILES (--profiles synthetic): compute times are generated, not measured (src/profile/synthetic.ts)',
        )
      } else if (opts.profiles) profiles = resolve(opts.profiles)
      else {
        const shipped = shippedProfiles()
        if (shipped?.warning) warnings.push(shipped.warning)
        if (shipped) profiles = shipped.dir
        else if (opts.backend === 'gpu')
          throw new UserError('--backend gpu needs --profiles DIR (none shipped)')
        else warnings.push('SYNTHETIC PROFILES: none shipped; compute times are generated, not measured')
      }
      const transports = parseTransports(opts.transport)
      // what the bench file must hold, and whether the cuda-shm client can run, are known before any run starts
      let bench: Results | undefined
      if (opts.bench) {
        bench = readFile<Results>('results', resolve(opts.bench))
        const missing = missingBenchRuns(
          bench,
          opts.bench,
          mixes.map((m) => m.name),
          policies,
          opts.batch ?? null,
          opts.backend,
        )
        if (missing) throw new UserError(missing)
      }
      if (transports.includes('cuda-shm')) {
        const why = cudaShmUnavailable()
        if (why) throw new UserError(`--transport cuda-shm: the client needs a CUDA GPU here: ${why}`)
      }
      const simulated = opts.backend === 'sim'
      if (simulated)
        warnings.push(
          "SIMULATED: the sim backend runs no model; its responses carry no outputs and its compute times and power are modelled, each model at its plan's time with no contention between models (unlike eclip bench's simulator) — these numbers measure the server path, not a GPU or a policy",
        )
      const out = resolve(opts.out)
      mkdirSync(join(out, 'configs'), { recursive: true })
      // one results directory per transport: OUT itself for one, OUT/<transport>/ for several
      const perTransport = new Map(
        transports.map((t) => {
          const dir = transports.length === 1 ? out : join(out, t)
          mkdirSync(dir, { recursive: true })
          const log = openSync(join(dir, 'requests.csv'), 'w')
          writeSync(log, `${LOG_HEADER}\n`)
          return [t, { dir, log, runs: [] as ServeRun[], failures: [] as string[], warnings: [...warnings] }]
        }),
      )
      let device: { gpu: string; versions: Record<string, string> } | undefined
      const total = mixes.length * policies.length
      let done = 0
      try {
        for (const mix of mixes)
          for (const policy of policies) {
            const label = `${mix.name} ${policy}`
            process.stderr.write(`eclip serve-bench: [${++done}/${total}] ${label}\n`)
            const configFile = join(out, 'configs', `${mix.name}.${policy}.json`)
            let outcomes: TransportOutcome[]
            try {
              outcomes = await serveBenchRuns({
                mix,
                policy,
                backend: opts.backend,
                batch: opts.batch ?? null,
                ...(profiles ? { profiles } : {}),
                concurrency: opts.concurrency,
                warmupS: opts.warmup,
                windowS: opts.duration,
                seed: opts.seed,
                ...(opts.queueSize ? { queueSize: opts.queueSize } : {}),
                ...(opts.inputDatatype ? { inputDatatype: opts.inputDatatype } : {}),
                transports,
                ...(opts.frontends > 0 ? { frontends: opts.frontends } : {}),
                configFile,
              })
            } catch (err) {
              // as in eclip bench: a run the backend could not make (a capture refused, a CUDA error, a hung backend)
              // must not lose the others; anything else is a bug and stops here
              if (!(err instanceof UserError)) throw err
              outcomes = transports.map((transport) => ({ transport, error: err as Error }))
            }
            for (const r of outcomes) {
              const t = 'error' in r ? r.transport : (r.run.transport as Transport)
              const st = perTransport.get(t)
              if (!st) continue
              if ('error' in r) {
                st.failures.push(`run ${label} FAILED: ${r.error.message}`)
                process.stderr.write(
                  `eclip serve-bench: run ${label} (${t}) failed, going on: ${r.error.message}\n`,
                )
                continue
              }
              r.run.config = relative(st.dir, configFile)
              st.runs.push(r.run)
              device ??= r.device
              if (r.run.metrics.eventLoopUtilisation > 0.9)
                st.warnings.push(
                  `${label}: the server's Node event loop was ${(r.run.metrics.eventLoopUtilisation * 100).toFixed(0)}% busy: the server process, not the backend, may bound this rate`,
                )
              const rows: string[] = []
              r.calls.forEach((cs, wi) => {
                const name = r.run.workers[wi]?.name ?? String(wi)
                for (const [i, c] of cs.entries())
                  rows.push(
                    `${r.run.id},${name},${i},${c.startMs.toFixed(3)},${c.endMs.toFixed(3)},${c.status},${c.queueUs ?? ''},${c.computeUs ?? ''}`,
                  )
              })
              if (rows.length > 0) writeSync(st.log, `${rows.join('\n')}\n`)
            }
          }
      } finally {
        for (const st of perTransport.values()) closeSync(st.log)
      }
      let failed = false
      for (const [transport, st] of perTransport) {
        const { runs, failures, dir } = st
        failed ||= failures.length > 0
        normaliseServeRuns(runs)
        if (bench && opts.bench) compareWithBench(runs, bench, opts.bench)
        const profileGpu = runs[0]?.gpu.name
        if (device && profileGpu && device.gpu !== profileGpu)
          st.warnings.push(`the plans were made from ${profileGpu} profiles but ran on ${device.gpu}`)
        const results: ServeResults = {
          format: 'eclip.serve-results/1',
          runs,
          requestLog: 'requests.csv',
          provenance: {
            date: new Date().toISOString(),
            method: simulated ? 'simulated' : 'measured',
            tool: 'eclip serve-bench',
            host: hostname(),
            ...((device?.gpu ?? profileGpu) ? { gpu: device?.gpu ?? profileGpu } : {}),
            // the stack that ran the runs, with the settings that change results (hardware queues:
            // cudaDeviceMaxConnections), as `eclip bench` records them
            ...(device?.versions ?? {}),
            notes: `server on loopback; transport ${transport}: ${TRANSPORT_LABEL[transport]}${opts.inputDatatype ? `, inputs sent as ${opts.inputDatatype} where accepted` : ''}; ${opts.concurrency} closed-loop clients per model in a process of their own; ${opts.frontends > 0 ? `${opts.frontends} front-end processes` : 'no front-end processes'}${transports.length > 1 ? `; transports ${transports.join(', ')} measured in turn against the same server per mix and policy` : ''}; profiles: ${profiles ?? 'synthetic'}${opts.bench ? `; served ÷ bench against ${opts.bench}` : ''}`,
            backend: opts.backend,
            simulated,
            eclip: SERVER_VERSION,
            node: process.version,
            seed: opts.seed,
            command: ['eclip', ...process.argv.slice(2)].join(' '),
            warnings: [...st.warnings, ...failures],
          },
        }
        parseFormat('serve-results', results, 'results.json (about to be written)')
        const resultsFile = join(dir, 'results.json')
        writeFileSync(resultsFile, `${JSON.stringify(results, null, 1)}\n`)
        const label = simulated
          ? 'SIMULATED (sim backend: no model ran)'
          : `measured on ${device?.gpu ?? 'the GPU'} through the server`
        const header = [
          `eclip serve-bench: ${mixes.length} mix(es) × ${policies.length} policies through eclip serve (${opts.backend} backend${simulated ? ', SIMULATED' : ''}), profiles: ${profiles ?? 'synthetic'}`,
          `closed loop, ${opts.concurrency} clients per model, warm-up ${opts.warmup} s, window ${opts.duration} s per run, seed ${opts.seed}${opts.batch ? `, batch ${opts.batch}` : ''}`,
          `transport ${transport}: ${TRANSPORT_LABEL[transport]}${opts.bench ? `; served ÷ bench against ${opts.bench}` : ''}`,
          ...results.provenance.warnings.map((w) => `WARNING: ${w}`),
        ].join('\n')
        const axes = { mixes: mixes.map((m) => m.name), policies }
        const report = serveReport(runs, label, axes)
        const vsBench = bench ? `\n\n${benchTables(runs, `${label}, ${transport}`, axes)}` : ''
        const reportFile = join(dir, 'report.txt')
        writeFileSync(reportFile, `${header}\n\n${report.tables}${vsBench}\n\n${report.detail}\n`)
        console.log(`${header}\n\n${report.tables}${vsBench}\n`)
        console.log(`wrote ${resultsFile}, ${join(dir, 'requests.csv')}, ${reportFile}`)
      }
      console.log(`done in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
      if (failed) process.exitCode = 1
    })
}

/** --transport: one or several of TRANSPORTS, comma-separated, each once. */
export function parseTransports(list: string): Transport[] {
  const ts = list
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t.length > 0)
  if (ts.length === 0) throw new UserError(`--transport: none given (${TRANSPORTS.join(', ')})`)
  for (const t of ts)
    if (!(TRANSPORTS as readonly string[]).includes(t))
      throw new UserError(`--transport: unknown transport "${t}" (${TRANSPORTS.join(', ')})`)
  if (new Set(ts).size !== ts.length) throw new UserError(`--transport: "${list}" names a transport twice`)
  return ts as Transport[]
}
