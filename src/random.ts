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
