// Power model: the parameters the simulator turns a run into watts and joules with, fitted by `eclip calibrate` to
// NVML energy-counter deltas over closed-loop GPU runs (docs/design.md §6); the built-in defaults are placeholders
// and every result made with them says so (`fitted: false`). Two forms, by `format`:
// - eclip.power/2 (what calibrate writes): P = idleW + wPerWorkSm × work per second, where a request's work is the
//   SM·s its kernels need at their right-sizes on the whole GPU (src/execute/sim/power.ts). It does not depend on the
//   plan, only on which requests complete: measured on the H100 (profiles/h100/power-check.txt), partitioned plans
//   drew 0.96–1.00× their baseline's power at batch 1 for the same requests — SMs a partition holds but does not
//   use draw little, so energy follows the work done, not the SMs reserved.
// - eclip.power/1: P = idleW + wPerBusySm × SMs executing a kernel. It predicted those plans at 0.66–0.82× and is
//   kept readable only because eclip-fit plans were scored with it: `eclip calibrate --plan-calibration` re-makes
//   them from the power.json they were planned with.
import Type from 'typebox'
import { GpuRef, Provenance } from './common.ts'

/** A number ≥ 0 per profile, keyed as profile files are named (model.bBATCH.dtype). */
const perProfile = () =>
  Type.Record(
    Type.String({ pattern: '^[A-Za-z0-9_.-]+\\.b[0-9]+\\.(fp16|bf16|fp32)$' }),
    Type.Number({ minimum: 0 }),
  )

const common = {
  gpu: GpuRef,
  /** Board power with no kernel running, W (clocks as during the runs, not deep idle). */
  idleW: Type.Number({ minimum: 0 }),
  /** Extra power per GB/s of DRAM traffic, W·s/GB; 0 while profiles carry no memory traffic. */
  wPerMemGBs: Type.Number({ minimum: 0 }),
  /** True only when the numbers were fitted to NVML measurements on `gpu`. */
  fitted: Type.Boolean(),
  /** Fit quality when fitted: relative RMS error of predicted vs measured energy over the fitting runs. */
  fitRelRms: Type.Optional(Type.Number({ minimum: 0 })),
  measured: Provenance,
}

export const WorkPowerModel = Type.Object(
  {
    format: Type.Literal('eclip.power/2'),
    ...common,
    /**
     * W per SM of work rate (J per SM·s of work): P = idleW + wPerWorkSm × Σ over requests completed per second of
     * their work, SM·s.
     */
    wPerWorkSm: Type.Number({ minimum: 0 }),
    /** A kernel's right-size for its work: fewest profiled SMs within this fraction of its full-GPU time. */
    workTolerance: Type.Number({ minimum: 0 }),
  },
  { additionalProperties: false },
)
export type WorkPowerModel = Type.Static<typeof WorkPowerModel>

export const BusySmPowerModel = Type.Object(
  {
    format: Type.Literal('eclip.power/1'),
    ...common,
    /** Extra power per SM that is executing a kernel, W: P = idleW + wPerBusySm · busy SMs + memory term. */
    wPerBusySm: Type.Number({ minimum: 0 }),
  },
  { additionalProperties: false },
)
export type BusySmPowerModel = Type.Static<typeof BusySmPowerModel>

export const PowerModel = Type.Union([WorkPowerModel, BusySmPowerModel])
export type PowerModel = Type.Static<typeof PowerModel>

/**
 * Constants of the simulator's contention model (src/execute/sim/contention.ts explains each), fitted to GPU runs
 * of the same experiments. Without such a file the simulator uses neutral, unfitted defaults and says so.
 */
export const SimCalibration = Type.Object(
  {
    format: Type.Literal('eclip.sim-calibration/1'),
    gpu: GpuRef,
    /** How kernels share the SMs of a slice they both may use: launch order (block scheduler) or max-min fair. */
    sharing: Type.Enum(['fifo', 'fair', 'coresident']),
    /** A kernel's demand: fewest profiled SMs within this fraction of its full-GPU time. */
    saturationTolerance: Type.Number({ minimum: 0 }),
    /** γ: rate ÷ (1 + γ · other running kernels' busy SMs / SM count); memory/L2 interference. */
    memoryInterference: Type.Number({ minimum: 0 }),
    /**
     * ρ: a kernel holds its thread slots' share of its SMs × this (at most all) under 'fifo' (absent: all of them);
     * under 'coresident' its thread slots count × this beside shared memory and block slots (absent: 1).
     */
    residency: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
    /**
     * ρ_f: under 'fifo' a kernel takes what its resident blocks fill (blocks × threads × ρ_f ÷ 2048 SMs), at least
     * its demand, at most its partition; absent: its demand.
     */
    footprint: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
    /**
     * κ: under 'coresident' a kernel's rate ÷ (1 + κ · √(the share of its SMs' resources other kernels' blocks
     * hold)); absent: 0.
     */
    coresidency: Type.Optional(Type.Number({ minimum: 0 })),
    /**
     * γ per profile, in place of memoryInterference for that profile's kernels, fitted apart (`eclip calibrate
     * --fit-profiles`) on co-located runs: keys as profile files are named (model.bBATCH.dtype). Absent, or a profile
     * not named: memoryInterference.
     */
    profileInterference: Type.Optional(
      Type.Object(
        {
          gamma: perProfile(),
          /**
           * Aggressor weight a per profile (absent, or a profile not named: 1): the busy SMs of another worker's
           * kernels count × its profile's a in every γ term, so a model that loads memory little slows its
           * neighbours less than its SMs say (bench/probe-fit.ts fits it on disjoint partitions).
           */
          aggressor: Type.Optional(perProfile()),
          measured: Provenance,
        },
        { additionalProperties: false },
      ),
    ),
    /**
     * The memory interference term's shape in the others' load (src/execute/sim/contention.ts, interferenceLoad):
     * a kernel's rate ÷ (1 + γ · u^exponent ÷ max(1, n ÷ neighbourFrom)^neighbourExponent), u the other running
     * kernels' busy SMs (capped at the SM count) ÷ the SM count, n how many other kernels hold SMs; the per-profile γ
     * fitted under it (`eclip calibrate --fit-profiles --interference-load`). Absent: rate ÷ (1 + γ · u), linear.
     */
    interferenceLoad: Type.Optional(
      Type.Object(
        {
          /** p (absent: 1): below 1 the loss saturates as the others' load grows. */
          exponent: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
          /** q (absent: 0): the loss shared out among the neighbours past the n₀-th as (n ÷ n₀)^−q. */
          neighbourExponent: Type.Optional(Type.Number({ minimum: 0 })),
          /** n₀ (absent: 1): how many neighbours the loss is not shared among (the most the γ's were fitted with). */
          neighbourFrom: Type.Optional(Type.Number({ minimum: 1 })),
          measured: Provenance,
        },
        { additionalProperties: false },
      ),
    ),
    /**
     * κ per profile, in place of coresidency for that profile's kernels (keys as profile files are named): how much a
     * model's kernels slow when other kernels' blocks share their SMs differs by model and batch. Absent, or a profile
     * not named: coresidency.
     */
    profileCoresidency: Type.Optional(
      Type.Object(
        {
          kappa: perProfile(),
          measured: Provenance,
        },
        { additionalProperties: false },
      ),
    ),
    /**
     * What a worker loses (or gains) by running as its own MPS client (a process and a CUDA context per model, MPS's
     * server between them and the GPU), measured apart from any SM cap: per batch size, its rate under MPS with no
     * caps ÷ its rate sharing the GPU in one process (the MPS policies' requests run 1 ÷ this as long; a batch not
     * named takes the nearest one's on a log scale). Absent: MPS costs nothing beyond its caps.
     */
    mps: Type.Optional(
      Type.Object(
        {
          clientRate: Type.Record(
            Type.String({ pattern: '^[1-9][0-9]*$' }),
            Type.Number({ exclusiveMinimum: 0 }),
            {
              additionalProperties: false,
              minProperties: 1,
              description: 'keys are batch sizes 1, 2, 3, …; values the rates measured at them',
            },
          ),
          measured: Provenance,
        },
        { additionalProperties: false },
      ),
    ),
    /** µs a graph edge between partitions costs in a whole request; absent: the primitives file's switchGraphEdge. */
    switchGraphEdgeUs: Type.Optional(Type.Number({ minimum: 0 })),
    fitted: Type.Boolean(),
    /** Fit quality when fitted: relative RMS error of simulated vs measured throughput over the fitting runs. */
    fitRelRms: Type.Optional(Type.Number({ minimum: 0 })),
    measured: Provenance,
    /**
     * Real-time work (open-loop arrivals, stream priorities), fitted apart from the constants above on runs that
     * have it; `eclip calibrate` keeps it as it is. Absent: no delays.
     */
    realtime: Type.Optional(
      Type.Object(
        {
          /** µs from an open-loop request's arrival at an idle worker to its issue (the host thread's wake-up). */
          openLoopIssueUs: Type.Number({ minimum: 0 }),
          /**
           * µs of that delay that vary (absent: 0): it is openLoopIssueUs − this plus an exponential draw of this
           * mean, so its mean stays openLoopIssueUs; at most openLoopIssueUs.
           */
          openLoopIssueJitterUs: Type.Optional(Type.Number({ minimum: 0 })),
          /** µs a high-priority kernel waits for the SMs that running normal-priority kernels hold. */
          priorityDrainUs: Type.Number({ minimum: 0 }),
          /**
           * µs a best-effort graph's gate (eclip-rt's gate mechanism: a stream wait on memory) adds as it passes
           * (absent: 0).
           */
          gateWaitUs: Type.Optional(Type.Number({ minimum: 0 })),
          measured: Provenance,
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
)
export type SimCalibration = Type.Static<typeof SimCalibration>

/** What the schema cannot say: the issue delay's random part is at most the whole delay (its mean). */
export function simCalibrationConsistencyErrors(c: SimCalibration): string[] {
  const rt = c.realtime
  return rt?.openLoopIssueJitterUs !== undefined && rt.openLoopIssueJitterUs > rt.openLoopIssueUs
    ? [
        `/realtime/openLoopIssueJitterUs: ${rt.openLoopIssueJitterUs} µs is more than openLoopIssueUs (${rt.openLoopIssueUs}), the delay's mean`,
      ]
    : []
}
