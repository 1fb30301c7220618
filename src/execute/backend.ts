// The one interface `eclip bench` runs experiments through: the simulator (src/execute/sim/) or the GPU backend (a
// Python child process, issue #5). A backend executes one RunSpec and hands back raw observations — every request's
// times, the energy over the window — and src/measure/ turns them into the metrics of the results format, the same
// way for both, so a simulated and a measured run can be compared number for number.
import type {
  BackendName,
  Gpu,
  Loop,
  Mode,
  Plan,
  PlanTable,
  PowerModel,
  Primitives,
  Profile,
  WorkerSpec,
} from '../formats/index.ts'

export interface RunSpec {
  /**
   * `${mix}|${policy}|${mode}|b${batch}`, with `|after` for a baseline-after run (see runKey in the results format).
   */
  key: string
  role: 'mix' | 'solo' | 'rt-alone' | 'set-alone' | 'baseline-after'
  mix: string
  mode: Mode
  /** bench --batch, null when each worker keeps its mix's batch. */
  batch: number | null
  gpu: Gpu
  plan: Plan
  workers: WorkerSpec[]
  /** One profile per plan worker, in plan order. */
  profiles: Profile[]
  loop: Loop
  warmupS: number
  windowS: number
  seed: number
  primitives: Primitives
  /** The simulator's power model; the GPU backend reads NVML instead. */
  power: PowerModel
  /**
   * eclip-live: follow a plan table — each request runs under the plan of the set of workers active when it starts
   * (`plan` is then the table's plan of the whole set). Absent: every request under `plan`.
   */
  live?: LiveSpec
  /** Check partitioned workers' outputs against their baseline captures first (absent: the backend's setting). */
  checkOutputs?: boolean
}

/** What a run needs to follow a table: the table and how long a worker stays active after its last request. */
export interface LiveSpec {
  table: PlanTable
  /** A worker is active while it has a request queued or in flight, and for this long after its last one ends. */
  holdUs: number
  /**
   * Plans planned on demand (a table above 6 workers grown by the sets traffic showed): from when, µs of the run, a
   * set may run under each; before, under its smallest superset planned by then. Absent keys: from the start. The
   * simulator's only: the GPU runner follows a table planned before the run.
   */
  availableUs?: Record<string, number>
}

/** What a table-following run observed, besides every request's times. */
export interface LiveObservations {
  holdUs: number
  /** Keys of the plans requests ran under (requestPlans index into it). */
  keys: string[]
  /** Per worker, per completed request (endUs's order): the index in `keys` of the plan it ran under. */
  requestPlans: number[][]
  /** Per active set (its key; '' when no worker is active): µs inside the window the active set was that set. */
  setTimeUs: Record<string, number>
  /** Changes of the active set inside the window, and over the whole run (warm-up included). */
  switches: number
  switchesTotal: number
  /** Active sets that had no plan of their own, with the superset whose plan they ran under. */
  fallbacks: Record<string, string>
  /** Per active set (its key), when it was first the active set, µs from the run's start (the simulator's only). */
  setFirstUs?: Record<string, number>
}

/** Per worker, every request that completed during the run (warm-up included), µs from the run's start. */
export interface WorkerRequests {
  arrivalUs: number[]
  startUs: number[]
  endUs: number[]
  /** Host CPU time spent enqueuing each request, µs; only where the backend measures it (the GPU executor). */
  cpuUs?: number[]
}

export interface RunResult {
  workers: WorkerRequests[]
  /** The steady window, µs from the run's start: metrics count requests that complete inside it. */
  windowStartUs: number
  windowEndUs: number
  /** Energy over the window, J. */
  energyJ: number
  /** Where the energy comes from: the sim's power model (fitted or placeholder) or the NVML counter. */
  energySource: 'fitted' | 'placeholder' | 'nvml'
  /** Busy SM·µs over the window; null where the backend cannot observe it. */
  smBusyUs: number | null
  /** Kernels executed (the simulator's event count; null on the GPU). */
  kernels: number | null
  wallS: number
  notes: string[]
  /** A table-following run's active sets, switches and the plan each request ran under. */
  live?: LiveObservations
}

/** What `eclip bench` runs an experiment's runs on (the simulator or the GPU); `eclip serve`'s is ServeBackend. */
export interface ExecuteBackend {
  readonly name: BackendName
  /** The executing stack's versions and settings (driver, cuda, torch, python, cudaDeviceMaxConnections…), where
   * there is one: the GPU backend's, as its process reported them at start-up. */
  readonly versions?: Record<string, string>
  run(spec: RunSpec): Promise<RunResult>
  /** After a failed run: bring the backend back to a usable state (restart a dead process). */
  recover?(): Promise<void>
  close(): Promise<void>
}
