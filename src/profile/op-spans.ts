// A profile's kernel times held to its ops' spans (docs/design.md §7). The simulator runs a request's kernels one after
// another and the planner adds them up; where an op's kernels ran side by side (a grouped convolution of 128 short
// kernels), their times add up to more than the op takes, and scaling every kernel of a size alike to the request
// would take that excess off every op. With `opSpanUs` each op's kernels are first scaled to its span, so the excess
// stays with the op that has it; the per-size scale to the request then covers what is left.
import type { Profile } from '../formats/profile.ts'

/** Per op and size, the factor its kernels are scaled by: its span ÷ its kernels' sum where that is less, else 1. */
export function opSpanFactors(
  times: readonly (readonly number[])[],
  sizes: number,
  opStarts: readonly number[] | undefined,
  spans: readonly (readonly number[])[] | undefined,
): number[][] | null {
  if (!spans || !opStarts) return null
  const bounds = [...opStarts, times.length]
  return spans.map((row, o) =>
    Array.from({ length: sizes }, (_, i) => {
      let sum = 0
      for (let k = bounds[o] as number; k < (bounds[o + 1] as number); k++) sum += times[k]?.[i] ?? 0
      const span = row[i] ?? 0
      return span > 0 && sum > span ? span / sum : 1
    }),
  )
}

/**
 * `p` with each op's kernel times scaled to its span at every size; `p` itself without spans. The GEMM target's
 * times by its own spans (another capture's below the whole GPU); a section without them (profiled before they
 * were recorded for it) gets the default factors where its times are the default ones (the whole GPU, `offSms`).
 */
export function withOpSpans(p: Profile): Profile {
  const S = p.sizes.length
  const f = opSpanFactors(
    p.kernels.map((k) => k.timesUs),
    S,
    p.opStarts,
    p.opSpanUs,
  )
  if (!f || !p.opStarts) return p
  const opOf = new Int32Array(p.kernels.length)
  p.opStarts.forEach((s, o) => {
    opOf.fill(o, s)
  })
  const scaled = (factors: number[][], times: readonly number[], k: number, at: (i: number) => boolean) =>
    times.map((t, i) => (at(i) ? t * ((factors[opOf[k] as number] as number[])[i] as number) : t))
  const t = p.gemmTarget
  const own = t && opSpanFactors(t.timesUs, S, p.opStarts, t.opSpanUs)
  const defaultAt = new Set([S - 1, ...(t?.offSms ?? []).map((s) => p.sizes.indexOf(s))])
  return {
    ...p,
    kernels: p.kernels.map((k, i) => ({ ...k, timesUs: scaled(f, k.timesUs, i, () => true) })),
    ...(t
      ? {
          gemmTarget: {
            ...t,
            timesUs: t.timesUs.map((r, k) =>
              own ? scaled(own, r, k, () => true) : scaled(f, r, k, (i) => defaultAt.has(i)),
            ),
          },
        }
      : {}),
  }
}
