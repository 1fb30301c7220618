// `eclip bench --resume`: finishes a bench an earlier process of the same command stopped before its end (a signal, a
// crash, a device call's time limit), from what it left in --out. The unit kept is the mix: a mix all of whose runs
// ended is kept as recorded (its runs, their requests in requests.csv, its plans in plans/), one with a run missing is
// run again whole (its ratios from one process), and so is a mix never started; a solo run is kept if it ended.
import { createHash } from 'node:crypto'
import {
  closeSync,
  createReadStream,
  existsSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { MEASURED_DEFAULTS } from '../execute/measured-evaluator.ts'
import { DEFAULT_HOLD_MS } from '../execute/sim/live.ts'
import {
  isTablePolicy,
  type Plan,
  type PlanTable,
  type Policy,
  REQUEST_LOG_HEADER,
  type Results,
  type Run,
  readFile,
  UserError,
} from '../formats/index.ts'
import { rtAloneMixName } from '../measure/metrics.ts'
import {
  DEFAULT_MIN_SHARE,
  DEFAULT_OBJECTIVE,
  DEFAULT_RT_BEST_EFFORT,
  DEFAULT_RT_FACTOR,
  DEFAULT_RT_GATE_US,
  DEFAULT_RT_RESERVE_SMS,
  DEFAULT_SWITCH_MAX,
  FIT_STARTS,
  FIT_STARTS_CHOICES,
  MEASURED_FLOOR_MARGIN,
  PLAN_OBJECTIVES,
  type Planner,
  type PlanOptions,
  plansUnderFloors,
  plansUnderSwitchBudget,
  RT_BEST_EFFORT,
  RT_MECHANISMS,
  type RtMechanism,
  rtMechanismOf,
  SIM_FLOOR_SLACK,
  TUNE_DEFAULTS,
  tunablePlans,
} from '../plan/index.ts'
import { type Kept, plansAsked, type TablePlanner } from './experiment.ts'
import type { RunBenchOptions } from './options.ts'

/** What to do where the earlier runs cannot be kept: the bench again, from its start. */
const AGAIN = 'run the bench again without --resume (which replaces the runs in --out)'

/** What a resumed bench keeps of the earlier processes' runs. */
export interface Resume {
  /** The runs kept, by run key, and the mixes kept whole (ExperimentOptions.kept). */
  kept: Kept
  /** Run mixes (Run.mix) of what is kept — the mixes, their real-time workers alone, the solo runs — whose plans are
   * read from plans/, where the earlier process wrote them, not made again. */
  planned: Set<string>
  /** The earlier processes' warnings on runs (and tunings) of the mixes kept: failures an uncut bench would list. */
  warnings: string[]
  /** For the provenance's notes and the report's header. */
  note: string
  /** What results.json records of the inputs its runs used (benchInputs), for checkSameInputs. */
  inputs: { file: string; recorded: Record<string, string> }
  /** How many runs the earlier process's bench held (its incomplete.of): the checkpoint's total until this one's. */
  of: number
}

/**
 * The options a bench's runs depend on, as flags and their resolved values — a default as its value (`defaults`: the
 * backend's run length; optionDefaults: the planners' and the tuning's, where a policy of the bench uses them), a file
 * as its absolute path and a digest of its contents, a list (--policies, --modes) in the order given and compared as a
 * set — so that a bench given an option at its default, a path another way, or its policies in another order is the
 * same bench; a flag with no default (--rate, --batch) left out. And a digest of each mix's definition (`mix NAME`, its
 * description aside). Recorded in results.json's provenance, compared by --resume. Not in it: --out, --no-plots,
 * --table-threads (the plans do not depend on them), --no-check-outputs (a check, no number).
 */
export function benchOptions(
  o: RunBenchOptions,
  lengthOf: (mix: string) => object | undefined,
  defaults: { warmupS: number; durationS: number },
): Record<string, string> {
  const t = o.tune
  const profiles = o.profiles === 'synthetic' ? 'synthetic' : o.profiles && resolve(o.profiles.dir)
  const list = (l: readonly string[]) => [...new Set(l)].join(',')
  const live = o.policies.some(isTablePolicy)
  const rt = o.policies.includes('eclip-rt')
  // the plans made by eclip-fit's search (eclip-rt's best-effort plan, eclip-live's sets), and those held to floors
  const fit = tunablePlans(o.policies, o).length > 0
  const floors = plansUnderFloors(o.policies, o)
  const mechanism = rtMechanismOf({
    mechanism: o.rtMechanism,
    reserveSms: o.rtReserveSms,
    factor: o.rtFactor,
  })
  const d = optionDefaults(o.backend, mechanism, t !== undefined)
  // where a policy of the bench uses the option, its value as the runs use it (given, else its default); else as given
  const or = (flag: string, v: string | number | undefined, used: boolean) => (used ? (v ?? d[flag]) : v)
  const gate = rt && mechanism === 'gate'
  const given: [string, string | number | boolean | undefined][] = [
    ['--mix', o.mixes.map((m) => m.name).join(',')],
    ['--workload', o.workloads.map((w) => w.name).join(',') || undefined],
    // in the order given (the order a mix's runs go in), compared as sets (checkSameBench)
    ['--policies', list(o.policies)],
    ['--modes', list(o.modes)],
    ['--backend', o.backend],
    // with --workload, each workload's run length (its own, or these given) is in its mix's digest: these as given
    ['--duration', o.workloads.length > 0 ? o.duration : (o.duration ?? defaults.durationS)],
    ['--warmup', o.workloads.length > 0 ? o.warmup : (o.warmup ?? defaults.warmupS)],
    ['--seed', o.seed],
    ['--batch', o.batch],
    ['--rate', o.rate],
    ['--bracket', o.bracket || undefined],
    ['--no-solo', !o.solo || undefined],
    ['--no-sim-compare', (o.backend === 'gpu' && !o.simCompare) || undefined],
    ['--no-gemm-target', o.gemmTarget === false || undefined],
    ['--plans', o.plans && resolve(o.plans)],
    ['--profiles', profiles],
    ['--primitives', fileOption(o.primitives)],
    ['--power', fileOption(o.power)],
    ['--calibration', fileOption(o.calibration)],
    // eclip-rt's mechanism (its options given imply one), and that mechanism's own options
    ['--rt-mechanism', rt ? mechanism : o.rtMechanism],
    ['--rt-reserve-sms', or('--rt-reserve-sms', o.rtReserveSms, rt && mechanism === 'priority')],
    ['--rt-factor', or('--rt-factor', o.rtFactor, rt && mechanism === 'partition')],
    ['--rt-gate-us', or('--rt-gate-us', o.rtGateUs, gate)],
    ['--rt-ungated-sms', or('--rt-ungated-sms', o.rtUngatedSms, gate)],
    ['--rt-best-effort', or('--rt-best-effort', o.rtBestEffort, gate)],
    ['--objective', or('--objective', o.objective, fit)],
    ['--stream-priorities', o.streamPriorities || undefined],
    ['--min-share', or('--min-share', o.minShare, floors)],
    ['--fit-starts', or('--fit-starts', o.fitStarts, fit)],
    // no default to record: absent, no cap
    ['--max-p95', fit ? o.maxP95 : undefined],
    ['--switch-max', or('--switch-max', o.switchMax, plansUnderSwitchBudget(o.policies, o))],
    // eclip-live's (without it, --hold-ms is refused and --table-policy unused)
    ['--hold-ms', live ? (o.holdMs ?? DEFAULT_HOLD_MS) : o.holdMs],
    ['--table-policy', live ? o.tablePolicy : undefined],
    ['--tune', t ? true : undefined],
    ['--tune-candidates', or('--tune-candidates', t?.candidates, !!t)],
    ['--tune-evaluations', or('--tune-evaluations', t?.evaluations, !!t)],
    ['--tune-window', or('--tune-window', t?.windowS, !!t)],
    ['--tune-warmup', or('--tune-warmup', t?.warmupS, !!t)],
    ['--tune-margin', or('--tune-margin', t?.margin, !!t)],
    ['--tune-priority-plans', or('--tune-priority-plans', t?.priorityPlans, !!t)],
    ['--tune-floor-margin', or('--tune-floor-margin', t?.floorMargin, !!t)],
    ['--tune-sim-floor-slack', or('--tune-sim-floor-slack', t?.simFloorSlack, !!t)],
  ]
  const digest = (v: unknown) => createHash('sha256').update(JSON.stringify(v)).digest('hex').slice(0, 16)
  return Object.fromEntries([
    ...given.flatMap(([flag, v]) => (v === undefined ? [] : [[flag, String(v)]])),
    // a mix's description changes none of its runs
    ...o.mixes.map(({ description: _d, ...m }) => [`mix ${m.name}`, digest([m, lengthOf(m.name) ?? null])]),
  ])
}

/** The plan options a bench records (benchOptions), by flag: what its plans were made with. */
type RecordedPlanOptions = Pick<
  PlanOptions,
  | 'rtMechanism'
  | 'rtReserveSms'
  | 'rtFactor'
  | 'rtGateUs'
  | 'rtUngatedSms'
  | 'rtBestEffort'
  | 'objective'
  | 'minShare'
  | 'fitStarts'
  | 'maxP95'
  | 'switchMax'
  | 'fitPriorities'
>

/**
 * The options a bench's plans were made with, read back from the flags it recorded (benchOptions; absent, or an
 * eclip before it: the defaults): what `eclip calibrate` makes a run's plan again with where none was recorded beside
 * it. A value no bench records is refused, naming the file.
 */
export function recordedPlanOptions(
  file: string,
  r: Record<string, string> | undefined,
): RecordedPlanOptions {
  if (!r) return {}
  const bad = (flag: string) =>
    new UserError(`${file}: its recorded ${flag} "${r[flag]}" is no value eclip bench records`)
  const num = (flag: string) => {
    const v = r[flag]
    if (v === undefined) return undefined
    const x = Number(v)
    if (v.trim() === '' || !Number.isFinite(x) || x < 0) throw bad(flag)
    return x
  }
  const choice = <T extends string>(flag: string, of: readonly T[]) => {
    const v = r[flag]
    if (v !== undefined && !of.includes(v as T)) throw bad(flag)
    return v as T | undefined
  }
  const o: RecordedPlanOptions = {
    rtMechanism: choice('--rt-mechanism', RT_MECHANISMS),
    rtReserveSms: num('--rt-reserve-sms'),
    rtFactor: num('--rt-factor'),
    rtGateUs: num('--rt-gate-us'),
    rtUngatedSms: num('--rt-ungated-sms'),
    rtBestEffort: choice('--rt-best-effort', RT_BEST_EFFORT),
    objective: choice('--objective', PLAN_OBJECTIVES),
    minShare: num('--min-share'),
    fitStarts: choice('--fit-starts', FIT_STARTS_CHOICES),
    maxP95: num('--max-p95'),
    switchMax: num('--switch-max'),
    fitPriorities: r['--stream-priorities'] === 'true' ? true : undefined,
  }
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as RecordedPlanOptions
}

/**
 * The default of each option benchOptions records at its default where it is used (the planners' and, with --tune,
 * the tuning's): eclip-rt's `mechanism` (what its options given imply), the tuning's windows on `backend`.
 */
function optionDefaults(backend: string, mechanism: RtMechanism, tune: boolean): Record<string, string> {
  const m = MEASURED_DEFAULTS[backend === 'gpu' ? 'gpu' : 'sim']
  const d: Record<string, string | number> = {
    '--rt-mechanism': mechanism,
    '--rt-reserve-sms': DEFAULT_RT_RESERVE_SMS,
    '--rt-factor': DEFAULT_RT_FACTOR,
    '--rt-gate-us': DEFAULT_RT_GATE_US,
    // every best-effort worker gated
    '--rt-ungated-sms': 0,
    '--rt-best-effort': DEFAULT_RT_BEST_EFFORT,
    '--objective': DEFAULT_OBJECTIVE,
    '--min-share': DEFAULT_MIN_SHARE,
    '--fit-starts': FIT_STARTS,
    '--switch-max': DEFAULT_SWITCH_MAX,
    ...(tune
      ? {
          '--tune-candidates': TUNE_DEFAULTS.candidates,
          '--tune-evaluations': TUNE_DEFAULTS.evaluations,
          '--tune-window': m.windowS,
          '--tune-warmup': m.warmupS,
          '--tune-margin': TUNE_DEFAULTS.margin,
          '--tune-priority-plans': TUNE_DEFAULTS.priorityPlans,
          '--tune-floor-margin': MEASURED_FLOOR_MARGIN,
          '--tune-sim-floor-slack': SIM_FLOOR_SLACK,
        }
      : {}),
  }
  return Object.fromEntries(Object.entries(d).map(([k, v]) => [k, String(v)]))
}

/**
 * A record of benchOptions with every option of optionDefaults it lacks at its default: one left out where no policy
 * of its bench used it, or by an eclip that recorded such an option only when given. So an option given at its
 * default and the same option left out compare equal, whichever side gave it.
 */
function withDefaults(r: Record<string, string>): Record<string, string> {
  // eclip-rt's options given imply its mechanism only where eclip-rt plans; elsewhere they are compared as given
  const rt = r['--policies']?.split(',').includes('eclip-rt') ?? false
  const mechanism =
    (r['--rt-mechanism'] as RtMechanism | undefined) ??
    rtMechanismOf({
      ...(rt && r['--rt-reserve-sms'] !== undefined ? { reserveSms: Number(r['--rt-reserve-sms']) } : {}),
      ...(rt && r['--rt-factor'] !== undefined ? { factor: Number(r['--rt-factor']) } : {}),
    })
  return { ...optionDefaults(r['--backend'] ?? 'sim', mechanism, r['--tune'] !== undefined), ...r }
}

/** The keys of benchInputs: known once the GPU backend has started and the inputs are resolved (the directory and
 *  digest before it, where --profiles is given). */
const INPUT_KEYS = ['gpu', 'profiles dir', 'inputs digest']

/**
 * The options that name input files. Where results.json records the inputs (INPUT_KEYS), these are compared by them
 * (checkSameInputs), not as given: a file given that is the default one, or one of the same contents, is the same
 * input.
 */
const FILE_OPTIONS = ['--profiles', '--primitives', '--power', '--calibration']

/**
 * What a bench's runs depend on beyond its options, once its inputs are resolved: the GPU (the one the GPU backend
 * reports, else the profiles'), the profile directory (or synthetic), and a digest of the inputs the runs use — the
 * GPU description, every mix's profiles, primitives, power model, contention constants. Recorded with the options.
 */
export function benchInputs(
  gpu: string,
  profilesDir: string | undefined,
  used: { gpu: object; primitives: object; power: object; calibration: object; profiles: unknown[] },
): Record<string, string> {
  return {
    gpu,
    'profiles dir': profilesDir ? resolve(profilesDir) : 'synthetic',
    'inputs digest': createHash('sha256').update(JSON.stringify(used)).digest('hex').slice(0, 16),
  }
}

/**
 * A UserError where this bench's inputs (benchInputs) are not those the kept runs used: another GPU, another profile
 * directory, or changed contents. A file that does not record them (an eclip before them) is checked on its GPU.
 * `gpu: false`: for a GPU bench given its profiles, checked before its backend starts (the backend says which GPU it
 * is on): `ours.gpu` is then the GPU the profiles were made for, which the backend will require it to be.
 */
export function checkSameInputs(
  resume: Resume,
  ours: Record<string, string>,
  o: { gpu?: boolean } = {},
): void {
  const { file, recorded } = resume.inputs
  const was = (k: string) => recorded[k]
  const [gpu, dir, digest] = INPUT_KEYS.map(was)
  if (gpu !== undefined && gpu !== ours.gpu)
    throw new UserError(
      o.gpu === false
        ? `--resume: the runs in ${file} ran on ${gpu}, the profiles given are made for ${ours.gpu}: resume it on the ${gpu} with the profiles its runs used, or ${AGAIN}`
        : `--resume: the runs in ${file} ran on ${gpu}, this bench runs on ${ours.gpu}: resume it on the ${gpu}, or ${AGAIN}`,
    )
  if (dir !== undefined && dir !== ours['profiles dir'])
    throw new UserError(
      `--resume: the runs in ${file} used the profiles ${dir === 'synthetic' ? 'synthetic profiles' : `in ${dir}`}, this bench ${ours['profiles dir'] === 'synthetic' ? 'synthetic profiles' : `those in ${ours['profiles dir']}`}: give the same --profiles, or ${AGAIN}`,
    )
  if (digest !== undefined && digest !== ours['inputs digest']) {
    // a file given on both sides whose contents differ is the change: that option, named; one given on one side only
    // may be (its contents against the default file's are not recorded): said beside the inputs that changed
    const digestOf = (v: string | undefined) => v?.match(/ \(([0-9a-f]{16})\)$/)?.[1]
    const files = FILE_OPTIONS.filter((f) => f !== '--profiles')
    const k = files.find(
      (f) =>
        recorded[f] !== undefined && ours[f] !== undefined && digestOf(recorded[f]) !== digestOf(ours[f]),
    )
    if (k) throw otherOption(file, k, recorded[k], ours[k])
    const oneSide = files.filter((f) => (recorded[f] === undefined) !== (ours[f] === undefined))
    throw new UserError(
      `--resume: the inputs the runs in ${file} used (gpu.json, the mixes' profiles, primitives, power model, contention constants in ${dir ?? 'the profile directory'} or the files given) changed since it was written${oneSide.length ? ` (${oneSide.map((f) => `${f} given ${ours[f] === undefined ? 'to it' : 'to this bench'} only`).join(', ')})` : ''}: restore them, or ${AGAIN}`,
    )
  }
}

/** A file option as its absolute path and a digest of its contents (the path alone where it cannot be read). */
function fileOption(file: string | undefined): string | undefined {
  if (file === undefined) return undefined
  const path = resolve(file)
  try {
    return `${path} (${createHash('sha256').update(readFileSync(path)).digest('hex').slice(0, 16)})`
  } catch {
    return path
  }
}

/** `--flag value`, `--flag` (a switch) or `no --flag` (not given) for an error message. */
const shown = (flag: string, v: string | undefined) =>
  v === undefined ? `no ${flag}` : v === 'true' ? flag : `${flag} ${v}`

/** The error of an option `file`'s bench had at `a`, this one at `b`. */
const otherOption = (file: string, k: string, a: string | undefined, b: string | undefined) =>
  new UserError(
    `--resume: ${file} was written by a bench with ${shown(k, a)}, this one has ${shown(k, b)}: give the same options, or ${AGAIN}`,
  )

/**
 * A UserError naming the first option in which `given` differs from what `file` records, an option with a default
 * left out on either side read as that default (withDefaults); the files given are left to checkSameInputs where the
 * file records the inputs.
 */
function checkSameBench(file: string, recorded: Record<string, string>, given: Record<string, string>): void {
  const [theirs, ours] = [withDefaults(recorded), withDefaults(given)]
  const later = [...INPUT_KEYS, ...(recorded['inputs digest'] !== undefined ? FILE_OPTIONS : [])]
  const keys = new Set([...Object.keys(ours), ...Object.keys(theirs)])
  // --workload: the run lengths are compared in the mixes' digests (a length given that is a workload's own is the
  // same); where those differ, a length given otherwise is named first, the likelier cause
  const lengths = ours['--workload'] !== undefined && theirs['--workload'] !== undefined
  const sameMixes = [...keys].every((k) => !k.startsWith('mix ') || theirs[k] === ours[k])
  if (lengths) {
    later.push('--duration', '--warmup')
    if (!sameMixes)
      for (const k of ['--duration', '--warmup'])
        if (theirs[k] !== ours[k]) throw otherOption(file, k, theirs[k], ours[k])
  }
  const asSet = (v: string | undefined) => v?.split(',').sort().join(',')
  for (const k of keys) {
    if (later.includes(k)) continue
    const [a, b] =
      k === '--policies' || k === '--modes' ? [theirs[k], ours[k]].map(asSet) : [theirs[k], ours[k]]
    if (a === b) continue
    if (k.startsWith('mix '))
      throw new UserError(
        `--resume: mix ${k.slice(4)} is not defined as when ${file} was written (its mix or workload file changed since): restore the file, or ${AGAIN}`,
      )
    throw otherOption(file, k, a, b)
  }
}

/** `out`'s results.json as --resume reads it: a bench's that records its options (and, unfinished, its mixes ended). */
export interface Recorded {
  out: string
  file: string
  results: Results
  options: Record<string, string>
}

/**
 * The results.json in `out` that --resume finishes; a missing file, or one that does not record enough, a UserError.
 */
export function readRecorded(out: string): Recorded {
  const file = join(out, 'results.json')
  if (!existsSync(file))
    throw new UserError(`--resume: no ${file}: nothing to resume (run the bench without --resume)`)
  const results = readFile<Results>('results', file)
  const options = results.provenance.options
  if (!options || (results.incomplete && !results.incomplete.mixes))
    throw new UserError(
      `--resume: ${file} does not record the options of the bench that wrote it and which of its mixes ended (merged by --from, or written by an eclip before --resume): ${AGAIN}`,
    )
  return { out, file, results, options }
}

/**
 * `o` with its mixes (and workloads), policies and modes in the order of the bench that wrote `rec`, where each is the
 * same list given in another order. The order given is the order the runs go in (each solo run with the first mix
 * that has its model; a mix's runs by policy, then mode) and results.json lists them, so a resumed bench keeps the
 * recorded one. Other lists: as given, for readResume to refuse.
 */
export function inRecordedOrder(o: RunBenchOptions, rec: Recorded): RunBenchOptions {
  const sorted = (list: readonly string[]) => JSON.stringify([...list].sort())
  const recorded = (k: string) => rec.options[k]?.split(',') ?? []
  // `list` in the recorded order where it holds the same names, else as given
  const like = <T>(list: readonly T[], order: string[], name: (x: T) => string): T[] =>
    sorted(order) === sorted(list.map(name))
      ? [...list].sort((a, b) => order.indexOf(name(a)) - order.indexOf(name(b)))
      : [...list]
  const mixes = recorded('--mix')
  const byName = (m: { name: string }) => m.name
  return {
    ...o,
    mixes: like(o.mixes, mixes, byName),
    // a workload's name is its mix's
    workloads: like(o.workloads, mixes, byName),
    policies: like(o.policies, recorded('--policies'), String),
    modes: like(o.modes, recorded('--modes'), String),
  }
}

/**
 * What `--resume` keeps of the recorded bench's runs, or null where its file is complete (nothing to resume). One of
 * another bench (`options` differs) is a UserError.
 */
export function readResume(
  rec: Recorded,
  options: Record<string, string>,
  o: Pick<RunBenchOptions, 'mixes' | 'backend' | 'policies' | 'modes' | 'batch' | 'solo' | 'bracket'>,
  /** where under `out` the bench keeps a (mix, policy)'s plan, or a table policy's table */
  planFile: (mix: string, policy: Policy) => string,
): Resume | null {
  const { out, file, results: r, options: theirs } = rec
  checkSameBench(file, theirs, options)
  if (!r.incomplete) return null
  checkRequestLog(join(out, 'requests.csv'), file)
  const done = new Set(r.incomplete.mixes)
  // the mix a run belongs to: its own, its real-time workers alone, one of its eclip-live sets held
  const mixOf = (run: Pick<Run, 'mix'>) =>
    o.mixes
      .map((m) => m.name)
      .find((m) => run.mix === m || run.mix === rtAloneMixName(m) || run.mix.startsWith(`${m}[`))
  const kept = r.runs.filter(
    (run) => run.backend === o.backend && (run.role === 'solo' || done.has(mixOf(run) ?? '')),
  )
  const mixes = o.mixes.map((m) => m.name).filter((m) => done.has(m))
  const planned = new Set([...kept.map((run) => run.mix), ...mixes, ...mixes.map(rtAloneMixName)])
  // a kept mix's plans and a kept solo run's are read again, not made: every one the planners will ask for (that of a
  // kept mix's run that failed too) and every kept run's, there before anything is trimmed
  const plans = new Map(kept.flatMap((run) => (run.planFile ? [[run.planFile, run.mix]] : [])))
  const asked = plansAsked({ ...o, modes: o.modes as ('stream' | 'graph')[], batch: o.batch ?? null })
  for (const p of asked) if (planned.has(p.mix)) plans.set(planFile(p.mix, p.policy), p.mix)
  const solo = new Set(kept.filter((run) => run.role === 'solo').map((run) => run.mix))
  for (const [plan, mix] of plans)
    if (!existsSync(join(out, plan)))
      throw new UserError(
        `--resume: ${join(out, plan)}, the plan ${solo.has(mix) ? `solo run ${mix}` : `mix ${mixOf({ mix }) ?? mix}`} ran under, is missing: put the plans/ the bench wrote back beside ${file}, or ${AGAIN}`,
      )
  const solos = solo.size
  // a failure names its run's label (`run MIX …`, `tuning run MIX|…`): kept where its mix is
  const failedIn = (w: string) => /^(?:tuning )?run ([^\s|[]+)/.exec(w)?.[1]
  return {
    kept: { runs: new Map(kept.map((run) => [run.key, run])), mixes: new Set(mixes) },
    planned,
    warnings: r.provenance.warnings.filter((w) => done.has(failedIn(w) ?? '')),
    of: r.incomplete.of,
    // a file from before the inputs were recorded: its GPU as its provenance names it
    inputs: {
      file,
      recorded: { ...(r.provenance.gpu ? { gpu: r.provenance.gpu } : {}), ...theirs },
    },
    note: `resumed (--resume): ${kept.length} runs of earlier processes of this bench kept (${mixes.length} mix${mixes.length === 1 ? '' : 'es'} whole${mixes.length ? `: ${mixes.join(', ')}` : ''}; ${solos} solo runs), the others run in this one`,
  }
}

/** A UserError unless `log` is there and begins with the request log's header (before any backend starts). */
function checkRequestLog(log: string, file: string): void {
  if (!existsSync(log))
    throw new UserError(
      `--resume: no ${log} beside ${file}: the kept runs' requests would be lost; put it back, or ${AGAIN}`,
    )
  const head = Buffer.alloc(REQUEST_LOG_HEADER.length + 1)
  const fd = openSync(log, 'r')
  let n: number
  try {
    n = readSync(fd, head, 0, head.length, 0)
  } finally {
    closeSync(fd)
  }
  const first = head.subarray(0, n).toString('utf8')
  if (first !== `${REQUEST_LOG_HEADER}\n` && first !== `${REQUEST_LOG_HEADER}\r`)
    throw new UserError(
      `--resume: ${log}: not a request log (its first line is not ${REQUEST_LOG_HEADER}); put back the one the bench wrote, or ${AGAIN}`,
    )
}

/** Rewrites the request log with the rows of the kept runs only (the others' are written again as they run). */
export async function keepRequests(file: string, ids: ReadonlySet<string>): Promise<void> {
  const tmp = `${file}.tmp`
  const out = openSync(tmp, 'w')
  try {
    let header = true
    let rows: string[] = []
    const flush = () => {
      if (rows.length > 0) writeSync(out, `${rows.join('\n')}\n`)
      rows = []
    }
    for await (const line of createInterface({ input: createReadStream(file), crlfDelay: Infinity })) {
      if (header) {
        if (line !== REQUEST_LOG_HEADER)
          throw new UserError(
            `--resume: ${file}: not a request log (its first line is not ${REQUEST_LOG_HEADER}); ${AGAIN}`,
          )
        writeSync(out, `${line}\n`)
        header = false
      } else if (line.includes(',') && ids.has(line.slice(0, line.indexOf(',')))) rows.push(line)
      if (rows.length >= 10000) flush()
    }
    flush()
    if (header) writeSync(out, `${REQUEST_LOG_HEADER}\n`)
  } catch (err) {
    closeSync(out)
    rmSync(tmp, { force: true })
    throw err
  }
  closeSync(out)
  renameSync(tmp, file)
}

/** `planner`, but a kept mix's plans read from the files the earlier process wrote (`fileOf`: under --out). */
export function keptPlanner(
  planner: Planner,
  resume: Resume,
  fileOf: (mix: string, policy: Policy) => string,
): Planner {
  return async (gpu, mix, workers, profiles, opts) =>
    resume.planned.has(mix)
      ? readFile<Plan>('plan', fileOf(mix, opts.policy))
      : planner(gpu, mix, workers, profiles, opts)
}

/** The same for eclip-live's tables: a kept mix's as written (its sets planned on demand are asked again). */
export function keptTablePlanner(
  tablePlanner: TablePlanner,
  resume: Resume,
  fileOf: (mix: string) => string,
): TablePlanner {
  return async (gpu, mix, workers, profiles, reuse, subsets, minTotalShare) =>
    resume.planned.has(mix) && !subsets
      ? readFile<PlanTable>('plan-table', fileOf(mix))
      : tablePlanner(gpu, mix, workers, profiles, reuse, subsets, minTotalShare)
}
