// `eclip serve-bench`: the paper's mixes measured through the server rather than on the executor: for each (mix,
// policy) a serve config of the mix's workers, `eclip serve` started in this process on a loopback port, KServe v2
// clients per model (closed loop, or open loop at each worker's arrival times: --workload, a mix with sources, --rate),
// a steady window; results.json (eclip.serve-results/1), requests.csv and report.txt. With --url the same clients
// measure a KServe v2 server already running (Triton, another eclip serve): nothing is started, per mix.
// The application is src/serve-bench/run.ts.
import { resolve } from 'node:path'
import { type Command, Option } from '@commander-js/extra-typings'
import {
  ALL_POLICIES,
  DEFAULT_POLICY,
  isMpsPolicy,
  POLICIES,
  type Policy,
  UserError,
} from '../../formats/index.ts'
import { http2Sizes } from '../../serve/grpc/flow-control.ts'
import { applyServingHeapGrowth } from '../../serve/heap.ts'
import { DEFAULT_SERVE_HOLD_MS } from '../../serve/live.ts'
import { clientProcessMain } from '../../serve-bench/client-process.ts'
import { CUDA_SHM_SENDERS, TRANSPORTS, type Transport } from '../../serve-bench/clients/index.ts'
import type { ExternalOptions } from '../../serve-bench/external.ts'
import { runServeBench } from '../../serve-bench/run.ts'
import { DEFAULT_CONCURRENCY, DEFAULT_MAX_OUTSTANDING } from '../../serve-bench/serve-bench.ts'
import {
  checkRtOptions,
  checkServedFitOptions,
  checkWritableDir,
  minShareOption,
  num,
  objectiveOption,
  RT_FLAGS,
  refuseEmptyValues,
  resolveMixesOrWorkloads,
  resolvePolicies,
  rtBestEffortOption,
  rtFactorOption,
  rtGateOption,
  rtMechanismOption,
  rtPlanOptions,
  rtReserveOption,
  rtUngatedOption,
} from '../options.ts'

export function registerServeBench(program: Command) {
  // the clients of one run, or a share of them, in a process of their own (spawned by serve-bench; IPC channel)
  program.command('serve-bench-clients', { hidden: true }).action(() => clientProcessMain())
  program
    .command('serve-bench')
    .description(
      'sustained throughput and latency of mixes served by `eclip serve` (KServe v2 HTTP, loopback) per policy',
    )
    .option(
      '--mix <name|file|all>',
      'mix names from mixes/paper.yaml (comma-separated), a mix or workload file, or all (default: all)',
    )
    .option(
      '--workload <name|file>',
      "workload files, or shipped ones by name (disb: workloads/disb.yaml; disb-A: one of its workloads), or FILE.yaml:NAME, comma-separated, as eclip bench takes them: each worker's arrivals sent open loop at their scheduled times, each workload its own run length (instead of --mix)",
    )
    .option(
      '--policies <list|all>',
      `comma-separated serve policies (${POLICIES.filter((p) => !isMpsPolicy(p)).join(', ')}, eclip-rt, eclip-live; not the MPS ones), or all (eclip-rt where a mix has real-time workers) (default: baseline,${DEFAULT_POLICY}: the plan eclip serve makes unless told otherwise)`,
    )
    .addOption(new Option('--backend <name>', 'sim or gpu (default: sim)').choices(['sim', 'gpu'] as const))
    .option(
      '--url <url>',
      "measure a KServe v2 server already running there (http://host:port: Triton, another eclip serve) instead of starting eclip serve: each mix worker sent to its served name (albert#1 → albert-1), its tensors from the server's model metadata; not with --policies, --backend, --frontends, --queue-size, --input-datatype, --rt-*, --server-starts, --table, --hold-ms",
    )
    .option(
      '--grpc-url <host:port>',
      "with --url: the server's gRPC listener, for --transport grpc and grpc-stream (Triton's: 8001)",
    )
    .option(
      '--metrics-url <url>',
      "with --url: the server's Prometheus metrics (Triton's http://host:8002/metrics), read at the window's edges for energy (nv_energy_consumption); absent: no energy",
    )
    .option('--label <name>', 'with --url: the name its runs go by in place of a policy (default: external)')
    .option(
      '--server-pids <list>',
      "with --url: the server's process ids on this host, comma-separated, whose CPU counts as the server's (absent: not measured)",
    )
    .option(
      '--bench-policy <policy>',
      "with --url and --bench: the bench's policy its runs are set beside (default: baseline)",
    )
    .option(
      '--batch <n>',
      "override every worker's batch (default: the mix's, 1 in the paper's)",
      num('batch', 1, true),
    )
    .option(
      '--profiles <dir|synthetic>',
      "profile directory (default: with --backend gpu, the shipped profiles/<gpu> made on the backend's GPU, refused if none; on the simulator profiles/h100, else another shipped profiles/<gpu>; synthetic: sim only)",
    )
    .option(
      '--duration <s>',
      "steady window per run, s (default 10, or a workload's own)",
      num('duration', 0.001),
    )
    .option('--warmup <s>', "warm-up per run, s (default 2, or a workload's own)", num('warmup', 0))
    .option(
      '--repeats <n>',
      'windows per (mix, policy, transport), back to back after the one warm-up, each --duration long and a run of its own in results.json; the report gives the mean over them with [min–max] (default 1)',
      num('repeats', 1, true),
    )
    .option(
      '--server-starts <n>',
      'fresh eclip serve starts per (mix, policy), one after the other, each measured --repeats windows: the spread between server starts beside the spread within one (default 1; not with --url)',
      num('server-starts', 1, true),
    )
    .option(
      '--concurrency <n>',
      `closed-loop clients per model, one request in flight each (default ${DEFAULT_CONCURRENCY}: the next request always waits in the queue)`,
      num('concurrency', 1, true),
    )
    .option(
      '--rate <rps>',
      'open loop: Poisson arrivals at this rate per worker, for mixes that give no sources (as eclip bench --rate)',
      num('rate', 1e-9),
    )
    .option(
      '--max-outstanding <n>',
      `open loop: requests a worker may have outstanding (its connections or regions); a request due while all are busy goes out late, counted (default ${DEFAULT_MAX_OUTSTANDING})`,
      num('max-outstanding', 1, true),
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
      `how the clients send requests, comma-separated (${TRANSPORTS.join(', ')}): http (binary tensors), grpc (raw_input_contents, a ModelInfer call per request), grpc-stream (the same on one ModelStreamInfer stream per client), shm (system shared-memory regions), cuda-shm (CUDA shared-memory regions; a Python client, needs a GPU). Several: each measured in turn against the same server (one start-up per mix and policy), results in OUT/<transport>/`,
      'http',
    )
    .addOption(
      new Option(
        '--cuda-shm-sender <who>',
        "who sends cuda-shm's requests: python (its Python clients, each copying its outputs to the host after every answer) or node (Node clients, as shm's, naming regions Python processes hold; outputs left on the device, as perf_analyzer leaves them) (default python)",
      ).choices(CUDA_SHM_SENDERS),
    )
    .option(
      '--frontends <n>',
      'HTTP and gRPC front-end processes in front of the engine (eclip serve --frontends; default 0: one process serves)',
      num('frontends', 0, true),
    )
    .option(
      '--client-processes <n>',
      "processes the clients split over: by model, then a closed-loop model's clients over several; an open-loop model's schedule stays in one (default 1: one process drives every model; more only where that process is shown to be the bound)",
      num('client-processes', 1, true),
    )
    .option(
      '--bench <file>',
      'an eclip bench results.json (closed loop, same mixes, policies and batch; --backend gpu beside a GPU run): report served ÷ bench',
    )
    .option(
      '--seed <n>',
      "random seed (input tensors, open-loop arrivals: eclip bench's --seed gives the same times)",
      num('seed', 0, true),
      1,
    )
    .option(
      '--table <file>',
      "eclip-live: serve this plan table (eclip.plan-table/1: eclip bench --tune's, tuned on the GPU, or eclip plan --table's) as the serve config's live.table, instead of planning one at start-up",
    )
    .option(
      '--hold-ms <ms>',
      `eclip-live: a model stays in the active set this long after its last request was answered (serve's live.holdMs; default ${DEFAULT_SERVE_HOLD_MS})`,
      num('hold-ms', 0),
    )
    .addOption(rtMechanismOption())
    .addOption(rtReserveOption())
    .addOption(rtFactorOption())
    .addOption(rtGateOption())
    .addOption(rtUngatedOption())
    .addOption(rtBestEffortOption())
    .addOption(objectiveOption())
    .addOption(minShareOption())
    .option(
      '--no-gemm-target',
      "serve configs with gemmTarget off: plans from the profiles' default times, every GEMM picked for the whole GPU (docs/design.md §7)",
    )
    .option('--out <dir>', 'output directory', 'out/serve-bench')
    .hook('preAction', (_, cmd) => refuseEmptyValues(cmd))
    .action(async (opts) => {
      checkWritableDir('--out', opts.out)
      // the server it starts runs in this process (not with --url: then it measures another one)
      if (opts.url === undefined) applyServingHeapGrowth()
      http2Sizes() // the gRPC sizes its server and clients take from the environment, checked before anything starts
      const { mixes, workloads } = resolveMixesOrWorkloads(opts)
      const rt = rtPlanOptions(opts)
      // not given: the shipped directory for the backend's GPU, or on the simulator the reference one (runServeBench)
      const profiles =
        opts.profiles === 'synthetic'
          ? ('synthetic' as const)
          : opts.profiles
            ? { dir: resolve(opts.profiles) }
            : undefined
      if (opts.cudaShmSender !== undefined && !parseTransports(opts.transport).includes('cuda-shm'))
        throw new UserError('--cuda-shm-sender is for --transport cuda-shm: add it to --transport')
      const common = {
        ...opts,
        mixes,
        workloads,
        profiles,
        transports: parseTransports(opts.transport),
      }
      const external = externalOptions(opts)
      if (external) {
        const { failed } = await runServeBench({ ...common, external })
        if (failed) process.exitCode = 1
        return
      }
      const policies = resolvePolicies(opts.policies ?? `baseline,${DEFAULT_POLICY}`, 'sim', mixes)
      checkRtOptions(opts, policies)
      checkServedFitOptions(opts, policies)
      if ((opts.table !== undefined || opts.holdMs !== undefined) && !policies.includes('eclip-live'))
        throw new UserError('--table and --hold-ms are for eclip-live: add it to --policies')
      const { failed } = await runServeBench({
        ...common,
        policies,
        backend: opts.backend ?? 'sim',
        frontends: opts.frontends ?? 0,
        ...(opts.table !== undefined || opts.holdMs !== undefined
          ? {
              live: {
                ...(opts.table !== undefined ? { table: resolve(opts.table) } : {}),
                ...(opts.holdMs !== undefined ? { holdMs: opts.holdMs } : {}),
              },
            }
          : {}),
        ...(Object.keys(rt).length > 0
          ? {
              realtime: {
                ...(rt.rtMechanism !== undefined ? { mechanism: rt.rtMechanism } : {}),
                ...(rt.rtReserveSms !== undefined ? { reserveSms: rt.rtReserveSms } : {}),
                ...(rt.rtFactor !== undefined ? { factor: rt.rtFactor } : {}),
                ...(rt.rtGateUs !== undefined ? { gateUs: rt.rtGateUs } : {}),
                ...(rt.rtBestEffort !== undefined ? { bestEffort: rt.rtBestEffort } : {}),
                ...(rt.rtUngatedSms !== undefined ? { ungatedSms: rt.rtUngatedSms } : {}),
              },
            }
          : {}),
      })
      if (failed) process.exitCode = 1
    })
}

/** The flags that set up the eclip serve serve-bench starts, refused with --url; and --url's own, refused without. */
const SERVE_FLAGS = [
  ['policies', '--policies'],
  ['backend', '--backend'],
  ['frontends', '--frontends'],
  ['queueSize', '--queue-size'],
  ['inputDatatype', '--input-datatype'],
  ...RT_FLAGS,
  ['objective', '--objective'],
  ['minShare', '--min-share'],
  ['table', '--table'],
  ['holdMs', '--hold-ms'],
] as const
const URL_FLAGS = [
  ['grpcUrl', '--grpc-url'],
  ['metricsUrl', '--metrics-url'],
  ['label', '--label'],
  ['serverPids', '--server-pids'],
  ['benchPolicy', '--bench-policy'],
] as const

/**
 * --url and its flags as runServeBench takes them; undefined without --url. Combinations that cannot be are refused.
 */
export function externalOptions(
  opts: {
    url?: string
    grpcUrl?: string
    metricsUrl?: string
    label?: string
    serverPids?: string
    benchPolicy?: string
    bench?: string
  } & Record<string, unknown>,
): ExternalOptions | undefined {
  const given = (flags: readonly (readonly [string, string])[]) =>
    flags.filter(([k]) => opts[k] !== undefined).map(([, f]) => f)
  if (opts.url === undefined) {
    const stray = given(URL_FLAGS)
    if (stray.length > 0)
      throw new UserError(`${stray.join(', ')}: only with --url (a server already running)`)
    return undefined
  }
  if (opts.serverStarts !== undefined)
    throw new UserError(
      `--server-starts with --url: serve-bench starts no server there, so it cannot start a fresh one per repeat; --repeats measures several windows of the server at ${opts.url} (restart it yourself between serve-benches to see the spread between starts)`,
    )
  const refused = given(SERVE_FLAGS)
  if (refused.length > 0)
    throw new UserError(
      `${refused.join(', ')} with --url: serve-bench starts no server there; the server at ${opts.url} runs as it was started (give its own options to it)`,
    )
  if (opts.benchPolicy !== undefined && !opts.bench)
    throw new UserError('--bench-policy: only with --bench (the bench run an external server is set beside)')
  if (opts.benchPolicy !== undefined && !(ALL_POLICIES as readonly string[]).includes(opts.benchPolicy))
    throw new UserError(
      `--bench-policy: unknown policy "${opts.benchPolicy}" (known: ${ALL_POLICIES.join(', ')})`,
    )
  const pids = opts.serverPids?.split(',').map((p) => p.trim())
  if (pids?.some((p) => !/^[1-9]\d*$/.test(p)))
    throw new UserError(`--server-pids ${opts.serverPids}: process ids, comma-separated`)
  return {
    url: opts.url,
    ...(opts.grpcUrl !== undefined ? { grpcUrl: opts.grpcUrl } : {}),
    ...(opts.metricsUrl !== undefined ? { metricsUrl: opts.metricsUrl } : {}),
    label: opts.label ?? 'external',
    ...(pids ? { serverPids: pids.map(Number) } : {}),
    ...(opts.benchPolicy !== undefined ? { benchPolicy: opts.benchPolicy as Policy } : {}),
  }
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
