// `eclip paris`'s application: plans PARIS partitions for a scenario and compares PARIS+ELSA with homogeneous layouts
// over 1..N GPUs, in the request-level simulator or on this machine's GPUs (latency tables measured on its first GPU
// with --measure-tables; every run a trace replayed open-loop on green-context partitions, src/paris/gpu.ts); writes
// the tables, plots and (GPU) the request log; and `eclip paris-table`'s: one latency table from profiles or
// synthetic, or tables measured on the GPU. The CLI (src/cli/commands/paris.ts) parses flags and calls runParis or
// runParisTable.
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import {
  type Gpu,
  type LatencyTable,
  latencyTableFileName,
  type Profile,
  readFile,
  UserError,
} from '../formats/index.ts'
import { bisectionSteps, type PassRule } from './bisect.ts'
import { type BisectSettings, compare, layoutsFor, type Scheme, UNIFORM_SLICES } from './compare.ts'
import { ParisGpu, plannedCaptures, requestsCsv } from './gpu.ts'
import { type KernelWise, kernelWise, missingProfiles, missingProfilesMessage } from './kernelwise.ts'
import { KNOWN_SHAPE_MODELS, knownShape, latencyTableFromProfiles, syntheticLatencyTable } from './latency.ts'
import { DEFAULT_PARIS, paris } from './partition.ts'
import { bisectionMarkdown, writeReport } from './report.ts'
import { type LoadedScenario, loadScenario } from './scenario.ts'
import { simulate } from './sim.ts'

/**
 * How far a bisection on the GPU may double or halve from its start (0.5x the simulator's sustained load by
 * default: 8x above, 1/32 of it below); the simulator's are bisect.ts's defaults.
 */
export const GPU_BISECT_LIMITS = { maxDoublings: 4, maxHalvings: 4 }

/** One --rates entry: queries/s, or a multiple of the simulator's best sustained load ("0.5x"). */
export interface RateSpec {
  value: number
  relative: boolean
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
/** A latency table as a file. */
export function writeTable(file: string, table: LatencyTable) {
  writeFileSync(file, `${JSON.stringify(table, null, 1)}\n`)
}

/** `eclip paris-table`'s options, the flags parsed: a table from profile files or synthetic, or measured tables. */
export interface RunParisTableOptions {
  /** profile files of one model at several batch sizes */
  profiles: string[]
  /** a synthetic table for this model on the layout of the `gpu` file instead */
  synthetic?: string
  gpu?: string
  seed: number
  /** the table's file (default: stdout) */
  out?: string
  /** measure tables on this machine's GPU instead, one file per model in `out` */
  measure?: {
    models: string[]
    batches: number[]
    dtype: string
    cellMs: number
    device?: number
    out: string
  }
}

/** Writes the latency table (or, measuring, the tables) and prints the files written. */
export async function runParisTable(o: RunParisTableOptions): Promise<void> {
  if (o.measure) return measureTables(o.measure)
  let table: LatencyTable
  if (o.synthetic) {
    if (!o.gpu) throw new UserError('--synthetic needs --gpu <file>')
    // any name makes a table (a made-up model is a seeded random shape), so a misspelt one is said, not refused
    if (knownShape(o.synthetic) === undefined)
      process.stderr.write(
        `eclip paris-table: no known shape for "${o.synthetic}" (known: ${KNOWN_SHAPE_MODELS.join(', ')}): a seeded random one\n`,
      )
    table = syntheticLatencyTable(readFile<Gpu>('gpu', o.gpu), o.synthetic, { seed: o.seed })
  } else {
    if (o.profiles.length === 0)
      throw new UserError('give profile files, or --synthetic <model> --gpu <file>, or --backend gpu')
    table = latencyTableFromProfiles(o.profiles.map((f) => readFile<Profile>('profile', f)))
  }
  if (o.out) {
    writeTable(o.out, table)
    console.log(o.out)
  } else process.stdout.write(`${JSON.stringify(table, null, 1)}\n`)
}

/** Latency tables measured on one GPU of this machine, a file per model in `m.out`. */
async function measureTables(m: NonNullable<RunParisTableOptions['measure']>): Promise<void> {
  const pg = await ParisGpu.start({
    dtype: m.dtype,
    log: (l) => process.stderr.write(`${l}\n`),
    ...(m.device !== undefined ? { device: m.device } : {}),
  })
  try {
    mkdirSync(m.out, { recursive: true })
    for (const model of m.models) {
      const table = await pg.measureTable(model, m.batches, m.cellMs)
      const f = join(m.out, latencyTableFileName(model, table.dtype))
      writeTable(f, table)
      console.log(f)
    }
  } finally {
    await pg.close()
  }
}

/** `eclip paris`'s options, the flags parsed and checked against each other. */
export interface RunParisOptions {
  /** the scenario file */
  models: string
  backend: 'sim' | 'gpu'
  /** GPU counts, sorted */
  gpus: number[]
  out: string
  seed: number
  /** queries per simulated run */
  queries: number
  schemes: Scheme[]
  /** the schemes were named (--schemes): eclip-kw without its profiles is refused rather than skipped */
  schemesGiven: boolean
  /** fixed loads instead of a search */
  rates?: RateSpec[]
  bisect?: BisectCli
  /** SLO violations that still count as sustained, a fraction */
  target: number
  /** seconds of arrivals per run, and whether a bisection's runs are windows (else --queries) */
  windowS: number
  windowed: boolean
  tables?: string
  measureTables?: boolean
  cellMs: number
  /** --uniform, read against the scenario's GPU */
  uniform?: string
  profiles: string
  maxCaptures: number
  device?: number
  png?: boolean
  quiet?: boolean
}

/** Runs the comparison, writes its report and prints the files written (progress on stderr unless quiet). */
export async function runParis(o: RunParisOptions): Promise<void> {
  const log = o.quiet ? () => {} : (line: string) => process.stderr.write(`${line}\n`)
  const date = new Date().toISOString().slice(0, 10)
  const load = (latencyDir?: string) =>
    loadScenario(o.models, { seed: o.seed, date, ...(latencyDir ? { latencyDir } : {}) })
  let sc = load(o.tables)
  const uniformSlices = o.uniform ? parseUniform(o.uniform, sc.gpu) : UNIFORM_SLICES
  let pg: ParisGpu | undefined
  try {
    if (o.backend === 'gpu') {
      pg = await startGpu(o, sc, log)
      if (o.measureTables) sc = load(await measureScenarioTables(o, sc, pg, log))
    }
    const { schemes, kw } = await withKernelWise(o, sc, log)
    const { rates, bisectSettings } = await resolveLoads(o, sc, schemes, uniformSlices, log, kw)
    if (pg) checkGpuPlan(o, sc, schemes, uniformSlices, rates, log)
    const cmp = await compare(sc, {
      gpus: o.gpus,
      seed: o.seed,
      queries: o.queries,
      schemes,
      uniformSlices,
      target: o.target,
      windowS: o.windowS,
      windowed: o.windowed,
      ...(kw ? { kernelWise: kw } : {}),
      ...(rates ? { rates } : {}),
      ...(bisectSettings ? { bisect: bisectSettings } : {}),
      ...(pg ? { backend: pg.run } : {}),
      progress: log,
    })
    const files = await writeParisOutputs(o, sc, cmp, pg, date)
    if (o.bisect) console.log(`${bisectionMarkdown(cmp).join('\n')}\n`)
    for (const f of files) console.log(f)
  } finally {
    await pg?.close()
  }
}

/**
 * The GPU backend, with every GPU of the largest server in use: there, and of the scenario's layout (tables are
 * measured on GPU 0; all GPUs of a host are one kind, which this checks). The server's GPUs are 0..most-1 of those
 * the backend sees.
 */
async function startGpu(o: RunParisOptions, sc: LoadedScenario, log: (l: string) => void): Promise<ParisGpu> {
  const most = Math.max(...o.gpus)
  const pg = await ParisGpu.start({
    log,
    dtype: sc.models[0]?.table.dtype ?? 'fp16',
    ...(o.device !== undefined ? { device: o.device } : {}),
  })
  try {
    const devices = await pg.useGpus(most, sc.gpu)
    if (most > 1) log(`gpu: ${devices.length} GPUs: ${devices.map((d, i) => `${i}: ${d.name}`).join(', ')}`)
  } catch (err) {
    await pg.close()
    throw err
  }
  return pg
}

/** --measure-tables: every model's latency table measured on the GPU into <out>/latency; returns that directory. */
async function measureScenarioTables(
  o: RunParisOptions,
  sc: LoadedScenario,
  pg: ParisGpu,
  log: (l: string) => void,
): Promise<string> {
  const dir = join(o.out, 'latency')
  mkdirSync(dir, { recursive: true })
  for (const m of sc.models) {
    const t0 = performance.now()
    const table = await pg.measureTable(m.model, m.batches, o.cellMs)
    // written at once: a comparison that fails later keeps the tables
    writeTable(join(dir, latencyTableFileName(m.model, table.dtype)), table)
    log(
      `latency table ${m.model}: batches ${m.batches.join(',')} in ${((performance.now() - t0) / 1000).toFixed(0)} s`,
    )
  }
  return dir
}

/**
 * eclip-kw's co-located latencies when a scheme uses it and its profiles are there; without its profiles it is
 * refused where --schemes named it, else left out with a line that says so.
 */
async function withKernelWise(
  o: RunParisOptions,
  sc: LoadedScenario,
  log: (l: string) => void,
): Promise<{ schemes: Scheme[]; kw?: KernelWise }> {
  const names = o.schemes
    .filter((s) => s.layout === 'eclip-kw')
    .map((s) => s.name)
    .join(', ')
  if (!names) return { schemes: o.schemes }
  const missing = missingProfiles(sc, o.profiles)
  if (missing.length) {
    const why = missingProfilesMessage(missing, o.profiles)
    if (o.schemesGiven) throw new UserError(`--schemes: ${names}: ${why}`)
    log(`skipping ${names}: ${why}`)
    return { schemes: o.schemes.filter((s) => s.layout !== 'eclip-kw') }
  }
  const t0 = performance.now()
  const kw = await kernelWise(sc, o.profiles, { seed: o.seed })
  for (const n of kw.notes) log(`eclip-kw: ${n}`)
  log(
    `eclip-kw: co-located latencies from ${kw.combinations} eclip plans run closed-loop in the ` +
      `kernel-level simulator (${((performance.now() - t0) / 1000).toFixed(1)} s)`,
  )
  return { schemes: o.schemes, kw }
}

/** The fixed loads or the bisection's settings, loads given as multiples resolved on the simulator's search. */
async function resolveLoads(
  o: RunParisOptions,
  sc: LoadedScenario,
  schemes: Scheme[],
  uniformSlices: number[],
  log: (l: string) => void,
  kw?: KernelWise,
): Promise<{ rates?: (g: number) => number[]; bisectSettings?: BisectSettings }> {
  const { bisect } = o
  const relative = Boolean(o.rates?.some((r) => r.relative) || bisect?.start?.relative)
  const sim = relative
    ? await simulatorSustained(sc, {
        gpus: o.gpus,
        seed: o.seed,
        target: o.target,
        schemes,
        uniformSlices,
        log,
        ...(kw ? { kernelWise: kw } : {}),
      })
    : undefined
  const rates = o.rates && resolveRates(o.rates, sim)
  const totalRate = sc.models.reduce((a, m) => a + m.rate, 0)
  const bisectSettings: BisectSettings | undefined = bisect && {
    resolution: bisect.resolution,
    repeats: bisect.repeats,
    pass: bisect.pass,
    start: resolveStart(bisect.start, totalRate, sim),
    // a GPU probe is repeats × a window of real time: a shorter leash on how far the search may wander
    ...(o.backend === 'gpu' ? GPU_BISECT_LIMITS : {}),
  }
  return { ...(rates ? { rates } : {}), ...(bisectSettings ? { bisectSettings } : {}) }
}

/** On the GPU: what the comparison will capture and run, said before it starts; refused past --max-captures. */
function checkGpuPlan(
  o: RunParisOptions,
  sc: LoadedScenario,
  schemes: Scheme[],
  uniformSlices: number[],
  rates: ((g: number) => number[]) | undefined,
  log: (l: string) => void,
) {
  const { gpus, bisect } = o
  const planned = plannedCaptures(sc, schemes, gpus, uniformSlices, DEFAULT_PARIS)
  const loads = gpus.map(
    (g) => `${gpus.length > 1 ? `${g} GPU${g > 1 ? 's' : ''}: ` : ''}${rates?.(g).join(', ')}`,
  )
  log(
    `gpu: ${planned.layouts} layouts, at most ${planned.captures} graph captures; ${
      bisect ? 'bisection' : `loads ${loads.join('; ')} q/s`
    }, ${o.windowS} s each`,
  )
  if (bisect) log(`gpu: ${bisectionCost(sc, schemes, gpus, uniformSlices, bisect, o.windowS).line}`)
  if (planned.captures > o.maxCaptures)
    throw new UserError(
      `the comparison would capture up to ${planned.captures} graphs (> --max-captures ${o.maxCaptures}): fewer schemes, --uniform sizes or batch sizes`,
    )
}

/** The report, tables and plots, and (GPU) the request log; returns the files written. */
async function writeParisOutputs(
  o: RunParisOptions,
  sc: LoadedScenario,
  cmp: Awaited<ReturnType<typeof compare>>,
  pg: ParisGpu | undefined,
  date: string,
): Promise<string[]> {
  const most = Math.max(...o.gpus)
  const files = await writeReport(
    o.out,
    sc,
    cmp,
    {
      scenarioFile: o.models,
      date,
      command: ['eclip', ...process.argv.slice(2)].join(' '),
      backend: o.backend,
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
    { png: Boolean(o.png) },
  )
  if (pg) {
    const f = join(o.out, 'requests.csv.gz')
    writeFileSync(f, gzipSync(requestsCsv(pg.logs)))
    files.push(f)
  }
  return files
}
