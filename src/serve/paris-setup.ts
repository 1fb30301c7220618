// From a serve config with policy paris-elsa to what the server runs: the GPUs of the host (the GPU backend's, or any
// number on the simulator), each model's load and latency table (resolved exactly as `eclip paris` resolves a
// scenario: src/paris/scenario.ts), PARIS's partitions over all those GPUs (src/paris/partition.ts), and the served
// models with the batch sizes each is captured at.
import { BackendCrash, BackendProcess, type BackendProcessOptions } from '../execute/gpu/client.ts'
import { UserError } from '../formats/errors.ts'
import { type Gpu, gpuConsistencyErrors } from '../formats/gpu.ts'
import { parseFormat } from '../formats/index.ts'
import type { Scenario } from '../formats/paris-scenario.ts'
import type { ServeConfig } from '../formats/serve-config.ts'
import { checkLayout } from '../paris/gpu.ts'
import { type ParisPlan, paris, partitionErrors } from '../paris/partition.ts'
import { fileReaders, type LoadedScenario, resolveScenario } from '../paris/scenario.ts'
import { loadGpu } from '../profile/store.ts'
import { syntheticH100Gpu } from '../profile/synthetic.ts'
import type { ParisModel, ParisPartition } from './paris-backend.ts'

/** The GPUs a GPU backend process sees: how many, and the slice layouts of the first ones (paris-gpus). */
export type GpuProbe = (count: number) => Promise<{ deviceCount: number; gpus: Gpu[] }>

export interface ParisServe {
  /** GPUs of the host PARIS partitions (0..gpus-1). */
  gpus: number
  /** The slice layout of each of them (all alike). */
  gpu: Gpu
  plan: ParisPlan
  partitions: ParisPartition[]
  /** Per served model, in the config's order. */
  models: ParisModel[]
  scenario: LoadedScenario
  sloMargin?: number
}

export interface ParisSetupOptions {
  configFile: string
  backend: 'sim' | 'gpu'
  /** `--gpus`: overrides the config's `gpus`. */
  gpus?: number | 'all'
  /** The GPU backend's devices (a probe process); required for backend gpu. */
  probe?: GpuProbe
  /** Absolute path of a file the config names. */
  path: (p: string) => string
}

/** The batch sizes a model is captured at: its mix's sizes (weight > 0) and its `batch`, ascending. */
export function capturedBatches(m: ServeConfig['models'][number]): number[] {
  const mix = Object.entries(m.batches ?? {})
    .filter(([, w]) => w > 0)
    .map(([b]) => Number(b))
  return [...new Set([...mix, ...(m.batch !== undefined ? [m.batch] : [])])].sort((a, b) => a - b)
}

export async function resolveParisSetup(
  config: ServeConfig,
  o: ParisSetupOptions,
): Promise<{ paris: ParisServe; notes: string[] }> {
  const notes: string[] = []
  const source = o.configFile
  const readers = fileReaders(o.path('.'))
  // the layout PARIS plans with: the config's, the profile directory's, the device's, else (sim) a synthetic H100
  let gpu: Gpu | undefined
  if (config.gpu !== undefined)
    gpu =
      typeof config.gpu === 'string'
        ? readers.readGpu(config.gpu)
        : parseFormat<Gpu>('gpu', config.gpu, `${source} /gpu`)
  else if (config.profiles) gpu = loadGpu(o.path(config.profiles))
  if (gpu) {
    const errs = gpuConsistencyErrors(gpu)
    if (errs.length) throw new UserError(`${source}: gpu: ${errs.join('; ')}`)
  }

  // ELSA's estimates on a real GPU should be that GPU's: synthetic tables only when asked for by name
  if (o.backend === 'gpu' && config.latency === undefined && config.models.some((m) => !m.latencyTable))
    throw new UserError(
      `${source}: /latency: paris-elsa on the GPU backend needs latency tables of this GPU — latency: { source: dir, ` +
        'dir: DIR } with tables measured by `eclip paris-table --backend gpu` (or source: profiles, or a ' +
        'latencyTable per model); latency: { source: synthetic } runs on synthetic ones',
    )

  // how many GPUs: any number on the simulator; on the GPU backend those it sees (all by default)
  const want = o.gpus ?? config.gpus ?? (o.backend === 'gpu' ? 'all' : 1)
  let gpus: number
  if (o.backend === 'sim') {
    if (want === 'all')
      throw new UserError(
        `${source}: /gpus: "all" counts the GPU backend's devices; on the simulator give a number`,
      )
    gpus = want
    gpu ??= syntheticH100Gpu()
    if (config.gpu === undefined && !config.profiles)
      notes.push('paris-elsa: synthetic H100 slice layout (no "gpu" or "profiles" given)')
  } else {
    if (!o.probe) throw new Error('resolveParisSetup: the GPU backend needs a probe of its devices')
    const seen = await o.probe(want === 'all' ? 1024 : want)
    if (seen.deviceCount < 1) throw new UserError('the GPU backend sees no GPU')
    if (want !== 'all' && seen.deviceCount < want) {
      const visible = process.env.CUDA_VISIBLE_DEVICES
      throw new UserError(
        `/gpus ${want}: the GPU backend sees ${seen.deviceCount} GPU${seen.deviceCount === 1 ? '' : 's'} on this ` +
          `host${visible !== undefined ? ` (CUDA_VISIBLE_DEVICES=${visible})` : ''}`,
      )
    }
    gpus = want === 'all' ? seen.deviceCount : want
    const devices = seen.gpus
      .slice(0, gpus)
      .map((g, i) => parseFormat<Gpu>('gpu', g, `GPU ${i} of the backend`))
    if (devices.length < gpus)
      throw new BackendCrash(`the GPU backend described ${devices.length} of ${gpus} GPUs`)
    gpu ??= devices[0] as Gpu
    // the partitions' slice ids must mean the same SMs on every GPU
    for (const [i, d] of devices.entries()) checkLayout(gpu, d, gpus > 1 ? `GPU ${i}` : undefined)
  }

  const dtype = config.models[0]?.dtype ?? 'fp16'
  const scenario: Scenario = {
    format: 'eclip.paris-scenario/1',
    name: 'serve',
    gpu,
    dtype,
    ...(config.latency ? { latency: config.latency } : {}),
    models: config.models.map((m) => ({
      model: m.model,
      rate: m.rate as number,
      sloMs: m.sloMs as number,
      batches: m.batches ?? {},
      ...(m.latencyTable ? { latencyTable: m.latencyTable } : {}),
    })),
  }
  const loaded = resolveScenario(scenario, { ...readers, source })
  loaded.models.forEach((l, i) => {
    if (l.table.dtype !== dtype)
      throw new UserError(
        `${source}: /models/${i}: the latency table is ${l.table.dtype}, the model ${dtype}`,
      )
  })
  const plan = paris(loaded, gpus, {
    ...(config.paris?.kneeElasticity !== undefined ? { kneeElasticity: config.paris.kneeElasticity } : {}),
    ...(config.paris?.sloHeadroom !== undefined ? { sloHeadroom: config.paris.sloHeadroom } : {}),
  })
  const errs = partitionErrors(gpu, plan.partitions)
  if (errs.length) throw new Error(`PARIS made an invalid layout: ${errs.join('; ')}`)
  const partitions: ParisPartition[] = plan.partitions.map((p) => ({
    id: p.id,
    gpu: p.gpu,
    slices: p.slices,
    sms: p.sms,
  }))
  const models: ParisModel[] = config.models.map((m, i) => ({
    name: m.name ?? m.model,
    sloUs: (m.sloMs as number) * 1000,
    captured: capturedBatches(m),
    table: (loaded.models[i] as LoadedScenario['models'][number]).table,
  }))

  const methods = [...new Set(loaded.models.map((l) => l.table.measured.method))]
  if (methods.some((x) => x.startsWith('synthetic')))
    notes.push(
      'paris-elsa: SYNTHETIC latency tables: PARIS and ELSA plan and dispatch on generated latencies, nothing measured',
    )
  else notes.push(`paris-elsa: latency tables ${methods.join('; ')}`)
  const byGpu = Array.from({ length: gpus }, (_, g) =>
    partitions
      .filter((p) => p.gpu === g)
      .map((p) => p.sms)
      .join('+'),
  )
  notes.push(
    `paris-elsa: PARIS chose ${partitions.length} partitions over ${gpus} GPU${gpus > 1 ? 's' : ''} ` +
      `(${gpu.name}; SMs per GPU ${byGpu.map((s, g) => `g${g} ${s}`).join(', ')}) for the configured rates ` +
      `(planned load ${plan.plannedLoad.toFixed(2)} of the slices); ELSA dispatches every request ` +
      `(SLO margin ${config.paris?.sloMargin ?? 0.5})`,
  )
  return {
    paris: {
      gpus,
      gpu,
      plan,
      partitions,
      models,
      scenario: loaded,
      ...(config.paris?.sloMargin !== undefined ? { sloMargin: config.paris.sloMargin } : {}),
    },
    notes,
  }
}

/**
 * The GPU backend's devices, from a process started for the purpose (`paris-gpus`: how many it sees, and each one's
 * slice layout) and shut down again before the serving process loads.
 */
export function gpuProbe(opts: BackendProcessOptions): GpuProbe {
  return async (count) => {
    const proc = await BackendProcess.start(opts)
    try {
      const reply = await proc.parisGpus('serve', count, 300)
      return { deviceCount: reply.deviceCount, gpus: reply.gpus }
    } finally {
      await proc.close()
    }
  }
}
