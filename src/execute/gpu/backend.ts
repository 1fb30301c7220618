// `eclip bench --backend gpu`'s executor: runs go to the GPU backend one at a time through its client (client.ts).
import type { Gpu } from '../../formats/index.ts'
import { runSchedules, type Schedule } from '../../workload/arrivals.ts'
import type { ExecuteBackend, RunResult, RunSpec } from '../backend.ts'
import { BackendCrash, BackendProcess, type BackendProcessOptions } from './client.ts'
import type { RunReply } from './protocol.ts'
export interface GpuBackendOptions extends BackendProcessOptions {
  /** Seconds a run may take beyond warm-up + window (captures, output checks) before it counts as hung. */
  slackS?: number
  /** Verify each worker's outputs against its baseline capture before measuring. */
  checkOutputs?: boolean
}

/** `eclip bench --backend gpu`: one run at a time through the backend process; restarted by the caller after a crash. */
export class GpuBackend implements ExecuteBackend {
  readonly name = 'gpu' as const

  private constructor(
    private readonly proc: BackendProcess,
    private readonly opts: GpuBackendOptions,
  ) {}

  get gpu(): Gpu {
    return this.proc.gpu
  }
  get versions(): Record<string, string> {
    return this.proc.versions
  }

  static async start(opts: GpuBackendOptions = {}): Promise<GpuBackend> {
    return new GpuBackend(await BackendProcess.start(opts), opts)
  }

  /** After a crash: a fresh backend process (a CUDA error poisons the old one; it is never reused). */
  recover(): Promise<void> {
    return this.proc.respawn()
  }

  async run(spec: RunSpec): Promise<RunResult> {
    const arrivals = arrivalsOf(spec)
    const reply = await this.proc.run(
      {
        key: spec.key,
        plan: spec.plan,
        mode: spec.mode,
        warmupS: spec.warmupS,
        windowS: spec.windowS,
        checkOutputs: this.opts.checkOutputs ?? true,
        ...(arrivals ? { arrivals } : {}),
      },
      spec.warmupS + spec.windowS + (this.opts.slackS ?? 600),
    )
    return toRunResult(reply)
  }

  close(): Promise<void> {
    return this.proc.close()
  }
}

/**
 * The schedules the executor runs (plan order): the simulator's, for the same seed (src/workload/arrivals.ts); none
 * for the closed loop, which the executor runs as it always has.
 */
export function arrivalsOf(spec: RunSpec): Schedule[] | undefined {
  if (spec.loop.kind === 'closed') return undefined
  const horizonUs = (spec.warmupS + spec.windowS) * 1e6
  const round = (xs: number[]) => xs.map((x) => Math.round(x * 10) / 10)
  return runSchedules(spec.loop, spec.workers, spec.seed, horizonUs).map((s) =>
    s.kind === 'open'
      ? { kind: 'open', arrivalsUs: round(s.arrivalsUs) }
      : { kind: 'closed', periodsUs: round(s.periodsUs) },
  )
}

function toRunResult(r: RunReply): RunResult {
  if (r.energyJ === null) throw new BackendCrash('GPU backend returned no energy reading (NVML)')
  const notes = [...r.notes, `executed as ${r.mode}`]
  for (const c of r.outputCheck ?? [])
    notes.push(
      `${c.name}: output ${c.bitwise ? 'bitwise equal to' : `rel. error ${c.relErr?.toExponential(1) ?? 'n/a'} vs`} baseline`,
    )
  return {
    workers: r.workers.map((w) => ({
      arrivalUs: w.arrivalUs ?? w.startUs,
      startUs: w.startUs,
      endUs: w.endUs,
      ...(w.cpuUs ? { cpuUs: w.cpuUs } : {}),
    })),
    windowStartUs: r.windowStartUs,
    windowEndUs: r.windowEndUs,
    energyJ: r.energyJ,
    energySource: 'nvml',
    smBusyUs: null,
    kernels: null,
    wallS: r.wallS,
    notes,
  }
}
