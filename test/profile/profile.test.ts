import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { parseFormat, partitionSizes, profileFileName, UserError } from '../../src/formats/index.ts'
import { loadProfileSet } from '../../src/profile/store.ts'
import {
  SYNTHETIC_MODELS,
  syntheticH100Gpu,
  syntheticProfile,
  writeSyntheticProfileDir,
} from '../../src/profile/synthetic.ts'

const tmp = () => mkdtempSync(join(tmpdir(), 'eclip-profile-'))
// docs/design.md §7, H100 fp16 batch 4: request latency in ms at 8 and 132 SMs.
const DESIGN_B4: Record<string, [number, number]> = {
  resnet152: [15.6, 3.8],
  resnext101: [16.5, 3.3],
  densenet201: [13.7, 5.0],
  vgg19: [11.9, 1.1],
  shufflenet: [2.1, 0.73],
  alexnet: [1.2, 0.25],
}

describe('synthetic profiles', () => {
  it('are valid profiles, deterministic, and marked synthetic', () => {
    const a = syntheticProfile({ model: 'resnet152', batch: 1 })
    const b = syntheticProfile({ model: 'resnet152', batch: 1 })
    const c = syntheticProfile({ model: 'resnet152', batch: 1, seed: 'other' })
    parseFormat('profile', a, 'synthetic')
    assert.deepEqual(a, b)
    assert.notDeepEqual(
      a.kernels.map((k) => k.timesUs),
      c.kernels.map((k) => k.timesUs),
      'another seed gives other times',
    )
    assert.equal(a.measured.method, 'synthetic')
    assert.deepEqual(a.sizes, partitionSizes(syntheticH100Gpu()))
    assert.equal(a.kernels.length, SYNTHETIC_MODELS.resnet152?.kernels)
  })

  it('look like docs/design.md §7: latency within 15% at 8 and 132 SMs, kernels spread over sizes', () => {
    for (const [model, [at8, full]] of Object.entries(DESIGN_B4)) {
      const p = syntheticProfile({ model, batch: 4 })
      const r8 = (p.requestUs[0] ?? 0) / 1000
      const r132 = (p.requestUs[p.requestUs.length - 1] ?? 0) / 1000
      assert.ok(Math.abs(r8 / at8 - 1) < 0.15, `${model} at 8 SMs: ${r8} ms vs ${at8}`)
      assert.ok(Math.abs(r132 / full - 1) < 0.15, `${model} at 132 SMs: ${r132} ms vs ${full}`)
      // every kernel is no faster on fewer SMs
      for (const k of p.kernels)
        for (let i = 1; i < k.timesUs.length; i++) assert.ok((k.timesUs[i] ?? 0) <= (k.timesUs[i - 1] ?? 0))
    }
    const p = syntheticProfile({ model: 'resnet152', batch: 1 })
    const last = p.sizes.length - 1
    const rs = p.kernels.map((k) => k.timesUs.findIndex((t) => t <= 1.05 * (k.timesUs[last] ?? 0)))
    assert.ok(rs.filter((r) => r === 0).length > p.kernels.length / 5, 'many kernels fit in one slice')
    assert.ok(rs.filter((r) => r === last).length > p.kernels.length / 20, 'some need the whole GPU')
  })
})

describe('profile store', () => {
  it('loads the GPU and one profile per worker, sharing repeated ones', () => {
    const dir = tmp()
    writeSyntheticProfileDir(dir, { batch: 2, models: ['alexnet', 'vgg19'] })
    const set = loadProfileSet(dir, [
      { name: 'alexnet#0', model: 'alexnet', batch: 2, dtype: 'fp16' },
      { name: 'vgg19#0', model: 'vgg19', batch: 2, dtype: 'fp16' },
      { name: 'alexnet#1', model: 'alexnet', batch: 2, dtype: 'fp16' },
    ])
    assert.equal(set.gpu.smCount, 132)
    assert.deepEqual(
      set.profiles.map((p) => p.model),
      ['alexnet', 'vgg19', 'alexnet'],
    )
    assert.equal(set.profiles[0], set.profiles[2])
    assert.equal(set.primitives, undefined)
  })

  it('names the model, batch, dtype and expected file of a missing profile', () => {
    const dir = tmp()
    writeSyntheticProfileDir(dir, { models: ['alexnet'] })
    assert.throws(
      () => loadProfileSet(dir, [{ name: 'vgg19#0', model: 'vgg19', batch: 1, dtype: 'fp16' }]),
      (e: unknown) =>
        e instanceof UserError &&
        /model vgg19, batch 1, fp16/.test(e.message) &&
        e.message.includes(profileFileName('vgg19', 1, 'fp16')),
    )
    assert.throws(() => loadProfileSet(join(dir, 'nope'), []), /no such profile directory/)
  })

  it('refuses a profile made on another GPU than gpu.json', () => {
    const dir = tmp()
    writeSyntheticProfileDir(dir, { models: ['alexnet'] })
    const f = join(dir, profileFileName('alexnet', 1, 'fp16'))
    const p = JSON.parse(readFileSync(f, 'utf8'))
    p.gpu.name = 'NVIDIA H200'
    writeFileSync(f, JSON.stringify(p))
    assert.throws(
      () => loadProfileSet(dir, [{ name: 'a', model: 'alexnet', batch: 1, dtype: 'fp16' }]),
      (e: unknown) => e instanceof UserError && /profiled on NVIDIA H200/.test(e.message),
    )
  })

  it('refuses a profile whose content does not match its file name', () => {
    const dir = tmp()
    writeSyntheticProfileDir(dir, { models: ['alexnet'] })
    const p = syntheticProfile({ model: 'alexnet', batch: 3 })
    writeFileSync(join(dir, profileFileName('alexnet', 1, 'fp16')), JSON.stringify(p))
    assert.throws(
      () => loadProfileSet(dir, [{ name: 'a', model: 'alexnet', batch: 1, dtype: 'fp16' }]),
      /holds alexnet batch 3/,
    )
  })
})

describe('synthetic op starts', () => {
  it('are optional, start at 0, cover about half the kernels, and leave the times unchanged', () => {
    const plain = syntheticProfile({ model: 'resnet152', batch: 1 })
    const ops = syntheticProfile({ model: 'resnet152', batch: 1, opStarts: true })
    assert.equal(plain.opStarts, undefined)
    parseFormat('profile', ops, 'synthetic')
    assert.deepEqual(ops.kernels, plain.kernels)
    assert.deepEqual(ops.requestUs, plain.requestUs)
    const s = ops.opStarts ?? []
    assert.equal(s[0], 0)
    for (let i = 1; i < s.length; i++) assert.ok((s[i] as number) > (s[i - 1] as number))
    assert.ok(s.length > plain.kernels.length / 3 && s.length < (plain.kernels.length * 2) / 3)
  })
})
