// A profile as the planner and simulator read it when matrix products are captured with kernels picked for each
// partition's SM count (docs/design.md §7): its times become its `gemmTarget` section's. A plan made from such a
// profile marks the worker `gemmTarget`, and the GPU backend then captures it so, but at the sizes where the target
// changed the ops (`offSms`); a profile without the section (not profiled so) is used as it is.
import type { Plan, PlanWorker } from '../formats/plan.ts'
import type { Profile } from '../formats/profile.ts'

/**
 * `p` with its `gemmTarget` times in place of its own; `p` itself when it has none. `offSms`: the sizes the target is
 * off at, when not the profile's own (a recorded plan's `gemmTargetOffSms`, captured so when the profile was another):
 * the default times there.
 */
export function withGemmTarget(p: Profile, offSms?: readonly number[]): Profile {
  const t = p.gemmTarget
  if (!t || t.inUse) return p
  const off = [...(offSms ?? t.offSms ?? [])]
  const on = p.sizes.map((s) => !off.includes(s))
  const pick = <T>(targeted: readonly T[], own: readonly T[]): T[] =>
    targeted.map((v, s) => (on[s] ? v : (own[s] ?? v)))
  const { offSms: _, spreadSms, convSms, ...rest } = t
  const spread = (spreadSms ?? []).filter((s) => !off.includes(s))
  const conv = (convSms ?? []).filter((s) => !off.includes(s))
  return {
    ...p,
    requestUs: pick(t.requestUs, p.requestUs),
    kernelSumRatio: pick(t.kernelSumRatio, p.kernelSumRatio),
    kernels: p.kernels.map((k, i) => ({ ...k, timesUs: pick(t.timesUs[i] ?? k.timesUs, k.timesUs) })),
    gemmTarget: {
      ...rest,
      ...(off.length > 0 ? { offSms: off } : {}),
      ...(spread.length > 0 ? { spreadSms: spread } : {}),
      ...(conv.length > 0 ? { convSms: conv } : {}),
      inUse: true,
    },
  }
}

/** Whether a plan made from `p` captures its GEMMs for each partition (the worker's `gemmTarget`). */
export const usesGemmTarget = (p: Profile): boolean => p.gemmTarget?.inUse === true

/** The sizes a worker planned from `p` is captured at without the target (its `offSms`; none when not in use). */
export const offSmsOf = (p: Profile): number[] => (usesGemmTarget(p) ? [...(p.gemmTarget?.offSms ?? [])] : [])

/** The sizes a worker planned from `p` has its convolutions captured on conv lanes at (none when not in use). */
export const convSmsOf = (p: Profile): number[] =>
  usesGemmTarget(p) ? [...(p.gemmTarget?.convSms ?? [])] : []

/** The plan worker's target fields for a worker planned from `p`: none when `p`'s target is not in use. */
export function gemmTargetFields(p: Profile): {
  gemmTarget?: true
  gemmTargetOffSms?: number[]
  convTargetSms?: number[]
} {
  const off = offSmsOf(p)
  const conv = convSmsOf(p)
  return usesGemmTarget(p)
    ? {
        gemmTarget: true,
        ...(off.length > 0 ? { gemmTargetOffSms: off } : {}),
        ...(conv.length > 0 ? { convTargetSms: conv } : {}),
      }
    : {}
}

/** Whether plan worker `pw` has its convolutions on conv lanes at exactly the sizes `conv`. */
export const sameConvSms = (pw: Pick<PlanWorker, 'convTargetSms'>, conv: readonly number[]): boolean =>
  String(pw.convTargetSms ?? []) === String(conv)

/** Whether plan worker `pw` leaves the target off at exactly the sizes `off`. */
export const sameOffSms = (pw: Pick<PlanWorker, 'gemmTargetOffSms'>, off: readonly number[]): boolean =>
  String(pw.gemmTargetOffSms ?? []) === String(off)

/**
 * Each plan worker's profile with the times the plan was captured with (a recorded plan replayed, src/calibrate): the
 * targeted ones but at the sizes the plan left the target off at, which may not be the profile's own (a profile made
 * again since).
 */
export const profilesOfPlan = (plan: Plan, profiles: readonly Profile[]): Profile[] =>
  profiles.map((p, i) => {
    const pw = plan.workers[i]
    if (!pw?.gemmTarget) return p
    // a size the profile has on conv lanes and the plan did not capture so: the profile keeps no lane-free targeted
    // times there, so the default ones (for a model with convolutions the GEMM target alone changes little)
    const unlaned = (p.gemmTarget?.convSms ?? []).filter((s) => !(pw.convTargetSms ?? []).includes(s))
    return withGemmTarget(
      p,
      [...new Set([...(pw.gemmTargetOffSms ?? []), ...unlaned])].sort((a, b) => a - b),
    )
  })
