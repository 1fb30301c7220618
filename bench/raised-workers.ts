// The H100's held-out runs (test/measure/sim-vs-gpu.test.ts's recorded series) per worker, with what each worker's plan
// gave it: whether its streams were raised (plan worker `streamPriority: 'high'`), how many of its kernels ran on the
// whole GPU, the SMs of its own partitions, whether those overlap another worker's own partitions, and how many
// co-runners it had; beside them its rate ÷ its baseline rate on the GPU and in the simulator, and the raw req/s error
// of the run and of the same mix's baseline run in the same part (the ratio's error is the one over the other).
// Lists the workers whose ratio errs by more than --min (default 0.12), or those of the runs named with --runs, under
// one or more candidate calibrations (LABEL=FILE; none: the shipped one).
//   node --import tsx bench/raised-workers.ts [--min 0.12] [--runs LABEL,...] [--batch 8] [--sets PATH-PART,...]
//     [--all] [--json FILE] [LABEL=CALIBRATION_JSON ...]

import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { type Plan, type Results, type Run, readFile } from '../src/formats/index.ts'
import { H100_RECORDED, H100_SOLO } from '../test/measure/h100-recorded.ts'
import { resimulateSet, simulatorOf } from '../test/measure/sim-vs-gpu.ts'
import { calibrationArgs, normalisedPair } from './heldout-workers.ts'

const ROOT = join(import.meta.dirname, '..')

/** One worker of one partitioned run, with its plan's shape. */
export interface RaisedRow {
  run: string
  batch: number
  worker: string
  raised: boolean
  /** Workers of the run raised, this one included. */
  raisedInRun: number
  coRunners: number
  /** Share of the worker's kernels on the whole GPU. */
  wholeShare: number
  /** SMs of its own partitions (not the whole GPU), by kernel count: the smallest–largest. */
  ownSms: string
  /** Its own partitions' slices overlap another worker's own partitions. */
  overlapsOther: boolean
  gpuNorm: number
  simNorm: number
  /** simNorm ÷ gpuNorm − 1. */
  err: number
  /** ln(sim ÷ GPU req/s) in this run and in the mix's baseline run. */
  rawLn: number
  baseRawLn: number
}

function planShape(plan: Plan, wi: number) {
  const pw = plan.workers[wi] as Plan['workers'][number]
  const parts = new Map(plan.pool.partitions.map((p) => [p.id, p]))
  const smCount = Math.max(...plan.pool.partitions.map((p) => p.sms))
  let whole = 0
  const own = new Set<number>()
  for (const g of pw.groups) {
    const p = parts.get(g.partition)
    if (!p) continue
    if (p.sms >= smCount) whole += g.last - g.first + 1
    else own.add(g.partition)
  }
  const slicesOf = (w: Plan['workers'][number]) => {
    const s = new Set<number>()
    for (const g of w.groups) {
      const p = parts.get(g.partition)
      if (p && p.sms < smCount) for (const x of p.slices) s.add(x)
    }
    return s
  }
  const mine = slicesOf(pw)
  const overlapsOther = plan.workers.some((o, oi) => oi !== wi && [...slicesOf(o)].some((s) => mine.has(s)))
  const sms = [...own].map((id) => parts.get(id)?.sms ?? 0).sort((a, b) => a - b)
  return {
    wholeShare: whole / pw.kernels,
    ownSms: sms.length ? `${sms[0]}–${sms.at(-1)}` : '–',
    overlapsOther,
    raised: pw.streamPriority === 'high',
    raisedInRun: plan.workers.filter((w) => w.streamPriority === 'high').length,
  }
}

export async function raisedRows(
  calibrationFile?: string,
  batch?: number,
  sets?: readonly string[],
): Promise<RaisedRow[]> {
  const sim = simulatorOf({ profiles: 'profiles/h100' }, calibrationFile)
  const rows: RaisedRow[] = []
  for (const set of H100_RECORDED) {
    if (sets && !sets.some((x) => set.includes(x))) continue
    if (batch !== undefined) {
      const first = readFile<Results>('results', join(ROOT, set, 'results.json')).runs.find(
        (r) => r.backend === 'gpu',
      )
      if (first?.batch !== batch) continue
    }
    const s = await resimulateSet({ recorded: [...H100_RECORDED], solo: H100_SOLO }, sim, set, {})
    const { gpuAll, simAll } = normalisedPair(sim, s)
    s.gpuRuns.forEach((r, i) => {
      if (r.policy === 'baseline' || !r.planFile) return
      const g = gpuAll[i] as Run
      const x = simAll[i] as Run
      const bi = s.gpuRuns.findIndex((b) => b.mix === r.mix && b.policy === 'baseline')
      const plan = readFile<Plan>('plan', join(ROOT, set, r.planFile))
      const label = `${set.split('/').slice(-2).join('/')} ${r.mix} ${r.policy}${r.mode ? `/${r.mode}` : ''}`
      g.workers.forEach((gw, wi) => {
        const sw = x.workers[wi]
        if (!sw || gw.normVsBaseline === null || sw.normVsBaseline === null) return
        const base = bi >= 0 ? { g: s.gpuRuns[bi]?.workers[wi], x: s.sim[bi]?.workers[wi] } : undefined
        rows.push({
          run: label,
          batch: gw.batch,
          worker: gw.name,
          ...planShape(plan, wi),
          coRunners: r.workers.length - 1,
          gpuNorm: gw.normVsBaseline,
          simNorm: sw.normVsBaseline,
          err: sw.normVsBaseline / gw.normVsBaseline - 1,
          rawLn: Math.log(sw.throughputRps / gw.throughputRps),
          baseRawLn: base?.g && base.x ? Math.log(base.x.throughputRps / base.g.throughputRps) : Number.NaN,
        })
      })
    })
  }
  return rows
}

const sgn = (x: number) => (Number.isFinite(x) ? `${x >= 0 ? '+' : ''}${(100 * x).toFixed(1)}%` : '–')

async function main() {
  const args = process.argv.slice(2)
  let min = 0.12
  let runs: string[] | undefined
  let batch: number | undefined
  let all = false
  let sets: string[] | undefined
  let json: string | undefined
  const named: string[] = []
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--min') min = Number(args[++i])
    else if (args[i] === '--runs') runs = (args[++i] as string).split(',')
    else if (args[i] === '--batch') batch = Number(args[++i])
    else if (args[i] === '--all') all = true
    else if (args[i] === '--json') json = args[++i]
    else if (args[i] === '--sets') sets = (args[++i] as string).split(',')
    else named.push(args[i] as string)
  }
  const cands = calibrationArgs(named)
  const results: RaisedRow[][] = []
  for (const [, file] of cands) results.push(await raisedRows(file, batch, sets))
  if (json) writeFileSync(json, JSON.stringify(Object.fromEntries(cands.map(([l], i) => [l, results[i]]))))
  const first = results[0] as RaisedRow[]
  const pick = first
    .map((r, i) => ({ r, i }))
    .filter(
      ({ r, i }) =>
        all || runs?.includes(r.run) || results.some((rs) => Math.abs((rs[i] as RaisedRow).err) > min),
    )
  console.log(
    `${'run'.padEnd(46)} ${'worker'.padEnd(14)} raised co  whole own-SMs  ovl  GPU÷base  ` +
      cands.map(([l]) => `${l}: sim÷base err raw base-raw`).join(' | '),
  )
  for (const { r, i } of pick) {
    const cells = results.map((rs) => {
      const y = rs[i] as RaisedRow
      return `${y.simNorm.toFixed(3)} ${sgn(y.err).padStart(6)} ${sgn(y.rawLn).padStart(6)} ${sgn(y.baseRawLn).padStart(6)}`
    })
    console.log(
      `${r.run.padEnd(46)} ${r.worker.padEnd(14)} ${(r.raised ? 'yes' : '-').padEnd(3)}/${r.raisedInRun} ${String(r.coRunners).padStart(2)} ` +
        `${(100 * r.wholeShare).toFixed(0).padStart(4)}% ${r.ownSms.padStart(7)} ${(r.overlapsOther ? 'yes' : '-').padStart(4)}  ` +
        `${r.gpuNorm.toFixed(3).padStart(8)}  ${cells.join(' | ')}`,
    )
  }
  // summaries per candidate: all partitioned workers, raised ones, not raised
  for (const [ci, [label]] of cands.entries()) {
    const rs = results[ci] as RaisedRow[]
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length)
    const grp = (name: string, f: (r: RaisedRow) => boolean) => {
      const xs = rs.filter(f)
      if (xs.length === 0) return
      const base = xs.map((r) => r.baseRawLn).filter(Number.isFinite)
      console.log(
        `${label} ${name}: n ${xs.length}, ÷ baseline: mean |err| ${sgn(mean(xs.map((r) => Math.abs(r.err))))}, mean err ${sgn(mean(xs.map((r) => r.err)))}, past 15% ${xs.filter((r) => Math.abs(r.err) > 0.15).length}, past 17% ${xs.filter((r) => Math.abs(r.err) > 0.17).length}; raw ln(sim ÷ GPU) ${sgn(mean(xs.map((r) => r.rawLn)))}, its baseline's ${sgn(mean(base))}`,
      )
    }
    grp('all partitioned workers', () => true)
    grp('raised', (r) => r.raised)
    grp('not raised, in a run with one raised', (r) => !r.raised && r.raisedInRun > 0)
    grp('no worker raised', (r) => r.raisedInRun === 0)
    for (const c of [1, 2, 3, 4]) {
      grp(`${c} co-runner(s): raised`, (r) => r.coRunners === c && r.raised)
      grp(
        `${c} co-runner(s): beside a raised worker`,
        (r) => r.coRunners === c && !r.raised && r.raisedInRun > 0,
      )
      grp(`${c} co-runner(s): no worker raised`, (r) => r.coRunners === c && r.raisedInRun === 0)
      grp(
        `${c} co-runner(s): own partitions only (< 5% whole GPU)`,
        (r) => r.coRunners === c && r.wholeShare < 0.05,
      )
      grp(`${c} co-runner(s): mostly whole GPU (≥ 50%)`, (r) => r.coRunners === c && r.wholeShare >= 0.5)
    }
  }
}

if (process.argv[1] && import.meta.filename === process.argv[1]) await main()
