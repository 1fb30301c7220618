// `eclip bench`'s options as the CLI resolves them (src/cli/commands/bench.ts), read by the bench (run.ts) and by a
// resumed bench's checks (resume.ts).
import type { TuneChoice } from '../execute/measured-evaluator.ts'
import type { Mix, Policy, Workload } from '../formats/index.ts'
import type { FitStarts, PlanObjective, RtBestEffort, RtMechanism } from '../plan/index.ts'

/**
 * A profile directory (--profiles DIR), synthetic profiles asked for, or none given: the shipped directory for the GPU
 * the backend reports (--backend gpu), else the reference GPU's or another shipped one (src/profile/shipped.ts), else
 * synthetic profiles with a warning that says so.
 */
export type ProfilesChoice = { dir: string; warning?: string } | 'synthetic' | undefined

/** `eclip bench`'s options, the flags resolved (mixes and workloads read, policy names checked). */
export interface RunBenchOptions {
  mixes: Mix[]
  /** the workloads the mixes came from (--workload), each with its own run length; none with --mix */
  workloads: Workload[]
  policies: Policy[]
  /** execution modes for multi-group plans: stream, graph */
  modes: string[]
  backend: 'sim' | 'gpu'
  /** steady window and warm-up per run, s (default: the backend's, or a workload's own) */
  duration?: number
  warmup?: number
  seed: number
  batch?: number
  /** open loop: Poisson arrivals per worker, req/s */
  rate?: number
  /** eclip-rt: its mechanism, the priority mechanism's reserved SMs, the partition mechanism's factor */
  rtMechanism?: RtMechanism
  rtReserveSms?: number
  rtFactor?: number
  rtGateUs?: number
  /** eclip-rt's gate mechanism: best-effort workers on at most this many SMs run ungated (PlanOptions.rtUngatedSms) */
  rtUngatedSms?: number
  /** eclip-rt's gate mechanism: how its best-effort workers share the GPU (DEFAULT_RT_BEST_EFFORT) */
  rtBestEffort?: RtBestEffort
  /** eclip-fit (and eclip-rt's best-effort plan): what the search maximises (default STP) */
  objective?: PlanObjective
  /** eclip-fit's plans: stream priorities scored after the search (PlanOptions.fitPriorities). */
  streamPriorities?: boolean
  /** the floor of every worker its mix leaves without one (PlanOptions.minShare; default DEFAULT_MIN_SHARE) */
  minShare?: number
  /** where eclip-fit's search climbs from (PlanOptions.fitStarts; default FIT_STARTS) */
  fitStarts?: FitStarts
  /** eclip-fit's p95 cap per worker (PlanOptions.maxP95; default none) */
  maxP95?: number
  /** switches per request per worker, at most, in eclip's and eclip-fit's plans (PlanOptions.switchMax) */
  switchMax?: number
  profiles: ProfilesChoice
  /** primitives, power model and contention constants files (default: the profile directory's) */
  primitives?: string
  power?: string
  calibration?: string
  /** eclip-live: the hold, the policy of its tables' plans, the planning threads */
  holdMs?: number
  tablePolicy: Policy
  tableThreads?: number
  out: string
  solo: boolean
  /** each mix's baseline run again after its other policies, ratios against the mean of the two (ExperimentOptions) */
  bracket?: boolean
  plots: boolean
  /** with the GPU backend: also simulate every run for the side-by-side columns */
  simCompare: boolean
  /** with the GPU backend: check partitioned workers' outputs against their baseline captures (default true) */
  checkOutputs?: boolean
  /** plans from the profiles' GEMM-target times, their GEMMs captured for each partition (default; false:
   * --no-gemm-target) */
  gemmTarget?: boolean
  /** eclip-fit's plans tuned on the backend before the runs (src/plan/tune.ts) */
  tune?: TuneChoice
  /** finish the bench whose results.json is in `out`, an earlier process of the same options stopped early
   * (src/bench/resume.ts) */
  resume?: boolean
  /** run the plans this directory holds for a (mix, policy) instead of planning them (src/bench/given-plans.ts) */
  plans?: string
}
