// Seeded pseudo-random numbers for the simulator (Poisson arrivals, start offsets): the same seed gives the same run
// on every machine. mulberry32: 32-bit state, fast, good enough for arrival times (not for cryptography).
export function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Exponential inter-arrival time with the given mean, from a uniform source. */
export function exponential(u: () => number, mean: number): number {
  return -Math.log(1 - u()) * mean
}
