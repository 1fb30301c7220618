// The simulator's MPS (src/execute/sim/mps.ts: the caps, and the calibration's MPS client rate) checked against the
// H200's recorded capped `mps` runs, which that rate was not fitted on: it was measured on MPS with no caps
// (results/h200/mps-unlimited, and the mps-unlimited runs of mps-b1's U1 and U4), these are the `mps` runs of
// results/h200/mps-b1 and mps-b8 (the 13 mixes at batch 1 and 8). Each run and the baseline run of its bench process
// are re-simulated with the plans they recorded, and the simulated STP ÷ baseline's STP (the profiles' solo rates on
// both sides, as the bench reports it without solo runs) is held against the GPU's. The held-out check of the other
// policies (sim-vs-gpu-h200.test.ts) leaves MPS runs out.
// TARGET: the STP tolerance; GUARD: what the simulator meets today.
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { calibrationFrom } from '../../src/execute/sim/index.ts'
import { type Plan, type Results, type Run, readFile, type SimCalibration } from '../../src/formats/index.ts'
import { profileSoloStp, simulatorOf } from './sim-vs-gpu.ts'

const ROOT = join(import.meta.dirname, '..', '..')
const SETS = [
  ...['Q1', 'Q4', 'U1', 'U4'].map((p) => `results/h200/mps-b1/${p}`),
  ...['M1', 'M4', 'N1', 'N4'].map((p) => `results/h200/mps-b8/${p}`),
]
/** The tolerance on a run's STP ÷ baseline's STP (#18). */
const TARGET = 0.08
/** What the simulator meets today: each run's |simulated ÷ measured − 1| and the mean over each batch size's runs. */
const GUARD = { perRun: 0.1, mean: 0.045 }
/**
 * Runs held to a guard of their own: more6 at batch 1 (2 × albert, vgg19, alexnet), simulated under the GPU's STP since
 * the batch-1 γ's per profile (albert's 0.81 where batch 1 had 0.5) were shipped for the plans they make
 * (profiles/h200/README.md says what they cost here).
 */
const GUARD_EXCEPTIONS: Record<string, number> = { 'mps-b1/U4 more6': 0.125 }

interface Row {
  run: string
  batch: number
  gpu: number
  sim: number
}

describe('the simulator against recorded H200 MPS runs (capped) it was not calibrated on', () => {
  const sim = simulatorOf({ profiles: 'profiles/h200' })
  const stpOf = (r: Run) => profileSoloStp(sim, r)
  let memo: Row[] | undefined
  const rows = (): Row[] => {
    memo ??= SETS.flatMap((set) => {
      const runs = readFile<Results>('results', join(ROOT, set, 'results.json')).runs.filter(
        (r) => r.backend === 'gpu' && r.role === 'mix',
      )
      const again = (r: Run) => {
        assert.ok(r.planFile, `${set} ${r.id}: no planFile recorded`)
        return sim.resimulate(r, readFile<Plan>('plan', join(ROOT, set, r.planFile)))
      }
      return runs
        .filter((r) => r.policy === 'mps')
        .map((r) => {
          const base = runs.find((b) => b.mix === r.mix && b.policy === 'baseline')
          assert.ok(base, `${set}: no baseline run of ${r.mix}`)
          return {
            run: `${set.split('/').slice(-2).join('/')} ${r.mix}`,
            batch: r.workers[0]?.batch as number,
            gpu: stpOf(r) / stpOf(base),
            sim: stpOf(again(r)) / stpOf(again(base)),
          }
        })
    })
    return memo
  }
  const err = (r: Row) => Math.abs(r.sim / r.gpu - 1)

  it('uses a calibration that measured what an MPS client costs', () => {
    const file = readFile<SimCalibration>('sim-calibration', join(ROOT, 'profiles/h200/sim-calibration.json'))
    assert.ok(file.mps, 'profiles/h200/sim-calibration.json: no mps.clientRate')
    assert.ok(calibrationFrom(file).mpsClientRate)
  })

  it("re-simulates each capped run's STP ÷ baseline's within the guard", (t) => {
    const all = rows()
    assert.equal(all.length, 26)
    for (const r of all)
      t.diagnostic(
        `${r.run.padEnd(20)} STP ÷ baseline's: GPU ${r.gpu.toFixed(3)}, simulated ${r.sim.toFixed(3)} (${(100 * (r.sim / r.gpu - 1)).toFixed(1)}%)`,
      )
    for (const r of all)
      assert.ok(
        err(r) <= (GUARD_EXCEPTIONS[r.run] ?? GUARD.perRun),
        `${r.run}: ${(100 * err(r)).toFixed(1)}% off`,
      )
    for (const batch of [1, 8]) {
      const xs = all.filter((r) => r.batch === batch)
      const mean = xs.reduce((a, r) => a + err(r), 0) / xs.length
      t.diagnostic(`batch ${batch}: mean |error| ${(100 * mean).toFixed(1)}% over ${xs.length} runs`)
      assert.ok(mean <= GUARD.mean, `batch ${batch}: mean |error| ${(100 * mean).toFixed(1)}%`)
    }
  })

  it("meets issue #18's STP tolerance on every capped run", {
    todo: 'not met on every run yet: the runs past it are listed',
  }, () => {
    assert.deepEqual(
      rows()
        .filter((r) => err(r) > TARGET)
        .map((r) => `${r.run}: ${(100 * err(r)).toFixed(1)}% off`),
      [],
    )
  })
})
