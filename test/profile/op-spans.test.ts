// Op spans (src/profile/op-spans.ts): an op's kernels held to its span in a replay, read so wherever profiles are
// loaded, the excess kept with the op that has it; a malformed field is refused.
import assert from 'node:assert/strict'
import { cpSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { latencyScale } from '../../src/execute/sim/index.ts'
import { type Profile, parseFormat, readFile } from '../../src/formats/index.ts'
import { opSpanFactors, withOpSpans } from '../../src/profile/op-spans.ts'
import { loadGpu, loadProfile } from '../../src/profile/store.ts'

const SHIPPED = join(import.meta.dirname, '..', '..', 'profiles', 'h100')
const FILE = 'resnext101.b1.fp16.json'

/** `opSpanFactors` of a profile's default times. */
const factorsOf = (p: Profile) =>
  opSpanFactors(
    p.kernels.map((k) => k.timesUs),
    p.sizes.length,
    p.opStarts,
    p.opSpanUs,
  )

/** A profile of three kernels in two ops (kernels 0–1, kernel 2) at two sizes. */
function small(extra: Partial<Profile> = {}): Profile {
  const shipped = readFile<Profile>('profile', join(SHIPPED, FILE))
  const kernel = (i: number, timesUs: number[]) => ({
    ...(shipped.kernels[i] as Profile['kernels'][number]),
    index: i,
    timesUs,
  })
  // the shipped file's own spans (and GEMM target) are for its kernels, not these three
  const { gemmTarget: _, opSpanUs: _spans, ...rest } = shipped
  return {
    ...rest,
    sizes: [8, 132],
    kernels: [kernel(0, [20, 10]), kernel(1, [20, 10]), kernel(2, [30, 15])],
    opStarts: [0, 2],
    requestUs: [60, 30],
    kernelSumRatio: [70 / 60, 35 / 30],
    ...extra,
  }
}

/** Targeted times of `small()`'s kernels. */
const TARGET = {
  requestUs: [50, 30],
  kernelSumRatio: [1, 1],
  timesUs: [
    [5, 10],
    [5, 10],
    [40, 15],
  ],
}
const SPANS = [
  [24, 12],
  [30, 15],
]

describe('op spans', () => {
  it("scale an op's kernels to its span where they add up to more, and leave the other ops alone", () => {
    // op 0 at 8 SMs: 40 µs of kernels in a 24-µs span; at 132 SMs its span is longer than its kernels
    const p = small({
      opSpanUs: [
        [24, 25],
        [30, 15],
      ],
    })
    assert.deepEqual(factorsOf(p), [
      [0.6, 1],
      [1, 1],
    ])
    const q = withOpSpans(p)
    assert.deepEqual(
      q.kernels.map((k) => k.timesUs),
      [
        [12, 10],
        [12, 10],
        [30, 15],
      ],
    )
    // the request-level scale then has less left to take off, and none of it from op 1's kernel
    assert.deepEqual([...latencyScale(q)], [1, 30 / 35])
    assert.deepEqual(withOpSpans(q), q, 'once scaled, an op fits its span: applying it again changes nothing')
    const plain = small()
    assert.equal(factorsOf(plain), null)
    assert.equal(withOpSpans(plain), plain, 'no spans: the profile as it is')
  })

  it("scale the GEMM target's times by its own spans", () => {
    // 8 SMs: op 0's targeted kernels (10 µs) in a 4-µs span, op 1's 40 µs in 20; the whole GPU as the defaults
    const q = withOpSpans(
      small({
        opSpanUs: SPANS,
        gemmTarget: {
          ...TARGET,
          opSpanUs: [
            [4, 12],
            [20, 15],
          ],
        },
      }),
    )
    assert.deepEqual(q.gemmTarget?.timesUs, [
      [2, 6],
      [2, 6],
      [20, 15],
    ])
  })

  it("without spans of its own, scale the GEMM target's times only where they are the default ones", () => {
    const q = withOpSpans(small({ opSpanUs: SPANS, gemmTarget: TARGET }))
    // 8 SMs: another capture's kernels, unscaled; the whole GPU: the default kernels' factor (12 / 20)
    assert.deepEqual(q.gemmTarget?.timesUs, [
      [5, 6],
      [5, 6],
      [40, 15],
    ])
    const off = withOpSpans(small({ opSpanUs: SPANS, gemmTarget: { ...TARGET, offSms: [8] } }))
    assert.deepEqual(
      off.gemmTarget?.timesUs.map((r) => r[0]),
      [3, 3, 40],
      'off at 8 SMs: the defaults, scaled',
    )
  })

  it('are applied where a profile directory is read, each op by its own span', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'eclip-spans-')), 'profiles')
    cpSync(SHIPPED, dir, { recursive: true })
    const { gemmTarget: _, ...p } = readFile<Profile>('profile', join(SHIPPED, FILE))
    const starts = p.opStarts as number[]
    const bounds = [...starts, p.kernels.length]
    // each op's span a fraction of its kernels' sum at every size, the fraction another for neighbouring ops
    const frac = (o: number) => 0.2 + (o % 7) / 10
    const opSpanUs = starts.map((a, o) =>
      p.sizes.map((_, i) => {
        let s = 0
        for (let k = a; k < (bounds[o + 1] as number); k++) s += p.kernels[k]?.timesUs[i] as number
        return s * frac(o)
      }),
    )
    writeFileSync(join(dir, FILE), JSON.stringify({ ...p, opSpanUs }))
    const read = loadProfile(dir, loadGpu(dir), 'resnext101', 1, 'fp16')
    let checked = 0
    starts.forEach((a, o) => {
      for (let k = a; k < (bounds[o + 1] as number); k++) {
        const want = (p.kernels[k]?.timesUs[3] as number) * frac(o)
        assert.ok(Math.abs((read.kernels[k]?.timesUs[3] as number) - want) < 1e-6 * (1 + want), `kernel ${k}`)
        checked++
      }
    })
    assert.equal(checked, p.kernels.length)
  })

  it('are refused when they do not match the ops or the sizes', () => {
    const bad = (extra: object) =>
      assert.throws(() => parseFormat('profile', { ...small(), ...extra }, 'p.json'), /opSpanUs/)
    bad({ opSpanUs: [[1, 1]] })
    bad({ opSpanUs: [[1, 1], [1]] })
    bad({ opStarts: undefined, opSpanUs: SPANS })
    bad({ opSpanUs: SPANS, gemmTarget: { ...TARGET, opSpanUs: [[1, 1]] } })
    parseFormat(
      'profile',
      { ...small(), opSpanUs: SPANS, gemmTarget: { ...TARGET, opSpanUs: SPANS } },
      'p.json',
    )
  })
})
