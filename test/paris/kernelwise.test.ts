import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { before, describe, it } from 'node:test'
import { promisify } from 'node:util'
import { compare, SCHEMES } from '../../src/paris/compare.ts'
import {
  type KernelWise,
  kernelWise,
  kernelWiseWorkers,
  missingProfiles,
} from '../../src/paris/kernelwise.ts'
import { loadScenario } from '../../src/paris/scenario.ts'
import { type Dispatch, simulateQueries, type Trace } from '../../src/paris/sim.ts'
import { constModel } from './const-model.ts'

const root = join(import.meta.dirname, '..', '..')
const scenarioFile = join(root, 'examples', 'paris-kw.yaml')
const profiles = join(root, 'profiles', 'h100')
const bin = join(root, 'bin', 'eclip.mjs')
const run = promisify(execFile)
const eclip = (...args: string[]) => run(process.execPath, [bin, ...args], { cwd: root })
const tmp = () => mkdtempSync(join(tmpdir(), 'eclip-kw-'))
const KW = SCHEMES.filter((s) => s.layout === 'eclip-kw')

/** A scenario like paris-kw.yaml whose resnet152 mix has a batch 2 no profile covers. */
function withBatch2(): string {
  const f = join(tmp(), 'kw-b2.yaml')
  const text = readFileSync(scenarioFile, 'utf8')
    .replace('{ 1: 0.6, 8: 0.4 } }', '{ 1: 0.5, 2: 0.1, 8: 0.4 } }')
    .replaceAll('../profiles/h100', profiles)
  assert.match(text, /2: 0\.1/)
  writeFileSync(f, text)
  return f
}

describe('eclip-kw: co-located service times from the kernel-level simulator', () => {
  const sc = loadScenario(scenarioFile, { date: '2026-11-22' })
  let kw: KernelWise
  before(async () => {
    kw = await kernelWise(sc, profiles, { seed: 3, windowS: 0.2 })
  })

  it('plans every batch combination and is deterministic for a seed', async () => {
    assert.equal(kw.combinations, 16)
    const again = await kernelWise(sc, profiles, { seed: 3, windowS: 0.2 })
    assert.deepEqual(again.latencyUs, kw.latencyUs)
    assert.deepEqual(again.sms, kw.sms)
  })

  it('serves with one eclip plan per batch, over the union of their pools', () => {
    const { server } = kw
    assert.deepEqual(server.batches, [1, 8])
    const keys = server.pool.map((p) => [...p.slices].sort((a, b) => a - b).join(','))
    assert.equal(new Set(keys).size, keys.length, 'one partition per distinct slice set')
    assert.deepEqual(
      server.pool.map((p) => p.id),
      server.pool.map((_, i) => i),
    )
    for (const [i, m] of sc.models.entries())
      for (const [j, b] of m.batches.entries()) {
        const w = server.workers[i]?.[j]
        const plan = server.plans[server.batches.indexOf(b)]
        const own = plan?.workers.find((x) => x.model === m.model)
        assert.ok(w && own && w.batch === b, `${m.model} b${b}`)
        // the same kernels on the same SMs as in its batch's plan, partition ids mapped into the union pool
        const slicesIn = (parts: { id: number; slices: number[] }[], id: number) =>
          parts.find((p) => p.id === id)?.slices.join(',')
        assert.deepEqual(
          w.groups.map((g) => [g.first, g.last, slicesIn(server.pool, g.partition)]),
          own.groups.map((g) => [g.first, g.last, slicesIn(plan?.pool.partitions ?? [], g.partition)]),
        )
      }
  })

  it('a co-located request is never faster than the same request alone on the whole GPU', () => {
    for (const [i, m] of sc.models.entries())
      for (const [j, b] of m.batches.entries()) {
        const co = kw.latencyUs[i]?.[j] ?? 0
        const solo = kw.soloUs[i]?.[j] ?? Number.POSITIVE_INFINITY
        assert.ok(co >= solo, `${m.model} b${b}: co-located ${co} µs < solo ${solo} µs`)
      }
    // the solo latency is the profile's whole-GPU request latency, and the table of the other schemes agrees
    const r = sc.models.findIndex((m) => m.model === 'resnet152')
    const profile = JSON.parse(readFileSync(join(profiles, 'resnet152.b8.fp16.json'), 'utf8'))
    assert.equal(kw.soloUs[r]?.[1], profile.requestUs[profile.requestUs.length - 1])
    // the workers' busy SMs fit in one GPU
    const total = kw.sms.reduce((a, x) => a + x, 0)
    assert.ok(total > 0 && total <= sc.gpu.smCount, `busy SMs ${total}`)
  })

  it('runs in compare(), deterministic for a seed, one worker per model per GPU', async () => {
    const go = () =>
      compare(sc, { gpus: [2], seed: 5, queries: 3000, steps: 3, schemes: KW, kernelWise: kw, sweep: [0.5] })
    const a = await go()
    assert.deepEqual(await go(), a)
    assert.equal(a.results.length, 2)
    for (const r of a.results) {
      assert.ok(r.sustainedQps > 0, `${r.scheme} sustains something`)
      assert.deepEqual(
        r.layout[0],
        [...kw.sms].sort((x, y) => y - x),
      )
    }
    assert.equal(a.kernelWise, kw)
    const { parts, serves } = kernelWiseWorkers(sc, kw, 2)
    assert.equal(parts.length, 2 * sc.models.length)
    assert.deepEqual(serves, [0, 1, 2, 3, 0, 1, 2, 3])
    // the comparison refuses eclip-kw without its service times
    await assert.rejects(compare(sc, { gpus: [1], seed: 1, schemes: KW }), /needs options.kernelWise/)
  })

  it('refuses a scenario with a (model, batch) that has no per-kernel profile, naming it', async () => {
    const f = withBatch2()
    const sc2 = loadScenario(f, { date: '2026-11-22' })
    assert.deepEqual(missingProfiles(sc2, profiles), ['resnet152 b2'])
    await assert.rejects(kernelWise(sc2, profiles), /resnet152 b2/)
    await assert.rejects(
      eclip('paris', '--models', f, '--gpus', '1', '--schemes', 'eclip-kw/elsa', '--out', tmp(), '--quiet'),
      /eclip-kw\/elsa: eclip-kw needs a per-kernel profile.*resnet152 b2/,
    )
  })

  it('is skipped, with the reason, when not asked for by name', async () => {
    const out = tmp()
    const r = await eclip('paris', '--models', withBatch2(), '--gpus', '1', '--queries', '300', '--out', out)
    assert.match(r.stderr, /skipping eclip-kw\/fifo, eclip-kw\/elsa: .*resnet152 b2/)
    const res = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'))
    assert.ok(!res.options.schemes.includes('eclip-kw/elsa'))
    assert.ok(res.options.schemes.includes('paris/elsa'))
  })
})

function trace(arrivals: [number, number][]): Trace {
  return {
    scale: 1,
    arrival: Float64Array.from(arrivals, (a) => a[0]),
    model: Int32Array.from(arrivals, (a) => a[1]),
    batchIdx: new Int32Array(arrivals.length),
    noise: new Float64Array(arrivals.length).fill(1),
  }
}

describe('dedicated workers in the request-level simulator (the eclip-kw dispatch)', () => {
  // model A (SLO 4 ms, so ELSA's deadline is 2 ms) has two workers: a large one first, then a small one; model B one
  // flat latency tables, unused by dedicated workers: their service comes from serviceUs
  const models = [constModel(50000, 1, 4000, 'A'), constModel(50000, 1, 1e9, 'B')]
  const parts = [
    { id: 'a-large', gpu: 0, slices: [0], sms: 100 },
    { id: 'a-small', gpu: 1, slices: [0], sms: 8 },
    { id: 'b', gpu: 0, slices: [0], sms: 24 },
  ]
  const serves = [0, 0, 1]
  const serviceUs = [[1000], [1000]]
  // three A queries at once, then (after all finished) a B query and one more A
  const t = trace([
    [0, 0],
    [1, 0],
    [2, 0],
    [10000, 1],
    [20000, 0],
  ])
  const served = (dispatch: Dispatch) =>
    Array.from(simulateQueries(models, parts, t, { dispatch, serves, serviceUs }).servedOn)

  it("ELSA: the smallest of the model's workers that meets the SLO margin, else the earliest finisher", () => {
    // 1st → small (finish 1000 ≤ 2000); 2nd → small still in time (2000 ≤ 2001); 3rd would finish there at 3000:
    // too late, so the large one; the B query only on B's worker; later A → small again
    assert.deepEqual(served('elsa'), [1, 1, 0, 2, 1])
  })

  it('FIFO and least-loaded bind differently (so a dispatcher that ignored ELSA would fail the test above)', () => {
    // FIFO: the largest idle worker of the model first, then the other; the 3rd waits for whichever frees first
    assert.deepEqual(served('fifo'), [0, 1, 0, 2, 0])
    // least-loaded: the earliest estimated finish (ties to the lowest index)
    assert.deepEqual(served('least-loaded'), [0, 1, 0, 2, 0])
  })

  it('uses the given service times, not the latency table, and counts latency from arrival', () => {
    const log = simulateQueries(models, parts, t, { dispatch: 'fifo', serves, serviceUs })
    assert.deepEqual(Array.from(log.busyUs), [1000, 1000, 1000, 1000, 1000])
    // the 3rd A query waits for the first to end (1000) on the large worker
    assert.equal(log.done[2], 2000)
    assert.throws(
      () => simulateQueries(models, parts, t, { dispatch: 'fifo', serves: [0, 0, 0], serviceUs }),
      /no worker serves B/,
    )
  })
})
