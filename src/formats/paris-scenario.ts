// PARIS scenario (eclip.paris-scenario/1): the models a multi-GPU inference server hosts, each with its expected load
// (Poisson rate, batch-size mix) and SLO, the GPU layout, and where the latency tables come from. Written by people
// (YAML); examples/paris.yaml is the shipped one. `eclip paris` reads it (src/paris/scenario.ts resolves it); the
// serve config (serve-config.ts) takes the same per-model load and latency source for its `paris-elsa` policy, so
// those pieces are defined once, here.
import Type from 'typebox'
import { Dtype, ModelName } from './common.ts'
import { Gpu, gpuConsistencyErrors } from './gpu.ts'

/** One model's load as PARIS and ELSA see it; `latencyTable` is a file relative to the file that names it. */
export const MODEL_LOAD_FIELDS = {
  /** Expected arrival rate, queries/s. The simulator scales all rates together to find the sustainable load. */
  rate: Type.Number({ exclusiveMinimum: 0 }),
  /** Latency objective per query (arrival to completion), ms. */
  sloMs: Type.Number({ exclusiveMinimum: 0 }),
  /** Batch-size mix: batch size → weight (normalised; need not sum to 1). */
  batches: Type.Record(Type.String({ pattern: '^[1-9][0-9]*$' }), Type.Number({ minimum: 0 }), {
    additionalProperties: false,
    minProperties: 1,
    description: 'keys are batch sizes 1, 2, 3, …; values their weights',
  }),
  /** A latency-table file for this model (relative to the scenario file); default: from `latency`. */
  latencyTable: Type.Optional(Type.String({ minLength: 1 })),
}

/**
 * A batch mix's sizes with a positive weight, ascending, with their weights; or what is wrong with it. Every key is
 * checked, a weight of 0 too: a misspelt batch size is an error, not a batch left out. One rule for the scenario and
 * the serve config's paris-elsa models.
 */
export function batchMixEntries(
  batches: Record<string, number>,
): { entries: (readonly [number, number])[] } | { problem: string } {
  const all = Object.entries(batches).map(([k, w]) => [Number(k), w] as const)
  if (all.some(([b]) => !Number.isInteger(b) || b < 1 || b > 1024))
    return { problem: 'keys must be batch sizes 1..1024' }
  const entries = all.filter(([, w]) => w > 0).sort((a, b) => a[0] - b[0])
  return entries.length > 0 ? { entries } : { problem: 'no batch size has a positive weight' }
}

export const ScenarioModel = Type.Object(
  { model: ModelName, ...MODEL_LOAD_FIELDS },
  { additionalProperties: false },
)
export type ScenarioModel = Type.Static<typeof ScenarioModel>

export const LatencySource = Type.Union([
  Type.Object(
    {
      source: Type.Literal('synthetic'),
      seed: Type.Optional(Type.Integer({ minimum: 0 })),
      noise: Type.Optional(Type.Number({ minimum: 0, maximum: 0.5 })),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      source: Type.Literal('dir'),
      /** Directory of latency-table files named <model>.<dtype>.latency.json (relative to the scenario file). */
      dir: Type.String({ minLength: 1 }),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      source: Type.Literal('profiles'),
      /**
       * Directory of eclip profiles named <model>.b<batch>.<dtype>.json (relative to the scenario file): each model's
       * table has one row per profiled batch (latencyTableFromProfiles); other batches are interpolated.
       */
      dir: Type.String({ minLength: 1 }),
    },
    { additionalProperties: false },
  ),
])
export type LatencySource = Type.Static<typeof LatencySource>

/** The layout of every GPU of the server (all alike): a gpu file (relative path) or the gpu object inline. */
export const GpuLayoutRef = Type.Union([Type.String({ minLength: 1 }), Gpu])

export const Scenario = Type.Object(
  {
    format: Type.Literal('eclip.paris-scenario/1'),
    name: Type.String({ minLength: 1 }),
    description: Type.Optional(Type.String()),
    gpu: GpuLayoutRef,
    dtype: Type.Optional(Dtype),
    latency: Type.Optional(LatencySource),
    models: Type.Array(ScenarioModel, { minItems: 1 }),
  },
  { additionalProperties: false },
)
export type Scenario = Type.Static<typeof Scenario>

/**
 * A scenario's rules the schema cannot say, one implementation for `eclip validate paris-scenario` and `eclip paris`
 * (src/paris/scenario.ts resolves only scenarios that pass them): each model once, each batch mix with keys 1..1024
 * and a positive weight (batchMixEntries), an inline GPU's slices adding up.
 */
export function scenarioConsistencyErrors(s: Scenario): string[] {
  const errors = typeof s.gpu === 'string' ? [] : gpuConsistencyErrors(s.gpu).map((e) => `/gpu${e}`)
  const seen = new Set<string>()
  s.models.forEach((m, i) => {
    if (seen.has(m.model)) errors.push(`/models/${i}: model ${m.model} listed twice`)
    seen.add(m.model)
    const mix = batchMixEntries(m.batches)
    if ('problem' in mix) errors.push(`/models/${i}/batches: ${mix.problem}`)
  })
  return errors
}
