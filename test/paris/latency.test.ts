import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { type Gpu, type LatencyTable, type Profile, parseFormat, readFile } from '../../src/formats/index.ts'
import {
  fitAmdahl,
  latencyTableFromProfiles,
  latencyUs,
  syntheticLatencyTable,
} from '../../src/paris/latency.ts'

const gpu = readFile<Gpu>('gpu', join(import.meta.dirname, '..', 'fixtures', 'h100.gpu.json'))
const date = '2026-11-22'

describe('latency tables', () => {
  it('generates a valid, seeded synthetic table marked synthetic', () => {
    const t = syntheticLatencyTable(gpu, 'resnet152', { seed: 3, date })
    parseFormat<LatencyTable>('latency-table', t, 'synthetic')
    assert.equal(t.measured.method, 'synthetic')
    assert.deepEqual(t.batches, [1, 2, 4, 8, 16, 32])
    assert.equal(t.sizes.at(-1), 132)
    assert.deepEqual(syntheticLatencyTable(gpu, 'resnet152', { seed: 3, date }), t)
    assert.notDeepEqual(syntheticLatencyTable(gpu, 'resnet152', { seed: 4, date }).latencyUs, t.latencyUs)
  })

  it('is shaped like docs/design.md §7: falls with SMs with diminishing returns, rises sub-linearly with batch', () => {
    const t = syntheticLatencyTable(gpu, 'resnet152', { seed: 1, date, noise: 0 })
    const b4 = t.latencyUs[2] ?? []
    // docs/design.md §7 resnet152 b4: 15.6 ms at 8 SMs, 3.8 ms at 132
    assert.ok(Math.abs((b4[0] ?? 0) / 1000 - 15.6) < 1.5, `8 SMs: ${b4[0]}`)
    assert.ok(Math.abs((b4.at(-1) ?? 0) / 1000 - 3.8) < 0.6, `132 SMs: ${b4.at(-1)}`)
    for (const row of t.latencyUs) {
      for (let j = 1; j < row.length; j++) assert.ok((row[j] ?? 0) <= (row[j - 1] ?? 0))
      // the first doubling (8→16 SMs) buys more than the last slices (112→132)
      assert.ok((row[0] ?? 0) / (row[1] ?? 1) > (row[13] ?? 0) / (row[15] ?? 1))
    }
    const at8 = t.latencyUs.map((r) => r[0] ?? 0)
    for (let i = 1; i < at8.length; i++) {
      assert.ok((at8[i] ?? 0) > (at8[i - 1] ?? 0), 'rises with batch')
      assert.ok((at8[i] ?? 0) < 2 * (at8[i - 1] ?? 0), 'doubling the batch less than doubles latency')
    }
  })

  it('interpolates exactly for the Amdahl shape, between sizes (1/SMs) and batches', () => {
    const t: LatencyTable = {
      format: 'eclip.latency-table/1',
      gpu: { name: 'x', smCount: 132, sliceSize: 8 },
      model: 'm',
      dtype: 'fp16',
      batches: [1, 3],
      sizes: [8, 16, 132],
      latencyUs: [
        [1000 + 8000 / 8, 1000 + 8000 / 16, 1000 + 8000 / 132],
        [2000 + 16000 / 8, 2000 + 16000 / 16, 2000 + 16000 / 132],
      ],
      measured: { date, method: 'hand-made', tool: 'test' },
    }
    assert.equal(latencyUs(t, 1, 16), 1500)
    assert.ok(Math.abs(latencyUs(t, 1, 12) - (1000 + 8000 / 12)) < 1e-9)
    assert.ok(Math.abs(latencyUs(t, 1, 44) - (1000 + 8000 / 44)) < 1e-9)
    assert.ok(Math.abs(latencyUs(t, 2, 16) - (1500 + 3000) / 2) < 1e-9)
  })

  it('fits serial + parallel/SMs to docs/design.md §7 rows', () => {
    const f = fitAmdahl(
      [8, 16, 32, 64, 132],
      [1 + 80 / 8, 1 + 80 / 16, 1 + 80 / 32, 1 + 80 / 64, 1 + 80 / 132],
    )
    assert.ok(Math.abs(f.serialMs - 1) < 1e-9 && Math.abs(f.parallelMsSm - 80) < 1e-9)
  })

  it('derives a table from profiles (requestUs per batch) and refuses mixed ones', () => {
    const profile = (batch: number, scale: number, model = 'vgg19'): Profile => ({
      format: 'eclip.profile/1',
      gpu: { name: 'NVIDIA H100 80GB HBM3', smCount: 132, sliceSize: 8 },
      model,
      batch,
      dtype: 'fp16',
      fingerprint: `sha256:${'0'.repeat(64)}`,
      sizes: [8, 64, 132],
      kernels: [
        { index: 0, name: 'k', grid: [1, 1, 1], block: [1, 1, 1], sharedMemBytes: 0, timesUs: [3, 2, 1] },
      ],
      requestUs: [12000 * scale, 1800 * scale, 1100 * scale],
      kernelSumRatio: [0.9, 0.9, 0.9],
      repeats: 20,
      measured: { date, method: 'synthetic', tool: 'test' },
    })
    const t = latencyTableFromProfiles([profile(8, 2.5), profile(1, 1)])
    parseFormat<LatencyTable>('latency-table', t, 'derived')
    assert.deepEqual(t.batches, [1, 8])
    assert.deepEqual(t.latencyUs[1], [30000, 4500, 2750])
    assert.equal(t.measured.method, 'synthetic')
    assert.throws(() => latencyTableFromProfiles([profile(1, 1), profile(1, 2)]), /two profiles/)
    assert.throws(() => latencyTableFromProfiles([profile(1, 1), profile(2, 1, 'alexnet')]), /expected vgg19/)
  })

  it('rejects a table whose rows do not match its sizes', () => {
    const t = syntheticLatencyTable(gpu, 'alexnet', { seed: 1, date })
    t.latencyUs[2]?.pop()
    assert.throws(() => parseFormat('latency-table', t, 'bad.json'), /\/latencyUs\/2: 15 values for 16 sizes/)
  })
})
