// Workloads: when each worker's requests arrive, and how much each worker's latency matters. One per worker, written in
// a mix file (`arrival:`, `priority:`, `sloMs:`) or a workload file (src/formats/workload.ts); the simulator and the
// GPU executor issue requests at the times these give (src/workload/arrivals.ts turns them into per-worker
// schedules), and the planner sizes real-time workers from them (src/plan/realtime.ts). docs/workloads.md is the
// user's page.
//
// Sources:
//   closed   one request in flight, the next issued as soon as one completes (the paper's closed loop; the default)
//   poisson  open loop, exponential gaps at `rate` requests/s
//   uniform  open loop, a request every 1/rate s (from `offsetS`)
//   onoff    busy and idle periods in turn, each drawn from its distribution (exponential or fixed, mean `meanS`);
//            while on, the `whileOn` source (closed loop by default, or poisson / uniform at a rate)
//   trace    the request times of a file, replayed (src/workload/arrivals.ts: one time per line)
// An open-loop request's latency counts from its arrival, queueing included: a worker has one request in flight and
// the others wait their turn in arrival order.
import { type TSchema, Type } from 'typebox'
import { Compile } from 'typebox/compile'

/** Requests per second of an open-loop source. */
const Rate = Type.Number({ exclusiveMinimum: 0 })

export const ClosedSource = Type.Object({ kind: Type.Literal('closed') }, { additionalProperties: false })
export const PoissonSource = Type.Object(
  {
    kind: Type.Literal('poisson'),
    /** Mean arrival rate, requests/s (exponential gaps). */
    rate: Rate,
  },
  { additionalProperties: false },
)
export const UniformSource = Type.Object(
  {
    kind: Type.Literal('uniform'),
    /** Requests/s: one every 1/rate seconds. */
    rate: Rate,
    /** First arrival, s from the start of the run (or of each busy period) (default 0). */
    offsetS: Type.Optional(Type.Number({ minimum: 0 })),
  },
  { additionalProperties: false },
)

/** A busy or idle period's length: exponential with mean `meanS`, or always `meanS` (fixed). */
export const Period = Type.Object(
  {
    dist: Type.Enum(['exponential', 'fixed']),
    meanS: Type.Number({ exclusiveMinimum: 0 }),
  },
  { additionalProperties: false },
)
export type Period = Type.Static<typeof Period>

export const OnOffSource = Type.Object(
  {
    kind: Type.Literal('onoff'),
    on: Period,
    off: Period,
    /** How requests come while on (default closed: one in flight, back to back). */
    whileOn: Type.Optional(Type.Union([ClosedSource, PoissonSource, UniformSource])),
    /**
     * The state at time 0: on, off, or random (default): on with probability mean on / (mean on + mean off), the
     * first period a fresh draw (exponential) or a uniform part of one (fixed), so workers start independently.
     */
    start: Type.Optional(Type.Enum(['on', 'off', 'random'])),
  },
  { additionalProperties: false },
)

export const TraceSource = Type.Object(
  {
    kind: Type.Literal('trace'),
    /** A text file, one arrival time per line, ascending ('#' comments and blank lines skipped); relative paths are
     * relative to the file that names it. */
    file: Type.String({ minLength: 1 }),
    /** Unit of the file's times (default s). */
    unit: Type.Optional(Type.Enum(['s', 'ms', 'us'])),
    /** Replay the trace again every this many seconds (more than its last time); default once. */
    repeatS: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
  },
  { additionalProperties: false },
)

const SOURCES = {
  closed: ClosedSource,
  poisson: PoissonSource,
  uniform: UniformSource,
  onoff: OnOffSource,
  trace: TraceSource,
} as const
export const ARRIVAL_KINDS = Object.keys(SOURCES) as (keyof typeof SOURCES)[]

export const Arrival = Type.Union([ClosedSource, PoissonSource, UniformSource, OnOffSource, TraceSource])
export type Arrival = Type.Static<typeof Arrival>
export type OnOffArrival = Type.Static<typeof OnOffSource>
export type TraceArrival = Type.Static<typeof TraceSource>
export type WhileOn = NonNullable<OnOffArrival['whileOn']>

/** realtime: a latency SLO the planner keeps; best-effort (the default): what is left. */
export const PRIORITIES = ['realtime', 'best-effort'] as const
export const Priority = Type.Enum([...PRIORITIES])
export type Priority = Type.Static<typeof Priority>

/**
 * The fields a worker of a mix (and, later, a model of a serve config) carries for its load and its latency; the
 * same names and meanings wherever they appear. `sloMs` means what the serve config's paris-elsa `sloMs` means: a
 * request's latency objective from arrival to answer.
 */
export const LOAD_FIELDS = {
  /** realtime or best-effort (default). */
  priority: Type.Optional(Priority),
  /** A real-time worker's latency objective per request, arrival to completion, ms (required for realtime). */
  sloMs: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
  /** When its requests come (default closed loop). */
  arrival: Type.Optional(Arrival),
}

const compiled = new Map<string, ReturnType<typeof Compile>>()
function check(kind: string, schema: TSchema) {
  let c = compiled.get(kind)
  if (!c) {
    c = Compile(schema)
    compiled.set(kind, c)
  }
  return c
}

/**
 * Why `value` (at `path`) is not an arrival source, in the words of the one source its `kind` names: a union's
 * errors list every branch's complaint ("must be equal to constant" for each kind it is not), which names nothing
 * useful. [] when it is valid.
 */
export function arrivalProblems(value: unknown, path: string): { path: string; reason: string }[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return [{ path, reason: `must be an object with a "kind" (${ARRIVAL_KINDS.join(', ')})` }]
  const kind = (value as { kind?: unknown }).kind
  if (kind === undefined) return [{ path, reason: `missing field(s) "kind" (${ARRIVAL_KINDS.join(', ')})` }]
  const schema = SOURCES[kind as keyof typeof SOURCES]
  if (!schema)
    return [
      {
        path: `${path}/kind`,
        reason: `unknown arrival kind ${JSON.stringify(kind)} (known: ${ARRIVAL_KINDS.join(', ')})`,
      },
    ]
  const out: { path: string; reason: string }[] = []
  if (kind === 'onoff') {
    // the nested source first, in its own words; the rest without it
    const w = (value as { whileOn?: unknown }).whileOn
    if (w !== undefined) {
      const wk = (w as { kind?: unknown } | null)?.kind
      if (wk === 'onoff' || wk === 'trace')
        out.push({ path: `${path}/whileOn/kind`, reason: 'must be closed, poisson or uniform' })
      else out.push(...arrivalProblems(w, `${path}/whileOn`))
    }
    const { whileOn: _w, ...rest } = value as Record<string, unknown>
    const c = check('onoff-rest', Type.Omit(OnOffSource, ['whileOn']))
    if (!c.Check(rest)) out.push(...errorsOf(c, rest, path))
    return out
  }
  const c = check(kind as string, schema)
  return c.Check(value) ? [] : errorsOf(c, value, path)
}

function errorsOf(c: ReturnType<typeof Compile>, value: unknown, path: string) {
  const seen = new Set<string>()
  const out: { path: string; reason: string }[] = []
  for (const e of c.Errors(value)) {
    // an unknown field is said once, at its object ("schema is false" is its echo at the field)
    if (seen.has(e.instancePath) || e.message === 'schema is false') continue
    seen.add(e.instancePath)
    // biome-ignore lint/suspicious/noExplicitAny: typebox's error params differ per keyword
    const p = e.params as any
    const reason =
      e.keyword === 'additionalProperties' && p?.additionalProperties
        ? `unknown field(s) ${p.additionalProperties.map((x: string) => `"${x}"`).join(', ')}`
        : e.keyword === 'required' && p?.requiredProperties
          ? `missing field(s) ${p.requiredProperties.map((x: string) => `"${x}"`).join(', ')}`
          : e.keyword === 'enum' && p?.allowedValues
            ? `must be one of ${p.allowedValues.map((x: unknown) => JSON.stringify(x)).join(', ')}`
            : e.message
    out.push({ path: `${path}${e.instancePath}`, reason })
  }
  return out
}

/** A worker's load fields as given (mix or workload file): the problems schema unions and cross-field rules leave
 * unsaid. `at` is the worker's path in the file. */
export function loadFieldProblems(
  w: { priority?: unknown; sloMs?: unknown; arrival?: unknown },
  at: string,
): { path: string; reason: string; covers?: string }[] {
  const out: { path: string; reason: string; covers?: string }[] = []
  // the schema's errors under the arrival are the union's, one per kind: these replace them
  if (w.arrival !== undefined)
    out.push(...arrivalProblems(w.arrival, `${at}/arrival`).map((p) => ({ ...p, covers: `${at}/arrival` })))
  const rt = w.priority === 'realtime'
  if (rt && w.sloMs === undefined)
    out.push({ path: at, reason: 'missing field(s) "sloMs": a real-time worker needs its latency SLO' })
  // an unknown priority is the schema's to name; whether it may have an SLO is then moot
  const known = w.priority === undefined || w.priority === 'best-effort'
  if (known && w.sloMs !== undefined)
    out.push({
      path: `${at}/sloMs`,
      reason: 'only a real-time worker (priority: realtime) has an SLO; best-effort work takes what is left',
    })
  return out
}
