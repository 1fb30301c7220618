// `eclip validate`: files against a format (its schema and its rules across fields), and the files they name read
// as the commands that use them read them: a mix's or workload's traces, a PARIS scenario's GPU layout and latency
// tables, a serve config's plan, plan table, GPU layout, latency tables, profile directory and model files.
import { existsSync, statSync } from 'node:fs'
import type { Command } from '@commander-js/extra-typings'
import { FORMATS, readFile, type ServeConfig, UserError } from '../../formats/index.ts'
import { loadScenario } from '../../paris/scenario.ts'
import { configPath } from '../../serve/setup.ts'
import { readMixes, readWorkloads } from '../options.ts'

export function registerValidate(program: Command) {
  program
    .command('validate')
    .description(
      `check files against an eclip format (${Object.keys(FORMATS).join(', ')}), and the files they name`,
    )
    .argument('<format>', 'format name')
    .argument('<files...>', 'files to check (JSON, or YAML for mixes)')
    .action((format, files) => {
      if (!FORMATS[format])
        throw new UserError(`unknown format "${format}"; known: ${Object.keys(FORMATS).join(', ')}`)
      for (const f of files) {
        const value = readFile(format, f)
        const named = readNamedFiles(format, value, f)
        console.log(`${f}: ok (${format}${named > 0 ? `; ${named} file(s) it names checked` : ''})`)
      }
    })
}

/** Reads the files `value` (of `file`) names as their readers do, a bad one a UserError; how many it names. */
function readNamedFiles(format: string, value: unknown, file: string): number {
  if (format === 'mix' || format === 'workload') {
    const mixes = format === 'mix' ? readMixes(file) : readWorkloads(file)
    const traces = new Set<string>()
    for (const m of mixes)
      for (const w of m.workers) if (w.arrival?.kind === 'trace') traces.add(w.arrival.file)
    return traces.size
  }
  if (format === 'paris-scenario') {
    const s = value as { gpu: unknown; latency?: { source: string }; models: { latencyTable?: string }[] }
    loadScenario(file)
    return (
      (typeof s.gpu === 'string' ? 1 : 0) +
      (s.latency !== undefined && s.latency.source !== 'synthetic' ? 1 : 0) +
      s.models.filter((m) => m.latencyTable !== undefined).length
    )
  }
  if (format === 'serve-config') return readServeConfigFiles(value as ServeConfig, file)
  return 0
}

/** A serve config's named files and directories (relative to the config), each read or looked for as serve does. */
function readServeConfigFiles(c: ServeConfig, file: string): number {
  const resolve = configPath(file)
  const formatted: [string, string, string][] = [] // JSON path, format, file
  if (c.plan !== undefined) formatted.push(['/plan', 'plan', c.plan])
  if (c.live?.table !== undefined) formatted.push(['/live/table', 'plan-table', c.live.table])
  if (typeof c.gpu === 'string') formatted.push(['/gpu', 'gpu', c.gpu])
  c.models.forEach((m, i) => {
    if (m.latencyTable !== undefined)
      formatted.push([`/models/${i}/latencyTable`, 'latency-table', m.latencyTable])
  })
  const dirs: [string, string][] = []
  if (c.profiles !== undefined) dirs.push(['/profiles', c.profiles])
  if (c.latency !== undefined && c.latency.source !== 'synthetic') dirs.push(['/latency/dir', c.latency.dir])
  const plain: [string, string][] = []
  c.models.forEach((m, i) => {
    if (m.source !== undefined) plain.push([`/models/${i}/source`, m.source])
  })
  for (const [at, format, p] of formatted) {
    const path = resolve(p)
    if (!existsSync(path)) throw new UserError(`${file}: ${at}: ${path} does not exist`)
    readFile(format, path)
  }
  for (const [at, p] of dirs) {
    const path = resolve(p)
    if (!existsSync(path) || !statSync(path).isDirectory())
      throw new UserError(`${file}: ${at}: ${path} is not a directory`)
  }
  for (const [at, p] of plain) {
    const path = resolve(p)
    if (!existsSync(path) || !statSync(path).isFile())
      throw new UserError(`${file}: ${at}: ${path} is not a file`)
  }
  return formatted.length + dirs.length + plain.length
}
