import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { type Gpu, partitionSizes, readFile, regularSlices } from '../../src/formats/index.ts'
import { buildPool, DEFAULT_MAX_PARTITIONS } from '../../src/plan/pool.ts'
import { rightSizeIndex, rightSizes } from '../../src/profile/rightsize.ts'

const gpu = readFile<Gpu>('gpu', join(import.meta.dirname, '..', 'fixtures', 'h100.gpu.json'))
const n = regularSlices(gpu).length

describe('right-sizing', () => {
  it('picks the smallest size within the tolerance of the full-GPU time', () => {
    const t = [40, 21, 10.4, 10.2, 10]
    assert.equal(rightSizeIndex(t, 0.05), 2)
    assert.equal(rightSizeIndex(t, 0.01), 4)
    assert.equal(rightSizeIndex(t, 0.03), 3)
    assert.equal(rightSizeIndex(t, 3), 0)
    // restricted to a ladder: the smallest ladder entry that meets it
    assert.equal(rightSizeIndex(t, 0.05, [0, 1, 3, 4]), 3)
    assert.equal(rightSizeIndex(t, 0.05, [0, 1, 4]), 4)
    assert.throws(() => rightSizeIndex(t, -0.1), RangeError)
  })

  it('reports right-sizes in SMs per kernel', () => {
    const p = { sizes: [8, 16, 132], kernels: [{ timesUs: [5, 5, 5] }, { timesUs: [9, 3, 2] }] }
    assert.deepEqual(rightSizes(p, 0.05), [8, 132])
    assert.deepEqual(rightSizes(p, 0.5), [8, 16])
  })
})

describe('pool builder on the H100 layout (15 slices of 8 SMs + a 12-SM remainder)', () => {
  const profiled = new Set(partitionSizes(gpu))
  for (let k = 1; k <= 8; k++) {
    it(`${k} worker(s): anchored ladders + the shared whole GPU, within the cap`, () => {
      const pool = buildPool(gpu, k)
      const byId = new Map(pool.partitions.map((p) => [p.id, p]))
      assert.ok(pool.partitions.length <= DEFAULT_MAX_PARTITIONS)
      assert.equal(pool.ladders.length, k)
      assert.equal(new Set(pool.partitions.map((p) => p.id)).size, pool.partitions.length, 'ids unique')
      assert.equal(new Set(pool.partitions.map((p) => p.slices.join(','))).size, pool.partitions.length)
      // the whole GPU: every slice incl. the remainder, last in every ladder
      const whole = pool.partitions.find((p) => p.sms === 132)
      assert.ok(whole)
      assert.deepEqual(
        whole.slices,
        gpu.slices.map((s) => s.id),
      )
      for (const ladder of pool.ladders) assert.equal(ladder[ladder.length - 1], whole.id)
      for (const p of pool.partitions) {
        assert.ok(profiled.has(p.sms), `${p.sms} SMs is a profiled size`)
        if (p.id === whole.id) continue
        // a run of regular slices of the one split, SMs = 8 per slice
        assert.equal(p.sms, p.slices.length * 8)
        p.slices.forEach((s, i) => {
          assert.ok(s < n)
          if (i > 0) assert.equal(s, (p.slices[i - 1] as number) + 1)
        })
      }
      // every worker gets the same ladder of sizes, ascending
      const sizesOf = (l: number[]) => l.map((id) => byId.get(id)?.sms)
      for (const l of pool.ladders) {
        assert.deepEqual(sizesOf(l), sizesOf(pool.ladders[0] as number[]))
        const s = sizesOf(l) as number[]
        for (let i = 1; i < s.length; i++) assert.ok((s[i] as number) > (s[i - 1] as number))
        assert.ok(s.length >= (k <= 7 ? 3 : 2), 'at least two sizes besides the whole GPU up to 7 workers')
      }
      if (k > 1) {
        // anchored at the two ends of the slice list
        const first = pool.ladders[0]?.[0] as number
        const last = pool.ladders[k - 1]?.[0] as number
        assert.equal(byId.get(first)?.slices[0], 0)
        assert.equal(byId.get(last)?.slices.at(-1), n - 1)
        // windows of one length are pairwise disjoint whenever k of them fit in the slices
        const lengths = (pool.ladders[0] as number[]).length - 1
        for (let j = 0; j < lengths; j++) {
          const windows = pool.ladders.map((l) => byId.get(l[j] as number)?.slices ?? [])
          if ((windows[0]?.length ?? 0) * k > n) continue
          const seen = new Set<number>()
          for (const w of windows)
            for (const s of w) {
              assert.ok(!seen.has(s), `length ${w.length}: slice ${s} shared`)
              seen.add(s)
            }
        }
      }
    })
  }

  it('one worker gets every profiled size', () => {
    const pool = buildPool(gpu, 1)
    assert.deepEqual(
      pool.ladders[0]?.map((id) => pool.partitions[id]?.sms),
      partitionSizes(gpu),
    )
  })

  it('follows ECLIP for 2 workers under a cap of 7: three sizes each + the shared whole GPU', () => {
    const pool = buildPool(gpu, 2, { maxPartitions: 7 })
    assert.equal(pool.partitions.length, 7)
    assert.deepEqual(
      pool.ladders.map((l) => l.length),
      [4, 4],
    )
    const [a, b] = pool.ladders.map((l) => l.map((id) => pool.partitions[id]?.slices ?? []))
    assert.equal(a?.[0]?.[0], 0)
    assert.equal(b?.[0]?.[0], n - 1)
    // the smallest partitions of the two workers are disjoint, like ECLIP's SE1 and SE4
    assert.ok(!a?.[0]?.some((s) => b?.[0]?.includes(s)))
  })

  it('uses only profiled sizes and honours any cap', () => {
    const pool = buildPool(gpu, 2, { sizes: [8, 16, 32, 48, 64, 96, 132] })
    for (const p of pool.partitions) assert.ok([8, 16, 32, 48, 64, 96, 132].includes(p.sms))
    for (let cap = 1; cap <= 20; cap++)
      for (const k of [1, 3, 8]) assert.ok(buildPool(gpu, k, { maxPartitions: cap }).partitions.length <= cap)
    const one = buildPool(gpu, 3, { maxPartitions: 1 })
    assert.deepEqual(one.ladders, [[0], [0], [0]])
    assert.throws(() => buildPool(gpu, 2, { sizes: [8, 16] }), /whole GPU/)
    assert.throws(() => buildPool(gpu, 0), RangeError)
  })
})
