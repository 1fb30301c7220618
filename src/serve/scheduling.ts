// The scheduling seam of `eclip serve` (issue #23 item 3): what answers "which plan or partition does this execution
// run under, and when". A model's worker tells it when a request is accepted and when one is answered, and asks it,
// when an execution starts, for the plan key to send with it; the KServe layer, the queues and the backend adapters
// know nothing of how it decides. Implementations: one plan for the whole served set (every policy of `makePlan`), a
// plan per set of active models (eclip-live, src/serve/live.ts), and PARIS's partitions with ELSA choosing one per
// request and holding the backlogs (paris-elsa, src/serve/paris-elsa.ts), a ServeScheduling that brings the backend
// the server drives.
import type { ServeConfig } from '../formats/serve-config.ts'
import type { ServeBackend } from './backend.ts'
import type { GpuServeOptions } from './gpu-backend.ts'

/** What /metrics and the dashboard show of the scheduler. */
export interface SchedulerStatus {
  /** The served models active now (queued, in flight, or within the hold time), sorted. */
  active: string[]
  /** The key of the plan executions start under now; null when there is one plan (or nothing is active). */
  plan: string | null
  /** Changes of the active set, and of the plan executions start under, since start-up. */
  setChanges: number
  planSwitches: number
  /** The plans the scheduler chooses among. */
  plans: number
}

export interface PlanScheduler {
  /** A request for `model` was accepted (it is queued). */
  accepted(model: string): void
  /** One of `model`'s accepted requests was answered (completed, failed or timed out). */
  answered(model: string): void
  /** The plan key the execution of `model` starting now runs under; undefined: the backend's one plan. */
  planFor(model: string): string | undefined
  /**
   * True when the plan changes while serving (eclip-live): a worker then sends no execution ahead of a free slot, so
   * that each runs under the plan of the set active when it starts.
   */
  readonly switchesPlans?: boolean
  status(): SchedulerStatus
  close(): void
}

/** The executor `eclip serve` chose (--backend), and what a policy's backend needs to drive it. */
export interface ExecutorChoice {
  kind: 'sim' | 'gpu'
  gpu: GpuServeOptions
  simPower: NonNullable<ServeConfig['simPower']>
}

/**
 * A policy that chooses each request's partition and when it starts, not only a plan (paris-elsa): it brings the
 * backend the server drives, in front of the executor chosen; the server's workers and queues see a ServeBackend.
 */
export interface ServeScheduling {
  readonly policy: string
  backend(executor: ExecutorChoice): ServeBackend
}

/** One plan for every execution (the plan the backend was loaded with): nothing to decide. */
export class OnePlan implements PlanScheduler {
  private readonly pending = new Map<string, number>()
  accepted(model: string) {
    this.pending.set(model, (this.pending.get(model) ?? 0) + 1)
  }
  answered(model: string) {
    this.pending.set(model, Math.max(0, (this.pending.get(model) ?? 0) - 1))
  }
  planFor(): undefined {
    return undefined
  }
  status(): SchedulerStatus {
    const active = [...this.pending].flatMap(([m, n]) => (n > 0 ? [m] : [])).sort()
    return { active, plan: null, setChanges: 0, planSwitches: 0, plans: 1 }
  }
  close() {}
}
