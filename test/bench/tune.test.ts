// `eclip bench --tune` and `eclip plan --tune` end to end: on the simulator backend (what CI runs), and on the GPU
// backend's client against a stand-in backend speaking the real frames (test/gpu/fake_run_backend.py): the tuning
// runs before the measured ones, its record in the plan and in results.json, and bad flags refused by name.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { type Plan, type Results, readFile } from '../../src/formats/index.ts'
import { SIM_FLOOR_SLACK } from '../../src/plan/tune.ts'

const repo = join(import.meta.dirname, '..', '..')
const bin = join(repo, 'bin', 'eclip.mjs')
const profiles = join(repo, 'profiles', 'h100')
const eclip = (args: string[], env: NodeJS.ProcessEnv = process.env) =>
  spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env })
const tmp = () => mkdtempSync(join(tmpdir(), 'eclip-tune-'))

/** A stand-in GPU backend that appends every run message to `record` (test/gpu/fake_run_backend.py). */
function fakePython(record: string): string {
  const f = join(tmp(), 'python')
  const venv = join(repo, '.venv', 'bin', 'python')
  writeFileSync(
    f,
    `#!/usr/bin/env bash\nexec '${existsSync(venv) ? venv : 'python3'}' '${join(repo, 'test', 'gpu', 'fake_run_backend.py')}' '${record}'\n`,
  )
  chmodSync(f, 0o755)
  return f
}
const sent = (record: string) =>
  readFileSync(record, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { key: string; checkOutputs: boolean; warmupS: number; windowS: number })

const bench = [
  'bench',
  '--mix',
  'mix7',
  '--batch',
  '8',
  '--profiles',
  profiles,
  '--modes',
  'graph',
  '--no-plots',
]
const budget = ['--tune', '--tune-candidates', '2', '--tune-evaluations', '2']
/**
 * `eclip bench` of eclip-fit tuned on the simulator backend within `budget`, `extra` flags added: its output folder
 * and run.
 */
const tunedFit = (...extra: string[]) => {
  const out = tmp()
  const r = eclip([
    ...bench,
    '--policies',
    'eclip-fit',
    ...budget,
    ...extra,
    '--duration',
    '0.1',
    '--no-solo',
    '--out',
    out,
  ])
  return { out, r }
}

describe('eclip bench --tune', () => {
  it('tunes eclip-fit on the simulator backend before the runs and records the tuning', () => {
    const { out, r } = tunedFit()
    assert.equal(r.status, 0, r.stderr)
    assert.match(r.stderr, /mix7 eclip-fit tuned on sim: 7 runs in/)
    assert.match(r.stdout, /eclip-fit's plans TUNED on the simulator backend before the runs/)
    const results = readFile<Results>('results', join(out, 'results.json'))
    const fit = results.runs.find((x) => x.policy === 'eclip-fit')
    const t = fit?.tuning
    // baseline co-location, the baseline's placement, model-wise homes, the simulator's 2 best, 2 more
    assert.ok(t && t.evaluations === 7 && t.backend === 'sim' && t.seconds >= 0, JSON.stringify(t))
    assert.equal(results.runs.find((x) => x.policy === 'baseline')?.tuning, undefined)
    // the plan the run executed carries the same record and says it was tuned
    const plan = readFile<Plan>('plan', join(out, fit?.planFile as string))
    assert.deepEqual(plan.solver.tuning, t)
    assert.match(plan.solver.notes ?? '', /TUNED on the simulator backend/)
  })

  it('--tune-sim-floor-slack: says so before the runs (the default too; nothing at 0) and records the slack and the margin the tuning held', () => {
    const said = (slack: string) =>
      new RegExp(
        `the simulator's 2 best candidates, .* then up to 2 more of the simulator's search again with every floor ${slack.replace('.', '\\.')} lower \\(the best taken where it beats the search's end by the margin\\)`,
      )
    const recorded = (out: string) =>
      readFile<Results>('results', join(out, 'results.json')).runs.find((x) => x.policy === 'eclip-fit')
        ?.tuning
    const given = tunedFit('--tune-sim-floor-slack', '0.1')
    assert.equal(given.r.status, 0, given.r.stderr)
    assert.match(given.r.stdout, said('0.1'))
    const t = recorded(given.out)
    assert.deepEqual([t?.simFloorSlack, t?.floorMargin], [0.1, 0.02])
    const byDefault = tunedFit()
    assert.match(byDefault.r.stdout, said(String(SIM_FLOOR_SLACK)))
    assert.equal(recorded(byDefault.out)?.simFloorSlack, SIM_FLOOR_SLACK)
    const none = tunedFit('--tune-sim-floor-slack', '0')
    assert.equal(none.r.status, 0, none.r.stderr)
    assert.doesNotMatch(none.r.stdout, /search again/)
    assert.equal(recorded(none.out)?.simFloorSlack, 0)
  })

  it("tunes eclip-live's set plans of two or more workers too, each against its own set's baseline, none raised", () => {
    const out = tmp()
    const r = eclip([
      'bench',
      '--mix',
      join(repo, 'examples', 'onoff-long.yaml'),
      '--batch',
      '1',
      '--profiles',
      profiles,
      '--modes',
      'graph',
      '--no-plots',
      '--policies',
      'eclip-fit,eclip-live',
      ...budget,
      // floors held well above the given ones on the windows: close calls (CONFIRM's longer runs) whatever the
      // profiles' small changes, not only where the shipped ones happen to make one
      '--tune-floor-margin',
      '0.08',
      // eclip-fit's own plan only: the set plans are made without
      '--stream-priorities',
      '--duration',
      '0.5',
      '--warmup',
      '0.05',
      '--no-solo',
      '--out',
      out,
    ])
    assert.equal(r.status, 0, r.stderr)
    assert.match(r.stdout, /eclip-live's set plans of two or more workers TUNED on the simulator/)
    // the three pairs and the whole set, each tuned once (a lone model takes the baseline's placement, untuned)
    const runs = [...r.stderr.matchAll(/onoff-long-mix3\[([^\]]+)\] eclip-fit tuned on sim: (\d+) runs/g)]
    const tuned = runs.map((m) => m[1])
    assert.equal(tuned.length, 4, r.stderr)
    const results = readFile<Results>('results', join(out, 'results.json'))
    const run = results.runs.find((x) => x.policy === 'eclip-live')
    const table = JSON.parse(readFileSync(join(out, run?.planFile as string), 'utf8')) as {
      plans: { key: string; plan: Plan }[]
    }
    // a pair: baseline co-location, the baseline's placement, the homes, the 2 best, 2 moves tried; the whole set 2
    // more, its second search's seeds (the default slack) that the first search did not have (a pair's has none);
    // and where plans only the held floors ruled out met them as given and beat the tuning's choice, CONFIRM's longer
    // runs (here the whole set's)
    const confirmRuns = (set: string | undefined) =>
      table.plans.find((p) => p.key === set)?.plan.solver.tuning?.confirmed?.runs ?? 0
    assert.equal(confirmRuns(tuned.find((t) => t?.split('+').length === 3)), 5)
    assert.deepEqual(
      runs.map((m) => Number(m[2])),
      tuned.map((t) => (t?.split('+').length === 3 ? 9 : 7) + confirmRuns(t)),
      r.stderr,
    )
    assert.equal(new Set(tuned).size, 4)
    assert.doesNotMatch(r.stderr, /\] eclip-fit tuned on sim: [^\n]*sets of raised workers/)
    // eclip-fit's own plan: its close call measured again too (5 runs) before the sets
    assert.match(
      r.stderr,
      /onoff-long-mix3 eclip-fit tuned on sim: 20 runs [^\n]*6 sets of raised workers measured \(raised: /,
    )
    for (const { key, plan } of table.plans) {
      const many = key.includes('+')
      assert.equal(plan.solver.tuning !== undefined, many, key)
      assert.equal(plan.solver.tuning?.prioritySets, undefined, key)
      assert.ok(
        plan.workers.every((w) => w.streamPriority === undefined),
        key,
      )
      if (many) assert.equal(plan.params.minTotalShare, 1.01, key)
    }
  })

  it("tunes eclip-rt's best-effort plan: its best-effort workers alone, the record with the eclip-rt run", () => {
    const dir = tmp()
    const workload = join(dir, 'rt.yaml')
    writeFileSync(
      workload,
      [
        'format: eclip.workloads/1',
        'workloads:',
        '  - name: rt',
        '    durationS: 60',
        '    workers:',
        '      - { model: alexnet, priority: realtime, sloMs: 10, arrival: { kind: poisson, rate: 100 } }',
        '      - { model: shufflenet, priority: best-effort }',
        '      - { model: resnet152, priority: best-effort }',
        '',
      ].join('\n'),
    )
    const out = join(dir, 'out')
    const r = eclip([
      'bench',
      '--workload',
      workload,
      '--profiles',
      profiles,
      '--policies',
      'eclip-rt',
      ...budget,
      '--duration',
      '0.1',
      '--warmup',
      '0.02',
      '--no-solo',
      '--no-plots',
      '--out',
      out,
    ])
    assert.equal(r.status, 0, r.stderr)
    // tuned among the best-effort workers: their own mix, once
    assert.match(r.stderr, /rt eclip-rt tuned on sim: 7 runs in/)
    assert.match(
      r.stdout,
      /^eclip-rt's best-effort plans \(its best-effort workers alone, .*\) TUNED on the simulator/m,
    )
    const results = readFile<Results>('results', join(out, 'results.json'))
    const rt = results.runs.find((x) => x.policy === 'eclip-rt')
    assert.ok(
      rt?.tuning && rt.tuning.evaluations === 7 && rt.tuning.backend === 'sim',
      JSON.stringify(rt?.tuning),
    )
    const plan = readFile<Plan>('plan', join(out, rt.planFile as string))
    assert.deepEqual(plan.solver.tuning, rt.tuning)
    assert.match(
      plan.solver.notes ?? '',
      /best-effort workers planned by eclip-fit .*measured in tuning on the sim backend/,
    )
    // the real-time worker stays whole and ungated; the best-effort ones wait at their gates
    assert.deepEqual(
      plan.workers.map((w) => w.gate?.role ?? null),
      ['raise', 'wait', 'wait'],
    )
  })

  it('says where eclip-rt has nothing to tune, and names only the plans it tuned', () => {
    // mix7 has no real-time worker: eclip-rt plans it as without --tune, and says so
    const p = eclip([
      'plan',
      '--mix',
      'mix7',
      '--profiles',
      profiles,
      '--policy',
      'eclip-rt',
      ...budget,
      '--out',
      join(tmp(), 'p.json'),
    ])
    assert.equal(p.status, 0, p.stderr)
    assert.match(p.stderr, /WARNING: --tune: eclip-rt's plan of mix7 has no best-effort plan to tune/)
    // eclip-rt's priority mechanism has no best-effort plan: only eclip-fit's is tuned, and the header says so
    const b = eclip([
      ...bench,
      '--policies',
      'eclip-fit,eclip-rt',
      '--rt-mechanism',
      'priority',
      ...budget,
      '--duration',
      '0.05',
      '--no-solo',
      '--out',
      tmp(),
    ])
    assert.equal(b.status, 0, b.stderr)
    assert.match(b.stdout, /^eclip-fit's plans TUNED on the simulator backend/m)
    assert.doesNotMatch(b.stdout, /eclip-rt's best-effort plans/)
  })

  it('on the GPU backend: the tuning runs first, without output checks; the measured runs are fresh', () => {
    const out = tmp()
    const record = join(tmp(), 'runs.jsonl')
    const env = { ...process.env, ECLIP_PYTHON: fakePython(record) }
    const args = [...bench, '--backend', 'gpu', '--policies', 'baseline,eclip-fit', ...budget]
    const r = eclip(
      [
        ...args,
        '--tune-window',
        '0.05',
        '--tune-warmup',
        '0.01',
        '--duration',
        '0.1',
        '--warmup',
        '0.02',
        '--no-solo',
        '--no-sim-compare',
        '--out',
        out,
      ],
      env,
    )
    assert.equal(r.status, 0, r.stderr)
    const msgs = sent(record)
    const tuning = msgs.filter((m) => /\|tune\d+$/.test(m.key))
    assert.equal(tuning.length, 7)
    assert.ok(tuning.every((m) => m.checkOutputs === false && m.warmupS === 0.01 && m.windowS === 0.05))
    // then the bench's own runs, each its own window
    assert.deepEqual(
      msgs.slice(7).map((m) => [m.key, m.windowS]),
      [
        ['mix7|baseline|-|b8', 0.1],
        ['mix7|eclip-fit|graph|b8', 0.1],
      ],
    )
    const results = readFile<Results>('results', join(out, 'results.json'))
    const t = results.runs.find((x) => x.policy === 'eclip-fit')?.tuning
    assert.ok(t && t.backend === 'gpu' && t.gpu === 'NVIDIA H100 80GB HBM3' && t.evaluations === 7)
  })

  it('eclip plan --tune --backend gpu: starts the backend for the tuning, says so in the plan', () => {
    const record = join(tmp(), 'runs.jsonl')
    const file = join(tmp(), 'plan.json')
    const env = { ...process.env, ECLIP_PYTHON: fakePython(record) }
    const r = eclip(
      [
        'plan',
        '--mix',
        'mix7',
        '--batch',
        '8',
        '--profiles',
        profiles,
        '--policy',
        'eclip-fit',
        '--tune',
        '--backend',
        'gpu',
        '--tune-candidates',
        '1',
        '--tune-evaluations',
        '1',
        '--tune-window',
        '0.05',
        '--out',
        file,
      ],
      env,
    )
    assert.equal(r.status, 0, r.stderr)
    assert.equal(sent(record).length, 1 + 2 + 1 + 1)
    const plan = readFile<Plan>('plan', file)
    assert.equal(plan.solver.tuning?.backend, 'gpu')
    assert.match(
      plan.solver.notes ?? '',
      /TUNED on the GPU backend \(NVIDIA H100 80GB HBM3, 0\.5 s warm-up \+ 0\.05 s window per run\): 5 runs/,
    )
  })

  it('eclip plan --tune --tune-floor-margin: the floors held on the windows by the margin given', () => {
    const held = (margin: string) => {
      const file = join(tmp(), 'p.json')
      const args = ['plan', '--mix', 'mix7', '--profiles', profiles, '--policy', 'eclip-fit', ...budget]
      const r = eclip([...args, '--tune-floor-margin', margin, '--out', file])
      assert.equal(r.status, 0, r.stderr)
      return readFile<Plan>('plan', file).solver.notes ?? ''
    }
    assert.match(
      held('0.05'),
      /floors met \(0\.9×; on the windows each floor held 0\.05 higher, to 1 at most\)/,
    )
    assert.doesNotMatch(held('0'), /each floor held [\d.]+ higher/)
  })

  it('refuses bad tuning flags, naming the flag', () => {
    const plan = ['plan', '--mix', 'mix7', '--profiles', profiles]
    const cases: [string[], RegExp][] = [
      [
        [...bench, '--policies', 'baseline,eclip', '--tune'],
        /--tune tunes the plans searched over candidates .*: use eclip-fit, eclip-live or eclip-rt in --policies \(baseline, eclip\)/,
      ],
      [
        [...plan, '--policy', 'eclip', '--tune'],
        /--tune tunes the plans searched over candidates .*: use eclip-fit or eclip-rt in --policy \(eclip\)/,
      ],
      [
        [...bench, '--policies', 'eclip-live', '--table-policy', 'eclip', '--tune'],
        /--tune tunes eclip-live's set plans when they are eclip-fit's: --table-policy eclip has no search to tune/,
      ],
      [
        [...plan, '--policy', 'eclip-rt', '--rt-mechanism', 'priority', '--tune'],
        /--tune tunes eclip-rt's best-effort plan, which only its gate mechanism with --rt-best-effort eclip-fit makes \(here: priority\)/,
      ],
      [
        [...bench, '--policies', 'eclip-rt', '--rt-best-effort', 'whole', '--tune'],
        /--tune tunes eclip-rt's best-effort plan.*\(here: gate, --rt-best-effort whole\)/,
      ],
      [
        [...plan, '--policy', 'eclip-fit', '--tune', '--table'],
        /--tune tunes one eclip-fit plan, not a table's/,
      ],
      [
        [...plan, '--policy', 'eclip-fit', '--tune', '--tune-candidates', '0'],
        /--tune-candidates: expected an integer ≥ 1, got "0"/,
      ],
      [
        [...plan, '--policy', 'eclip-fit', '--tune', '--tune-evaluations', '-1'],
        /--tune-evaluations: expected an integer ≥ 0/,
      ],
      [
        [...bench, '--policies', 'eclip-fit', '--tune', '--tune-window', '0'],
        /--tune-window: expected a number > 0, got "0"/,
      ],
      [
        [...bench, '--policies', 'eclip-fit', '--tune', '--tune-margin', '-0.1'],
        /--tune-margin: expected a number ≥ 0/,
      ],
      [[...bench, '--policies', 'eclip-fit', '--tune-window', '1'], /--tune-window is for --tune/],
      [
        [...bench, '--policies', 'eclip-fit', '--tune', '--tune-priority-plans', '2'],
        /--tune-priority-plans is for --tune with --stream-priorities: add --stream-priorities/,
      ],
      [
        [...plan, '--policy', 'eclip-fit', '--stream-priorities', '--tune-priority-plans', '2'],
        /--tune-priority-plans is for --tune: add --tune/,
      ],
      [
        [...plan, '--policy', 'eclip-fit', '--tune-priority-plans', '2'],
        /--tune-priority-plans is for --tune with --stream-priorities: add --tune and --stream-priorities/,
      ],
      [[...plan, '--policy', 'eclip-fit', '--tune-floor-margin', '0'], /--tune-floor-margin is for --tune/],
      [
        [...plan, '--policy', 'eclip-fit', '--tune-sim-floor-slack', '0.05'],
        /--tune-sim-floor-slack is for --tune/,
      ],
      [
        [...plan, '--policy', 'eclip-fit', '--tune', '--tune-sim-floor-slack', '1'],
        /tune sim floor slack must be in \[0, 1\) \(taken from each floor, a ratio\), got 1/,
      ],
      [
        [...bench, '--policies', 'eclip-fit', '--tune', '--tune-floor-margin', '-0.01'],
        /--tune-floor-margin: expected a number ≥ 0/,
      ],
      [
        [...bench, '--policies', 'eclip-fit', '--tune', '--stream-priorities', '--tune-priority-plans', '0'],
        /--tune-priority-plans: expected an integer ≥ 1, got "0"/,
      ],
      [[...plan, '--policy', 'eclip-fit', '--backend', 'gpu'], /--backend is for --tune/],
      [
        [
          ...plan,
          '--batch',
          '8',
          '--policy',
          'eclip-fit',
          '--tune',
          '--tune-window',
          '0.0001',
          '--tune-warmup',
          '0',
        ],
        /baseline co-location finished no request of alexnet#0, alexnet#1, alexnet#2 in its 0.0001-s window .*--tune-window/,
      ],
    ]
    for (const [args, want] of cases) {
      const r = eclip([...args, '--out', join(tmp(), args[0] === 'plan' ? 'p.json' : 'b')])
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`)
      assert.match(r.stderr, want, args.join(' '))
    }
  })
})
