// A co-located run kernel by kernel, GPU against simulator: gpu/scripts/kernel-trace.py's trace (each arm's workers
// in the bench's closed loop, every kernel's mean duration and the idle time before it) beside the simulator's run
// of the same plans (the profile directory's calibration, or another sim-calibration.json), per worker: its req/s,
// its request split into kernel time and idle time, and per kernel class (matrix products and convolutions,
// elementwise and normalisation, layout transforms, pooling, the rest) how much longer its kernels ran than alone
// (GPU: the same worker traced alone on the whole GPU; simulator: its profile at the kernel's partition size).
// Where the two disagree says which term of the simulator (sharing SMs, the memory term, waiting for SMs) is off.
// Each worker's solo trace also says whether its request is a chain, as the simulator runs it: the streams its
// kernels ran on and their summed time ÷ the request's latency (above 1: branches of its graph ran side by side).
//   node --import tsx bench/kernel-trace.ts --profiles DIR [--calibration FILE] --plans DIR[,DIR...]
//     TRACE.json[.gz] ...

import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { gunzipSync } from 'node:zlib'
import { latencyScale, simulate } from '../src/execute/sim/index.ts'
import { simInputs } from '../src/execute/sim/inputs.ts'
import { type Plan, type Profile, readFile } from '../src/formats/index.ts'
import { profilesOfPlan } from '../src/profile/gemm-target.ts'
import { loadGpu, profilesIn } from '../src/profile/store.ts'

export interface TraceWorker {
  name: string
  requests: number
  latencyUs: number | null
  /** Per kernel: median and mean duration, median and mean idle time before it (µs). */
  durUs: number[]
  idleUs: number[]
  durMeanUs: number[]
  idleMeanUs: number[]
  /** One request as it ran: [start offset, duration, stream] per kernel. */
  raw: [number, number, number][]
  names: string[]
}
export interface Trace {
  mix: string
  batch: number
  workers: string[]
  arms: Record<
    string,
    { policy: string; rps: number[]; tracedRps?: number[]; workers: TraceWorker[]; unmatchedKernels: number }
  >
  soloRps: number[]
  soloTrace: TraceWorker[]
}

/** A kernel's class by its name: what it mostly does. */
export function kernelClass(name: string): string {
  const n = name.toLowerCase()
  if (/gemm|xmma|nvjet|cutlass|conv|wgrad|dgrad|fprop|implicit|cublas|sm90_|sm80_|gemv|splitk/.test(n))
    return 'mma'
  if (/nchwtonhwc|nhwctonchw|transpose|copy|cat_|catarray|permute/.test(n)) return 'layout'
  if (/pool/.test(n)) return 'pool'
  if (/norm|softmax|elementwise|reduce|gelu|relu|add|mul|tanh/.test(n)) return 'elementwise'
  return 'other'
}

const CLASSES = ['mma', 'elementwise', 'layout', 'pool', 'other'] as const

/** The characters of a kernel's name a trace keeps (gpu/scripts/kernel-trace.py). */
const NAME_CHARS = 80

/** A kernel name reduced to its function (no return type, template arguments or parameters), within the part of the
 *  name a trace keeps: the profile and the trace spell template arguments differently ("<(int)4" against "<4"). */
export function kernelToken(name: string): string {
  const n = name.slice(0, NAME_CHARS).replace(/^void /, '')
  const cut = n.search(/[<(]/)
  return cut < 0 ? n : n.slice(0, cut)
}

/**
 * The traced kernel each profile kernel is, by edit distance over their tokens (same token free, another kernel of
 * the same class — a GEMM picked otherwise — 1, one left out 2): the executed graph holds a few kernels the profile's
 * list does not (memsets, copies). Returns, per profile kernel, its index in `traced` or -1.
 */
export function alignKernels(profile: readonly string[], traced: readonly string[]): number[] {
  // a kernel of another class is never taken for one: dearer than leaving both out (2 + 2)
  const NO_MATCH = 5
  const n = profile.length
  const m = traced.length
  const pt = profile.map(kernelToken)
  const tt = traced.map(kernelToken)
  const pc = profile.map(kernelClass)
  const tc = traced.map(kernelClass)
  const cost = new Uint32Array((n + 1) * (m + 1))
  const at = (i: number, j: number) => i * (m + 1) + j
  for (let i = 0; i <= n; i++) cost[at(i, 0)] = 2 * i
  for (let j = 0; j <= m; j++) cost[at(0, j)] = 2 * j
  for (let i = 1; i <= n; i++) {
    for (let j = 1; j <= m; j++) {
      const sub = pt[i - 1] === tt[j - 1] ? 0 : pc[i - 1] === tc[j - 1] ? 1 : NO_MATCH
      cost[at(i, j)] = Math.min(
        (cost[at(i - 1, j - 1)] as number) + sub,
        (cost[at(i - 1, j)] as number) + 2,
        (cost[at(i, j - 1)] as number) + 2,
      )
    }
  }
  const out = new Array<number>(n).fill(-1)
  let i = n
  let j = m
  while (i > 0 && j > 0) {
    const sub = pt[i - 1] === tt[j - 1] ? 0 : pc[i - 1] === tc[j - 1] ? 1 : NO_MATCH
    if (sub < NO_MATCH && cost[at(i, j)] === (cost[at(i - 1, j - 1)] as number) + sub) {
      out[i - 1] = j - 1
      i--
      j--
    } else if (cost[at(i, j)] === (cost[at(i, j - 1)] as number) + 2) j--
    else i--
  }
  return out
}

/** The simulator's run of `plan`: each worker's req/s and per kernel its mean duration and idle time before it. */
export function simulated(
  plan: Plan,
  profiles: Profile[],
  env: ReturnType<typeof environment>,
): { rps: number[]; dur: number[][]; idle: number[][] } {
  const W = plan.workers.length
  const turnS = profiles.reduce((a, p) => a + (p.requestUs[p.requestUs.length - 1] ?? 0), 0) / 1e6
  const windowS = Math.min(2, Math.max(0.3, 60 * turnS))
  const warmupS = windowS / 10
  const durs = profiles.map((p) => p.kernels.map(() => [] as number[]))
  const idles = profiles.map((p) => p.kernels.map(() => [] as number[]))
  const lastEnd = new Float64Array(W).fill(Number.NaN)
  const r = simulate(
    {
      key: `${plan.mix}|${plan.policy}|trace`,
      role: 'mix',
      mix: plan.mix,
      mode: plan.workers.some((w) => w.groups.length > 1) ? 'graph' : null,
      batch: null,
      gpu: env.gpu,
      plan,
      workers: plan.workers.map((w) => ({ name: w.name, model: w.model, batch: w.batch, dtype: w.dtype })),
      profiles,
      loop: { kind: 'closed' },
      warmupS,
      windowS,
      seed: 1,
      primitives: env.primitives,
      power: env.power,
    },
    {
      calibration: env.calibration,
      // a kernel's time from its first SMs to its end, as a GPU trace times it from its first block
      kernelTrace: (w, k, _ready, s, e) => {
        if (s >= warmupS * 1e6) {
          ;(durs[w] as number[][])[k]?.push(e - s)
          if (k > 0 && !Number.isNaN(lastEnd[w] as number))
            (idles[w] as number[][])[k]?.push(s - (lastEnd[w] as number))
        }
        lastEnd[w] = e
      },
    },
  )
  // a closed loop's rate is 1 ÷ its mean latency: finer than a count of requests in a short window
  const rps = r.workers.map((w) => {
    const lat = w.endUs.flatMap((e, i) => (e >= warmupS * 1e6 ? [e - (w.startUs[i] as number)] : []))
    return lat.length ? 1e6 / (lat.reduce((a, b) => a + b, 0) / lat.length) : 0
  })
  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0)
  return { rps, dur: durs.map((d) => d.map(mean)), idle: idles.map((d) => d.map(mean)) }
}

/** The simulator's inputs from a profile directory (another sim-calibration.json if given) and its profiles. */
export function environment(dir: string, calibration?: string) {
  const gpu = loadGpu(dir)
  const { inputs } = simInputs(gpu, { dir, ...(calibration ? { calibration } : {}) })
  return { ...inputs, profilesFor: profilesIn(dir, gpu) }
}

/**
 * Each kernel's time at its partition size in the plan, alone: `profiled`, the profile's; `simulated`, as the
 * simulator runs it, scaled down where the kernel times at that size add up to more than the measured request
 * (src/execute/sim/engine.ts).
 */
export function aloneUs(plan: Plan, wi: number, p: Profile): { profiled: number[]; simulated: number[] } {
  const pw = plan.workers[wi] as Plan['workers'][number]
  const sms = new Map(plan.pool.partitions.map((q) => [q.id, q.sms]))
  const at = (k: number) => pw.groups.find((g) => g.first <= k && k <= g.last)?.partition
  const scale = latencyScale(p)
  const index = p.kernels.map((_, k) => {
    const found = p.sizes.indexOf((sms.get(at(k) ?? -1) ?? p.sizes[p.sizes.length - 1]) as number)
    return found >= 0 ? found : p.sizes.length - 1
  })
  const profiled = p.kernels.map((kern, k) => Math.max(kern.timesUs[index[k] as number] as number, 1e-3))
  return { profiled, simulated: profiled.map((t, k) => t * (scale[index[k] as number] as number)) }
}

export function loadTrace(file: string): Trace {
  const raw = readFileSync(file)
  return JSON.parse((file.endsWith('.gz') ? gunzipSync(raw) : raw).toString('utf8')) as Trace
}

const fmt = (x: number, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '–')
const pct = (x: number) => `${x >= 0 ? '+' : ''}${(100 * x).toFixed(1)}%`
const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0)

/** One worker of one arm, GPU against the simulator. */
export interface WorkerCompare {
  mix: string
  arm: string
  policy: string
  name: string
  gpuRps: number
  simRps: number
  /** Its solo trace: the streams its kernels ran on, and their summed time ÷ the request's latency. */
  soloStreams: number
  soloOverlap: number
  /** The traced loop's req/s ÷ the unprofiled one's: how far the profiler moved the worker (absent: not recorded). */
  tracedShare?: number
  /** Mean per request over the aligned kernels: kernel time and idle time before kernels (µs). */
  gpuKernelUs: number
  gpuIdleUs: number
  simKernelUs: number
  simIdleUs: number
  /** Per kernel class: co-located ÷ alone kernel time, GPU and simulator, and the class's share of GPU kernel time. */
  classes: { cls: string; gpu: number; sim: number; share: number }[]
}

/**
 * Every arm of a trace against the simulator's runs of the same plans (each from the first of `plansDirs` holding
 * it).
 */
export function compareTrace(
  t: Trace,
  plansDirs: readonly string[],
  env: ReturnType<typeof environment>,
): WorkerCompare[] {
  const out: WorkerCompare[] = []
  for (const [arm, a] of Object.entries(t.arms)) {
    const file = `${t.mix}.${a.policy}.b${t.batch}.plan.json`
    const dir = plansDirs.find((d) => existsSync(join(d, file)))
    if (!dir) throw new Error(`${file}: in none of ${plansDirs.join(', ')}`)
    const plan = readFile<Plan>('plan', join(dir, file))
    const base = plan.workers.map(
      (w) =>
        env.profilesFor([{ name: w.model, model: w.model, batch: w.batch, dtype: w.dtype }])[0] as Profile,
    )
    const profiles = profilesOfPlan(plan, base)
    const sim = simulated(plan, profiles, env)
    a.workers.forEach((tw, wi) => {
      const p = profiles[wi] as Profile
      const solo = t.soloTrace[wi] as TraceWorker
      const names = p.kernels.map((k) => k.name)
      const al = alignKernels(names, tw.names)
      const alSolo = alignKernels(names, solo.names)
      const alone = aloneUs(plan, wi, p)
      const whole = p.kernels.map((k) => Math.max(k.timesUs[p.sizes.length - 1] as number, 1e-3))
      const byClass = new Map<string, { g: number; ga: number; s: number; sa: number }>()
      let gK = 0
      let gI = 0
      let sK = 0
      let sI = 0
      names.forEach((nm, k) => {
        const j = al[k] as number
        const js = alSolo[k] as number
        if (j < 0 || js < 0) return
        const g = tw.durMeanUs[j] as number
        const sd = (sim.dur[wi] as number[])[k] as number
        gK += g
        gI += tw.idleMeanUs[j] as number
        sK += sd
        sI += (sim.idle[wi] as number[])[k] as number
        const c = byClass.get(kernelClass(nm)) ?? { g: 0, ga: 0, s: 0, sa: 0 }
        c.g += g
        // alone on the kernel's partition, GPU: its solo trace on the whole GPU × the profile's partition ÷ whole
        c.ga += ((solo.durMeanUs[js] as number) * (alone.profiled[k] as number)) / (whole[k] as number)
        c.s += sd
        c.sa += alone.simulated[k] as number
        byClass.set(kernelClass(nm), c)
      })
      const soloEnd = Math.max(...solo.raw.map((r) => r[0] + r[1]))
      const row: WorkerCompare = {
        mix: `${t.mix} b${t.batch}`,
        arm,
        policy: a.policy,
        name: tw.name,
        gpuRps: a.rps[wi] as number,
        ...(a.tracedRps ? { tracedShare: (a.tracedRps[wi] as number) / (a.rps[wi] as number) } : {}),
        simRps: sim.rps[wi] as number,
        gpuKernelUs: gK,
        gpuIdleUs: gI,
        simKernelUs: sK,
        simIdleUs: sI,
        soloStreams: new Set(solo.raw.map((r) => r[2])).size,
        soloOverlap: sum(solo.raw.map((r) => r[1])) / soloEnd,
        classes: CLASSES.filter((c) => byClass.has(c)).map((c) => {
          const x = byClass.get(c) as { g: number; ga: number; s: number; sa: number }
          return { cls: c, gpu: x.g / x.ga, sim: x.s / x.sa, share: x.g / gK }
        }),
      }
      out.push(row)
    })
  }
  return out
}

/** The report: per arm and worker, then the mean errors over every worker. */
export function reportText(rows: readonly WorkerCompare[]): string {
  const L: string[] = []
  const head =
    `${'mix'.padEnd(9)}${'arm'.padEnd(10)}${'worker'.padEnd(15)}${'GPU req/s'.padStart(10)}${'sim÷GPU'.padStart(9)}` +
    `${'solo: streams, Σk÷lat'.padStart(22)}${'traced÷run'.padStart(11)}   ${'GPU: kernel + idle µs'.padEnd(24)}${'sim: kernel + idle'.padEnd(20)}` +
    'co-located ÷ alone per kernel class, GPU|sim (share of GPU kernel time)'
  L.push(head)
  for (const r of rows) {
    L.push(
      `${r.mix.padEnd(9)}${r.arm.padEnd(10)}${r.name.padEnd(15)}${fmt(r.gpuRps, 1).padStart(10)}${fmt(r.simRps / r.gpuRps, 3).padStart(9)}` +
        `${`${r.soloStreams}, ${fmt(r.soloOverlap)}`.padStart(22)}   ` +
        `${(r.tracedShare === undefined ? '–' : fmt(r.tracedShare)).padStart(11)}   ` +
        `${`${fmt(r.gpuKernelUs, 0)} + ${fmt(r.gpuIdleUs, 0)}`.padEnd(24)}${`${fmt(r.simKernelUs, 0)} + ${fmt(r.simIdleUs, 0)}`.padEnd(20)}` +
        r.classes.map((c) => `${c.cls} ${fmt(c.gpu)}|${fmt(c.sim)} (${fmt(c.share)})`).join('  '),
    )
  }
  const groups: [string, (r: WorkerCompare) => boolean][] = [
    ['baseline (all on the whole GPU)', (r) => r.policy === 'baseline'],
    ['eclip-fit (partitioned)', (r) => r.policy !== 'baseline'],
  ]
  L.push(
    '',
    'over the workers (mean): sim ÷ GPU − 1 of req/s, signed and |·|; then over the workers whose request ran on one' +
      ' stream (the others’ idle time means nothing): kernel and idle time per request, sim ÷ GPU − 1, and the matrix' +
      ' products’ co-located ÷ alone',
  )
  for (const [label, f] of groups) {
    const xs = rows.filter(f)
    if (xs.length === 0) continue
    const chains = xs.filter((r) => r.soloStreams === 1)
    const m = (g: (r: WorkerCompare) => number, of = xs) => {
      const v = of.map(g).filter(Number.isFinite)
      return v.length ? sum(v) / v.length : Number.NaN
    }
    const mma = (r: WorkerCompare) => r.classes.find((c) => c.cls === 'mma')
    L.push(
      `${label.padEnd(34)} n ${String(xs.length).padStart(2)}  req/s ${pct(m((r) => r.simRps / r.gpuRps - 1))} |${(100 * m((r) => Math.abs(r.simRps / r.gpuRps - 1))).toFixed(1)}%|` +
        `   n ${String(chains.length).padStart(2)}  kernel ${pct(m((r) => r.simKernelUs / r.gpuKernelUs - 1, chains))}` +
        `  idle ${pct(m((r) => r.simIdleUs / r.gpuIdleUs - 1, chains))}` +
        `  mma GPU ${fmt(m((r) => mma(r)?.gpu ?? Number.NaN, chains))} sim ${fmt(m((r) => mma(r)?.sim ?? Number.NaN, chains))}`,
    )
  }
  return L.join('\n')
}

function main() {
  const { values, positionals } = parseArgs({
    options: { profiles: { type: 'string' }, calibration: { type: 'string' }, plans: { type: 'string' } },
    allowPositionals: true,
  })
  if (!values.profiles || !values.plans || positionals.length === 0) {
    throw new Error(
      'usage: kernel-trace.ts --profiles DIR [--calibration FILE] --plans DIR[,DIR...] TRACE.json[.gz] ...',
    )
  }
  const env = environment(values.profiles, values.calibration)
  const rows = positionals.flatMap((f) =>
    compareTrace(loadTrace(f), (values.plans as string).split(','), env),
  )
  console.log(reportText(rows))
}

if (process.argv[1] && import.meta.filename === process.argv[1]) main()
