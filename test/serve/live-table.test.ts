// eclip-live served from a ready plan table (serve config `live.table`, src/serve/live-table.ts): the file's plans
// serve as they are under the served names, in the served order; sets it has no plan for are planned here; a table
// that does not fit the served models is refused at start-up, naming what differs.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import YAML from 'yaml'
import type { Plan, PlanTable, WorkerSpec } from '../../src/formats/index.ts'
import { makePlan } from '../../src/plan/index.ts'
import { makePlanTable } from '../../src/plan/table.ts'
import { loadProfileSet } from '../../src/profile/store.ts'
import { startServe } from '../../src/serve/index.ts'
import type { ActiveSetScheduler } from '../../src/serve/live.ts'
import { readGivenTable } from '../../src/serve/live-table.ts'
import { post, visionBody } from './helpers.ts'

const root = join(import.meta.dirname, '..', '..')
const H100 = join(root, 'profiles', 'h100')
/** A mark no planner writes: a plan carrying it came from the file. */
const FROM_FILE = '2000-01-01T00:00:00.000Z'

/** A model-wise table (no simulator: fast) over mix-named workers, its plans marked, written to a file. */
async function tableFile(models: string[], edit: (t: PlanTable) => void = () => {}): Promise<string> {
  const workers: WorkerSpec[] = models.map((model, i) => ({
    name: `${model}#${i}`,
    model,
    batch: 1,
    dtype: 'fp16',
  }))
  const set = loadProfileSet(H100, workers)
  const t = await makePlanTable(set.gpu, 'pair', workers, set.profiles, {
    policy: 'model-wise',
    planner: (gpu, mix, ws, ps, o) => makePlan(gpu, mix, ws, ps, o),
  })
  for (const e of t.plans) e.plan.createdAt = FROM_FILE
  edit(t)
  const file = join(mkdtempSync(join(tmpdir(), 'eclip-table-')), 'table.json')
  writeFileSync(file, JSON.stringify(t))
  return file
}

function serveConfig(models: Record<string, unknown>[], live: Record<string, unknown>): string {
  const file = join(mkdtempSync(join(tmpdir(), 'eclip-live-table-')), 'serve.yaml')
  writeFileSync(
    file,
    YAML.stringify({
      policy: 'eclip-live',
      backend: 'sim',
      profiles: H100,
      frontends: 0,
      dashboard: false,
      live,
      models,
    }),
  )
  return file
}

const candidates = (models: string[]) => {
  const set = loadProfileSet(
    H100,
    models.map((model) => ({ name: model, model, batch: 1, dtype: 'fp16' })),
  )
  return {
    gpu: set.gpu,
    repository: models.map((model, i) => ({
      name: model,
      model,
      batch: 1,
      dtype: 'fp16',
      fingerprint: set.profiles[i]?.fingerprint as string,
    })),
  }
}

describe('serve eclip-live from a ready plan table (live.table)', () => {
  it("serves the file's plans as they are, renamed to the served models and in their order", async () => {
    const file = await tableFile(['alexnet', 'vgg19'])
    // served in the other order, under other names
    const config = serveConfig(
      [
        { name: 'big', model: 'vgg19' },
        { name: 'small', model: 'alexnet' },
      ],
      { table: file, holdMs: 20 },
    )
    const run = await startServe({ config, port: 0, grpcPort: null })
    try {
      const table = (run.server.scheduler as ActiveSetScheduler).currentTable()
      assert.equal(table.policy, 'model-wise', "the table's policy is the file's")
      const pair = table.plans.find((e) => e.key === 'big+small')
      assert.ok(pair, 'the pair has a plan under the served names')
      assert.equal(pair.plan.createdAt, FROM_FILE, "the pair's plan is the file's, not planned again")
      assert.deepEqual(
        pair.plan.workers.map((w) => [w.name, w.model]),
        [
          ['big', 'vgg19'],
          ['small', 'alexnet'],
        ],
        "the plan's workers in the served order",
      )
      const note = (run.server.opts.notes ?? []).find((n) => n.includes('plans from'))
      assert.match(note ?? '', /alexnet#0 → small, vgg19#1 → big\): 1 taken as they are/)
      const r = await post(run.server, '/v2/models/small/infer', visionBody(1))
      assert.equal(r.statusCode, 200, r.body)
    } finally {
      await run.server.close()
    }
  })

  it('plans here the sets the file has no plan for (a model it does not list)', async () => {
    const file = await tableFile(['alexnet', 'vgg19'])
    const config = serveConfig([{ model: 'alexnet' }, { model: 'vgg19' }, { model: 'shufflenet' }], {
      table: file,
      tablePolicy: 'model-wise',
    })
    const run = await startServe({ config, port: 0, grpcPort: null })
    try {
      const table = (run.server.scheduler as ActiveSetScheduler).currentTable()
      const byKey = new Map(table.plans.map((e) => [e.key, e.plan]))
      assert.equal(byKey.get('alexnet+vgg19')?.createdAt, FROM_FILE)
      for (const k of ['alexnet+shufflenet', 'shufflenet+vgg19', 'alexnet+shufflenet+vgg19'])
        assert.notEqual(byKey.get(k)?.createdAt, FROM_FILE, `${k} planned here`)
      const note = (run.server.opts.notes ?? []).find((n) => n.includes('plans from')) ?? ''
      assert.match(note, /planned here: alexnet\+shufflenet, shufflenet\+vgg19, alexnet\+shufflenet\+vgg19/)
    } finally {
      await run.server.close()
    }
  })

  it('refuses a table that does not fit, naming what differs', async () => {
    const refused = async (file: string, models: Record<string, unknown>[], re: RegExp, live = {}) =>
      assert.rejects(
        startServe({ config: serveConfig(models, { table: file, ...live }), port: 0, grpcPort: null }),
        re,
      )
    const pair = [{ model: 'alexnet' }, { model: 'vgg19' }]
    await refused(
      await tableFile(['alexnet', 'vgg19'], (t) => {
        t.gpu.name = 'NVIDIA H200'
        for (const e of t.plans) e.plan.gpu.name = 'NVIDIA H200'
      }),
      pair,
      /live\.table .*table\.json: the table .*H200/,
    )
    await refused(
      await tableFile(['resnet152', 'densenet201']),
      pair,
      /none of its workers \(resnet152#0 \(resnet152 batch 1 fp16\), densenet201#1 .*\) is a model of the serve config \(alexnet: alexnet batch 1 fp16, vgg19/,
    )
    const other = `sha256:${'0'.repeat(64)}`
    await refused(
      await tableFile(['alexnet', 'vgg19'], (t) => {
        ;(t.workers[0] as { fingerprint: string }).fingerprint = other
        for (const e of t.plans)
          for (const w of e.plan.workers) if (w.name === 'alexnet#0') w.fingerprint = other
      }),
      pair,
      /worker alexnet#0 \(served as "alexnet"\) was planned for another kernel sequence than its profile/,
    )
    await refused(
      await tableFile(['alexnet', 'vgg19']),
      pair,
      /its set plans are model-wise's, the serve config's live.tablePolicy is eclip/,
      { tablePolicy: 'eclip' },
    )
    await refused(join(tmpdir(), 'no-such-table.json'), pair, /no-such-table\.json: cannot read \(ENOENT\)/)
  })

  it('keeps the guard its eclip-fit set plans were made under, and refuses another or a mix of them', async () => {
    const { gpu, repository } = candidates(['alexnet', 'vgg19'])
    const asFit = (share: number | undefined) => (t: PlanTable) => {
      t.policy = 'eclip-fit'
      for (const e of t.plans)
        if (e.plan.workers.length > 1) {
          e.plan.policy = 'eclip-fit'
          const params = e.plan.params as Plan['params']
          if (share === undefined) delete params.minTotalShare
          else params.minTotalShare = share
        }
    }
    const file = await tableFile(['alexnet', 'vgg19'], asFit(1.03))
    const given = readGivenTable(file, gpu, repository, {})
    assert.equal(given.minTotalShare, 1.03)
    assert.equal(given.policy, 'eclip-fit')
    assert.deepEqual(
      [...given.names],
      [
        ['alexnet#0', 'alexnet'],
        ['vgg19#1', 'vgg19'],
      ],
    )
    assert.throws(
      () => readGivenTable(file, gpu, repository, { minTotalShare: 1.01 }),
      /made under minTotalShare 1.03, the serve config's live.minTotalShare is 1.01/,
    )
    // made before the guard: not the plans the server would keep when it makes the table again
    const unguarded = await tableFile(['alexnet', 'vgg19'], asFit(undefined))
    assert.throws(() => readGivenTable(unguarded, gpu, repository, {}), /no guard on total requests\/s/)
  })

  it('refuses a table whose plans read GEMM-target times differently from the served profiles', async () => {
    const { gpu, repository } = candidates(['alexnet', 'vgg19'])
    const file = await tableFile(['alexnet', 'vgg19'], (t) => {
      for (const e of t.plans) for (const w of e.plan.workers) w.gemmTarget = true
    })
    // the served profiles read without target times: the table's plans were made another way
    const without = repository.map((c) => ({ ...c, gemmTarget: false }))
    assert.throws(
      () => readGivenTable(file, gpu, without, {}),
      /worker alexnet#0 made from GEMM-target times, the server reads "alexnet"'s profile without them/,
    )
    const withTarget = repository.map((c) => ({ ...c, gemmTarget: true }))
    assert.equal(readGivenTable(file, gpu, withTarget, {}).plans.length, 3)
  })

  it('serve-bench takes a table for eclip-live only', () => {
    const r = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        join(root, 'src', 'cli', 'main.ts'),
        'serve-bench',
        '--mix',
        'mix7',
        '--policies',
        'baseline',
        '--table',
        'table.json',
        '--out',
        mkdtempSync(join(tmpdir(), 'eclip-sb-')),
      ],
      { encoding: 'utf8', cwd: root },
    )
    assert.equal(r.status, 2, r.stderr)
    assert.match(r.stderr, /--table and --hold-ms are for eclip-live: add it to --policies/)
  })
})
