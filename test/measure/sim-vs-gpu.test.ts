// The simulator checked against the GPU: recorded H100 runs re-simulated with the plans they executed, their seeds and
// loops, and the shipped calibration (profiles/h100: sim-calibration.json, power.json). That calibration was fitted on
// other runs — the contention constants (sharing rule, footprint and graph-edge cost included) on results/h100/batch1 and batch8,
// the power model on those and eclip-fit/batch1, eclip-fit/batch8 —: the test checks that its provenance names
// none of the series below, so these runs are held out. Seven series:
// - results/h100/eclip-fit-v2 (baseline, model-wise, eclip and eclip-fit at batch 1 and 8), with the plans made again
//   (fixtures/h100-eclip-fit-v2-plans.json, made by fixtures/make-h100-plans.ts: the series kept no plan files);
// - results/h100/eclip-fit-floors (baseline and the floored eclip-fit at batch 8, run twice), with the plan files
//   recorded beside each run (Run.planFile);
// - results/h100/profile-retime-fit (baseline and eclip-fit, paper mixes at batch 8 and 1, ours at batch 8), planned
//   and simulated with the profiles as shipped now (request latencies timed without the profiler), plans recorded;
// - results/h100/coresident-plans (baseline and eclip-fit, paper mixes at batch 8 and 1, ours at batch 8: the arm
//   planned with the shipped calibration), plans recorded;
// - results/h100/headline-priorities (baseline and eclip-fit over the paper's and our mixes, at batch 1 with and
//   without --stream-priorities and at batch 8 with it: raised workers' streams re-simulated as raised), plans recorded;
// - results/h100/tuned-priorities (baseline and eclip-fit tuned on the GPU, with and without measured priorities, the
//   13 mixes at batch 1, each recorded in five parts, the measured priorities twice, and four of our mixes with the
//   floors' margin, four with the floors' slack), plans recorded;
// - results/h100/tuned-priorities-b8 (the same at batch 8: not tuned, with and without the simulator's priorities,
//   tuned with and without measured priorities, two mixes and then all 13 tuned with the margins on p95 and floors,
//   and more3 once more with the floors as given; seven mixes tuned with a deeper budget, two with the floors at 0.85,
//   more4 with a second search's seeds, then the nine mixes where those seeds differ), plans recorded.
// Every plan is checked against each run's switches and kernels per request.
//
// What is compared, per run: STP relative to the same mix's baseline STP (the headline's ratio), STP with the
// profiles' whole-GPU rates as both backends' solo rates (a weighted sum of raw req/s, the same weights on both sides;
// the STP the bench reports when it makes no solo runs), and each worker's throughput relative to its baseline
// (normVsBaseline). Printed beside them, not held: STP with each backend's own solo runs (the GPU's from
// results/h100/batch{1,8}: neither series made any) — the simulator's solo rate is its profile's whole-GPU latency,
// where the GPU's solo runs ran up to 15% faster at batch 1, so that STP mostly measures the profiles' solo gap — and
// raw req/s per worker. TARGET: the issue's tolerances; GUARD: what the simulator meets today. The numbers are in the
// test's diagnostics (node --test prints them).
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { replaySpec } from '../../src/calibrate/calibrate.ts'
import { calibrationFrom, simulate } from '../../src/execute/sim/index.ts'
import {
  type Plan,
  type PowerModel,
  type Profile,
  type Results,
  type Run,
  readFile,
  type SimCalibration,
  type WorkerSpec,
} from '../../src/formats/index.ts'
import { attachProfileRefs, buildRun, normalise, soloMixName } from '../../src/measure/metrics.ts'
import { stp } from '../../src/measure/system.ts'
import { makePlan } from '../../src/plan/index.ts'
import { profilesOfPlan } from '../../src/profile/gemm-target.ts'
import { DEFAULT_TOLERANCE } from '../../src/profile/rightsize.ts'
import { loadGpu, loadPrimitives, profilesIn } from '../../src/profile/store.ts'

const ROOT = join(import.meta.dirname, '..', '..')
const PROFILES = join(ROOT, 'profiles/h100')
const PLANS = join(import.meta.dirname, 'fixtures', 'h100-eclip-fit-v2-plans.json')
/** The series whose runs recorded the plans they executed (Run.planFile, beside results.json). */
const RECORDED = [
  'results/h100/eclip-fit-floors/batch8',
  'results/h100/eclip-fit-floors/batch8-repeat',
  'results/h100/eclip-fit-floors/batch1',
  'results/h100/eclip-fit-floors/more-batch8',
  'results/h100/profile-retime-fit/b8',
  'results/h100/profile-retime-fit/b1',
  'results/h100/profile-retime-fit/more-b8',
  'results/h100/coresident-plans/b8-co',
  'results/h100/coresident-plans/b1-co',
  'results/h100/coresident-plans/more-co',
  'results/h100/headline-priorities/b1-plain',
  'results/h100/headline-priorities/b1-prio',
  'results/h100/headline-priorities/b8-prio',
  ...['a1', 'a2', 'q3', 'q4', 'q5'].map((p) => `results/h100/tuned-priorities/tuned/${p}`),
  ...['p1', 'p2', 'p3', 'p4', 'p5'].map((p) => `results/h100/tuned-priorities/tuned-prio/${p}`),
  ...['m1a1', 'm1a2', 'm1b1', 'm1b2', 'm1c'].map((p) => `results/h100/tuned-priorities/tuned-margin/${p}`),
  ...['f1', 'f2'].map((p) => `results/h100/tuned-priorities/tuned-floor-margin/${p}`),
  ...['untuned/u8p', 'untuned/u8m', 'untuned-prio/s8p', 'untuned-prio/s8m'].map(
    (p) => `results/h100/tuned-priorities-b8/${p}`,
  ),
  ...['p8a1', 'p8a2', 'p8b1', 'p8b2', 'p8c'].map((p) => `results/h100/tuned-priorities-b8/tuned-prio/${p}`),
  ...['t8a1', 't8a2', 't8b1', 't8b2', 't8c'].map((p) => `results/h100/tuned-priorities-b8/tuned/${p}`),
  'results/h100/tuned-priorities-b8/tuned-margins/g8',
  ...['q1', 'q2', 'q3', 'q4', 'q5'].map((p) => `results/h100/tuned-priorities-b8/tuned-plans2/${p}`),
  'results/h100/tuned-priorities-b8/floor-margin-0/r3',
  ...['d2', 'd3', 'd5', 'd6', 'd13', 'd14', 'd15'].map((p) => `results/h100/tuned-priorities-b8/deep/${p}`),
  ...['f14', 'f15'].map((p) => `results/h100/tuned-priorities-b8/floor-085/${p}`),
  'results/h100/tuned-priorities-b8/sim-slack/s14',
  ...['a', 'b', 'c', 'd', 'e', 'm1'].map((p) => `results/h100/tuned-priorities-b8/sim-slack/${p}`),
  ...['t1', 't2'].map((p) => `results/h100/tuned-priorities/sim-slack/${p}`),
]
/** The series names (the folder under results/h100) the calibration must not have been fitted on. */
const SERIES = [
  'eclip-fit-v2',
  'eclip-fit-floors',
  'profile-retime-fit',
  'coresident-plans',
  'headline-priorities',
  'tuned-priorities',
  'tuned-priorities-b8',
]
/** The GPU's solo runs per batch (same GPU, profiles and 32 hardware queues; neither series made any). */
const SOLO = { 1: 'results/h100/batch1', 8: 'results/h100/batch8' } as const

/**
 * The issue's targets (#18: the simulator's STP within 8% of the GPU's, each worker within 15%), per run. The simulator
 * does not meet them on every run yet: they are checked by a `todo` test, which lists the runs past them without
 * failing CI. The mean over each series' runs is held to them.
 */
export const TARGET = { stpVsBaseline: 0.08, stpCommon: 0.08, worker: 0.15 }

/**
 * What the simulator meets today, held so that it cannot get worse unnoticed: each run's largest drift (the worst run
 * measured, rounded up by about a point) and the mean over each series' runs, which meets the targets. The
 * re-simulation is deterministic (recorded plans and seeds), so these move only when the simulator, the calibration
 * or the profiles do. With 'coresident' sharing (src/execute/sim/contention.ts), kernels of co-located workers share
 * SMs as far as their blocks leave room: STP with the profiles' solo rates tightened from 18% to 13% at worst, the
 * ratio to baseline from 12.5% to 11%; each series' mean ratio to baseline loosened by a few tenths of a point.
 * Re-simulating a worker planned with GEMMs picked per partition with those kernels' times (as it ran; before, with
 * the whole-GPU times) tightened the two series recorded so (coresident-plans, headline-priorities) in the ratios to
 * baseline — STP's 9.3% and 13.1% at worst to 6.9% and 7.4%, a worker's 18% and 31% to 13% and 25% — and loosened
 * STP with the profiles' solo rates to 16% (albert at batch 1, its absolute rate over-predicted with those times:
 * the contention constants were fitted on runs made before GEMM targets).
 */
export const GUARD = {
  perRun: { stpVsBaseline: 0.11, stpCommon: 0.17, worker: 0.17 },
  mean: { stpVsBaseline: 0.03, stpCommon: 0.06, worker: 0.06 },
}

/**
 * Series held to a mean guard of their own: tuned-priorities is batch 1 alone, where albert's absolute rate is
 * over-predicted (above), so its mean STP with the profiles' solo rates sits past the common mean guard.
 */
export const GUARD_MEAN_EXCEPTIONS: Record<string, Partial<Record<Key, number>>> = {
  'tuned-priorities': { stpCommon: 0.07 },
}

/**
 * Runs held to a guard of their own, named: shufflenet in our mix more4 at batch 8 under eclip-fit, whose rate ÷ its
 * baseline rate is further from the GPU's than any other worker's (the same worker in profile-retime-fit's more4 and
 * more5 is within the common guard), and again in headline-priorities at batch 8; and plans tuned on the GPU at
 * batch 8 (tuned-priorities-b8), where the tuning kept what the GPU gives a worker and the simulator does not see:
 * resnext101 in more4 and albert in more6 with measured priorities, and without them mix1 (densenet201, and with it
 * the STP ratio) and more4's shufflenet again, and more6's albert again (tuned with the margins), each measured above
 * its simulated ratio to baseline; the same plans (homes, prices and raised set alike) tuned again with the margins
 * (tuned-plans2: mix1's densenet201, more4's shufflenet, more6's albert), and mix2's STP ratio there; tuned with a
 * deeper budget (deep: mix2's STP ratio again, more3's shufflenet with resnet152 raised, faster on the GPU; more4's
 * resnext101, slower) and with the floors at 0.85 (floor-085: more4's albert, faster); tuned with the floors' slack
 * (sim-slack: mix1's densenet201 again, on another plan and then on the earlier tunings' plan, faster).
 */
export const GUARD_EXCEPTIONS: Record<
  string,
  Partial<Record<'stpVsBaseline' | 'stpCommon' | 'worker', number>>
> = {
  'eclip-fit-floors/more-batch8 more4 eclip-fit/graph': { worker: 0.2 },
  'headline-priorities/b8-prio more4 eclip-fit/graph': { worker: 0.26 },
  'tuned-prio/p8b2 more4 eclip-fit/graph': { worker: 0.25 },
  'tuned-prio/p8c more6 eclip-fit/graph': { worker: 0.21 },
  'tuned/t8a1 mix1 eclip-fit/graph': { stpVsBaseline: 0.12, worker: 0.18 },
  'tuned/t8b2 more4 eclip-fit/graph': { worker: 0.25 },
  'tuned-margins/g8 more6 eclip-fit/graph': { worker: 0.21 },
  'tuned-plans2/q1 mix1 eclip-fit/graph': { worker: 0.18 },
  'tuned-plans2/q1 mix2 eclip-fit/graph': { stpVsBaseline: 0.12 },
  'tuned-plans2/q4 more4 eclip-fit/graph': { worker: 0.25 },
  'tuned-plans2/q5 more6 eclip-fit/graph': { worker: 0.21 },
  'deep/d2 mix2 eclip-fit/graph': { stpVsBaseline: 0.12 },
  'deep/d13 more3 eclip-fit/graph': { worker: 0.21 },
  'deep/d14 more4 eclip-fit/graph': { worker: 0.24 },
  'floor-085/f14 more4 eclip-fit/graph': { worker: 0.24 },
  'sim-slack/a mix1 eclip-fit/graph': { worker: 0.18 },
  'sim-slack/m1 mix1 eclip-fit/graph': { worker: 0.18 },
}

const gpu = loadGpu(PROFILES)
const primitives = loadPrimitives(PROFILES, gpu)
const profilesFor = profilesIn(PROFILES, gpu)
const profileOf = (w: Pick<WorkerSpec, 'model' | 'batch' | 'dtype'>) =>
  profilesFor([{ name: w.model, model: w.model, batch: w.batch, dtype: w.dtype }])[0] as Profile

/** The re-simulation window: 40 requests of the run's slowest worker at its measured rate, 0.1–1 s (as calibrate). */
const windowOf = (r: Run) => {
  const slowest = Math.min(...r.workers.map((w) => w.throughputRps))
  return Math.min(1, Math.max(0.1, slowest > 0 ? 40 / slowest : 1))
}

function resimulate(r: Run, plan: Plan, power: PowerModel, cal: ReturnType<typeof calibrationFrom>): Run {
  const workers = r.workers.map((w) => ({ name: w.name, model: w.model, batch: w.batch, dtype: w.dtype }))
  const windowS = windowOf(r)
  const spec = replaySpec(r, {
    gpu,
    plan,
    workers,
    // a worker planned with GEMMs picked per partition ran with those kernels' times (src/profile/gemm-target.ts)
    profiles: profilesOfPlan(plan, workers.map(profileOf)),
    warmupS: windowS / 10,
    windowS,
    primitives: primitives as NonNullable<typeof primitives>,
    power,
  })
  const { stats: _s, ...result } = simulate(spec, { calibration: cal })
  return buildRun(spec, result, { backend: 'sim' })
}

interface Drift {
  /** The series (the folder under results/h100): the means are held per series. */
  series: string
  run: string
  /** |sim/gpu − 1| of STP, each backend with its own solo runs. */
  stp: number
  /** The same with the profiles' whole-GPU rates as the solo rates of both (a weighted sum of raw req/s). */
  stpCommon: number
  stpVsBaseline: number | null
  /** Worst |sim/gpu − 1| of normVsBaseline over the run's workers, and that worker. */
  worker: { name: string; err: number } | null
  /** Worst |sim/gpu − 1| of raw req/s over the run's workers (reported, not held to a tolerance). */
  rawRps: number
}

/** One results set re-simulated: its GPU runs and solo runs, and the simulator's of the same, in the same order. */
interface SetRuns {
  set: string
  gpuRuns: Run[]
  gpuSolos: Run[]
  sim: Run[]
  simSolos: Run[]
}

const rel = (s: number, g: number) => s / g - 1

/** The plan a GPU run of `set` executed: the fixture's for eclip-fit-v2, else the plan file recorded with the run. */
function planOf(set: string, r: Run, fixture: Record<string, Plan>): Plan {
  if (!RECORDED.includes(set)) {
    const plan = fixture[`${set}|${r.id}`]
    assert.ok(plan, `${set}: no plan for ${r.id} in ${PLANS}`)
    return plan
  }
  assert.ok(r.planFile, `${set} ${r.id}: no planFile recorded`)
  return readFile<Plan>('plan', join(ROOT, set, r.planFile))
}

async function resimulateSet(
  set: string,
  fixture: Record<string, Plan>,
  power: PowerModel,
  cal: ReturnType<typeof calibrationFrom>,
): Promise<SetRuns> {
  const gpuRuns = readFile<Results>('results', join(ROOT, set, 'results.json')).runs.filter(
    (r) => r.backend === 'gpu',
  )
  const batch = gpuRuns[0]?.batch as 1 | 8
  const gpuSolos = readFile<Results>('results', join(ROOT, SOLO[batch], 'results.json')).runs.filter(
    (r) => r.backend === 'gpu' && r.role === 'solo',
  )
  const sim = gpuRuns.map((r) => {
    const plan = planOf(set, r, fixture)
    plan.workers.forEach((pw, i) => {
      const w = r.workers[i]
      assert.ok(
        w && pw.groups.length - 1 === w.switchesPerRequest && pw.kernels === w.kernelsPerRequest,
        `${set} ${r.id}: the plan is not the one the run executed (worker ${pw.name})`,
      )
    })
    return resimulate(r, plan, power, cal)
  })
  // the simulator's own solo runs of the same models: one worker alone on the whole GPU under baseline
  const models = [...new Map(gpuRuns.flatMap((r) => r.workers).map((w) => [w.model, w])).values()]
  const simSolos: Run[] = []
  for (const w of models) {
    const name = soloMixName(w.model, w.batch, w.dtype)
    const ws: WorkerSpec[] = [{ name: `${w.model}#0`, model: w.model, batch: w.batch, dtype: w.dtype }]
    const plan = await makePlan(gpu, name, ws, [profileOf(w)], { policy: 'baseline' })
    const solo = gpuSolos.find((s) => s.mix === name)
    assert.ok(solo, `${SOLO[batch]}: no GPU solo run ${name}`)
    simSolos.push(resimulate(solo, plan, power, cal))
  }
  return { set, gpuRuns, gpuSolos, sim, simSolos }
}

/** Per GPU run of the set, the simulator's drift from it; a pure function of the runs (the GPU runs are not changed). */
function compare({ set, gpuRuns, gpuSolos, sim, simSolos }: SetRuns): Drift[] {
  const gpuAll = normalise(
    attachProfileRefs(
      [...structuredClone(gpuRuns), ...structuredClone(gpuSolos)],
      profileOf,
      DEFAULT_TOLERANCE,
    ),
  )
  const simAll = normalise(structuredClone([...sim, ...simSolos]))
  return gpuRuns.map((r, i) => {
    const g = gpuAll[i] as Run
    const s = simAll[i] as Run
    const gs = g.metrics.system
    const ss = s.metrics.system
    assert.ok(gs && ss && gs.soloFrom === 'solo runs' && ss.soloFrom === 'solo runs', `${r.id}: no STP`)
    let worker: Drift['worker'] = null
    let rawRps = 0
    g.workers.forEach((gw, wi) => {
      const sw = s.workers[wi]
      assert.ok(sw)
      rawRps = Math.max(rawRps, Math.abs(rel(sw.throughputRps, gw.throughputRps)))
      if (gw.normVsBaseline === null || sw.normVsBaseline === null) return
      const err = Math.abs(rel(sw.normVsBaseline, gw.normVsBaseline))
      if (!worker || err > worker.err) worker = { name: gw.name, err }
    })
    const profileStp = (x: Run) =>
      stp(
        x.workers.map((w) => w.throughputRps),
        x.workers.map((w) => 1e6 / (profileOf(w).requestUs.at(-1) as number)),
      )
    return {
      // the folder under results/h100 (a series recorded in parts has one more level)
      series: set.split('/')[2] as string,
      run: `${set.split('/').slice(-2).join('/')} ${r.mix} ${r.policy}${r.mode ? `/${r.mode}` : ''}`,
      stp: Math.abs(rel(ss.stp, gs.stp)),
      stpCommon: Math.abs(rel(profileStp(s), profileStp(g))),
      stpVsBaseline:
        gs.stpVsBaseline && ss.stpVsBaseline ? Math.abs(rel(ss.stpVsBaseline, gs.stpVsBaseline)) : null,
      worker,
      rawRps,
    }
  })
}

async function resimulateAll(): Promise<{ sets: SetRuns[]; provenance: string }> {
  const fixture = JSON.parse(readFileSync(PLANS, 'utf8')) as { sets: string[]; plans: Record<string, Plan> }
  const calFile = readFile<SimCalibration>('sim-calibration', join(PROFILES, 'sim-calibration.json'))
  const power = readFile<PowerModel>('power', join(PROFILES, 'power.json'))
  const cal = calibrationFrom(calFile)
  const provenance = `${calFile.measured.notes ?? ''} ${power.measured.notes ?? ''}`
  const sets: SetRuns[] = []
  for (const set of [...fixture.sets, ...RECORDED])
    sets.push(await resimulateSet(set, fixture.plans, power, cal))
  return { sets, provenance }
}

const pct = (x: number | null | undefined) =>
  x === null || x === undefined ? '–' : `${(x * 100).toFixed(1)}%`

type Key = 'stpVsBaseline' | 'stpCommon' | 'worker'
const errOf = (r: Drift, k: Key): number | null => (k === 'worker' ? (r.worker?.err ?? null) : r[k])
const KEYS: Key[] = ['stpVsBaseline', 'stpCommon', 'worker']
const LABEL: Record<Key, string> = {
  stpVsBaseline: 'STP ÷ baseline STP',
  stpCommon: 'STP (profile solo rates for both)',
  worker: "a worker's throughput ÷ baseline",
}
const past = (rows: Drift[], limits: Record<Key, number>, exceptions: typeof GUARD_EXCEPTIONS = {}) =>
  rows.flatMap((r) =>
    KEYS.flatMap((k) => {
      const e = errOf(r, k)
      return e !== null && e > (exceptions[r.run]?.[k] ?? limits[k])
        ? [`${r.run}: ${LABEL[k]} off by ${pct(e)}${k === 'worker' ? ` (${r.worker?.name})` : ''}`]
        : []
    }),
  )
const meanErr = (rows: Drift[], k: Key | 'stp' | 'rawRps') => {
  const xs = rows
    .map((r) => (k === 'stp' || k === 'rawRps' ? r[k] : errOf(r, k)))
    .filter((v): v is number => v !== null)
  return xs.reduce((a, b) => a + b, 0) / xs.length
}
/** Each series' mean drift past the guard's mean or the issue's target. */
const meansPast = (rows: Drift[]) =>
  [...new Set(rows.map((r) => r.series))].flatMap((series) =>
    KEYS.flatMap((k) => {
      const m = meanErr(
        rows.filter((r) => r.series === series),
        k,
      )
      const limit = Math.min(GUARD_MEAN_EXCEPTIONS[series]?.[k] ?? GUARD.mean[k], TARGET[k])
      return m > limit ? [`${series}: ${LABEL[k]}: mean drift ${pct(m)} > ${pct(limit)}`] : []
    }),
  )
/** Everything the guard holds: each run's drift and each series' mean. */
const violations = (rows: Drift[]) => [...past(rows, GUARD.perRun, GUARD_EXCEPTIONS), ...meansPast(rows)]

describe('the simulator against recorded H100 runs it was not calibrated on', () => {
  // one re-simulation of the recorded runs for every check below
  let memo: ReturnType<typeof resimulateAll> | undefined
  const result = async () => {
    memo ??= resimulateAll()
    const { sets, provenance } = await memo
    return { sets, provenance, rows: sets.flatMap(compare) }
  }

  it('re-simulates held-out runs with the plans they executed', async (t) => {
    const { rows, provenance } = await result()
    assert.ok(
      provenance.includes('results/h100/batch8/results.json'),
      'the calibration should name the runs it was fitted on',
    )
    for (const s of SERIES)
      assert.ok(!provenance.includes(s), `the calibration was fitted on ${s}, which it is checked on`)
    assert.equal(rows.length, 538)
    for (const r of rows)
      t.diagnostic(
        `${r.run.padEnd(46)} STP/base ${pct(r.stpVsBaseline).padStart(6)}  STP(profile solo) ${pct(r.stpCommon).padStart(6)}  ` +
          `worker/base ${pct(r.worker?.err).padStart(6)} ${(r.worker?.name ?? '').padEnd(14)} STP(own solo) ${pct(r.stp).padStart(6)}  raw req/s ${pct(r.rawRps)}`,
      )
    for (const series of SERIES) {
      const xs = rows.filter((r) => r.series === series)
      const summary = (k: Key | 'stp' | 'rawRps') => {
        const max = Math.max(...xs.map((r) => (k === 'stp' || k === 'rawRps' ? r[k] : (errOf(r, k) ?? 0))))
        return `max ${pct(max)}, mean ${pct(meanErr(xs, k))}`
      }
      t.diagnostic(
        `${series} (${xs.length} runs): ${KEYS.map((k) => `${LABEL[k]}: ${summary(k)}`).join('; ')}; ` +
          `STP (own solo runs): ${summary('stp')}; raw req/s: ${summary('rawRps')}`,
      )
    }
  })

  it('does not drift past what it meets today (per run, and on average per series)', async () => {
    const { rows } = await result()
    // every run with a guard of its own is one of these, and is past the common guard (else it needs none)
    for (const [run, limits] of Object.entries(GUARD_EXCEPTIONS)) {
      const r = rows.find((x) => x.run === run)
      assert.ok(r, `GUARD_EXCEPTIONS names ${run}, which is not re-simulated`)
      for (const k of Object.keys(limits) as Key[])
        assert.ok((errOf(r, k) ?? 0) > GUARD.perRun[k], `${run}: ${k}`)
    }
    // likewise every series with a mean guard of its own
    for (const [series, limits] of Object.entries(GUARD_MEAN_EXCEPTIONS))
      for (const k of Object.keys(limits) as Key[])
        assert.ok(
          meanErr(
            rows.filter((r) => r.series === series),
            k,
          ) > GUARD.mean[k],
          `${series}: ${k}`,
        )
    assert.deepEqual(violations(rows), [])
  })

  it('fails when a run drifts past the guard', async () => {
    // the same check on GPU runs altered by more than the tolerances: it must name what moved
    const { sets } = await result()
    const floors = sets.filter((s) => s.set.includes('eclip-fit-floors'))
    assert.equal(floors.length, RECORDED.filter((x) => x.includes('eclip-fit-floors')).length)
    const one = floors[0] as SetRuns
    const i = one.gpuRuns.findIndex((r) => r.mix === 'mix3' && r.policy === 'eclip-fit')
    const moved = structuredClone(one.gpuRuns)
    const w = moved[i]?.workers[0]
    assert.ok(w)
    w.throughputRps *= 1 + GUARD.perRun.worker + 0.1
    const found = violations(compare({ ...one, gpuRuns: moved }))
    assert.ok(
      found.some((v) => v.startsWith(`eclip-fit-floors/batch8 mix3 eclip-fit/graph: ${LABEL.worker}`)),
      found.join('\n'),
    )
    // every GPU run of the series a little faster: no run past its own guard, the series' mean STP past the target
    const faster = floors.flatMap((s) =>
      compare({
        ...s,
        gpuRuns: structuredClone(s.gpuRuns).map((r) => {
          for (const x of r.workers) x.throughputRps *= 1 + TARGET.stpCommon + 0.05
          return r
        }),
      }),
    )
    assert.ok(
      violations(faster).includes(
        `eclip-fit-floors: ${LABEL.stpCommon}: mean drift ${pct(meanErr(faster, 'stpCommon'))} > ${pct(Math.min(GUARD.mean.stpCommon, TARGET.stpCommon))}`,
      ),
      violations(faster).join('\n'),
    )
  })

  it("meets issue #18's per-run targets: STP within 8%, each worker within 15%", {
    todo: 'not met on every run yet: the runs past them are listed',
  }, async () => {
    const { rows } = await result()
    assert.deepEqual(past(rows, TARGET), [])
  })
})
