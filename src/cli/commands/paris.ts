// `eclip paris`: plan PARIS partitions for a scenario and compare PARIS+ELSA with homogeneous layouts in the
// request-level simulator over 1..N GPUs. Real-GPU runs and `eclip serve` integration come later (issue #7).

import { writeFileSync } from 'node:fs'
import type { Command } from '@commander-js/extra-typings'
import { type Gpu, type Profile, readFile, UserError } from '../../formats/index.ts'
import { compare, SCHEMES } from '../../paris/compare.ts'
import { latencyTableFromProfiles, syntheticLatencyTable } from '../../paris/latency.ts'
import { writeReport } from '../../paris/report.ts'
import { loadScenario } from '../../paris/scenario.ts'

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

export function registerParis(program: Command) {
  registerParisTable(program)
  program
    .command('paris')
    .description(
      'PARIS+ELSA: plan heterogeneous partitions for a scenario and compare it in the simulator with homogeneous ' +
        'layouts over 1..N GPUs (tables + SVG plots)',
    )
    .requiredOption('--models <file>', 'scenario file (YAML), e.g. examples/paris.yaml')
    .option('--gpus <list>', 'GPU counts: N, N..M or a comma list', '1..8')
    .option('--out <dir>', 'output directory', 'results/sim/paris')
    .option('--seed <n>', 'seed of the traces and of synthetic latency tables', int('--seed', 0), 1)
    .option('--queries <n>', 'queries per simulated run (first 10% warm-up)', int('--queries', 100), 20000)
    .option(
      '--schemes <list>',
      `comma list of schemes (default all: ${SCHEMES.map((s) => s.name).join(', ')})`,
    )
    .option('--png', 'also write PNG copies of the plots')
    .option('--quiet', 'no progress lines')
    .action(async (opts) => {
      const gpus = parseGpuList(opts.gpus)
      const schemes = opts.schemes
        ? opts.schemes.split(',').map((n) => {
            const s = SCHEMES.find((x) => x.name === n.trim())
            if (!s)
              throw new UserError(
                `--schemes: unknown "${n}"; known: ${SCHEMES.map((x) => x.name).join(', ')}`,
              )
            return s
          })
        : SCHEMES
      const date = new Date().toISOString().slice(0, 10)
      const sc = loadScenario(opts.models, { seed: opts.seed, date })
      const cmp = await compare(sc, {
        gpus,
        seed: opts.seed,
        queries: opts.queries,
        schemes,
        ...(opts.quiet ? {} : { progress: (line: string) => process.stderr.write(`${line}\n`) }),
      })
      const command = ['eclip', ...process.argv.slice(2)].join(' ')
      const files = await writeReport(
        opts.out,
        sc,
        cmp,
        { scenarioFile: opts.models, date, command },
        { png: Boolean(opts.png) },
      )
      for (const f of files) console.log(f)
    })
}

/**
 * `eclip paris-table`: a latency table from profiles of one model at several batch sizes (the GPU profiler's output),
 * or a synthetic one for a GPU layout. Registered by registerParis, so main.ts needs one line for both commands.
 */
export function registerParisTable(program: Command) {
  program
    .command('paris-table')
    .description(
      'write a latency table (batch × partition size) from profiles of one model, or a synthetic one',
    )
    .argument('[profiles...]', 'profile files of one model at several batch sizes')
    .option('--synthetic <model>', 'generate a synthetic table for this model instead (needs --gpu)')
    .option('--gpu <file>', 'gpu layout file, for --synthetic')
    .option('--seed <n>', 'seed, for --synthetic', int('--seed', 0), 1)
    .option('--out <file>', 'output file (default: stdout)')
    .action((profiles, opts) => {
      let table: ReturnType<typeof latencyTableFromProfiles>
      if (opts.synthetic) {
        if (!opts.gpu) throw new UserError('--synthetic needs --gpu <file>')
        table = syntheticLatencyTable(readFile<Gpu>('gpu', opts.gpu), opts.synthetic, { seed: opts.seed })
      } else {
        if (profiles.length === 0)
          throw new UserError('give profile files, or --synthetic <model> --gpu <file>')
        table = latencyTableFromProfiles(profiles.map((f) => readFile<Profile>('profile', f)))
      }
      const text = `${JSON.stringify(table, null, 1)}\n`
      if (opts.out) {
        writeFileSync(opts.out, text)
        console.log(opts.out)
      } else process.stdout.write(text)
    })
}
