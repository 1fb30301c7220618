// Latency tables for PARIS+ELSA: lookup between measured points, a synthetic generator shaped like the H100
// measurements of docs/design.md §7, and the converter from eclip profiles (one per batch size) to a table.
import type { Gpu, GpuRef, LatencyTable, Profile } from '../formats/index.ts'
import { partitionSizes, UserError } from '../formats/index.ts'
import { rngFor } from '../random.ts'

/** The batch sizes a generated table covers (1–32, powers of two; lookup interpolates between them). */
export const DEFAULT_BATCHES = [1, 2, 4, 8, 16, 32]

export const gpuRef = (gpu: Gpu): GpuRef => ({
  name: gpu.name,
  smCount: gpu.smCount,
  sliceSize: gpu.sliceSize,
})

/**
 * Latency in µs of one request of `batch` on `sms` SMs. Between table sizes it interpolates linearly in 1/SMs —
 * exact for the Amdahl shape latency = serial + parallel/SMs that the measured rows follow (docs/design.md §7) — so a
 * partition with the 12-SM remainder slice (8k+12 SMs) gets a sensible value. Between batch sizes it is linear in
 * the batch. Outside the table it extends the nearest segment, never below 5% of the nearest point.
 */
export function latencyUs(t: LatencyTable, batch: number, sms: number): number {
  const atBatch = (i: number) => interpolate(t.sizes, t.latencyUs[i] ?? [], sms, (s) => 1 / s)
  const [i0, i1, f] = bracket(t.batches, batch)
  const l0 = atBatch(i0)
  if (i0 === i1) return l0
  const v = l0 + (atBatch(i1) - l0) * f
  return Math.max(v, 0.05 * Math.min(l0, atBatch(i1)))
}

function interpolate(xs: number[], ys: number[], x: number, map: (x: number) => number): number {
  const [j0, j1, f] = bracket(xs, x, map)
  const y0 = ys[j0] ?? Number.NaN
  if (j0 === j1) return y0
  const y1 = ys[j1] ?? Number.NaN
  return Math.max(y0 + (y1 - y0) * f, 0.05 * Math.min(y0, y1))
}

/** Indices of the two points around x and the fraction of the way from the first to the second (may be <0 or >1). */
function bracket(xs: number[], x: number, map: (x: number) => number = (v) => v): [number, number, number] {
  const n = xs.length
  if (n === 1) return [0, 0, 0]
  let j = 1
  while (j < n - 1 && (xs[j] ?? 0) < x) j++
  const a = map(xs[j - 1] ?? 0)
  const b = map(xs[j] ?? 0)
  return [j - 1, j, (map(x) - a) / (b - a)]
}

/**
 * Shape of one model's latency surface: latency(b, s) = serial(b) + parallel(b)/s, in ms and ms·SM at batch 4,
 * with serial ∝ b^serialExp and parallel ∝ b^parallelExp. serialExp < parallelExp < 1: bigger batches add mostly
 * parallel work (latency rises sub-linearly with batch), and their knee — where adding SMs stops paying — moves to
 * larger partitions. That is the property PARIS exploits.
 */
export interface LatencyShape {
  serialMs: number
  parallelMsSm: number
  serialExp: number
  parallelExp: number
  /** Where the numbers come from. */
  source: string
}

/** docs/design.md §7: H100, fp16, batch 4, one CUDA graph, at 8/16/32/48/64/96/132 SMs (ms). */
const H100_B4_SIZES = [8, 16, 32, 48, 64, 96, 132]
const H100_B4_MS: Record<string, number[]> = {
  resnet152: [15.6, 9.2, 5.7, 4.9, 4.3, 4.0, 3.8],
  resnext101: [16.5, 9.6, 5.9, 4.8, 3.9, 3.5, 3.3],
  densenet201: [13.7, 8.9, 6.5, 5.7, 5.3, 5.1, 5.0],
  vgg19: [11.9, 6.2, 3.3, 2.4, 1.8, 1.4, 1.1],
  shufflenet: [2.1, 1.3, 0.96, 0.85, 0.79, 0.76, 0.73],
  alexnet: [1.2, 0.67, 0.4, 0.3, 0.27, 0.25, 0.25],
}

/** Least-squares fit of latency = serial + parallel/s to measured points. */
export function fitAmdahl(sizes: number[], ms: number[]): { serialMs: number; parallelMsSm: number } {
  const xs = sizes.map((s) => 1 / s)
  const n = xs.length
  const mx = xs.reduce((a, x) => a + x, 0) / n
  const my = ms.reduce((a, y) => a + y, 0) / n
  let sxy = 0
  let sxx = 0
  xs.forEach((x, i) => {
    sxy += (x - mx) * ((ms[i] ?? 0) - my)
    sxx += (x - mx) ** 2
  })
  const parallelMsSm = sxy / sxx
  return { serialMs: Math.max(my - parallelMsSm * mx, 0.01), parallelMsSm }
}

/** Shapes not measured: albert (albert-base) is not in docs/design.md §7, its shape a guess. */
const GUESSED: Record<string, LatencyShape> = {
  albert: {
    serialMs: 0.6,
    parallelMsSm: 120,
    serialExp: 0.2,
    parallelExp: 0.9,
    source: 'guessed (albert-base not in docs/design.md §7)',
  },
}

/** Models with a known shape (knownShape): the others get a seeded random one. */
export const KNOWN_SHAPE_MODELS = [...Object.keys(H100_B4_MS), ...Object.keys(GUESSED)]

/** The known shapes: fitted to docs/design.md §7 where measured, else guessed (GUESSED). */
export function knownShape(model: string): LatencyShape | undefined {
  // own keys only: a model named like an Object property ("constructor") has no shape
  const row = Object.hasOwn(H100_B4_MS, model) ? H100_B4_MS[model] : undefined
  if (row)
    return {
      ...fitAmdahl(H100_B4_SIZES, row),
      serialExp: 0.25,
      parallelExp: 0.85,
      source: 'fitted to docs/design.md §7 (H100 fp16 b4)',
    }
  return Object.hasOwn(GUESSED, model) ? GUESSED[model] : undefined
}

export interface SyntheticOptions {
  seed: number
  batches?: number[]
  dtype?: 'fp16' | 'bf16' | 'fp32'
  /** Overrides or adds a shape; default: knownShape(model), else a seeded random shape. */
  shape?: LatencyShape
  /** Relative cell noise (σ of a log-normal factor); 0 gives the exact shape. Default 0.02. */
  noise?: number
  /** Date string for provenance; fixed by callers that want byte-identical output. */
  date?: string
}

/**
 * A synthetic latency table on `gpu`'s partition sizes: the model's shape with per-model exponents jittered (±0.05)
 * and per-cell log-normal noise, both from the seed, then made monotone (latency never rises with SMs nor falls with
 * batch) as real tables are up to measurement noise. Marked `measured.method: "synthetic"`.
 */
export function syntheticLatencyTable(gpu: Gpu, model: string, opts: SyntheticOptions): LatencyTable {
  const rng = rngFor(opts.seed, `latency:${model}`)
  const base: LatencyShape = opts.shape ??
    knownShape(model) ?? {
      serialMs: 0.3 + 2.5 * rng.next(),
      parallelMsSm: 10 + 140 * rng.next(),
      serialExp: 0.25,
      parallelExp: 0.85,
      source: 'random (seeded)',
    }
  const serialExp = base.serialExp + 0.1 * (rng.next() - 0.5)
  const parallelExp = base.parallelExp + 0.1 * (rng.next() - 0.5)
  const noise = opts.noise ?? 0.02
  const batches = opts.batches ?? DEFAULT_BATCHES
  const sizes = partitionSizes(gpu)
  const latency = batches.map((b) =>
    sizes.map((s) => {
      const ms = base.serialMs * (b / 4) ** serialExp + (base.parallelMsSm * (b / 4) ** parallelExp) / s
      return ms * 1000 * Math.exp(noise * rng.normal())
    }),
  )
  makeMonotone(latency)
  return {
    format: 'eclip.latency-table/1',
    gpu: gpuRef(gpu),
    model,
    dtype: opts.dtype ?? 'fp16',
    batches: [...batches],
    sizes,
    latencyUs: latency.map((row) => row.map((v) => Math.round(v * 10) / 10)),
    measured: {
      date: opts.date ?? new Date().toISOString().slice(0, 10),
      method: 'synthetic',
      tool: 'eclip paris (src/paris/latency.ts)',
      notes:
        `latency = serial·(b/4)^${serialExp.toFixed(3)} + parallel·(b/4)^${parallelExp.toFixed(3)}/SMs, ` +
        `serial ${base.serialMs.toFixed(3)} ms, parallel ${base.parallelMsSm.toFixed(1)} ms·SM (${base.source}); ` +
        `log-normal cell noise σ=${noise}, seed ${opts.seed}. No GPU measured this.`,
    },
  }
}

/** In place: non-increasing along sizes (more SMs never slower), non-decreasing along batches. */
function makeMonotone(rows: number[][]): void {
  for (const row of rows) for (let j = 1; j < row.length; j++) row[j] = Math.min(row[j] ?? 0, row[j - 1] ?? 0)
  for (let i = 1; i < rows.length; i++) {
    const row = rows[i] ?? []
    const prev = rows[i - 1] ?? []
    for (let j = 0; j < row.length; j++) row[j] = Math.max(row[j] ?? 0, prev[j] ?? 0)
  }
}

/**
 * A latency table from eclip profiles of one model at several batch sizes: each profile's `requestUs` (whole-request
 * latency at every size) becomes one row. All profiles must share GPU, model, dtype and sizes.
 */
export function latencyTableFromProfiles(profiles: Profile[]): LatencyTable {
  const first = profiles[0]
  if (!first) throw new UserError('latency table: no profiles given')
  const sorted = [...profiles].sort((a, b) => a.batch - b.batch)
  for (const p of sorted) {
    const where = `profile ${p.model} b${p.batch}`
    if (p.model !== first.model || p.dtype !== first.dtype)
      throw new UserError(`${where}: expected ${first.model} ${first.dtype}, got ${p.model} ${p.dtype}`)
    if (p.gpu.name !== first.gpu.name || p.gpu.smCount !== first.gpu.smCount)
      throw new UserError(`${where}: measured on ${p.gpu.name}, not ${first.gpu.name}`)
    if (p.sizes.join() !== first.sizes.join())
      throw new UserError(`${where}: sizes [${p.sizes}] differ from [${first.sizes}]`)
  }
  for (let i = 1; i < sorted.length; i++)
    if (sorted[i]?.batch === sorted[i - 1]?.batch)
      throw new UserError(`latency table: two profiles of ${first.model} at batch ${sorted[i]?.batch}`)
  const methods = [...new Set(sorted.map((p) => p.measured.method))]
  return {
    format: 'eclip.latency-table/1',
    gpu: first.gpu,
    model: first.model,
    dtype: first.dtype,
    batches: sorted.map((p) => p.batch),
    sizes: [...first.sizes],
    latencyUs: sorted.map((p) => [...p.requestUs]),
    repeats: Math.min(...sorted.map((p) => p.repeats)),
    measured: {
      ...first.measured,
      // a table built from synthetic profiles stays synthetic
      method: methods.length === 1 ? (methods[0] ?? 'derived') : methods.join('+'),
      tool: 'eclip paris: latencyTableFromProfiles (requestUs of each profile)',
      notes: `from ${sorted.length} profiles (batches ${sorted.map((p) => p.batch).join(', ')}) dated ${[
        ...new Set(sorted.map((p) => p.measured.date)),
      ].join(', ')}`,
    },
  }
}
