import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import YAML from 'yaml'
import { EVALUATOR_DEFAULTS, simEvaluator } from '../../src/execute/sim/evaluator.ts'
import { simInputs } from '../../src/execute/sim/inputs.ts'
import { expandWorkers, type MixFile, type Plan, readFile, type WorkerSpec } from '../../src/formats/index.ts'
import type { ServeConfig } from '../../src/formats/serve-config.ts'
import type { FitMetrics, FitObjective } from '../../src/plan/fit.ts'
import { makePlan, type PlanEvaluator } from '../../src/plan/index.ts'
import {
  beatsBest,
  choosePriorities,
  HELD_P95_CAP,
  P95_MARGIN,
  P95_SEEDS,
  PRIORITY_MARGIN,
  PRIORITY_P95_CAP,
  type PriorityChoice,
  raisedSets,
} from '../../src/plan/priorities.ts'
import { priorityText } from '../../src/plan/raise-streams.ts'
import { loadProfileSet } from '../../src/profile/store.ts'
import { defaultPlanner } from '../../src/serve/index.ts'
import { resolveServeSetup } from '../../src/serve/policies.ts'

const bin = join(import.meta.dirname, '..', '..', 'bin', 'eclip.mjs')
const eclip = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' })
const root = join(import.meta.dirname, '..', '..')

/**
 * `eclip plan --stream-priorities` of one mix at batch 1 on the shipped H100 profiles (with `extra` options): the plan
 * and its raised models. The scenarios below are the plans eclip-fit's search finds from model-wise's start alone
 * (--fit-starts one): from several starts it finds plans in these mixes that no set of raised workers improves.
 */
function planRaised(mix: string[], extra: string[] = []): { plan: Plan; raised: string[] } {
  const out = join(mkdtempSync(join(tmpdir(), 'eclip-prio-')), 'plan.json')
  const r = eclip(
    'plan',
    ...mix,
    '--profiles',
    join(root, 'profiles', 'h100'),
    '--policy',
    'eclip-fit',
    '--batch',
    '1',
    '--stream-priorities',
    '--fit-starts',
    'one',
    ...extra,
    '--out',
    out,
  )
  assert.equal(r.status, 0, r.stderr)
  const plan = readFile<Plan>('plan', out)
  return { plan, raised: plan.workers.filter((w) => w.streamPriority === 'high').map((w) => w.model) }
}

/** Metrics that carry only what the chooser and its ranking read. */
const metrics = (stpRatio: number, shortfall = 0, p95Ratios = [1, 1, 1]) =>
  ({ stpRatio, shortfall, p95Ratios }) as unknown as FitMetrics
const value = (m: FitMetrics) => (m.shortfall > 0 ? -1 - m.shortfall : m.stpRatio)
/** Three workers as a plan's note names them. */
const specs = ['w0', 'w1', 'w2'].map((name) => ({ name })) as unknown as WorkerSpec[]

describe('stream priorities (eclip-fit)', () => {
  it('raisedSets: every proper subset up to three workers, singletons and their complements beyond', () => {
    assert.deepEqual(raisedSets(1), [])
    assert.deepEqual(raisedSets(2), [[0], [1]])
    const three = raisedSets(3)
    assert.equal(three.length, 6)
    assert.ok(three.every((s) => s.length >= 1 && s.length <= 2))
    assert.equal(new Set(three.map((s) => s.join())).size, 6)
    const five = raisedSets(5)
    assert.equal(five.length, 10)
    assert.deepEqual(five[0], [0])
    assert.deepEqual(five[5], [1, 2, 3, 4])
  })

  it("beatsBest: a runner-up's raised set replaces the best plan's choice by more than the margin, every p95 in the cap", () => {
    const choice = (m: FitMetrics, high?: boolean[]) => ({
      high,
      metrics: m,
      tried: 6,
      capped: 0,
      p95Cap: 1.07,
    })
    const best = metrics(1.1)
    const take = (m: FitMetrics, raised = true) =>
      beatsBest(choice(m, raised ? [true, false, false] : undefined), best, value, 0.01, 1.07)
    assert.equal(take(metrics(1.12)), true)
    // within the margin, or none raised (the runner-up unraised ranks under the best), or no choice at all
    assert.equal(take(metrics(1.105)), false)
    assert.equal(take(metrics(1.2), false), false)
    assert.equal(beatsBest(undefined, best, value, 0.01, 1.07), false)
    // a p95 past the cap, though the runner-up had it unraised (the chooser kept it), or none finished
    assert.equal(take(metrics(1.2, 0, [1, 1.09, 1])), false)
    assert.equal(take(metrics(1.2, 0, [1, Number.POSITIVE_INFINITY, 1])), false)
    // a floor missed ranks it under the best
    assert.equal(take(metrics(1.3, 0.02)), false)
  })

  it('takes the best set only where it beats none raised by the margin, and never one that misses a floor', async () => {
    // worker 1 raised gains most but misses a floor; worker 0 raised gains a little
    const score = async (high: boolean[]) =>
      high[1] ? metrics(1.2, 0.05) : high[0] ? metrics(1.05 + PRIORITY_MARGIN * 2) : metrics(1.0)
    const got = await choosePriorities(3, metrics(1.05), score, value)
    assert.deepEqual(got.high, [true, false, false])
    assert.equal(got.tried, 6)
    // a gain within the margin is no gain: none raised
    const small = await choosePriorities(
      2,
      metrics(1.05),
      async () => metrics(1.05 + PRIORITY_MARGIN / 2),
      value,
    )
    assert.equal(small.high, undefined)
    assert.equal(small.metrics.stpRatio, 1.05)
  })

  it("refuses a set that lifts a worker's p95 past the cap, unless it was past it with none raised", async () => {
    const over = PRIORITY_P95_CAP + 0.01
    // raising worker 0 gains most but lowers worker 2 past the cap; raising worker 1 gains less and keeps it
    const score = async (high: boolean[]) =>
      high[0] ? metrics(1.2, 0, [0.8, 1, over]) : high[1] ? metrics(1.1, 0, [1, 0.8, 1.05]) : metrics(1.0)
    const got = await choosePriorities(3, metrics(1.0), score, value)
    assert.deepEqual(got.high, [false, true, false])
    // the sets with worker 0 raised (alone, with 1, with 2) gained but were refused
    assert.equal(got.capped, 3)
    // worker 2 already past the cap with none raised: a set that keeps it there (no worse) may be taken
    const already = await choosePriorities(3, metrics(1.0, 0, [1, 1, over]), score, value)
    assert.deepEqual(already.high, [true, false, false])
    // the note names the p95 such a worker was held to: its own with none raised (here higher than the set's), not the
    // cap; a worker within the cap gets no such clause
    const heldToPlain = await choosePriorities(3, metrics(1.0, 0, [1, 1, over + 0.02]), score, value)
    assert.deepEqual(heldToPlain.high, [true, false, false])
    assert.deepEqual(heldToPlain.plainP95, [1, 1, over + 0.02])
    const note = (c: PriorityChoice) =>
      priorityText(specs, c, metrics(1.0), { weights: [1, 1, 1] } as unknown as FitObjective)
    const cap = +HELD_P95_CAP.toFixed(3)
    const clause = `at ${over.toFixed(3)}× baseline's (${(over + 0.02).toFixed(3)}× with none raised: held to that, not to ${cap}×);`
    assert.ok(note(heldToPlain).includes(`highest predicted p95 w2's ${clause}`), note(heldToPlain))
    // none raised finished nothing for worker 2 (no finite p95): the note says it was not capped
    const unfinished = { ...heldToPlain, plainP95: [1, 1, Number.POSITIVE_INFINITY] }
    assert.ok(
      note(unfinished).includes(
        `w2's at ${over.toFixed(3)}× baseline's (no p95 with none raised: not capped);`,
      ),
    )
    assert.match(note(got), /highest predicted p95 w2's at 1\.050× baseline's;/)
    // unless held strictly (a runner-up plan's sets): then the set that keeps every p95 within the cap
    const strict = await choosePriorities(
      3,
      metrics(1.0, 0, [1, 1, over]),
      score,
      value,
      PRIORITY_MARGIN,
      PRIORITY_P95_CAP,
      true,
    )
    assert.deepEqual(strict.high, [false, true, false])
    // and one that lifts it further may not
    const worse = await choosePriorities(
      3,
      metrics(1.0, 0, [1, 1, over - 0.005]),
      async (high) => (high[0] ? metrics(1.2, 0, [0.8, 1, over]) : metrics(1.0, 0, [1, 1, over - 0.005])),
      value,
    )
    assert.equal(worse.high, undefined)
    // a worker the evaluator gave no p95 for is held to the cap, not let through
    const missing = await choosePriorities(
      2,
      metrics(1.0, 0, []),
      async () => metrics(1.2, 0, [1, over]),
      value,
    )
    assert.equal(missing.high, undefined)
  })

  it("compares a set's held p95s with none raised's held ones (tail), not its scored ones", async () => {
    const over = HELD_P95_CAP + 0.02
    const score = async (high: boolean[]) => (high[0] ? metrics(1.2, 0, [0.8, 1, 1]) : metrics(1.0))
    // held, the set lifts worker 2 past the cap; none raised, held, had it there already: the set may be taken
    type Tail = (high: boolean[] | undefined, m: FitMetrics) => Promise<FitMetrics>
    const choose = (t: Tail) =>
      choosePriorities(3, metrics(1.0), score, value, PRIORITY_MARGIN, HELD_P95_CAP, false, t)
    const tail: Tail = async (high, m) =>
      ({ ...m, p95Ratios: [m.p95Ratios[0] ?? 1, 1, high?.[0] ? over : over + 0.01] }) as FitMetrics
    const got = await choose(tail)
    assert.deepEqual(got.high, [true, false, false])
    assert.equal(got.metrics.p95Ratios[2], over)
    // the p95s the set was held to with none raised, as the plan's note gives them: the tail's, not the score's
    assert.deepEqual(got.plainP95, [1, 1, over + 0.01])
    // none raised held within the cap: the same set is refused
    const within: Tail = async (high, m) => ({ ...m, p95Ratios: [1, 1, high?.[0] ? over : 1] }) as FitMetrics
    const refused = await choose(within)
    assert.equal(refused.high, undefined)
    assert.equal(refused.capped, 3)
  })

  it('holds a set to the cap less a margin: a predicted or measured p95 within the cap by less is refused', async () => {
    const near = PRIORITY_P95_CAP - P95_MARGIN / 2
    const score = async (high: boolean[]) => (high[0] ? metrics(1.2, 0, [0.8, 1, near]) : metrics(1.0))
    const held = await choosePriorities(3, metrics(1.0), score, value)
    assert.equal(held.high, undefined)
    assert.equal(held.capped, 3)
    assert.equal(held.p95Cap, HELD_P95_CAP)
    assert.equal(HELD_P95_CAP, PRIORITY_P95_CAP - P95_MARGIN)
    // held to the cap itself, the same set is taken
    const atCap = await choosePriorities(3, metrics(1.0), score, value, PRIORITY_MARGIN, PRIORITY_P95_CAP)
    assert.deepEqual(atCap.high, [true, false, false])
    assert.equal(atCap.p95Cap, PRIORITY_P95_CAP)
  })

  it("holds the mean p95 over the simulator's seeds, not one seed's", async () => {
    // more1 at batch 1 on the shipped H100 profiles, where the chooser raises light workers beside vgg19 on the plan
    // found from model-wise's start alone
    const mix = readFile<MixFile>('mix', join(root, 'mixes', 'more.yaml')).mixes.find(
      (m) => m.name === 'more1',
    )
    assert.ok(mix)
    const workers = expandWorkers(mix, 1)
    const dir = join(root, 'profiles', 'h100')
    // as `eclip plan` loads them: each profile's GEMM-target times
    const set = loadProfileSet(dir, workers, { gemmTarget: true })
    const { inputs } = simInputs(set.gpu, { dir })
    const sim = simEvaluator(inputs, workers, set.profiles)
    const at = sim.evaluateAt?.bind(sim)
    assert.ok(at, "the simulator's evaluator reruns a plan on a seed")
    // on `seeds` (its own run spared), a plan with a raised worker gives every unraised worker's p95 as `tail` says
    const tailed = (seeds: readonly number[], tail: (x: number) => number): PlanEvaluator => ({
      ...sim,
      evaluateAt: async (plan, seed) => {
        const r = await at(plan, seed)
        const high = plan.workers.map((w) => w.streamPriority === 'high')
        if (!seeds.includes(seed) || !high.some(Boolean)) return r
        return { ...r, p95Us: r.p95Us.map((x, i) => (high[i] ? x : tail(x))) }
      },
    })
    const lifted = tailed(P95_SEEDS, (x) => x * 1.2)
    const raised = async (evaluator: PlanEvaluator, maxP95?: number) => {
      const plan = await makePlan(set.gpu, 'more1', workers, set.profiles, {
        policy: 'eclip-fit',
        fitPriorities: true,
        fitStarts: 'one',
        evaluator,
        ...(maxP95 === undefined ? {} : { maxP95 }),
      })
      return { plan, high: plan.workers.map((w) => w.streamPriority === 'high') }
    }
    const plain = await raised(sim)
    assert.ok(plain.high.some(Boolean), 'a set is raised as the simulator has it')
    // the note's highest p95 is the mean over the evaluator's seed and the others of each worker's p95 ÷ baseline's
    const base = await makePlan(set.gpu, 'more1', workers, set.profiles, { policy: 'baseline' })
    const per = await Promise.all(
      [EVALUATOR_DEFAULTS.seed, ...P95_SEEDS].map(async (seed) => {
        const [p, b] = [await at(plain.plan, seed), await at(base, seed)]
        return p.p95Us.map((x, i) => x / (b.p95Us[i] as number))
      }),
    )
    const mean = workers.map((_, i) => per.reduce((a, r) => a + (r[i] as number), 0) / per.length)
    const top = Math.max(...mean)
    const note = /highest predicted p95 (\S+)'s at ([0-9.]+)× baseline's/.exec(plain.plan.solver.notes ?? '')
    assert.equal(note?.[1], workers[mean.indexOf(top)]?.name)
    assert.equal(note?.[2], top.toFixed(3))
    // a worker that finishes nothing on one seed is past any cap: every set that gained is refused
    const starved = await raised(tailed([P95_SEEDS[2] as number], () => Number.NaN))
    assert.ok(starved.high.every((h) => !h))
    // the tails lifted on the other seeds: every set that gained is refused
    const held = await raised(lifted)
    assert.ok(held.high.every((h) => !h))
    assert.match(
      held.plan.solver.notes ?? '',
      /none raised \(6 sets of raised workers scored, none better within the p95 cap/,
    )
    // the user's own cap (--max-p95) is the one held: at 1.5 the lifted tails are within it, and a set is raised
    assert.ok((await raised(lifted, 1.5)).high.some(Boolean))
    // an evaluator without seeds (one that measures) is held on its one run: the lifted tails are never seen
    const { evaluateAt: _, ...oneSeed } = lifted
    assert.deepEqual((await raised(oneSeed)).high, plain.high)
  })

  it('eclip plan --stream-priorities keeps vgg19 within the p95 cap in mix4 at batch 1 (resnet152 raised alone)', () => {
    const { plan, raised } = planRaised(['--mix', 'mix4'])
    assert.deepEqual(raised, ['resnet152'])
    assert.match(plan.solver.notes ?? '', /gained lifts a worker's p95 past 1\.07× baseline's/)
  })

  it('eclip plan --stream-priorities raises the light workers beside vgg19 on the shipped H100 profiles', () => {
    const { plan, raised } = planRaised(['--mix', join(root, 'mixes', 'more.yaml'), '--mix-name', 'more1'])
    assert.ok(raised.length > 0 && !raised.includes('vgg19'), `raised: ${raised.join(', ')}`)
    assert.match(
      plan.solver.notes ?? '',
      /stream priorities: .* raised \(best of 6 sets[^;]*; STP [0-9.]+× baseline's/,
    )
    assert.match(plan.solver.notes ?? '', /floors met/)
  })

  it('eclip bench --stream-priorities runs eclip-fit with the raised workers, baseline without', () => {
    const out = mkdtempSync(join(tmpdir(), 'eclip-prio-bench-'))
    const mixes = join(out, 'more1.yaml')
    writeFileSync(
      mixes,
      'format: eclip.mixes/1\nmixes:\n  - name: more1\n    workers: [{ model: vgg19 }, { model: shufflenet }, { model: albert }]\n',
    )
    const args = [
      'bench',
      '--mix',
      mixes,
      '--policies',
      'baseline,eclip-fit',
      '--modes',
      'graph',
      '--batch',
      '1',
      '--stream-priorities',
      '--fit-starts',
      'one',
      '--duration',
      '0.05',
      '--warmup',
      '0.01',
      '--no-solo',
      '--no-plots',
    ]
    const r = eclip(...args, '--out', out)
    assert.equal(r.status, 0, r.stderr)
    const fit = readFile<Plan>('plan', join(out, 'plans', 'more1.eclip-fit.b1.plan.json'))
    const base = readFile<Plan>('plan', join(out, 'plans', 'more1.baseline.b1.plan.json'))
    assert.ok(fit.workers.some((w) => w.streamPriority === 'high'))
    assert.ok(base.workers.every((w) => w.streamPriority === undefined))
    // tuned: the sets measured on the backend after the measured search, said on stderr and in the plan
    const tunedOut = join(out, 'tuned')
    const t = eclip(
      ...args,
      '--tune',
      '--tune-candidates',
      '1',
      '--tune-evaluations',
      '0',
      '--tune-priority-plans',
      '2',
      '--out',
      tunedOut,
    )
    assert.equal(t.status, 0, t.stderr)
    const tunedFit = readFile<Plan>('plan', join(tunedOut, 'plans', 'more1.eclip-fit.b1.plan.json'))
    // the six sets of three workers on each of the two best measured plans (--tune-priority-plans 2); 17 runs: baseline
    // co-location, the baseline's placement, the homes, the first search's best and the second's (the default slack)
    assert.equal(tunedFit.solver.tuning?.prioritySets, 12)
    assert.equal(tunedFit.solver.tuning?.priorityPlans, 2)
    assert.match(
      t.stderr,
      /more1 eclip-fit tuned on sim: 17 runs .*12 sets of raised workers measured on the 2 best plans \(taken: #[12]\) \(raised: /,
    )
  })

  it('eclip serve: the config’s streamPriorities scores raised sets for the plan made at start-up; refused elsewhere', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'eclip-prio-serve-')), 'serve.yaml')
    const write = (extra: Record<string, unknown>) =>
      writeFileSync(
        file,
        YAML.stringify({
          backend: 'sim',
          policy: 'eclip-fit',
          profiles: join(root, 'profiles', 'h100'),
          models: [{ model: 'vgg19' }, { model: 'shufflenet' }, { model: 'albert' }],
          ...extra,
        }),
      )
    const setup = async () =>
      resolveServeSetup(readFile<ServeConfig>('serve-config', file), {
        configFile: file,
        planner: defaultPlanner,
      })
    write({ streamPriorities: true })
    const notes = (await setup()).plan?.solver.notes ?? ''
    assert.match(notes, /stream priorities: [^;]*\b6 sets\b/)
    write({})
    const plain = (await setup()).plan
    assert.ok(plain?.workers.every((w) => w.streamPriority === undefined))
    assert.doesNotMatch(plain?.solver.notes ?? '', /stream priorities/)
    write({ policy: 'baseline', streamPriorities: true })
    assert.throws(
      () => readFile<ServeConfig>('serve-config', file),
      /\/streamPriorities: only eclip-fit raises models' streams by it \(this config has policy baseline\)/,
    )
  })

  it('eclip plan --tune --stream-priorities measures the sets on the backend and records them in the tuning', () => {
    const { plan } = planRaised(
      ['--mix', 'mix4'],
      ['--tune', '--tune-candidates', '1', '--tune-evaluations', '0'],
    )
    // baseline co-location, the three seeds, the six sets of three workers on the tuned plan alone (1, the default)
    assert.equal(plan.solver.tuning?.prioritySets, 6)
    assert.deepEqual([plan.solver.tuning?.priorityPlans, plan.solver.tuning?.priorityPlan], [1, 1])
    assert.equal(plan.solver.tuning?.evaluations, 1 + 3 + 6)
    assert.match(
      plan.solver.notes ?? '',
      /TUNED on the simulator backend .*stream priorities: .*6 sets .*measured/,
    )
  })

  it('refuses --stream-priorities without eclip-fit or with --table', () => {
    const h100 = join(root, 'profiles', 'h100')
    const cases: [string[], RegExp][] = [
      [
        ['plan', '--mix', 'mix7', '--profiles', h100, '--policy', 'eclip'],
        /--stream-priorities sets eclip-fit's .*--policy eclip has no eclip-fit/,
      ],
      [['plan', '--mix', 'mix7', '--profiles', h100, '--table'], /not a table's/],
      [
        ['bench', '--mix', 'mix7', '--policies', 'model-wise'],
        /--policies baseline,model-wise has no eclip-fit/,
      ],
    ]
    for (const [args, want] of cases) {
      const r = eclip(...args, '--stream-priorities')
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`)
      assert.match(r.stderr, want)
    }
  })
})
