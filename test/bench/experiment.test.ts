import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { handPlanner } from '../../bench/hand-planner.ts'
import { type ExperimentOptions, runExperiment } from '../../src/bench/experiment.ts'
import { table, textReport, writeFigures } from '../../src/bench/report.ts'
import type { ExecuteBackend } from '../../src/execute/backend.ts'
import { SimBackend } from '../../src/execute/sim/index.ts'
import {
  type Mix,
  POLICIES,
  type Policy,
  parseFormat,
  type Results,
  type Run,
} from '../../src/formats/index.ts'
import { normalise } from '../../src/measure/metrics.ts'
import { makePlanTable } from '../../src/plan/table.ts'
import { syntheticProfile } from '../../src/profile/synthetic.ts'
import { gpu, simExperiment } from './sim-experiment.ts'

const mixes: Mix[] = [
  { name: 'mix7', workers: [{ model: 'alexnet', count: 3 }] },
  { name: 'mix5', workers: [{ model: 'resnext101' }, { model: 'shufflenet' }] },
]

const experiment = (
  seed: number,
  rate?: number,
  backend: ExecuteBackend = new SimBackend(),
  extra: Partial<ExperimentOptions> = {},
) =>
  runExperiment(
    simExperiment({
      mixes,
      policies: [...POLICIES],
      modes: ['stream', 'graph'],
      backend,
      planner: handPlanner,
      loop: rate ? { kind: 'open', ratePerWorker: rate } : { kind: 'closed' },
      warmupS: 0.005,
      windowS: 0.05,
      seed,
      solo: true,
      ...extra,
    }),
  )

const close = (a: number | null | undefined, b: number) =>
  assert.ok(
    a !== null && a !== undefined && Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b)),
    `${a} ≠ ${b}`,
  )

/** Everything but wall-clock times. */
const numbers = (runs: Run[]) => runs.map(({ wallS: _w, ...r }) => r)

describe('bench experiment on the simulator', () => {
  it('runs every (mix, policy, mode) plus one solo run per model, all normalised', async () => {
    const runs = await experiment(1)
    const mix = runs.filter((r) => r.role === 'mix')
    // per mix: baseline, model-wise, kw-ioctl/stream, kw-prealloc ×2, eclip ×2, eclip-fit ×2, mps, mps-unlimited
    assert.equal(mix.length, 2 * 11)
    assert.ok(mix.some((r) => r.policy === 'mps') && mix.some((r) => r.policy === 'mps-unlimited'))
    assert.deepEqual(
      runs.filter((r) => r.role === 'solo').map((r) => r.mix),
      ['solo-alexnet-b1-fp16', 'solo-resnext101-b1-fp16', 'solo-shufflenet-b1-fp16'],
    )
    for (const r of mix) {
      assert.ok(r.metrics.throughputVsBaseline !== null && r.metrics.energyEffVsBaseline !== null, r.id)
      // Jain's index is undefined only when no worker completed anything (kw-ioctl's 1.8 ms per switch)
      if (r.metrics.requests > 0) assert.ok((r.metrics.jainFairness ?? 2) <= 1 + 1e-12, r.id)
      else assert.equal(r.policy, 'kw-ioctl')
      for (const w of r.workers)
        assert.ok(w.normVsSolo !== null && w.normVsSolo <= 1 + 1e-6, `${r.id} ${w.name}`)
    }
    const results: Results = {
      format: 'eclip.results/1',
      runs,
      requestLog: null,
      provenance: {
        date: 'x',
        method: 'simulated',
        tool: 'test',
        eclip: '0',
        node: process.version,
        seed: 1,
        command: 'test',
        warnings: [],
      },
    }
    parseFormat('results', results, 'results')
    // kw-ioctl pays 1.8 ms per switch: far slower than kw-prealloc on the same plan shape
    const thr = (id: string) => runs.find((r) => r.id === id)?.metrics.throughputVsBaseline ?? Number.NaN
    assert.ok(thr('mix5|kw-ioctl|stream|bmix|sim') < 0.5 * thr('mix5|kw-prealloc|stream|bmix|sim'))
    // graph mode saves the switch waits and launches of stream mode
    assert.ok(thr('mix5|kw-prealloc|graph|bmix|sim') >= thr('mix5|kw-prealloc|stream|bmix|sim'))
  })

  it('keeps every request log consistent: finite times, arrival ≤ start < end, one request at a time per worker', async () => {
    let checked = 0
    for (const rate of [undefined, 3000])
      await experiment(2, rate, new SimBackend(), {
        onResult: (run, result) => {
          for (const [wi, w] of result.workers.entries()) {
            for (let i = 0; i < w.endUs.length; i++) {
              const a = w.arrivalUs[i] as number
              const s0 = w.startUs[i] as number
              const e = w.endUs[i] as number
              assert.ok(Number.isFinite(a) && Number.isFinite(s0) && Number.isFinite(e), run.id)
              assert.ok(a <= s0 && s0 < e && e <= result.windowEndUs, `${run.id} worker ${wi} request ${i}`)
              if (i > 0) assert.ok(s0 >= (w.endUs[i - 1] as number) - 1e-9, `${run.id} overlapping requests`)
              checked++
            }
          }
          assert.ok(result.energyJ > 0 && Number.isFinite(result.energyJ))
        },
      })
    assert.ok(checked > 1000)
  })

  it('gives the same numbers for the same seed, other numbers for another (open loop)', async () => {
    const a = numbers(await experiment(3, 500))
    const b = numbers(await experiment(3, 500))
    const c = numbers(await experiment(4, 500))
    assert.deepEqual(a, b)
    assert.notDeepEqual(a, c)
  })

  it('writes the paper-style tables and every figure as SVG and PNG', async () => {
    const runs = await experiment(1)
    const t = table(runs, 'throughputVsBaseline', 'Normalised throughput')
    const lines = t.split('\n')
    assert.match(lines[0] ?? '', /simulated/)
    assert.match(lines[1] ?? '', /^mix\s+baseline\s+model-wise\s+kw-ioctl\/stream\s+kw-prealloc\/stream/)
    assert.match(lines.at(-1) ?? '', /^mean\s+1\.00\s/)
    assert.match(textReport(runs), /Switches per request/)
    const dir = mkdtempSync(join(tmpdir(), 'eclip-fig-'))
    const { files } = await writeFigures(runs, dir, {
      profiles: [syntheticProfile({ model: 'shufflenet', gpu })],
      tolerance: 0.05,
      caption: 'simulated, synthetic profiles',
    })
    for (const f of [
      'fig-stp',
      'fig-worst-worker',
      'fig-throughput',
      'fig-p95',
      'fig-energy-efficiency',
      'fig-requests-per-joule',
      'table1-switches',
      'fig3-rightsizes-shufflenet.b1.fp16',
    ]) {
      const svg = readFileSync(join(dir, `${f}.svg`), 'utf8')
      assert.match(svg, /^<svg/)
      assert.match(svg, /<text/)
      // where the numbers come from, on every figure of runs (a line under the title, not part of it)
      if (!f.startsWith('fig3')) assert.match(svg, />simulated, synthetic profiles</)
      const png = readFileSync(join(dir, `${f}.png`))
      assert.equal(png.subarray(1, 4).toString(), 'PNG')
    }
    assert.equal(files.length, 16)
  })
})

/** eclip-live's tables over the hand planner (eclip-fit), and above 6 workers the subsets asked for. */
const tables: NonNullable<ExperimentOptions['tablePlanner']> = (g, mix, workers, profiles, reuse, subsets) =>
  makePlanTable(g, mix, workers, profiles, {
    policy: 'eclip-fit',
    planner: handPlanner,
    reuse,
    ...(subsets ? { subsets } : {}),
  })

/** An eclip-live experiment of one mix on the simulator (graph mode, synthetic profiles, 0.1-s window). */
const liveExperiment = (mix: Mix, extra: Partial<ExperimentOptions>): ExperimentOptions =>
  simExperiment({
    mixes: [mix],
    policies: ['eclip-live'],
    planner: handPlanner,
    tablePlanner: tables,
    warmupS: 0.005,
    windowS: 0.1,
    seed: 1,
    solo: false,
    ...extra,
  })

describe('eclip-live in the bench: a plan table followed, each of its sets held', () => {
  const onoff = {
    kind: 'onoff',
    on: { dist: 'exponential', meanS: 0.004 },
    off: { dist: 'exponential', meanS: 0.004 },
  }
  const live = () =>
    runExperiment(
      liveExperiment(
        {
          name: 'trio',
          workers: [
            { model: 'alexnet', arrival: onoff },
            { model: 'vgg19', arrival: onoff },
            { model: 'shufflenet', arrival: onoff },
          ],
        } as Mix,
        { policies: ['baseline', 'eclip-fit', 'eclip-live'], holdUs: 1000, seed: 3, solo: true },
      ),
    ).then(normalise)

  it('runs every set of the table alone, closed loop, under its plan, and compares each active set to it', async () => {
    const runs = await live()
    const held = runs.filter((r) => r.role === 'set-alone')
    // 7 subsets of three workers, each once
    assert.deepEqual(held.map((r) => r.mix).sort(), [
      'trio[alexnet#0+shufflenet#0+vgg19#0]',
      'trio[alexnet#0+shufflenet#0]',
      'trio[alexnet#0+vgg19#0]',
      'trio[alexnet#0]',
      'trio[shufflenet#0+vgg19#0]',
      'trio[shufflenet#0]',
      'trio[vgg19#0]',
    ])
    for (const r of held) assert.equal(r.loop.kind, 'closed', r.mix)
    const lr = runs.find((r) => r.role === 'mix' && r.policy === 'eclip-live')
    const lv = lr?.metrics.live
    assert.ok(lr && lv, 'the table-following run has live metrics')
    assert.equal(lv.tablePlans, 7)
    assert.ok(lv.switches > 0, 'on/off sources change the active set')
    // the sets' time adds up to the window
    close(
      lv.sets.reduce((a, s) => a + s.timeS, 0),
      lr.windowS,
    )
    const withRequests = lv.sets.filter((s) => s.workers.some((w) => w.requests > 0))
    assert.ok(withRequests.length >= 3, 'several active sets served requests')
    for (const s of withRequests) {
      assert.ok(s.speedVsHeld !== null && s.speedVsHeld > 0, s.key)
      for (const w of s.workers)
        if (w.requests > 0) {
          assert.ok(w.heldServiceUs !== null && w.heldServiceUs > 0, `${s.key} ${w.name}`)
          // p99 of the requests under the set's plan against the held run's
          assert.ok(w.p99ServiceUs && w.heldP99Us && w.p99VsHeld, `${s.key} ${w.name} p99`)
          close(w.p99VsHeld, w.p99ServiceUs / w.heldP99Us)
        }
    }
    // every request in the window counted once in the set it started in and once in the set it ended in
    for (const w of lr.workers) {
      const mine = lv.sets.flatMap((s) => s.workers.filter((x) => x.name === w.name))
      let byStart = 0
      let byEnd = 0
      for (const x of mine) {
        byStart += x.requests
        byEnd += x.endedRequests ?? 0
      }
      assert.equal(byStart, w.requests, `${w.name} by start`)
      assert.equal(byEnd, w.requests, `${w.name} by end`)
    }
    // a switch overtakes some requests: they end in another set than they started in
    assert.ok(
      lv.sets.some((s) => s.workers.some((x) => (x.endedRequests ?? 0) !== x.requests)),
      'some request ended in another set',
    )
    for (const s of lv.sets)
      for (const w of s.workers)
        if ((w.endedRequests ?? 0) > 0) {
          assert.ok(w.p99EndedUs && w.heldP99Us, `${s.key} ${w.name} p99 by end`)
          close(w.p99EndedVsHeld, w.p99EndedUs / w.heldP99Us)
        }
    // a worker alone runs its alone plan: as fast as held (no other worker to share with)
    const alone = lv.sets.find((s) => s.key === 'vgg19#0' && (s.workers[0]?.requests ?? 0) > 0)
    if (alone) assert.ok(Math.abs((alone.speedVsHeld ?? 0) - 1) < 0.02, `vgg19 alone ${alone.speedVsHeld}`)
    const t = textReport(runs)
    assert.match(t, /Following the active set \(eclip-live\) vs static plans — trio, SIMULATED/)
    assert.match(t, /Active sets of trio eclip-live\/graph/)
    assert.match(t, /p99 started here\/held/)
    assert.match(t, /ended here: n: p99\/held/)
  })

  it("holds each active set against baseline's requests in the same set of the same traffic", async () => {
    const runs = await live()
    const base = runs.find((r) => r.role === 'mix' && r.policy === 'baseline')
    const lr = runs.find((r) => r.role === 'mix' && r.policy === 'eclip-live')
    const traffic = base?.metrics.activeSets
    assert.ok(base && lr && traffic, "baseline's run has the active sets of its traffic")
    // only baseline's: the static plan's run and the held runs have none
    assert.ok(runs.every((r) => r === base || r.metrics.activeSets === undefined))
    assert.equal(traffic.holdMs, 1)
    close(
      traffic.sets.reduce((a, s) => a + s.timeS, 0),
      base.windowS,
    )
    // every request of baseline's window in exactly one set
    for (const w of base.workers)
      assert.equal(
        traffic.sets.reduce((a, s) => a + (s.workers.find((x) => x.name === w.name)?.requests ?? 0), 0),
        w.requests,
        w.name,
      )
    const lv = lr.metrics.live as NonNullable<Run['metrics']['live']>
    let compared = 0
    for (const s of lv.sets)
      for (const w of s.workers) {
        const bw: { requests: number; serviceUs: number | null } | undefined = traffic.sets
          .find((x) => x.key === s.key)
          ?.workers.find((x) => x.name === w.name)
        assert.equal(w.baselineRequests, bw?.requests ?? 0, `${s.key} ${w.name}`)
        if (w.requests > 0 && bw?.serviceUs) {
          close(w.speedVsBaseline, bw.serviceUs / (w.serviceUs as number))
          compared++
        } else assert.equal(w.speedVsBaseline, null)
      }
    assert.ok(compared >= 3, `${compared} workers' sets compared`)
    // a worker alone runs baseline's placement on the whole GPU, as under baseline in the same stretch of traffic
    for (const s of lv.sets.filter((x) => x.workers.length === 1 && x.speedVsBaseline != null))
      assert.ok(Math.abs((s.speedVsBaseline as number) - 1) < 0.05, `${s.key} ${s.speedVsBaseline}`)
    const t = textReport(runs)
    assert.match(t, /baseline n: µs here\/there +vs baseline in the same set/)
    // without baseline in the bench, no such column
    const alone = await runExperiment(
      liveExperiment(
        {
          name: 'duo',
          workers: [
            { model: 'alexnet', arrival: onoff },
            { model: 'vgg19', arrival: onoff },
          ],
        } as Mix,
        { policies: ['eclip-live'], holdUs: 1000, seed: 3, solo: false },
      ),
    )
    const only = alone.find((r) => r.role === 'mix')?.metrics.live
    assert.ok(only?.sets.every((s) => s.speedVsBaseline === undefined))
    assert.doesNotMatch(textReport(alone), /vs baseline in the same set/)
  })
})

describe('a mix’s minTotalShare in the bench', () => {
  it('reaches the mix’s static plans and its table; absent, neither gets one', async () => {
    const got: { share?: number; statics: (number | undefined)[]; tables: (number | undefined)[] }[] = []
    for (const share of [undefined, 1.02]) {
      const g: (typeof got)[number] = { statics: [], tables: [] }
      if (share !== undefined) g.share = share
      got.push(g)
      const mix = {
        name: 'duo',
        ...(share !== undefined ? { minTotalShare: share } : {}),
        workers: [{ model: 'alexnet' }, { model: 'vgg19' }],
      } as Mix
      await runExperiment(
        liveExperiment(mix, {
          policies: ['eclip-fit', 'eclip-live'],
          planner: (gpu_, m, w, p, o) => {
            g.statics.push(o.minTotalShare)
            return handPlanner(gpu_, m, w, p, o)
          },
          tablePlanner: (gpu_, m, w, p, reuse, subsets, minTotalShare) => {
            g.tables.push(minTotalShare)
            return tables(gpu_, m, w, p, reuse, subsets)
          },
        }),
      )
    }
    assert.deepEqual(got, [
      { statics: [undefined], tables: [undefined] },
      { share: 1.02, statics: [1.02], tables: [1.02] },
    ])
  })
})

describe('eclip-live in the bench above 6 workers: the sets traffic shows planned on demand', () => {
  /** The seven-worker on/off experiment whose sets are planned on demand, its planning charged `planningMs`. */
  const seven = async (planningMs: number) => {
    // seven on/off workers: a table of the whole set only; the on/off periods show a handful of sets
    const onoff = {
      kind: 'onoff',
      on: { dist: 'exponential', meanS: 0.003 },
      off: { dist: 'exponential', meanS: 0.009 },
    }
    const models = ['alexnet', 'vgg19', 'shufflenet', 'resnet152', 'resnext101', 'densenet201', 'albert']
    const subsetsAsked: number[] = []
    // the planning's clock: each planning takes planningMs (the host's wall time would make the run load-dependent)
    let ticks = 0
    const runs = await runExperiment(
      liveExperiment({ name: 'seven', workers: models.map((model) => ({ model, arrival: onoff })) } as Mix, {
        policies: ['eclip-live'],
        holdUs: 500,
        seed: 5,
        solo: false,
        planningClock: () => (ticks++ % 2) * planningMs,
        tablePlanner: (g, mix, workers, profiles, reuse, subsets) => {
          subsetsAsked.push(subsets?.length ?? 0)
          return tables(g, mix, workers, profiles, reuse, subsets)
        },
      }),
    )
    const lr = runs.find((r) => r.role === 'mix')
    const lv = lr?.metrics.live
    assert.ok(lr && lv)
    // requests that ran under the plans of sets smaller than the whole
    const ownPlans = lv.sets.filter(
      (s) => s.workers.length < models.length && s.workers.some((w) => w.requests > 0),
    )
    return { runs, subsetsAsked, lr, lv, ownPlans }
  }

  it('plans the sets a first run shows, follows each from its first showing plus the planning, holds each', async () => {
    const { runs, subsetsAsked, lr, lv, ownPlans } = await seven(10)
    // the table at planning time (the whole set), then once with the sets the first run showed
    assert.equal(subsetsAsked.length, 2)
    assert.equal(subsetsAsked[0], 0)
    const asked = subsetsAsked[1] as number
    assert.ok(asked >= 3, `${asked} sets planned on demand`)
    assert.equal(lv.tablePlans, 1 + asked)
    assert.ok(
      lr.notes.some((n) => /sets traffic showed planned on demand in 0\.01 s/.test(n)),
      lr.notes.join('\n'),
    )
    // requests ran under plans of sets, not only the whole set's; every set planned is held
    assert.ok(ownPlans.length > 0)
    const held = runs.filter((r) => r.role === 'set-alone')
    assert.equal(held.length, 1 + asked)
  })

  it('uses no set planned on demand before its planning ends: planning longer than the run leaves the whole set', async () => {
    const { lv, ownPlans } = await seven(1000)
    assert.ok(lv.tablePlans > 1, 'the sets were planned')
    assert.deepEqual(
      ownPlans.map((s) => s.workers.length),
      [],
    )
  })

  for (const seed of [1, 3])
    it(`resumed with every run kept, runs none and keeps the held runs of the sets planned on demand in their places (seed ${seed})`, async () => {
      const onoff = {
        kind: 'onoff',
        on: { dist: 'exponential', meanS: 0.003 },
        off: { dist: 'exponential', meanS: 0.009 },
      }
      const models = ['alexnet', 'vgg19', 'shufflenet', 'resnet152', 'resnext101', 'densenet201', 'albert']
      const mix = { name: 'seven', workers: models.map((model) => ({ model, arrival: onoff })) } as Mix
      const o = {
        policies: ['baseline', 'eclip-live'] as Policy[],
        modes: ['stream', 'graph'] as ('stream' | 'graph')[],
        holdUs: 500,
        seed,
      }
      const done: string[] = []
      const runs = await runExperiment(
        liveExperiment(mix, {
          ...o,
          onMixDone: (m) => done.push(m),
        }),
      )
      assert.deepEqual(done, ['seven'])
      assert.ok(runs.filter((r) => r.role === 'set-alone').length > 2)
      const none: ExecuteBackend = {
        name: 'sim',
        run: () => Promise.reject(new Error('a kept run was run again')),
        close: async () => {},
      }
      const again = await runExperiment(
        liveExperiment(mix, {
          ...o,
          backend: none,
          kept: { runs: new Map(runs.map((r) => [r.key, r])), mixes: new Set(['seven']) },
          onProgress: (_d, _t, label) => assert.equal(label, 'done', 'no progress on a kept run'),
        }),
      )
      assert.deepEqual(
        again.map((r) => r.id),
        runs.map((r) => r.id),
      )
      // a run of a kept mix missing from the kept runs (it failed) is not run again either
      const failed = runs.find((r) => r.policy === 'baseline')
      const lacking = await runExperiment(
        liveExperiment(mix, {
          ...o,
          backend: none,
          kept: {
            runs: new Map(runs.filter((r) => r !== failed).map((r) => [r.key, r])),
            mixes: new Set(['seven']),
          },
        }),
      )
      assert.deepEqual(
        lacking.map((r) => r.id),
        runs.filter((r) => r !== failed).map((r) => r.id),
      )
    })
})

describe('simulated vs measured', () => {
  it('shows GPU and simulator runs of the same experiment side by side, each normalised on its own backend', async () => {
    // a stand-in "GPU" backend: the simulator with every kernel 20% slower than profiled
    const sim = new SimBackend()
    const fakeGpu: ExecuteBackend = {
      name: 'gpu',
      run: (spec) =>
        sim.run({
          ...spec,
          profiles: spec.profiles.map((p) => ({
            ...p,
            kernels: p.kernels.map((k) => ({ ...k, timesUs: k.timesUs.map((t) => t * 1.2) })),
          })),
        }),
      close: async () => {},
    }
    const gpuRuns = await experiment(1, undefined, fakeGpu)
    const simRuns = await experiment(1)
    const runs = normalise([...gpuRuns, ...simRuns])
    const g = runs.find((r) => r.id === 'mix5|eclip|graph|bmix|gpu')
    const s = runs.find((r) => r.id === 'mix5|eclip|graph|bmix|sim')
    assert.ok(g && s && g.key === s.key)
    const gb = runs.find((r) => r.id === 'mix5|baseline|-|bmix|gpu')
    close(
      g.workers[0]?.normVsBaseline,
      (g.workers[0]?.throughputRps ?? 0) / (gb?.workers[0]?.throughputRps ?? 1),
    )
    const t = table(runs, 'throughputVsBaseline', 'Normalised throughput')
    assert.match(t.split('\n')[0] ?? '', /measured on GPU vs simulated/)
    assert.match(t, /^mix5 +1\.00 \(sim 1\.00\) +\d\.\d\d \(sim \d\.\d\d\)/m)
  })
})

describe('eclip bench (CLI)', () => {
  const eclip = join(import.meta.dirname, '..', '..', 'bin', 'eclip.mjs')
  const hasGpu = spawnSync('nvidia-smi', ['-L'], { encoding: 'utf8' }).status === 0
  it('fails --backend gpu clearly (non-zero exit, one eclip: line, no results) where no GPU backend can run', {
    skip: hasGpu && 'a GPU is present: the GPU tests cover --backend gpu',
    timeout: 120_000,
  }, () => {
    const out = mkdtempSync(join(tmpdir(), 'eclip-bench-'))
    const r = spawnSync(
      process.execPath,
      [eclip, 'bench', '--backend', 'gpu', '--mix', 'mix7', '--policies', 'baseline', '--out', out],
      { encoding: 'utf8', timeout: 110_000 },
    )
    assert.notEqual(r.status, 0)
    assert.equal(r.signal, null, 'timed out')
    assert.match(r.stderr, /^eclip: /m)
    assert.equal(existsSync(join(out, 'results.json')), false)
  })
  it('rejects an unknown policy or mix with exit code 2', () => {
    const r = spawnSync(process.execPath, [eclip, 'bench', '--policies', 'fastest'], { encoding: 'utf8' })
    assert.equal(r.status, 2)
    assert.match(r.stderr, /unknown policy "fastest"/)
    const m = spawnSync(process.execPath, [eclip, 'bench', '--mix', 'mix99'], { encoding: 'utf8' })
    assert.equal(m.status, 2)
    assert.match(m.stderr, /no mix "mix99"/)
  })
})
