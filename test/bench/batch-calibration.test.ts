import assert from 'node:assert/strict'
import { join } from 'node:path'
import { test } from 'node:test'
import { profileKeysAt, withBatchConstants } from '../../bench/batch-calibration.ts'
import { readFile, type SimCalibration } from '../../src/formats/index.ts'

const h100 = join(import.meta.dirname, '..', '..', 'profiles', 'h100')

test('batch-calibration: γ and κ for one batch’s profiles, a key already set kept, the rest copied', () => {
  const b8 = profileKeysAt(h100, 8)
  assert.ok(b8.length >= 7, b8.join(','))
  for (const k of b8) assert.match(k, /\.b8\.fp16$/)
  assert.ok(!b8.some((k) => k.includes('.b1.')))
  const shipped = readFile<SimCalibration>('sim-calibration', join(h100, 'sim-calibration.json'))
  const measured = { date: '2026-12-06', method: 'test', tool: 'test', host: 'vm', gpu: shipped.gpu.name }
  // one key named already (as a candidate built on another would have it): kept, the others set
  const before = { ...shipped, profileInterference: { gamma: { [b8[0] as string]: 0.7 }, measured } }
  const out = withBatchConstants(before, b8, 0.3, 0.4, measured)
  assert.equal(out.profileInterference?.gamma[b8[0] as string], 0.7)
  for (const k of b8.slice(1)) assert.equal(out.profileInterference?.gamma[k], 0.3)
  for (const k of b8) assert.equal(out.profileCoresidency?.kappa[k], 0.4)
  assert.equal(out.memoryInterference, shipped.memoryInterference)
  assert.deepEqual(out.gpu, shipped.gpu)
})
