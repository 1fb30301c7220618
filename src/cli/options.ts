// What `eclip bench` and `eclip serve-bench` read from their command lines the same way: numeric options, --mix,
// --workload, --policies and eclip-rt's options; and --tune with its budget, the same on `eclip bench` and
// `eclip plan`. Besides, what every command checks the same way before any work: no option given an empty value,
// output paths that can be written, and options given that the command would ignore.
import { accessSync, constants, existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { type CommandUnknownOpts, Option } from '@commander-js/extra-typings'
import YAML from 'yaml'
import { MEASURED_DEFAULTS, type TuneChoice } from '../execute/measured-evaluator.ts'
import { DTYPES, type Dtype } from '../formats/common.ts'
import {
  ALL_POLICIES,
  isMpsPolicy,
  isTablePolicy,
  type Mix,
  type MixFile,
  POLICIES,
  type Policy,
  PRIORITY_POLICIES,
  readFile,
  UserError,
  type Workload,
  type WorkloadFile,
} from '../formats/index.ts'
import { PAPER_MIXES, WORKLOADS_HOME } from '../paths.ts'
import {
  CONFIRM,
  DEFAULT_MIN_SHARE,
  DEFAULT_RT_BEST_EFFORT,
  DEFAULT_RT_FACTOR,
  DEFAULT_RT_GATE_US,
  DEFAULT_RT_MECHANISM,
  DEFAULT_RT_RESERVE_SMS,
  DEFAULT_SWITCH_MAX,
  FIT_STARTS_CHOICES,
  MEASURED_FLOOR_MARGIN,
  PLAN_OBJECTIVES,
  plansUnderFloors,
  plansUnderSwitchBudget,
  RT_BEST_EFFORT,
  RT_MECHANISMS,
  type RtBestEffort,
  type RtMechanism,
  rtMechanismOf,
  SIM_FLOOR_SLACK,
  TUNE_DEFAULTS,
  tunablePlans,
} from '../plan/index.ts'
import { loadMixArrivals } from '../workload/arrivals.ts'

/** A commander parser for a number option ≥ `min`. */
export const num =
  (name: string, min: number, integer = false) =>
  (v: string) => {
    const x = Number(v)
    // Number('') is 0: a blank value is no number
    if (v.trim() === '' || !Number.isFinite(x) || x < min || (integer && !Number.isInteger(x)))
      throw new UserError(`--${name}: expected ${integer ? 'an integer' : 'a number'} ≥ ${min}, got "${v}"`)
    return x
  }

/** Whether a mix or workload file says it is a workload file (`format: eclip.workloads/1`); errors are readFile's. */
function isWorkloadFile(file: string): boolean {
  try {
    const text = readFileSync(file, 'utf8')
    const v = /\.ya?ml$/i.test(file) ? YAML.parse(text) : JSON.parse(text)
    return (v as { format?: unknown } | null)?.format === 'eclip.workloads/1'
  } catch {
    return false
  }
}

/** The workloads of a workload file, their trace sources read (relative to the file). */
export function readWorkloads(file: string): Workload[] {
  return readFile<WorkloadFile>('workload', file).workloads.map((w) => ({
    ...w,
    workers: loadMixArrivals({ name: w.name, workers: w.workers }, dirname(file), 'workload').workers,
  }))
}

/**
 * The mixes of a mix file, or of a workload file (a workload is a mix with a run length), traces read. A mix file
 * that names two mixes alike is refused: a mix is picked and its runs and plans are filed by its name.
 */
export function readMixes(file: string): Mix[] {
  if (isWorkloadFile(file))
    return readWorkloads(file).map((w) => ({
      name: w.name,
      ...(w.description !== undefined ? { description: w.description } : {}),
      workers: w.workers,
    }))
  // (the mix format refuses a file that names two mixes alike)
  return readFile<MixFile>('mix', file).mixes.map((m) => loadMixArrivals(m, dirname(file)))
}

/** The first name of `names` that occurs more than once, or undefined. */
export const namedTwice = (names: readonly string[]) => names.find((n, i) => names.indexOf(n) !== i)

/** A --dtype value, checked before any work: the GPU backend would read it only after its start. */
export const dtypeArg = (v: string): Dtype => {
  if (!(DTYPES as readonly string[]).includes(v))
    throw new UserError(`--dtype: expected one of ${DTYPES.join(', ')}, got "${v}"`)
  return v as Dtype
}

/** A parser of batch sizes, comma-separated, each an integer ≥ 1 and named once. */
export const batchSizes =
  (flag: string) =>
  (v: string): number[] => {
    const parts = v.split(',').map((b) => b.trim())
    if (!parts.every((b) => /^[1-9]\d*$/.test(b)))
      throw new UserError(`${flag}: expected batch sizes ≥ 1, comma-separated, got "${v}"`)
    const twice = namedTwice(parts)
    if (twice !== undefined) throw new UserError(`${flag}: ${twice} named twice`)
    return parts.map(Number)
  }

/**
 * --workload: workload files, or names — a shipped file's stem (`disb`: workloads/disb.yaml, all its workloads) or
 * one workload of a shipped file (`disb-A`) —, or one workload of a file (`FILE.yaml:NAME`), comma-separated.
 */
export function resolveWorkloads(arg: string): Workload[] {
  const shipped = existsSync(WORKLOADS_HOME)
    ? readdirSync(WORKLOADS_HOME)
        .filter((f) => /\.ya?ml$/i.test(f))
        .sort()
        .map((f) => join(WORKLOADS_HOME, f))
    : []
  const out: Workload[] = []
  for (const item of arg.split(',').map((x) => x.trim())) {
    const one = /^(.+\.(?:ya?ml|json)):([^:/]+)$/i.exec(item)
    if (one && !existsSync(item)) {
      const [, file = '', name = ''] = one
      if (!existsSync(file)) throw new UserError(`--workload ${item}: no such file ${file}`)
      const all = readWorkloads(file)
      const found = all.find((w) => w.name === name)
      if (!found)
        throw new UserError(
          `--workload ${item}: no workload "${name}" in ${file} (it has: ${all.map((w) => w.name).join(', ')})`,
        )
      out.push(found)
      continue
    }
    if (/\.(ya?ml|json)$/i.test(item) || existsSync(item)) {
      if (!existsSync(item)) throw new UserError(`--workload ${item}: no such file`)
      out.push(...readWorkloads(item))
      continue
    }
    const file = shipped.find((f) => f.replace(/^.*\//, '').replace(/\.ya?ml$/i, '') === item)
    if (file) {
      out.push(...readWorkloads(file))
      continue
    }
    const found = shipped.flatMap((f) => readWorkloads(f)).find((w) => w.name === item)
    if (!found) {
      const known = shipped.flatMap((f) => readWorkloads(f).map((w) => w.name))
      throw new UserError(
        `--workload: no workload file or workload "${item}" (shipped in ${WORKLOADS_HOME}: ${known.join(', ') || 'none'}; or give a file)`,
      )
    }
    out.push(found)
  }
  const twice = namedTwice(out.map((w) => w.name))
  if (twice !== undefined) throw new UserError(`--workload: workload "${twice}" named twice`)
  return out
}

/** --mix: "all" (the paper's seven), a mix file (every mix in it), or names from the paper's file, comma-separated. */
export function resolveMixes(arg: string): Mix[] {
  if (/\.(ya?ml|json)$/i.test(arg) || existsSync(arg)) {
    if (!existsSync(arg)) throw new UserError(`--mix ${arg}: no such file`)
    return readMixes(arg)
  }
  const paper = readFile<MixFile>('mix', PAPER_MIXES).mixes
  if (arg === 'all') return paper
  const names = arg.split(',').map((name) => name.trim())
  const twice = namedTwice(names)
  if (twice !== undefined) throw new UserError(`--mix: mix "${twice}" named twice`)
  return names.map((name) => {
    const m = paper.find((x) => x.name === name)
    if (!m)
      throw new UserError(
        `--mix: no mix "${name}" in ${PAPER_MIXES} (known: ${paper.map((x) => x.name).join(', ')}; or give a mix file)`,
      )
    return m
  })
}

/** --workload or --mix (one of them; --mix "all" when neither): the mixes to run and the workloads they came from. */
export function resolveMixesOrWorkloads(opts: { workload?: string; mix?: string }): {
  mixes: Mix[]
  workloads: Workload[]
} {
  if (opts.workload !== undefined && opts.mix !== undefined)
    throw new UserError('--workload and --mix: give one (a workload file is read by either)')
  if (opts.workload === undefined) return { mixes: resolveMixes(opts.mix ?? 'all'), workloads: [] }
  const workloads = resolveWorkloads(opts.workload)
  return { mixes: workloads.map((w) => ({ name: w.name, workers: w.workers })), workloads }
}

/**
 * --policies. "all" is every policy on the GPU; on the simulator it leaves out the MPS policies, whose simulation is
 * only an uncalibrated approximation (src/execute/sim/mps.ts): named explicitly, they are simulated all the same.
 * The priority policies (eclip-rt) are in "all" where one of `mixes` has a real-time worker.
 */
export function resolvePolicies(
  arg: string,
  backend: 'sim' | 'gpu' = 'sim',
  mixes: readonly Mix[] = [],
): Policy[] {
  if (arg === 'all') {
    const rt = mixes.some((m) => m.workers.some((w) => w.priority === 'realtime'))
    return [...POLICIES.filter((p) => backend === 'gpu' || !isMpsPolicy(p)), ...(rt ? PRIORITY_POLICIES : [])]
  }
  const out = arg.split(',').map((p) => p.trim())
  for (const p of out)
    if (!(ALL_POLICIES as readonly string[]).includes(p))
      throw new UserError(`--policies: unknown policy "${p}" (known: ${ALL_POLICIES.join(', ')}, or all)`)
  // each policy's runs are filed by its name: one named twice would run twice and clash in results.json
  const twice = namedTwice(out)
  if (twice !== undefined) throw new UserError(`--policies: ${twice} named twice`)
  // baseline is what every ratio is taken against: always run it
  if (!out.includes('baseline')) out.unshift('baseline')
  return out as Policy[]
}

/** eclip-rt's options, the same on bench and serve-bench (`eclip plan` has its own, with its own number parser). */
export const rtMechanismOption = () =>
  new Option(
    '--rt-mechanism <m>',
    `eclip-rt: how real-time workers keep their latency — gate (high-priority streams on the whole GPU, and best-effort work pauses between ops while a real-time request runs), priority (the same without pauses) or partition (partitions of their own) (default ${DEFAULT_RT_MECHANISM})`,
  ).choices(RT_MECHANISMS)
export const rtReserveOption = () =>
  new Option(
    '--rt-reserve-sms <n>',
    `eclip-rt's priority mechanism: SMs, whole slices, no best-effort work runs on (default ${DEFAULT_RT_RESERVE_SMS})`,
  ).argParser(num('rt-reserve-sms', 0, true))
export const rtGateOption = () =>
  new Option(
    '--rt-gate-us <us>',
    `eclip-rt's gate mechanism: µs of a best-effort worker's kernels between two of its gates (default ${DEFAULT_RT_GATE_US})`,
  ).argParser(positive('rt-gate-us'))
export const rtUngatedOption = () =>
  new Option(
    '--rt-ungated-sms <n>',
    "eclip-rt's gate mechanism, best-effort workers planned: one whose every group runs on partitions of this many SMs or fewer keeps no gates and runs beside the real-time requests (default 0: every one gated)",
  ).argParser(num('rt-ungated-sms', 0, true))
export const rtBestEffortOption = () =>
  new Option(
    '--rt-best-effort <how>',
    `eclip-rt's gate mechanism: how best-effort workers share the GPU while no real-time request runs — eclip-fit (planned among themselves, each above its floor) or whole (every one on the whole GPU, as under baseline) (default ${DEFAULT_RT_BEST_EFFORT})`,
  ).choices(RT_BEST_EFFORT)
/** eclip-fit's objective, the same on bench and plan. */
export const objectiveOption = () =>
  new Option(
    '--objective <what>',
    "eclip-fit (and eclip-rt's best-effort plan): what the search maximises under every worker's floor — stp (Σ rate / solo rate, default) or requests (total requests/s, DISB's overall throughput)",
  ).choices(PLAN_OBJECTIVES)
/** Where eclip-fit's search climbs from (PlanOptions.fitStarts), the same on bench and plan. */
export const fitStartsOption = () =>
  new Option(
    '--fit-starts <where>',
    "eclip-fit: where its search climbs from — several (model-wise's homes, the same near the baseline's placement, and each worker in a one-slice home; default) or one (model-wise's homes alone: a third to a half of the planning time, plans that may score lower)",
  ).choices(FIT_STARTS_CHOICES)
/** The simulator's contention constants in place of the profile directory's, the same on bench and plan. */
export const calibrationOption = () =>
  new Option(
    '--calibration <file>',
    "simulator contention constants the plans are scored and simulated on (eclip.sim-calibration/1; default: the profile directory's sim-calibration.json, else unfitted defaults)",
  )
/** eclip-fit's p95 cap per worker (PlanOptions.maxP95), the same on bench and plan. */
export const maxP95Option = () =>
  new Option(
    '--max-p95 <r>',
    "eclip-fit: every worker's p95 under the plan ÷ its p95 under baseline co-location, at most, as the simulator predicts both; kept like a floor (default: no cap per worker); with --stream-priorities or --tune also the cap raised sets and the tuning's choice are held to (default 1.07); with --tune held on the measurements alone, not in the simulator's searches",
  ).argParser(num('max-p95', 1))
/** The switch budget per request (PlanOptions.switchMax), the same on bench and plan. */
export const switchMaxOption = () =>
  new Option(
    '--switch-max <n>',
    `eclip and eclip-fit (and eclip-rt's best-effort plan, eclip-live's set plans): partition switches per request per worker, at most (default ${DEFAULT_SWITCH_MAX}, the paper's)`,
  ).argParser(num('switch-max', 0, true))
/** Refuses --switch-max where no plan of the policies given is made under a switch budget (plansUnderSwitchBudget). */
export function checkSwitchMax(
  switchMax: number | undefined,
  policies: readonly string[],
  o: Parameters<typeof plansUnderSwitchBudget>[1],
  flag = '--policies',
): void {
  if (switchMax === undefined || plansUnderSwitchBudget(policies, o)) return
  throw new UserError(
    `--switch-max bounds the switches eclip's and eclip-fit's plans make (eclip-rt's best-effort plan under its gate mechanism with --rt-best-effort eclip-fit, eclip-live's set plans when they are eclip's or eclip-fit's): ${flag} ${policies.join(',')} makes none of them`,
  )
}
/** eclip-fit's stream priorities (PlanOptions.fitPriorities), the same on bench and plan. */
export const streamPrioritiesOption = () =>
  new Option(
    '--stream-priorities',
    "eclip-fit: after the search, score raising some workers' CUDA streams to high priority on the chosen plan and keep the best set where it gains and lifts no worker's predicted p95 past 1.07× baseline's, the 1.1 target less a margin (docs/plan.md); with --tune each set is measured on the backend instead",
  )
/** Refuses --stream-priorities where no eclip-fit plan is made. */
export function checkStreamPriorities(
  on: boolean | undefined,
  policies: readonly string[],
  flag = '--policies',
): void {
  if (!on) return
  if (!policies.includes('eclip-fit'))
    throw new UserError(
      `--stream-priorities sets eclip-fit's stream priorities: ${flag} ${policies.join(',')} has no eclip-fit`,
    )
}
/**
 * The floor of every worker its mix entry leaves without one (PlanOptions.minShare), the same on bench, plan and
 * serve-bench.
 */
export const minShareOption = () =>
  new Option(
    '--min-share <f>',
    `eclip-fit (and eclip-rt's best-effort plan; eclip's and eclip-rt's plans are checked against it): the floor of every worker whose mix entry sets no minShare — its throughput under the plan ÷ under baseline co-location, as the simulator predicts both (default ${DEFAULT_MIN_SHARE}; 0 lets the planner starve it)`,
  ).argParser(num('min-share', 0))
/** Refuses --min-share where no plan of the policies given is held to floors (plansUnderFloors). */
export function checkMinShare(
  minShare: number | undefined,
  policies: readonly string[],
  o: Parameters<typeof plansUnderFloors>[1],
  flag = '--policies',
): void {
  if (minShare === undefined || plansUnderFloors(policies, o)) return
  throw new UserError(
    `--min-share sets the floors eclip-fit's plans keep (eclip-rt's best-effort plan under its gate mechanism with --rt-best-effort eclip-fit, eclip-live's set plans when they are eclip-fit's) and eclip's and eclip-rt's plans are checked against: ${flag} ${policies.join(',')} makes none of them`,
  )
}
export const rtFactorOption = () =>
  new Option(
    '--rt-factor <f>',
    `eclip-rt's partition mechanism: a real-time worker's latency target over its latency alone on the whole GPU (default ${DEFAULT_RT_FACTOR})`,
  ).argParser(num('rt-factor', 1))

/** The eclip-rt flags given, as makePlan's options. */
export function rtPlanOptions(o: {
  rtMechanism?: RtMechanism
  rtReserveSms?: number
  rtFactor?: number
  rtGateUs?: number
  rtBestEffort?: RtBestEffort
  rtUngatedSms?: number
}): {
  rtMechanism?: RtMechanism
  rtReserveSms?: number
  rtFactor?: number
  rtGateUs?: number
  rtBestEffort?: RtBestEffort
  rtUngatedSms?: number
} {
  return {
    ...(o.rtBestEffort !== undefined ? { rtBestEffort: o.rtBestEffort } : {}),
    ...(o.rtMechanism !== undefined ? { rtMechanism: o.rtMechanism } : {}),
    ...(o.rtReserveSms !== undefined ? { rtReserveSms: o.rtReserveSms } : {}),
    ...(o.rtFactor !== undefined ? { rtFactor: o.rtFactor } : {}),
    ...(o.rtGateUs !== undefined ? { rtGateUs: o.rtGateUs } : {}),
    ...(o.rtUngatedSms !== undefined ? { rtUngatedSms: o.rtUngatedSms } : {}),
  }
}

/** A commander parser for a number option > 0. */
const positive = (name: string) => (v: string) => {
  const x = Number(v)
  if (v.trim() === '' || !Number.isFinite(x) || x <= 0)
    throw new UserError(`--${name}: expected a number > 0, got "${v}"`)
  return x
}

const { gpu: gpuTune, sim: simTune } = MEASURED_DEFAULTS

/** --tune and its budget (src/plan/tune.ts, docs/plan.md), the same on bench and plan. */
export const tuneOption = () =>
  new Option(
    '--tune',
    "eclip-fit (and eclip-rt's best-effort plan; in eclip bench, eclip-live's set plans): after the simulator's search, measure its best candidates on the backend and continue the search on measurements",
  )
export const tuneCandidatesOption = () =>
  new Option(
    '--tune-candidates <k>',
    `--tune: the simulator's best distinct candidates measured, besides the baseline's placement and model-wise homes (default ${TUNE_DEFAULTS.candidates})`,
  ).argParser(num('tune-candidates', 1, true))
export const tuneEvaluationsOption = () =>
  new Option(
    '--tune-evaluations <n>',
    `--tune: measurements the coordinate search continues with from the best measured candidate, at most (default ${TUNE_DEFAULTS.evaluations})`,
  ).argParser(num('tune-evaluations', 0, true))
export const tuneWindowOption = () =>
  new Option(
    '--tune-window <s>',
    `--tune: each measured candidate's window, s (default: gpu ${gpuTune.windowS}, sim ${simTune.windowS}); a close call (plans over the choice that only the floors' margin ruled out) is measured again in windows ${CONFIRM.windowFactor}× as long`,
  ).argParser(positive('tune-window'))
export const tuneWarmupOption = () =>
  new Option(
    '--tune-warmup <s>',
    `--tune: each measured candidate's warm-up, s (default: gpu ${gpuTune.warmupS}, sim ${simTune.warmupS})`,
  ).argParser(num('tune-warmup', 0))
export const tunePriorityPlansOption = () =>
  new Option(
    '--tune-priority-plans <k>',
    `--tune with --stream-priorities: the best measured plans whose sets of raised workers are measured, the best raised one taken (default ${TUNE_DEFAULTS.priorityPlans}: the tuned plan's alone)`,
  ).argParser(num('tune-priority-plans', 1, true))
export const tuneFloorMarginOption = () =>
  new Option(
    '--tune-floor-margin <m>',
    `--tune: added to every worker's floor where the tuning checks it on a measured window, to 1 at most: a window's noise (default ${MEASURED_FLOOR_MARGIN})`,
  ).argParser(num('tune-floor-margin', 0))
export const tuneSimFloorSlackOption = () =>
  new Option(
    '--tune-sim-floor-slack <s>',
    `--tune: the simulator's search runs again with every worker's floor this much lower, and its best candidates are measured too (the floors as given are checked on the measurements; default ${SIM_FLOOR_SLACK}; 0: no second search)`,
  ).argParser(num('tune-sim-floor-slack', 0))
export const tuneMarginOption = () =>
  new Option(
    '--tune-margin <m>',
    `--tune: STP ratio (vs baseline) a move must gain over the best measured plan to be kept: measurement noise (default ${TUNE_DEFAULTS.margin})`,
  ).argParser(num('tune-margin', 0))

/**
 * --tune needs a plan searched over candidates among the policies given (tunablePlans: eclip-fit's own, eclip-live's
 * set plans on `eclip bench`, eclip-rt's best-effort plan). Refused, naming what to change, where there is none.
 */
export function checkTune(
  policies: readonly string[],
  o: Parameters<typeof tunablePlans>[1],
  flag: '--policies' | '--policy' = '--policies',
): void {
  if (tunablePlans(policies, o).length > 0) return
  if (policies.includes('eclip-rt')) {
    const mech = rtMechanismOf({ mechanism: o.rtMechanism, reserveSms: o.rtReserveSms, factor: o.rtFactor })
    const be = o.rtBestEffort ?? DEFAULT_RT_BEST_EFFORT
    throw new UserError(
      `--tune tunes eclip-rt's best-effort plan, which only its gate mechanism with --rt-best-effort eclip-fit makes (here: ${mech}${mech === 'gate' ? `, --rt-best-effort ${be}` : ''})`,
    )
  }
  if (flag === '--policies' && policies.some(isTablePolicy))
    throw new UserError(
      `--tune tunes eclip-live's set plans when they are eclip-fit's: --table-policy ${o.tablePolicy} has no search to tune (use --table-policy eclip-fit)`,
    )
  const which = flag === '--policies' ? 'eclip-fit, eclip-live or eclip-rt' : 'eclip-fit or eclip-rt'
  throw new UserError(
    `--tune tunes the plans searched over candidates (eclip-fit's, ${flag === '--policies' ? "eclip-live's set plans, " : ''}eclip-rt's best-effort plan): use ${which} in ${flag} (${policies.join(', ')})`,
  )
}

/** The tuning the flags ask for, or none; a --tune-* flag without --tune is refused, naming it. */
export function resolveTune(o: {
  tune?: boolean
  tuneCandidates?: number
  tuneEvaluations?: number
  tuneWindow?: number
  tuneWarmup?: number
  tuneMargin?: number
  tunePriorityPlans?: number
  tuneFloorMargin?: number
  tuneSimFloorSlack?: number
  streamPriorities?: boolean
}): TuneChoice | undefined {
  if (o.tunePriorityPlans !== undefined && !o.streamPriorities)
    throw new UserError(
      `--tune-priority-plans is for --tune with --stream-priorities: add ${o.tune ? '--stream-priorities' : '--tune and --stream-priorities'}, or leave it out`,
    )
  if (!o.tune) {
    const given = (
      [
        ['--tune-candidates', o.tuneCandidates],
        ['--tune-evaluations', o.tuneEvaluations],
        ['--tune-window', o.tuneWindow],
        ['--tune-warmup', o.tuneWarmup],
        ['--tune-margin', o.tuneMargin],
        ['--tune-priority-plans', o.tunePriorityPlans],
        ['--tune-floor-margin', o.tuneFloorMargin],
        ['--tune-sim-floor-slack', o.tuneSimFloorSlack],
      ] as const
    ).find(([, v]) => v !== undefined)
    if (given) throw new UserError(`${given[0]} is for --tune: add --tune, or leave it out`)
    return undefined
  }
  return {
    candidates: o.tuneCandidates ?? TUNE_DEFAULTS.candidates,
    evaluations: o.tuneEvaluations ?? TUNE_DEFAULTS.evaluations,
    margin: o.tuneMargin ?? TUNE_DEFAULTS.margin,
    priorityPlans: o.tunePriorityPlans ?? TUNE_DEFAULTS.priorityPlans,
    ...(o.tuneFloorMargin !== undefined ? { floorMargin: o.tuneFloorMargin } : {}),
    ...(o.tuneSimFloorSlack !== undefined ? { simFloorSlack: o.tuneSimFloorSlack } : {}),
    ...(o.tuneWindow !== undefined ? { windowS: o.tuneWindow } : {}),
    ...(o.tuneWarmup !== undefined ? { warmupS: o.tuneWarmup } : {}),
  }
}

/**
 * Refuses --objective, --fit-starts and --max-p95 where no plan of the policies given is made by eclip-fit's search
 * (tunablePlans).
 */
export function checkFitOptions(
  o: { objective?: string; fitStarts?: string; maxP95?: number } & Parameters<typeof tunablePlans>[1],
  policies: readonly string[],
  flag = '--policies',
): void {
  const given = [
    o.objective !== undefined ? '--objective' : '',
    o.fitStarts !== undefined ? '--fit-starts' : '',
    o.maxP95 !== undefined ? '--max-p95' : '',
  ]
    .filter((f) => f !== '')
    .join(', ')
    .replace(/, ([^,]*)$/, ' and $1')
  if (given === '' || tunablePlans(policies, o).length > 0) return
  throw new UserError(
    `${given} set${given.includes(' and ') ? '' : 's'} eclip-fit's search (its plans, eclip-rt's best-effort plan under its gate mechanism with --rt-best-effort eclip-fit, eclip-live's set plans when they are eclip-fit's): ${flag} ${policies.join(',')} makes none of them`,
  )
}

/**
 * serve-bench's --objective and --min-share, for the plans eclip serve makes: its eclip plans are not checked against
 * floors (no simulator), and its eclip-live table plans take the floors from each model's minShare but no objective.
 */
export function checkServedFitOptions(
  o: { objective?: string; minShare?: number } & Parameters<typeof tunablePlans>[1],
  policies: readonly string[],
): void {
  const list = policies.join(',')
  if (o.objective !== undefined && !tunablePlans(policies, o).some((p) => p !== 'eclip-live'))
    throw new UserError(
      `--objective sets eclip-fit's search as eclip serve runs it (eclip-fit's plans, eclip-rt's best-effort plan under its gate mechanism with --rt-best-effort eclip-fit): --policies ${list} makes none of them`,
    )
  if (
    o.minShare !== undefined &&
    !policies.some((p) => p === 'eclip-fit' || p === 'eclip-rt' || isTablePolicy(p))
  )
    throw new UserError(
      `--min-share sets the floors eclip serve's plans keep (eclip-fit's, eclip-rt's, eclip-live's set plans): --policies ${list} makes none of them`,
    )
}

/** The eclip-rt options of rtPlanOptions, as the command line names them. */
export const RT_FLAGS = [
  ['rtMechanism', '--rt-mechanism'],
  ['rtReserveSms', '--rt-reserve-sms'],
  ['rtFactor', '--rt-factor'],
  ['rtGateUs', '--rt-gate-us'],
  ['rtBestEffort', '--rt-best-effort'],
  ['rtUngatedSms', '--rt-ungated-sms'],
] as const

/** Refuses eclip-rt's options where eclip-rt is not among the policies, naming them. */
export function checkRtOptions(
  o: Parameters<typeof rtPlanOptions>[0],
  policies: readonly string[],
  flag = '--policies',
): void {
  if (policies.includes('eclip-rt')) return
  const given = RT_FLAGS.filter(([k]) => o[k] !== undefined).map(([, f]) => f)
  if (given.length > 0)
    throw new UserError(
      `${given.join(', ')} ${given.length > 1 ? 'are' : 'is'} for eclip-rt: ${flag} ${policies.join(',')} has no eclip-rt`,
    )
}

/** Fails fast, before any work, when `file` could not be written: its directory is missing or read-only, or it is a
 * directory itself. */
export function checkWritable(flag: string, file: string): void {
  const dir = dirname(file)
  let st: ReturnType<typeof statSync> | undefined
  try {
    st = statSync(dir)
  } catch {
    throw new UserError(`${flag} ${file}: directory ${dir} does not exist`)
  }
  if (!st.isDirectory()) throw new UserError(`${flag} ${file}: ${dir} is not a directory`)
  if (existsSync(file) && statSync(file).isDirectory())
    throw new UserError(`${flag} ${file}: is a directory, give a file name`)
  try {
    accessSync(existsSync(file) ? file : dir, constants.W_OK)
  } catch {
    throw new UserError(`${flag} ${file}: not writable (permission denied)`)
  }
}

/**
 * Fails fast, before any work, when the output directory `dir` could not be made or written into: it, or the nearest
 * of its parents that exists (where it would be made), is a file or read-only.
 */
export function checkWritableDir(flag: string, dir: string): void {
  const want = resolve(dir)
  let at = want
  while (!existsSync(at) && dirname(at) !== at) at = dirname(at)
  const where = at === want ? '' : `${at} `
  if (!statSync(at).isDirectory())
    throw new UserError(`${flag} ${dir}: ${where}is a file, not a directory (give a directory)`)
  try {
    accessSync(at, constants.W_OK)
  } catch {
    throw new UserError(`${flag} ${dir}: ${where}not writable (permission denied)`)
  }
}

/**
 * A commander preAction hook: refuses an option given an empty (or blank) value. Commander takes "" as a value, which
 * the commands would read as not given (and run their defaults) or as 0 (Number('') is 0).
 */
export function refuseEmptyValues(cmd: CommandUnknownOpts): void {
  for (const o of cmd.options) {
    if (!o.required && !o.optional) continue // a flag without a value
    const key = o.attributeName()
    if (cmd.getOptionValueSource(key) !== 'cli') continue
    const v: unknown = cmd.getOptionValue(key)
    const values = Array.isArray(v) ? v : [v]
    if (values.some((x) => typeof x === 'string' && x.trim() === '')) {
      const flag = o.long ?? o.flags
      const want = o.flags.slice(o.flags.indexOf(flag) + flag.length).trim()
      throw new UserError(`${flag}: empty value, expected ${want} (or leave ${flag} out)`)
    }
  }
}

/** The options of `cmd` given on its command line (their long flags), among those whose keys `keep` does not list. */
export function givenOnCommandLine(cmd: CommandUnknownOpts, keep: readonly string[] = []): string[] {
  return cmd.options
    .filter((o) => !keep.includes(o.attributeName()) && cmd.getOptionValueSource(o.attributeName()) === 'cli')
    .map((o) => o.long ?? o.flags)
}
