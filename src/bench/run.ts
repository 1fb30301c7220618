// `eclip bench`'s application: runs an experiment (mixes × policies × modes) on the simulator or the GPU and writes
// results.json, the raw request log, a text report and the figures; or (reportFrom) the report and figures of
// existing results files. The CLI (src/cli/commands/bench.ts) parses flags and calls runBench or reportFrom.
import { closeSync, existsSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs'
import { hostname } from 'node:os'
import { dirname, join, relative } from 'node:path'
import cliProgress from 'cli-progress'
import type { ExecuteBackend, RunResult } from '../execute/backend.ts'
import { createGpuBackend } from '../execute/gpu/index.ts'
import { checkSameGpu, simPlanner } from '../execute/sim/evaluator.ts'
import {
  CALIBRATION,
  type Calibration,
  calibrationFrom,
  defaultPowerModel,
  defaultPrimitives,
  describePower,
  SimBackend,
} from '../execute/sim/index.ts'
import { defaultTableThreads, threadedSimPlanner } from '../execute/sim/table-threads.ts'
import {
  expandWorkers,
  type Gpu,
  hasLoadFields,
  isTablePolicy,
  type Mix,
  type Plan,
  type PlanTable,
  type Policy,
  type PowerModel,
  type Primitives,
  type Profile,
  parseFormat,
  REQUEST_LOG_HEADER,
  type Results,
  type Run,
  readFile,
  type SimCalibration,
  UserError,
  type WorkerSpec,
  type Workload,
} from '../formats/index.ts'
import { attachProfileRefs, normalise } from '../measure/metrics.ts'
import { PROFILES_HOME } from '../paths.ts'
import type { Planner } from '../plan/index.ts'
import { makePlanTable } from '../plan/table.ts'
import { DEFAULT_TOLERANCE } from '../profile/rightsize.ts'
import { loadGpu, loadPrimitives, loadProfile } from '../profile/store.ts'
import { SYNTHETIC_MODELS, syntheticH100Gpu, syntheticProfile } from '../profile/synthetic.ts'
import { describeArrival } from '../workload/arrivals.ts'
import { runExperiment, type TablePlanner } from './experiment.ts'
import { detailReport, textReport, writeFigures } from './report.ts'

/** Simulated defaults are short: the simulator's energy is exact, so it needs no 10 s NVML window (docs/design.md §6). */
const DEFAULTS = { sim: { warmupS: 0.05, durationS: 0.5 }, gpu: { warmupS: 2, durationS: 10 } }

interface Inputs {
  gpu: Gpu
  profilesFor: (w: WorkerSpec[]) => Profile[]
  primitives: Primitives
  power: PowerModel
  calibration: Calibration
  warnings: string[]
  source: string
}

/** Where profiles, primitives and the power model come from; every fallback is a warning carried into the results. */
function resolveInputs(opts: {
  profiles: ProfilesChoice
  primitives?: string
  power?: string
  calibration?: string
}): Inputs {
  const warnings: string[] = []
  let gpu: Gpu
  let profilesFor: Inputs['profilesFor']
  let dirPrimitives: Primitives | undefined
  let source: string
  const chosen = opts.profiles === 'synthetic' ? undefined : opts.profiles
  if (chosen?.warning) warnings.push(chosen.warning)
  const dir = chosen?.dir
  if (dir) {
    gpu = loadGpu(dir)
    profilesFor = memoProfiles((w) => loadProfile(dir, gpu, w.model, w.batch, w.dtype))
    dirPrimitives = loadPrimitives(dir, gpu)
    source = `profiles from ${dir}`
  } else {
    gpu = syntheticH100Gpu()
    warnings.push(
      `SYNTHETIC PROFILES: ${opts.profiles === 'synthetic' ? 'asked for with --profiles synthetic' : `no profiles shipped in ${PROFILES_HOME}`}, so every kernel time is generated (src/profile/synthetic.ts), not measured; these results say nothing about a real GPU`,
    )
    profilesFor = memoProfiles((w) => {
      if (!SYNTHETIC_MODELS[w.model])
        throw new UserError(
          `no synthetic profile for model "${w.model}" (known: ${Object.keys(SYNTHETIC_MODELS).join(', ')}); pass --profiles DIR`,
        )
      return syntheticProfile({ model: w.model, batch: w.batch, dtype: w.dtype, gpu })
    })
    source = 'SYNTHETIC profiles'
  }
  const gpuRef = { name: gpu.name, smCount: gpu.smCount, sliceSize: gpu.sliceSize }
  let primitives: Primitives
  if (opts.primitives) {
    primitives = readFile<Primitives>('primitives', opts.primitives)
    checkSameGpu(opts.primitives, primitives.gpu, gpu)
  } else if (dirPrimitives) primitives = dirPrimitives
  else {
    primitives = defaultPrimitives(gpuRef)
    warnings.push(
      'no primitives file: default costs (partition create 1.8 ms and switch 1 µs measured on H100, docs/design.md §7; graph launch 2.5 µs assumed)',
    )
  }
  let power: PowerModel
  const dirPower = dir ? join(dir, 'power.json') : undefined
  const powerFile = opts.power ?? (dirPower && existsSync(dirPower) ? dirPower : undefined)
  if (powerFile) {
    power = readFile<PowerModel>('power', powerFile)
    checkSameGpu(powerFile, power.gpu, gpu)
  } else power = defaultPowerModel(gpuRef)
  if (!power.fitted)
    warnings.push(
      `power model NOT fitted to NVML (placeholder: ${describePower(power)}): simulated energy is indicative only`,
    )
  let calibration = CALIBRATION
  const dirCal = dir ? join(dir, 'sim-calibration.json') : undefined
  const calFile = opts.calibration ?? (dirCal && existsSync(dirCal) ? dirCal : undefined)
  if (calFile) {
    const c = readFile<SimCalibration>('sim-calibration', calFile)
    checkSameGpu(calFile, c.gpu, gpu)
    calibration = calibrationFrom(c)
  }
  if (!calibration.fitted)
    warnings.push(`simulator contention model not calibrated against GPU runs (${calibration.source})`)
  return { gpu, profilesFor, primitives, power, calibration, warnings, source }
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
  opts: { out: string; plots: boolean; profiles: ProfilesChoice },
): Promise<void> {
  const runs: Run[] = []
  const seen = new Map<string, string>()
  const warnings: string[] = []
  const provenances: Results['provenance'][] = []
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
  }
  const gpus = [...new Set(runs.map((r) => r.gpu.name))]
  if (gpus.length > 1)
    throw new UserError(`--from: runs from several GPUs (${gpus.join(', ')}) cannot share a report`)
  // right-size figures and the system metrics' profile references (runs recorded before them) only where the
  // profiles of that GPU are at hand
  let profilesFor: Inputs['profilesFor'] | null = null
  try {
    const inputs = resolveInputs({ profiles: opts.profiles })
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
    const merged: Results = {
      format: 'eclip.results/1',
      runs,
      requestLog: null,
      provenance: {
        ...first,
        command: ['eclip', ...process.argv.slice(2)].join(' '),
        notes: `merged from ${files.join(', ')}: ${provenances.map((p) => p.command).join(' ; ')}`,
        warnings,
      },
    }
    parseFormat('results', merged, 'merged results')
    writeFileSync(join(opts.out, 'results.json'), `${JSON.stringify(merged, null, 1)}\n`)
  }
  const written = await writeReport(runs, opts.out, header, opts.plots ? { caption, profilesFor } : null)
  console.log(`wrote ${written.join(', ')}`)
}

/** One profile per (model, batch, dtype), loaded or generated once however many runs ask for it. */
function memoProfiles(make: (w: WorkerSpec) => Profile): Inputs['profilesFor'] {
  const cache = new Map<string, Profile>()
  return (ws) =>
    ws.map((w) => {
      const k = `${w.model}|${w.batch}|${w.dtype}`
      let p = cache.get(k)
      if (!p) {
        p = make(w)
        cache.set(k, p)
      }
      return p
    })
}

/**
 * A profile directory (with the warning of a fallback to a GPU other than the H100), synthetic profiles asked for,
 * or none: no profiles shipped (synthetic profiles, with a warning that says so).
 */
export type ProfilesChoice = { dir: string; warning?: string } | 'synthetic' | undefined

/** `eclip bench`'s options, the flags resolved (mixes and workloads read, policy names checked). */
export interface RunBenchOptions {
  mixes: Mix[]
  /** the workloads the mixes came from (--workload), each with its own run length; none with --mix */
  workloads: Workload[]
  policies: Policy[]
  /** execution modes for multi-group plans: stream, graph */
  modes: string[]
  backend: 'sim' | 'gpu'
  /** steady window and warm-up per run, s (default: the backend's, or a workload's own) */
  duration?: number
  warmup?: number
  seed: number
  batch?: number
  /** open loop: Poisson arrivals per worker, req/s */
  rate?: number
  rtFactor?: number
  profiles: ProfilesChoice
  /** primitives, power model and contention constants files (default: the profile directory's) */
  primitives?: string
  power?: string
  calibration?: string
  /** eclip-live: the hold, the policy of its tables' plans, the planning threads */
  holdMs?: number
  tablePolicy: Policy
  tableThreads?: number
  out: string
  solo: boolean
  plots: boolean
  /** with the GPU backend: also simulate every run for the side-by-side columns */
  simCompare: boolean
}

/** Runs the experiment, prints the report (progress and warnings on stderr) and writes the files. */
export async function runBench(o: RunBenchOptions): Promise<void> {
  const t0 = performance.now()
  const { mixes, workloads, policies } = o
  if (o.rate) {
    const own = mixes.filter((m) => hasLoadFields(m.workers))
    if (own.length > 0)
      throw new UserError(
        `--rate: ${own.map((m) => m.name).join(', ')} give their workers' own arrivals or priorities; leave --rate out`,
      )
  }
  const live = policies.filter(isTablePolicy)
  if (live.length === 0 && (o.holdMs !== undefined || o.tableThreads !== undefined))
    throw new UserError('--hold-ms and --table-threads are for eclip-live: add it to --policies')
  const modes = o.modes
  for (const m of modes)
    if (m !== 'stream' && m !== 'graph') throw new UserError(`--modes: unknown mode "${m}" (stream, graph)`)
  const backendName = o.backend
  const d = DEFAULTS[backendName]
  const windowS = o.duration ?? d.durationS
  const warmupS = o.warmup ?? d.warmupS
  // a workload's own run length, unless the command line gives one
  const lengths = new Map(
    workloads.map((w) => [
      w.name,
      {
        windowS: o.duration ?? w.durationS,
        warmupS: o.warmup ?? w.warmupS ?? d.warmupS,
      },
    ]),
  )
  const inputs = resolveInputs(o)
  // eclip-fit scores its candidate plans on the simulator with the same calibrated inputs (also for --backend gpu:
  // the plan is made on the host, then executed)
  const planner: Planner = simPlanner(
    (gpu) => ({
      gpu,
      primitives: inputs.primitives,
      power: inputs.power,
      calibration: inputs.calibration,
    }),
    o.rtFactor === undefined ? {} : { rtFactor: o.rtFactor },
  )
  // eclip-live: each mix's plan table, its subsets planned on worker threads as the simulator-scored planner
  const threaded =
    live.length > 0
      ? threadedSimPlanner(
          {
            gpu: inputs.gpu,
            primitives: inputs.primitives,
            power: inputs.power,
            calibration: inputs.calibration,
          },
          o.rtFactor === undefined ? {} : { rtFactor: o.rtFactor },
          o.tableThreads ?? defaultTableThreads(),
        )
      : undefined
  if (threaded?.note) inputs.warnings.push(threaded.note)
  const tablePlanner: TablePlanner | undefined = threaded
    ? (gpu, mix, workers, profiles, reuse) =>
        makePlanTable(gpu, mix, workers, profiles, {
          policy: o.tablePolicy,
          planner: threaded.planner,
          reuse,
          concurrency: threaded.threads,
        })
    : undefined
  const backend: ExecuteBackend =
    backendName === 'gpu' ? await createGpuBackend() : new SimBackend(inputs.calibration)
  for (const w of inputs.warnings) process.stderr.write(`eclip bench: WARNING: ${w}\n`)

  mkdirSync(o.out, { recursive: true })
  const logFile = join(o.out, 'requests.csv')
  const log = openSync(logFile, 'w')
  writeSync(log, `${REQUEST_LOG_HEADER}\n`)
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
  let runs: Results['runs']
  const failures: string[] = []
  try {
    const experiment = {
      mixes,
      policies,
      modes: modes as ('stream' | 'graph')[],
      batch: o.batch ?? null,
      gpu: inputs.gpu,
      profilesFor: inputs.profilesFor,
      primitives: inputs.primitives,
      power: inputs.power,
      backend,
      planner,
      ...(tablePlanner ? { tablePlanner } : {}),
      ...(o.holdMs !== undefined ? { holdUs: o.holdMs * 1000 } : {}),
      onTable: (table: PlanTable, key: string) => {
        const file = join('plans', `${key.replaceAll('|', '.').replace(/[^A-Za-z0-9_.-]/g, '_')}.table.json`)
        mkdirSync(join(o.out, 'plans'), { recursive: true })
        writeFileSync(join(o.out, file), `${JSON.stringify(table, null, 1)}\n`)
        const p = table.planning
        process.stderr.write(
          `eclip bench: plan table of ${table.mix}: ${table.plans.length} plans (${p?.planned ?? '?'} planned, ${p?.reused ?? 0} reused) in ${((p?.wallMs ?? 0) / 1000).toFixed(1)} s on ${p?.threads ?? 1} thread(s), ${table.union.partitions.length} partitions in all\n`,
        )
        return file
      },
      loop: o.rate ? { kind: 'open' as const, ratePerWorker: o.rate } : { kind: 'closed' as const },
      warmupS,
      windowS,
      runLength: (mix: string) => lengths.get(mix),
      seed: o.seed,
      solo: o.solo,
      notes: inputs.warnings,
      onProgress: (done: number, total: number, label: string) => {
        if (bar) {
          if (!started) bar.start(total, done, { label })
          started = true
          bar.update(done, { label })
        } else if (done < total) process.stderr.write(`eclip bench: [${done + 1}/${total}] ${label}\n`)
      },
      // every plan executed, kept beside results.json (Run.planFile): the runs can be re-simulated as they ran
      onPlan: (plan: Plan, key: string) => {
        const file = join('plans', `${key.replaceAll('|', '.').replace(/[^A-Za-z0-9_.-]/g, '_')}.plan.json`)
        mkdirSync(join(o.out, 'plans'), { recursive: true })
        writeFileSync(join(o.out, file), `${JSON.stringify(plan, null, 1)}\n`)
        return file
      },
      onRunError: (label: string, err: Error) => {
        failures.push(`run ${label} FAILED: ${err.message}`)
        process.stderr.write(`eclip bench: run ${label} failed, going on: ${err.message}\n`)
      },
      onResult: (run: Results['runs'][number], result: RunResult) => {
        const rows: string[] = []
        result.workers.forEach((w, wi) => {
          const name = run.workers[wi]?.name ?? String(wi)
          for (let i = 0; i < w.endUs.length; i++)
            rows.push(
              `${run.id},${name},${i},${(w.arrivalUs[i] ?? 0).toFixed(3)},${(w.startUs[i] ?? 0).toFixed(3)},${(w.endUs[i] ?? 0).toFixed(3)}`,
            )
        })
        if (rows.length > 0) writeSync(log, `${rows.join('\n')}\n`)
      },
    }
    runs = await runExperiment(experiment)
    if (backendName === 'gpu' && o.simCompare) {
      // the same experiment on the simulator, so the report shows measured and simulated side by side (runs
      // share their key); the simulator keeps its own short default window
      started = false
      bar?.stop()
      runs = normalise([
        ...runs,
        ...(await runExperiment({
          ...experiment,
          backend: new SimBackend(inputs.calibration),
          warmupS: DEFAULTS.sim.warmupS,
          windowS: DEFAULTS.sim.durationS,
        })),
      ])
    }
  } finally {
    bar?.stop()
    closeSync(log)
    await backend.close()
    await threaded?.close()
  }

  const results: Results = {
    format: 'eclip.results/1',
    runs,
    requestLog: 'requests.csv',
    provenance: {
      date: new Date().toISOString(),
      method: backendName === 'sim' ? 'simulated' : 'measured',
      tool: 'eclip bench',
      host: hostname(),
      gpu: inputs.gpu.name,
      // versions of the stack the profiles were measured with (the simulator itself runs none of it)…
      ...(inputs.gpu.measured.driver ? { driver: inputs.gpu.measured.driver } : {}),
      ...(inputs.gpu.measured.cuda ? { cuda: inputs.gpu.measured.cuda } : {}),
      ...(inputs.gpu.measured.torch ? { torch: inputs.gpu.measured.torch } : {}),
      // …or, on the GPU, of the stack that ran the runs, with the settings that change results (hardware queues)
      ...(backend.versions ?? {}),
      notes: `${inputs.source}; primitives: ${inputs.primitives.measured.method}; power model: ${inputs.power.measured.method}`,
      eclip: '0.1.0',
      node: process.version,
      seed: o.seed,
      command: ['eclip', ...process.argv.slice(2)].join(' '),
      warnings: [...inputs.warnings, ...failures],
    },
  }
  parseFormat('results', results, 'results.json (about to be written)')
  const resultsFile = join(o.out, 'results.json')
  writeFileSync(resultsFile, `${JSON.stringify(results, null, 1)}\n`)
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
  const header = [
    `eclip bench: ${mixes.length} ${workloads.length > 0 ? 'workload' : 'mix'}(s) × ${policies.length} policies on the ${backendName === 'sim' ? 'SIMULATOR' : 'GPU'} (${inputs.gpu.name}), ${inputs.source}`,
    `${o.rate ? `open loop, ${o.rate} req/s per worker` : loads.length > 0 ? "each worker's own arrivals where its mix gives them, else closed loop" : 'closed loop'}, warm-up ${warmupS} s, window ${windowS} s per run${lengths.size > 0 ? ' (workloads: their own)' : ''}, seed ${o.seed}${o.batch ? `, batch ${o.batch}` : ''}`,
    ...loads,
    ...[...inputs.warnings, ...failures].map((w) => `WARNING: ${w}`),
  ].join('\n')
  const caption =
    backendName === 'sim'
      ? `simulated, ${runs.some((r) => r.inputs.profiles === 'synthetic') ? 'SYNTHETIC profiles' : `${inputs.gpu.name} profiles`}`
      : `measured on ${inputs.gpu.name}`
  const written = [
    resultsFile,
    logFile,
    ...(await writeReport(
      runs,
      o.out,
      header,
      o.plots ? { caption, profilesFor: inputs.profilesFor } : null,
    )),
  ]
  console.log(`wrote ${written.join(', ')} in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
}
