// Power model: the parameters the simulator turns busy SM-time into watts and joules with. The GPU backend fits them
// to NVML energy-counter deltas over closed-loop runs (DESIGN §6); until then the built-in defaults are placeholders
// and every result made with them says so (`fitted: false`).
import Type from 'typebox'
import { GpuRef, Provenance } from './common.ts'

export const PowerModel = Type.Object(
  {
    format: Type.Literal('eclip.power/1'),
    gpu: GpuRef,
    /** Board power with no kernel running, W (clocks as during the runs, not deep idle). */
    idleW: Type.Number({ minimum: 0 }),
    /** Extra power per SM that is executing a kernel, W: P = idleW + wPerBusySm · busy SMs + memory term. */
    wPerBusySm: Type.Number({ minimum: 0 }),
    /** Extra power per GB/s of DRAM traffic, W·s/GB; 0 while profiles carry no memory traffic. */
    wPerMemGBs: Type.Number({ minimum: 0 }),
    /** True only when the numbers were fitted to NVML measurements on `gpu`. */
    fitted: Type.Boolean(),
    /** Fit quality when fitted: relative RMS error of predicted vs measured energy over the fitting runs. */
    fitRelRms: Type.Optional(Type.Number({ minimum: 0 })),
    measured: Provenance,
  },
  { additionalProperties: false },
)
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
    sharing: Type.Enum(['fifo', 'fair']),
    /** A kernel's demand: fewest profiled SMs within this fraction of its full-GPU time. */
    saturationTolerance: Type.Number({ minimum: 0 }),
    /** γ: rate ÷ (1 + γ · other running kernels' busy SMs / SM count); memory/L2 interference. */
    memoryInterference: Type.Number({ minimum: 0 }),
    fitted: Type.Boolean(),
    /** Fit quality when fitted: relative RMS error of simulated vs measured throughput over the fitting runs. */
    fitRelRms: Type.Optional(Type.Number({ minimum: 0 })),
    measured: Provenance,
  },
  { additionalProperties: false },
)
export type SimCalibration = Type.Static<typeof SimCalibration>
