// The evaluator that reports eclip-fit's progress (src/plan/progress.ts): reports on its interval, counts every
// score, and leaves the scores, and so the plan, as they are.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { type SimPlannerOptions, simPlanner } from '../../src/execute/sim/evaluator.ts'
import type { Plan, WorkerSpec } from '../../src/formats/index.ts'
import type { FitScore } from '../../src/plan/fit.ts'
import { makePlan, type PlanEvaluator } from '../../src/plan/index.ts'
import { progressLine, withProgress } from '../../src/plan/progress.ts'
import { syntheticH100Gpu, syntheticProfile } from '../../src/profile/synthetic.ts'
import { shortSimEvaluator, shortSimInputs } from './helpers.ts'

const score = (x: number): FitScore => ({ throughputRps: [x], p95Us: [1000 / x], powerW: 300 })

describe('eclip-fit progress', () => {
  it('reports once the interval has passed, counting every score; scores and solo rates pass through', async () => {
    let clock = 0
    let n = 0
    // methods reading `this`: the wrapper calls them on the evaluator
    class Inner implements PlanEvaluator {
      switchCostUs = 7
      base = 100
      async evaluate() {
        return score(++n)
      }
      async evaluateAt(_p: Plan, seed: number) {
        return score(this.base + seed)
      }
      async soloRps(i: number) {
        return this.base + i
      }
    }
    const reports: [number, number][] = []
    const ev = withProgress(
      new Inner(),
      (k, s) => reports.push([k, s]),
      5,
      () => clock,
    )
    const plan = {} as Plan
    clock = 2000 // the clock starts at the first score asked for, not when the wrapper is made
    assert.deepEqual(await ev.evaluate(plan), score(1))
    clock = 6000
    assert.deepEqual(await ev.evaluate(plan), score(2))
    assert.deepEqual(reports, [], 'nothing before 5 s')
    clock = 7000
    assert.deepEqual(await ev.evaluateAt?.(plan, 3), score(103))
    assert.deepEqual(reports, [[3, 5]])
    clock = 11_000
    await ev.evaluate(plan)
    assert.equal(reports.length, 1, 'the next report 5 s after the last one')
    clock = 12_000
    await ev.evaluate(plan)
    assert.deepEqual(reports, [
      [3, 5],
      [5, 10],
    ])
    assert.equal(await ev.soloRps?.(2), 102)
    assert.equal(ev.switchCostUs, 7)
    assert.equal(progressLine(5, 10.4), 'eclip-fit: 5 plans run on the simulator in 10 s')
  })

  it('a rejected score rejects as it did and is not counted; a report that throws loses no score', async () => {
    let clock = 0
    let fail = true
    const inner: PlanEvaluator = {
      switchCostUs: 0,
      evaluate: async () => {
        if (fail) throw new Error('no such plan')
        return score(1)
      },
    }
    const reports: number[] = []
    const ev = withProgress(
      inner,
      (k) => {
        reports.push(k)
        throw new Error('the terminal is gone')
      },
      5,
      () => clock,
    )
    await assert.rejects(ev.evaluate({} as Plan), /no such plan/)
    fail = false
    clock = 5000
    assert.deepEqual(await ev.evaluate({} as Plan), score(1))
    assert.deepEqual(reports, [1], 'the rejected score not counted')
  })

  it('an evaluator without seeds or solo rates stays without them', () => {
    const ev = withProgress({ switchCostUs: 0, evaluate: async () => score(1) }, () => {})
    assert.equal(ev.evaluateAt, undefined)
    assert.equal(ev.soloRps, undefined)
  })

  it('eclip-fit makes the same plan with it as without it', async () => {
    const gpu = syntheticH100Gpu()
    const spec = (model: string): WorkerSpec => ({ name: `${model}#0`, model, batch: 1, dtype: 'fp16' })
    const workers = [spec('albert'), spec('vgg19'), spec('shufflenet')]
    const profiles = [
      syntheticProfile({ model: 'albert', batch: 1, kernels: 80 }),
      syntheticProfile({ model: 'vgg19', batch: 1, kernels: 40 }),
      syntheticProfile({ model: 'shufflenet', batch: 1, kernels: 60 }),
    ]
    const evaluator = () => shortSimEvaluator(gpu, workers, profiles)
    let reported = 0
    // every score reported: the wrapper's counting and reporting run on the search's every candidate
    const watched = withProgress(evaluator(), () => reported++, 0)
    const opts = { policy: 'eclip-fit', fitStarts: 'one' } as const
    const a = await makePlan(gpu, 'm', workers, profiles, { ...opts, evaluator: watched })
    const b = await makePlan(gpu, 'm', workers, profiles, { ...opts, evaluator: evaluator() })
    const strip = (p: Plan) => ({ ...p, createdAt: '', solver: { ...p.solver, solveMs: 0 } })
    assert.deepEqual(strip(a), strip(b))
    assert.ok(reported > 10, `${reported} scores reported`)
  })

  it("the simulator's planner says each mix's progress when asked, and plans as without", async () => {
    const gpu = syntheticH100Gpu()
    const spec = (model: string): WorkerSpec => ({ name: `${model}#0`, model, batch: 1, dtype: 'fp16' })
    const workers = [spec('albert'), spec('shufflenet')]
    const profiles = [
      syntheticProfile({ model: 'albert', batch: 1, kernels: 60 }),
      syntheticProfile({ model: 'shufflenet', batch: 1, kernels: 40 }),
    ]
    const said: string[] = []
    const extra = { fitStarts: 'one' } as const
    const plan = (progress?: SimPlannerOptions['progress']) =>
      simPlanner(() => shortSimInputs(gpu), { options: extra, ...(progress ? { progress } : {}) })(
        gpu,
        'm',
        workers,
        profiles,
        {
          policy: 'eclip-fit',
        },
      )
    const a = await plan({ say: (mix, line) => said.push(`${mix}: ${line}`), everyS: 0 })
    const b = await plan()
    const strip = (p: Plan) => ({ ...p, createdAt: '', solver: { ...p.solver, solveMs: 0 } })
    assert.deepEqual(strip(a), strip(b))
    assert.ok(said.length > 10, `${said.length} lines`)
    const counts = said.map((l) =>
      Number(/^m: eclip-fit: (\d+) plans run on the simulator in \d+ s$/.exec(l)?.[1]),
    )
    assert.deepEqual(
      counts,
      said.map((_, i) => i + 1),
      'one line per score, counted from the first',
    )
  })
})
