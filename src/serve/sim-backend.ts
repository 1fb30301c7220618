// The simulator backend: runs no model. Each execution takes the modelled compute time (from the profile / plan)
// and returns no outputs, marked `simulated`. Power is a model too: idle power plus a share of the dynamic range
// proportional to the SMs busy workers hold — labelled `simulated`, never presented as a measurement.
import type { Plan } from '../formats/plan.ts'
import type { PlanTable } from '../formats/plan-table.ts'
import type { ExecRequest, ExecResult, PowerReading, ServeBackend, ServedModel } from './backend.ts'
import { BackendEvents, BackendUnavailableError } from './backend.ts'
import type { ComputeTimeModel } from './compute-time.ts'

export interface SimPowerModel {
  /** Board power with nothing running, W. */
  idleW: number
  /** Board power with every SM busy, W. */
  maxW: number
}

/** How far behind the modelled schedule a busy model may run before the simulator stops catching up, ms. */
const SIM_CATCH_UP_MS = 5

/**
 * When an execution arriving at `now` starts, given the modelled end of the previous one on the same model or
 * partition (ms). Timers fire late (≥ 1 ms granularity): while it is kept busy back to back, the next execution
 * starts at the modelled end of the previous one, not at the late wake-up, so simulated throughput matches the
 * compute time — up to SIM_CATCH_UP_MS behind.
 */
export function simStart(now: number, prevEnd: number | undefined): number {
  const end = prevEnd ?? Number.NEGATIVE_INFINITY
  return now - end < SIM_CATCH_UP_MS ? Math.max(end, now - SIM_CATCH_UP_MS) : now
}

/**
 * Modelled energy: the integral of `wattsNow` (call `integrate` before what it depends on changes), read as the mean
 * power over about the last second.
 */
export class SimEnergy {
  private energyJ = 0
  private lastT: number
  private window: { t: number; e: number }[]

  constructor(
    private readonly wattsNow: () => number,
    t0 = performance.now(),
  ) {
    this.lastT = t0
    this.window = [{ t: t0, e: 0 }]
  }

  integrate(now = performance.now()): void {
    this.energyJ += (this.wattsNow() * (now - this.lastT)) / 1000
    this.lastT = now
  }

  /** Mean watts over about the last second (the power now, before any time has passed), and the energy so far. */
  read(): { watts: number; energyJ: number } {
    const now = performance.now()
    this.integrate(now)
    this.window.push({ t: now, e: this.energyJ })
    while (this.window.length > 2 && (this.window[1]?.t ?? now) <= now - 1000) this.window.shift()
    const first = this.window[0] as { t: number; e: number }
    const watts = now - first.t > 1 ? ((this.energyJ - first.e) * 1000) / (now - first.t) : this.wattsNow()
    return { watts, energyJ: this.energyJ }
  }
}

export class SimServeBackend extends BackendEvents implements ServeBackend {
  readonly kind = 'sim' as const
  private models = new Map<string, ServedModel>()
  private smShare = new Map<string, number>()
  private busy = new Map<string, number>()
  private virtualEnd = new Map<string, number>()
  private timers = new Set<{ timer: NodeJS.Timeout; reject: (e: Error) => void }>()
  private immediates = new Set<{ immediate: NodeJS.Immediate; reject: (e: Error) => void }>()
  private readonly energy = new SimEnergy(() => this.wattsNow())

  constructor(
    private readonly times: ComputeTimeModel,
    private readonly powerModel: SimPowerModel = { idleW: 100, maxW: 700 },
    private readonly gpu = 'sim',
  ) {
    super()
  }

  async load(models: ServedModel[], plan?: Plan, table?: PlanTable): Promise<void> {
    this.take(models, plan, table)
    this.ready = true
    this.emit({ type: 'ready' })
  }

  /** A new served set at once: executions running keep their modelled end; the next ones take the new times. */
  async swap(models: ServedModel[], plan: Plan | undefined, table: PlanTable | undefined): Promise<void> {
    this.take(models, plan, table)
  }

  private take(models: ServedModel[], plan?: Plan, table?: PlanTable) {
    const smCount = plan?.gpu.smCount
    for (const m of models) {
      // fails now, not on the first request, when a model has no time (under any plan of the table)
      this.times.executionTime(m.name)
      for (const e of table?.plans ?? [])
        if (e.plan.workers.some((w) => w.name === m.name)) this.times.executionTime(m.name, e.key)
    }
    this.models = new Map(models.map((m) => [m.name, m]))
    this.smShare.clear()
    for (const m of models)
      this.smShare.set(m.name, m.worker && smCount ? Math.min(1, m.worker.meanSms / smCount) : 1)
  }

  infer(req: ExecRequest): Promise<ExecResult> {
    if (!this.ready) return Promise.reject(new BackendUnavailableError('the simulator is not loaded'))
    if (!this.models.has(req.model)) return Promise.reject(new Error(`model "${req.model}" is not loaded`))
    const { us } = this.times.executionTime(req.model, req.plan)
    const now = performance.now()
    const end = simStart(now, this.virtualEnd.get(req.model)) + us / 1000
    this.virtualEnd.set(req.model, end)
    this.setBusy(req.model, +1)
    return new Promise((resolve, reject) => {
      const done = () => {
        this.setBusy(req.model, -1)
        resolve({ outputs: [], simulated: true, computeUs: us })
      }
      // due already (catching up): answer on the next turn of the event loop, timers cannot go below 1 ms
      if (end - now < 0.5) {
        const immediate = setImmediate(() => {
          this.immediates.delete(entry)
          done()
        })
        const entry = { immediate, reject }
        this.immediates.add(entry)
        return
      }
      const entry = {
        timer: setTimeout(() => {
          this.timers.delete(entry)
          done()
        }, end - now),
        reject,
      }
      this.timers.add(entry)
    })
  }

  async restart(): Promise<void> {
    this.abortAll('restarted')
    this.ready = true
    this.emit({ type: 'ready' })
  }

  power(): PowerReading {
    return { ...this.energy.read(), source: 'simulated', gpu: this.gpu }
  }

  async close(): Promise<void> {
    this.abortAll('closed')
    this.ready = false
  }

  private abortAll(why: string) {
    for (const e of this.timers) {
      clearTimeout(e.timer)
      e.reject(new BackendUnavailableError(`simulator ${why}`))
    }
    this.timers.clear()
    for (const e of this.immediates) {
      clearImmediate(e.immediate)
      e.reject(new BackendUnavailableError(`simulator ${why}`))
    }
    this.immediates.clear()
    this.energy.integrate()
    this.busy.clear()
    this.virtualEnd.clear()
  }

  private wattsNow(): number {
    let share = 0
    for (const [m, n] of this.busy) if (n > 0) share += this.smShare.get(m) ?? 1
    const { idleW, maxW } = this.powerModel
    return idleW + (maxW - idleW) * Math.min(1, share)
  }

  private setBusy(model: string, d: number) {
    this.energy.integrate()
    this.busy.set(model, (this.busy.get(model) ?? 0) + d)
  }
}
