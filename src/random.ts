// Seeded pseudo-random numbers, one generator for the whole control plane (simulator arrivals, synthetic profiles,
// PARIS traces): Math.random cannot be seeded, and the same seed must give the same numbers on every machine.
// mulberry32: 32-bit state, fast, good enough for simulation (not for cryptography).
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
