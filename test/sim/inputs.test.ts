// The simulator's inputs from a profile directory (src/execute/sim/inputs.ts over src/profile/store.ts's reader):
// the directory's files, a named file in place of the directory's, the defaults with a warning each, and a file made
// on another GPU refused.
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { CALIBRATION } from '../../src/execute/sim/contention.ts'
import { simInputs } from '../../src/execute/sim/inputs.ts'
import { loadGpu } from '../../src/profile/store.ts'
import { syntheticH100Gpu } from '../../src/profile/synthetic.ts'

const H100 = join(import.meta.dirname, '..', '..', 'profiles', 'h100')

describe('simInputs', () => {
  it("takes a profile directory's primitives, power model and calibration, with no warning", () => {
    const gpu = loadGpu(H100)
    const { inputs, warnings } = simInputs(gpu, { dir: H100 })
    assert.equal(inputs.primitives.gpu.name, gpu.name)
    assert.ok(inputs.power.fitted)
    assert.ok(inputs.calibration.fitted)
    assert.deepEqual(warnings, [])
  })

  it('falls back to the defaults without a directory, saying so once per input', () => {
    const { inputs, warnings } = simInputs(syntheticH100Gpu())
    assert.equal(inputs.calibration, CALIBRATION)
    assert.equal(warnings.length, 3)
    assert.match(warnings[0] ?? '', /^no primitives file: default switch and launch costs/)
    assert.match(warnings[1] ?? '', /power model not fitted to NVML/)
    assert.match(warnings[2] ?? '', /contention model not calibrated/)
  })

  it("reads a named file instead of the directory's, and refuses one made on another GPU", () => {
    const gpu = loadGpu(H100)
    const dir = mkdtempSync(join(tmpdir(), 'eclip-inputs-'))
    const other = join(dir, 'sim-calibration.json')
    const own = simInputs(gpu, { dir: H100 }).inputs.calibration
    const cal = JSON.parse(readFileSync(join(H100, 'sim-calibration.json'), 'utf8'))
    writeFileSync(other, JSON.stringify({ ...cal, memoryInterference: cal.memoryInterference + 0.5 }))
    const named = simInputs(gpu, { dir: H100, calibration: other }).inputs.calibration
    assert.equal(named.memoryInterference, own.memoryInterference + 0.5)
    writeFileSync(other, JSON.stringify({ ...cal, gpu: { ...cal.gpu, name: 'NVIDIA H200' } }))
    assert.throws(
      () => simInputs(gpu, { dir: H100, calibration: other }),
      /made on NVIDIA H200 .* but the profiles are from NVIDIA H100/,
    )
  })

  it('warns of a per-profile γ whose key names no profile in the directory, and of none that does', () => {
    const gpu = loadGpu(H100)
    const other = join(mkdtempSync(join(tmpdir(), 'eclip-inputs-')), 'sim-calibration.json')
    const cal = JSON.parse(readFileSync(join(H100, 'sim-calibration.json'), 'utf8'))
    const withGammas = (gamma: Record<string, number>) => {
      writeFileSync(other, JSON.stringify({ ...cal, profileInterference: { gamma, measured: cal.measured } }))
      return simInputs(gpu, { dir: H100, calibration: other })
    }
    const ok = withGammas({ 'albert.b1.fp16': 0.8, 'vgg19.b8.fp16': 0.4 })
    assert.deepEqual(ok.warnings, [])
    assert.equal(ok.inputs.calibration.profileInterference?.['albert.b1.fp16'], 0.8)
    const typo = withGammas({ 'albert.b1.fp16': 0.8, 'albret.b1.fp16': 0.7, 'vgg19.b2.fp16': 0.4 })
    assert.equal(typo.warnings.length, 1)
    assert.match(
      typo.warnings[0] ?? '',
      /a memory interference γ for albret\.b1\.fp16, vgg19\.b2\.fp16, which name no profile in .*h100: used for no worker/,
    )
    // the same for a co-residency κ per profile
    writeFileSync(
      other,
      JSON.stringify({
        ...cal,
        profileCoresidency: { kappa: { 'alexnet.b9.fp16': 0.2 }, measured: cal.measured },
      }),
    )
    const kappa = simInputs(gpu, { dir: H100, calibration: other }).warnings
    assert.equal(kappa.length, 1)
    assert.match(kappa[0] ?? '', /a co-residency κ for alexnet\.b9\.fp16, which names no profile/)
  })

  it("reads the issue delay's jitter where the file has one, none where it has none, refuses one over the delay", () => {
    const gpu = loadGpu(H100)
    const dir = mkdtempSync(join(tmpdir(), 'eclip-inputs-'))
    const other = join(dir, 'sim-calibration.json')
    const cal = JSON.parse(readFileSync(join(H100, 'sim-calibration.json'), 'utf8'))
    const { openLoopIssueJitterUs: _j, ...fixed } = cal.realtime
    const read = (realtime: object) => {
      writeFileSync(other, JSON.stringify({ ...cal, realtime }))
      return simInputs(gpu, { dir: H100, calibration: other }).inputs.calibration.realtime
    }
    // without it the simulator's constants carry no such key: the engine's fixed delay, as before there was one
    assert.ok(!('openLoopIssueJitterUs' in (read(fixed) ?? {})))
    assert.equal(read({ ...fixed, openLoopIssueJitterUs: 7 })?.openLoopIssueJitterUs, 7)
    assert.throws(
      () => read({ ...fixed, openLoopIssueJitterUs: fixed.openLoopIssueUs + 1 }),
      /openLoopIssueJitterUs: .* more than openLoopIssueUs/,
    )
  })
})
