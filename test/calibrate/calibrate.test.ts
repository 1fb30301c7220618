// Calibration (src/calibrate/calibrate.ts): the fit must recover constants that made the "measurements", and refuse
// inputs it cannot compare. The measurements here are simulator runs made with known constants and a known power
// model, relabelled as GPU runs; re-simulated with the same windows and seeds they are reproduced exactly, so the
// truth is the only grid point with zero error.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { recordedPlanOptions } from '../../src/bench/resume.ts'
import {
  type Case,
  CORESIDENT_GRID,
  calibrate,
  compareRuns,
  DEFAULT_GRID,
  DEFAULT_GRIDS,
  fitLine,
  fitPower,
  gridAt,
  gridPoints,
  prepareCases,
} from '../../src/calibrate/calibrate.ts'
import { parseGrid, recordedPlanReader, replanner, runCalibrate } from '../../src/calibrate/run.ts'
import { CALIBRATION, type Calibration, defaultPowerModel } from '../../src/execute/sim/index.ts'
import {
  type Mix,
  type Plan,
  type PowerModel,
  type Results,
  type Run,
  readFile,
  type SimCalibration,
  UserError,
} from '../../src/formats/index.ts'
import type { Planner } from '../../src/plan/index.ts'
import { loadGpu, loadPrimitives, loadProfile, profilesIn } from '../../src/profile/store.ts'
import { asGpu, gpuRef, h100DirWith, prepare, simulatedRuns } from './synthetic-runs.ts'

const mixes: Mix[] = [
  { name: 'mix7', workers: [{ model: 'alexnet', count: 3 }] },
  { name: 'mix5', workers: [{ model: 'resnext101' }, { model: 'shufflenet' }] },
]
const truth: Calibration = {
  sharing: 'fair',
  saturationTolerance: 0.05,
  memoryInterference: 0.5,
  fitted: true,
  source: 'test truth',
}
const truthPower: PowerModel = {
  ...defaultPowerModel(gpuRef),
  idleW: 80,
  wPerWorkSm: 3,
  workTolerance: 0.05,
  fitted: true,
}

/** Simulated runs made with `cal` and `power`, relabelled as measured on the GPU. */
const measurements = async (cal: Calibration, power: PowerModel, mix: Mix[] = mixes): Promise<Run[]> =>
  asGpu(
    await simulatedRuns({
      cal,
      power,
      mixes: mix,
      policies: ['baseline', 'model-wise', 'kw-prealloc'],
      modes: ['stream', 'graph'],
      solo: true,
    }),
  )

describe('calibrate', () => {
  it('recovers the contention constants and the power model that made the measurements', async () => {
    const runs = await measurements(truth, truthPower)
    const cases = await prepare([
      { label: 'a', runs: runs.filter((r) => r.mix.includes('alexnet') || r.mix === 'mix7') },
      { label: 'b', runs: runs.filter((r) => !(r.mix.includes('alexnet') || r.mix === 'mix7')) },
    ])
    const report = calibrate({
      cases,
      grid: {
        sharing: ['fifo', 'fair'],
        saturationTolerance: [0.01, 0.05],
        memoryInterference: [0, 0.5, 1],
        residency: [null],
        footprint: [null],
        coresidency: [null],
        switchGraphEdgeUs: [null],
      },
      scope: 'all',
      before: CALIBRATION,
      beforePower: defaultPowerModel(gpuRef),
    })
    // sharing rule and γ must come back exactly; the synthetic kernels' demand is the same at every tolerance of
    // the grid (they scale cleanly up to a knee), so there any tolerance reproduces the runs: zero objective says so
    assert.equal(report.constants.sharing, 'fair')
    assert.equal(report.constants.memoryInterference, 0.5)
    assert.ok(report.objective !== null && report.objective < 1e-12, `objective ${report.objective}`)
    assert.ok(Math.abs(report.power.idleW - 80) < 1e-6, `idle ${report.power.idleW}`)
    assert.ok(Math.abs(report.power.wPerWorkSm - 3) < 1e-6, `W/SM ${report.power.wPerWorkSm}`)
    assert.ok(report.power.r2 > 1 - 1e-9)
    assert.equal(report.power.clamped, false)
    // the defaults were not the truth: their error shows, the fit's is gone, in and out of sample
    const all = report.rows.find((r) => r.set === 'all' && r.runs === 'all')
    assert.ok(all)
    assert.ok((all.before.objective ?? 0) > 0.01, `before ${all.before.objective}`)
    assert.ok((all.after.objective ?? 1) < 1e-12)
    assert.ok((all.after.reqPerJRel ?? 1) < 1e-9, `req/J after ${all.after.reqPerJRel}`)
    assert.ok((all.before.stp ?? 0) > 0.001, `STP before ${all.before.stp}`)
    assert.ok((all.after.stp ?? 1) < 1e-9, `STP after ${all.after.stp}`)
    assert.equal(report.heldOut.length, 2 * 3)
    for (const h of report.heldOut) assert.ok((h.after.objective ?? 1) < 1e-12, `held out ${h.checkOn}`)
    // per run, held out: every mix run of the set, its STP reproduced after the fit
    for (const h of report.heldOut.filter((x) => x.runs === 'all')) {
      const mixRuns = cases.filter((c) => c.set === h.checkOn && c.gpu.role === 'mix')
      assert.deepEqual(
        h.perRun.map((p) => p.id),
        mixRuns.map((c) => c.gpu.id),
      )
      for (const p of h.perRun) {
        assert.ok(Math.abs((p.stp.after ?? 0) - p.stp.gpu) < 1e-9, `${p.id} STP after`)
        assert.equal(p.stpVsBaseline === null, p.policy === 'baseline', p.id)
      }
    }
  })

  it('recovers a footprint and a graph edge cost from graph-mode runs', async () => {
    // measurements made with a footprint and a graph edge far from the primitives': the graph scope sees both (the
    // kernel-wise graph runs switch partitions), and only the true pair reproduces them
    const fp: Calibration = { ...truth, sharing: 'fifo', footprint: 8, switchGraphEdgeUs: 6 }
    const runs = await measurements(fp, truthPower)
    const cases = await prepare([{ label: 'a', runs: runs.filter((r) => r.mode !== 'stream') }])
    const report = calibrate({
      cases,
      grid: {
        sharing: ['fifo'],
        saturationTolerance: [0.05],
        memoryInterference: [0.5],
        residency: [null],
        footprint: [null, 4, 8],
        coresidency: [null],
        switchGraphEdgeUs: [null, 6],
      },
      scope: 'graph',
      before: CALIBRATION,
      beforePower: defaultPowerModel(gpuRef),
    })
    assert.equal(report.constants.footprint, 8)
    assert.equal(report.constants.switchGraphEdgeUs, 6)
    assert.ok(report.objective !== null && report.objective < 1e-12, `objective ${report.objective}`)
    // and the fit is not blind to them: the point without them reproduces the runs worse
    const none = calibrate({
      cases,
      grid: { ...DEFAULT_GRID, sharing: ['fifo'], saturationTolerance: [0.05], memoryInterference: [0.5] },
      scope: 'graph',
      before: CALIBRATION,
      beforePower: defaultPowerModel(gpuRef),
    })
    assert.ok(none.objective !== null && none.objective > 1e-3, `objective without them ${none.objective}`)
  })

  it('keeps a single point and fits the power model on runs none of which scores it (--keep-contention)', async () => {
    // baseline runs alone and no solo ones: nothing in the single-launch scope has a ratio to score a point on
    const runs = asGpu(
      await simulatedRuns({
        cal: truth,
        power: truthPower,
        mixes,
        policies: ['baseline'],
        modes: ['graph'],
        solo: false,
      }),
    )
    const cases = await prepare([{ label: 'a', runs }])
    const common = {
      cases,
      scope: 'single-launch' as const,
      before: CALIBRATION,
      beforePower: defaultPowerModel(gpuRef),
    }
    const kept = calibrate({ ...common, grid: gridAt(truth), kept: true })
    assert.equal(kept.objective, null)
    assert.equal(kept.points, 1)
    assert.ok(Math.abs(kept.power.wPerWorkSm - 3) < 1e-6, `W/SM ${kept.power.wPerWorkSm}`)
    // a grid to fit, even of one point, still needs runs to fit on
    for (const grid of [gridAt(truth), { ...DEFAULT_GRID, sharing: ['fifo' as const, 'fair' as const] }])
      assert.throws(() => calibrate({ ...common, grid }), /no GPU run to fit the contention constants on/)
  })

  it("scores requests/J on the system's total ratio to baseline, not the per-worker mean", async () => {
    const gpuRuns = await measurements(truth, truthPower, [mixes[1] as Mix])
    // the simulator's twin: the same runs, each partitioned run's total requests/J ratio 0.1 off, the paper's
    // per-worker mean left as it was
    const simRuns = structuredClone(gpuRuns).map((r) => {
      const m = r.metrics
      if (r.role === 'mix' && r.policy !== 'baseline')
        m.requestsPerJVsBaseline = (m.requestsPerJVsBaseline ?? 0) + 0.1
      return r
    })
    assert.ok(gpuRuns.some((r) => r.role === 'mix' && r.policy !== 'baseline'))
    const e = compareRuns(gpuRuns, simRuns)
    assert.ok(Math.abs((e.normReqPerJ ?? 0) - 0.1) < 1e-9, `ΔreqJ ${e.normReqPerJ}`)
  })

  it('fits a power line by least squares and clamps rather than go negative', () => {
    const pts = [0, 20, 60, 100].map((b, i) => ({ id: `r${i}`, workSms: b, powerW: 120 + 2.5 * b }))
    const f = fitLine(pts)
    assert.ok(Math.abs(f.idleW - 120) < 1e-9 && Math.abs(f.wPerWorkSm - 2.5) < 1e-9)
    const down = fitLine(pts.map((p) => ({ ...p, powerW: 500 - p.workSms })))
    assert.equal(down.clamped, true)
    assert.equal(down.wPerWorkSm, 0)
    assert.throws(() => fitLine(pts.slice(0, 1)), UserError)
  })

  it('chooses the right-size tolerance whose work explains the measured power', () => {
    // two kernels whose right-size moves with the tolerance (sizes 8 / 64 / 132 SMs): at 0 both need the whole
    // GPU, at 10% the first needs 64 SMs and the second 8, at 30% both 8
    const profile = {
      sizes: [8, 64, 132],
      kernels: [{ timesUs: [130, 108, 100] }, { timesUs: [52, 51, 50] }],
    }
    // a second worker whose work is 8 × 1000 SM·µs at every tolerance; the rates vary apart, so only the true
    // tolerance's work explains the power of every run (with one worker, work ∝ rate at any tolerance)
    const flat = { sizes: [8, 64, 132], kernels: [{ timesUs: [1000, 1000, 1000] }] }
    const work = (rps: number, rps2: number) => rps * (64 * 100 + 8 * 50) + rps2 * 8 * 1000
    const cases = [
      [100, 900],
      [300, 100],
      [900, 500],
      [2000, 50],
    ].map(
      ([rps = 0, rps2 = 0], i) =>
        ({
          set: 'h',
          gpu: {
            id: `r${i}`,
            workers: [{ throughputRps: rps }, { throughputRps: rps2 }],
            metrics: { meanPowerW: 60 + (4 * work(rps, rps2)) / 1e6 },
          },
          spec: { profiles: [profile, flat] },
        }) as unknown as Case,
    )
    const f = fitPower(cases)
    assert.equal(f.workTolerance, 0.1)
    assert.ok(
      Math.abs(f.idleW - 60) < 1e-6 && Math.abs(f.wPerWorkSm - 4) < 1e-6,
      `${f.idleW} ${f.wPerWorkSm}`,
    )
    assert.deepEqual(
      f.byTolerance.map((t) => t.workTolerance),
      [0, 0.05, 0.1, 0.2, 0.3, 0.5, 1],
    )
  })

  it('refuses results from another GPU than the profiles', async () => {
    const runs = (await measurements(truth, truthPower, mixes.slice(0, 1))).map((r) => ({
      ...r,
      gpu: { ...r.gpu, name: 'NVIDIA A100-SXM4-80GB', smCount: 108 },
    }))
    await assert.rejects(
      prepare([{ label: 'other', runs }]),
      (e: Error) => e instanceof UserError && /measured on NVIDIA A100.*profiles are from/.test(e.message),
    )
  })

  it('refuses results with no GPU runs', async () => {
    const runs = (await measurements(truth, truthPower, mixes.slice(0, 1))).map((r) => ({
      ...r,
      backend: 'sim' as const,
      id: `${r.key}|sim`,
    }))
    await assert.rejects(
      prepare([{ label: 'simonly', runs }]),
      (e: Error) => e instanceof UserError && /no GPU runs/.test(e.message),
    )
  })

  it("takes a run's recorded plan as it ran, and refuses one that is not the run's", async () => {
    // eclip-fit's plans depend on the planner and the calibration its search scored candidates on: a plan made again
    // later is not the one a run executed, so runs keep theirs (Run.planFile). Here: the plans of
    // results/h100/eclip-fit-v2 as the sim-vs-gpu test keeps them (fixtures/h100-eclip-fit-v2-plans.json).
    const h100 = 'profiles/h100'
    const g = loadGpu(h100)
    const set = 'results/h100/eclip-fit-v2/batch1'
    const fixture = JSON.parse(
      readFileSync('test/measure/fixtures/h100-eclip-fit-v2-plans.json', 'utf8'),
    ) as { plans: Record<string, Plan> }
    const src = JSON.parse(readFileSync(join(set, 'results.json'), 'utf8')) as Results
    const runs = src.runs.filter((r) => r.backend === 'gpu' && r.policy === 'eclip-fit' && r.mix === 'mix4')
    assert.equal(runs.length, 1)
    const primitives = loadPrimitives(h100, g)
    assert.ok(primitives)
    const neverPlan: Planner = async () => {
      throw new Error('a run with a recorded plan is not planned again')
    }
    const prep = (recordedPlan: (r: Run) => Plan | undefined) =>
      prepareCases({
        sets: [{ label: 'fit', runs, recordedPlan }],
        gpu: g,
        profilesFor: (ws) => ws.map((w) => loadProfile(h100, g, w.model, w.batch, w.dtype)),
        primitives,
        planner: neverPlan,
        requestsPerWindow: 40,
        minWindowS: 0.1,
        maxWindowS: 1,
      })
    const cases = await prep((r) => fixture.plans[`${set}|${r.id}`])
    assert.equal(cases.length, 1)
    assert.deepEqual(
      cases[0]?.spec.plan.workers.map((w) => w.groups.length - 1),
      runs[0]?.workers.map((w) => w.switchesPerRequest),
    )
    assert.ok(cases[0]?.spec.plan.workers.some((w) => w.groups.length > 1))
    // another run's plan (the paper's eclip on the same mix) is not the one this run executed
    await assert.rejects(
      prep(() => fixture.plans[`${set}|mix4|eclip|graph|b1|gpu`]),
      (e: Error) =>
        e instanceof UserError &&
        /plan recorded with it.* differs from the one the run executed/.test(e.message),
    )
  })

  it('makes a plan again where the recorded plan file is missing, and reads it where it is there', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eclip-cal-'))
    const file = join(dir, 'results.json')
    const fixture = JSON.parse(
      readFileSync('test/measure/fixtures/h100-eclip-fit-v2-plans.json', 'utf8'),
    ) as { plans: Record<string, Plan> }
    const plan = Object.values(fixture.plans)[0] as Plan
    mkdirSync(join(dir, 'plans'))
    writeFileSync(join(dir, 'plans', 'kept.plan.json'), JSON.stringify(plan))
    const warnings: string[] = []
    const read = recordedPlanReader(file, (w) => warnings.push(w))
    const run = (planFile: string | null) => ({ planFile }) as Run
    assert.equal(read(run('plans/gone.plan.json')), undefined)
    assert.equal(read(run('plans/gone2.plan.json')), undefined)
    assert.equal(read(run(null)), undefined)
    assert.equal(warnings.length, 1)
    assert.match(warnings[0] ?? '', /recorded plans not found.*made again/)
    assert.deepEqual(read(run('plans/kept.plan.json')), plan)
  })

  it('makes a missing plan again with the options its bench recorded', async () => {
    // switch-budget's 56-switch arm: mix2's eclip-fit plan used all 56 of densenet201's switches; made again at the
    // default budget (14) it is not the plan the run executed
    const dir = 'profiles/h200'
    const file = 'results/h200/switch-budget/b56/results.json'
    const results = readFile<Results>('results', file)
    const g = loadGpu(dir)
    const primitives = loadPrimitives(dir, g)
    assert.ok(primitives)
    const runs = results.runs.filter(
      (r) => r.backend === 'gpu' && r.policy === 'eclip-fit' && r.mix === 'mix2',
    )
    assert.deepEqual(
      runs.map((r) => r.workers.map((w) => w.switchesPerRequest)),
      [[0, 56]],
    )
    const options = recordedPlanOptions(file, results.provenance.options)
    assert.equal(options.switchMax, 56)
    const prep = (planner: Planner) =>
      prepareCases({
        sets: [{ label: 'b56', runs, planner }],
        gpu: g,
        profilesFor: profilesIn(dir, g),
        primitives,
        planner: async () => assert.fail("the set's own planner plans its runs"),
        requestsPerWindow: 40,
        minWindowS: 0.1,
        maxWindowS: 1,
      })
    const cases = await prep(replanner(dir, primitives, () => {}, options))
    assert.deepEqual(
      cases[0]?.spec.plan.workers.map((w) => w.groups.length - 1),
      [0, 56],
    )
    await assert.rejects(
      prep(replanner(dir, primitives, () => {})),
      (e: Error) => e instanceof UserError && /made again from the profiles differs/.test(e.message),
    )
    // what no bench records is refused, naming the file
    assert.throws(
      () => recordedPlanOptions(file, { '--switch-max': 'many' }),
      /b56\/results\.json: its recorded --switch-max "many" is no value eclip bench records/,
    )
    assert.deepEqual(recordedPlanOptions(file, undefined), {})
  })

  it('searches the co-resident rule with its own axes by default, beside fifo and fair', () => {
    const all = gridPoints(DEFAULT_GRIDS)
    assert.equal(all.length, gridPoints(DEFAULT_GRID).length + gridPoints(CORESIDENT_GRID).length)
    const co = all.filter((p) => p.sharing === 'coresident')
    assert.ok(co.length > 0)
    // every co-resident point sets the constants the rule shares by; no whole-SM point carries them
    for (const p of co)
      assert.ok(p.residency && p.footprint && p.coresidency !== undefined, JSON.stringify(p))
    for (const p of all.filter((q) => q.sharing !== 'coresident'))
      assert.ok(p.residency === undefined && p.coresidency === undefined, JSON.stringify(p))
    // the H100's shipped point is one of them
    assert.ok(
      co.some(
        (p) =>
          p.residency === 0.5 && p.footprint === 1 && p.coresidency === 0.35 && p.memoryInterference === 0.5,
      ),
    )
  })

  it('narrows the grid to the axes given and refuses what is not one', () => {
    const g = parseGrid('sharing=fifo; gamma=0,0.25')
    assert.deepEqual(g.sharing, ['fifo'])
    assert.deepEqual(g.memoryInterference, [0, 0.25])
    assert.deepEqual(g.saturationTolerance, DEFAULT_GRID.saturationTolerance)
    assert.deepEqual(parseGrid('residency=none,4').residency, [null, 4])
    assert.deepEqual(parseGrid('footprint=none,4').footprint, [null, 4])
    assert.deepEqual(parseGrid('switch=none,0,3').switchGraphEdgeUs, [null, 0, 3])
    // over a calibration's one point: the axes not given stay its constants; every point of the product, the last
    // axis fastest
    const one = gridAt({ sharing: 'fifo', saturationTolerance: 0.01, memoryInterference: 0.5, footprint: 2 })
    const narrowed = parseGrid('residency=none,4;gamma=0.35,0.5', one)
    assert.deepEqual(narrowed.saturationTolerance, [0.01])
    assert.deepEqual(narrowed.footprint, [2])
    assert.deepEqual(narrowed.switchGraphEdgeUs, [null])
    assert.deepEqual(
      gridPoints(narrowed).map((p) => [p.memoryInterference, p.residency ?? null]),
      [
        [0.35, null],
        [0.35, 4],
        [0.5, null],
        [0.5, 4],
      ],
    )
    for (const bad of [
      'sharing=mps',
      'gamma=',
      'gamma=-1',
      'tolerance=x',
      'beta=1',
      'residency=0',
      'residency=x',
      'footprint=0',
      'footprint=-2',
      'switch=x',
      'switch=-1',
    ])
      assert.throws(() => parseGrid(bad), UserError, bad)
  })

  it('writes a new contention fit beside the real-time and MPS constants it does not fit', async () => {
    // the DISB runs' recorded plans, one grid point: the real-time and MPS blocks of the file it replaces are kept
    // as they were (a file with each profile's own γ too: fitted against the constants replaced, they do not outlive
    // them)
    const out = mkdtempSync(join(tmpdir(), 'eclip-cal-rt-'))
    const before: SimCalibration = {
      ...readFile<SimCalibration>(
        'sim-calibration',
        'results/h100/profile-interference/sim-calibration.json',
      ),
      mps: {
        clientRate: { '1': 0.95, '8': 0.96 },
        measured: { date: '2026-11-30', method: 'test', tool: 'test' },
      },
    }
    assert.ok(before.realtime && before.profileInterference)
    const r = await runCalibrate({
      results: ['results/h100/disb/gpu-bench/results.json'],
      profiles: h100DirWith(before),
      out,
      fitOn: 'single-launch',
      grid: 'sharing=fifo;tolerance=0.01;gamma=0.25',
    })
    const written = readFile<SimCalibration>('sim-calibration', join(out, 'sim-calibration.json'))
    assert.deepEqual(r.written, [join(out, 'sim-calibration.json'), join(out, 'power.json')])
    assert.equal(written.memoryInterference, 0.25)
    assert.deepEqual(written.realtime, before.realtime)
    assert.deepEqual(written.mps, before.mps)
    assert.equal(written.profileInterference, undefined)
  })

  it('the CLI says so in one line (exit 2) for a results file with no GPU runs', () => {
    const dir = mkdtempSync(join(tmpdir(), 'eclip-cal-'))
    const file = join(dir, 'results.json')
    const src = JSON.parse(readFileSync('results/h200/batch8/results.json', 'utf8'))
    src.runs = src.runs.filter((r: Run) => r.backend === 'sim')
    writeFileSync(file, JSON.stringify(src))
    const r = spawnSync(
      'node',
      ['bin/eclip.mjs', 'calibrate', '--results', file, '--profiles', 'profiles/h200'],
      {
        encoding: 'utf8',
      },
    )
    assert.equal(r.status, 2, r.stderr)
    assert.match(r.stderr, /no GPU runs/)
  })
})
