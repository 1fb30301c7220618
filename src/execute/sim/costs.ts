// The costs the simulator charges when no measured files are given: primitives (switch, partition creation, launches)
// and the power model. Each default says where its number comes from; results made with them say so
// (Run.inputs.primitives = 'defaults', Run.inputs.power = 'placeholder').
import type { GpuRef, Primitives, WorkPowerModel } from '../../formats/index.ts'
import { DEFAULT_TOLERANCE } from '../../profile/rightsize.ts'

const cost = (us: number) => ({ medianUs: us, p95Us: us, samples: 1 })

/**
 * docs/design.md §7 (H100, driver 580, CUDA 13.0): green context + stream creation ≈ 1.8 ms and event
 * record + cross-stream wait ≈ 1 µs were measured. Graph and kernel launch costs were not: 2.5 µs and 2 µs are
 * assumed (typical host cost of cudaGraphLaunch / cuLaunchKernel) until `eclip` measures them into a primitives file.
 */
export function defaultPrimitives(gpu: GpuRef): Primitives {
  return {
    format: 'eclip.primitives/1',
    gpu,
    partitionCreate: cost(1800),
    switchEventWait: cost(1),
    graphLaunch: cost(2.5),
    kernelLaunch: cost(2),
    measured: {
      date: '2026-11-22',
      method: 'defaults',
      tool: 'eclip sim',
      notes:
        'partitionCreate 1.8 ms and switchEventWait 1 µs measured on H100 (docs/design.md §7); graphLaunch 2.5 µs and kernelLaunch 2 µs assumed, not measured',
    },
  }
}

/**
 * Placeholder power model, NOT fitted to NVML: 100 W with no kernel running and 4.5 W per SM of work rate, so that
 * work for all 132 SMs every second reaches ≈ 700 W, the H100 SXM board limit; right-sizes at 5% (the planner's
 * default tolerance). No memory term (profiles carry no DRAM traffic yet). Energy figures made with it are simulated
 * and only their ratios between policies mean anything.
 */
export function defaultPowerModel(gpu: GpuRef): WorkPowerModel {
  return {
    format: 'eclip.power/2',
    gpu,
    idleW: 100,
    wPerWorkSm: 4.5,
    workTolerance: DEFAULT_TOLERANCE,
    wPerMemGBs: 0,
    fitted: false,
    measured: {
      date: '2026-11-22',
      method: 'placeholder',
      tool: 'eclip sim',
      notes:
        'not fitted to NVML: idle 100 W + 4.5 W per SM of work rate (≈700 W H100 SXM limit at 132 SMs of work); to be fitted',
    },
  }
}
