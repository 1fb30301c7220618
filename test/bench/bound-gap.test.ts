// bench/bound-gap.ts, which the H100 floors series' README reads the gap to the STP bound from: on that series'
// recorded plans, baseline runs every kernel on the whole GPU, mix5's floored plan is baseline's placement, memory
// interference only slows runs down, and the bound at the simulator's (tighter) saturation tolerance is the lower
// one.
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { boundGap, gapText } from '../../bench/bound-gap.ts'

const ROOT = join(import.meta.dirname, '..', '..')

describe('bound-gap', () => {
  it('reads the recorded plans and re-simulates them under each variant', async () => {
    const gap = await boundGap(
      [join(ROOT, 'results/h100/eclip-fit-floors/batch8/results.json')],
      join(ROOT, 'profiles/h100'),
      { requests: 40, minS: 0.1, maxS: 1 },
    )
    assert.equal(gap.rows.length, 14)
    assert.deepEqual(gap.variants, ['calibration', 'γ 0', 'γ 0, fair'])
    for (const r of gap.rows) {
      if (r.policy === 'baseline') {
        assert.ok(
          r.wholeGpuShare.every((x) => x === 1),
          `${r.mix}: baseline off the whole GPU`,
        )
        assert.equal(r.plannedVsBaseline, null)
      } else
        assert.ok(
          r.plannedVsBaseline !== null && r.plannedVsBaseline >= 1 - 1e-9,
          `${r.mix}: planned below baseline`,
        )
      assert.ok(r.boundAtSaturation <= r.bound, `${r.mix}: the tighter tolerance gave a higher bound`)
      const a = r.sim.calibration?.stp ?? Number.NaN
      const b = r.sim['γ 0']?.stp ?? Number.NaN
      assert.ok(b >= a - 1e-9, `${r.mix} ${r.policy}: STP ${b} without memory interference < ${a} with it`)
    }
    const mix5 = gap.rows.find((r) => r.mix === 'mix5' && r.policy !== 'baseline')
    assert.deepEqual(mix5?.wholeGpuShare, [1, 1])
    assert.equal(mix5?.plannedVsBaseline, 1)
    assert.match(gapText(gap), /^mix +policy +bound +bound@sat/)
  })
})
