// eclip-rt's best-effort floors with the real-time requests in (src/execute/sim/realtime-floors.ts): the whole
// workload simulated under the plan and under baseline, each best-effort worker held to its floor of baseline's rate.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { simInputs } from '../../src/execute/sim/inputs.ts'
import { realtimeFloorCheck } from '../../src/execute/sim/realtime-floors.ts'
import type { Profile, WorkerSpec } from '../../src/formats/index.ts'
import { makePlan } from '../../src/plan/index.ts'
import { gpu, profileOf, scaling } from './fixtures.ts'

// a real-time model of 10 kernels of 100 µs from 64 SMs up, on a uniform 300 req/s (busy about 30% of the time);
// best-effort ones of 20 kernels of 50 µs that want the whole GPU
const rtProf = profileOf(
  'vgg19',
  Array.from({ length: 10 }, () => scaling(100, 64)),
)
const beProf = (m: string) =>
  profileOf(
    m,
    Array.from({ length: 20 }, () => scaling(50, 132)),
  )
const base = { batch: 1, dtype: 'fp16' as const }
const rt: WorkerSpec = {
  ...base,
  name: 'vgg19#0',
  model: 'vgg19',
  priority: 'realtime',
  sloMs: 10,
  arrival: { kind: 'uniform', rate: 300 },
}
const be = (name: string, minShare?: number): WorkerSpec => ({
  ...base,
  name,
  model: name.split('#')[0] as string,
  priority: 'best-effort',
  ...(minShare === undefined ? {} : { minShare }),
})
const inputs = { ...simInputs(gpu).inputs, seed: 1 }

async function check(ws: WorkerSpec[], ps: Profile[], minShare?: number) {
  const plan = await makePlan(gpu, 'm', ws, ps, { policy: 'eclip-rt' })
  return realtimeFloorCheck(inputs, gpu, plan, ws, ps, minShare)
}

describe('eclip-rt: best-effort floors with the real-time requests in', () => {
  const ws = [rt, be('resnet152#1'), be('densenet201#2')]
  const ps = [rtProf, beProf('resnet152'), beProf('densenet201')]

  it('gives each best-effort worker its rate under the plan ÷ under baseline, none for the real-time one', async () => {
    const c = await check(ws, ps, 0)
    assert.ok(c)
    assert.equal(c.ratios[0], null)
    // the gate stops best-effort work while the real-time requests (~30% of the time) run; baseline runs it beside them
    for (const r of c.ratios.slice(1)) assert.ok(r !== null && r > 0.5 && r < 0.97, `ratio ${r}`)
    assert.deepEqual(c.short, [])
    assert.ok(!c.note.includes('; '), 'one plan note')
    assert.match(
      c.note,
      /^with the real-time requests in \(the whole workload simulated, 3 s\): .*resnet152#1 0\.\d{3}×.*, every floor met$/,
    )
  })

  it('names each worker short of its floor, by how much, with a per-worker minShare over the plan-wide one', async () => {
    const c = await check([rt, be('resnet152#1', 0), be('densenet201#2')], ps, 0.99)
    assert.ok(c)
    assert.equal(c.short.length, 1)
    const r = c.ratios[2] as number
    assert.equal(
      c.short[0],
      `densenet201#2 (densenet201) at ${r.toFixed(3)}× its baseline throughput, floor 0.99× (short by ${(0.99 - r).toFixed(3)})`,
    )
    assert.match(
      c.note,
      /^WARNING: 1 best-effort floor\(s\) NOT met with the real-time requests in \(the whole workload simulated, 3 s\), the real-time workers coming first: densenet201#2/,
    )
  })

  it('has nothing to check without both real-time and best-effort workers', async () => {
    assert.equal(await check(ws.slice(1), ps.slice(1)), null)
    assert.equal(await check([rt], [rtProf]), null)
  })
})
