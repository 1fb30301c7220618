// Plans carry the GPU's identity (name, SMs, slice layout, compute capability, driver) and one made for another GPU is
// refused saying so, before any fingerprint check could refuse it without saying why.
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import YAML from 'yaml'
import { checkMadeFor, describeGpu, type Gpu, gpuMismatch } from '../../src/formats/gpu.ts'
import { parseFormat, readFile } from '../../src/formats/index.ts'
import type { Plan } from '../../src/formats/plan.ts'
import type { ServeConfig } from '../../src/formats/serve-config.ts'
import { makePlan } from '../../src/plan/index.ts'
import { loadProfileSet } from '../../src/profile/store.ts'
import { writeSyntheticProfileDir } from '../../src/profile/synthetic.ts'
import { resolveServeSetup } from '../../src/serve/policies.ts'

const h100 = readFile<Gpu>('gpu', join(import.meta.dirname, '..', 'fixtures', 'h100.gpu.json'))
const h200: Gpu = {
  ...h100,
  name: 'NVIDIA H200',
  slices: [
    ...h100.slices.slice(0, 15),
    { id: 15, sms: 8, remainder: false },
    { id: 16, sms: 4, remainder: true },
  ],
}

describe('GPU identity', () => {
  it('describes a GPU by name, SMs, slice layout, compute capability and driver', () => {
    assert.equal(describeGpu(h100), 'NVIDIA H100 80GB HBM3, 132 SMs, slices 15×8+12, cc 9.0')
    const withDriver = { ...h100, measured: { ...h100.measured, driver: '580.159.04' } }
    assert.match(describeGpu(withDriver), /, driver 580\.159\.04$/)
    assert.equal(describeGpu({ name: 'X', smCount: 10, sliceSize: 2 }), 'X, 10 SMs, slice 2')
  })

  it('tells what differs, compares only what both sides know, and never refuses over the driver', () => {
    assert.equal(gpuMismatch(h100, h100), undefined)
    assert.equal(gpuMismatch(h200, h100), 'name')
    assert.equal(gpuMismatch({ ...h200, name: h100.name }, h100), 'slice layout')
    assert.equal(gpuMismatch({ name: h100.name, smCount: 132, sliceSize: 8 }, h100), undefined)
    assert.equal(gpuMismatch({ ...h100, computeCapability: '10.0' }, h100), 'compute capability')
    const d = { ...h100, measured: { ...h100.measured, driver: 'other' } }
    assert.equal(gpuMismatch(d, h100), undefined)
    assert.throws(
      () => checkMadeFor('plan.json', h200, h100),
      /^UserError: plan\.json was made for another GPU \(NVIDIA H200, 132 SMs, slices 16×8\+4, cc 9\.0\), this is NVIDIA H100 80GB HBM3, 132 SMs, slices 15×8\+12, cc 9\.0: name differs/,
    )
  })

  it("a plan made by the optimizer carries the GPU's slice layout and compute capability", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eclip-identity-'))
    writeSyntheticProfileDir(join(dir, 'p'), { batch: 1, models: ['alexnet'] })
    const workers = [{ name: 'alexnet', model: 'alexnet' as const, batch: 1, dtype: 'fp16' as const }]
    const set = loadProfileSet(join(dir, 'p'), workers)
    const plan = await makePlan(set.gpu, 'm', workers, set.profiles, { policy: 'baseline' })
    assert.deepEqual(
      plan.gpu.slices,
      set.gpu.slices.map((s) => s.sms),
    )
    assert.equal(plan.gpu.computeCapability, set.gpu.computeCapability)
    parseFormat<Plan>('plan', plan, 'the plan') // valid against the schema
  })

  it('eclip serve refuses a plan whose gpu was edited to another GPU, saying "made for another GPU"', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eclip-identity-'))
    writeSyntheticProfileDir(join(dir, 'profiles'), { batch: 1, models: ['alexnet'] })
    const workers = [{ name: 'alexnet', model: 'alexnet' as const, batch: 1, dtype: 'fp16' as const }]
    const set = loadProfileSet(join(dir, 'profiles'), workers)
    const plan = await makePlan(set.gpu, 'm', workers, set.profiles, { policy: 'baseline' })
    const configFile = join(dir, 'serve.yaml')
    writeFileSync(
      configFile,
      YAML.stringify({ profiles: 'profiles', plan: 'plan.json', models: [{ model: 'alexnet' }] }),
    )
    const config = readFile<ServeConfig>('serve-config', configFile)
    writeFileSync(join(dir, 'plan.json'), JSON.stringify(plan))
    await resolveServeSetup(config, { configFile }) // as made: accepted
    // only the name edited (the old check compared SM counts alone), or an H200's layout (its pool made consistent
    // with it, as a plan made there has: the whole GPU is every slice)
    const h200Slices = [...Array(16).fill(8), 4]
    const h200Pool = {
      ...plan.pool,
      partitions: plan.pool.partitions.map((p) => ({ ...p, slices: h200Slices.map((_, i) => i), sms: 132 })),
    }
    for (const edited of [
      { ...plan, gpu: { ...plan.gpu, name: 'NVIDIA H200' } },
      { ...plan, gpu: { ...plan.gpu, slices: h200Slices }, pool: h200Pool },
    ]) {
      writeFileSync(join(dir, 'plan.json'), JSON.stringify(edited))
      await assert.rejects(
        resolveServeSetup(config, { configFile }),
        /plan\.json: the plan was made for another GPU \(.*\), this is .* \(the profile directory's GPU\)/,
      )
    }
  })
})
