// paris-elsa in `eclip serve`: PARIS's partitions over the host's GPUs (paris-setup.ts), and ELSA choosing for each
// request the partition it runs on and when (its dispatcher holds every partition's backlog, paris-dispatch.ts, in
// front of an executor of one partition at a time, paris-backend.ts). An implementation of serve's scheduling seam
// (scheduling.ts): the server sees a ServeBackend and the set-up of src/serve/policies.ts's table.
import { PARIS_ELSA, type ServeConfig } from '../formats/serve-config.ts'
import type { ServeBackend, ServedModel } from './backend.ts'
import { GpuPartitions, ParisBackend, type ParisModel, SimPartitions } from './paris-backend.ts'
import { gpuProbe, type ParisServe, resolveParisSetup } from './paris-setup.ts'
import type { ExecutorChoice, ServeScheduling } from './scheduling.ts'
import { configPath, modelIO, SERVE_DEFAULTS, type ServeSetup, type ServeSetupOptions } from './setup.ts'
import type { WorkerOptions } from './worker.ts'

/** PARIS's partitions and ELSA's dispatch over them, on the simulator or the GPU backend. */
export class ParisElsa implements ServeScheduling {
  readonly policy = PARIS_ELSA
  /** The host's GPUs, PARIS's partitions over them, each model's load and latency table. */
  constructor(readonly paris: ParisServe) {}

  backend(x: ExecutorChoice): ServeBackend {
    const p = this.paris
    return new ParisBackend(
      p.partitions,
      p.models,
      x.kind === 'gpu'
        ? new GpuPartitions(p.partitions, x.gpu)
        : new SimPartitions(p.partitions, p.models, p.gpu, p.gpus, x.simPower),
      p.sloMargin !== undefined ? { sloMargin: p.sloMargin } : {},
    )
  }
}

/**
 * paris-elsa: PARIS's partitions over the host's GPUs (paris-setup.ts); every model is captured at each batch of its
 * mix, and its worker hands each request to ELSA at once (no dynamic batching; the backlogs are the partitions').
 */
export async function parisElsaSetup(config: ServeConfig, o: ServeSetupOptions): Promise<ServeSetup> {
  const backend = config.backend ?? 'sim'
  // on the GPU: how many GPUs the backend sees and their layouts, before PARIS partitions them
  const probe = o.probe ?? (backend === 'gpu' ? gpuProbe(o.gpuOptions ?? {}) : undefined)
  const { paris, notes } = await resolveParisSetup(config, {
    configFile: o.configFile,
    backend,
    path: configPath(o.configFile),
    ...(o.gpus !== undefined ? { gpus: o.gpus } : {}),
    ...(probe ? { probe } : {}),
  })
  const models: ServedModel[] = []
  const workerOptions = new Map<string, WorkerOptions>()
  const modelConfig = new Map<string, Record<string, unknown>>()
  config.models.forEach((m, i) => {
    const dtype = m.dtype ?? SERVE_DEFAULTS.dtype
    const pm = paris.models[i] as ParisModel
    modelConfig.set(pm.name, {
      paris: {
        slo_ms: m.sloMs,
        rate: m.rate,
        batch_mix: m.batches,
        captured_batches: pm.captured,
        latency_table: pm.table.measured.method,
        partitions: paris.partitions.length,
        gpus: paris.gpus,
      },
    })
    const batch = pm.captured.at(-1) as number
    models.push({
      name: pm.name,
      model: m.model,
      version: '1',
      batch,
      dtype,
      io: modelIO(m, dtype),
      batches: pm.captured,
    })
    workerOptions.set(pm.name, {
      queueSize: m.queueSize ?? SERVE_DEFAULTS.queueSize,
      timeoutMs: m.timeoutMs ?? SERVE_DEFAULTS.timeoutMs,
      maxDynamicBatch: 1,
      // every request goes to the dispatcher at once: it holds the backlogs ELSA decides on
      concurrency: Number.POSITIVE_INFINITY,
    })
  })
  return {
    models,
    workerOptions,
    profiles: new Map(),
    scheduling: new ParisElsa(paris),
    modelConfig,
    gpu: paris.gpu,
    computeTimes: new Map(),
    notes,
  }
}
