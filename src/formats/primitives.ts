// Primitives: measured costs of the mechanisms a plan is executed with, on one GPU. The simulator charges them;
// the optimizer's switch budget exists because of them.
import Type from 'typebox'
import { GpuRef, Provenance } from './common.ts'

export const Cost = Type.Object(
  {
    medianUs: Type.Number({ minimum: 0 }),
    p95Us: Type.Number({ minimum: 0 }),
    samples: Type.Integer({ minimum: 1 }),
  },
  { additionalProperties: false },
)
export type Cost = Type.Static<typeof Cost>

export const Primitives = Type.Object(
  {
    format: Type.Literal('eclip.primitives/1'),
    gpu: GpuRef,
    /** Creating one green context + its stream (what kw-ioctl pays at every switch). */
    partitionCreate: Cost,
    /** Event record on one partition's stream + wait on another's, as seen by the kernel after it. */
    switchEventWait: Cost,
    /** A dependency between kernels on two partitions inside one graph (graph mode), per switch, GPU-side. */
    switchGraphEdge: Type.Optional(Cost),
    /** Host-side cost of launching one CUDA graph (cudaGraphLaunch). */
    graphLaunch: Cost,
    /** Host-side cost of one eager kernel launch. */
    kernelLaunch: Cost,
    measured: Provenance,
  },
  { additionalProperties: false },
)
export type Primitives = Type.Static<typeof Primitives>
