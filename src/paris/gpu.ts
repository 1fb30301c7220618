// PARIS + ELSA on real GPUs (issue #7): the GPU backend of `eclip paris --backend gpu` and of
// `eclip paris-table --backend gpu`. It speaks to one `python3 -m eclip_gpu backend` process (gpu/eclip_gpu/paris.py):
// latency tables measured on its first GPU (paris-table), and each of compare()'s runs replayed in real time
// (paris-run) — the partitions built as green contexts from their slice ids, the trace's queries released at their
// arrival times and dispatched with the simulator's rules (ported, and pinned by a shared fixture), every query one
// CUDA graph replay on its partition. The per-query times come back and become the simulator's metrics
// (traceMetrics), plus the NVML energy and what the replay cost.
//
// Several GPUs (`--gpus 2`): the same one process drives every GPU of the server. PARIS's plan for N GPUs puts
// partitions on GPUs 0..N-1 (Partition.gpu), and the backend builds each on its own device; one dispatcher there
// sees every partition's backlog across all GPUs, as the simulator's one dispatcher does (a server is a flat list of
// partitions to it). A process per GPU would need the dispatcher in one place and a pipe hop per routed query and per
// completion (ELSA's backlogs change at each), on two clocks; in one process both are a lock away (paris.py's
// docstring says more). `useGpus` reads every GPU's layout first and checks it against the scenario's. With one GPU
// the process may still be pinned to any device (`device`: CUDA_VISIBLE_DEVICES), as before.

import { BackendProcess, type BackendProcessOptions } from '../execute/gpu/client.ts'
import type { ParisRunMessage, ParisRunReply } from '../execute/gpu/protocol.ts'
import type { Gpu, LatencyTable } from '../formats/index.ts'
import { parseFormat, UserError } from '../formats/index.ts'
import { layoutsFor, type RunBackend, type RunOptions, type Scheme } from './compare.ts'
import { latencyUs } from './latency.ts'
import { type ParisOptions, type Partition, paris } from './partition.ts'
import type { LoadedScenario, ModelLoad } from './scenario.ts'
import { type GpuRun, quantile, type SimMetrics, type Trace, traceMetrics } from './sim.ts'

export interface ParisGpuOptions extends BackendProcessOptions {
  /**
   * Pins the backend process to one GPU of the machine (CUDA_VISIBLE_DEVICES); default: every GPU visible to this
   * process, the server's GPU i being CUDA ordinal i.
   */
  device?: number
  dtype?: string
  /** A query that has waited this many times its SLO when its partition reaches it is dropped. Default 20. */
  dropAfterSlo?: number
}

/** One run's per-query record, for requests.csv (µs from the trace's origin). */
export interface RunLog {
  key: string
  dispatch: string
  /** SMs of each partition, in the layout's order. */
  layout: number[]
  /** The GPU of each partition, in the layout's order. */
  gpus: number[]
  models: string[]
  batches: number[][]
  trace: Trace
  releaseUs: number[]
  startUs: number[]
  endUs: number[]
  partition: number[]
  dropped: number[]
}

export class ParisGpu {
  /** Graphs captured over all runs, and the seconds that took. */
  captures = 0
  captureS = 0
  runs = 0
  readonly logs: RunLog[] = []
  readonly notes = new Set<string>()
  /** GPU i's layout as read off the device, for every GPU useGpus checked; GPU 0 is the hello's. */
  private layouts: Gpu[] = []

  private constructor(
    private readonly proc: BackendProcess,
    private readonly opts: ParisGpuOptions,
  ) {}

  static async start(opts: ParisGpuOptions = {}): Promise<ParisGpu> {
    const env =
      opts.device !== undefined ? { ...opts.env, CUDA_VISIBLE_DEVICES: String(opts.device) } : opts.env
    return new ParisGpu(await BackendProcess.start({ ...opts, ...(env ? { env } : {}) }), opts)
  }

  /** The slice layout the backend read off its (first) device. */
  get gpu(): Gpu {
    return this.proc.gpu
  }
  /** The GPUs runs may put partitions on (GPU i is devices[i]): GPU 0, or every GPU useGpus checked. */
  get devices(): Gpu[] {
    return this.layouts.length ? this.layouts : [this.proc.gpu]
  }

  /**
   * Makes GPUs 0..n-1 available to runs: refuses more GPUs than the backend process sees, and any GPU whose layout
   * is not `scenarioGpu` (the partitions' slice ids would mean other SMs there).
   */
  async useGpus(n: number, scenarioGpu: Gpu): Promise<Gpu[]> {
    const reply = await this.proc.parisGpus('gpus', n, 300)
    if (reply.deviceCount < n) {
      const pinned =
        this.opts.device !== undefined
          ? ` (--device ${this.opts.device} pins it to one)`
          : process.env.CUDA_VISIBLE_DEVICES !== undefined
            ? ` (CUDA_VISIBLE_DEVICES=${process.env.CUDA_VISIBLE_DEVICES})`
            : ''
      throw new UserError(
        `--gpus ${n}: the GPU backend sees ${reply.deviceCount} GPU${reply.deviceCount === 1 ? '' : 's'} on this ` +
          `machine${pinned}; a server of ${n} GPUs needs ${n}`,
      )
    }
    const gpus = reply.gpus.map((g, i) => parseFormat<Gpu>('gpu', g, `GPU ${i} of the backend`))
    for (const [i, g] of gpus.entries()) checkLayout(scenarioGpu, g, n > 1 ? `GPU ${i}` : undefined)
    this.layouts = gpus
    return gpus
  }
  get versions(): Record<string, string> {
    return this.proc.versions
  }

  /** One model's latency table at `batches` on every partition size of the GPU (measured). */
  async measureTable(model: string, batches: number[], cellMs = 100): Promise<LatencyTable> {
    const reply = await this.proc.parisTable(
      {
        key: model,
        model,
        batches,
        dtype: this.opts.dtype ?? 'fp16',
        cellMs,
      },
      900,
    )
    return parseFormat<LatencyTable>('latency-table', reply.table, `${model}: measured latency table`)
  }

  /** compare()'s backend: replays one trace on one layout of the server's GPUs in real time. */
  readonly run: RunBackend = async (models, partitions, trace, opts, totalSms) => {
    const have = this.devices.length
    const where = partitions.find((p) => !(p.gpu >= 0 && p.gpu < have))
    if (where)
      throw new UserError(
        `partition ${where.id} is on GPU ${where.gpu}, but ${have === 1 ? 'only GPU 0 is' : `GPUs 0..${have - 1} are`} ` +
          'checked for this run (useGpus first)',
      )
    const msg = runMessage(models, partitions, trace, opts, this.opts)
    const n = trace.arrival.length
    const g = new Set(partitions.map((p) => p.gpu)).size
    // a bisection's repeats of a load are traces of their own: the key tells them apart
    const rep = trace.repeat ? `|r${trace.repeat}` : ''
    const key = `${opts.dispatch}|${layoutKey(partitions)}|${n}q|${trace.scale.toFixed(4)}${rep}${g > 1 ? `|${g}gpus` : ''}`
    const reply = await this.proc.parisRun({ ...msg, key }, (trace.arrival[n - 1] ?? 0) / 1e6 + 600)
    this.runs++
    this.captures += reply.captures
    this.captureS += reply.captureS
    for (const note of reply.notes) this.notes.add(note)
    this.logs.push({
      key,
      dispatch: opts.dispatch,
      layout: partitions.map((p) => p.sms),
      gpus: partitions.map((p) => p.gpu),
      models: models.map((m) => m.model),
      batches: models.map((m) => m.batches),
      trace,
      releaseUs: reply.releaseUs,
      startUs: reply.startUs,
      endUs: reply.endUs,
      partition: reply.partition,
      dropped: reply.dropped,
    })
    const log = {
      done: Float64Array.from(reply.endUs),
      servedOn: Int32Array.from(reply.partition),
      busyUs: Float64Array.from(reply.endUs, (e, q) => (reply.dropped[q] ? 0 : e - (reply.startUs[q] ?? e))),
    }
    const m = traceMetrics(models, partitions, trace, log, opts.warmup ?? 0.1, totalSms)
    return { ...m, gpu: gpuRun(reply, trace, msg.firstMeasured) } satisfies SimMetrics
  }

  close(): Promise<void> {
    return this.proc.close()
  }
}

/**
 * The paris-run message for one run (without its key): estimates from the latency tables, as the simulator uses; for
 * eclip-kw's dedicated workers the co-located service estimates, the pool and each (model, batch)'s plan.
 */
export function runMessage(
  models: ModelLoad[],
  partitions: Partition[],
  trace: Trace,
  opts: RunOptions,
  o: { dtype?: string; dropAfterSlo?: number } = {},
): Omit<ParisRunMessage, 'type' | 'key'> {
  const n = trace.arrival.length
  const { serves, serviceUs, kernelWise: kw } = opts
  if (serves && !(serviceUs && kw))
    throw new Error('runMessage: dedicated workers (serves) need serviceUs and the kernel-wise plans')
  const est = (p: Partition, mi: number, bi: number, b: number, m: ModelLoad) =>
    serves && serviceUs ? (serviceUs[mi]?.[bi] ?? Number.NaN) : latencyUs(m.table, b, p.sms)
  return {
    partitions: partitions.map((p) => ({ id: p.id, gpu: p.gpu, slices: p.slices, sms: p.sms })),
    models: models.map((m) => ({ model: m.model, batches: m.batches, sloUs: m.sloUs })),
    dtype: o.dtype ?? 'fp16',
    estUs: partitions.map((p) => models.map((m, mi) => m.batches.map((b, bi) => est(p, mi, bi, b, m)))),
    dispatch: opts.dispatch,
    sloMargin: opts.sloMargin ?? 0.5,
    dropAfterSlo: o.dropAfterSlo ?? 20,
    // the same warm-up traceMetrics excludes: the energy window starts with the first measured query
    firstMeasured: Math.min(Math.floor(n * (opts.warmup ?? 0.1)), n - 1),
    trace: { arrivalUs: [...trace.arrival], model: [...trace.model], batchIdx: [...trace.batchIdx] },
    ...(serves && kw
      ? {
          serves: Array.from(serves),
          kernelWise: {
            pool: kw.pool.map(({ id, slices, sms }) => ({ id, slices, sms })),
            plans: kw.workers.map((row) =>
              row.map((w) => ({ groups: w.groups, fingerprint: w.fingerprint })),
            ),
          },
        }
      : {}),
  }
}

/** What the run adds to the metrics, over its measured queries (from `first`). */
function gpuRun(r: ParisRunReply, trace: Trace, first: number): GpuRun {
  const n = trace.arrival.length
  const lag = Float64Array.from(
    { length: n - first },
    (_, i) => (r.releaseUs[first + i] ?? 0) - (trace.arrival[first + i] ?? 0),
  ).sort()
  const windowS = (r.energyToUs - r.energyFromUs) / 1e6
  return {
    energyJ: r.energyJ,
    powerW: r.energyJ !== null && windowS > 0 ? r.energyJ / windowS : null,
    ...(r.gpus && r.gpus.length > 1 ? { gpus: r.gpus.length, energyPerGpuJ: r.energyPerGpuJ ?? null } : {}),
    dropped: r.dropped.slice(first).reduce((a, d) => a + d, 0),
    releaseLagP50Us: quantile(lag, 0.5),
    releaseLagP99Us: quantile(lag, 0.99),
    captures: r.captures,
    captureS: r.captureS,
    wallS: r.wallS,
  }
}

/** A layout as the run key names it: SMs per partition, GPUs apart by "/" when it spans several. */
function layoutKey(partitions: Partition[]): string {
  const gpus = [...new Set(partitions.map((p) => p.gpu))].sort((a, b) => a - b)
  return gpus
    .map((g) =>
      partitions
        .filter((p) => p.gpu === g)
        .map((p) => p.sms)
        .join('+'),
    )
    .join('/')
}

/**
 * The graph captures a GPU comparison at `gpus` (a GPU count, or compare()'s list of them) will make at most, in
 * compare()'s order: each time the layout changes, every partition whose GPU and slices the previous layout did not
 * have × every (model, batch) of the scenario (the backend keeps the graphs of partitions that recur, across GPU
 * counts too, and captures only what a trace needs). A partition is one per GPU it is on: at 2 GPUs the same slices
 * on GPU 0 and GPU 1 are two partitions, two sets of graphs.
 */
export function plannedCaptures(
  sc: LoadedScenario,
  schemes: Scheme[],
  gpus: number | number[],
  uniformSlices: number[],
  parisOpts: ParisOptions,
): { captures: number; layouts: number } {
  const classes = sc.models.reduce((a, m) => a + m.batches.length, 0)
  let prev = new Set<string>()
  let captures = 0
  let layouts = 0
  for (const g of typeof gpus === 'number' ? [gpus] : gpus) {
    const plan = paris(sc, g, parisOpts)
    for (const s of schemes) {
      if (s.layout === 'eclip-kw') {
        // a kernel-wise graph per worker (one per model per GPU) at each of its batches, over a pool of their own
        captures += g * classes
        layouts++
        prev = new Set()
        continue
      }
      for (const c of layoutsFor(sc, plan, g, s.layout, uniformSlices)) {
        const keys = new Set(c.parts.map((p) => `${p.gpu}:${[...p.slices].sort((a, b) => a - b).join(',')}`))
        const fresh = [...keys].filter((k) => !prev.has(k)).length
        if (fresh > 0) layouts++
        captures += fresh * classes
        prev = keys
      }
    }
  }
  return { captures, layouts }
}

/**
 * Refuses a scenario whose GPU layout is not the device's: the partitions' slice ids would mean other SMs.
 * `which` names the device among several ("GPU 1").
 */
export function checkLayout(scenarioGpu: Gpu, device: Gpu, which?: string): void {
  const a = scenarioGpu.slices.map((s) => `${s.id}:${s.sms}`).join(' ')
  const b = device.slices.map((s) => `${s.id}:${s.sms}`).join(' ')
  if (scenarioGpu.smCount !== device.smCount || a !== b)
    throw new UserError(
      `the scenario's GPU layout (${scenarioGpu.name}, ${scenarioGpu.smCount} SMs, slices ${a}) is not ` +
        `${which ? `${which}'s` : "this device's"} (${device.name}, ${device.smCount} SMs, slices ${b})`,
    )
}

/**
 * requests.csv: one line per query of every run (µs from each run's trace origin); `partition` indexes the run's
 * layout (SMs per partition, in order), `gpu` is that partition's GPU.
 */
export function requestsCsv(logs: RunLog[]): string {
  const lines = [
    'run,dispatch,layout,query,model,batch,arrival_us,release_us,start_us,end_us,partition,gpu,dropped',
  ]
  for (const r of logs) {
    const layout = r.layout.join('+')
    for (let q = 0; q < r.trace.arrival.length; q++) {
      const m = r.trace.model[q] ?? 0
      lines.push(
        [
          r.key,
          r.dispatch,
          layout,
          q,
          r.models[m],
          r.batches[m]?.[r.trace.batchIdx[q] ?? 0],
          (r.trace.arrival[q] ?? 0).toFixed(1),
          r.releaseUs[q],
          r.startUs[q],
          r.endUs[q],
          r.partition[q],
          r.gpus[r.partition[q] ?? -1] ?? '',
          r.dropped[q],
        ].join(','),
      )
    }
  }
  return `${lines.join('\n')}\n`
}
