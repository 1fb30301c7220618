// How far the simulator lets any plan go: simulated annealing over a plan space much larger than eclip-fit's, for
// one mix, on eclip-fit's evaluator (src/execute/sim/score.ts: STP ÷ baseline's, solo rates from the profiles, every
// worker's floor).
//
// Why. At batch 1 eclip-fit stays well under the latency-consistent estimate (bench/latency-bound.ts), and widening
// its own search (more rounds, finer prices, more rungs) did not move it in the simulator. This asks the question
// without eclip-fit's structure: no homes, no ladders, no prices. If annealing in the whole space finds no plan much
// above eclip-fit's, the gap is, as far as any plan found goes, the estimate's, not the planner's
// (results/sim/b1-oracle/README.md).
// What. A plan is, per worker, a partition per unit (runs of kernels that share one: src/plan/instance.ts), each
// partition a run of regular slices of any start and length or the whole GPU (every size the profiles hold); the
// pool is whatever the units use (the cap of 16 partitions is not kept unless --max-partitions says so). Moves:
// retarget a group (a run of units on one partition) — shift, grow, shrink, the whole GPU, another worker's
// partition, any run —, split a group, move a boundary between two. The score the annealing climbs is the STP ratio
// less 10 × the floors' shortfall (floors 0.9 of baseline's rate unless --floor; no p95 cap). The best plan is then
// re-scored, with the start, on longer windows and other seeds, so that a plan fitted to one short window's noise
// shows as such.
//   node --import tsx bench/plan-oracle.ts --profiles DIR --baseline BASE.plan.json --start PLAN.json \
//     [--evals 2000] [--seed 1] [--floor 0.9] [--max-partitions N] [--t0 0.002] [--t1 0.0001] [--out BEST.plan.json]
import { writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { simInputs } from '../src/execute/sim/inputs.ts'
import { scorePlan } from '../src/execute/sim/score.ts'
import { type Partition, type Plan, type Profile, readFile, type WorkerSpec } from '../src/formats/index.ts'
import { assemble, NO_SOLVER } from '../src/plan/assemble.ts'
import { fitMetrics } from '../src/plan/fit.ts'
import { buildInstance, evaluate, switchPoints } from '../src/plan/instance.ts'
import { gemmTargetFields, profilesOfPlan } from '../src/profile/gemm-target.ts'
import { loadGpu, profilesIn } from '../src/profile/store.ts'
import { mulberry32 } from '../src/random.ts'

/** A partition as a key: 0 = the whole GPU, else start × 64 + length in regular slices. */
type Key = number
const WHOLE: Key = 0
const keyOf = (start: number, len: number): Key => start * 64 + len
const startOf = (k: Key) => Math.floor(k / 64)
const lenOf = (k: Key) => k % 64

interface State {
  /** Per worker, per unit: the unit's partition. */
  units: Key[][]
}

export interface OracleOptions {
  evals: number
  seed: number
  floor: number
  maxPartitions?: number
  /** The annealing's temperature at the start and at the end (in STP ratio). */
  t0: number
  t1: number
}

/**
 * Anneals from plan `start` (same workers as `base`, the mix's baseline plan) on the simulator of profile dir `dir`.
 */
export function oracle(dir: string, base: Plan, start: Plan, o: OracleOptions) {
  const gpu = loadGpu(dir)
  const { inputs } = simInputs(gpu, { dir })
  const regular = gpu.slices.filter((s) => !s.remainder).map((s) => s.id)
  const R = regular.length
  const whole = gpu.slices.map((s) => s.id)
  const ws: WorkerSpec[] = start.workers.map((w) => ({
    name: w.name,
    model: w.model,
    batch: w.batch,
    dtype: w.dtype,
  }))
  const profilesFor = profilesIn(dir, gpu)
  const own = ws.map((w) => profilesFor([{ ...w, name: w.model }])[0] as Profile)
  // the workers with the times their plans capture (GEMMs targeted at each partition's size where the profile's are:
  // the fields every plan assembled here carries, as eclip plan's do)
  const ps = profilesOfPlan(
    { ...start, workers: start.workers.map((w, i) => ({ ...w, ...gemmTargetFields(own[i] as Profile) })) },
    own,
  )
  const basePs = profilesOfPlan(base, own)
  const starts = own.map((p) => switchPoints(p))
  const sizes = new Set(own[0]?.sizes ?? [])
  for (const p of own) for (const s of [...sizes]) if (!p.sizes.includes(s)) sizes.delete(s)
  const okLen = (len: number) => len >= 1 && len <= R && sizes.has(len * gpu.sliceSize)

  const baseScore = scorePlan(inputs, base, ws, basePs)
  const objective = {
    soloRps: own.map((p) => 1e6 / (p.requestUs.at(-1) as number)),
    weights: ps.map(() => 1),
    floors: ps.map(() => o.floor),
  }

  // the start plan as a state: each unit on the partition of the group holding its first kernel
  const keyOfPartition = new Map<number, Key>()
  for (const q of start.pool.partitions) {
    if (q.slices.length === whole.length) keyOfPartition.set(q.id, WHOLE)
    else {
      const idx = q.slices.map((s) => regular.indexOf(s)).sort((a, b) => a - b)
      const contiguous = idx.every((x, i) => x >= 0 && (i === 0 || x === (idx[i - 1] as number) + 1))
      if (!contiguous) throw new Error(`start plan: partition ${q.id} is not a run of regular slices`)
      keyOfPartition.set(q.id, keyOf(idx[0] as number, idx.length))
    }
  }
  const init: State = {
    units: start.workers.map((w, wi) =>
      (starts[wi] as number[]).map((k) => {
        const g = w.groups.find((x) => x.first <= k && k <= x.last)
        if (!g) throw new Error(`start plan: ${w.name} has no group for kernel ${k}`)
        return keyOfPartition.get(g.partition) as Key
      }),
    ),
  }

  // a state as a plan, assembled as a planner assembles one (src/plan/assemble.ts): the pool the units use (the whole
  // GPU first), each worker's ladder the partitions it uses, its sums (solo µs, mean SMs, the paper's α) and
  // GEMM-target fields from its profile; an eclip-fit plan, which `eclip bench --plans` then runs in eclip-fit's
  // place
  const toPlan = (s: State): Plan => {
    const ids = new Map<Key, number>([[WHOLE, 0]])
    const partitions = [{ id: 0, slices: whole, sms: gpu.smCount }]
    for (const row of s.units)
      for (const k of row)
        if (!ids.has(k)) {
          const sl = regular.slice(startOf(k), startOf(k) + lenOf(k))
          ids.set(k, partitions.length)
          partitions.push({ id: partitions.length, slices: sl, sms: sl.length * gpu.sliceSize })
        }
    const ladders = s.units.map((row) =>
      [...new Set(row.map((k) => ids.get(k) as number))].sort((a, b) => a - b),
    )
    const instances = ws.map((w, wi) => {
      const ladder = ladders[wi] as number[]
      return buildInstance(
        w.name,
        ps[wi] as Profile,
        ladder,
        ladder.map((id) => (partitions[id] as Partition).sms),
      )
    })
    const assignments = instances.map((inst, wi) =>
      evaluate(
        inst,
        Int32Array.from(s.units[wi] as Key[], (k) => inst.configs.indexOf(ids.get(k) as number)),
      ),
    )
    return assemble({
      gpu,
      mixName: start.mix,
      policy: 'eclip-fit',
      workers: ws,
      profiles: ps,
      partitions,
      ladders,
      instances,
      assignments,
      params: start.params as Parameters<typeof assemble>[0]['params'],
      solver: NO_SOLVER,
      notes: [],
    })
  }

  // baseline on another window and seed, scored once for the start's and the best's re-scoring
  const baselines = new Map<string, ReturnType<typeof scorePlan>>()
  const baselineAt = (seed: number, windowS?: number) => {
    const key = `${seed}|${windowS}`
    let b = baselines.get(key)
    if (!b) {
      b = scorePlan({ ...inputs, seed, ...(windowS !== undefined ? { windowS } : {}) }, base, ws, basePs)
      baselines.set(key, b)
    }
    return b
  }
  const poolSize = (s: State) => new Set(s.units.flat()).size
  const score = (s: State, extra: { windowS?: number; seed?: number } = {}) => {
    const plan = toPlan(s)
    const x = scorePlan({ ...inputs, ...extra }, plan, ws, ps)
    const b = extra.seed === undefined ? baseScore : baselineAt(extra.seed, extra.windowS)
    const m = fitMetrics(x, b, objective)
    const over = o.maxPartitions !== undefined ? Math.max(0, poolSize(s) - o.maxPartitions) : 0
    return { value: m.stpRatio - 10 * m.shortfall - over, m }
  }

  const rnd = mulberry32(o.seed)
  const pick = (n: number) => Math.floor(rnd() * n)
  const groupsOf = (row: Key[]) => {
    const gs: [number, number][] = []
    for (let u = 0; u < row.length; u++)
      if (u === 0 || row[u] !== row[u - 1]) gs.push([u, u])
      else (gs[gs.length - 1] as [number, number])[1] = u
    return gs
  }
  const randomRun = (): Key => {
    for (;;) {
      const len = 1 + pick(R)
      if (okLen(len)) return keyOf(pick(R - len + 1), len)
    }
  }
  const neighbour = (k: Key, s: State): Key => {
    const r = pick(6)
    if (r === 0) return WHOLE
    if (r === 1) {
      const other = s.units.flat()
      return other[pick(other.length)] as Key
    }
    if (r === 2 || k === WHOLE) return randomRun()
    const a = startOf(k)
    const len = lenOf(k)
    const cand =
      r === 3
        ? [keyOf(a - 1, len), keyOf(a + 1, len)]
        : r === 4
          ? [keyOf(a, len + 1), keyOf(a - 1, len + 1)]
          : [keyOf(a, len - 1), keyOf(a + 1, len - 1)]
    const ok = cand.filter((c) => startOf(c) >= 0 && okLen(lenOf(c)) && startOf(c) + lenOf(c) <= R)
    return ok.length > 0 ? (ok[pick(ok.length)] as Key) : randomRun()
  }
  const move = (s: State): State => {
    const units = s.units.map((r) => [...r])
    const wi = pick(units.length)
    const row = units[wi] as Key[]
    const gs = groupsOf(row)
    const [a, b] = gs[pick(gs.length)] as [number, number]
    const kind = pick(3)
    if (kind === 0 || (kind === 1 && a === b) || (kind === 2 && gs.length === 1)) {
      const k = neighbour(row[a] as Key, s)
      for (let u = a; u <= b; u++) row[u] = k
    } else if (kind === 1) {
      // split: a tail (or head) of the group to a neighbouring partition
      const cut = a + 1 + pick(b - a)
      const k = neighbour(row[a] as Key, s)
      if (rnd() < 0.5) for (let u = cut; u <= b; u++) row[u] = k
      else for (let u = a; u < cut; u++) row[u] = k
    } else {
      // move the boundary after (or before) the group by up to a quarter of its length, at least one unit
      const span = Math.max(1, Math.floor((b - a + 1) / 4))
      const d = 1 + pick(span)
      if (b + 1 < row.length && rnd() < 0.5)
        for (let u = b + 1; u <= Math.min(row.length - 1, b + d); u++) row[u] = row[a] as Key
      else if (a > 0) for (let u = Math.max(0, a - d); u < a; u++) row[u] = row[a] as Key
      else for (let u = b + 1; u <= Math.min(row.length - 1, b + d); u++) row[u] = row[a] as Key
    }
    return { units }
  }

  const t0 = Date.now()
  let cur = init
  let curScore = score(cur)
  const startScore = curScore
  let best = cur
  let bestScore = curScore
  let accepted = 0
  const T0 = o.t0
  const T1 = o.t1
  for (let i = 0; i < o.evals; i++) {
    const T = T0 * (T1 / T0) ** (i / Math.max(1, o.evals - 1))
    const next = move(cur)
    const ns = score(next)
    if (ns.value >= curScore.value || rnd() < Math.exp((ns.value - curScore.value) / T)) {
      cur = next
      curScore = ns
      accepted++
      if (ns.value > bestScore.value) {
        best = next
        bestScore = ns
      }
    }
    if ((i + 1) % 250 === 0)
      process.stderr.write(
        `plan-oracle: ${i + 1}/${o.evals} evals, ${((Date.now() - t0) / 1000).toFixed(0)} s: best ${bestScore.m.stpRatio.toFixed(4)} (shortfall ${bestScore.m.shortfall.toFixed(3)}), now ${curScore.m.stpRatio.toFixed(4)}\n`,
      )
  }
  // the start and the best on longer windows and three other seeds
  const recheck = (s: State) => [7, 8, 9].map((seed) => score(s, { windowS: 2, seed }).m)
  return {
    start: { search: startScore.m, recheck: recheck(init), pool: poolSize(init) },
    best: { search: bestScore.m, recheck: recheck(best), pool: poolSize(best), plan: toPlan(best) },
    accepted,
    seconds: (Date.now() - t0) / 1000,
    names: ws.map((w) => w.name),
  }
}

function main() {
  const { values } = parseArgs({
    options: {
      profiles: { type: 'string' },
      baseline: { type: 'string' },
      start: { type: 'string' },
      evals: { type: 'string', default: '2000' },
      seed: { type: 'string', default: '1' },
      floor: { type: 'string', default: '0.9' },
      'max-partitions': { type: 'string' },
      t0: { type: 'string', default: '0.002' },
      t1: { type: 'string', default: '0.0001' },
      out: { type: 'string' },
    },
  })
  if (!values.profiles || !values.baseline || !values.start)
    throw new Error(
      'usage: plan-oracle.ts --profiles DIR --baseline BASE.plan.json --start PLAN.json [--evals N] [--seed N] [--floor F] [--max-partitions N] [--t0 T] [--t1 T] [--out FILE]',
    )
  const r = oracle(
    values.profiles,
    readFile<Plan>('plan', values.baseline),
    readFile<Plan>('plan', values.start),
    {
      evals: Number(values.evals),
      seed: Number(values.seed),
      floor: Number(values.floor),
      t0: Number(values.t0),
      t1: Number(values.t1),
      ...(values['max-partitions'] ? { maxPartitions: Number(values['max-partitions']) } : {}),
    },
  )
  const mean = (xs: number[]) => xs.reduce((a, x) => a + x, 0) / xs.length
  const line = (what: string, x: typeof r.start) =>
    `${what}: pool ${x.pool}; search STP ${x.search.stpRatio.toFixed(4)} × baseline's (worst ${Math.min(...x.search.ratios).toFixed(3)}, shortfall ${x.search.shortfall.toFixed(3)}); ` +
    `2 s windows, seeds 7–9: STP ${x.recheck.map((m) => m.stpRatio.toFixed(4)).join(' / ')} (mean ${mean(x.recheck.map((m) => m.stpRatio)).toFixed(4)}), ` +
    `worst worker ${Math.min(...x.recheck.flatMap((m) => m.ratios)).toFixed(3)}, mean p95 ${mean(x.recheck.map((m) => m.p95)).toFixed(3)}; ` +
    `per worker ${r.names.map((n, i) => `${n} ${mean(x.recheck.map((m) => m.ratios[i] as number)).toFixed(3)}`).join(', ')}`
  console.log(line('start', r.start))
  console.log(line('best ', r.best))
  console.log(`${r.accepted} of ${values.evals} moves accepted, ${r.seconds.toFixed(0)} s`)
  // its solver record says where it came from
  const solver = {
    name: 'none' as const,
    status: 'heuristic' as const,
    gap: 1,
    solveMs: r.seconds * 1000,
    notes: `bench/plan-oracle.ts: annealed from ${values.start} (${values.evals} plans, seed ${values.seed}); no policy made it`,
  }
  if (values.out) writeFileSync(values.out, `${JSON.stringify({ ...r.best.plan, solver }, null, 2)}\n`)
}

if (process.argv[1] && import.meta.filename === process.argv[1]) main()
