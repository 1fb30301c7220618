// PARIS + ELSA on a real GPU (issue #7): the GPU backend of `eclip paris --backend gpu` and of
// `eclip paris-table --backend gpu`. It speaks to one `python3 -m eclip_gpu backend` process (gpu/eclip_gpu/paris.py)
// that owns one GPU: latency tables measured there (paris-table), and each of compare()'s runs replayed there in real
// time (paris-run) — the partitions built as green contexts from their slice ids, the trace's queries released at
// their arrival times and dispatched with the simulator's rules (ported, and pinned by a shared fixture), every
// query one CUDA graph replay on its partition. The per-query times come back and become the simulator's metrics
// (traceMetrics), plus the NVML energy and what the replay cost.
//
// One GPU per process: a second GPU is a second backend process (`device`: CUDA_VISIBLE_DEVICES), but dispatch over
// several GPUs needs one dispatcher that sees every partition's backlog, which the per-process dispatcher is not:
// multi-GPU runs are refused until that exists (the simulator covers 1–8 GPUs).

import { BackendCrash, BackendProcess, type BackendProcessOptions } from '../execute/gpu/backend.ts'
import type { ParisRunMessage, ParisRunReply } from '../execute/gpu/protocol.ts'
import type { Gpu, LatencyTable } from '../formats/index.ts'
import { parseFormat, UserError } from '../formats/index.ts'
import { layoutsFor, type RunBackend, type Scheme } from './compare.ts'
import { latencyUs } from './latency.ts'
import { type ParisOptions, type Partition, paris } from './partition.ts'
import type { LoadedScenario, ModelLoad } from './scenario.ts'
import { type GpuRun, quantile, type SimMetrics, type SimOptions, type Trace, traceMetrics } from './sim.ts'

export interface ParisGpuOptions extends BackendProcessOptions {
  /** Which GPU of the machine (CUDA_VISIBLE_DEVICES of the backend process); default: the first. */
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

  private constructor(
    private readonly proc: BackendProcess,
    private readonly opts: ParisGpuOptions,
  ) {}

  static async start(opts: ParisGpuOptions = {}): Promise<ParisGpu> {
    const env =
      opts.device !== undefined ? { ...opts.env, CUDA_VISIBLE_DEVICES: String(opts.device) } : opts.env
    return new ParisGpu(await BackendProcess.start({ ...opts, ...(env ? { env } : {}) }), opts)
  }

  /** The slice layout the backend read off its device. */
  get gpu(): Gpu {
    return this.proc.gpu
  }
  get versions(): Record<string, string> {
    return this.proc.versions
  }

  /** One model's latency table at `batches` on every partition size of the GPU (measured). */
  async measureTable(model: string, batches: number[], cellMs = 100): Promise<LatencyTable> {
    const reply = await this.proc.request(
      {
        type: 'paris-table',
        key: model,
        model,
        batches,
        dtype: this.opts.dtype ?? 'fp16',
        cellMs,
      },
      900,
    )
    if (reply.type !== 'latency-table')
      throw new BackendCrash(`GPU backend answered ${reply.type} to paris-table`)
    return parseFormat<LatencyTable>('latency-table', reply.table, `${model}: measured latency table`)
  }

  /** compare()'s backend: replays one trace on one layout of this GPU in real time. */
  readonly run: RunBackend = async (models, partitions, trace, opts, totalSms) => {
    const where = partitions.find((p) => p.gpu !== 0)
    if (where)
      throw new UserError(
        `partition ${where.id} is on GPU ${where.gpu}: the GPU backend drives one GPU (--gpus 1); several GPUs ` +
          'need one dispatcher over all of them (not built yet)',
      )
    const msg = runMessage(models, partitions, trace, opts, this.opts)
    const n = trace.arrival.length
    const key = `${opts.dispatch}|${partitions.map((p) => p.sms).join('+')}|${n}q|${trace.scale.toFixed(4)}`
    const reply = await this.proc.request({ ...msg, key }, (trace.arrival[n - 1] ?? 0) / 1e6 + 600)
    if (reply.type !== 'paris-result')
      throw new BackendCrash(`GPU backend answered ${reply.type} to paris-run`)
    this.runs++
    this.captures += reply.captures
    this.captureS += reply.captureS
    for (const note of reply.notes) this.notes.add(note)
    this.logs.push({
      key,
      dispatch: opts.dispatch,
      layout: partitions.map((p) => p.sms),
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

/** The paris-run message for one run (without its key): estimates from the latency tables, as the simulator uses. */
export function runMessage(
  models: ModelLoad[],
  partitions: Partition[],
  trace: Trace,
  opts: SimOptions,
  o: { dtype?: string; dropAfterSlo?: number } = {},
): Omit<ParisRunMessage, 'key'> {
  const n = trace.arrival.length
  return {
    type: 'paris-run',
    partitions: partitions.map((p) => ({ id: p.id, slices: p.slices, sms: p.sms })),
    models: models.map((m) => ({ model: m.model, batches: m.batches, sloUs: m.sloUs })),
    dtype: o.dtype ?? 'fp16',
    estUs: partitions.map((p) => models.map((m) => m.batches.map((b) => latencyUs(m.table, b, p.sms)))),
    dispatch: opts.dispatch,
    sloMargin: opts.sloMargin ?? 0.5,
    dropAfterSlo: o.dropAfterSlo ?? 20,
    // the same warm-up traceMetrics excludes: the energy window starts with the first measured query
    firstMeasured: Math.min(Math.floor(n * (opts.warmup ?? 0.1)), n - 1),
    trace: { arrivalUs: [...trace.arrival], model: [...trace.model], batchIdx: [...trace.batchIdx] },
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
    dropped: r.dropped.slice(first).reduce((a, d) => a + d, 0),
    releaseLagP50Us: quantile(lag, 0.5),
    releaseLagP99Us: quantile(lag, 0.99),
    captures: r.captures,
    captureS: r.captureS,
    wallS: r.wallS,
  }
}

/**
 * The graph captures a GPU comparison at `g` GPUs will make at most, in compare()'s order: each time the layout
 * changes, every partition whose slices the previous layout did not have × every (model, batch) of the scenario
 * (the backend keeps the graphs of partitions that recur, and captures only what a trace needs).
 */
export function plannedCaptures(
  sc: LoadedScenario,
  schemes: Scheme[],
  g: number,
  uniformSlices: number[],
  parisOpts: ParisOptions,
): { captures: number; layouts: number } {
  const plan = paris(sc, g, parisOpts)
  const classes = sc.models.reduce((a, m) => a + m.batches.length, 0)
  let prev = new Set<string>()
  let captures = 0
  let layouts = 0
  for (const s of schemes)
    for (const c of layoutsFor(sc, plan, g, s.layout, uniformSlices)) {
      const keys = new Set(c.parts.map((p) => `${p.gpu}:${[...p.slices].sort((a, b) => a - b).join(',')}`))
      const fresh = [...keys].filter((k) => !prev.has(k)).length
      if (fresh > 0) layouts++
      captures += fresh * classes
      prev = keys
    }
  return { captures, layouts }
}

/** Refuses a scenario whose GPU layout is not the device's: the partitions' slice ids would mean other SMs. */
export function checkLayout(scenarioGpu: Gpu, device: Gpu): void {
  const a = scenarioGpu.slices.map((s) => `${s.id}:${s.sms}`).join(' ')
  const b = device.slices.map((s) => `${s.id}:${s.sms}`).join(' ')
  if (scenarioGpu.smCount !== device.smCount || a !== b)
    throw new UserError(
      `the scenario's GPU layout (${scenarioGpu.name}, ${scenarioGpu.smCount} SMs, slices ${a}) is not this ` +
        `device's (${device.name}, ${device.smCount} SMs, slices ${b})`,
    )
}

/** requests.csv: one line per query of every run (µs from each run's trace origin). */
export function requestsCsv(logs: RunLog[]): string {
  const lines = [
    'run,dispatch,layout,query,model,batch,arrival_us,release_us,start_us,end_us,partition,dropped',
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
          r.dropped[q],
        ].join(','),
      )
    }
  }
  return `${lines.join('\n')}\n`
}
