// Energy under a power model (src/formats/power.ts): the one definition the simulator's engine, `eclip calibrate`'s
// fit and bench/power-check.ts share, so a fitted model predicts what it was fitted on.
import type { PowerModel, Profile } from '../../formats/index.ts'
import { rightSizeIndex } from '../../profile/rightsize.ts'

type Kernels = Pick<Profile, 'sizes' | 'kernels'>

/**
 * SM·µs of work one request of `profile` does (eclip.power/2): Σ over its kernels of the kernel's right-size at
 * `tolerance` × its full-GPU time, as profiled — the same whatever partition the plan gives it.
 */
export function requestWorkSmUs(profile: Kernels, tolerance: number): number {
  let sum = 0
  for (const k of profile.kernels) {
    const full = k.timesUs[k.timesUs.length - 1] ?? 0
    sum += (profile.sizes[rightSizeIndex(k.timesUs, tolerance)] ?? 0) * full
  }
  return sum
}

/** What a window of a run did, as the power model needs it. */
export interface WindowActivity {
  windowUs: number
  /** SM·µs of SMs executing a kernel (eclip.power/1); null where unknown (a GPU run). */
  smBusyUs: number | null
  /** Σ over the requests completed in the window of their work, SM·µs (eclip.power/2). */
  workSmUs: number
}

/** Energy over the window, J. */
export function energyJ(power: PowerModel, a: WindowActivity): number {
  const dynamic =
    power.format === 'eclip.power/2' ? power.wPerWorkSm * a.workSmUs : power.wPerBusySm * (a.smBusyUs ?? 0)
  return (power.idleW * a.windowUs + dynamic) * 1e-6
}

/** Work completed in a window from per-worker request counts: Σ_w requests_w × requestWorkSmUs(profile_w). */
export function workSmUs(
  profiles: readonly Kernels[],
  requests: readonly number[],
  tolerance: number,
): number {
  return profiles.reduce((a, p, w) => a + (requests[w] ?? 0) * requestWorkSmUs(p, tolerance), 0)
}

/** The model in words, for reports and warnings. */
export function describePower(power: PowerModel): string {
  return power.format === 'eclip.power/2'
    ? `${power.idleW.toFixed(1)} W idle + ${power.wPerWorkSm.toFixed(3)} W per SM of work rate (right-sizes within ${power.workTolerance * 100}%)`
    : `${power.idleW.toFixed(1)} W idle + ${power.wPerBusySm.toFixed(3)} W per busy SM`
}
