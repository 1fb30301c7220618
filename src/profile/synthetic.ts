// Synthetic H100-like profiles: deterministic (seeded) stand-ins for the GPU profiler's output, so the optimizer,
// the simulator and their tests can run with no GPU. Every file written here is marked `measured.method:
// "synthetic"`; nothing in it was measured.
//
// Kernel model (why it looks like docs/design.md §7): a kernel has `ctas` thread blocks, `occ` of which fit on one SM
// at once, a time per wave and a small fixed cost (launch tail, prologue):
//     t(s) = fixedUs + waveUs · ceil(ctas / (s · occ))
// so a kernel with few CTAs fits in 8 SMs, one with many scales until one wave covers the partition, and a
// "persistent" kernel sized to the full device (ctas = 132·occ, as cuBLAS split-K / persistent kernels are) needs
// all 132 SMs. Per model, one multiplier on the CTA counts is calibrated (bisection) so that the whole request's
// slowdown at one slice matches the 8-SM / 132-SM latency ratio of docs/design.md §7's table, then all times are
// scaled to its full-GPU latency. Intermediate sizes then follow from the kernel mix, not from the table.

import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Dtype } from '../formats/common.ts'
import { fingerprint } from '../formats/fingerprint.ts'
import { type Gpu, partitionSizes } from '../formats/gpu.ts'
import { type Kernel, type Profile, profileFileName } from '../formats/profile.ts'
import { stringSeeded } from '../random.ts'

export interface SyntheticModel {
  /** Kernels per request (the real graphs' counts, docs/design.md §7 where measured). */
  kernels: number
  /** Request latency in µs at batch 4, fp16, on the whole GPU (docs/design.md §7). */
  fullUsB4: number
  /** Request latency at one slice (8 SMs) over the whole GPU's, at batch 4 (docs/design.md §7). */
  ratio8: number
  /** Kernel name stems, cycled through the request like the layers of the real model. */
  stems: readonly string[]
  /** Share of kernels sized to the full device (persistent / split-K GEMMs): they need all 132 SMs. */
  persistentShare: number
}

// Latencies and 8-SM ratios from docs/design.md §7 (H100, fp16, batch 4). albert-base is not in that table: its
// values are a guess between alexnet and shufflenet's shape with transformer-like GEMM kernels; replace when
// measured.
export const SYNTHETIC_MODELS: Readonly<Record<string, SyntheticModel>> = {
  albert: {
    kernels: 461,
    fullUsB4: 1400,
    ratio8: 6.0,
    stems: ['gemm_f16_tn', 'add_bias_gelu', 'layernorm_fwd', 'softmax_warp', 'bmm_f16_nn', 'elementwise_add'],
    persistentShare: 0.14,
  },
  densenet201: {
    kernels: 1470,
    fullUsB4: 5000,
    ratio8: 13.7 / 5.0,
    stems: ['bn_fw_inf', 'relu_nhwc', 'conv2d_implicit_gemm', 'cat_copy', 'avg_pool2d'],
    persistentShare: 0.05,
  },
  resnet152: {
    kernels: 1018,
    fullUsB4: 3800,
    ratio8: 15.6 / 3.8,
    stems: ['conv2d_implicit_gemm', 'bn_relu_fused', 'conv2d_1x1_gemm', 'add_relu'],
    persistentShare: 0.1,
  },
  resnext101: {
    kernels: 903,
    fullUsB4: 3300,
    ratio8: 16.5 / 3.3,
    stems: ['conv2d_grouped', 'bn_relu_fused', 'conv2d_1x1_gemm', 'add_relu'],
    persistentShare: 0.1,
  },
  vgg19: {
    kernels: 107,
    fullUsB4: 1100,
    ratio8: 11.9 / 1.1,
    stems: ['conv2d_implicit_gemm', 'bias_relu', 'max_pool2d', 'gemm_f16_tn'],
    persistentShare: 0.12,
  },
  alexnet: {
    kernels: 30,
    fullUsB4: 250,
    ratio8: 1.2 / 0.25,
    stems: ['conv2d_implicit_gemm', 'bias_relu', 'max_pool2d', 'gemm_f16_tn'],
    persistentShare: 0.1,
  },
  shufflenet: {
    kernels: 250,
    fullUsB4: 730,
    ratio8: 2.1 / 0.73,
    stems: ['conv2d_dw', 'bn_fw_inf', 'conv2d_1x1_gemm', 'channel_shuffle', 'relu_nhwc'],
    persistentShare: 0.03,
  },
  // DISB's two models beyond the paper's (issue #20): guesses made before they were profiled (profiles/h100 holds
  // their measured profiles), kept as synthetic stand-ins like the others. inceptionv3 (torchvision inception_v3,
  // 299×299 input): 94 convolutions, each with its batch norm and ReLU, plus pools and concatenations; about half
  // resnet152's work, scaling between resnet152 and densenet201.
  inceptionv3: {
    kernels: 310,
    fullUsB4: 2500,
    ratio8: 3.5,
    stems: ['conv2d_implicit_gemm', 'bn_fw_inf', 'relu_nhwc', 'conv2d_1x1_gemm', 'cat_copy', 'max_pool2d'],
    persistentShare: 0.08,
  },
  // distilbert (transformers DistilBertModel, 6 layers, hidden 768, 12 heads, sequence 128): half of a 12-layer
  // encoder like albert-base, so about half its kernels and latency, scaling like it.
  distilbert: {
    kernels: 120,
    fullUsB4: 750,
    ratio8: 5.0,
    stems: ['gemm_f16_tn', 'add_bias', 'softmax_warp', 'bmm_f16_nn', 'layernorm_fwd', 'gelu'],
    persistentShare: 0.14,
  },
}

/** The H100 SXM layout of docs/design.md §7 (15 slices of 8 SMs + a 12-SM remainder), marked synthetic. */
export function syntheticH100Gpu(): Gpu {
  const slices = Array.from({ length: 15 }, (_, id) => ({ id, sms: 8, remainder: false }))
  slices.push({ id: 15, sms: 12, remainder: true })
  return {
    format: 'eclip.gpu/1',
    name: 'NVIDIA H100 80GB HBM3',
    computeCapability: '9.0',
    smCount: 132,
    sliceSize: 8,
    smCoscheduledAlignment: 8,
    slices,
    measured: {
      date: new Date(0).toISOString(),
      method: 'synthetic',
      tool: 'eclip src/profile/synthetic.ts',
      notes: 'the H100 layout recorded in docs/design.md §7, not read off a device',
    },
  }
}

/** mulberry32 seeded from a string: small, fast, and identical on every platform (src/random.ts). */
export const seededRandom = stringSeeded

interface KernelShape {
  /** log2 of the CTA count before the per-model multiplier; persistent kernels ignore the multiplier. */
  logCtas: number
  persistent: boolean
  occ: number
  fixed: number
  wave: number
}

const kernelTime = (k: KernelShape, mult: number, smCount: number, s: number): number => {
  const occ = k.occ
  const ctas = k.persistent ? smCount * occ : Math.max(1, Math.round(2 ** k.logCtas * mult))
  return k.fixed + k.wave * Math.ceil(ctas / (s * occ))
}

export interface SyntheticOptions {
  model: string
  batch?: number
  dtype?: Dtype
  /** Defaults to the H100 layout. */
  gpu?: Gpu
  /** Seed suffix; the model, batch and dtype are always part of the seed. */
  seed?: string
  /** Overrides the model's kernel count (benchmarks, small tests). */
  kernels?: number
  /**
   * Also write `opStarts` (where a new PyTorch op begins: the only switch points of the GPU executor), one op per
   * 1–3 kernels as in the measured H200 profiles (about half the kernels start an op). Off by default: then every
   * kernel may start a group.
   */
  opStarts?: boolean
}

/** One synthetic profile, deterministic in (model, batch, dtype, seed, kernel count, GPU layout). */
export function syntheticProfile(opts: SyntheticOptions): Profile {
  const spec = SYNTHETIC_MODELS[opts.model]
  if (!spec)
    throw new Error(`no synthetic model "${opts.model}"; known: ${Object.keys(SYNTHETIC_MODELS).join(', ')}`)
  const gpu = opts.gpu ?? syntheticH100Gpu()
  const batch = opts.batch ?? 1
  const dtype = opts.dtype ?? 'fp16'
  const n = opts.kernels ?? spec.kernels
  const rand = seededRandom(`${opts.model}|${batch}|${dtype}|${n}|${opts.seed ?? ''}`)
  const sizes = partitionSizes(gpu)
  const smCount = gpu.smCount

  // Smaller batches have fewer CTAs per kernel (less parallelism), larger ones more.
  const batchShift = Math.log2(batch / 4)
  const shapes: KernelShape[] = []
  for (let i = 0; i < n; i++) {
    const persistent = rand() < spec.persistentShare
    shapes.push({
      // log-uniform over 1 … 2^11 CTAs: many kernels fit in one slice, some span several waves of the device
      logCtas: rand() * 11 + batchShift,
      persistent,
      occ: 1 + Math.floor(rand() * 4),
      fixed: 0.6 + rand() * 1.4,
      wave: 1 + rand() * 9,
    })
  }
  const slice = sizes[0] ?? smCount
  const requestAt = (mult: number, s: number) =>
    shapes.reduce((a, k) => a + kernelTime(k, mult, smCount, s), 0)
  const ratioAt = (mult: number) => requestAt(mult, slice) / requestAt(mult, smCount)
  // Calibrate the CTA multiplier (in log2) so the one-slice slowdown matches the model's; the ratio grows with it.
  // Smaller batches scale less: the table is at batch 4, and b1 graphs scale visibly worse (docs/design.md §7).
  const target = 1 + (spec.ratio8 - 1) * Math.min(1.5, (0.55 + 0.45 * (batch / 4)) ** 0.5)
  let lo = -12
  let hi = 12
  for (let it = 0; it < 40; it++) {
    const mid = (lo + hi) / 2
    if (ratioAt(2 ** mid) < target) lo = mid
    else hi = mid
  }
  const mult = 2 ** ((lo + hi) / 2)
  // Whole-request latency: batch 4 from the table; other batches sublinear.
  const fullUs = spec.fullUsB4 * (0.72 + 0.07 * batch)
  const ratio = 0.89 + rand() * 0.06 // kernels explain 89–95% of the request (docs/design.md §7)
  const scale = (fullUs * ratio) / requestAt(mult, smCount)
  const round = (x: number) => Math.round(x * 1000) / 1000

  const kernels: Kernel[] = shapes.map((k, index) => {
    const stem = spec.stems[index % spec.stems.length] ?? 'kernel'
    const ctas = k.persistent ? smCount * k.occ : Math.max(1, Math.round(2 ** k.logCtas * mult))
    return {
      index,
      name: `${stem}_${k.persistent ? 'persistent' : `v${k.occ}`}`,
      grid: [ctas, 1, 1],
      block: [k.occ > 2 ? 128 : 256, 1, 1],
      sharedMemBytes: k.occ * 4096,
      timesUs: sizes.map((s) => round(kernelTime(k, mult, smCount, s) * scale)),
    }
  })
  const kernelSum = sizes.map((_, si) => kernels.reduce((a, k) => a + (k.timesUs[si] ?? 0), 0))
  const ratios = sizes.map(() => round(ratio - 0.01 + rand() * 0.02))
  // drawn after everything else so that turning it on leaves the kernels' times and ratios unchanged
  const opStarts: number[] = []
  if (opts.opStarts) for (let i = 0; i < n; i += 1 + Math.floor(rand() * 3)) opStarts.push(i)
  return {
    format: 'eclip.profile/1',
    gpu: { name: gpu.name, smCount: gpu.smCount, sliceSize: gpu.sliceSize },
    model: opts.model,
    batch,
    dtype,
    fingerprint: fingerprint(kernels),
    sizes,
    kernels,
    ...(opts.opStarts ? { opStarts } : {}),
    requestUs: kernelSum.map((t, si) => round(t / (ratios[si] ?? ratio))),
    kernelSumRatio: ratios,
    repeats: 1,
    measured: {
      date: new Date(0).toISOString(),
      method: 'synthetic',
      tool: 'eclip src/profile/synthetic.ts',
      notes: `seeded generator (seed "${opts.seed ?? ''}"), shaped after docs/design.md §7; not measured`,
    },
  }
}

export interface SyntheticDirOptions {
  batch?: number
  dtype?: Dtype
  seed?: string
  /** Defaults to every model in SYNTHETIC_MODELS. */
  models?: readonly string[]
  gpu?: Gpu
  /** Write op starts too (see SyntheticOptions.opStarts). */
  opStarts?: boolean
}

/** Writes a whole profile directory: gpu.json plus one profile per model. Returns the files written. */
export function writeSyntheticProfileDir(dir: string, opts: SyntheticDirOptions = {}): string[] {
  mkdirSync(dir, { recursive: true })
  const gpu = opts.gpu ?? syntheticH100Gpu()
  const batch = opts.batch ?? 1
  const dtype = opts.dtype ?? 'fp16'
  const files = [join(dir, 'gpu.json')]
  writeFileSync(files[0] as string, `${JSON.stringify(gpu, null, 2)}\n`)
  for (const model of opts.models ?? Object.keys(SYNTHETIC_MODELS)) {
    const p = syntheticProfile({
      model,
      batch,
      dtype,
      gpu,
      ...(opts.seed === undefined ? {} : { seed: opts.seed }),
      ...(opts.opStarts ? { opStarts: true } : {}),
    })
    const f = join(dir, profileFileName(model, batch, dtype))
    writeFileSync(f, `${JSON.stringify(p)}\n`)
    files.push(f)
  }
  return files
}
