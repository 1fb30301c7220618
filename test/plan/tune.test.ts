// eclip-fit tuned on a backend (src/plan/tune.ts, src/execute/measured-evaluator.ts), with the simulator backend as
// the measured one: the measuring evaluator reduces a run as the simulator's evaluator does, the budget bounds the
// runs, floors are checked on the measured rates, a move must beat the best measured plan by the margin.
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import type { ExecuteBackend, RunResult, RunSpec } from '../../src/execute/backend.ts'
import { type MeasuredEvaluator, measuredEvaluator } from '../../src/execute/measured-evaluator.ts'
import { fitScoreOf, simEvaluator, simPlanner } from '../../src/execute/sim/evaluator.ts'
import { graphEdgeUs, SimBackend } from '../../src/execute/sim/index.ts'
import { simInputs } from '../../src/execute/sim/inputs.ts'
import { expandWorkers, type MixFile, type Plan, readFile } from '../../src/formats/index.ts'
import { makePlan } from '../../src/plan/index.ts'
import { loadProfileSet } from '../../src/profile/store.ts'

const root = join(import.meta.dirname, '..', '..')
const dir = join(root, 'profiles', 'h100')
const paper = readFile<MixFile>('mix', join(root, 'mixes', 'paper.yaml')).mixes

/** A paper mix at a batch on the shipped H100 profiles, with the simulator's inputs from their directory. */
function mixOf(name: string, batch: number) {
  const workers = expandWorkers(
    paper.find((m) => m.name === name) ?? (paper[0] as MixFile['mixes'][0]),
    batch,
  )
  const set = loadProfileSet(dir, workers)
  const { inputs } = simInputs(set.gpu, { dir })
  return { name, workers, ...set, inputs }
}
type Mix = ReturnType<typeof mixOf>

/** The simulator backend, counting its runs, each result passed through `rewrite` (a stand-in for what a GPU does). */
class Counting implements ExecuteBackend {
  readonly name = 'sim' as const
  readonly specs: RunSpec[] = []
  private readonly sim: SimBackend
  constructor(
    m: Mix,
    private readonly rewrite: (spec: RunSpec, r: RunResult) => RunResult = (_, r) => r,
  ) {
    this.sim = new SimBackend(m.inputs.calibration)
  }
  async run(spec: RunSpec): Promise<RunResult> {
    this.specs.push(spec)
    return this.rewrite(spec, await this.sim.run(spec))
  }
  async close() {}
}

const WINDOW = { warmupS: 0.02, windowS: 0.2 }

function evaluatorOn(backend: ExecuteBackend, m: Mix): MeasuredEvaluator {
  const { gpu, primitives, power, calibration } = m.inputs
  return measuredEvaluator(
    backend,
    { gpu, primitives, power, ...WINDOW, switchCostUs: graphEdgeUs(primitives, calibration) },
    m.workers,
    m.profiles,
  )
}

/** eclip-fit for `m`, searched on the simulator's evaluator, then tuned on `backend`. */
function tuned(
  m: Mix,
  backend: ExecuteBackend,
  budget: { candidates: number; evaluations: number; margin?: number },
  extra: { minTotalShare?: number; minShare?: number } = {},
) {
  const evaluator = evaluatorOn(backend, m)
  return makePlan(m.gpu, m.name, m.workers, m.profiles, {
    ...extra,
    policy: 'eclip-fit',
    evaluator: simEvaluator(m.inputs, m.workers, m.profiles),
    tune: {
      evaluator,
      on: evaluator.on,
      candidates: budget.candidates,
      evaluations: budget.evaluations,
      margin: budget.margin ?? 0.01,
    },
  })
}

/** Every worker's every group on the whole GPU (partition 0): the baseline's placement. */
const wholeGpu = (p: Plan) => p.workers.every((w) => w.groups.every((g) => g.partition === 0))

/** Stretches worker w's request times by factor[w] (> 1: slower), as if the GPU ran it that much slower. */
function stretch(r: RunResult, factor: readonly number[]): RunResult {
  return {
    ...r,
    workers: r.workers.map((w, i) => {
      const f = factor[i] ?? 1
      return { ...w, endUs: w.endUs.map((e, k) => (w.arrivalUs[k] ?? 0) + (e - (w.arrivalUs[k] ?? 0)) * f) }
    }),
  }
}

describe('the measuring evaluator', () => {
  it('reduces a run on the simulator backend as the simulator evaluator does, run as the bench runs a plan', async () => {
    const m = mixOf('mix1', 8)
    const planned = await simPlanner(() => m.inputs)(m.gpu, m.name, m.workers, m.profiles, {
      policy: 'eclip-fit',
    })
    assert.ok(
      planned.workers.some((w) => w.groups.length > 1),
      'a multi-group plan (graph mode)',
    )
    const base = await makePlan(m.gpu, m.name, m.workers, m.profiles, { policy: 'baseline' })
    const backend = new Counting(m)
    const measured = evaluatorOn(backend, m)
    const simulated = simEvaluator({ ...m.inputs, ...WINDOW, seed: 102 }, m.workers, m.profiles)
    for (const plan of [planned, base]) {
      const a = await measured.evaluate(plan)
      assert.deepEqual(a, await simulated.evaluate(plan), plan.policy)
      assert.ok(a.throughputRps.every((x) => x > 0))
    }
    // the bench's closed loop, graph mode (baseline: its own launch path), no output check, the tuning's window
    assert.deepEqual(
      backend.specs.map((s) => [s.mode, s.loop.kind, s.checkOutputs, s.warmupS, s.windowS]),
      [
        ['graph', 'closed', false, 0.02, 0.2],
        [null, 'closed', false, 0.02, 0.2],
      ],
    )
    assert.equal(measured.runs, 2)
    assert.deepEqual(measured.on, {
      backend: 'sim',
      gpu: 'NVIDIA H100 80GB HBM3',
      warmupS: 0.02,
      windowS: 0.2,
    })
  })
})

describe('eclip-fit tuned on a backend', () => {
  it('runs baseline, the seeds and at most the budget more, and records it', async () => {
    const m = mixOf('mix1', 8)
    const backend = new Counting(m)
    const plan = await tuned(m, backend, { candidates: 2, evaluations: 3 })
    const t = plan.solver.tuning
    assert.ok(t, 'the plan records its tuning')
    // baseline co-location, the baseline's placement, model-wise homes, the simulator's 2 best, then 3 more
    assert.equal(backend.specs.length, 1 + 2 + 2 + 3)
    assert.equal(t.evaluations, backend.specs.length)
    assert.equal(backend.specs[0]?.plan.policy, 'baseline')
    assert.ok(backend.specs.slice(1).every((s) => s.plan.policy === 'eclip-fit'))
    assert.deepEqual([t.backend, t.candidates, t.budget, t.margin], ['sim', 2, 3, 0.01])
    assert.ok(t.seconds >= 0 && t.floorsMet)
    assert.equal(plan.solver.status, 'heuristic')
    assert.match(plan.solver.notes ?? '', /TUNED on the simulator backend .*: 8 runs .*heuristic/)
    // STP as the tuning measured it, against baseline's; the worst worker's ratio
    assert.ok(
      plan.solver.stp && Math.abs(plan.solver.stp.value / plan.solver.stp.baseline - t.stpVsBaseline) < 1e-12,
    )
    assert.ok(m.workers.some((w) => w.name === t.worstWorker))
  })

  it('with no further budget, measures the seeds alone', async () => {
    const m = mixOf('mix7', 8)
    const backend = new Counting(m)
    const plan = await tuned(m, backend, { candidates: 1, evaluations: 0 })
    assert.equal(backend.specs.length, 1 + 2 + 1)
    assert.equal(plan.solver.tuning?.moves, 0)
  })

  it('keeps no move that gains less than the margin: the budget spent, the best seed kept', async () => {
    const m = mixOf('mix7', 8)
    const backend = new Counting(m)
    const plan = await tuned(m, backend, { candidates: 1, evaluations: 4, margin: 10 })
    assert.equal(backend.specs.length, 1 + 2 + 1 + 4)
    assert.equal(plan.solver.tuning?.moves, 0)
  })

  it('checks the floors on the measured rates: a plan whose worker measured under its floor is never chosen', async () => {
    const m = mixOf('mix1', 8)
    // on this "GPU" every partitioned plan runs the other workers much faster (its STP far above any other) and
    // worker 0 at `slow` × its rate; the baseline's placement runs as simulated
    const gpu = (slow: number) =>
      new Counting(m, (spec, r) =>
        spec.plan.policy === 'eclip-fit' && !wholeGpu(spec.plan)
          ? stretch(
              r,
              m.workers.map((_, i) => (i === 0 ? 1 / slow : 0.6)),
            )
          : r,
      )
    // worker 0 kept at its rate: a partitioned plan wins (so the floor below is what decides)
    const kept = await tuned(m, gpu(1), { candidates: 3, evaluations: 2 })
    assert.equal(wholeGpu(kept), false)
    assert.ok((kept.solver.tuning?.stpVsBaseline ?? 0) > 1.3)
    // worker 0 at 0.7 of its rate, under its floor of 0.9 in every partitioned plan (the simulator puts it at most a
    // few per cent above baseline's rate in them): only the baseline's placement meets the floors, however much more
    // STP the others measured
    const short = await tuned(m, gpu(0.7), { candidates: 3, evaluations: 2 })
    assert.equal(wholeGpu(short), true)
    const t = short.solver.tuning
    assert.ok(t?.fellBack && t.floorsMet && t.worstVsBaseline >= 0.9, JSON.stringify(t))
    assert.match(short.solver.notes ?? '', /the baseline's placement .* measured best/)
  })

  it('checks the guard on total requests/s on the measured rates: a plan measured short of it ranks as under a floor', async () => {
    const m = mixOf('mix1', 8)
    // on this "GPU" every partitioned plan runs as baseline co-location did with both alberts (many requests, each
    // worth little STP) at 0.93 of their rates and densenet201 (few requests, each worth much) faster, so that the
    // total comes to 0.993 of baseline's: every floor (0.9) met, STP up, total requests down. The baseline's placement,
    // its window as noisy as the p95 cap lets it be, at 0.985 of baseline co-location's rates: further short of the
    // total than any partitioned plan, but the guard's reference
    const standIn = () => {
      let base: RunResult | undefined
      let partitioned: number[] = []
      return new Counting(m, (spec, r) => {
        if (spec.plan.policy === 'baseline') {
          base = r
          const [a0, a1, d] = fitScoreOf(r).throughputRps as [number, number, number]
          partitioned = [0.93, 0.93, (0.993 * (a0 + a1 + d) - 0.93 * (a0 + a1)) / d]
        }
        if (spec.plan.policy !== 'eclip-fit' || !base) return r
        const factor = wholeGpu(spec.plan) ? [0.985, 0.985, 0.985] : partitioned
        // the same requests ending at the same times, each worker's latencies divided by its factor: its rate is
        // exactly factor × baseline's
        return {
          ...base,
          workers: base.workers.map((w, i) => ({
            ...w,
            arrivalUs: w.endUs.map((e, k) => e - (e - (w.arrivalUs[k] ?? 0)) / (factor[i] ?? 1)),
          })),
        }
      })
    }
    const total = (p: Plan) =>
      Number(/total requests\/s ([\d.]+)× baseline's; heuristic/.exec(p.solver.notes ?? '')?.[1])
    // without the guard a partitioned plan wins on STP, fewer requests served than baseline's
    const free = await tuned(m, standIn(), { candidates: 3, evaluations: 2 })
    assert.equal(wholeGpu(free), false)
    assert.ok((free.solver.tuning?.stpVsBaseline ?? 0) > 1.03, JSON.stringify(free.solver.tuning))
    assert.equal(total(free), 0.993, 'unguarded: fewer requests than baseline')
    assert.ok(free.solver.tuning?.floorsMet)
    // guarded at 1: every partitioned plan measured short of it ranks below the baseline's placement, which meets it
    // by definition, however much more STP they measured
    const kept = await tuned(m, standIn(), { candidates: 3, evaluations: 2 }, { minTotalShare: 1 })
    assert.equal(wholeGpu(kept), true)
    const t = kept.solver.tuning
    assert.ok(t?.fellBack && t.floorsMet, JSON.stringify(t))
    assert.equal(kept.params.minTotalShare, 1)
    assert.match(
      kept.solver.notes ?? '',
      /the baseline's placement .* measured best; .*floors met \(0\.9×, total requests\/s ≥ 1× baseline's\)/,
    )
    // as when the alberts' floors are what their measured rates miss, with no guard
    const floors = await tuned(m, standIn(), { candidates: 3, evaluations: 2 }, { minShare: 0.95 })
    assert.equal(wholeGpu(floors), true)
    assert.ok(floors.solver.tuning?.fellBack)
  })

  it('refuses tuning where there is no search, and a budget out of range, naming it', async () => {
    const m = mixOf('mix7', 8)
    const ev = evaluatorOn(new Counting(m), m)
    const tune = { evaluator: ev, on: ev.on, candidates: 1, evaluations: 0, margin: 0 }
    const sim = simEvaluator(m.inputs, m.workers, m.profiles)
    const plan = (o: object) => makePlan(m.gpu, m.name, m.workers, m.profiles, { policy: 'eclip-fit', ...o })
    await assert.rejects(
      makePlan(m.gpu, m.name, m.workers, m.profiles, { policy: 'eclip', evaluator: sim, tune }),
      /only eclip-fit searches .* not eclip/,
    )
    await assert.rejects(plan({ tune }), /tuning continues the search on an evaluator/)
    await assert.rejects(
      plan({ evaluator: sim, tune: { ...tune, candidates: 0 } }),
      /tune candidates must be/,
    )
    await assert.rejects(
      plan({ evaluator: sim, tune: { ...tune, evaluations: 1.5 } }),
      /tune evaluations must/,
    )
    await assert.rejects(
      plan({ evaluator: sim, tune: { ...tune, on: { ...tune.on, windowS: 0 } } }),
      /tune window must be > 0/,
    )
  })
})
