// Seeded pseudo-random numbers, the one module for the whole control plane (simulator arrivals, synthetic profiles,
// PARIS traces and tables, the load generator): Math.random cannot be seeded, and the same seed must give the same
// numbers on every machine. mulberry32: 32-bit state, fast, good enough for simulation (not for cryptography).
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** mulberry32 seeded from a string (hashed): independent, reproducible streams named by what draws from them. */
export function stringSeeded(seed: string): () => number {
  let h = 1779033703 ^ seed.length
  for (let i = 0; i < seed.length; i++) {
    h = Math.imul(h ^ seed.charCodeAt(i), 3432918353)
    h = (h << 13) | (h >>> 19)
  }
  return mulberry32(h)
}

/** Exponential draw with the given mean from a uniform source: Poisson inter-arrival times. */
export function exponential(u: () => number, mean: number): number {
  return -Math.log(1 - u()) * mean
}

// Named streams (PARIS's synthetic tables and simulator): splitmix32 derives independent streams from one seed and a
// label, so adding a model or a scheme does not shift the random numbers every other stream sees.

/** A stream of uniform numbers in [0, 1): mulberry32, small and fast enough for ~10^6 draws per simulation. */
export class Rng {
  readonly next: () => number
  constructor(seed: number) {
    this.next = mulberry32(seed)
  }

  /** Exponential with the given rate (mean 1/rate): Poisson inter-arrival times. */
  exponential(rate: number): number {
    return -Math.log(1 - this.next()) / rate
  }

  /** Standard normal (Box–Muller; one of the pair is dropped to keep the stream stateless). */
  normal(): number {
    const u = 1 - this.next()
    const v = this.next()
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v)
  }

  /** Index drawn with probability proportional to weights[i]; cumulative weights precomputed by the caller. */
  pick(cumulative: readonly number[]): number {
    const total = cumulative[cumulative.length - 1] ?? 0
    const x = this.next() * total
    let lo = 0
    let hi = cumulative.length - 1
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if ((cumulative[mid] ?? 0) > x) hi = mid
      else lo = mid + 1
    }
    return lo
  }
}

/** A seed for the stream named `label` under `seed`: FNV-1a of the label mixed into the seed, then splitmix32. */
export function streamSeed(seed: number, label: string): number {
  let h = 0x811c9dc5 ^ (seed >>> 0)
  for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193)
  h = (h + 0x9e3779b9) >>> 0
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b)
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35)
  return (h ^ (h >>> 16)) >>> 0
}

export const rngFor = (seed: number, label: string) => new Rng(streamSeed(seed, label))
