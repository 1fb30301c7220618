// Seeded pseudo-random numbers for the simulator (Poisson arrivals, start offsets): the same seed gives the same run
// on every machine. mulberry32: 32-bit state, fast, good enough for arrival times (not for cryptography).
import { mulberry32 } from '../../random.ts'
export const rng = mulberry32

/** Exponential inter-arrival time with the given mean, from a uniform source. */
export function exponential(u: () => number, mean: number): number {
  return -Math.log(1 - u()) * mean
}
