// Results: what one `eclip bench` writes, from either backend (the simulator or the GPU). One file holds many runs; a
// run is one (mix, policy, mode, backend, batch) measured as docs/design.md §6 says: closed (or open) loop, warm-up,
// a steady window, per-worker latency and throughput, energy over the window. Runs of the same experiment on the two
// backends share a `key` (everything but the backend), so a simulated and a measured run can be shown side by side.
// Raw per-request records are not in this file but in the request log it names (CSV: run, worker, request, arrival,
// start, end in µs from the start of the run).
import Type from 'typebox'
import { Arrival, Priority } from './arrival.ts'
import { CommandProvenance, Dtype, GpuRef, Provenance } from './common.ts'
import { Policy, Tuning } from './plan.ts'

/** stream: each group its own launch + an event wait per switch (ECLIP-faithful); graph: one graph per request. */
export const Mode = Type.Union([Type.Literal('stream'), Type.Literal('graph'), Type.Null()])
export type Mode = Type.Static<typeof Mode>

export const BackendName = Type.Enum(['sim', 'gpu'])
export type BackendName = Type.Static<typeof BackendName>

export const Loop = Type.Union([
  Type.Object({ kind: Type.Literal('closed') }, { additionalProperties: false }),
  Type.Object(
    {
      kind: Type.Literal('open'),
      /** Poisson arrival rate per worker, requests/s. */
      ratePerWorker: Type.Number({ exclusiveMinimum: 0 }),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      kind: Type.Literal('arrivals'),
      /** Each worker's source (plan order) as its mix or workload file gave it (src/formats/arrival.ts). */
      sources: Type.Array(Arrival, { minItems: 1 }),
    },
    { additionalProperties: false },
  ),
])
export type Loop = Type.Static<typeof Loop>

const Num = Type.Number()
const NullableNum = Type.Union([Type.Number(), Type.Null()])

export const Latency = Type.Object(
  { p50: Num, p95: Num, p99: Num, mean: Num, min: Num, max: Num },
  { additionalProperties: false, description: 'µs, over the requests that completed inside the window' },
)
export type Latency = Type.Static<typeof Latency>

export const WorkerResult = Type.Object(
  {
    name: Type.String({ minLength: 1 }),
    model: Type.String({ minLength: 1 }),
    batch: Type.Integer({ minimum: 1 }),
    dtype: Dtype,
    /** Requests that completed inside the steady window. */
    requests: Type.Integer({ minimum: 0 }),
    throughputRps: Num,
    /** null when no request completed inside the window (e.g. kw-ioctl with many switches in a short window). */
    latencyUs: Type.Union([Latency, Type.Null()]),
    /** throughput / the same worker's throughput under baseline in the same mix, batch and backend; null if none. */
    normVsBaseline: NullableNum,
    /** p95 / the same worker's p95 under baseline; null if none. */
    p95VsBaseline: NullableNum,
    /** throughput / the worker's solo rate (alone on the whole GPU, same backend); null if not measured. */
    normVsSolo: NullableNum,
    soloRps: NullableNum,
    /** Partition switches per request, from the plan (stream mode pays each, graph mode none). */
    switchesPerRequest: Type.Integer({ minimum: 0 }),
    kernelsPerRequest: Type.Integer({ minimum: 0 }),
    /** Mean host CPU time to enqueue one request (requests completed in the window), µs; GPU runs only. */
    hostCpuUsPerRequest: Type.Optional(Type.Number({ minimum: 0 })),
    /** The profile's request latency on the whole GPU, µs: the solo reference where no solo run was made. */
    fullGpuUs: Type.Optional(Type.Number({ minimum: 0 })),
    /** SM·µs of one request with every kernel at its right-size (the plan's tolerance): the STP bound's A_w. */
    packedAreaSmUs: Type.Optional(Type.Number({ minimum: 0 })),
    /** The worker's priority and SLO, where its mix gave them (src/formats/arrival.ts). */
    priority: Type.Optional(Priority),
    sloMs: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
    /** Share of its requests in the window whose latency was within its SLO; null with no request. */
    withinSlo: Type.Optional(NullableNum),
  },
  { additionalProperties: false },
)
export type WorkerResult = Type.Static<typeof WorkerResult>

/**
 * Multiprogram metrics of a mix run (Eyerman & Eeckhout, IEEE Micro 2008; src/measure/system.ts): STP, ANTT, total
 * requests/s, the worst worker vs baseline, Jain's index over rate/solo, the per-worker mean beside them, the STP
 * bound.
 */
export const SystemMetrics = Type.Object(
  {
    /** Where the solo rates came from: 'solo runs', 'profiles' (whole-GPU request latency) or both. */
    soloFrom: Type.String(),
    /** Σ_w rate_w / solo_w (weighted speedup). */
    stp: Num,
    /** stp / the same mix's baseline stp (same solo rates). */
    stpVsBaseline: NullableNum,
    /** Mean over workers of mean latency / solo latency (lower is better). */
    antt: NullableNum,
    anttVsBaseline: NullableNum,
    /** Σ_w req/s (a sum over different models: dominated by the smallest). */
    totalRps: Num,
    totalRpsVsBaseline: NullableNum,
    /** The worker with the lowest rate / its baseline rate, and that ratio. */
    worstWorker: Type.Union([Type.String(), Type.Null()]),
    worstVsBaseline: NullableNum,
    /** Jain's index over rate / solo (1 = every worker the same share of its solo rate). */
    jain: NullableNum,
    /** Mean over workers of rate / baseline rate: beside the others, never alone. */
    meanVsBaseline: NullableNum,
    /** Upper bound on stp from the profiles (right-sized SM-time within the SMs, no worker above solo). */
    stpBound: NullableNum,
    /** stp / stpBound; above 1 the run beat the bound (it ignores intra-graph overlap and memory contention). */
    stpVsBound: NullableNum,
    /**
     * The same bound with every worker kept at ≥ the planner's default floor (0.9) of its rate under the mix's baseline
     * run: the yardstick for floored plans; null without a baseline run, or where the floors alone exceed the SMs.
     * Absent in results recorded before it.
     */
    stpBoundFloored: Type.Optional(NullableNum),
    stpVsBoundFloored: Type.Optional(NullableNum),
  },
  { additionalProperties: false },
)
export type SystemMetrics = Type.Static<typeof SystemMetrics>

/**
 * Real-time workers beside best-effort ones, as DISB (the benchmark published with REEF, OSDI 2022) reports them: the
 * real-time requests' latency (mean and p99, all real-time workers' requests together, arrival to completion), its
 * increase over the same real-time workers alone (the run of the mix without its best-effort workers: same
 * arrivals, whole GPU), and the overall throughput, real-time and best-effort requests together.
 */
export const RealtimeMetrics = Type.Object(
  {
    /** Real-time requests completed in the window. */
    requests: Type.Integer({ minimum: 0 }),
    /** DISB's "RT latency": their mean latency, µs; null with no request. */
    meanUs: NullableNum,
    p99Us: NullableNum,
    /** Share of them within their worker's SLO. */
    withinSlo: NullableNum,
    /** The same workers alone (null where that run was not made). */
    aloneMeanUs: NullableNum,
    aloneP99Us: NullableNum,
    /** DISB's "RT latency increase": meanUs − aloneMeanUs, µs, and as a share of aloneMeanUs. */
    increaseUs: NullableNum,
    increasePct: NullableNum,
    /** DISB's "overall throughput": requests/s completed in the window, every worker. */
    overallRps: Num,
    /** overallRps / the same mix's under baseline. */
    overallVsBaseline: NullableNum,
  },
  { additionalProperties: false },
)
export type RealtimeMetrics = Type.Static<typeof RealtimeMetrics>

/**
 * A run that followed a plan table (eclip-live, issue #19): how the set of active workers changed, and per set the
 * time spent in it and how fast each worker's requests ran under its plan against the same plan held — that set's
 * workers alone, each in a closed loop, its run beside this one (role 'set-alone').
 */
export const LiveSetMetrics = Type.Object(
  {
    /** The set's key (its workers' names, sorted, joined by '+'); '' while no worker is active. */
    key: Type.String(),
    /** Time in the window the active set was this set, s, and its share of the window. */
    timeS: Num,
    share: Num,
    /** The plan the set ran under when it has none of its own (a table that does not plan every subset). */
    ranUnder: Type.Optional(Type.String()),
    workers: Type.Array(
      Type.Object(
        {
          name: Type.String({ minLength: 1 }),
          /** Requests that completed in the window and ran under this set's plan. */
          requests: Type.Integer({ minimum: 0 }),
          /** Their mean time from start to end (no queueing), µs. */
          serviceUs: NullableNum,
          /** The same worker's mean request time under the same plan, held (the set-alone run); null without one. */
          heldServiceUs: NullableNum,
          /** heldServiceUs / serviceUs: ≥ 1 when its requests ran at least as fast as when the set was held. */
          speedVsHeld: NullableNum,
          /** The 99th percentile of those request times, µs, and the held run's (the worker's latency p99 there). */
          p99ServiceUs: Type.Optional(NullableNum),
          heldP99Us: Type.Optional(NullableNum),
          /** p99ServiceUs / heldP99Us: ≤ 1.1 when switching moved its p99 by at most 10% against the set held. */
          p99VsHeld: Type.Optional(NullableNum),
          /**
           * The same p99 with each request counted in the set active when it completed (whatever plan it started
           * under: a request a switch overtook counts in the new set), its requests, and it ÷ heldP99Us: the issue's
           * "against a run held in the new set". The fields above count requests in the set they started in.
           */
          endedRequests: Type.Optional(Type.Integer({ minimum: 0 })),
          p99EndedUs: Type.Optional(NullableNum),
          p99EndedVsHeld: Type.Optional(NullableNum),
          /**
           * Where baseline ran the same traffic in the same bench (its run's activeSets): the same worker's requests
           * and mean request time under baseline while exactly this set was active, and baselineServiceUs /
           * serviceUs (≥ 1 when its requests ran at least as fast as baseline's in the same set). Absent without
           * such a baseline run; null where either side had no request in the set.
           */
          baselineRequests: Type.Optional(Type.Integer({ minimum: 0 })),
          baselineServiceUs: Type.Optional(NullableNum),
          speedVsBaseline: Type.Optional(NullableNum),
        },
        { additionalProperties: false },
      ),
    ),
    /** The lowest speedVsHeld of the set's workers with requests; null if none. */
    speedVsHeld: NullableNum,
    /** The lowest speedVsBaseline of the set's workers (absent without baseline's activeSets; null if none). */
    speedVsBaseline: Type.Optional(NullableNum),
  },
  { additionalProperties: false },
)
export type LiveSetMetrics = Type.Static<typeof LiveSetMetrics>

/**
 * A run that follows no table, of a mix an eclip-live run of the same bench follows a table for: the active sets of
 * its own traffic by eclip-live's rule (src/measure/active-set.ts, the same hold) — per set its time in the window and
 * each worker's requests that started while it was the active set. eclip-live's sets are held against them
 * (LiveSetMetrics' speedVsBaseline): the set is a property of the traffic, which every policy gets the same.
 */
export const ActiveSetMetrics = Type.Object(
  {
    holdMs: Num,
    sets: Type.Array(
      Type.Object(
        {
          /** As LiveSetMetrics' key: the workers' names, sorted, joined by '+'; '' while none is active. */
          key: Type.String(),
          timeS: Num,
          share: Num,
          workers: Type.Array(
            Type.Object(
              {
                name: Type.String({ minLength: 1 }),
                /** Requests that started while this set was active and completed in the window. */
                requests: Type.Integer({ minimum: 0 }),
                /** Their mean time from start to end (no queueing), µs; null without one. */
                serviceUs: NullableNum,
              },
              { additionalProperties: false },
            ),
          ),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
)
export type ActiveSetMetrics = Type.Static<typeof ActiveSetMetrics>

export const LiveMetrics = Type.Object(
  {
    /** A worker stays active this long after its last request, ms. */
    holdMs: Num,
    /** The table followed: its plans, the partitions of their union, its policy. */
    tablePlans: Type.Integer({ minimum: 1 }),
    unionPartitions: Type.Integer({ minimum: 1 }),
    tablePolicy: Policy,
    /** Changes of the active set inside the window, and per second. */
    switches: Type.Integer({ minimum: 0 }),
    switchesPerS: Num,
    /** Requests in the window that ran under another plan than their worker's previous request. */
    planChanges: Type.Integer({ minimum: 0 }),
    sets: Type.Array(LiveSetMetrics),
  },
  { additionalProperties: false },
)
export type LiveMetrics = Type.Static<typeof LiveMetrics>

export const RunMetrics = Type.Object(
  {
    requests: Type.Integer({ minimum: 0 }),
    /** Energy over the steady window, J: NVML counter delta (gpu) or the power model (sim). */
    energyJ: Num,
    jPerRequest: NullableNum,
    requestsPerJ: NullableNum,
    meanPowerW: Num,
    /**
     * Each worker's requests/J (its requests over the run's joules) normalised to baseline, averaged (the paper's
     * energy efficiency; a mean of per-worker ratios: read it beside requestsPerJVsBaseline); null without a baseline
     * or either run's power.
     */
    energyEffVsBaseline: NullableNum,
    /** requestsPerJ ÷ baseline's: total requests ÷ energy, the system's; null without a baseline (absent before). */
    requestsPerJVsBaseline: Type.Optional(NullableNum),
    /** Mean over workers of normVsBaseline; null if no baseline. */
    throughputVsBaseline: NullableNum,
    /** Mean over workers of p95VsBaseline; null if no baseline. */
    p95VsBaseline: NullableNum,
    /** Jain's index over the workers' normVsSolo (1 = all equally served); null without solo rates. */
    jainFairness: NullableNum,
    /** Busy SM-time / (SMs × window); null where the backend cannot observe it. */
    meanSmUtilisation: NullableNum,
    /**
     * Ideal-packing bound (docs/design.md §6): rounds (one request per worker) per second with every kernel at its
     * right-size.
     */
    idealRoundsPerS: NullableNum,
    /** Rounds per second achieved: the throughput of the slowest worker (a round needs one request of each). */
    roundsPerS: NullableNum,
    /** roundsPerS / idealRoundsPerS: how much of the packing headroom the run realised. */
    vsIdeal: NullableNum,
    switchesPerRequest: Type.Integer({ minimum: 0 }),
    /** Mix runs: the system metrics (absent in files written before them; null without solo references). */
    system: Type.Optional(Type.Union([SystemMetrics, Type.Null()])),
    /** Runs of a mix with real-time workers: DISB's metrics (RealtimeMetrics). */
    realtime: Type.Optional(RealtimeMetrics),
    /** eclip-live runs: the active sets followed (LiveMetrics). */
    live: Type.Optional(LiveMetrics),
    /** Baseline's run of a mix an eclip-live run follows a table for: the active sets of its traffic. */
    activeSets: Type.Optional(ActiveSetMetrics),
  },
  { additionalProperties: false },
)
export type RunMetrics = Type.Static<typeof RunMetrics>

export const Run = Type.Object(
  {
    /** Unique in the file: `${key}|${backend}`. */
    id: Type.String({ minLength: 1 }),
    /**
     * Same for the sim and gpu runs of one experiment: `${mix}|${policy}|${mode ?? '-'}|b${batch}`, and `|after` for
     * a 'baseline-after' run.
     */
    key: Type.String({ minLength: 1 }),
    /**
     * 'mix': a co-location run; 'solo': one worker alone on the whole GPU, for normVsSolo; 'rt-alone': a mix's
     * real-time workers without its best-effort ones (baseline, same arrivals), for the real-time latency increase;
     * 'set-alone': one set of an eclip-live run's table held — its workers alone, closed loop, under its plan;
     * 'baseline-after': the mix's baseline run again, after its other policies (bench --bracket): the mix's ratios to
     * baseline are then taken against the mean of the two baseline runs, and the second against the first says how
     * far the machine drifted while the others ran.
     */
    role: Type.Enum(['mix', 'solo', 'rt-alone', 'set-alone', 'baseline-after']),
    mix: Type.String({ minLength: 1 }),
    policy: Policy,
    mode: Mode,
    backend: BackendName,
    /** Batch override of the run (bench --batch), null when each worker uses its mix's batch. */
    batch: Type.Union([Type.Integer({ minimum: 1 }), Type.Null()]),
    gpu: GpuRef,
    loop: Loop,
    warmupS: Type.Number({ minimum: 0 }),
    windowS: Type.Number({ exclusiveMinimum: 0 }),
    seed: Type.Integer(),
    workers: Type.Array(WorkerResult, { minItems: 1 }),
    metrics: RunMetrics,
    /** Where the inputs came from: 'measured' or 'synthetic' profiles, primitives and power model. */
    inputs: Type.Object(
      {
        profiles: Type.Enum(['measured', 'synthetic']),
        primitives: Type.Enum(['measured', 'defaults']),
        power: Type.Enum(['fitted', 'placeholder', 'nvml']),
      },
      { additionalProperties: false },
    ),
    /** Plan solver status for this run, as the optimizer reported it. */
    planSolver: Type.Optional(Type.String()),
    /**
     * The plan this run executed, relative to the results file (eclip bench writes them under plans/): re-simulating
     * the run (calibrate, the simulator checks) takes it as it ran, however the planner has changed since.
     */
    planFile: Type.Optional(Type.String({ minLength: 1 })),
    /**
     * The executed plan was tuned on a backend (eclip-fit, bench --tune): its tuning's cost and measured numbers, as
     * the plan records them (every run of the plan repeats them: both modes, the simulated twin).
     */
    tuning: Type.Optional(Tuning),
    /** Backend wall time for the run, s. */
    wallS: Type.Number({ minimum: 0 }),
    notes: Type.Array(Type.String()),
  },
  { additionalProperties: false },
)
export type Run = Type.Static<typeof Run>

export const Results = Type.Object(
  {
    format: Type.Literal('eclip.results/1'),
    runs: Type.Array(Run),
    /** The request log next to this file (relative path), one CSV row per request. */
    requestLog: Type.Union([Type.String(), Type.Null()]),
    /** Versions, host, GPU, date, seed; `method` says 'simulated' or 'measured'; warnings list synthetic inputs. */
    provenance: Type.Intersect([
      Provenance,
      CommandProvenance,
      Type.Object({
        /**
         * `eclip bench`: the options its runs depend on, as it resolved them — each a flag and its value (a default as
         * its value where a policy of the bench uses the option, a file as its absolute path and a digest, a list in
         * the order given), a flag with no default left out when not given — `mix NAME`, a digest of that mix's
         * definition, and what its runs used: `gpu`, `profiles dir` and `inputs digest` (of the GPU description, the
         * mixes' profiles, primitives, power model, contention constants). `eclip bench --resume` finishes the bench
         * only with the same, an option with a default that is not recorded read as that default. Absent in files
         * written before it, and in a file merged by `--from`.
         */
        options: Type.Optional(Type.Record(Type.String(), Type.String())),
      }),
    ]),
    /**
     * Present while the bench that writes this file is still running: it rewrites the file as its runs end, so a
     * bench stopped before its end (a signal, a crash, a time limit) leaves the runs it finished — `runs` of the `of`
     * its experiment holds, the simulated twins of a GPU bench not counted. The bench's last write drops it. A file
     * merged by `eclip bench --from` keeps it where an input had it: `runs` its own runs, `of` those plus the ones the
     * inputs' benches did not get to.
     */
    incomplete: Type.Optional(
      Type.Object(
        {
          runs: Type.Integer({ minimum: 0 }),
          of: Type.Integer({ minimum: 0 }),
          /**
           * The mixes all of whose runs had ended (the solo runs made with them among them): `eclip bench --resume`
           * keeps them and runs the others again whole. Absent in files written before it, and in a file merged by
           * `--from`.
           */
          mixes: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
)
export type Results = Type.Static<typeof Results>

/** What a reader of an incomplete results file (one its bench did not finish) should say about it; else undefined. */
export const incompleteNote = (r: Pick<Results, 'incomplete'>): string | undefined =>
  r.incomplete
    ? r.incomplete.runs < r.incomplete.of
      ? `INCOMPLETE: ${r.incomplete.runs} of ${r.incomplete.of} runs; the bench that wrote it stopped before its end`
      : `INCOMPLETE: every run ended, but the bench that wrote it stopped before its end (a GPU bench's simulated twins not written)`
    : undefined

/** Header of the request log (CSV). Times in µs from the start of the run (warm-up included). */
export const REQUEST_LOG_HEADER = 'run,worker,request,arrival_us,start_us,end_us'

export function runKey(mix: string, policy: Policy, mode: Mode, batch: number | null): string {
  return `${mix}|${policy}|${mode ?? '-'}|b${batch ?? 'mix'}`
}

export function resultsConsistencyErrors(r: Results): string[] {
  const errors: string[] = []
  const ids = new Set<string>()
  r.runs.forEach((run, i) => {
    if (ids.has(run.id)) errors.push(`/runs/${i}/id: duplicate run id ${run.id}`)
    ids.add(run.id)
    if (run.id !== `${run.key}|${run.backend}`)
      errors.push(`/runs/${i}/id: expected "${run.key}|${run.backend}"`)
  })
  return errors
}
