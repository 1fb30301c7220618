// The backend API the server needs: whatever owns the GPU (the Python GPU backend over fd 3/4, or the simulator)
// implements this. The server knows nothing of the KServe protocol's JSON here, only raw tensors and timings; the
// KServe layer (kserve/) knows nothing of how a backend runs a model. Like Triton's server ↔ backend split.
import type { Dtype } from '../formats/common.ts'
import type { Plan, PlanWorker } from '../formats/plan.ts'
import type { PlanTable } from '../formats/plan-table.ts'
import type { ModelIO } from './io-specs.ts'
import type { Datatype } from './kserve/datatypes.ts'
import type { ShmRegion } from './shm/region.ts'

/** A tensor as raw little-endian bytes, row-major. */
export interface RawTensor {
  name: string
  datatype: Datatype
  shape: number[]
  /** The bytes; empty (NO_DATA) when the tensor lies in a client's shared-memory region (`shm`). */
  data: Buffer
  /** Where the tensor lies in a client's registered region (shm/registry.ts): its bytes never pass through Node. */
  shm?: ShmRef
}

/** `bytes` at `offset` of a registered region (offset from the region's start). */
export interface ShmRef {
  region: ShmRegion
  offset: number
  bytes: number
}

/** A requested output the backend writes into a client's region instead of returning it. */
export interface ShmOutput {
  name: string
  shm: ShmRef
}

/** The data of a tensor that lies in shared memory (one shared empty buffer: nothing allocated per request). */
export const NO_DATA = Buffer.alloc(0)

/** One model the server serves: one worker of the plan. */
export interface ServedModel {
  /** KServe model name (unique in the server). */
  name: string
  /** Zoo name, or the user's model name. */
  model: string
  version: string
  /** The batch the model was profiled, planned and captured at: the most items one execution carries. */
  batch: number
  dtype: Dtype
  io: ModelIO
  /** User models: the file the GPU backend loads (TorchScript). Absent for zoo models. */
  source?: string
  /** This model's worker in the plan, when there is a plan. */
  worker?: PlanWorker
  /** paris-elsa: the batch sizes captured on every partition, ascending (the last is `batch`). */
  batches?: number[]
}

/** One execution: the inputs of one or more requests concatenated along the batch dimension. */
export interface ExecRequest {
  model: string
  /** Items in this execution (Σ of the requests' batch dimensions), 1 … the model's batch. */
  items: number
  /** How many client requests this execution carries. */
  requests: number
  inputs: RawTensor[]
  /** The partition (id) to run on, for a backend whose caller dispatches (paris-elsa's GPU backend). */
  partition?: string
  /** eclip-live: the key of the loaded table's plan to run under (the active set's); absent: the load's `plan`. */
  plan?: string
  /** Aborted when no caller waits for the execution any more (timed out): a backend may drop it if not started. */
  signal?: AbortSignal
  /**
   * Outputs to write into clients' regions (one request's: executions with shared-memory tensors carry one request).
   * The result's output then has `shm` set and no data.
   */
  shmOutputs?: ShmOutput[]
}

export interface ExecResult {
  /** Outputs with the batch dimension = `items`; empty when `simulated` (the simulator computes nothing). */
  outputs: RawTensor[]
  /** True when no model ran: the timings are modelled, there are no outputs. */
  simulated: boolean
  /** Time the execution took on the device, µs (modelled when simulated). */
  computeUs: number
  /** The partition (id) that ran it, where the backend chose one per execution (paris-elsa). */
  partition?: string
  /**
   * How long the backend held it before it started, µs: its partition's queue (paris-elsa), or behind its model's
   * executions in flight (the GPU backend, for executions sent ahead).
   */
  waitedUs?: number
}

/** One partition of a backend that dispatches each execution to a partition (paris-elsa), for metrics and dashboard. */
export interface PartitionStatus {
  id: string
  /** Which GPU of the host (0-based). */
  gpu: number
  sms: number
  slices: number[]
  /** Executions waiting in its queue, and whether one runs now. */
  queued: number
  running: boolean
  /** Its backlog as the dispatcher estimates it, µs from now. */
  backlogUs: number
  /** Executions it has completed, per served model name (since the server started). */
  executions: Record<string, number>
}

export interface PowerReading {
  /** Average board power over about the last second, W. */
  watts: number
  /** Energy since the backend started, J. */
  energyJ: number
  /** Where the numbers come from: NVML, or the simulator's power model. */
  source: 'nvml' | 'simulated'
  gpu: string
}

export type BackendEvent =
  /** The backend died or hit an error that poisons it (CUDA errors do): every execution in flight is lost. */
  | { type: 'crash'; reason: string }
  /** The backend is (again) able to execute. */
  | { type: 'ready' }

/**
 * What the server relies on, for a GPU implementation (the Python child over length-prefixed frames on fd 3/4):
 * - `load` resolves once every model is captured on its partitions; `isReady()` is true from then until a crash.
 * - `infer` is called at most once at a time per model (the server's worker serialises a model's executions), with
 *   `items` ≤ the model's batch: pad to the captured batch, return outputs with batch dimension `items`. The inputs'
 *   bytes can go straight into a frame's body (tensors are already raw little-endian; FP32 may arrive for an FP16
 *   model input, see io-specs `alsoAccepts`). `computeUs` is the device time of the execution.
 * - A dead child (pipe closed, exit code) or a poisoning CUDA error is a `crash` event; pending `infer` promises may
 *   reject or never settle — the server answers their requests itself, then calls `restart()` (with back-off) and
 *   routes nothing to the backend until it resolves.
 * - `power()` returns the latest NVML reading (`source: 'nvml'`), polled by the backend, never blocking.
 */
export interface ServeBackend {
  readonly kind: 'sim' | 'gpu'
  /**
   * Loads (captures, partitions) every model; resolves when they can execute. With `table` (eclip-live), each model
   * is also made ready to run under every plan of the table that lists it, and an execution may name one (`plan`).
   */
  load(models: ServedModel[], plan?: Plan, table?: PlanTable): Promise<void>
  /**
   * Changes the served set while the others keep executing (a model loaded or unloaded through the repository API):
   * `models`, `plan` and `table` replace the last load's; models not in it are gone once their executions end. Absent:
   * the backend cannot (the GPU backend loads its process once), and the server refuses model control saying so.
   */
  swap?(models: ServedModel[], plan: Plan | undefined, table: PlanTable | undefined): Promise<void>
  /**
   * Executes one batch. Rejects with BackendUnavailableError when the backend dies meanwhile (it may also never
   * settle: the server does not rely on it).
   */
  infer(req: ExecRequest): Promise<ExecResult>
  isReady(): boolean
  /** Subscribes to crash/ready events; returns the unsubscribe function. */
  onEvent(listener: (e: BackendEvent) => void): () => void
  /** Starts the backend again after a crash with the models of the last `load`. */
  restart(): Promise<void>
  /** Latest power and energy, or undefined when the backend cannot read them. */
  power(): PowerReading | undefined
  /**
   * Why the backend is not answering although it is up (a hung process), or undefined while it answers. Backends
   * that cannot hang apart from the server (the simulator) leave it out. The server is not ready meanwhile.
   */
  unresponsive?(): string | undefined
  close(): Promise<void>
  /**
   * Executions of one model the backend takes at once and overlaps (the GPU backend keeps the next one queued on
   * the GPU behind the running one); a model's worker sends up to this many. Absent: one at a time.
   */
  /**
   * Whether the backend may drop an execution nobody waits for any more (ExecRequest.signal: paris-elsa's queued
   * ones); only then does a worker make the signal.
   */
  readonly dropsAbandoned?: boolean
  executionsInFlight?(): number
  /**
   * Executions of `model` a worker may send beyond executionsInFlight: the backend queues them and starts each the
   * moment one of the model's executions ends, with no round trip through the server between them. A worker sends
   * them only for requests that run alone (shared memory, or a model that does not batch); `inRegions`: the request's
   * tensors lie in its client's shared-memory regions (the backend needs no room of its own for them). Absent: none.
   */
  executionsAhead?(model: string, inRegions: boolean): number
  /**
   * Executions of `model` the backend holds and has not started (a backend that queues them itself, paris-elsa);
   * the model's queue limit counts them. Absent: the backend holds none.
   */
  waiting?(model: string): number
  /** The partitions executions are dispatched to and their state (paris-elsa). */
  partitions?(): PartitionStatus[]
  /**
   * Opens a client's shared-memory region once (the GPU backend maps a system region's file or opens a CUDA IPC
   * handle), so executions can read inputs from it and write outputs into it; rejects with why not. Absent: the
   * backend reads no tensor (the simulator), or takes none from shared memory.
   */
  openRegion?(region: ShmRegion): Promise<void>
  /** Closes a region opened by openRegion (called once no accepted request uses it). */
  closeRegion?(region: ShmRegion): Promise<void>
}

/**
 * The serve backend cannot execute now (not loaded, restarting after a crash, closed): the request is answered 503
 * with Retry-After. A process's own crash is execute/gpu's BackendCrash, which the GPU adapter turns into this.
 */
export class BackendUnavailableError extends Error {
  override name = 'BackendUnavailableError'
}

/** Concatenates the same-named inputs of several requests along dimension 0. */
export function concatInputs(perRequest: RawTensor[][]): RawTensor[] {
  const first = perRequest[0]
  if (!first) return []
  if (perRequest.length === 1) return first
  return first.map((t) => {
    const parts = perRequest.map((r) => r.find((x) => x.name === t.name) as RawTensor)
    const n = parts.reduce((a, p) => a + (p.shape[0] as number), 0)
    return { ...t, shape: [n, ...t.shape.slice(1)], data: Buffer.concat(parts.map((p) => p.data)) }
  })
}

/** Splits outputs of a batched execution back into per-request outputs by their batch sizes. */
export function splitOutputs(outputs: RawTensor[], batches: number[]): RawTensor[][] {
  // one request (every execution at batch 1, every one with shared memory): its outputs as they came when they
  // already carry its batch (no copies of the tensors' descriptions per request)
  if (batches.length === 1 && outputs.every((t) => t.shape[0] === batches[0])) return [outputs]
  const items = batches.reduce((a, b) => a + b, 0)
  const out: RawTensor[][] = batches.map(() => [])
  for (const t of outputs) {
    const per = t.data.length / (t.shape[0] ?? items)
    let at = 0
    batches.forEach((b, i) => {
      out[i]?.push({ ...t, shape: [b, ...t.shape.slice(1)], data: t.data.subarray(at * per, (at + b) * per) })
      at += b
    })
  }
  return out
}

/** The readiness and event plumbing every backend shares: `ready`, listeners, and `emit` for the subclass. */
export abstract class BackendEvents {
  protected ready = false
  private listeners = new Set<(e: BackendEvent) => void>()

  isReady(): boolean {
    return this.ready
  }

  onEvent(listener: (e: BackendEvent) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  protected emit(e: BackendEvent) {
    for (const l of this.listeners) l(e)
  }
}
