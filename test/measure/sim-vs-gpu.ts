// The simulator checked against one GPU's recorded runs it was not calibrated on: the runs re-simulated with the plans
// they executed, their seeds and loops, and the GPU's shipped calibration (profiles/<gpu>: sim-calibration.json,
// power.json), then each run's drift from the GPU and each series' mean drift held to a guard (what the simulator meets
// today), and the issue's targets, per run and on each series' mean, listed by `todo` tests. One GPU per test file
// (sim-vs-gpu.test.ts: the H100, sim-vs-gpu-h200.test.ts); each says which series it holds and why its guard is what
// it is.
//
// What is compared, per run: STP relative to the same mix's baseline STP (the headline's ratio), STP with the
// profiles' whole-GPU rates as both backends' solo rates (a weighted sum of raw req/s, the same weights on both sides;
// the STP the bench reports when it makes no solo runs), and each worker's throughput relative to its baseline
// (normVsBaseline). Printed beside them, not held: STP with each backend's own solo runs (the GPU's from the GPU's
// paper series, results/<gpu>/batch{1,8}) — the simulator's solo rate is its profile's whole-GPU latency, where the
// GPU's solo runs ran faster at batch 1, so that STP mostly measures the profiles' solo gap — and raw req/s per
// worker. The numbers are in the test's diagnostics (node --test prints them).
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { describe, it } from 'node:test'
import { replaySpec } from '../../src/calibrate/calibrate.ts'
import { calibrationFrom, simulate } from '../../src/execute/sim/index.ts'
import {
  isMpsPolicy,
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

export type Key = 'stpVsBaseline' | 'stpCommon' | 'worker'
export type Limits = Record<Key, number>

/** One GPU's held-out check. Paths are relative to the repository's root. */
export interface HeldOutCheck {
  /** The GPU, as the test's title names it. */
  gpu: string
  /** Its shipped profiles and calibration. */
  profiles: string
  /** Its GPU solo runs per batch size (solo runs a series held out made are left out of it). */
  solo: { 1: string; 8: string }
  /** Plans made again for series that recorded none (a JSON file: `sets`, and `plans` keyed `set|run id`). */
  fixture?: string
  /** The series that recorded the plans they executed (Run.planFile, beside results.json). */
  recorded: string[]
  /** What the calibration's provenance must name (the runs it was fitted on)... */
  fittedOn: string
  /** ...and must not: the series held out. */
  notFittedOn: string[]
  /** The GPU runs re-simulated, counted (a set that reads no run fails it). */
  runs: number
  /** The issue's targets per run, and the mean over each series' runs. */
  target: Limits
  /** What the simulator meets today: each run's largest drift and each series' mean. */
  guard: { perRun: Limits; mean: Limits }
  /** Runs held to a guard of their own (past the common one), by the run's label. */
  guardExceptions?: Record<string, Partial<Limits>>
  /** Series held to a mean guard of their own (past the common one; past the target, the target's `todo` lists it). */
  guardMeanExceptions?: Record<string, Partial<Limits>>
  /** The run the guard's own test alters: the first set of this series (of `sets`), this mix's eclip-fit run. */
  probe: { series: string; sets: number; mix: string }
}

interface Drift {
  /** The series (the folder under results/<gpu>): the means are held per series. */
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
export interface SetRuns {
  set: string
  gpuRuns: Run[]
  gpuSolos: Run[]
  sim: Run[]
  simSolos: Run[]
}

const rel = (s: number, g: number) => s / g - 1

/** The re-simulation window: 40 requests of the run's slowest worker at its measured rate, 0.1–1 s (as calibrate). */
const windowOf = (r: Run) => {
  const slowest = Math.min(...r.workers.map((w) => w.throughputRps))
  return Math.min(1, Math.max(0.1, slowest > 0 ? 40 / slowest : 1))
}

/**
 * The GPU's profiles, and the re-simulation of its runs (`calibrationFile`: another sim-calibration.json in place of
 * the directory's, for a candidate: bench/heldout-workers.ts).
 */
export function simulatorOf(check: Pick<HeldOutCheck, 'profiles'>, calibrationFile?: string) {
  const dir = resolve(ROOT, check.profiles)
  const gpu = loadGpu(dir)
  const primitives = loadPrimitives(dir, gpu)
  const profilesFor = profilesIn(dir, gpu)
  const profileOf = (w: Pick<WorkerSpec, 'model' | 'batch' | 'dtype'>) =>
    profilesFor([{ name: w.model, model: w.model, batch: w.batch, dtype: w.dtype }])[0] as Profile
  const calFile = readFile<SimCalibration>(
    'sim-calibration',
    calibrationFile ?? join(dir, 'sim-calibration.json'),
  )
  const power = readFile<PowerModel>('power', join(dir, 'power.json'))
  const cal = calibrationFrom(calFile)
  const resimulate = (r: Run, plan: Plan): Run => {
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
  return {
    gpu,
    profileOf,
    resimulate,
    // what every constant of the directory was fitted or chosen on: contention (its per-profile γ and κ too),
    // real-time, power (not the MPS client rate: it acts on MPS runs alone, which the check leaves out)
    provenance: [
      calFile.measured.notes,
      calFile.profileInterference?.measured.method,
      calFile.profileInterference?.measured.notes,
      calFile.profileCoresidency?.measured.method,
      calFile.profileCoresidency?.measured.notes,
      calFile.realtime?.measured?.notes,
      power.measured.notes,
    ].join(' '),
  }
}
export type Simulator = ReturnType<typeof simulatorOf>

/** A run's STP with its profiles' whole-GPU rates as the solo rates (the bench's STP where it made no solo runs). */
export const profileSoloStp = (sim: Pick<Simulator, 'profileOf'>, r: Run): number =>
  stp(
    r.workers.map((w) => w.throughputRps),
    r.workers.map((w) => 1e6 / (sim.profileOf(w).requestUs.at(-1) as number)),
  )

/** The plan a GPU run of `set` executed: the fixture's for a set that recorded none, else the plan file. */
function planOf(
  check: Pick<HeldOutCheck, 'recorded' | 'fixture'>,
  set: string,
  r: Run,
  fixture: Record<string, Plan>,
): Plan {
  if (!check.recorded.includes(set)) {
    const plan = fixture[`${set}|${r.id}`]
    assert.ok(plan, `${set}: no plan for ${r.id} in ${check.fixture}`)
    return plan
  }
  assert.ok(r.planFile, `${set} ${r.id}: no planFile recorded`)
  return readFile<Plan>('plan', join(ROOT, set, r.planFile))
}

export async function resimulateSet(
  check: Pick<HeldOutCheck, 'recorded' | 'fixture' | 'solo'>,
  sim: Simulator,
  set: string,
  fixture: Record<string, Plan>,
): Promise<SetRuns> {
  // a series that made solo runs of its own (calibration runs) keeps them out: the solo runs are the paper series'.
  // MPS runs are left out too: the simulator's MPS (src/execute/sim/mps.ts) is an approximation no plan is searched on
  // (sim-vs-gpu-h200-mps.test.ts checks it apart)
  const gpuRuns = readFile<Results>('results', join(ROOT, set, 'results.json')).runs.filter(
    (r) => r.backend === 'gpu' && r.role !== 'solo' && !isMpsPolicy(r.policy),
  )
  const batch = gpuRuns[0]?.batch as 1 | 8
  const gpuSolos = readFile<Results>('results', join(ROOT, check.solo[batch], 'results.json')).runs.filter(
    (r) => r.backend === 'gpu' && r.role === 'solo',
  )
  const simRuns = gpuRuns.map((r) => {
    const plan = planOf(check, set, r, fixture)
    plan.workers.forEach((pw, i) => {
      const w = r.workers[i]
      assert.ok(
        w && pw.groups.length - 1 === w.switchesPerRequest && pw.kernels === w.kernelsPerRequest,
        `${set} ${r.id}: the plan is not the one the run executed (worker ${pw.name})`,
      )
    })
    return sim.resimulate(r, plan)
  })
  // the simulator's own solo runs of the same models: one worker alone on the whole GPU under baseline
  const models = [...new Map(gpuRuns.flatMap((r) => r.workers).map((w) => [w.model, w])).values()]
  const simSolos: Run[] = []
  for (const w of models) {
    const name = soloMixName(w.model, w.batch, w.dtype)
    const ws: WorkerSpec[] = [{ name: `${w.model}#0`, model: w.model, batch: w.batch, dtype: w.dtype }]
    const plan = await makePlan(sim.gpu, name, ws, [sim.profileOf(w)], { policy: 'baseline' })
    const solo = gpuSolos.find((s) => s.mix === name)
    assert.ok(solo, `${check.solo[batch]}: no GPU solo run ${name}`)
    simSolos.push(sim.resimulate(solo, plan))
  }
  return { set, gpuRuns, gpuSolos, sim: simRuns, simSolos }
}

/**
 * Whether `text` names the series `s` as a whole path segment: 'priorities-b8' is not named by
 * 'results/h200/tuned-priorities-b8'.
 */
export const namesSeries = (text: string, s: string): boolean =>
  new RegExp(`(^|[^\\w-])${s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}($|[^\\w-])`).test(text)

/**
 * Per GPU run of the set, the simulator's drift from it; a pure function of the runs (the GPU runs are not changed).
 */
function compare(sim: Simulator, { set, gpuRuns, gpuSolos, sim: simRuns, simSolos }: SetRuns): Drift[] {
  const gpuAll = normalise(
    attachProfileRefs(
      [...structuredClone(gpuRuns), ...structuredClone(gpuSolos)],
      sim.profileOf,
      DEFAULT_TOLERANCE,
    ),
  )
  const simAll = normalise(structuredClone([...simRuns, ...simSolos]))
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
    return {
      // the folder under results/<gpu> (a series recorded in parts has one more level)
      series: set.split('/')[2] as string,
      run: `${set.split('/').slice(-2).join('/')} ${r.mix} ${r.policy}${r.mode ? `/${r.mode}` : ''}`,
      stp: Math.abs(rel(ss.stp, gs.stp)),
      stpCommon: Math.abs(rel(profileSoloStp(sim, s), profileSoloStp(sim, g))),
      stpVsBaseline:
        gs.stpVsBaseline && ss.stpVsBaseline ? Math.abs(rel(ss.stpVsBaseline, gs.stpVsBaseline)) : null,
      worker,
      rawRps,
    }
  })
}

const pct = (x: number | null | undefined) =>
  x === null || x === undefined ? '–' : `${(x * 100).toFixed(1)}%`

const errOf = (r: Drift, k: Key): number | null => (k === 'worker' ? (r.worker?.err ?? null) : r[k])
const KEYS: Key[] = ['stpVsBaseline', 'stpCommon', 'worker']
const LABEL: Record<Key, string> = {
  stpVsBaseline: 'STP ÷ baseline STP',
  stpCommon: 'STP (profile solo rates for both)',
  worker: "a worker's throughput ÷ baseline",
}
const past = (rows: Drift[], limits: Limits, exceptions: Record<string, Partial<Limits>> = {}) =>
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
const seriesOf = (rows: Drift[]) => [...new Set(rows.map((r) => r.series))]

/** The check's tests: the re-simulation (diagnostics), the guard, the guard's own failure, the issue's targets. */
export function checkHeldOut(check: HeldOutCheck): void {
  const { target, guard } = check
  const exceptions = check.guardExceptions ?? {}
  const meanExceptions = check.guardMeanExceptions ?? {}
  /** Each series' mean drift past the limits (its own, else the common ones). */
  const meansPast = (rows: Drift[], limitsOf: (series: string) => Limits) =>
    seriesOf(rows).flatMap((series) =>
      KEYS.flatMap((k) => {
        const m = meanErr(
          rows.filter((r) => r.series === series),
          k,
        )
        const limit = limitsOf(series)[k]
        return m > limit ? [`${series}: ${LABEL[k]}: mean drift ${pct(m)} > ${pct(limit)}`] : []
      }),
    )
  /** A series' mean guard: its own limit where it has one, key by key, else the common one. */
  const meanGuardOf = (series: string) =>
    Object.fromEntries(KEYS.map((k) => [k, meanExceptions[series]?.[k] ?? guard.mean[k]])) as Limits
  /** Everything the guard holds: each run's drift and each series' mean. */
  const violations = (rows: Drift[]) => [
    ...past(rows, guard.perRun, exceptions),
    ...meansPast(rows, meanGuardOf),
  ]

  const resimulateAll = async () => {
    const sim = simulatorOf(check)
    const fixture = check.fixture
      ? (JSON.parse(readFileSync(join(ROOT, check.fixture), 'utf8')) as {
          sets: string[]
          plans: Record<string, Plan>
        })
      : { sets: [], plans: {} }
    const sets: SetRuns[] = []
    for (const set of [...fixture.sets, ...check.recorded])
      sets.push(await resimulateSet(check, sim, set, fixture.plans))
    return { sim, sets }
  }

  describe(`the simulator against recorded ${check.gpu} runs it was not calibrated on`, () => {
    // one re-simulation of the recorded runs for every check below
    let memo: ReturnType<typeof resimulateAll> | undefined
    const result = async () => {
      memo ??= resimulateAll()
      const { sim, sets } = await memo
      return { sim, sets, rows: sets.flatMap((s) => compare(sim, s)) }
    }

    it('re-simulates held-out runs with the plans they executed', async (t) => {
      const { rows, sim } = await result()
      assert.ok(
        sim.provenance.includes(check.fittedOn),
        'the calibration should name the runs it was fitted on',
      )
      for (const s of check.notFittedOn)
        assert.ok(
          !namesSeries(sim.provenance, s),
          `the calibration was fitted on ${s}, which it is checked on`,
        )
      assert.equal(rows.length, check.runs)
      for (const r of rows)
        t.diagnostic(
          `${r.run.padEnd(46)} STP/base ${pct(r.stpVsBaseline).padStart(6)}  STP(profile solo) ${pct(r.stpCommon).padStart(6)}  ` +
            `worker/base ${pct(r.worker?.err).padStart(6)} ${(r.worker?.name ?? '').padEnd(14)} STP(own solo) ${pct(r.stp).padStart(6)}  raw req/s ${pct(r.rawRps)}`,
        )
      for (const series of seriesOf(rows)) {
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
      for (const [run, limits] of Object.entries(exceptions)) {
        const r = rows.find((x) => x.run === run)
        assert.ok(r, `the guard's exceptions name ${run}, which is not re-simulated`)
        for (const k of Object.keys(limits) as Key[])
          assert.ok((errOf(r, k) ?? 0) > guard.perRun[k], `${run}: ${k}`)
      }
      // likewise every series with a mean guard of its own
      for (const [series, limits] of Object.entries(meanExceptions))
        for (const k of Object.keys(limits) as Key[])
          assert.ok(
            meanErr(
              rows.filter((r) => r.series === series),
              k,
            ) > guard.mean[k],
            `${series}: ${k}`,
          )
      assert.deepEqual(violations(rows), [])
    })

    it('fails when a run drifts past the guard', async () => {
      // the same check on GPU runs altered by more than the tolerances: it must name what moved
      const { sim, sets } = await result()
      const ofSeries = sets.filter((s) => s.set.split('/')[2] === check.probe.series)
      assert.equal(ofSeries.length, check.probe.sets)
      const one = ofSeries[0]
      assert.ok(one, `no set of ${check.probe.series}`)
      const i = one.gpuRuns.findIndex((r) => r.mix === check.probe.mix && r.policy === 'eclip-fit')
      const moved = structuredClone(one.gpuRuns)
      const w = moved[i]?.workers[0]
      assert.ok(w, `${one.set}: no eclip-fit run of ${check.probe.mix}`)
      w.throughputRps *= 1 + guard.perRun.worker + 0.1
      const found = violations(compare(sim, { ...one, gpuRuns: moved }))
      const label = `${one.set.split('/').slice(-2).join('/')} ${check.probe.mix} eclip-fit/graph`
      assert.ok(
        found.some((v) => v.startsWith(`${label}: ${LABEL.worker}`)),
        found.join('\n'),
      )
      // every GPU run of the series a little faster: no run past its own guard, the series' mean STP past its guard
      const faster = ofSeries.flatMap((s) =>
        compare(sim, {
          ...s,
          gpuRuns: structuredClone(s.gpuRuns).map((r) => {
            for (const x of r.workers) x.throughputRps *= 1 + target.stpCommon + 0.05
            return r
          }),
        }),
      )
      assert.ok(
        violations(faster).includes(
          `${check.probe.series}: ${LABEL.stpCommon}: mean drift ${pct(meanErr(faster, 'stpCommon'))} > ${pct(meanGuardOf(check.probe.series).stpCommon)}`,
        ),
        violations(faster).join('\n'),
      )
    })

    it("meets issue #18's per-run targets: STP within 8%, each worker within 15%", {
      todo: 'not met on every run yet: the runs past them are listed',
    }, async () => {
      const { rows } = await result()
      assert.deepEqual(past(rows, target), [])
    })

    it("meets issue #18's targets on each series' mean: STP within 8%, each worker within 15%", {
      todo: 'not met on every series yet: the series past them are listed',
    }, async () => {
      const { rows } = await result()
      assert.deepEqual(
        meansPast(rows, () => target),
        [],
      )
    })
  })
}
