import type { Command } from '@commander-js/extra-typings'
import { Option } from '@commander-js/extra-typings'
import { UserError } from '../../formats/errors.ts'
import { http2Sizes } from '../../serve/grpc/flow-control.ts'
import { applyServingHeapGrowth } from '../../serve/heap.ts'
import { refuseEmptyValues } from '../options.ts'

export function registerServe(program: Command) {
  program
    .command('serve')
    .description(
      'serve the configured models over KServe v2 HTTP and gRPC (Triton protocol), with /metrics and a live dashboard',
    )
    .requiredOption('--config <file>', 'serve config (YAML or JSON, format serve-config)')
    .option('--port <n>', 'port (overrides the config; 0 picks a free one)')
    .option('--host <host>', 'address to listen on (overrides the config)')
    .option(
      '--grpc-port <n|off>',
      'KServe v2 gRPC port (overrides the config; default 8001, a free one with --port 0; off: no gRPC)',
    )
    .option(
      '--frontends <n>',
      'HTTP front-end processes in front of the one engine (overrides the config; default: the cores but one, at most 8, 0 below 3 cores; 0: one process)',
    )
    .addOption(
      new Option('--backend <kind>', 'sim: no model runs, modelled timings; gpu: the GPU backend').choices([
        'sim',
        'gpu',
      ] as const),
    )
    .option(
      '--profiles <dir>',
      'profile directory (overrides the config\'s "profiles"; the GPU backend needs one: profiles/h100, profiles/h200)',
    )
    .option(
      '--gpus <n|all>',
      'policy paris-elsa: GPUs of the host PARIS partitions (overrides the config; gpu default all, sim default 1)',
    )
    // an empty value is refused, not read as not given or as 0 (Number('') is 0: a random port)
    .hook('preAction', (_, cmd) => refuseEmptyValues(cmd))
    .action(async (opts) => {
      applyServingHeapGrowth()
      http2Sizes() // the gRPC listener's sizes from the environment: a bad value is refused before anything starts
      let gpus: number | 'all' | undefined
      if (opts.gpus !== undefined) {
        gpus = opts.gpus === 'all' ? 'all' : Number(opts.gpus)
        if (gpus !== 'all' && !(Number.isInteger(gpus) && gpus >= 1))
          throw new UserError(`--gpus: "${opts.gpus}" is not a GPU count (an integer ≥ 1, or all)`)
      }
      let port: number | undefined
      if (opts.port !== undefined) {
        port = Number(opts.port)
        if (!Number.isInteger(port) || port < 0 || port > 65535)
          throw new UserError(`--port: "${opts.port}" is not a port number`)
      }
      let grpcPort: number | null | undefined
      if (opts.grpcPort !== undefined) {
        grpcPort = opts.grpcPort === 'off' ? null : Number(opts.grpcPort)
        if (grpcPort !== null && (!Number.isInteger(grpcPort) || grpcPort < 0 || grpcPort > 65535))
          throw new UserError(`--grpc-port: "${opts.grpcPort}" is not a port number (or off)`)
      }
      let frontends: number | undefined
      if (opts.frontends !== undefined) {
        frontends = Number(opts.frontends)
        if (!Number.isInteger(frontends) || frontends < 0 || frontends > 256)
          throw new UserError(`--frontends: "${opts.frontends}" is not a process count (0 … 256)`)
      }
      // the server (fastify, prom-client) loads only when serving, so other commands start faster
      const { startServe } = await import('../../serve/index.ts')
      const running = await startServe({
        config: opts.config,
        ...(port !== undefined ? { port } : {}),
        ...(grpcPort !== undefined ? { grpcPort } : {}),
        ...(opts.host ? { host: opts.host } : {}),
        ...(opts.backend ? { backend: opts.backend } : {}),
        ...(opts.profiles ? { profiles: opts.profiles } : {}),
        ...(gpus !== undefined ? { gpus } : {}),
        frontends: frontends ?? (await frontendsOfConfig(opts.config)),
        logger: { level: process.env.ECLIP_LOG_LEVEL ?? 'warn', stream: process.stderr },
      })
      const { server, url, grpcAddress, config, frontends: pool } = running
      const sim = server.opts.backend.kind === 'sim'
      console.log(
        `eclip serve: listening on ${url} (backend ${server.opts.backend.kind}, ${server.opts.models.length} models: ${server.opts.models.map((m) => m.name).join(', ')})`,
      )
      if (grpcAddress) console.log(`eclip serve: gRPC (KServe v2 GRPCInferenceService) on ${grpcAddress}`)
      for (const n of server.opts.notes ?? []) console.log(`eclip serve: ${n}`)
      for (const p of server.opts.backend.partitions?.() ?? [])
        console.log(
          `eclip serve: partition ${p.id}: GPU ${p.gpu}, ${p.sms} SMs (slices ${p.slices.join(',')})`,
        )
      if (sim)
        console.log(
          'eclip serve: simulator backend: responses carry no outputs (parameters.simulated = true)',
        )
      if (pool)
        console.log(
          `eclip serve: ${pool.opts.count} HTTP front-end processes (pids ${pool.pids().join(', ')}) in front of the engine (pid ${process.pid})`,
        )
      console.log(`eclip serve: dashboard ${url}/dashboard/ · metrics ${url}/metrics`)
      await new Promise<void>((resolve) => {
        let stopping = false
        const stop = (signal: string) => {
          if (stopping) return
          stopping = true
          console.log(`eclip serve: ${signal}: draining accepted requests`)
          // front-ends (if any) close first, finishing what they accepted; then the engine drains
          ;(pool ?? server)
            .drain(config.drainTimeoutMs ?? 30_000)
            .then(({ answered }) => {
              console.log(
                answered
                  ? 'eclip serve: drained, exiting'
                  : 'eclip serve: drain timed out; remaining requests answered 503',
              )
              resolve()
            })
            .catch((err) => {
              console.error(`eclip serve: error while draining: ${err}`)
              process.exitCode = 1
              resolve()
            })
        }
        process.once('SIGTERM', () => stop('SIGTERM'))
        process.once('SIGINT', () => stop('SIGINT'))
      })
    })
}

/** The config's `frontends`, else the default for this host (src/serve/frontends/engine.ts defaultFrontends). */
async function frontendsOfConfig(file: string): Promise<number> {
  const { readFile } = await import('../../formats/index.ts')
  const { defaultFrontends } = await import('../../serve/frontends/engine.ts')
  const { availableParallelism } = await import('node:os')
  const config = readFile<{ frontends?: number }>('serve-config', file)
  return config.frontends ?? defaultFrontends(availableParallelism())
}
