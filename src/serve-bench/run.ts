// `eclip serve-bench`'s application: for each (mix, policy) a serve config of the mix's workers, `eclip serve` started
// in this process on a loopback port (--server-starts: that many fresh starts, one after the other) — or, with an
// external server (--url), that server as it runs, per mix —, KServe v2 clients per model (closed loop, or open loop
// at the workers' arrival times where the mix or workload gives sources), a steady window (--repeats: several back to
// back, each a run of its own); writes results.json (eclip.serve-results/1), requests.csv and report.txt per transport.
// The CLI (src/cli/commands/serve-bench.ts) parses flags and calls runServeBench.
import { closeSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs'
import { hostname } from 'node:os'
import { join, relative, resolve } from 'node:path'
import { BackendProcess, type BackendProcessOptions } from '../execute/gpu/client.ts'
import { checkMadeFor } from '../formats/gpu.ts'
import {
  expandWorkers,
  hasLoadFields,
  incompleteNote,
  isMpsPolicy,
  type Mix,
  type Policy,
  parseFormat,
  type Results,
  readFile,
  type ServeConfig,
  type ServeResults,
  type ServeRun,
  serveRunName,
  UserError,
  type Workload,
} from '../formats/index.ts'
import { shippedProfiles, shippedProfilesFor } from '../profile/shipped.ts'
import { loadGpu } from '../profile/store.ts'
import { SERVER_VERSION } from '../serve/server.ts'
import { isOpenSource, loopOfWorkers } from '../workload/arrivals.ts'
import { arrivalTables } from './arrivals-report.ts'
import { DEFAULT_CLIENT_PROCESSES } from './client-shares.ts'
import { type CudaShmSender, cudaShmUnavailable, TRANSPORT_LABEL, type Transport } from './clients/index.ts'
import { connectExternal, type ExternalOptions, externalRuns, externalTarget } from './external.ts'
import { spreadLines, windowWords } from './repeats.ts'
import {
  type ClientsSpec,
  DEFAULT_CONCURRENCY,
  DEFAULT_MAX_OUTSTANDING,
  normaliseServeRuns,
  type ServeBenchPolicy,
  serveBenchRuns,
  serveReport,
  type TransportOutcome,
} from './serve-bench.ts'
import { benchTables, compareWithBench, loopKey, missingBenchRuns } from './vs-bench.ts'

/**
 * The request log: times in ms from the clients' start of each run; queue/compute from the response (µs);
 * scheduled_ms an open-loop request's scheduled time (empty in a closed loop).
 */
const LOG_HEADER = 'run,worker,request,start_ms,end_ms,status,queue_us,compute_us,scheduled_ms'

/** `eclip serve-bench`'s options, the flags resolved (mixes read, policy names checked, transports parsed). */
export type RunServeBenchOptions = CommonOptions & (EclipServeOptions | { external: ExternalOptions })

/** The runs of `eclip serve` started here, per (mix, policy). */
export interface EclipServeOptions {
  policies: Policy[]
  backend: 'sim' | 'gpu'
  /** the GPU backend's process options (the Python; tests give a stand-in) */
  gpu?: BackendProcessOptions
  queueSize?: number
  inputDatatype?: 'FP32'
  /** front-end processes in front of the engine; 0: one process serves */
  frontends: number
  /** eclip-rt's options (bench's --rt-mechanism, --rt-reserve-sms, --rt-factor) for its serve configs */
  realtime?: ServeConfig['realtime']
  /** eclip-fit's and eclip-rt's best-effort plan's objective (bench's --objective) for their serve configs */
  objective?: ServeConfig['objective']
  /** every model's floor where its mix entry sets none (bench's --min-share): the config's per-model minShare */
  minShare?: number
  /** fresh server starts per (mix, policy), one after the other, each measured --repeats windows (default 1) */
  serverStarts?: number
  /** eclip-live's serve config `live` (a ready plan table, the hold) */
  live?: ServeConfig['live']
  /** the serve config's gemmTarget (false: --no-gemm-target) */
  gemmTarget?: boolean
}

/** What every serve-bench sets, whichever server it measures. */
interface CommonOptions {
  mixes: Mix[]
  /** override every worker's batch */
  batch?: number
  /**
   * a profile directory, synthetic, or none given: the shipped directory made on the GPU the backend reports (gpu),
   * else the reference GPU's or another shipped one (src/profile/shipped.ts), else synthetic
   */
  profiles: { dir: string; warning?: string } | 'synthetic' | undefined
  /** the workloads the mixes came from (--workload), each with its own run length; none with --mix */
  workloads?: Workload[]
  /** steady window and warm-up per run, s (default 10 and 2, or a workload's own) */
  duration?: number
  warmup?: number
  /** windows back to back after one warm-up per server start, each a run of its own (default 1) */
  repeats?: number
  /** closed-loop clients per model (default DEFAULT_CONCURRENCY); refused where no worker runs closed loop */
  concurrency?: number
  /** open loop at this rate (req/s, Poisson) for every worker of mixes that give no sources */
  rate?: number
  /** requests an open-loop worker may have outstanding */
  maxOutstanding?: number
  transports: Transport[]
  /** client processes the clients split over (at most one per client); absent: from the host's cores and the mix */
  clientProcesses?: number
  /** who sends cuda-shm's requests: its Python clients (default) or Node clients naming regions Python holds */
  cudaShmSender?: CudaShmSender
  /** an eclip bench results.json to compare with */
  bench?: string
  seed: number
  /** output directory */
  out: string
}

/**
 * Runs every (mix, policy), prints each transport's report and writes its files. `failed`: some run failed (the
 * others were measured all the same); the CLI exits 1.
 */
export async function runServeBench(o: RunServeBenchOptions): Promise<{ failed: boolean }> {
  const t0 = performance.now()
  const { mixes, transports } = o
  // a workload's own run length unless the command line gives one (as eclip bench)
  const lengthOf = (mix: string) => {
    const w = o.workloads?.find((x) => x.name === mix)
    return { windowS: o.duration ?? w?.durationS ?? 10, warmupS: o.warmup ?? w?.warmupS ?? 2 }
  }
  // --rate beside a mix's own sources is refused before anything starts
  for (const m of mixes) loopOfWorkers(expandWorkers(m, o.batch), o.rate, `mix ${m.name}`)
  const arrivals = o.rate !== undefined || mixes.some((m) => hasLoadFields(m.workers))
  // each loop option only where some worker runs that loop: refused rather than dropped
  const workers = mixes.flatMap((m) => expandWorkers(m, o.batch))
  const openLoop = o.rate !== undefined || workers.some((w) => isOpenSource(w.arrival))
  const closedLoop = o.rate === undefined && workers.some((w) => !isOpenSource(w.arrival))
  if (o.maxOutstanding !== undefined && !openLoop)
    throw new UserError(
      '--max-outstanding is for open-loop workers: give --rate, a workload, or a mix with arrivals (closed loop: --concurrency)',
    )
  if (o.concurrency !== undefined && !closedLoop)
    throw new UserError(
      o.rate !== undefined
        ? '--concurrency is for the closed loop: --rate sends every worker open loop; leave one out'
        : '--concurrency is for closed-loop workers: every worker here has open-loop arrivals (poisson, uniform, a trace, on/off sending one of those); leave it out (open loop: --max-outstanding)',
    )
  const concurrency = o.concurrency ?? DEFAULT_CONCURRENCY
  const maxOutstanding = o.maxOutstanding ?? DEFAULT_MAX_OUTSTANDING
  const loopWords =
    o.rate !== undefined
      ? `open loop, Poisson ${o.rate} req/s per worker (at most ${maxOutstanding} outstanding each; latency from the scheduled time)`
      : arrivals
        ? `each worker's own arrivals where its mix gives them (open loop: at most ${maxOutstanding} outstanding per worker, latency from the scheduled time), else closed loop, ${concurrency} clients per model`
        : `closed loop, ${concurrency} clients per model`
  const repeats = o.repeats ?? 1
  const starts = ('external' in o ? undefined : o.serverStarts) ?? 1
  const repeatWords =
    repeats > 1 || starts > 1
      ? `${repeats} window${repeats === 1 ? '' : 's'} back to back after one warm-up per server start, ${starts} ${'external' in o ? 'server (external)' : `fresh server start${starts === 1 ? '' : 's'} per (mix, policy)`}`
      : ''
  const lengths =
    (o.workloads && o.workloads.length > 0 && (o.duration === undefined || o.warmup === undefined)
      ? 'run length: each workload its own'
      : `warm-up ${o.warmup ?? 2} s, window ${o.duration ?? 10} s per run`) +
    (repeatWords ? `; ${repeatWords}` : '')
  // eclip serve started here per (mix, policy), or an external server (--url) per mix, its runs named by its label
  const eclip = 'external' in o ? undefined : o
  const ext = 'external' in o ? o.external : undefined
  const backend = eclip?.backend ?? 'external'
  const named = eclip?.policies ?? []
  const mps = named.filter(isMpsPolicy)
  if (mps.length > 0)
    throw new UserError(
      `--policies: ${mps.join(', ')}: the server runs every model in one backend process; MPS policies are eclip bench's only`,
    )
  // every other policy is a serve policy, eclip-rt's priorities included (the serve config carries them)
  const policies = named as ServeBenchPolicy[]
  const runNames: string[] = ext ? [ext.label] : policies
  const warnings: string[] = []
  if (o.profiles === 'synthetic' && backend !== 'sim')
    throw new UserError(
      ext
        ? "--profiles synthetic: another server's solo references (STP) come from measured profiles: give a directory, or none for the shipped one"
        : '--profiles synthetic: the GPU backend needs measured profiles',
    )
  // on the GPU, the GPU the backend reports picks the default profiles and must be theirs: said once, before any run
  const here = eclip?.backend === 'gpu' ? await BackendProcess.probe(eclip.gpu ?? {}) : undefined
  const chosen =
    o.profiles === 'synthetic'
      ? undefined
      : (o.profiles ?? (here ? shippedProfilesFor(here) : shippedProfiles()))
  const profiles = chosen?.dir
  if (chosen?.warning) warnings.push(chosen.warning)
  if (here && profiles) checkMadeFor(`the profiles in ${profiles}`, loadGpu(profiles), here)
  if (o.profiles === 'synthetic')
    warnings.push(
      'SYNTHETIC PROFILES (--profiles synthetic): compute times are generated, not measured (src/profile/synthetic.ts)',
    )
  else if (!profiles)
    warnings.push(
      ext
        ? 'no profiles shipped: no solo references, so no STP (--profiles DIR gives them)'
        : 'SYNTHETIC PROFILES: none shipped; compute times are generated, not measured',
    )
  // what the bench file must hold, and whether the cuda-shm client can run, are known before any run starts
  let bench: Results | undefined
  if (o.bench) {
    bench = readFile<Results>('results', resolve(o.bench))
    const incomplete = incompleteNote(bench)
    if (incomplete) warnings.push(`${o.bench}: ${incomplete}`)
    const missing = missingBenchRuns(
      bench,
      o.bench,
      mixes.map((m) => ({
        name: m.name,
        loop: loopKey(loopOfWorkers(expandWorkers(m, o.batch), o.rate, `mix ${m.name}`)),
      })),
      ext ? [ext.benchPolicy ?? 'baseline'] : policies,
      o.batch ?? null,
      backend,
    )
    if (missing) throw new UserError(missing)
  }
  if (transports.includes('cuda-shm')) {
    const why = cudaShmUnavailable()
    if (why) throw new UserError(`--transport cuda-shm: the client needs a CUDA GPU here: ${why}`)
  }
  // the external server, checked before any client starts: reachable, ready, every mix's models at the batch
  const server = ext ? await connectExternal(ext, mixes, o.batch, transports) : undefined
  if (server) warnings.push(...server.warnings)
  // an external server is simulated when its answers say so (an eclip serve on the simulator): known after the runs
  const isSimulated = (runs: ServeRun[]) => (ext ? runs.some((r) => r.simulated) : backend === 'sim')
  if (backend === 'sim')
    warnings.push(
      "SIMULATED: the sim backend runs no model; its responses carry no outputs and its compute times and power are modelled, each model at its plan's time with no contention between models (unlike eclip bench's simulator) — these numbers measure the server path, not a GPU or a policy",
    )
  const out = resolve(o.out)
  mkdirSync(eclip ? join(out, 'configs') : out, { recursive: true })
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
  const serverWords = server
    ? `external server ${server.external.url} (${server.external.server.name} ${server.external.server.version}), not started by serve-bench`
    : 'server on loopback'
  const total = mixes.length * runNames.length * starts
  let done = 0
  // how many processes the clients split over (each run's notes say how many it used, and each one's share)
  const n = o.clientProcesses ?? DEFAULT_CLIENT_PROCESSES
  const clientWords =
    n === 1
      ? 'the clients in one process of their own'
      : `the clients in up to ${n} processes of their own (--client-processes; at most one per client)`
  // Each transport's results.json and report.txt: rewritten after every (mix, policy) as `partial` (a run cut short
  // by a time limit keeps the runs it finished), then once more at the end, printed.
  const writeResults = (partial: boolean) => {
    for (const [transport, st] of perTransport) {
      const { runs, failures, dir } = st
      const warned = [...st.warnings]
      if (partial)
        warned.unshift(
          `PARTIAL: ${done} of ${total} (mix, policy${starts > 1 ? ', server start' : ''}) runs finished; serve-bench had not ended when this was written`,
        )
      normaliseServeRuns(runs)
      if (bench && o.bench) {
        compareWithBench(runs, bench, o.bench, ext?.benchPolicy)
        // arrivals are the same times only for the same seed; a bench on another backend is said so (an external
        // server's run is set beside the GPU's bench run, else the simulator's)
        for (const r of runs) {
          if (r.bench?.seed !== undefined && r.bench.seed !== o.seed)
            warned.push(
              `${r.mix} ${serveRunName(r)}: the bench run ${r.bench.runId} used seed ${r.bench.seed}, this run ${o.seed}: other arrival times`,
            )
          const want = r.external ? 'gpu' : r.backend
          if (r.bench?.backend !== undefined && r.bench.backend !== want)
            warned.push(
              `${r.mix} ${serveRunName(r)}: beside the ${r.bench.backend} bench run ${r.bench.runId} (the file has no ${want} run of ${r.external ? 'it' : 'these arrivals'})`,
            )
        }
      }
      const simulated = isSimulated(runs)
      if (ext && simulated)
        warned.unshift(
          "SIMULATED: the external server's answers say it runs no model (an eclip serve on the simulator) — these numbers measure the server path, not a GPU",
        )
      // the GPU of the plans' profiles; an external server's GPU is not known here
      const profileGpu = ext ? undefined : runs[0]?.gpu.name
      if (device && profileGpu && device.gpu !== profileGpu)
        warned.push(`the plans were made from ${profileGpu} profiles but ran on ${device.gpu}`)
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
          notes: `${serverWords}; transport ${transport}: ${TRANSPORT_LABEL[transport]}${transport === 'cuda-shm' && o.cudaShmSender === 'node' ? ', sent by Node clients (the Python processes only hold the regions; outputs left on the device)' : ''}${eclip?.inputDatatype ? `, inputs sent as ${eclip.inputDatatype} where accepted` : ''}; ${loopWords}, ${clientWords}${repeatWords ? `; ${repeatWords}, each window a run of its own (repeat: its server start and window), its requests logged under its server start's first window` : ''}${eclip ? `; ${eclip.frontends > 0 ? `${eclip.frontends} front-end processes` : 'no front-end processes'}` : ''}${transports.length > 1 ? `; transports ${transports.join(', ')} measured in turn against the same server per ${ext ? 'mix' : 'mix and policy'}` : ''}; profiles: ${profiles ?? 'synthetic'}${o.bench ? `; served ÷ bench against ${o.bench}${ext ? `'s ${ext.benchPolicy ?? 'baseline'} runs` : ''}` : ''}`,
          backend,
          simulated,
          eclip: SERVER_VERSION,
          node: process.version,
          seed: o.seed,
          command: ['eclip', ...process.argv.slice(2)].join(' '),
          warnings: [...warned, ...failures],
        },
      }
      parseFormat('serve-results', results, 'results.json (about to be written)')
      const resultsFile = join(dir, 'results.json')
      writeFileSync(resultsFile, `${JSON.stringify(results, null, 1)}\n`)
      const label = simulated
        ? `SIMULATED (${ext ? 'the server says so' : 'sim backend'}: no model ran)`
        : server
          ? `measured through ${server.external.server.name} at ${server.external.url}`
          : `measured on ${device?.gpu ?? 'the GPU'} through the server`
      const header = [
        server
          ? `eclip serve-bench: ${mixes.length} mix(es) through the external server ${server.external.url} (${server.external.server.name} ${server.external.server.version}${simulated ? ', SIMULATED' : ''}) as "${server.external.label}", solo references: ${profiles ?? 'none'}`
          : `eclip serve-bench: ${mixes.length} mix(es) × ${policies.length} policies through eclip serve (${backend} backend${simulated ? ', SIMULATED' : ''}), profiles: ${profiles ?? 'synthetic'}`,
        `${loopWords}, ${lengths}, seed ${o.seed}${o.batch ? `, batch ${o.batch}` : ''}`,
        `transport ${transport}: ${TRANSPORT_LABEL[transport]}${o.bench ? `; served ÷ bench against ${o.bench}` : ''}`,
        ...results.provenance.warnings.map((w) => `WARNING: ${w}`),
      ].join('\n')
      const axes = { mixes: mixes.map((m) => m.name), policies: runNames }
      const report = serveReport(runs, label, axes)
      const loads = arrivalTables(runs, `${label}, ${transport}`)
      const spreads = spreadLines(runs, `${label}, ${transport}`, axes)
      const vsBench = `${loads ? `\n\n${loads}` : ''}${bench ? `\n\n${benchTables(runs, `${label}, ${transport}`, axes)}` : ''}${spreads ? `\n\n${spreads}` : ''}`
      const reportFile = join(dir, 'report.txt')
      writeFileSync(reportFile, `${header}\n\n${report.tables}${vsBench}\n\n${report.detail}\n`)
      if (partial) continue
      console.log(`${header}\n\n${report.tables}${vsBench}\n`)
      console.log(`wrote ${resultsFile}, ${join(dir, 'requests.csv')}, ${reportFile}`)
    }
  }
  // one (mix, policy) of eclip serve started here, or one mix against the external server
  const measure = (clients: ClientsSpec, name: string): Promise<TransportOutcome[]> => {
    if (server) return externalRuns(clients, externalTarget(server, clients.mix, profiles), transports)
    const e = eclip as EclipServeOptions
    const policy = name as ServeBenchPolicy
    return serveBenchRuns({
      ...clients,
      policy,
      backend: e.backend,
      ...(e.queueSize ? { queueSize: e.queueSize } : {}),
      ...(e.inputDatatype ? { inputDatatype: e.inputDatatype } : {}),
      ...(e.frontends > 0 ? { frontends: e.frontends } : {}),
      ...(e.gpu ? { gpu: e.gpu } : {}),
      ...(e.realtime && policy === 'eclip-rt' ? { realtime: e.realtime } : {}),
      ...(e.objective && (policy === 'eclip-rt' || policy === 'eclip-fit') ? { objective: e.objective } : {}),
      ...(e.minShare !== undefined ? { minShare: e.minShare } : {}),
      ...(e.live && policy === 'eclip-live' ? { live: e.live } : {}),
      ...(e.gemmTarget === false ? { gemmTarget: false } : {}),
      configFile: join(out, 'configs', `${clients.mix.name}.${policy}.json`),
    })
  }
  try {
    // per mix, each server start measures every policy in turn: a policy's windows and its baseline's are as close
    // in time as the starts allow
    for (const mix of mixes)
      for (let start = 1; start <= starts; start++)
        for (const name of runNames) {
          const label = `${mix.name} ${name}${starts > 1 ? ` (server start ${start} of ${starts})` : ''}`
          process.stderr.write(`eclip serve-bench: [${++done}/${total}] ${label}\n`)
          const clients: ClientsSpec = {
            mix,
            batch: o.batch ?? null,
            ...(profiles ? { profiles } : {}),
            concurrency,
            ...(o.rate !== undefined ? { rate: o.rate } : {}),
            ...(o.maxOutstanding !== undefined ? { maxOutstanding: o.maxOutstanding } : {}),
            ...lengthOf(mix.name),
            ...(repeats > 1 ? { windows: repeats } : {}),
            ...(starts > 1 ? { serverStart: { index: start, of: starts } } : {}),
            seed: o.seed,
            transports,
            ...(o.clientProcesses !== undefined ? { clientProcesses: o.clientProcesses } : {}),
            ...(o.cudaShmSender ? { cudaShmSender: o.cudaShmSender } : {}),
          }
          let outcomes: TransportOutcome[]
          try {
            outcomes = await measure(clients, name)
          } catch (err) {
            // as in eclip bench: a run the backend could not make (a capture refused, a CUDA error, a hung backend) or
            // whose client processes failed must not lose the others; anything else is a bug and stops here — but
            // another server failing is its own
            if (!(err instanceof UserError) && !server) throw err
            outcomes = transports.map((transport) => ({ transport, error: err as Error }))
          }
          for (const r of outcomes) {
            const t = 'error' in r ? r.transport : (r.runs[0]?.transport as Transport)
            const st = perTransport.get(t)
            if (!st) continue
            if ('error' in r) {
              st.failures.push(`run ${label} FAILED: ${r.error.message}`)
              process.stderr.write(
                `eclip serve-bench: run ${label} (${t}) failed, going on: ${r.error.message}\n`,
              )
              continue
            }
            device ??= r.device
            for (const run of r.runs) {
              if (run.config) run.config = relative(st.dir, run.config)
              st.runs.push(run)
              const elu = run.metrics.eventLoopUtilisation
              if (elu !== null && elu > 0.9)
                st.warnings.push(
                  `${mix.name} ${name}${run.repeat ? ` (${windowWords(run)})` : ''}: the server's Node event loop was ${(elu * 100).toFixed(0)}% busy: the server process, not the backend, may bound this rate`,
                )
            }
            // every request of the server start once, under its first window's run id
            const id = r.runs[0]?.id
            const names = r.runs[0]?.workers ?? []
            const rows: string[] = []
            r.calls.forEach((cs, wi) => {
              const name = names[wi]?.name ?? String(wi)
              for (const [i, c] of cs.entries())
                rows.push(
                  `${id},${name},${i},${c.startMs.toFixed(3)},${c.endMs.toFixed(3)},${c.status},${c.queueUs ?? ''},${c.computeUs ?? ''},${c.scheduledMs?.toFixed(3) ?? ''}`,
                )
            })
            if (rows.length > 0) writeSync(st.log, `${rows.join('\n')}\n`)
          }
          if (done < total) writeResults(true)
        }
  } finally {
    for (const st of perTransport.values()) closeSync(st.log)
  }
  const failed = [...perTransport.values()].some((st) => st.failures.length > 0)
  writeResults(false)
  console.log(`done in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
  return { failed }
}
