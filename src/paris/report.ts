// Writes a PARIS+ELSA comparison: results.json (everything, format eclip.paris-results/1), results.md (tables),
// SVG plots rendered with vega-lite (and PNG copies through resvg when asked). Every artefact says in its title or
// header whether the queries were simulated or ran on a GPU and, when they are, that the latency tables are
// synthetic.
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { TopLevelSpec } from 'vega-lite'
import { latencyTableFileName } from '../formats/index.ts'
import { svgToPng } from '../report/plots.ts'
import { above, verdict } from './bisect.ts'
import { type BracketReport, type Comparison, perGpu, SCHEMES, type SchemeResult } from './compare.ts'
import type { LoadedScenario } from './scenario.ts'

export interface ReportMeta {
  scenarioFile: string
  date: string
  command: string
  /** Where the queries ran: the simulator (default) or a GPU (src/paris/gpu.ts). */
  backend?: 'sim' | 'gpu'
  /** With the GPU backend: the device(s), versions, and what the graph captures cost. */
  gpu?: {
    name: string
    /** GPUs of the largest server measured (GPUs 0..count-1 of one host, one backend process); default 1. */
    count?: number
    /** Their names, GPU 0 first. */
    names?: string[]
    versions: Record<string, string>
    captures: number
    captureS: number
    runs: number
    notes: string[]
  }
}

/** The measured GPUs in words: "NVIDIA H200", "2× NVIDIA H200", or the names when they differ. */
export function measuredOn(gpu: ReportMeta['gpu']): string {
  if (!gpu) return 'a GPU'
  const n = gpu.count ?? 1
  if (n <= 1) return gpu.name
  const names = [...new Set(gpu.names?.length ? gpu.names : [gpu.name])]
  return names.length === 1 ? `${n}× ${names[0]}` : (gpu.names ?? names).join(' + ')
}

/** Goes into every title: simulated or measured, and on what kind of latency tables. */
export function provenanceLabel(sc: LoadedScenario, meta?: Pick<ReportMeta, 'backend' | 'gpu'>): string {
  if (meta?.backend === 'gpu')
    return `MEASURED on ${measuredOn(meta.gpu)} (open-loop replay on green-context partitions)`
  const synthetic = sc.models.filter((m) => m.table.measured.method === 'synthetic').length
  if (synthetic === sc.models.length) return 'SIMULATED on SYNTHETIC latency tables'
  const gpus = [...new Set(sc.models.map((m) => m.table.gpu.name))].join(', ')
  if (synthetic === 0) return `SIMULATED queueing on MEASURED latency tables (${gpus})`
  return `SIMULATED on mixed synthetic and measured latency tables (${gpus})`
}

export function resultsJson(sc: LoadedScenario, cmp: Comparison, meta: ReportMeta) {
  const gpu = meta.backend === 'gpu'
  return {
    format: 'eclip.paris-results/1',
    label: provenanceLabel(sc, meta),
    backend: meta.backend ?? 'sim',
    scenario: {
      name: sc.name,
      file: meta.scenarioFile,
      gpu: { name: sc.gpu.name, smCount: sc.gpu.smCount, slices: sc.gpu.slices.map((s) => s.sms) },
      models: sc.models.map((m) => ({
        model: m.model,
        rate: m.rate,
        sloMs: m.sloUs / 1000,
        batches: Object.fromEntries(m.batches.map((b, i) => [b, m.probs[i]])),
        latencyTable: { method: m.table.measured.method, notes: m.table.measured.notes ?? null },
      })),
    },
    measured: {
      date: meta.date,
      method: gpu
        ? 'measured: each run a trace replayed open-loop in real time on green-context partitions of the ' +
          "server's GPUs (one backend process; one dispatcher over the partitions of every GPU), every query one " +
          'CUDA graph replay on the partition the dispatcher chose (gpu/eclip_gpu/paris.py); latency = completion ' +
          '(host clock, after event synchronize) - trace arrival; NVML energy, summed over the GPUs of the server, ' +
          'from the first measured release to the last completion'
        : 'simulated',
      tool: gpu
        ? 'eclip paris --backend gpu (src/paris/gpu.ts, gpu/eclip_gpu/paris.py)'
        : 'eclip paris (src/paris)',
      command: meta.command,
      ...(meta.gpu
        ? {
            ...meta.gpu.versions,
            gpuCount: meta.gpu.count ?? 1,
            gpuNames: meta.gpu.names ?? [meta.gpu.name],
            graphCaptures: meta.gpu.captures,
            captureS: Math.round(meta.gpu.captureS * 10) / 10,
            runs: meta.gpu.runs,
            notes: meta.gpu.notes,
          }
        : {}),
    },
    options: cmp.options,
    schemes: SCHEMES.filter((s) => cmp.options.schemes.includes(s.name)),
    plans: cmp.plans.map((p) => ({
      gpus: p.gpus,
      plannedLoad: p.plannedLoad,
      partitions: p.partitions,
      sizes: p.sizes,
    })),
    classes: cmp.plans[0]?.classes ?? [],
    ...(cmp.kernelWise ? { kernelWise: kernelWiseJson(sc, cmp) } : {}),
    results: cmp.results,
    sweep: cmp.sweep,
  }
}

const f0 = (x: number) => x.toFixed(0)
/** The most frequent value (the uniform size, whatever the leftover partition is). */
const modeOf = (xs: number[]) => {
  const n = new Map<number, number>()
  for (const x of xs) n.set(x, (n.get(x) ?? 0) + 1)
  return [...n].sort((a, b) => b[1] - a[1] || b[0] - a[0])[0]?.[0] ?? '?'
}
const f1 = (x: number) => x.toFixed(1)
const pct = (x: number) => `${(x * 100).toFixed(1)}%`

export function resultsMarkdown(sc: LoadedScenario, cmp: Comparison, meta: ReportMeta): string {
  const gpus = cmp.options.gpus
  const schemes = cmp.options.schemes
  const cell = (s: string, g: number) => cmp.results.find((r) => r.scheme === s && r.gpus === g)
  const gpu = meta.backend === 'gpu'
  const rates = cmp.options.rates
  const bis = cmp.options.bisect
  const methods = [...new Set(sc.models.map((m) => m.table.measured.method.split(':')[0]))].join(', ')
  const runs = rates
    ? `${cmp.options.windowS} s of arrivals per run (10% warm-up) at fixed loads: ${rates
        .map((r) => `${r.gpus} GPU${r.gpus > 1 ? 's' : ''}: ${r.qps.map(f0).join(', ')} q/s`)
        .join('; ')} (a load is not tried once a lower one violated > 50%)`
    : cmp.options.windowed
      ? `${cmp.options.windowS} s of arrivals per run (10% warm-up)`
      : `${cmp.options.queries} queries per run (10% warm-up)`
  const lines: string[] = [
    `# PARIS + ELSA comparison: ${sc.name} — ${provenanceLabel(sc, meta)}`,
    '',
    `Generated by \`${meta.command}\` on ${meta.date}. Scenario: \`${meta.scenarioFile}\`; seed ${cmp.options.seed}; ` +
      `${runs}${gpu ? '' : `, service time = table latency × log-normal (σ ${cmp.options.noise})`}. GPU layout: ` +
      `${sc.gpu.smCount} SMs as ${sc.gpu.slices.filter((s) => !s.remainder).length}×${sc.gpu.sliceSize} + remainder ` +
      // a measured run names the device it ran on; the scenario's layout may have been written for another GPU of
      // the same shape (checkLayout refuses any other shape)
      (gpu && meta.gpu
        ? `(the scenario's, written for ${sc.gpu.name}; checked equal on ${measuredOn(meta.gpu)}).`
        : `(${sc.gpu.name}).`),
    '',
    ...(sc.description ? [`Scenario: ${sc.description}.`, ''] : []),
    gpu
      ? `**Measured on ${meta.gpu ? measuredOn(meta.gpu) : 'the GPU'}**: ` +
        ((meta.gpu?.count ?? 1) > 1
          ? 'a server of N GPUs is GPUs 0..N-1 of this host, driven by one backend process with one dispatcher over ' +
            'the partitions of all of them (its energy summed over its GPUs); '
          : '') +
        'every query ran as one CUDA graph on the green-context ' +
        'partition the dispatcher chose, released at its arrival time; latency is completion (host clock) − arrival. ' +
        `ELSA's and least-loaded's estimates come from the latency tables (${methods}). ` +
        `${meta.gpu?.captures ?? 0} graph captures in ${(meta.gpu?.captureS ?? 0).toFixed(0)} s over ` +
        `${meta.gpu?.runs ?? 0} runs. Utilisation: partition-busy time (launch to synchronize, host clock) × SMs.`
      : `**These are simulator numbers.** Latency tables: ${methods}; no GPU ran these queries.`,
    '',
    `## Sustained throughput (queries/s with ≤ ${cmp.options.target * 100}% SLO violations${
      rates
        ? ': the highest fixed load that met it'
        : bis
          ? `: the last load that passed, by bisection to ${pct(bis.resolution)}`
          : ''
    })`,
    '',
    `| scheme | ${gpus.map((g) => `${g} GPU${g > 1 ? 's' : ''}`).join(' | ')} |`,
    `|---|${gpus.map(() => '---:').join('|')}|`,
    ...schemes.map(
      (s) =>
        `| ${s} | ${gpus
          .map((g) => {
            const r = cell(s, g)
            if (!r) return ''
            return r.sustainedQps > 0 ? f0(r.sustainedQps) : `0 (≥${pct(r.floorViolationRate)} viol.)`
          })
          .join(' | ')} |`,
    ),
    '',
    rates
      ? '"0 (≥x% viol.)": even the lowest load tried violated more than the target.'
      : '"0 (≥x% viol.)": even the lowest load tried violated more than the target — some (model, batch) cannot ' +
        'meet its SLO on that layout at all.',
    '',
    // eclip bench's system metrics (src/measure/system.ts) need workers with solo rates; a query stream has none
    'STP, ANTT, worst worker and Jain over rate/solo (as `eclip bench` reports them): N/A here — PARIS + ELSA serve one ' +
      'open-loop stream of queries, not co-located workers with a solo rate each; the sustained load above is the ' +
      "system's throughput.",
    ...(schemes.includes('uniform/least-loaded')
      ? [
          '',
          'uniform/least-loaded is the best of the uniform sizes tried, chosen with hindsight per GPU count: ' +
            gpus
              .map((g) => `${g}: ${modeOf(cell('uniform/least-loaded', g)?.layout[0] ?? [])} SMs`)
              .join(', ') +
            ' (plus, per GPU, the leftover slices and the remainder as one more partition; with no slice left over, the remainder joins the last one).',
        ]
      : []),
    '',
    bis
      ? '## At the sustained load (the repeat with the median violation rate): p99 latency (ms) / SM utilisation'
      : '## At the sustained load: p99 latency (ms) / SM utilisation',
    '',
    `| scheme | ${gpus.map((g) => `${g}`).join(' | ')} |`,
    `|---|${gpus.map(() => '---:').join('|')}|`,
    ...schemes.map(
      (s) =>
        `| ${s} | ${gpus
          .map((g) => {
            const m = cell(s, g)?.sustained
            return m ? `${f1(m.p99Ms)} / ${pct(m.utilisation)}` : '–'
          })
          .join(' | ')} |`,
    ),
    '',
    ...(rates ? loadTable(cmp) : []),
    ...(bis ? [...bisectionMarkdown(cmp), ''] : []),
    '## PARIS partitions (SMs per partition, per GPU)',
    '',
    '| GPUs | planned load | PARIS (default parameters) | paris-tuned (chosen in the simulator) |',
    '|---:|---:|---|---|',
    ...cmp.plans.map((p) => {
      const rows = p.partitions.length ? perGpu(sc.gpu, p.gpus, p.partitions) : []
      const tuned = cell('paris-tuned/elsa', p.gpus)
      const show = (rs: number[][]) => rs.map((r) => `[${r.join(' ')}]`).join(' ')
      const t = tuned ? `${show(tuned.layout)} (${tuned.choice ?? '?'})` : '–'
      return `| ${p.gpus} | ${p.plannedLoad.toFixed(2)} | ${show(rows)} | ${t} |`
    }),
    '',
    '"planned load": slice demand at the scenario\'s rates over the slices of the server (PARIS scales the mix to fill it).',
    '',
    '## Query classes: knee and SLO floor (PARIS steps 2–3)',
    '',
    '| model | batch | share | knee SMs | SLO-floor SMs | chosen SMs | latency there (ms) |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...(cmp.plans[0]?.classes ?? []).map((c) => {
      const m = sc.models.find((x) => x.model === c.model)
      const share = m ? c.rate / m.rate : 0
      return `| ${c.model} | ${c.batch} | ${pct(share)} | ${c.kneeSms} | ${c.sloSms ?? '–'} | ${c.sms} | ${(
        c.latencyUs / 1000
      ).toFixed(2)} |`
    }),
    '',
    ...kernelWiseMarkdown(sc, cmp),
    ...SCHEMES.filter((s) => s.placeholder && schemes.includes(s.name)).map(
      (s) => `Note — ${s.name}: ${s.placeholder}.`,
    ),
    '',
  ]
  return lines.join('\n')
}

/** What the eclip-kw schemes ran on, for results.json: the co-located table and how it was made. */
function kernelWiseJson(sc: LoadedScenario, cmp: Comparison) {
  const kw = cmp.kernelWise
  if (!kw) return undefined
  return {
    method: KW_METHOD,
    profiles: kw.profiles,
    combinations: kw.combinations,
    windowS: kw.windowS,
    warmupS: kw.warmupS,
    seed: kw.seed,
    notes: kw.notes,
    /** The server's plans: one GPU's pool, and per (model, batch) its groups' partitions (ids of that pool). */
    pool: kw.server.pool.map((p) => ({ id: p.id, sms: p.sms, slices: p.slices })),
    models: sc.models.map((m, i) => ({
      model: m.model,
      busySms: kw.sms[i],
      batches: m.batches.map((b, j) => ({
        batch: b,
        colocatedUs: Math.round((kw.latencyUs[i]?.[j] ?? 0) * 10) / 10,
        soloUs: Math.round((kw.soloUs[i]?.[j] ?? 0) * 10) / 10,
        groups: (kw.server.workers[i]?.[j]?.groups ?? []).map((g) => [g.first, g.last, g.partition]),
      })),
    })),
  }
}

const KW_METHOD =
  "eclip kernel-wise: per GPU one worker per model; the server's plans are one `eclip` plan per batch size (the mix " +
  'of every model with that batch, all at it; src/plan, from per-kernel profiles) over the union of their pools, a ' +
  "graph per (model, batch) following its batch's plan. In the simulator a query's service time is its (model, " +
  "batch)'s mean request latency in closed-loop runs of the kernel-level simulator (src/execute/sim) of those plans " +
  "over every batch combination (weighted by the other models' batch mix) × the log-normal noise: contention fixed at " +
  'that closed-loop level (every neighbour always busy), pessimistic at low load. On a GPU (--backend gpu) every query ' +
  "replays its (model, batch)'s kernel-wise graph on the pool's green contexts; the table below is then only the " +
  "dispatcher's estimate"

function kernelWiseMarkdown(sc: LoadedScenario, cmp: Comparison): string[] {
  const kw = cmp.kernelWise
  if (!kw) return []
  return [
    '## eclip-kw: co-located service times (kernel-level simulator, closed loop)',
    '',
    `${KW_METHOD}. Plans from \`${kw.profiles}\`; ${kw.combinations} batch combinations, each ${kw.windowS} s ` +
      `after ${kw.warmupS} s of warm-up (seed ${kw.seed}). "busy SMs": the SMs the worker keeps busy while serving ` +
      "(its share of the closed-loop runs' busy SMs); utilisation counts them. eclip-kw/fifo: one FIFO per model, " +
      "an idle worker of the model takes the oldest query; eclip-kw/elsa: ELSA over the model's workers at arrival. " +
      "A model's workers are alike on every GPU, so ELSA's smallest-partition preference ties and its choice is the " +
      'earliest estimated finish (what least-loaded would pick); with 1 GPU every model has one worker and both ' +
      'dispatchers are the same.',
    '',
    '| model | batch | co-located (ms) | solo whole GPU (ms) | ratio | busy SMs | plan: groups on SMs |',
    '|---|---:|---:|---:|---:|---:|---|',
    ...sc.models.flatMap((m, i) =>
      m.batches.map((b, j) => {
        const co = kw.latencyUs[i]?.[j] ?? 0
        const solo = kw.soloUs[i]?.[j] ?? 0
        const groups = kw.server.workers[i]?.[j]?.groups ?? []
        const sizes = [...new Set(groups.map((g) => kw.server.pool[g.partition]?.sms ?? 0))].sort(
          (x, y) => x - y,
        )
        return `| ${m.model} | ${b} | ${(co / 1000).toFixed(2)} | ${(solo / 1000).toFixed(2)} | ${(
          co / solo
        ).toFixed(
          2,
        )} | ${j === 0 ? (kw.sms[i] ?? 0).toFixed(1) : ''} | ${groups.length} on ${sizes.join('/')} |`
      }),
    ),
    '',
    ...kw.notes.map((n) => `Note — kernel-level simulator: ${n}.`),
    ...(kw.notes.length ? [''] : []),
  ]
}

/** With fixed loads: every run, as measured (or simulated) at each load. */
function loadTable(cmp: Comparison): string[] {
  const measured = cmp.sweep.some((p) => p.powerW !== undefined)
  const num = (x: number | null | undefined, f: (v: number) => string) =>
    x === null || x === undefined ? '–' : f(x)
  return [
    '## Every run (the fixed loads)',
    '',
    `| GPUs | scheme | offered q/s | violations | p50 ms | p99 ms | utilisation${
      measured ? ' | power W | queries/J | dropped' : ''
    } |`,
    `|---:|---|---:|---:|---:|---:|---:|${measured ? '---:|---:|---:|' : ''}`,
    ...cmp.sweep.map(
      (p) =>
        `| ${p.gpus} | ${p.scheme} | ${f0(p.offeredQps)} | ${pct(p.violationRate)} | ${num(p.p50Ms, f1)} | ${f1(
          p.p99Ms,
        )} | ${pct(p.utilisation)}${
          measured ? ` | ${num(p.powerW, f0)} | ${num(p.queriesPerJ, f1)} | ${p.dropped ?? 0}` : ''
        } |`,
    ),
    '',
    ...(measured
      ? [
          '"dropped": measured queries that had waited 20× their SLO when their partition reached them, dropped ' +
            'unexecuted (counted as violations; their latency is a lower bound).',
          '',
        ]
      : []),
  ]
}

const pct2 = (x: number) => `${(x * 100).toFixed(2)}%`
const q0 = (x: number | null) => (x === null ? '–' : x.toFixed(0))

/** "[759, 797)", or the open ends of a search that found no pass or no fail. */
function bracketCell(r: BracketReport): string {
  if (r.outcome === 'fails-at-lowest') return `fails at the lowest load tried (${q0(r.firstFailQps)})`
  if (r.outcome === 'passes-at-highest') return `passes at the highest load tried (${q0(r.lastPassQps)})`
  return `[${q0(r.lastPassQps)}, ${q0(r.firstFailQps)})`
}

/** A ratio as a signed percentage: "+4.1%". */
const signed = (x: number) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)}%`

/**
 * One scheme against another by their brackets, in words (bisect.ts's verdict): beats or loses beyond the
 * resolution, or ties, with the margin the brackets allow.
 */
export function verdictLine(
  aName: string,
  a: SchemeResult,
  bName: string,
  b: SchemeResult,
  resolution: number,
): string {
  const sa = a.search
  const sb = b.search
  if (!sa || !sb) return `${aName} vs ${bName}: no bisection`
  const at = `(${bracketCell(sa)} vs ${bracketCell(sb)} q/s)`
  // the margin between the sustained loads that the brackets allow: [lo, hi)
  const margin = (x: BracketReport, y: BracketReport) => {
    const lo = y.firstFailQps !== null ? signed(x.lastPassQps / y.firstFailQps - 1) : 'less'
    const hi =
      x.firstFailQps !== null && y.lastPassQps > 0 ? signed(x.firstFailQps / y.lastPassQps - 1) : 'more'
    return `${signed(x.lastPassQps / y.lastPassQps - 1)} (the brackets allow ${lo} to ${hi})`
  }
  const never = (x: BracketReport) => x.lastPassQps === 0
  const v = verdict(sa, sb, resolution)
  if (v === 'beats')
    return never(sb)
      ? `${aName} **beats** ${bName} ${at}: ${bName} passed at no load tried`
      : `${aName} **beats** ${bName} ${at}: it passed at ${q0(sa.lastPassQps)} q/s, where ${bName} had already ` +
          `failed at ${q0(sb.firstFailQps)}; sustained load ${margin(sa, sb)}`
  if (v === 'loses')
    return never(sa)
      ? `${aName} **loses** to ${bName} ${at}: ${aName} passed at no load tried`
      : `${aName} **loses** to ${bName} ${at}: ${bName} passed at ${q0(sb.lastPassQps)} q/s, where ${aName} had ` +
          `already failed at ${q0(sa.firstFailQps)}; sustained load ${margin(sa, sb)}`
  if (never(sa) && never(sb)) return `${aName} **ties** ${bName}: neither passed at any load tried ${at}`
  const diff = `sustained load ${signed(sa.lastPassQps / sb.lastPassQps - 1)}`
  if (above(sa, sb))
    return (
      `${aName} **ties** ${bName} ${at} at this resolution: it passed at ${q0(sa.lastPassQps)} q/s, where ` +
      `${bName} had already failed at ${q0(sb.firstFailQps)}, but by less than the resolution (${diff})`
    )
  if (above(sb, sa))
    return (
      `${aName} **ties** ${bName} ${at} at this resolution: ${bName} passed at ${q0(sb.lastPassQps)} q/s, where ` +
      `${aName} had already failed at ${q0(sa.firstFailQps)}, but by less than the resolution (${diff})`
    )
  return `${aName} **ties** ${bName} ${at}: the brackets overlap (${diff})`
}

/**
 * With bisection: per GPU count and scheme the sustained load, its bracket, the spread over the repeats at both ends
 * and the probes it took; then whether PARIS + ELSA (and paris-tuned, when run) beats the best uniform layout and
 * each uniform size. results.md carries it, and `eclip paris --bisect` prints it.
 */
export function bisectionMarkdown(cmp: Comparison): string[] {
  const bis = cmp.options.bisect
  if (!bis) return []
  const target = cmp.options.target
  const rule =
    bis.repeats === 1
      ? 'its run violates'
      : bis.pass === 'all'
        ? `all ${bis.repeats} repeats violate`
        : `the median of ${bis.repeats} repeats violates`
  const sp = (x: { median: number; min: number; max: number } | undefined, f: (v: number) => string) =>
    x ? (bis.repeats > 1 ? `${f(x.median)} [${f(x.min)}–${f(x.max)}]` : f(x.median)) : '–'
  const lines = [
    `## Sustained load by bisection (to ${pct(bis.resolution)}, ${bis.repeats} repeat${bis.repeats > 1 ? 's' : ''} per load)`,
    '',
    `A load passes when ${rule} at most ${pct(target)} ` +
      'of its SLOs. The search doubles or halves from its start to a load that passes and one that fails, then ' +
      `bisects (geometric mean) until first fail ≤ last pass × ${(1 + bis.resolution).toFixed(3)}: the crossing lies ` +
      'in [last pass, first fail). Loads are the nominal offered rate (the Poisson rate of the traces); each repeat ' +
      'is a trace of its own (the same ones for every scheme at the same load). Spread: median [min–max] over the ' +
      'repeats.',
    '',
    '| GPUs | scheme | sustained q/s | crossing in, q/s | violations at last pass | p99 ms at last pass | violations at first fail | probes |',
    '|---:|---|---:|---|---:|---:|---:|---:|',
  ]
  for (const r of cmp.results) {
    const s = r.search
    if (!s) continue
    lines.push(
      `| ${r.gpus} | ${r.scheme}${r.choice && s.candidates ? ` (${r.choice})` : ''} | ${q0(s.lastPassQps)} | ` +
        `${bracketCell(s)} | ${sp(s.atLastPass?.violationRate, pct2)} | ${sp(s.atLastPass?.p99Ms, f1)} | ` +
        `${sp(s.atFirstFail?.violationRate, pct2)} | ${s.probes.length} |`,
    )
  }
  lines.push('')
  for (const r of cmp.results) {
    const c = r.search?.candidates
    if (!c) continue
    lines.push(
      `${r.scheme} at ${r.gpus} GPU${r.gpus > 1 ? 's' : ''}, every layout tried (the best chosen with hindsight, ` +
        `on the probes that score it): ${c.map((x) => `${x.choice}: ${bracketCell(x)}`).join('; ')}.`,
      '',
    )
  }
  const cell = (s: string, g: number) => cmp.results.find((r) => r.scheme === s && r.gpus === g)
  const verdicts: string[] = []
  for (const g of cmp.options.gpus) {
    const uni = cell('uniform/least-loaded', g)
    if (!uni?.search) continue
    const gl = `${g} GPU${g > 1 ? 's' : ''}`
    for (const [name, label] of [
      ['paris/elsa', 'PARIS + ELSA'],
      ['paris-tuned/elsa', 'PARIS-tuned + ELSA'],
    ] as const) {
      const a = cell(name, g)
      if (!a?.search) continue
      const best = `the best uniform layout (${uni.choice ?? '?'})`
      verdicts.push(`- ${gl}: ${verdictLine(label, a, best, uni, bis.resolution)}.`)
      for (const c of uni.search.candidates ?? []) {
        const { lastPassQps, firstFailQps, outcome } = c
        const one: SchemeResult = { ...uni, search: { ...uni.search, lastPassQps, firstFailQps, outcome } }
        verdicts.push(`  - ${verdictLine(label, a, c.choice, one, bis.resolution)}.`)
      }
    }
  }
  if (verdicts.length)
    lines.push(
      `### Does PARIS + ELSA beat the uniform layouts? (beyond the ${pct(bis.resolution)} resolution)`,
      '',
      ...verdicts,
      '',
    )
  return lines
}

async function svgOf(spec: TopLevelSpec): Promise<string> {
  // loaded on first use, not at the CLI's start-up (vega is most of the bundle)
  const [vega, { compile }] = await Promise.all([import('vega'), import('vega-lite')])
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' })
  return view.toSVG()
}

const schemeColor = (schemes: string[]) => ({
  field: 'scheme',
  type: 'nominal' as const,
  scale: { domain: schemes },
  legend: { orient: 'bottom' as const, columns: 3, labelLimit: 220 },
})

export async function plots(
  sc: LoadedScenario,
  cmp: Comparison,
  meta?: Pick<ReportMeta, 'backend' | 'gpu'>,
): Promise<Record<string, string>> {
  const label = provenanceLabel(sc, meta)
  const schemes = cmp.options.schemes
  const out: Record<string, string> = {}
  out['throughput-vs-gpus.svg'] = await svgOf({
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: {
      text: `Sustained throughput (≤${cmp.options.target * 100}% SLO violations)`,
      subtitle: `${sc.name} — ${label}`,
    },
    width: 460,
    height: 300,
    data: { values: cmp.results.map((r) => ({ scheme: r.scheme, gpus: r.gpus, qps: r.sustainedQps })) },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'gpus', type: 'quantitative', title: 'GPUs', axis: { tickMinStep: 1 } },
      y: { field: 'qps', type: 'quantitative', title: 'queries/s' },
      color: schemeColor(schemes),
    },
  })
  const shown = [...new Set([cmp.options.gpus[0], 4, cmp.options.gpus[cmp.options.gpus.length - 1]])].filter(
    (g): g is number => g !== undefined && cmp.options.gpus.includes(g),
  )
  for (const g of shown) {
    const values = cmp.sweep.filter((p) => p.gpus === g)
    out[`violations-vs-load-${g}gpu.svg`] = await svgOf({
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      title: {
        text: `SLO violation rate vs offered load, ${g} GPU${g > 1 ? 's' : ''}`,
        subtitle: `${sc.name} — ${label}`,
      },
      width: 460,
      height: 300,
      data: { values: values.map((p) => ({ ...p, violationRate: Math.max(p.violationRate, 1e-4) })) },
      layer: [
        {
          mark: { type: 'line', point: true },
          encoding: {
            x: { field: 'offeredQps', type: 'quantitative', title: 'offered load (queries/s)' },
            y: {
              field: 'violationRate',
              type: 'quantitative',
              title: 'SLO violation rate (floored at 0.01%)',
              scale: { type: 'log', domain: [1e-4, 1] },
              axis: { format: '.2%' },
            },
            color: schemeColor(schemes),
          },
        },
        { mark: { type: 'rule', strokeDash: [4, 4] }, encoding: { y: { datum: cmp.options.target } } },
      ],
    })
    out[`p99-vs-load-${g}gpu.svg`] = await svgOf({
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      title: {
        text: `p99 latency vs offered load, ${g} GPU${g > 1 ? 's' : ''}`,
        subtitle: `${sc.name} — ${label}`,
      },
      width: 460,
      height: 300,
      data: { values },
      mark: { type: 'line', point: true },
      encoding: {
        x: { field: 'offeredQps', type: 'quantitative', title: 'offered load (queries/s)' },
        y: {
          field: 'p99Ms',
          type: 'quantitative',
          title: 'p99 latency (ms, all models)',
          scale: { type: 'log' },
        },
        color: schemeColor(schemes),
      },
    })
  }
  return out
}

/** Writes everything under `dir`; returns the files written. */
export async function writeReport(
  dir: string,
  sc: LoadedScenario,
  cmp: Comparison,
  meta: ReportMeta,
  opts: { png?: boolean } = {},
): Promise<string[]> {
  mkdirSync(join(dir, 'latency'), { recursive: true })
  const files: string[] = []
  const put = (name: string, data: string | Uint8Array) => {
    const f = join(dir, name)
    writeFileSync(f, data)
    files.push(f)
  }
  put('results.json', `${JSON.stringify(resultsJson(sc, cmp, meta), null, 1)}\n`)
  put('results.md', resultsMarkdown(sc, cmp, meta))
  for (const m of sc.models)
    put(
      join('latency', latencyTableFileName(m.model, m.table.dtype)),
      `${JSON.stringify(m.table, null, 1)}\n`,
    )
  const svgs = await plots(sc, cmp, meta)
  for (const [name, svg] of Object.entries(svgs)) {
    put(name, svg)
    if (opts.png) {
      put(name.replace(/\.svg$/, '.png'), await svgToPng(svg))
    }
  }
  return files
}
