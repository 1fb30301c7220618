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
import { compare, SCHEMES, type Scheme, UNIFORM_SLICES } from '../../paris/compare.ts'
import { ParisGpu, plannedCaptures, requestsCsv } from '../../paris/gpu.ts'
import {
  type KernelWise,
  kernelWise,
  missingProfiles,
  missingProfilesMessage,
} from '../../paris/kernelwise.ts'
import { latencyTableFromProfiles, syntheticLatencyTable } from '../../paris/latency.ts'
import { DEFAULT_PARIS } from '../../paris/partition.ts'
import { writeReport } from '../../paris/report.ts'
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

/** The schemes a GPU run compares by default: few layouts, since every one costs graph captures and windows. */
export const GPU_SCHEMES = ['whole/least-loaded', 'uniform/least-loaded', 'paris/fifo', 'paris/elsa']

/** One --rates entry: queries/s, or a multiple of the simulator's best sustained load ("0.5x"). */
export interface RateSpec {
  value: number
  relative: boolean
}

/** "200,400" (queries/s) or "0.5x,1x" (multiples of the simulator's best sustained load), mixed freely. */
export function parseRates(text: string): RateSpec[] {
  return text.split(',').map((part) => {
    const m = /^\s*(\d+(?:\.\d+)?)\s*(x?)\s*$/.exec(part)
    const value = Number(m?.[1])
    if (!m || !(value > 0)) throw new UserError(`--rates: "${part}" is not a load (queries/s, or e.g. 0.5x)`)
    return { value, relative: m[2] === 'x' }
  })
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

/**
 * The fixed loads at each GPU count. Relative entries ("0.5x") are multiples of the highest load any of the schemes
 * sustains in the simulator on the same latency tables (a bisection search there costs seconds): a GPU run then
 * spends its few windows around where the interesting loads are, whatever the GPU.
 */
async function resolveRates(
  spec: RateSpec[],
  sc: LoadedScenario,
  o: {
    gpus: number[]
    seed: number
    schemes: Scheme[]
    uniformSlices: number[]
    log: (l: string) => void
    kernelWise?: KernelWise
  },
): Promise<(g: number) => number[]> {
  const best = new Map<number, number>()
  if (spec.some((r) => r.relative)) {
    const sim = await compare(sc, {
      gpus: o.gpus,
      seed: o.seed,
      schemes: o.schemes,
      uniformSlices: o.uniformSlices,
      backend: simulate,
      sweep: [],
      ...(o.kernelWise ? { kernelWise: o.kernelWise } : {}),
    })
    const totalRate = sc.models.reduce((a, m) => a + m.rate, 0)
    for (const g of o.gpus) {
      const top = sim.results.filter((r) => r.gpus === g).sort((a, b) => b.sustainedQps - a.sustainedQps)[0]
      if (top && top.sustainedQps > 0) {
        best.set(g, top.sustainedQps)
        o.log(
          `simulator, same tables: best ${top.sustainedQps.toFixed(0)} q/s at ${g} GPU(s) (${top.scheme})`,
        )
        continue
      }
      // some class misses its SLO everywhere: still run, around the load PARIS plans to fill the server with
      const plan = sim.plans.find((p) => p.gpus === g)
      const qps = plan && plan.plannedLoad > 0 ? totalRate / plan.plannedLoad : totalRate
      best.set(g, qps)
      o.log(
        `simulator, same tables: no scheme keeps violations ≤ 1% at ${g} GPU(s); 1x = PARIS's planned capacity, ` +
          `${qps.toFixed(0)} q/s`,
      )
    }
  }
  return (g) => spec.map((r) => Math.round(r.relative ? r.value * (best.get(g) ?? 0) : r.value))
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
    .option('--window <s>', 'with --rates: seconds of arrivals per run', num('window', 0.5), 5)
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
    .action(async (opts) => {
      const gpuRun = opts.backend === 'gpu'
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
        : gpuRun
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
        const rates =
          rateSpec &&
          (await resolveRates(rateSpec, sc, {
            gpus,
            seed: opts.seed,
            schemes,
            uniformSlices,
            log,
            ...(kw ? { kernelWise: kw } : {}),
          }))
        if (pg) {
          const planned = plannedCaptures(sc, schemes, gpus, uniformSlices, DEFAULT_PARIS)
          const loads = gpus.map(
            (g) => `${gpus.length > 1 ? `${g} GPU${g > 1 ? 's' : ''}: ` : ''}${rates?.(g).join(', ')}`,
          )
          log(
            `gpu: ${planned.layouts} layouts, at most ${planned.captures} graph captures; loads ${loads.join('; ')} q/s, ${opts.window} s each`,
          )
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
          windowS: opts.window,
          ...(kw ? { kernelWise: kw } : {}),
          ...(rates ? { rates } : {}),
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
