// `eclip bench`'s application: runs an experiment (mixes × policies × modes) on the simulator or the GPU and writes
// results.json, the raw request log, a text report and the figures; or (reportFrom) the report and figures of
// existing results files. The CLI (src/cli/commands/bench.ts) parses flags and calls runBench or reportFrom.
import { closeSync, mkdirSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs'
import { hostname } from 'node:os'
import { dirname, join, relative } from 'node:path'
import cliProgress from 'cli-progress'
import type { ExecuteBackend, RunResult } from '../execute/backend.ts'
import { createGpuBackend } from '../execute/gpu/index.ts'
import {
  MEASURED_DEFAULTS,
  type MeasuredEvaluator,
  type TuneChoice,
  tuningOn,
} from '../execute/measured-evaluator.ts'
import { simPlanner } from '../execute/sim/evaluator.ts'
import { SimBackend } from '../execute/sim/index.ts'
import { type SimInputs, simInputs } from '../execute/sim/inputs.ts'
import { defaultTableThreads, threadedSimPlanner } from '../execute/sim/table-threads.ts'
import { checkMadeFor, type Gpu } from '../formats/gpu.ts'
import {
  expandWorkers,
  hasLoadFields,
  incompleteNote,
  isTablePolicy,
  type Plan,
  type PlanTable,
  type Policy,
  type Profile,
  REQUEST_LOG_HEADER,
  type Results,
  type Run,
  readFile,
  TABLE_POLICIES,
  UserError,
  type WorkerSpec,
} from '../formats/index.ts'
import { attachProfileRefs, normalise } from '../measure/metrics.ts'
import { PROFILES_HOME } from '../paths.ts'
import {
  DEFAULT_MIN_SHARE,
  heldP95Cap,
  NOTHING_TO_TUNE,
  type Planner,
  SIM_FLOOR_SLACK,
  type TunablePlans,
  tunablePlans,
} from '../plan/index.ts'
import { makePlanTable, type SubsetPlanner } from '../plan/table.ts'
import { DEFAULT_TOLERANCE } from '../profile/rightsize.ts'
import { shippedProfiles, shippedProfilesFor } from '../profile/shipped.ts'
import { loadGpu, memoProfiles, type ProfilesFor, profilesIn } from '../profile/store.ts'
import { SYNTHETIC_MODELS, syntheticH100Gpu, syntheticProfile } from '../profile/synthetic.ts'
import { describeArrival } from '../workload/arrivals.ts'
import { type Checkpoint, exitOnSignal, resultsCheckpoint, writeResults } from './checkpoint.ts'
import { planFileKey, runExperiment, type TablePlanner } from './experiment.ts'
import { givenPlanner } from './given-plans.ts'
import type { ProfilesChoice, RunBenchOptions } from './options.ts'
import { detailReport, textReport, writeFigures } from './report.ts'
import {
  benchInputs,
  benchOptions,
  checkSameInputs,
  inRecordedOrder,
  keepRequests,
  keptPlanner,
  keptTablePlanner,
  type Resume,
  readRecorded,
  readResume,
} from './resume.ts'

/**
 * Simulated defaults are short: the simulator's energy is exact, so it needs no 10 s NVML window (docs/design.md §6).
 */
const DEFAULTS = { sim: { warmupS: 0.05, durationS: 0.5 }, gpu: { warmupS: 2, durationS: 10 } }

interface Inputs extends SimInputs {
  /** the profile directory (none: synthetic profiles) */
  dir?: string
  profilesFor: ProfilesFor
  warnings: string[]
  source: string
}

/**
 * Where profiles, primitives, the power model and the contention constants come from: the profile directory chosen
 * (else synthetic profiles), the files named instead; every fallback is a warning carried into the results.
 */
function resolveInputs(opts: {
  profiles: ProfilesChoice
  /** the GPU the backend reports (--backend gpu): the default is the shipped directory made on it */
  device?: Gpu
  primitives?: string
  power?: string
  calibration?: string
  /** read the profiles with their GEMM-target times (src/profile/gemm-target.ts) */
  gemmTarget?: boolean
}): Inputs {
  const chosen =
    opts.profiles === 'synthetic'
      ? undefined
      : (opts.profiles ?? (opts.device ? shippedProfilesFor(opts.device) : shippedProfiles()))
  const warnings = chosen?.warning ? [chosen.warning] : []
  const dir = chosen?.dir
  const gpu = dir ? loadGpu(dir) : syntheticH100Gpu()
  if (!dir)
    warnings.push(
      `SYNTHETIC PROFILES: ${opts.profiles === 'synthetic' ? 'asked for with --profiles synthetic' : `no profiles shipped in ${PROFILES_HOME}`}, so every kernel time is generated (src/profile/synthetic.ts), not measured; these results say nothing about a real GPU`,
    )
  // a plan from another GPU's profiles is refused by the backend: say so once, before any run, not run after run
  if (opts.device) checkMadeFor(dir ? `the profiles in ${dir}` : 'the synthetic profiles', gpu, opts.device)
  const profilesFor = dir
    ? profilesIn(dir, gpu, { gemmTarget: opts.gemmTarget !== false })
    : memoProfiles((w) => {
        if (!SYNTHETIC_MODELS[w.model])
          throw new UserError(
            `no synthetic profile for model "${w.model}" (known: ${Object.keys(SYNTHETIC_MODELS).join(', ')}); pass --profiles DIR`,
          )
        return syntheticProfile({ model: w.model, batch: w.batch, dtype: w.dtype, gpu })
      })
  const sim = simInputs(gpu, {
    ...(dir ? { dir } : {}),
    ...(opts.primitives ? { primitives: opts.primitives } : {}),
    ...(opts.power ? { power: opts.power } : {}),
    ...(opts.calibration ? { calibration: opts.calibration } : {}),
  })
  return {
    ...sim.inputs,
    ...(dir ? { dir } : {}),
    profilesFor,
    warnings: [...warnings, ...sim.warnings],
    source: dir
      ? `profiles from ${dir}${opts.device && !opts.profiles ? ` (the shipped directory for ${opts.device.name}, the GPU the backend reports)` : ''}`
      : 'SYNTHETIC profiles',
  }
}

/** Workers of a mix as its runs recorded them. */
const workersOfRun = (r: Run): WorkerSpec[] =>
  r.workers.map((w) => ({ name: w.name, model: w.model, batch: w.batch, dtype: w.dtype }))

/** Prints and writes report.txt and, given `figures`, the figures; returns what it wrote. */
async function writeReport(
  runs: Run[],
  out: string,
  header: string,
  figures: { caption: string; profilesFor: Inputs['profilesFor'] | null } | null,
): Promise<string[]> {
  const report = textReport(runs)
  const reportFile = join(out, 'report.txt')
  // the detail of every run goes to the file only: the terminal gets the paper's tables
  writeFileSync(reportFile, `${header}\n\n${report}\n\n${detailReport(runs)}\n`)
  console.log(`${header}\n\n${report}\n`)
  if (!figures) return [reportFile]
  // Fig. 3 needs the profiles; one profile per distinct (model, batch, dtype) of the mix runs
  const profiles: Profile[] = []
  if (figures.profilesFor) {
    const seen = new Set<string>()
    for (const r of runs)
      if (r.role === 'mix' && !seen.has(r.mix)) {
        seen.add(r.mix)
        profiles.push(...figures.profilesFor(workersOfRun(r)))
      }
  }
  const dir = join(out, 'figures')
  const figs = await writeFigures(runs, dir, { profiles, tolerance: 0.05, caption: figures.caption })
  for (const w of figs.warnings) process.stderr.write(`eclip bench: WARNING: ${w}\n`)
  return [reportFile, `${figs.files.length} figures in ${dir}`]
}

/** --from: the report and figures of existing results files (e.g. a GPU run and a sim run), running nothing. */
export async function reportFrom(
  files: string[],
  opts: { out: string; plots: boolean; profiles: ProfilesChoice; gemmTarget?: boolean },
): Promise<void> {
  const runs: Run[] = []
  const seen = new Map<string, string>()
  const warnings: string[] = []
  const provenances: Results['provenance'][] = []
  // runs the merged files' benches did not get to, where some stopped before their end
  let missing: number | undefined
  for (const f of files) {
    const r = readFile<Results>('results', f)
    for (const run of r.runs) {
      const other = seen.get(run.id)
      // a model's solo run recurs in every bench call whose mixes contain it: the first one stands for all
      if (other && run.role === 'solo') continue
      if (other) throw new UserError(`${f}: run ${run.id} is also in ${other}`)
      seen.set(run.id, f)
      // the executed plan stays where that bench call wrote it: its path from the merged file's directory
      if (run.planFile) run.planFile = relative(opts.out, join(dirname(f), run.planFile))
      runs.push(run)
    }
    provenances.push(r.provenance)
    warnings.push(...r.provenance.warnings.map((w) => `${f}: ${w}`))
    if (r.incomplete) {
      missing = (missing ?? 0) + r.incomplete.of - r.incomplete.runs
      warnings.push(`${f}: ${incompleteNote(r)}`)
    }
  }
  const gpus = [...new Set(runs.map((r) => r.gpu.name))]
  if (gpus.length > 1)
    throw new UserError(`--from: runs from several GPUs (${gpus.join(', ')}) cannot share a report`)
  // right-size figures and the system metrics' profile references (runs recorded before them) only where the
  // profiles of that GPU are at hand
  let profilesFor: Inputs['profilesFor'] | null = null
  try {
    const inputs = resolveInputs({
      profiles: opts.profiles,
      ...(opts.gemmTarget === false ? { gemmTarget: false } : {}),
    })
    if (inputs.gpu.name === gpus[0]) profilesFor = inputs.profilesFor
  } catch {
    profilesFor = null
  }
  const pf = profilesFor
  if (pf)
    attachProfileRefs(
      runs,
      (w) => {
        try {
          return pf([{ name: w.model, model: w.model, batch: w.batch, dtype: w.dtype }])[0] ?? null
        } catch {
          return null
        }
      },
      DEFAULT_TOLERANCE,
    )
  normalise(runs)
  mkdirSync(opts.out, { recursive: true })
  const backends = [...new Set(runs.map((r) => r.backend))]
  const header = [
    `eclip bench --from ${files.join(', ')}: ${runs.length} runs (${backends.join(' + ')}) on ${gpus[0] ?? '?'}`,
    ...warnings.map((w) => `WARNING: ${w}`),
  ].join('\n')
  const caption = backends.includes('gpu') ? `measured on ${gpus[0]}` : `simulated, ${gpus[0]} profiles`
  // the merged runs as one results file, so a report made of several bench calls is itself a results file
  const first = provenances[0]
  if (first) {
    // several benches' runs: no one bench's options (a merged file is not resumed)
    const { options: _options, ...provenance } = first
    const merged: Results = {
      format: 'eclip.results/1',
      runs,
      requestLog: null,
      provenance: {
        ...provenance,
        command: ['eclip', ...process.argv.slice(2)].join(' '),
        notes: `merged from ${files.join(', ')}: ${provenances.map((p) => p.command).join(' ; ')}`,
        warnings,
      },
      ...(missing !== undefined ? { incomplete: { runs: runs.length, of: runs.length + missing } } : {}),
    }
    writeResults(join(opts.out, 'results.json'), merged)
  }
  const written = await writeReport(runs, opts.out, header, opts.plots ? { caption, profilesFor } : null)
  console.log(`wrote ${written.join(', ')}`)
}

/**
 * Runs the experiment, prints the report (progress and warnings on stderr) and writes the files. `failed`: every run
 * on the backend failed (on the GPU the report then holds only simulated runs, if any); the CLI exits 1.
 */
export async function runBench(given: RunBenchOptions): Promise<{ failed: boolean }> {
  const t0 = performance.now()
  // --resume: the results.json of the earlier process, before anything else; its mixes run in the order it records
  const recorded = given.resume ? readRecorded(given.out) : undefined
  const o = recorded ? inRecordedOrder(given, recorded) : given
  const { mixes, policies } = o
  if (o.rate) {
    const own = mixes.filter((m) => hasLoadFields(m.workers))
    if (own.length > 0)
      throw new UserError(
        `--rate: ${own.map((m) => m.name).join(', ')} give their workers' own arrivals or priorities; leave --rate out`,
      )
  }
  if (o.plans !== undefined && o.tune)
    throw new UserError('--plans and --tune: --tune searches for the plans --plans gives; give one of them')
  const live = policies.filter(isTablePolicy)
  if (live.length === 0 && (o.holdMs !== undefined || o.tableThreads !== undefined))
    throw new UserError('--hold-ms and --table-threads are for eclip-live: add it to --policies')
  for (const m of o.modes)
    if (m !== 'stream' && m !== 'graph') throw new UserError(`--modes: unknown mode "${m}" (stream, graph)`)
  // each mode's runs are filed by its name: one named twice would run twice and clash in results.json
  const twice = o.modes.find((m, i) => o.modes.indexOf(m) !== i)
  if (twice !== undefined) throw new UserError(`--modes: ${twice} named twice`)
  const lengths = runLengths(o)
  const options = benchOptions(o, (mix) => lengths.get(mix), DEFAULTS[o.backend])
  const resultsFile = join(o.out, 'results.json')
  // what an earlier process of this bench finished, before the GPU backend starts: a wrong --out costs nothing
  const resume = recorded ? readResume(recorded, options, o, keptPlanFile(o)) : undefined
  if (resume === null) {
    process.stderr.write(`eclip bench: ${resultsFile} is complete: nothing to resume\n`)
    return { failed: false }
  }
  if (resume) process.stderr.write(`eclip bench: ${resume.note}\n`)
  // a resumed GPU bench given its profiles: every input but the GPU checked before the backend starts (its start
  // costs seconds); the GPU it reports is checked once it has
  if (resume && o.backend === 'gpu' && o.profiles !== undefined)
    checkSameInputs(resume, { ...options, ...usedInputs(o, resolveInputs(o), undefined) }, { gpu: false })
  // on the GPU, the backend first: the GPU it reports picks the default profiles and must be theirs
  const gpu =
    o.backend === 'gpu'
      ? await createGpuBackend(o.checkOutputs === false ? { checkOutputs: false } : {})
      : undefined
  let inputs: Inputs
  try {
    inputs = resolveInputs({ ...o, ...(gpu ? { device: gpu.gpu } : {}) })
    // recorded with the options; a resumed bench's kept runs must have used the same
    Object.assign(options, usedInputs(o, inputs, gpu?.gpu))
    if (resume) checkSameInputs(resume, options)
  } catch (err) {
    await gpu?.close()
    throw err
  }
  const backend: ExecuteBackend = gpu ?? new SimBackend(inputs.calibration)
  // the earlier processes' failures in the mixes kept, as an uncut bench would list them
  const failures: string[] = [...(resume?.warnings ?? [])]
  const planners = resumed(
    withGivenPlans(benchPlanners(o, inputs, live.length > 0, backend, failures), o),
    o,
    resume,
  )
  for (const w of inputs.warnings) process.stderr.write(`eclip bench: WARNING: ${w}\n`)

  mkdirSync(o.out, { recursive: true })
  const logFile = join(o.out, 'requests.csv')
  const record = { options, ...(resume ? { note: resume.note } : {}) }
  // the runs so far in results.json as they end, marked incomplete: a bench stopped early keeps what it measured
  // (on the GPU after every run: a write is nothing beside a run of seconds)
  const checkpoint = resultsCheckpoint(
    resultsFile,
    (done) => resultsOf(o, inputs, normalise(done), backend, failures, record),
    {
      everyMs: o.backend === 'gpu' ? 0 : 1000,
      warn: (m) => process.stderr.write(`eclip bench: WARNING: ${m}\n`),
      ...(resume
        ? { kept: { runs: [...resume.kept.runs.values()], mixes: [...resume.kept.mixes], of: resume.of } }
        : {}),
    },
  )
  let log: number | undefined
  let runs: Results['runs']
  try {
    if (resume) {
      // results.json first with the kept runs only, then the request log with theirs: a bench stopped in between
      // (planning, tuning) leaves no run listed whose requests are gone
      checkpoint.flush({ strict: true })
      // resumed: the kept runs' requests stay, the runs made again have theirs written again
      await keepRequests(logFile, new Set([...resume.kept.runs.values()].map((r) => r.id)))
    }
    log = openSync(logFile, resume ? 'a' : 'w')
    if (!resume) writeSync(log, `${REQUEST_LOG_HEADER}\n`)
    // an earlier bench's results and report would read as this one's until they are written again (a resumed
    // bench's results.json is its checkpoint of the kept runs)
    for (const f of [
      ...(resume ? [] : [resultsFile]),
      `${resultsFile}.tmp`,
      `${logFile}.tmp`,
      join(o.out, 'report.txt'),
    ])
      rmSync(f, { force: true })
    runs = await runAll(o, { inputs, planners, backend, lengths, log, failures, checkpoint, resume })
    // written before the backend closes (a signal then ends the process at once)
    writeResults(resultsFile, resultsOf(o, inputs, runs, backend, failures, record))
  } catch (err) {
    // the runs that ended before the failure stay in results.json
    checkpoint.flush()
    throw err
  } finally {
    if (log !== undefined) closeSync(log)
    await backend.close()
    await planners.threaded?.close()
  }
  const caption =
    o.backend === 'sim'
      ? `simulated, ${runs.some((r) => r.inputs.profiles === 'synthetic') ? 'SYNTHETIC profiles' : `${inputs.gpu.name} profiles`}`
      : `measured on ${inputs.gpu.name}`
  const written = [
    resultsFile,
    logFile,
    ...(await writeReport(
      runs,
      o.out,
      [benchHeader(o, inputs, lengths, failures), ...(resume ? [resume.note] : [])].join('\n'),
      o.plots ? { caption, profilesFor: inputs.profilesFor } : null,
    )),
  ]
  console.log(`wrote ${written.join(', ')} in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
  const failed = failures.length > 0 && !runs.some((r) => r.backend === o.backend)
  if (failed)
    process.stderr.write(
      `eclip bench: every ${o.backend === 'gpu' ? 'GPU' : 'simulated'} run failed (${failures.length}); nothing ` +
        `was ${o.backend === 'gpu' ? 'measured' : 'simulated'} — the first: ${failures[0]}\n`,
    )
  return { failed }
}

/** benchInputs of this bench: its GPU, profile directory, and what of its inputs its runs use. */
function usedInputs(o: RunBenchOptions, inputs: Inputs, device: Gpu | undefined): Record<string, string> {
  const profiles = o.mixes.map((m) => {
    try {
      return inputs.profilesFor(expandWorkers(m, o.batch))
    } catch (err) {
      // a profile missing is the runs' failure to report, not this digest's
      return (err as Error).message
    }
  })
  const { gpu, primitives, power, calibration } = inputs
  return benchInputs((device ?? gpu).name, inputs.dir, { gpu, primitives, power, calibration, profiles })
}

/** A run's warm-up and window: the command line's, else a workload's own, else the backend's default. */
interface RunLength {
  warmupS: number
  windowS: number
}

/** Each workload's own run length, unless the command line gives one. */
function runLengths(o: RunBenchOptions): Map<string, RunLength> {
  const d = DEFAULTS[o.backend]
  return new Map(
    o.workloads.map((w) => [
      w.name,
      { windowS: o.duration ?? w.durationS, warmupS: o.warmup ?? w.warmupS ?? d.warmupS },
    ]),
  )
}

/** The planners of a bench call: every policy's, and eclip-live's plan tables (on worker threads). */
interface BenchPlanners {
  planner: Planner
  tablePlanner?: TablePlanner
  threaded?: ReturnType<typeof threadedSimPlanner>
}

/**
 * eclip-fit scores its candidate plans on the simulator with the same calibrated inputs (also for --backend gpu: the
 * plan is made on the host, then executed), and with --tune goes on measuring them on `backend`. eclip-live's tables
 * plan their subsets on worker threads as the simulator-scored planner; with --tune, one subset after another with the
 * tuning planner, so every set plan's guard on total requests is checked on measured rates (one backend: one run at a
 * time).
 */
function benchPlanners(
  o: RunBenchOptions,
  inputs: Inputs,
  live: boolean,
  backend: ExecuteBackend,
  failures: string[],
): BenchPlanners {
  const sim = {
    gpu: inputs.gpu,
    primitives: inputs.primitives,
    power: inputs.power,
    calibration: inputs.calibration,
  }
  const made: MeasuredEvaluator[] = []
  const extra = {
    ...(o.rtFactor === undefined ? {} : { rtFactor: o.rtFactor }),
    ...(o.rtMechanism === undefined ? {} : { rtMechanism: o.rtMechanism }),
    ...(o.rtReserveSms === undefined ? {} : { rtReserveSms: o.rtReserveSms }),
    ...(o.rtGateUs === undefined ? {} : { rtGateUs: o.rtGateUs }),
    ...(o.rtUngatedSms === undefined ? {} : { rtUngatedSms: o.rtUngatedSms }),
    ...(o.rtBestEffort === undefined ? {} : { rtBestEffort: o.rtBestEffort }),
    ...(o.objective === undefined ? {} : { objective: o.objective }),
    ...(o.minShare === undefined ? {} : { minShare: o.minShare }),
    ...(o.fitStarts === undefined ? {} : { fitStarts: o.fitStarts }),
    ...(o.maxP95 === undefined ? {} : { maxP95: o.maxP95 }),
    ...(o.switchMax === undefined ? {} : { switchMax: o.switchMax }),
  }
  // stream priorities for eclip-fit's own plans only: eclip-live's set plans below are made without
  const own = o.streamPriorities ? { fitPriorities: true } : {}
  // every plan is made before the first run (and the progress bar): a long search says how far it has got
  const progress = {
    say: (mix: string, line: string) => process.stderr.write(`eclip bench: ${mix}: ${line}\n`),
  }
  const tuned = (t: TuneChoice, more: object) =>
    tunedOnce(
      simPlanner((gpu) => ({ ...sim, gpu }), {
        options: { ...extra, ...more },
        tuneFor: tuningOn(backend, sim, t, made),
        progress,
      }),
      made,
      failures,
      tunablePlans(o.policies, o).includes('eclip-rt'),
    )
  const planner: Planner = o.tune
    ? tuned(o.tune, own)
    : plannedOnce(simPlanner((gpu) => ({ ...sim, gpu }), { options: { ...extra, ...own }, progress }))
  if (!live) return { planner }
  const tableOn =
    (subsetPlanner: SubsetPlanner, concurrency: number): TablePlanner =>
    (gpu, mix, workers, profiles, reuse, subsets, minTotalShare) =>
      makePlanTable(gpu, mix, workers, profiles, {
        policy: o.tablePolicy,
        planner: subsetPlanner,
        reuse,
        ...(subsets ? { subsets } : {}),
        ...(minTotalShare !== undefined ? { minTotalShare } : {}),
        concurrency,
      })
  // tuned: the subsets one after another with the tuning planner (one backend, one run at a time)
  if (o.tune) return { planner, tablePlanner: tableOn(o.streamPriorities ? tuned(o.tune, {}) : planner, 1) }
  const threaded = threadedSimPlanner(sim, extra, o.tableThreads ?? defaultTableThreads())
  if (threaded.note) inputs.warnings.push(threaded.note)
  return { planner, tablePlanner: tableOn(threaded.planner, threaded.threads), threaded }
}

/** Where under --out a bench keeps a (mix, policy)'s plan (onPlan), or a table policy's table (onTable). */
const keptPlanFile = (o: Pick<RunBenchOptions, 'batch'>) => (mix: string, policy: Policy) =>
  planFileName(planFileKey(mix, policy, o.batch ?? null), isTablePolicy(policy) ? 'table' : 'plan')

/** --plans: the planner reads a (mix, policy)'s plan from the directory where it holds one. */
function withGivenPlans(planners: BenchPlanners, o: RunBenchOptions): BenchPlanners {
  if (o.plans === undefined) return planners
  const note = (line: string) => process.stderr.write(`eclip bench: --plans: ${line}\n`)
  return { ...planners, planner: givenPlanner(planners.planner, o.plans, keptPlanFile(o), note) }
}

/** A resumed bench's planners: a kept mix's plans (and tables) are the ones its kept runs executed, under plans/. */
function resumed(planners: BenchPlanners, o: RunBenchOptions, resume: Resume | undefined): BenchPlanners {
  if (!resume) return planners
  const { tablePlanner } = planners
  const file = keptPlanFile(o)
  return {
    ...planners,
    planner: keptPlanner(planners.planner, resume, (mix, policy) => join(o.out, file(mix, policy))),
    ...(tablePlanner
      ? {
          tablePlanner: keptTablePlanner(tablePlanner, resume, (mix) =>
            join(o.out, file(mix, TABLE_POLICIES[0])),
          ),
        }
      : {}),
  }
}

/** `planner` asked once per (mix, policy, guard, workers): the simulated twins of a GPU bench run the GPU's plans. */
function plannedOnce(planner: Planner): Planner {
  const plans = new Map<string, Promise<Plan>>()
  return (gpu, mix, workers, profiles, opts) => {
    const key = JSON.stringify([mix, opts.policy, opts.minTotalShare ?? null, workers])
    let plan = plans.get(key)
    if (!plan) {
      plan = planner(gpu, mix, workers, profiles, opts)
      plans.set(key, plan)
    }
    return plan
  }
}

/**
 * A tuning planner that plans each (mix, policy) once (plannedOnce): the twins run the plans tuned on the GPU, not
 * plans tuned again. Says on stderr what each tuning cost and measured; a run that failed in it is a warning.
 */
function tunedOnce(
  planner: Planner,
  made: MeasuredEvaluator[],
  failures: string[],
  rtTuned: boolean,
): Planner {
  return plannedOnce((gpu, mix, workers, profiles, opts) => {
    const before = made.length
    return planner(gpu, mix, workers, profiles, opts).then((p) => {
      for (const ev of made.slice(before))
        for (const f of ev.failures) {
          failures.push(`tuning run ${f} FAILED (scored as no throughput)`)
          process.stderr.write(`eclip bench: WARNING: tuning run ${f} failed, scored as no throughput\n`)
        }
      const t = p.solver.tuning
      if (!t && rtTuned && p.policy === 'eclip-rt')
        process.stderr.write(`eclip bench: WARNING: ${NOTHING_TO_TUNE(mix)}\n`)
      const raised = p.workers.filter((w) => w.streamPriority === 'high').map((w) => w.name)
      const sets =
        t?.prioritySets !== undefined
          ? `, ${t.prioritySets} sets of raised workers measured${(t.priorityPlans ?? 1) > 1 ? ` on the ${t.priorityPlans} best plans (${t.p95Replaced ? 'the p95 hold took a run within the cap' : `taken: #${t.priorityPlan}`})` : ''} (raised: ${raised.join(', ') || 'none'})`
          : ''
      if (t)
        process.stderr.write(
          `eclip bench: ${mix} ${p.policy} tuned on ${t.backend}: ${t.evaluations} runs in ${t.seconds.toFixed(1)} s, ${t.moves} moves kept${sets}; in tuning STP ${t.stpVsBaseline.toFixed(3)}× baseline's, worst worker ${t.worstWorker} ${t.worstVsBaseline.toFixed(3)}×${t.fellBack ? " (the baseline's placement)" : ''}\n`,
        )
      return p
    })
  })
}

/** A file name under plans/ for a run's key. */
const planFileName = (key: string, kind: 'plan' | 'table') =>
  join('plans', `${key.replaceAll('|', '.').replace(/[^A-Za-z0-9_.-]/g, '_')}.${kind}.json`)

/** The experiment's runs (and, GPU with simCompare, the same on the simulator), a progress bar on a terminal. */
async function runAll(
  o: RunBenchOptions,
  c: {
    inputs: Inputs
    planners: BenchPlanners
    backend: ExecuteBackend
    lengths: Map<string, RunLength>
    log: number
    failures: string[]
    checkpoint: Checkpoint
    resume: Resume | undefined
  },
): Promise<Results['runs']> {
  const { inputs, planners, lengths } = c
  const d = DEFAULTS[o.backend]
  const bar =
    process.stderr.isTTY === true
      ? new cliProgress.SingleBar(
          {
            format: 'eclip bench [{bar}] {value}/{total} {label}',
            stream: process.stderr,
            hideCursor: true,
          },
          cliProgress.Presets.shades_classic,
        )
      : undefined
  let started = false
  // the GPU's runs, not their simulated twins, are what the checkpoint counts
  let measuring = true
  // on the GPU, from its first run to its last, a signal (Ctrl-C, a time limit's SIGTERM) writes every run that ended
  let signalsOff: (() => void) | undefined
  try {
    const experiment = {
      mixes: o.mixes,
      policies: o.policies,
      modes: o.modes as ('stream' | 'graph')[],
      batch: o.batch ?? null,
      gpu: inputs.gpu,
      profilesFor: inputs.profilesFor,
      primitives: inputs.primitives,
      power: inputs.power,
      backend: c.backend,
      planner: planners.planner,
      ...(planners.tablePlanner ? { tablePlanner: planners.tablePlanner } : {}),
      ...(o.holdMs !== undefined ? { holdUs: o.holdMs * 1000 } : {}),
      onTable: (table: PlanTable, key: string) => {
        const file = planFileName(key, 'table')
        mkdirSync(join(o.out, 'plans'), { recursive: true })
        writeFileSync(join(o.out, file), `${JSON.stringify(table, null, 1)}\n`)
        const p = table.planning
        process.stderr.write(
          `eclip bench: plan table of ${table.mix}: ${table.plans.length} plans (${p?.planned ?? '?'} planned, ${p?.reused ?? 0} reused) in ${((p?.wallMs ?? 0) / 1000).toFixed(1)} s on ${p?.threads ?? 1} thread(s), ${table.union.partitions.length} partitions in all\n`,
        )
        return file
      },
      loop: o.rate ? { kind: 'open' as const, ratePerWorker: o.rate } : { kind: 'closed' as const },
      warmupS: o.warmup ?? d.warmupS,
      windowS: o.duration ?? d.durationS,
      runLength: (mix: string) => lengths.get(mix),
      seed: o.seed,
      solo: o.solo,
      ...(o.bracket ? { bracket: true } : {}),
      notes: inputs.warnings,
      onProgress: (done: number, total: number, label: string) => {
        if (measuring) c.checkpoint.total(total)
        if (measuring && o.backend === 'gpu' && !signalsOff)
          signalsOff = exitOnSignal(c.checkpoint, (signal) => {
            bar?.stop()
            process.stderr.write(
              `eclip bench: stopped by ${signal}; results.json holds every run that ended\n`,
            )
          })
        if (bar) {
          if (!started) bar.start(total, done, { label })
          started = true
          bar.update(done, { label })
        } else if (done < total) process.stderr.write(`eclip bench: [${done + 1}/${total}] ${label}\n`)
      },
      // every plan executed, kept beside results.json (Run.planFile): the runs can be re-simulated as they ran
      onPlan: (plan: Plan, key: string) => {
        const file = planFileName(key, 'plan')
        mkdirSync(join(o.out, 'plans'), { recursive: true })
        writeFileSync(join(o.out, file), `${JSON.stringify(plan, null, 1)}\n`)
        return file
      },
      onRunError: (label: string, err: Error) => {
        c.failures.push(`run ${label} FAILED: ${err.message}`)
        process.stderr.write(`eclip bench: run ${label} failed, going on: ${err.message}\n`)
      },
      onResult: (run: Results['runs'][number], result: RunResult) => {
        logRequests(c.log, run, result)
        c.checkpoint.add(run)
      },
      onMixDone: (mix: string) => {
        if (measuring) c.checkpoint.mixDone(mix)
      },
      ...(c.resume ? { kept: c.resume.kept } : {}),
    }
    const runs = await runExperiment(experiment)
    signalsOff?.()
    signalsOff = undefined
    if (o.backend !== 'gpu' || !o.simCompare) return runs
    c.checkpoint.flush()
    measuring = false
    // the same experiment on the simulator, so the report shows measured and simulated side by side (runs share
    // their key); the simulator keeps its own short default window
    started = false
    bar?.stop()
    // the twins of every run, the kept ones' too (an earlier process stopped before it made any)
    const { kept: _kept, ...twins } = experiment
    return normalise([
      ...runs,
      ...(await runExperiment({
        ...twins,
        backend: new SimBackend(inputs.calibration),
        warmupS: DEFAULTS.sim.warmupS,
        windowS: DEFAULTS.sim.durationS,
        // the twins' requests go to the log; the checkpoint holds the GPU's runs (the simulator makes the twins again)
        onResult: (run: Results['runs'][number], result: RunResult) => logRequests(c.log, run, result),
      })),
    ])
  } finally {
    signalsOff?.()
    bar?.stop()
  }
}

/** Appends a run's requests to the request log (requests.csv): one row per request of every worker. */
function logRequests(log: number, run: Results['runs'][number], result: RunResult) {
  const rows: string[] = []
  result.workers.forEach((w, wi) => {
    const name = run.workers[wi]?.name ?? String(wi)
    for (let i = 0; i < w.endUs.length; i++)
      rows.push(
        `${run.id},${name},${i},${(w.arrivalUs[i] ?? 0).toFixed(3)},${(w.startUs[i] ?? 0).toFixed(3)},${(w.endUs[i] ?? 0).toFixed(3)}`,
      )
  })
  if (rows.length > 0) writeSync(log, `${rows.join('\n')}\n`)
}

/** results.json: the runs with where their inputs came from and what ran them. */
function resultsOf(
  o: RunBenchOptions,
  inputs: Inputs,
  runs: Results['runs'],
  backend: ExecuteBackend,
  failures: string[],
  record: { options: Record<string, string>; note?: string },
): Results {
  return {
    format: 'eclip.results/1',
    runs,
    requestLog: 'requests.csv',
    provenance: {
      date: new Date().toISOString(),
      method: o.backend === 'sim' ? 'simulated' : 'measured',
      tool: 'eclip bench',
      host: hostname(),
      gpu: inputs.gpu.name,
      // versions of the stack the profiles were measured with (the simulator itself runs none of it)…
      ...(inputs.gpu.measured.driver ? { driver: inputs.gpu.measured.driver } : {}),
      ...(inputs.gpu.measured.cuda ? { cuda: inputs.gpu.measured.cuda } : {}),
      ...(inputs.gpu.measured.torch ? { torch: inputs.gpu.measured.torch } : {}),
      // …or, on the GPU, of the stack that ran the runs, with the settings that change results (hardware queues)
      ...(backend.versions ?? {}),
      notes: `${inputs.source}; primitives: ${inputs.primitives.measured.method}; power model: ${inputs.power.measured.method}${record.note ? `; ${record.note}` : ''}`,
      eclip: '0.1.0',
      node: process.version,
      seed: o.seed,
      command: ['eclip', ...process.argv.slice(2)].join(' '),
      warnings: [...inputs.warnings, ...failures],
      options: record.options,
    },
  }
}

/** The report's header: what ran, on what, how long; each mix's own arrivals; the warnings. */
function benchHeader(
  o: RunBenchOptions,
  inputs: Inputs,
  lengths: Map<string, RunLength>,
  failures: string[],
): string {
  const d = DEFAULTS[o.backend]
  const { mixes, workloads, policies } = o
  // each mix that gives its workers' arrivals or priorities: one line per worker
  const loads = mixes
    .filter((m) => hasLoadFields(m.workers))
    .map((m) => {
      const l = lengths.get(m.name)
      const ws = expandWorkers(m, o.batch)
        .map(
          (w) =>
            `${w.name} ${w.priority === 'realtime' ? `realtime (SLO ${w.sloMs} ms), ` : w.priority === 'best-effort' ? 'best-effort, ' : ''}${describeArrival(w.arrival)}`,
        )
        .join('; ')
      return `${m.name}${l ? ` (warm-up ${l.warmupS} s, window ${l.windowS} s)` : ''}: ${ws}`
    })
  return [
    `eclip bench: ${mixes.length} ${workloads.length > 0 ? 'workload' : 'mix'}(s) × ${policies.length} policies on the ${o.backend === 'sim' ? 'SIMULATOR' : 'GPU'} (${inputs.gpu.name}), ${inputs.source}`,
    `${o.rate ? `open loop, ${o.rate} req/s per worker` : loads.length > 0 ? "each worker's own arrivals where its mix gives them, else closed loop" : 'closed loop'}, warm-up ${o.warmup ?? d.warmupS} s, window ${o.duration ?? d.durationS} s per run${lengths.size > 0 ? ' (workloads: their own)' : ''}, seed ${o.seed}${o.batch ? `, batch ${o.batch}` : ''}`,
    ...loads,
    ...(o.tune ? [tuneLine(o.backend, o.tune, o, policies)] : []),
    ...[...inputs.warnings, ...failures].map((w) => `WARNING: ${w}`),
  ].join('\n')
}

/** The header's line on --tune: which plans were tuned (tunablePlans: eclip-fit's, eclip-live's set plans,
 *  eclip-rt's best-effort plan), where, on what budget. */
function tuneLine(
  backend: 'sim' | 'gpu',
  t: TuneChoice,
  o: RunBenchOptions,
  policies: readonly Policy[],
): string {
  const d = MEASURED_DEFAULTS[backend]
  const slack = t.simFloorSlack ?? SIM_FLOOR_SLACK
  const names: Record<TunablePlans, string> = {
    'eclip-fit': "eclip-fit's plans",
    'eclip-live': "eclip-live's set plans of two or more workers",
    'eclip-rt':
      "eclip-rt's best-effort plans (its best-effort workers alone, where a mix has a real-time worker and two or more best-effort ones)",
  }
  return `${tunablePlans(policies, o)
    .map((k) => names[k])
    .join(
      ', ',
    )} TUNED on the ${backend === 'gpu' ? 'GPU' : 'simulator'} backend before the runs: the simulator's ${t.candidates} best candidates, the baseline's placement and model-wise homes measured, then at most ${t.evaluations} more by a coordinate search on measurements (margin ${t.margin} of STP)${slack ? `, then up to ${t.candidates} more of the simulator's search again with every floor ${slack} lower (the best taken where it beats the search's end by the margin)` : ''}${o.maxP95 === undefined ? '' : `, the p95 cap held on the measurements, not in the simulator's searches`}, ${t.warmupS ?? d.warmupS} s warm-up + ${t.windowS ?? d.windowS} s window each; a choice whose window puts the p95 of a worker with a floor of ${DEFAULT_MIN_SHARE} or more past ${+heldP95Cap(o.maxP95).toFixed(3)}× baseline's gives way to the best measured run that meets the floors and keeps them within it; the runs below are fresh windows`
}
