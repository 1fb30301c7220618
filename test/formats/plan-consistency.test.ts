// The plan format's cross-field rules (planConsistencyErrors): partitions that are unions of the GPU's slices with
// their SMs, a GPU identity that adds up, worker names once, switches = group boundaries, groups on the worker's own
// partitions, gates before kernels the worker has. Every plan eclip has written (results/, profiles/, test fixtures)
// passes them.
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { FormatError, type Plan, parseFormat, planConsistencyErrors } from '../../src/formats/index.ts'

const root = join(import.meta.dirname, '..', '..')
const recorded = join(root, 'results', 'h200', 'coresident-cal', 'b8', 'plans', 'mix3.eclip-fit.b8.plan.json')
const fresh = (): Plan => JSON.parse(readFileSync(recorded, 'utf8'))

/** The problems `eclip validate plan` reports for a plan, as "path: reason" lines ([] when it passes). */
function problems(plan: Plan): string[] {
  try {
    parseFormat<Plan>('plan', plan, 'test plan')
    return []
  } catch (err) {
    assert.ok(err instanceof FormatError, String(err))
    return err.problems.map((p) => `${p.path}: ${p.reason}`)
  }
}

describe('plan consistency', () => {
  it('the recorded plan passes (16 slices: 15 of 8 SMs and a 12-SM remainder)', () => {
    const plan = fresh()
    assert.deepEqual(plan.gpu.slices, [...new Array(15).fill(8), 12])
    assert.deepEqual(problems(plan), [])
  })

  it('refuses partitions over slices the GPU does not have', () => {
    const plan = fresh()
    for (const p of plan.pool.partitions) if (p.id !== 0) Object.assign(p, { slices: [99], sms: 8 })
    const found = problems(plan)
    assert.ok(found.length > 0)
    assert.match(
      found[0] as string,
      /^\/pool\/partitions\/1\/slices: no slice 99 on the GPU \(slice ids 0\.\.15\)$/,
    )
    // a plan lacking the recorded layout: no more slice ids than the SM count allows
    const old = fresh()
    delete old.gpu.slices
    ;(old.pool.partitions[1] as Plan['pool']['partitions'][number]).slices = [99]
    assert.match(
      problems(old).join('\n'),
      /\/pool\/partitions\/1\/slices: no slice 99 on a GPU of 132 SMs in slices of 8 \(at most 17 slices\)/,
    )
  })

  it('refuses a partition whose SMs contradict its slices, the remainder counted at its own size', () => {
    const plan = fresh()
    const p = plan.pool.partitions[2] as Plan['pool']['partitions'][number]
    assert.deepEqual(p.slices, [0, 1])
    p.sms = 24
    assert.deepEqual(problems(plan), ['/pool/partitions/2/sms: slices 0, 1 hold 16 SMs, got 24'])
    // the remainder slice (id 15) holds 12 SMs, not sliceSize
    p.slices = [14, 15]
    p.sms = 20
    assert.deepEqual(problems(plan), [])
    p.sms = 16
    assert.deepEqual(problems(plan), ['/pool/partitions/2/sms: slices 14, 15 hold 20 SMs, got 16'])
    p.slices = [14, 14]
    assert.match(problems(plan).join('\n'), /\/pool\/partitions\/2\/slices: a slice listed twice/)
  })

  it('refuses a GPU identity whose SM count is not its slices’', () => {
    const plan = fresh()
    plan.gpu.smCount = 1000
    assert.deepEqual(problems(plan), ['/gpu/smCount: the slices add up to 132 SMs, got 1000'])
    const odd = fresh()
    odd.gpu.slices = [...new Array(14).fill(8), 12, 12]
    odd.gpu.smCount = 136
    assert.match(
      problems(odd).join('\n'),
      /\/gpu\/slices: 2 slices differ from sliceSize \(8\); only the remainder/,
    )
  })

  it('refuses two workers of one name and two partitions of one id', () => {
    const plan = fresh()
    ;(plan.workers[2] as Plan['workers'][number]).name = 'albert#0'
    assert.deepEqual(problems(plan), ['/workers/2/name: worker albert#0 listed twice'])
    const ids = fresh()
    ;(ids.pool.partitions[3] as Plan['pool']['partitions'][number]).id = 2
    assert.match(problems(ids).join('\n'), /\/pool\/partitions\/3\/id: partition 2 listed twice/)
  })

  it('refuses switches that are not the worker’s group boundaries', () => {
    const plan = fresh()
    const w = plan.workers[1] as Plan['workers'][number]
    assert.equal(w.groups.length, 15)
    w.switches = 0
    assert.deepEqual(problems(plan), ['/workers/1/switches: 15 group(s) make 14 switch(es), got 0'])
  })

  it('refuses a group on a partition outside its worker’s partitions', () => {
    const plan = fresh()
    const w = plan.workers[0] as Plan['workers'][number]
    assert.ok(!w.partitions.includes(6), 'partition 6 is densenet201’s')
    ;(w.groups[0] as Plan['workers'][number]['groups'][number]).partition = 6
    assert.deepEqual(problems(plan), [
      "/workers/0/groups/0/partition: partition 6 is not among the worker's partitions (1, 2, 3, 4, 5, 0)",
    ])
  })

  it('refuses gates that wait before no kernel, past the worker’s kernels, or on a raising worker', () => {
    const gated = join(
      root,
      'results',
      'h100',
      'rt-be-coresident',
      'c-co',
      'plans',
      'disb-C.eclip-rt.bmix.plan.json',
    )
    const plan = (): Plan => JSON.parse(readFileSync(gated, 'utf8'))
    assert.deepEqual(problems(plan()), [])
    const past = plan()
    const vgg = past.workers[3] as Plan['workers'][number]
    assert.equal(vgg.kernels, 107)
    vgg.gate = { role: 'wait', atKernels: [0, 40, 107, 300] }
    assert.deepEqual(problems(past), ["/workers/3/gate/atKernels: 107, 300 past the worker's 107 kernels"])
    const none = plan()
    ;(none.workers[1] as Plan['workers'][number]).gate = { role: 'wait', atKernels: [] }
    ;(none.workers[2] as Plan['workers'][number]).gate = { role: 'wait' }
    assert.deepEqual(problems(none), [
      '/workers/1/gate/atKernels: a waiting worker needs the kernels it waits before',
      '/workers/2/gate/atKernels: a waiting worker needs the kernels it waits before',
    ])
    const raising = plan()
    ;(raising.workers[0] as Plan['workers'][number]).gate = { role: 'raise', atKernels: [0] }
    assert.deepEqual(problems(raising), [
      '/workers/0/gate/atKernels: a raising worker takes no atKernels (it waits before no kernel)',
    ])
  })

  it('every plan eclip has written passes, plan tables’ plans too', () => {
    const files: string[] = []
    for (const dir of ['results', 'profiles', join('test', 'fixtures')])
      for (const f of readdirSync(join(root, dir), { recursive: true }) as string[])
        if (f.endsWith('.plan.json') || f.endsWith('.table.json')) files.push(join(root, dir, f))
    assert.ok(files.length > 100, `${files.length} plan files`)
    let tables = 0
    for (const f of files) {
      const v = JSON.parse(readFileSync(f, 'utf8'))
      if (v.format === 'eclip.plan-table/1') {
        tables++
        parseFormat('plan-table', v, f)
      } else assert.deepEqual(planConsistencyErrors(parseFormat<Plan>('plan', v, f)), [], f)
    }
    assert.ok(tables > 0)
  })
})
