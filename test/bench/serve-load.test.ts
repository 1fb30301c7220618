// bench/serve-load.ts, which the soak (scripts/soak.sh) and the overload bench stand on: its request catalogue
// against a real server (each kind gets the status it is said to get), the open loop (every request sent is
// answered and counted once), the verdict (what counts as lost or wrong) and the memory probe.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createHistogram } from 'node:perf_hooks'
import { after, before, describe, it } from 'node:test'
import { pathToFileURL } from 'node:url'
import {
  badKinds,
  fitLine,
  goodKinds,
  type KindStats,
  openLoop,
  type RequestKind,
  registerShm,
  releaseShm,
  type ShmFile,
  sender,
  sendOne,
  tally,
  WORKLOADS,
} from '../../bench/serve-load.ts'
import type { EclipServer } from '../../src/serve/server.ts'
import { testServer } from '../serve/helpers.ts'

const text = WORKLOADS.text as NonNullable<(typeof WORKLOADS)['text']>

describe('serve-load: requests against a real server', () => {
  let server: EclipServer
  let url: string
  let shm: Map<string, ShmFile>
  before(async () => {
    server = await testServer(
      text.models.map((m) => ({
        name: m.name,
        model: m.model,
        batch: m.batch,
        queueSize: m.queueSize,
        computeUs: 200,
      })),
      { maxBodyBytes: text.maxBodyBytes },
    )
    url = await server.listen(0, '127.0.0.1')
    shm = await registerShm(url, text.models, 1)
  })
  after(async () => {
    await releaseShm(url, shm)
    await server.close()
  })

  it('answers every kind of the catalogue with the status it is said to get', async () => {
    const kinds = [
      ...text.models.flatMap((m, i) => goodKinds(m, 1 + i, shm.get(m.name))),
      ...badKinds(text.models[0] as (typeof text.models)[0], text.maxBodyBytes, 7),
    ]
    if (existsSync('/dev/shm')) assert.ok(kinds.some((k) => k.name.endsWith('/shm')))
    assert.ok(kinds.filter((k) => !k.good).length >= 10)
    const s = sender(url)
    try {
      for (const k of kinds) {
        const got = await new Promise<number>((r) => sendOne(s, k, (status) => r(status)))
        assert.equal(got, k.expect, `${k.name}: expected ${k.expect}, got ${got}`)
      }
    } finally {
      s.agent.destroy()
    }
  })

  it('open loop: every request sent is answered and counted once', async () => {
    const goods = text.models.flatMap((m, i) => goodKinds(m, 1 + i, shm.get(m.name)))
    const s = sender(url)
    let n = 0
    const run = await openLoop(s, [{ rate: 200, pick: () => goods[n++ % goods.length] as RequestKind }], {
      durationS: 0.3,
      seed: 3,
      kinds: goods,
    })
    s.agent.destroy()
    const sent = [...run.kinds.values()].reduce((a, k) => a + k.sent, 0)
    assert.equal(sent, n)
    assert.ok(sent > 0)
    assert.equal(run.notSent, 0)
    const t = tally(run.kinds.values())
    assert.deepEqual(t.problems, [])
    assert.equal(t.goodOk, sent)
    assert.equal(
      run.seconds.reduce((a, x) => a + x.ok, 0),
      sent,
    )
  })
})

function stats(kind: Partial<RequestKind>, statuses: [number, number][], errors: [string, number][] = []) {
  const k: RequestKind = {
    name: 'k',
    good: true,
    expect: 200,
    model: 'm',
    path: '/',
    headers: {},
    body: Buffer.alloc(0),
    ...kind,
  }
  return {
    kind: k,
    sent: statuses.reduce((a, [, n]) => a + n, 0),
    statuses: new Map(statuses),
    errors: new Map(errors),
    latency: createHistogram(),
  } satisfies KindStats
}

describe('serve-load: tally', () => {
  it('a good request must be answered 200: a 429 or no answer is a problem', () => {
    assert.deepEqual(tally([stats({}, [[200, 5]])]).problems, [])
    const refused = tally([
      stats({ name: 'g' }, [
        [200, 5],
        [429, 1],
      ]),
    ])
    assert.equal(refused.problems.length, 1)
    assert.match(refused.problems[0] as string, /g: 1 answered other than 200 \(1× 429\)/)
    const lost = tally([
      stats(
        { name: 'g' },
        [
          [200, 5],
          [0, 2],
        ],
        [['ECONNRESET', 2]],
      ),
    ])
    assert.equal(lost.lost, 2)
    assert.match(lost.problems[0] as string, /g: 2 lost/)
  })

  it('a bad request must get its own status, or 429 from a full queue', () => {
    const bad = { name: 'b', good: false, expect: 400 }
    const t = tally([
      stats(bad, [
        [400, 3],
        [429, 2],
      ]),
    ])
    assert.deepEqual(t.problems, [])
    assert.equal(t.bad429, 2)
    assert.equal(
      tally([
        stats(bad, [
          [400, 3],
          [500, 1],
        ]),
      ]).problems.length,
      1,
    )
  })

  it('a body over the limit may be cut off by the server reset, counted apart; any other loss is lost', () => {
    const over = { name: 'o', good: false, expect: 413, cutOffOk: true }
    const t = tally([
      stats(
        over,
        [
          [413, 3],
          [0, 2],
        ],
        [
          ['EPIPE', 1],
          ['ECONNRESET', 1],
        ],
      ),
    ])
    assert.deepEqual(t.problems, [])
    assert.equal(t.cutOff, 2)
    assert.equal(t.lost, 0)
    const timedOut = tally([
      stats(
        over,
        [
          [413, 3],
          [0, 1],
        ],
        [['no answer within 30000 ms', 1]],
      ),
    ])
    assert.equal(timedOut.lost, 1)
    const notAllowed = tally([
      stats(
        { ...over, cutOffOk: false },
        [
          [413, 3],
          [0, 1],
        ],
        [['EPIPE', 1]],
      ),
    ])
    assert.equal(notAllowed.lost, 1)
  })
})

describe('serve-load: arithmetic and the probe', () => {
  it('fits a line by least squares', () => {
    const fit = fitLine([0, 1, 2, 3], [1, 3, 5, 7])
    assert.equal(fit.slope, 2)
    assert.equal(fit.intercept, 1)
    assert.ok(Number.isNaN(fitLine([1], [1]).slope))
    assert.ok(Number.isNaN(fitLine([2, 2], [1, 3]).slope))
  })

  it('the probe loaded into a process reports its memory, event loop and (with --expose-gc) live heap', () => {
    const dir = mkdtempSync(join(tmpdir(), 'eclip-probe-'))
    const file = join(dir, 'probe.jsonl')
    const probe = pathToFileURL(join(import.meta.dirname, '..', '..', 'bench', 'serve-probe.mjs')).href
    const r = spawnSync(
      process.execPath,
      ['--expose-gc', '--import', probe, '-e', 'setTimeout(() => {}, 600)'],
      {
        env: {
          ...process.env,
          ECLIP_LOAD_PROBE: file,
          ECLIP_LOAD_PROBE_MS: '100',
          ECLIP_LOAD_PROBE_GC_S: '0.1',
        },
        encoding: 'utf8',
      },
    )
    assert.equal(r.status, 0, r.stderr)
    const lines = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
    assert.ok(lines.length >= 1)
    for (const l of lines) {
      assert.equal(l.pid, r.pid)
      for (const k of ['rssMB', 'heapUsedMB', 'elP99Ms', 'elMaxMs']) assert.equal(typeof l[k], 'number', k)
      assert.ok(l.elP99Ms >= 0)
    }
    assert.ok(lines.some((l) => typeof l.liveMB === 'number' && l.liveMB > 0))
  })
})
