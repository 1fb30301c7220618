// `eclip paris`: plan PARIS partitions for a scenario and compare PARIS+ELSA with homogeneous layouts over 1..N GPUs,
// in the request-level simulator (default) or, with --backend gpu, on this machine's GPUs (up to as many as it has,
// all driven by one backend process with one dispatcher): latency tables measured on its first GPU
// (--measure-tables) and every run a trace replayed open-loop on green-context partitions (src/paris/gpu.ts).
// `eclip paris-table`: a latency table from profiles, a synthetic one, or measured on the GPU.
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { type Command, Option } from '@commander-js/extra-typings'
import {
  type Gpu,
  type LatencyTable,
  latencyTableFileName,
  type Profile,
  readFile,
  UserError,
} from '../../formats/index.ts'
import { bisectionSteps, PASS_RULES, type PassRule } from '../../paris/bisect.ts'
import {
  type BisectSettings,
  compare,
  layoutsFor,
  SCHEMES,
  type Scheme,
  UNIFORM_SLICES,
} from '../../paris/compare.ts'
import { ParisGpu, plannedCaptures, requestsCsv } from '../../paris/gpu.ts'
import {
  type KernelWise,
  kernelWise,
  missingProfiles,
  missingProfilesMessage,
} from '../../paris/kernelwise.ts'
import { latencyTableFromProfiles, syntheticLatencyTable } from '../../paris/latency.ts'
import { DEFAULT_PARIS, paris } from '../../paris/partition.ts'
import { bisectionMarkdown, writeReport } from '../../paris/report.ts'
import { type LoadedScenario, loadScenario } from '../../paris/scenario.ts'
import { simulate } from '../../paris/sim.ts'
import { num } from '../options.ts'

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
  if (!Number.isInteger(n) || n < min)
    throw new UserError(`${name}: expected an integer ≥ ${min}, got "${v}"`)
  return n
}

/**
 * How far a bisection on the GPU may double or halve from its start (0.5x the simulator's sustained load by
 * default: 8x above, 1/32 of it below); the simulator's are bisect.ts's defaults.
 */
export const GPU_BISECT_LIMITS = { maxDoublings: 4, maxHalvings: 4 }

/** The schemes a GPU run compares by default: few layouts, since every one costs graph captures and windows. */
export const GPU_SCHEMES = ['whole/least-loaded', 'uniform/least-loaded', 'paris/fifo', 'paris/elsa']

/** One --rates entry: queries/s, or a multiple of the simulator's best sustained load ("0.5x"). */
export interface RateSpec {
  value: number
  relative: boolean
}

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

/** A percentage option ("1", "0.5", "5%") as a fraction, within [min, max] percent (`max` itself excluded if `open`). */
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

/** The bisection's settings from the command line, all checked: refused with the option's name when wrong. */
export interface BisectCli {
  resolution: number
  repeats: number
  pass: PassRule
  /**
   * q/s, or a multiple of each scheme's sustained load in the simulator's default search on the same tables;
   * absent: the scenario's rates × the GPU count (the default search's start).
   */
  start?: RateSpec
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

/** --uniform: partition sizes in SMs (multiples of the slice size) → slice counts. */
export function parseUniform(text: string, gpu: Gpu): number[] {
  return text.split(',').map((part) => {
    const sms = Number(part.trim())
    const k = sms / gpu.sliceSize
    const regular = gpu.slices.filter((s) => !s.remainder).length
    if (!Number.isInteger(k) || k < 1 || k > regular)
      throw new UserError(
        `--uniform: ${part.trim()} SMs is not 1..${regular} slices of ${gpu.sliceSize} SMs on ${gpu.name}`,
      )
    return k
  })
}

function resolveSchemes(list: string | undefined, defaults: Scheme[]): Scheme[] {
  if (!list) return defaults
  return list.split(',').map((n) => {
    const s = SCHEMES.find((x) => x.name === n.trim())
    if (!s) throw new UserError(`--schemes: unknown "${n}"; known: ${SCHEMES.map((x) => x.name).join(', ')}`)
    return s
  })
}

/** What the simulator's default search sustains on the same tables: per GPU count and scheme, and the best. */
interface SimulatorSustained {
  /** The scheme's sustained q/s at g GPUs (0 when it sustains none of the loads tried). */
  scheme: (g: number, name: string) => number
  /** The highest of any scheme at g GPUs; PARIS's planned capacity where none sustains a load. */
  best: (g: number) => number
}

/**
 * Runs the simulator's default search (bracketing, then bisection: seconds) on the scenario's latency tables, so that
 * loads given as multiples ("0.5x") land around where the interesting loads are, whatever the GPU.
 */
async function simulatorSustained(
  sc: LoadedScenario,
  o: {
    gpus: number[]
    seed: number
    target: number
    schemes: Scheme[]
    uniformSlices: number[]
    log: (l: string) => void
    kernelWise?: KernelWise
  },
): Promise<SimulatorSustained> {
  const sim = await compare(sc, {
    gpus: o.gpus,
    seed: o.seed,
    target: o.target,
    schemes: o.schemes,
    uniformSlices: o.uniformSlices,
    backend: simulate,
    sweep: [],
    ...(o.kernelWise ? { kernelWise: o.kernelWise } : {}),
  })
  const totalRate = sc.models.reduce((a, m) => a + m.rate, 0)
  const best = new Map<number, number>()
  const within = `≤ ${+(o.target * 100).toFixed(3)}%`
  for (const g of o.gpus) {
    const top = sim.results.filter((r) => r.gpus === g).sort((a, b) => b.sustainedQps - a.sustainedQps)[0]
    if (top && top.sustainedQps > 0) {
      best.set(g, top.sustainedQps)
      o.log(`simulator, same tables: best ${top.sustainedQps.toFixed(0)} q/s at ${g} GPU(s) (${top.scheme})`)
      continue
    }
    // some class misses its SLO everywhere: still run, around the load PARIS plans to fill the server with
    const plan = sim.plans.find((p) => p.gpus === g)
    const qps = plan && plan.plannedLoad > 0 ? totalRate / plan.plannedLoad : totalRate
    best.set(g, qps)
    o.log(
      `simulator, same tables: no scheme keeps violations ${within} at ${g} GPU(s); 1x = PARIS's planned capacity, ` +
        `${qps.toFixed(0)} q/s`,
    )
  }
  return {
    scheme: (g, name) => sim.results.find((r) => r.gpus === g && r.scheme === name)?.sustainedQps ?? 0,
    best: (g) => best.get(g) ?? 0,
  }
}

/** The fixed loads at each GPU count: relative entries ("0.5x") are multiples of the simulator's best. */
function resolveRates(spec: RateSpec[], sim?: SimulatorSustained): (g: number) => number[] {
  return (g) => spec.map((r) => Math.round(r.relative ? r.value * (sim?.best(g) ?? 0) : r.value))
}

/**
 * The bisection's first load per GPU count and scheme, as a scale of the scenario's rates: q/s, or a multiple of the
 * scheme's own sustained load in the simulator (of the best scheme's where it sustains none: a scheme the simulator
 * finds hopeless halves down from there), or by default the scenario's rates × the GPU count.
 */
function resolveStart(
  start: RateSpec | undefined,
  totalRate: number,
  sim: SimulatorSustained | undefined,
): (g: number, s: Scheme) => number {
  return (g, s) => {
    if (!start) return g
    if (!start.relative) return start.value / totalRate
    const own = sim?.scheme(g, s.name) ?? 0
    return (start.value * (own > 0 ? own : (sim?.best(g) ?? totalRate))) / totalRate
  }
}

/**
 * What a GPU bisection will cost, in words: every candidate layout (each uniform size is one) is searched on its own,
 * each probe is `repeats` windows, and a window costs its arrivals plus about a second of set-up and drain.
 */
export function bisectionCost(
  sc: LoadedScenario,
  schemes: Scheme[],
  gpus: number[],
  uniformSlices: number[],
  b: { resolution: number; repeats: number },
  windowS: number,
): { searches: number; probes: number; seconds: number; line: string } {
  let searches = 0
  for (const g of gpus) {
    const plan = paris(sc, g, DEFAULT_PARIS)
    for (const s of schemes)
      searches += s.layout === 'eclip-kw' ? 1 : layoutsFor(sc, plan, g, s.layout, uniformSlices).length
  }
  const steps = bisectionSteps(2, b.resolution)
  const probes = 2 + steps
  const perWindow = windowS + 1
  const seconds = searches * probes * b.repeats * perWindow
  const line =
    `bisection: ${searches} search${searches === 1 ? '' : 'es'} (one per scheme, one per size for the best uniform), ` +
    `about ${probes} probes each (2 to bracket the crossing from a start within 2× of it, then ${steps} bisection steps) × ${b.repeats} ` +
    `repeat${b.repeats === 1 ? '' : 's'} × (${windowS} s window + ~1 s) ≈ ${(seconds / 60).toFixed(1)} min, plus ` +
    `${b.repeats * perWindow} s per search for each further doubling or halving (a layout that passes at no ` +
    `load costs ${1 + GPU_BISECT_LIMITS.maxHalvings} probes)`
  return { searches, probes, seconds, line }
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
    .action(async (opts, cmd) => {
      const gpuRun = opts.backend === 'gpu'
      const target = parsePercent('--target', opts.target ?? '1', 0, 100, true)
      const bisect = parseBisect(opts, gpuRun)
      // on the simulator a bisection runs --queries per trace, unless a window was asked for
      const windowed = Boolean(bisect) && (gpuRun || cmd.getOptionValueSource('window') === 'cli')
      // measured runs never land on the recorded simulator results by default
      const out = opts.out ?? (gpuRun ? join('out', 'paris-gpu') : join('results', 'sim', 'paris'))
      const log = opts.quiet ? () => {} : (line: string) => process.stderr.write(`${line}\n`)
      const gpus = parseGpuList(opts.gpus ?? (gpuRun ? '1' : '1..8'))
      const defaults = gpuRun ? SCHEMES.filter((s) => GPU_SCHEMES.includes(s.name)) : SCHEMES
      let schemes = resolveSchemes(opts.schemes, defaults)
      const kwNames = () =>
        schemes
          .filter((s) => s.layout === 'eclip-kw')
          .map((s) => s.name)
          .join(', ')
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
      const date = new Date().toISOString().slice(0, 10)
      const command = ['eclip', ...process.argv.slice(2)].join(' ')
      const load = (latencyDir?: string) =>
        loadScenario(opts.models, { seed: opts.seed, date, ...(latencyDir ? { latencyDir } : {}) })
      let sc = load(opts.tables)
      const uniformSlices = opts.uniform ? parseUniform(opts.uniform, sc.gpu) : UNIFORM_SLICES
      const rateSpec = opts.rates
        ? parseRates(opts.rates)
        : gpuRun && !bisect
          ? parseRates('0.25x,0.5x,0.75x,1x')
          : undefined
      let pg: ParisGpu | undefined
      try {
        if (gpuRun) {
          pg = await ParisGpu.start({
            log,
            dtype: sc.models[0]?.table.dtype ?? 'fp16',
            ...(opts.device !== undefined ? { device: opts.device } : {}),
          })
          // every GPU of the largest server: there, and of the scenario's layout (tables are measured on GPU 0;
          // all GPUs of a host are one kind, which this checks)
          const devices = await pg.useGpus(most, sc.gpu)
          if (most > 1)
            log(`gpu: ${devices.length} GPUs: ${devices.map((d, i) => `${i}: ${d.name}`).join(', ')}`)
          if (opts.measureTables) {
            const dir = join(out, 'latency')
            mkdirSync(dir, { recursive: true })
            for (const m of sc.models) {
              const t0 = Date.now()
              const table = await pg.measureTable(m.model, m.batches, opts.cellMs)
              // written at once: a comparison that fails later keeps the tables
              writeTable(join(dir, latencyTableFileName(m.model, table.dtype)), table)
              log(
                `latency table ${m.model}: batches ${m.batches.join(',')} in ${((Date.now() - t0) / 1000).toFixed(0)} s`,
              )
            }
            sc = load(dir)
          }
        }
        let kw: KernelWise | undefined
        if (kwNames()) {
          const missing = missingProfiles(sc, opts.profiles)
          if (missing.length) {
            const why = missingProfilesMessage(missing, opts.profiles)
            if (opts.schemes) throw new UserError(`--schemes: ${kwNames()}: ${why}`)
            log(`skipping ${kwNames()}: ${why}`)
            schemes = schemes.filter((s) => s.layout !== 'eclip-kw')
          } else {
            const t0 = Date.now()
            kw = await kernelWise(sc, opts.profiles, { seed: opts.seed })
            for (const n of kw.notes) log(`eclip-kw: ${n}`)
            log(
              `eclip-kw: co-located latencies from ${kw.combinations} eclip plans run closed-loop in the ` +
                `kernel-level simulator (${((Date.now() - t0) / 1000).toFixed(1)} s)`,
            )
          }
        }
        const relative = Boolean(rateSpec?.some((r) => r.relative) || bisect?.start?.relative)
        const sim = relative
          ? await simulatorSustained(sc, {
              gpus,
              seed: opts.seed,
              target,
              schemes,
              uniformSlices,
              log,
              ...(kw ? { kernelWise: kw } : {}),
            })
          : undefined
        const rates = rateSpec && resolveRates(rateSpec, sim)
        const totalRate = sc.models.reduce((a, m) => a + m.rate, 0)
        const bisectSettings: BisectSettings | undefined = bisect && {
          resolution: bisect.resolution,
          repeats: bisect.repeats,
          pass: bisect.pass,
          start: resolveStart(bisect.start, totalRate, sim),
          // a GPU probe is repeats × a window of real time: a shorter leash on how far the search may wander
          ...(gpuRun ? GPU_BISECT_LIMITS : {}),
        }
        if (pg) {
          const planned = plannedCaptures(sc, schemes, gpus, uniformSlices, DEFAULT_PARIS)
          const loads = gpus.map(
            (g) => `${gpus.length > 1 ? `${g} GPU${g > 1 ? 's' : ''}: ` : ''}${rates?.(g).join(', ')}`,
          )
          log(
            `gpu: ${planned.layouts} layouts, at most ${planned.captures} graph captures; ${
              bisect ? 'bisection' : `loads ${loads.join('; ')} q/s`
            }, ${opts.window} s each`,
          )
          if (bisect) log(`gpu: ${bisectionCost(sc, schemes, gpus, uniformSlices, bisect, opts.window).line}`)
          if (planned.captures > opts.maxCaptures)
            throw new UserError(
              `the comparison would capture up to ${planned.captures} graphs (> --max-captures ${opts.maxCaptures}): fewer schemes, --uniform sizes or batch sizes`,
            )
        }
        const cmp = await compare(sc, {
          gpus,
          seed: opts.seed,
          queries: opts.queries,
          schemes,
          uniformSlices,
          target,
          windowS: opts.window,
          windowed,
          ...(kw ? { kernelWise: kw } : {}),
          ...(rates ? { rates } : {}),
          ...(bisectSettings ? { bisect: bisectSettings } : {}),
          ...(pg ? { backend: pg.run } : {}),
          progress: log,
        })
        const files = await writeReport(
          out,
          sc,
          cmp,
          {
            scenarioFile: opts.models,
            date,
            command,
            backend: opts.backend,
            ...(pg
              ? {
                  gpu: {
                    name: pg.gpu.name,
                    count: most,
                    names: pg.devices.slice(0, most).map((d) => d.name),
                    versions: pg.versions,
                    captures: pg.captures,
                    captureS: pg.captureS,
                    runs: pg.runs,
                    notes: [...pg.notes],
                  },
                }
              : {}),
          },
          { png: Boolean(opts.png) },
        )
        if (pg) {
          const f = join(out, 'requests.csv.gz')
          writeFileSync(f, gzipSync(requestsCsv(pg.logs)))
          files.push(f)
        }
        if (bisect) console.log(`${bisectionMarkdown(cmp).join('\n')}\n`)
        for (const f of files) console.log(f)
      } finally {
        await pg?.close()
      }
    })
}

function writeTable(file: string, table: LatencyTable) {
  writeFileSync(file, `${JSON.stringify(table, null, 1)}\n`)
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
    .option('--batches <list>', 'with --backend gpu: batch sizes', '1,2,4,8,16,32')
    .option('--dtype <dtype>', 'with --backend gpu: fp16, bf16 or fp32', 'fp16')
    .option('--cell-ms <ms>', 'with --backend gpu: timed replays per cell, ms', num('cell-ms', 1), 100)
    // one GPU: the GPUs of one host are one kind, so a table measured on one serves a server of several
    .option('--device <n>', 'with --backend gpu: which GPU (CUDA_VISIBLE_DEVICES)', int('--device', 0))
    .option('--out <file>', 'output file (default: stdout); with --backend gpu: a directory (required)')
    .action(async (profiles, opts) => {
      if (opts.backend === 'gpu') {
        if (!opts.models || !opts.out)
          throw new UserError('--backend gpu needs --models <list> and --out <dir>')
        const batches = opts.batches.split(',').map((b) => int('--batches', 1)(b.trim()))
        const pg = await ParisGpu.start({
          dtype: opts.dtype,
          log: (l) => process.stderr.write(`${l}\n`),
          ...(opts.device !== undefined ? { device: opts.device } : {}),
        })
        try {
          mkdirSync(opts.out, { recursive: true })
          for (const model of opts.models.split(',').map((m) => m.trim())) {
            const table = await pg.measureTable(model, batches, opts.cellMs)
            const f = join(opts.out, latencyTableFileName(model, table.dtype))
            writeTable(f, table)
            console.log(f)
          }
        } finally {
          await pg.close()
        }
        return
      }
      let table: ReturnType<typeof latencyTableFromProfiles>
      if (opts.synthetic) {
        if (!opts.gpu) throw new UserError('--synthetic needs --gpu <file>')
        table = syntheticLatencyTable(readFile<Gpu>('gpu', opts.gpu), opts.synthetic, { seed: opts.seed })
      } else {
        if (profiles.length === 0)
          throw new UserError('give profile files, or --synthetic <model> --gpu <file>, or --backend gpu')
        table = latencyTableFromProfiles(profiles.map((f) => readFile<Profile>('profile', f)))
      }
      const text = `${JSON.stringify(table, null, 1)}\n`
      if (opts.out) {
        writeFileSync(opts.out, text)
        console.log(opts.out)
      } else process.stdout.write(text)
    })
}
