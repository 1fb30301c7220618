// The registry of eclip's file formats: one schema module per format, one reader for all of them. Every reader in
// the TypeScript side goes through `readFile`/`parseFormat`; the Python side validates against the exported JSON
// Schemas in schemas/ (kept in sync by a test).
import { readFileSync } from 'node:fs'
import type { TSchema } from 'typebox'
import { Compile } from 'typebox/compile'
import YAML from 'yaml'
import { FormatError, UserError } from './errors.ts'
import { Gpu, gpuConsistencyErrors } from './gpu.ts'
import { LatencyTable, latencyTableConsistencyErrors } from './latency-table.ts'
import { MixFile, mixFileConsistencyErrors, mixFileProblems, mixWhere } from './mix.ts'
import { Scenario as ParisScenario, scenarioConsistencyErrors } from './paris-scenario.ts'
import { Plan, planConsistencyErrors } from './plan.ts'
import { PlanTable, planTableConsistencyErrors } from './plan-table.ts'
import { PowerModel, SimCalibration, simCalibrationConsistencyErrors } from './power.ts'
import { Primitives } from './primitives.ts'
import { Profile, profileConsistencyErrors } from './profile.ts'
import { Results, resultsConsistencyErrors } from './results.ts'
import { ServeConfig, serveConfigConsistencyErrors, serveConfigWhere } from './serve-config.ts'
import { ServeResults, serveResultsConsistencyErrors } from './serve-results.ts'
import { WorkloadFile, workloadFileConsistencyErrors } from './workload.ts'

interface FormatSpec<T> {
  schema: TSchema
  /** Cross-field rules JSON Schema cannot express; each entry "path: reason". */
  consistency?: (value: T) => string[]
  /**
   * Problems said better than the schema's errors (a union's: every branch complains); they replace the schema's
   * problems at and under their paths. Run on the raw value, before and whether or not the schema check passes.
   */
  explain?: (value: unknown) => Problem[]
  /** A label for a problem's path ("mix disb-A, model vgg19"), appended to its reason. */
  where?: (value: unknown, path: string) => string | undefined
}

/** A problem of a file; `covers`: the schema's errors at and under this path are this problem's (explain only). */
type Problem = { path: string; reason: string; covers?: string }

// biome-ignore lint/suspicious/noExplicitAny: the registry holds specs of different value types
export const FORMATS: Record<string, FormatSpec<any>> = {
  gpu: { schema: Gpu, consistency: gpuConsistencyErrors },
  profile: { schema: Profile, consistency: profileConsistencyErrors },
  primitives: { schema: Primitives },
  mix: {
    schema: MixFile,
    consistency: mixFileConsistencyErrors,
    explain: (v) => mixFileProblems(v),
    where: (v, p) => mixWhere(v, p),
  },
  workload: {
    schema: WorkloadFile,
    consistency: workloadFileConsistencyErrors,
    explain: (v) => mixFileProblems(v, 'workloads'),
    where: (v, p) => mixWhere(v, p, 'workloads'),
  },
  plan: { schema: Plan, consistency: planConsistencyErrors },
  'plan-table': { schema: PlanTable, consistency: planTableConsistencyErrors },
  'latency-table': { schema: LatencyTable, consistency: latencyTableConsistencyErrors },
  'paris-scenario': { schema: ParisScenario, consistency: scenarioConsistencyErrors },
  power: { schema: PowerModel },
  'sim-calibration': { schema: SimCalibration, consistency: simCalibrationConsistencyErrors },
  results: { schema: Results, consistency: resultsConsistencyErrors },
  'serve-config': { schema: ServeConfig, consistency: serveConfigConsistencyErrors, where: serveConfigWhere },
  'serve-results': { schema: ServeResults, consistency: serveResultsConsistencyErrors },
}

const compiled = new Map<string, ReturnType<typeof Compile>>()
function validator(name: string) {
  let v = compiled.get(name)
  if (!v) {
    const spec = FORMATS[name]
    if (!spec) throw new Error(`unknown format ${name}`)
    v = Compile(spec.schema)
    compiled.set(name, v)
  }
  return v
}

/** Validates an already-parsed value; `source` names the file (or message) in errors. */
export function parseFormat<T>(name: string, value: unknown, source: string): T {
  const v = validator(name)
  const spec = FORMATS[name]
  const explained = spec?.explain?.(value) ?? []
  const label = (ps: Problem[]) =>
    ps.map((p) => {
      const w = spec?.where?.(value, p.path)
      return { path: p.path, reason: w ? `${p.reason} (${w})` : p.reason }
    })
  if (!v.Check(value)) {
    const seen = new Set<string>()
    const problems: Problem[] = []
    // the explained paths' own words replace the schema's there (an arrival union's errors name every branch)
    const covered = (path: string) =>
      explained.some((e) => e.covers !== undefined && (path === e.covers || path.startsWith(`${e.covers}/`)))
    const errors = [...v.Errors(value)]
    const perPath = new Map<string, number>()
    for (const e of errors) perPath.set(e.instancePath, (perPath.get(e.instancePath) ?? 0) + 1)
    for (const e of errors) {
      // anyOf/enum failures repeat once per branch; keep the first reason for a path
      if (seen.has(e.instancePath) || e.message === 'schema is false') continue
      seen.add(e.instancePath)
      if (covered(e.instancePath)) continue
      const alone = perPath.get(e.instancePath) === 1
      problems.push({
        path: e.instancePath,
        reason: describe(e, schemaAt(spec?.schema, e.schemaPath), alone),
      })
    }
    throw new FormatError(source, label([...explained, ...problems]))
  }
  const consistency = [
    ...explained,
    ...(spec?.consistency?.(value) ?? []).map((c) => {
      const i = c.indexOf(': ')
      return { path: c.slice(0, i), reason: c.slice(i + 2) }
    }),
  ]
  if (consistency.length > 0) throw new FormatError(source, label(consistency))
  return value as T
}

/** The subschema a JSON pointer (an error's `schemaPath`, `#/properties/…`) names; undefined where it names none. */
function schemaAt(schema: unknown, pointer: string): Record<string, unknown> | undefined {
  let at: unknown = schema
  for (const part of pointer.replace(/^#\/?/, '').split('/').filter(Boolean)) {
    if (at === null || typeof at !== 'object') return undefined
    at = (at as Record<string, unknown>)[part.replace(/~1/g, '/').replace(/~0/g, '~')]
  }
  return at !== null && typeof at === 'object' ? (at as Record<string, unknown>) : undefined
}

function describe(
  // biome-ignore lint/suspicious/noExplicitAny: typebox's error params differ per keyword
  e: { keyword: string; message: string; params: any },
  at?: Record<string, unknown>,
  alone = false,
): string {
  // a record whose keys follow a pattern (batch sizes, say): its description says what a key must be
  const keys = typeof at?.description === 'string' && at.patternProperties ? at.description : undefined
  if (e.keyword === 'additionalProperties' && e.params?.additionalProperties)
    return `${keys ? 'not a valid key' : 'unknown field(s)'} ${e.params.additionalProperties.map((p: string) => `"${p}"`).join(', ')}${keys ? ` (${keys})` : ''}`
  if (e.keyword === 'minProperties' && keys) return `must not be empty (${keys})`
  if (e.keyword === 'required' && e.params?.requiredProperties)
    return `missing field(s) ${e.params.requiredProperties.map((p: string) => `"${p}"`).join(', ')}`
  // a union's branches each fail their own constant: one named alone would read as the only value allowed
  if (e.keyword === 'const' && alone && e.params && 'allowedValue' in e.params)
    return `must be ${JSON.stringify(e.params.allowedValue)}`
  if (e.keyword === 'enum' && e.params?.allowedValues)
    return `must be one of ${e.params.allowedValues.map((v: unknown) => JSON.stringify(v)).join(', ')}`
  return e.message
}

/** Reads a JSON (or, for .yaml/.yml, YAML) file and validates it as format `name`. */
export function readFile<T>(name: string, file: string): T {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new UserError(`${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`)
  }
  let value: unknown
  try {
    value = /\.ya?ml$/i.test(file) ? YAML.parse(text) : JSON.parse(text)
  } catch (err) {
    throw new FormatError(file, [
      {
        path: '',
        reason: `not valid ${/\.ya?ml$/i.test(file) ? 'YAML' : 'JSON'}: ${(err as Error).message}`,
      },
    ])
  }
  return parseFormat<T>(name, value, file)
}

/** JSON Schema documents for every format, as exported to schemas/ for the Python side. */
export function exportSchemas(): Record<string, object> {
  const out: Record<string, object> = {}
  for (const [name, spec] of Object.entries(FORMATS)) {
    out[name] = {
      $schema: 'http://json-schema.org/draft-07/schema#',
      $id: `https://eclip.dev/schemas/${name}.schema.json`,
      title: `eclip ${name}`,
      ...JSON.parse(JSON.stringify(spec.schema)),
    }
  }
  return out
}

export * from './arrival.ts'
export * from './common.ts'
export * from './errors.ts'
export * from './gpu.ts'
export * from './latency-table.ts'
export * from './mix.ts'
export * from './plan.ts'
export * from './plan-table.ts'
export * from './power.ts'
export * from './primitives.ts'
export * from './profile.ts'
export * from './results.ts'
export * from './serve-config.ts'
export * from './serve-results.ts'
export * from './workload.ts'
