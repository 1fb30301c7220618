// A PARIS scenario: the models an inference server hosts, each with its expected load (Poisson rate, batch-size mix)
// and SLO, the GPU layout, and where the latency tables come from. Written by people (YAML); examples/paris.yaml is
// the shipped one. The schema is src/formats/paris-scenario.ts (the serve config's paris-elsa policy reuses its
// pieces); this module reads and resolves a scenario.
import { readdirSync } from 'node:fs'
import { dirname, isAbsolute, join, resolve } from 'node:path'
import type { Gpu, LatencyTable, Profile } from '../formats/index.ts'
import {
  gpuConsistencyErrors,
  latencyTableFileName,
  parseFormat,
  profileFileName,
  readFile,
  UserError,
} from '../formats/index.ts'
import { batchMixEntries, type Scenario, scenarioConsistencyErrors } from '../formats/paris-scenario.ts'
import { latencyTableFromProfiles, syntheticLatencyTable } from './latency.ts'

export {
  LatencySource,
  Scenario,
  ScenarioModel,
} from '../formats/paris-scenario.ts'

/** A scenario model with its batch mix as arrays (batch sizes ascending, probabilities summing to 1). */
export interface ModelLoad {
  model: string
  rate: number
  sloUs: number
  batches: number[]
  probs: number[]
  table: LatencyTable
}

export interface LoadedScenario {
  name: string
  description?: string
  gpu: Gpu
  models: ModelLoad[]
}

/**
 * Reads and validates a scenario, resolves its GPU and latency tables. `seed` overrides latency.seed; `latencyDir`
 * (a directory of latency-table files, e.g. just measured on a GPU) overrides the scenario's latency source.
 */
export function loadScenario(
  file: string,
  opts: { seed?: number; date?: string; latencyDir?: string } = {},
): LoadedScenario {
  const value = readFile<Scenario>('paris-scenario', file)
  const scenario: Scenario = opts.latencyDir
    ? { ...value, latency: { source: 'dir', dir: resolve(opts.latencyDir) } }
    : value
  return resolveScenario(scenario, { ...opts, ...fileReaders(dirname(file)), source: file })
}

/**
 * resolveScenario's readers of files named relative to `base` (the directory of the file that names them: a
 * scenario, or a serve config with policy paris-elsa).
 */
export function fileReaders(base: string): {
  readGpu: (path: string) => Gpu
  readTable: (path: string) => LatencyTable
  readProfiles: (dir: string, model: string, dtype: string) => Profile[]
} {
  const rel = (p: string) => (isAbsolute(p) ? p : join(base, p))
  return {
    readGpu: (p) => readFile<Gpu>('gpu', rel(p)),
    readTable: (p) => readFile<LatencyTable>('latency-table', rel(p)),
    readProfiles: (dir, model, dtype) => {
      const d = rel(dir)
      let names: string[]
      try {
        names = readdirSync(d)
      } catch (err) {
        throw new UserError(`${d}: cannot list (${(err as NodeJS.ErrnoException).code ?? String(err)})`)
      }
      const stem = profileFileName(model, 1, dtype).split('.b1.')
      return names
        .filter((n) => n.startsWith(`${stem[0]}.b`) && n.endsWith(`.${stem[1]}`))
        .filter((n) => /^\d+$/.test(n.slice(`${stem[0]}.b`.length, -`.${stem[1]}`.length)))
        .map((n) => readFile<Profile>('profile', join(d, n)))
    },
  }
}

/** Resolves an already-validated scenario; the readers are injected so tests need no files. */
export function resolveScenario(
  s: Scenario,
  opts: {
    seed?: number
    date?: string
    source?: string
    readGpu?: (path: string) => Gpu
    readTable?: (path: string) => LatencyTable
    readProfiles?: (dir: string, model: string, dtype: string) => Profile[]
  },
): LoadedScenario {
  const source = opts.source ?? s.name
  const gpu: Gpu =
    typeof s.gpu === 'string'
      ? need(opts.readGpu, 'gpu file reader')(s.gpu)
      : parseFormat<Gpu>('gpu', s.gpu, `${source} /gpu`)
  const errs = gpuConsistencyErrors(gpu)
  if (errs.length) throw new UserError(`${source}: gpu: ${errs.join('; ')}`)
  const dtype = s.dtype ?? 'fp16'
  const latency = s.latency ?? { source: 'synthetic' as const }
  // the format's checks, for scenarios made in memory (a serve config's paris-elsa models, tests) as for files
  const problems = scenarioConsistencyErrors(s)
  if (problems.length > 0) throw new UserError(`${source}: ${problems.join('; ')}`)
  const models = s.models.map((m, i): ModelLoad => {
    const where = `${source}: /models/${i}`
    const mix = batchMixEntries(m.batches)
    const entries = 'entries' in mix ? mix.entries : [] // a problem was refused above
    const total = entries.reduce((a, [, w]) => a + w, 0)
    let table: LatencyTable
    if (m.latencyTable) table = need(opts.readTable, 'latency table reader')(m.latencyTable)
    else if (latency.source === 'dir')
      table = need(
        opts.readTable,
        'latency table reader',
      )(join(latency.dir, latencyTableFileName(m.model, dtype)))
    else if (latency.source === 'profiles') {
      const profiles = need(opts.readProfiles, 'profile reader')(latency.dir, m.model, dtype)
      if (profiles.length === 0)
        throw new UserError(`${where}: no ${m.model} ${dtype} profiles in ${latency.dir}`)
      table = latencyTableFromProfiles(profiles)
    } else
      table = syntheticLatencyTable(gpu, m.model, {
        seed: opts.seed ?? latency.seed ?? 1,
        dtype,
        ...(latency.noise !== undefined ? { noise: latency.noise } : {}),
        ...(opts.date ? { date: opts.date } : {}),
      })
    if (table.model !== m.model) throw new UserError(`${where}: latency table is for ${table.model}`)
    if (table.gpu.smCount !== gpu.smCount)
      throw new UserError(`${where}: latency table is for a ${table.gpu.smCount}-SM GPU, not ${gpu.smCount}`)
    return {
      model: m.model,
      rate: m.rate,
      sloUs: m.sloMs * 1000,
      batches: entries.map(([b]) => b),
      probs: entries.map(([, w]) => w / total),
      table,
    }
  })
  return { name: s.name, ...(s.description ? { description: s.description } : {}), gpu, models }
}

function need<T>(f: T | undefined, what: string): T {
  if (!f) throw new Error(`resolveScenario: no ${what}`)
  return f
}

/** Mean batch size of a model's mix. */
export const meanBatch = (m: ModelLoad) => m.batches.reduce((a, b, i) => a + b * (m.probs[i] ?? 0), 0)
