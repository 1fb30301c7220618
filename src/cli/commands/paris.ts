// `eclip paris`: plan PARIS partitions for a scenario and compare PARIS+ELSA with homogeneous layouts over 1..N GPUs,
// in the request-level simulator (default) or, with --backend gpu, on this machine's GPUs (up to as many as it has,
// all driven by one backend process with one dispatcher): latency tables measured on its first GPU
// (--measure-tables) and every run a trace replayed open-loop on green-context partitions (src/paris/gpu.ts).
// `eclip paris-table`: a latency table from profiles, a synthetic one, or measured on the GPU.
// The application of both is src/paris/run.ts (runParis, runParisTable).
import { join } from 'node:path'
import { type Command, Option } from '@commander-js/extra-typings'
import { UserError } from '../../formats/index.ts'
import { PASS_RULES, type PassRule } from '../../paris/bisect.ts'
import { SCHEMES, type Scheme } from '../../paris/compare.ts'
import { DEFAULT_BATCHES } from '../../paris/latency.ts'
import {
  type BisectCli,
  GPU_BISECT_LIMITS,
  parseUniform,
  type RateSpec,
  type RunParisTableOptions,
  runParis,
  runParisTable,
} from '../../paris/run.ts'
import {
  batchSizes,
  checkWritable,
  checkWritableDir,
  dtypeArg,
  givenOnCommandLine,
  namedTwice,
  num,
  refuseEmptyValues,
} from '../options.ts'

// moved to the application (src/paris/run.ts); re-exported where tests and callers find them
export { type BisectCli, GPU_BISECT_LIMITS, parseUniform, type RateSpec }

/** "1..8", "1,2,4,8", "4" → sorted distinct GPU counts. */
export function parseGpuList(text: string): number[] {
  const out = new Set<number>()
  for (const part of text.split(',')) {
    const m = /^\s*(\d+)\s*(?:\.\.\s*(\d+)\s*)?$/.exec(part)
    if (!m) throw new UserError(`--gpus: "${part}" is not N or N..M`)
    const a = Number(m[1])
    const b = m[2] !== undefined ? Number(m[2]) : a
    if (a < 1 || b < a || b > 64) throw new UserError(`--gpus: bad range "${part}" (1 ≤ N ≤ M ≤ 64)`)
    for (let g = a; g <= b; g++) out.add(g)
  }
  return [...out].sort((x, y) => x - y)
}

const int = (name: string, min: number) => (v: string) => {
  const n = Number(v)
  // Number('') is 0: a blank value is no integer
  if (v.trim() === '' || !Number.isInteger(n) || n < min)
    throw new UserError(`${name}: expected an integer ≥ ${min}, got "${v}"`)
  return n
}

/** The schemes a GPU run compares by default: few layouts, since every one costs graph captures and windows. */
export const GPU_SCHEMES = ['whole/least-loaded', 'uniform/least-loaded', 'paris/fifo', 'paris/elsa']

/** "200,400" (queries/s) or "0.5x,1x" (multiples of the simulator's best sustained load), mixed freely. */
export function parseRates(text: string, option = '--rates'): RateSpec[] {
  return text.split(',').map((part) => {
    const m = /^\s*(\d+(?:\.\d+)?)\s*(x?)\s*$/.exec(part)
    const value = Number(m?.[1])
    if (!m || !(value > 0))
      throw new UserError(`${option}: "${part}" is not a load (queries/s, or e.g. 0.5x)`)
    return { value, relative: m[2] === 'x' }
  })
}

/**
 * A percentage option ("1", "0.5", "5%") as a fraction, within [min, max] percent (`max` itself excluded if `open`).
 */
export function parsePercent(name: string, text: string, min: number, max: number, open = false): number {
  const m = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*%?\s*$/.exec(text)
  const x = Number(m?.[1])
  const inRange = x >= min && (open ? x < max : x <= max)
  if (!m || !Number.isFinite(x) || !inRange)
    throw new UserError(
      `${name}: expected a percentage in [${min}, ${max}${open ? ')' : ']'} (e.g. ${name === '--target' ? '1' : '5'} ` +
        `for ${name === '--target' ? '1' : '5'}%), got "${text}"`,
    )
  return x / 100
}

/**
 * --bisect and its options. `given` says which options the user gave; the bisection's own are refused without
 * --bisect, and --bisect with --rates (fixed loads are the other way to search).
 */
export function parseBisect(
  opts: {
    bisect?: boolean
    resolution?: string
    repeats?: string
    pass?: string
    start?: string
    rates?: string
  },
  gpuRun: boolean,
): BisectCli | undefined {
  const own = (['resolution', 'repeats', 'pass', 'start'] as const).filter((k) => opts[k] !== undefined)
  if (!opts.bisect) {
    if (own.length) throw new UserError(`--${own[0]} needs --bisect`)
    return undefined
  }
  if (opts.rates !== undefined)
    throw new UserError('--bisect and --rates are two ways to search the load: give one of them')
  const repeats = Number(opts.repeats ?? '3')
  if (!Number.isInteger(repeats) || repeats < 1 || repeats > 100)
    throw new UserError(`--repeats: expected an integer in 1..100, got "${opts.repeats}"`)
  const pass = (opts.pass ?? 'median') as PassRule
  if (!PASS_RULES.includes(pass))
    throw new UserError(`--pass: expected ${PASS_RULES.join(' or ')}, got "${opts.pass}"`)
  const text = opts.start ?? (gpuRun ? '0.5x' : undefined)
  const starts = text === undefined ? [] : parseRates(text, '--start')
  if (text !== undefined && starts.length !== 1)
    throw new UserError(`--start: one load (queries/s, or e.g. 0.5x), got "${opts.start}"`)
  return {
    resolution: parsePercent('--resolution', opts.resolution ?? '5', 0.1, 100),
    repeats,
    pass,
    ...(starts[0] ? { start: starts[0] } : {}),
  }
}

function resolveSchemes(list: string | undefined, defaults: Scheme[]): Scheme[] {
  if (!list) return defaults
  return list.split(',').map((n) => {
    const s = SCHEMES.find((x) => x.name === n.trim())
    if (!s) throw new UserError(`--schemes: unknown "${n}"; known: ${SCHEMES.map((x) => x.name).join(', ')}`)
    return s
  })
}

export function registerParis(program: Command) {
  registerParisTable(program)
  program
    .command('paris')
    .description(
      'PARIS+ELSA: plan heterogeneous partitions for a scenario and compare it with homogeneous layouts over 1..N ' +
        "GPUs, in the simulator or (--backend gpu) on this machine's GPUs (tables + SVG plots)",
    )
    .requiredOption('--models <file>', 'scenario file (YAML), e.g. examples/paris.yaml')
    .addOption(
      new Option('--backend <name>', "sim: the simulator; gpu: run every query on this machine's GPU(s)")
        .choices(['sim', 'gpu'] as const)
        .default('sim' as const),
    )
    .option(
      '--gpus <list>',
      'GPU counts: N, N..M or a comma list (default 1..8; with --backend gpu: 1, and at most the GPUs the machine ' +
        'shows: a server of N GPUs is its GPUs 0..N-1, one backend process and one dispatcher over all of them)',
    )
    .option('--out <dir>', 'output directory (default results/sim/paris; with --backend gpu: out/paris-gpu)')
    .option('--seed <n>', 'seed of the traces and of synthetic latency tables', int('--seed', 0), 1)
    .option('--queries <n>', 'queries per simulated run (first 10% warm-up)', int('--queries', 100), 20000)
    .option(
      '--schemes <list>',
      `comma list of schemes (default all: ${SCHEMES.map((s) => s.name).join(', ')}; with --backend gpu: ${GPU_SCHEMES.join(', ')})`,
    )
    .option(
      '--rates <list>',
      "fixed loads instead of the bisection search: queries/s, or multiples of the simulator's best sustained " +
        'load on the same tables (e.g. 0.25x,0.5x,0.75x,1x: the default with --backend gpu)',
    )
    .option(
      '--bisect',
      "find each scheme's sustained load by bisection to --resolution, every probed load run --repeats times on " +
        'independent traces (instead of the default search or --rates; on a GPU each run is one --window)',
    )
    .option('--target <pct>', 'SLO violations that still count as sustained, % of the queries (default 1)')
    .option(
      '--resolution <pct>',
      'with --bisect: narrow the bracket [last pass, first fail) to this relative width, % (default 5)',
    )
    .option('--repeats <n>', 'with --bisect: runs per probed load, each on its own trace (default 3)')
    .addOption(
      new Option(
        '--pass <rule>',
        'with --bisect: a probed load passes when the median repeat is within --target, or all of them (default median)',
      ).choices(PASS_RULES),
    )
    .option(
      '--start <load>',
      "with --bisect: the first load probed, q/s or a multiple of each scheme's sustained load in the simulator on " +
        "the same tables (e.g. 0.5x: the default with --backend gpu; else the scenario's rates × the GPU count); " +
        'the search doubles or halves from there to a bracket',
    )
    .option(
      '--window <s>',
      'with --rates, and --bisect on a GPU: seconds of arrivals per run (with --bisect on the simulator, given: runs ' +
        'of that many seconds instead of --queries)',
      num('window', 0.5),
      5,
    )
    .option(
      '--tables <dir>',
      "latency tables (<model>.<dtype>.latency.json) instead of the scenario's source",
    )
    .option(
      '--measure-tables',
      "with --backend gpu: first measure the scenario's latency tables (its batches, every partition size) on " +
        'the GPU into <out>/latency and use them',
    )
    .option(
      '--cell-ms <ms>',
      'with --measure-tables: timed replays per table cell, ms',
      num('cell-ms', 1),
      100,
    )
    .option('--uniform <SMs>', 'partition sizes the best-uniform scheme tries, SMs (default 16,24,32,40,56)')
    .option(
      '--profiles <dir>',
      "per-kernel profiles (<model>.b<batch>.<dtype>.json) the eclip-kw schemes plan from: one for every (model, batch) of the scenario's mixes, else eclip-kw is skipped (refused when named in --schemes)",
      'profiles/h100',
    )
    .option(
      '--max-captures <n>',
      'with --backend gpu: refuse a comparison planned to capture more graphs',
      int('--max-captures', 1),
      1500,
    )
    .option(
      '--device <n>',
      'with --backend gpu and --gpus 1: which GPU (CUDA_VISIBLE_DEVICES); several GPUs are chosen with ' +
        'CUDA_VISIBLE_DEVICES itself',
      int('--device', 0),
    )
    .option('--png', 'also write PNG copies of the plots')
    .option('--quiet', 'no progress lines')
    .hook('preAction', (_, cmd) => refuseEmptyValues(cmd))
    .action(async (opts, cmd) => {
      const gpuRun = opts.backend === 'gpu'
      const target = parsePercent('--target', opts.target ?? '1', 0, 100, true)
      const bisect = parseBisect(opts, gpuRun)
      // on the simulator a bisection runs --queries per trace, unless a window was asked for
      const windowed = Boolean(bisect) && (gpuRun || cmd.getOptionValueSource('window') === 'cli')
      // measured runs never land on the recorded simulator results by default
      const out = opts.out ?? (gpuRun ? join('out', 'paris-gpu') : join('results', 'sim', 'paris'))
      checkWritableDir('--out', out)
      const gpus = parseGpuList(opts.gpus ?? (gpuRun ? '1' : '1..8'))
      const defaults = gpuRun ? SCHEMES.filter((s) => GPU_SCHEMES.includes(s.name)) : SCHEMES
      const schemes = resolveSchemes(opts.schemes, defaults)
      // the server's GPUs: 0..most-1 of those the backend sees (checked once it is up)
      const most = Math.max(...gpus)
      if (gpuRun) {
        if (most > 1 && opts.device !== undefined)
          throw new UserError(
            `--device pins the backend to one GPU, but --gpus ${opts.gpus} needs ${most}: the server is GPUs ` +
              `0..${most - 1} of those visible (pick them with CUDA_VISIBLE_DEVICES instead)`,
          )
        const ph = schemes.find((s) => s.placeholder)
        if (ph)
          throw new UserError(`--schemes: ${ph.name} is a placeholder (${ph.placeholder}); not run on a GPU`)
      } else if (opts.measureTables) throw new UserError('--measure-tables needs --backend gpu')
      const rates = opts.rates
        ? parseRates(opts.rates)
        : gpuRun && !bisect
          ? parseRates('0.25x,0.5x,0.75x,1x')
          : undefined
      await runParis({
        models: opts.models,
        backend: opts.backend,
        gpus,
        out,
        seed: opts.seed,
        queries: opts.queries,
        schemes,
        schemesGiven: opts.schemes !== undefined,
        ...(rates ? { rates } : {}),
        ...(bisect ? { bisect } : {}),
        target,
        windowS: opts.window,
        windowed,
        ...(opts.tables !== undefined ? { tables: opts.tables } : {}),
        measureTables: Boolean(opts.measureTables),
        cellMs: opts.cellMs,
        ...(opts.uniform !== undefined ? { uniform: opts.uniform } : {}),
        profiles: opts.profiles,
        maxCaptures: opts.maxCaptures,
        ...(opts.device !== undefined ? { device: opts.device } : {}),
        png: Boolean(opts.png),
        quiet: Boolean(opts.quiet),
      })
    })
}

/**
 * `eclip paris-table`: a latency table from profiles of one model at several batch sizes, a synthetic one for a GPU
 * layout, or (--backend gpu) tables measured on this machine's GPU, one file per model in the --out directory.
 * Registered by registerParis, so main.ts needs one line for both commands.
 */
export function registerParisTable(program: Command) {
  program
    .command('paris-table')
    .description(
      'write a latency table (batch × partition size) from profiles of one model, a synthetic one, or measure ' +
        'tables on the GPU (--backend gpu)',
    )
    .argument('[profiles...]', 'profile files of one model at several batch sizes')
    .option('--synthetic <model>', 'generate a synthetic table for this model instead (needs --gpu)')
    .option('--gpu <file>', 'gpu layout file, for --synthetic')
    .option('--seed <n>', 'seed, for --synthetic', int('--seed', 0), 1)
    .addOption(new Option('--backend <name>', "gpu: measure on this machine's GPU").choices(['gpu'] as const))
    .option('--models <list>', 'with --backend gpu: models to measure, comma-separated')
    .option(
      '--batches <list>',
      `with --backend gpu: batch sizes (default ${DEFAULT_BATCHES.join(',')})`,
      batchSizes('--batches'),
    )
    .option('--dtype <dtype>', 'with --backend gpu: fp16, bf16 or fp32', dtypeArg, 'fp16')
    .option('--cell-ms <ms>', 'with --backend gpu: timed replays per cell, ms', num('cell-ms', 1), 100)
    // one GPU: the GPUs of one host are one kind, so a table measured on one serves a server of several
    .option('--device <n>', 'with --backend gpu: which GPU (CUDA_VISIBLE_DEVICES)', int('--device', 0))
    .option('--out <file>', 'output file (default: stdout); with --backend gpu: a directory (required)')
    .hook('preAction', (_, cmd) => refuseEmptyValues(cmd))
    .action(async (profiles, opts, cmd) => {
      checkTableSource(profiles, opts, givenOnCommandLine(cmd))
      let measure: RunParisTableOptions['measure']
      if (opts.backend === 'gpu') {
        if (!opts.models || !opts.out)
          throw new UserError('--backend gpu needs --models <list> and --out <dir>')
        checkWritableDir('--out', opts.out)
        const models = opts.models.split(',').map((m) => m.trim())
        if (models.includes('')) throw new UserError(`--models: an empty name in "${opts.models}"`)
        const twice = namedTwice(models)
        if (twice !== undefined) throw new UserError(`--models: ${twice} named twice`)
        measure = {
          models,
          batches: opts.batches ?? [...DEFAULT_BATCHES],
          dtype: opts.dtype,
          cellMs: opts.cellMs,
          ...(opts.device !== undefined ? { device: opts.device } : {}),
          out: opts.out,
        }
      } else if (opts.out !== undefined) checkWritable('--out', opts.out)
      await runParisTable({
        profiles,
        ...(opts.synthetic !== undefined ? { synthetic: opts.synthetic } : {}),
        ...(opts.gpu !== undefined ? { gpu: opts.gpu } : {}),
        seed: opts.seed,
        ...(opts.out !== undefined ? { out: opts.out } : {}),
        ...(measure ? { measure } : {}),
      })
    })
}

/** paris-table's options of each source of a table: profile files, --synthetic, or --backend gpu. */
const SYNTHETIC_FLAGS = ['--synthetic', '--gpu', '--seed']
const MEASURE_FLAGS = ['--backend', '--models', '--batches', '--dtype', '--cell-ms', '--device']

/**
 * A table comes from one source: profile files, --synthetic, or --backend gpu. The options of another source (given:
 * the long flags on the command line) would be ignored, so they are refused, naming them.
 */
export function checkTableSource(
  profiles: readonly string[],
  opts: { synthetic?: string; backend?: string },
  given: readonly string[],
): void {
  const source =
    opts.backend === 'gpu' ? '--backend gpu' : opts.synthetic !== undefined ? '--synthetic' : 'profile files'
  const own = source === '--backend gpu' ? MEASURE_FLAGS : source === '--synthetic' ? SYNTHETIC_FLAGS : []
  const stray = given.filter(
    (f) => (SYNTHETIC_FLAGS.includes(f) || MEASURE_FLAGS.includes(f)) && !own.includes(f),
  )
  if (source !== 'profile files' && profiles.length > 0)
    throw new UserError(
      `${source} makes its table${source === '--backend gpu' ? 's' : ''} without profile files: ${profiles.join(' ')} would be ignored (give one source)`,
    )
  if (stray.length > 0)
    throw new UserError(
      `${stray.join(', ')}: not for a table from ${source} (${SYNTHETIC_FLAGS.join(', ')}: for --synthetic; ${MEASURE_FLAGS.slice(1).join(', ')}: for --backend gpu)`,
    )
}
