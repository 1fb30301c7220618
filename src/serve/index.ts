// `eclip serve`: reads the config, resolves models/profiles/plan, starts the backend and the HTTP server, and drains
// on SIGTERM/SIGINT. The CLI command is a thin wrapper around `startServe`.

import { dirname, resolve } from 'node:path'
import { simPlanner } from '../execute/sim/evaluator.ts'
import { simInputs } from '../execute/sim/inputs.ts'
import {
  defaultTableThreads,
  type ThreadedPlanner,
  threadedSimPlanner,
} from '../execute/sim/table-threads.ts'
import { UserError } from '../formats/errors.ts'
import { readFile } from '../formats/index.ts'
import { isTablePolicy } from '../formats/plan.ts'
import { liveTablePolicy, type ServeConfig } from '../formats/serve-config.ts'
import { makePlan } from '../plan/index.ts'
import { loadGpu } from '../profile/store.ts'
import { syntheticH100Gpu } from '../profile/synthetic.ts'
import type { ServeBackend } from './backend.ts'
import { fixedComputeTimes } from './compute-time.ts'
import { FrontendPool } from './frontends/engine.ts'
import { quietGrpcBindFailures } from './frontends/frontend.ts'
import { GpuServeBackend, type GpuServeOptions } from './gpu-backend.ts'
import { resolveServeSetup } from './policies.ts'
import type { ExecutorChoice } from './scheduling.ts'
import { EclipServer } from './server.ts'
import { modelsToPrepare, type Planner } from './setup.ts'
import { SimServeBackend } from './sim-backend.ts'

export interface ServeFlags {
  config: string
  port?: number
  /** gRPC port (over the config's grpcPort); null: no gRPC. */
  grpcPort?: number | null
  host?: string
  backend?: 'sim' | 'gpu'
  planner?: Planner
  logger?: boolean | object
  /** GPU backend options (Python executable, timeouts); the Python defaults to $ECLIP_PYTHON or python3. */
  gpu?: GpuServeOptions
  /** paris-elsa: how many GPUs of the host PARIS partitions (`--gpus`; over the config's `gpus`). */
  gpus?: number | 'all'
  /**
   * Front-end processes (HTTP and gRPC) in front of the engine (0: one process does everything); over the config's
   * `frontends`, default 0.
   */
  frontends?: number
  /** A profile directory over the config's `profiles` (`--profiles`), relative to the working directory. */
  profiles?: string
}

/**
 * The optimizer (src/plan) with its defaults: ECLIP's solve by the exact DP unless the config says otherwise.
 * eclip-fit chooses its overlap prices by scoring candidate plans on the simulator, calibrated from the profile
 * directory (as `eclip plan` and `eclip bench` pass it); without that evaluator every worker would stay in its
 * model-wise home.
 */
export const defaultPlanner: Planner = async ({
  gpu,
  workers,
  profiles,
  policy,
  mix,
  profilesDir,
  note,
  progress,
  realtime,
  minTotalShare,
  objective,
  streamPriorities,
  maxP95,
  checkFloors,
}) => {
  if (policy !== 'eclip-fit' && policy !== 'eclip-rt' && !(policy === 'eclip' && checkFloors))
    return makePlan(gpu, mix, workers, profiles, { policy, ...realtime })
  const ev = simInputs(gpu, profilesDir ? { dir: profilesDir } : {})
  // the evaluator's caveats (an uncalibrated simulator, no primitives) for the plans it searches; eclip's floor check
  // says "simulated" in its warning, and the simulator backend says the same caveats once more
  if (policy !== 'eclip') for (const w of ev.warnings) note?.(`eclip-fit's evaluator: ${w}`)
  // on the simulator: eclip-fit's search; the paper's eclip plan with its floors checked (as `eclip plan` checks
  // them); eclip-rt's gate mechanism with its best-effort models planned among themselves (src/plan/realtime.ts)
  const rt = policy === 'eclip-rt'
  const fit = policy === 'eclip-fit'
  const plan = await simPlanner(() => ev.inputs, {
    options: {
      ...(rt ? realtime : {}),
      ...(objective !== undefined && policy !== 'eclip' ? { objective } : {}),
      ...(maxP95 !== undefined && policy !== 'eclip' ? { maxP95 } : {}),
    },
    ...(progress ? { progress: { say: (_mix: string, line: string) => progress(line) } } : {}),
  })(gpu, mix, workers, profiles, {
    policy,
    ...(fit && minTotalShare !== undefined ? { minTotalShare } : {}),
    ...(fit && streamPriorities ? { fitPriorities: true } : {}),
  })
  // a best-effort model under its floor with the real-time requests in (src/execute/sim/realtime-floors.ts); a model
  // under its floor in the paper's plan
  if (!fit) for (const n of (plan.solver.notes ?? '').split('; ')) if (n.startsWith('WARNING:')) note?.(n)
  return plan
}

/**
 * eclip-live with an eclip-fit table and no planner given: a threaded simulator-scored planner over the profile
 * directory's calibration (as `eclip plan --table` plans), else undefined (the config's planner, in this thread).
 */
function liveThreads(config: ServeConfig, flags: ServeFlags): ThreadedPlanner | undefined {
  if (!config.policy || !isTablePolicy(config.policy) || flags.planner) return undefined
  if (liveTablePolicy(config) !== 'eclip-fit') return undefined
  const dir = config.profiles ? resolve(dirname(resolve(flags.config)), config.profiles) : undefined
  const gpu = dir ? loadGpu(dir) : syntheticH100Gpu()
  const ev = simInputs(gpu, dir ? { dir } : {})
  const extra = config.maxP95 !== undefined ? { maxP95: config.maxP95 } : {}
  return threadedSimPlanner(ev.inputs, extra, Math.min(4, defaultTableThreads()))
}

export interface Running {
  server: EclipServer
  url: string
  /** host:port of the KServe v2 gRPC listener; absent when gRPC is off. */
  grpcAddress?: string
  config: ServeConfig
  /** The front-end processes, when there are any: drain and close through them (they close first). */
  frontends?: FrontendPool
}

export async function startServe(flags: ServeFlags): Promise<Running> {
  // a busy gRPC port is reported below, in one line
  quietGrpcBindFailures()
  const read = readFile<ServeConfig>('serve-config', flags.config)
  // --profiles names a directory from where the command runs; the config's own is relative to the config file
  const config = flags.profiles ? { ...read, profiles: resolve(flags.profiles) } : read
  const kind = flags.backend ?? config.backend ?? 'sim'
  const gpuOpts: GpuServeOptions = {
    ...flags.gpu,
    log: flags.gpu?.log ?? ((l) => process.stderr.write(`${l}\n`)),
  }
  // eclip-live: the table's subsets planned on worker threads (eclip-fit scores candidates on the simulator: a load
  // while serving must not hold the event loop for seconds)
  const threaded = liveThreads(config, flags)
  let setup: Awaited<ReturnType<typeof resolveServeSetup>>
  try {
    setup = await resolveServeSetup(
      { ...config, backend: kind },
      {
        configFile: flags.config,
        // the default planner says on stderr how far eclip-fit's search has got: it can hold the start-up a long time
        planner:
          flags.planner ??
          ((args) =>
            defaultPlanner({ ...args, progress: (l) => process.stderr.write(`eclip serve: ${l}\n`) })),
        ...(threaded ? { tablePlanner: threaded.planner } : {}),
        ...(flags.gpus !== undefined ? { gpus: flags.gpus } : {}),
        gpuOptions: gpuOpts,
      },
    )
  } catch (err) {
    await threaded?.close()
    throw err
  }

  if (threaded?.note) setup.notes.push(`eclip-live: ${threaded.note}`)
  const executor: ExecutorChoice = {
    kind,
    gpu: gpuOpts,
    simPower: config.simPower ?? { idleW: 100, maxW: 700 },
  }
  // a policy that chooses partitions brings its backend (paris-elsa); otherwise gpu: the Python backend builds,
  // partitions and captures every model at load and returns real outputs; sim: no model runs, responses are marked
  // simulated
  const backend: ServeBackend =
    setup.scheduling?.backend(executor) ??
    (kind === 'gpu'
      ? new GpuServeBackend({ ...gpuOpts, prepare: modelsToPrepare(config) })
      : new SimServeBackend(fixedComputeTimes(setup.computeTimes), executor.simPower, 'sim'))
  const server = new EclipServer({
    models: setup.models,
    workerOptions: setup.workerOptions,
    backend,
    ...(setup.plan ? { plan: setup.plan } : {}),
    gpu: setup.gpu,
    computeSources: setup.computeTimes,
    notes: setup.notes,
    ...(setup.modelConfig ? { modelConfig: setup.modelConfig } : {}),
    maxBodyBytes: config.maxBodyBytes ?? 64 * 1024 * 1024,
    ...(config.maxJsonBytes !== undefined ? { maxJsonBytes: config.maxJsonBytes } : {}),
    ...(config.http ? { http: config.http } : {}),
    dashboard: config.dashboard ?? true,
    logger: flags.logger ?? false,
    ...(setup.live ? { live: setup.live } : {}),
    computeTimes: setup.computeTimes,
    ...(threaded ? { onClose: threaded.close } : {}),
  })
  try {
    await server.load()
  } catch (err) {
    await server.close() // a backend that could not load is not left running
    throw err
  }
  const port = flags.port ?? config.port ?? 8000
  const host = flags.host ?? config.host ?? '127.0.0.1'
  // gRPC beside HTTP: 8001 by default, a free port when HTTP takes one (tests, several servers on one host)
  const grpcPort =
    flags.grpcPort !== undefined
      ? flags.grpcPort
      : config.grpcPort !== undefined
        ? config.grpcPort
        : port === 0
          ? 0
          : 8001
  const count = flags.frontends ?? config.frontends ?? 0
  const pool =
    count >= 1
      ? new FrontendPool(server, { count, port, host, ...(grpcPort !== null ? { grpcPort } : {}) })
      : undefined
  let url: string
  try {
    url = pool ? await pool.start() : await server.listen(port, host, grpcPort === null ? {} : { grpcPort })
  } catch (err) {
    await (pool ? pool.close() : server.close())
    const code = (err as NodeJS.ErrnoException).code
    const at = (err as { grpcPort?: number }).grpcPort
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND')
      throw new UserError(
        at !== undefined
          ? `cannot listen for gRPC on ${host}:${at} (${code}; --grpc-port or the config's grpcPort picks another, null turns gRPC off)`
          : `cannot listen on ${host}:${port} (${code})`,
      )
    throw err
  }
  return {
    server,
    url,
    ...((server.grpcAddress ?? pool?.grpcAddress)
      ? { grpcAddress: server.grpcAddress ?? pool?.grpcAddress }
      : {}),
    config,
    ...(pool ? { frontends: pool } : {}),
  }
}
