// `eclip bench --backend gpu` with arrival sources, against a fake backend speaking the real frames: the run message
// carries each worker's schedule — the simulator's, for the same seed — and none for the closed loop; the reply's
// arrival times become the run's (latency from arrival), a closed loop's arrivals are its starts.
import assert from 'node:assert/strict'
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import type { RunSpec } from '../../src/execute/backend.ts'
import { arrivalsOf, GpuBackend } from '../../src/execute/gpu/backend.ts'
import { arrivalRecord, type LoadedArrival } from '../../src/formats/index.ts'
import { runSchedules } from '../../src/workload/arrivals.ts'
import { ALL, planOf, profileOf, specOf } from '../sim/fixtures.ts'

const repo = join(import.meta.dirname, '..', '..')
const venvPython = join(repo, '.venv', 'bin', 'python')

/** A backend that records each run message in `record` and answers with each worker's requests: one per scheduled
 * arrival (start = arrival + 5 µs, end = start + 100 µs), or three back to back for a closed loop. */
function fakeBackend(record: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'eclip-fake-'))
  const py = join(dir, 'fake.py')
  writeFileSync(
    py,
    `import json, sys
sys.path.insert(0, ${JSON.stringify(join(repo, 'gpu'))})
from eclip_gpu.frames import read_frame, send
from eclip_gpu.protocol import check_request
GPU = json.load(open(${JSON.stringify(join(repo, 'test', 'fixtures', 'h100.gpu.json'))}))
while True:
    try:
        m, body = read_frame()
    except EOFError:
        break
    check_request(m)
    if m["type"] == "hello":
        send({"type": "ready", "gpu": GPU, "versions": {}})
    elif m["type"] == "shutdown":
        break
    elif m["type"] == "run":
        with open(${JSON.stringify(record)}, "a") as f:
            f.write(json.dumps(m) + "\\n")
        workers = []
        for i, w in enumerate(m["plan"]["workers"]):
            s = (m.get("arrivals") or [None] * len(m["plan"]["workers"]))[i]
            if s and s["kind"] == "open":
                a = s["arrivalsUs"]
                workers.append({"name": w["name"], "arrivalUs": a, "startUs": [x + 5 for x in a],
                                "endUs": [x + 105 for x in a]})
            else:
                workers.append({"name": w["name"], "startUs": [0, 100, 200], "endUs": [100, 200, 300]})
        send({"type": "result", "key": m["key"], "mode": "whole", "workers": workers, "windowStartUs": 0,
              "windowEndUs": (m["warmupS"] + m["windowS"]) * 1e6, "energyJ": 1.0, "wallS": 0.1, "clocks": {},
              "switches": [0 for _ in workers], "notes": []})
`,
  )
  const f = join(dir, 'python')
  writeFileSync(f, `#!/usr/bin/env bash\nexec '${existsSync(venvPython) ? venvPython : 'python3'}' '${py}'\n`)
  chmodSync(f, 0o755)
  return f
}

function spec(sources: LoadedArrival[] | null): RunSpec {
  const a = profileOf('a', [() => 100])
  const b = profileOf('b', [() => 100])
  const plan = planOf(
    'baseline',
    [ALL],
    [
      { profile: a, groups: [[0, 0, 0]] },
      { profile: b, groups: [[0, 0, 0]] },
    ],
  )
  const base = specOf(plan, [a, b], { windowS: 0.01, warmupS: 0.002, seed: 5 })
  if (!sources) return base
  return {
    ...base,
    workers: base.workers.map((w, i) => ({ ...w, arrival: sources[i] as LoadedArrival })),
    loop: { kind: 'arrivals', sources: sources.map(arrivalRecord) },
  }
}

describe('GPU backend runs with arrival sources', () => {
  it('sends every worker the simulator’s schedule and takes the reply’s arrival times', async () => {
    const record = join(mkdtempSync(join(tmpdir(), 'eclip-rec-')), 'runs.jsonl')
    const backend = await GpuBackend.start({ python: fakeBackend(record) })
    try {
      const s = spec([
        { kind: 'poisson', rate: 2000 },
        {
          kind: 'onoff',
          on: { dist: 'fixed', meanS: 0.003 },
          off: { dist: 'fixed', meanS: 0.002 },
          start: 'on',
        },
      ])
      const r = await backend.run(s)
      const sent = JSON.parse(readFileSync(record, 'utf8').trim())
      const want = runSchedules(s.loop, s.workers, s.seed, 0.012 * 1e6)
      assert.equal(sent.arrivals.length, 2)
      assert.equal(sent.arrivals[0].kind, 'open')
      const w0 = want[0] as { kind: 'open'; arrivalsUs: number[] }
      assert.deepEqual(
        sent.arrivals[0].arrivalsUs,
        w0.arrivalsUs.map((x) => Math.round(x * 10) / 10),
      )
      assert.ok(sent.arrivals[0].arrivalsUs.length > 10)
      // the on/off closed loop's busy periods: 0–3 ms, 5–8 ms, 10–12 ms (cut at the run's end)
      assert.deepEqual(sent.arrivals[1], { kind: 'closed', periodsUs: [0, 3000, 5000, 8000, 10000, 12000] })
      assert.deepEqual(arrivalsOf(s), sent.arrivals)
      // latency from arrival: the arrivals the backend reported, not its starts
      assert.deepEqual(r.workers[0]?.arrivalUs, sent.arrivals[0].arrivalsUs)
      assert.deepEqual(r.workers[1]?.arrivalUs, [0, 100, 200])
    } finally {
      await backend.close()
    }
  })

  it('sends no schedule for the closed loop: the executor’s own closed loop runs', async () => {
    const record = join(mkdtempSync(join(tmpdir(), 'eclip-rec-')), 'runs.jsonl')
    const backend = await GpuBackend.start({ python: fakeBackend(record) })
    try {
      const r = await backend.run(spec(null))
      const sent = JSON.parse(readFileSync(record, 'utf8').trim())
      assert.equal('arrivals' in sent, false)
      assert.equal(arrivalsOf(spec(null)), undefined)
      assert.deepEqual(r.workers[0]?.arrivalUs, [0, 100, 200])
    } finally {
      await backend.close()
    }
  })

  it('the bench’s --rate reaches the executor too (it used to run a closed loop there)', () => {
    const s = { ...spec(null), loop: { kind: 'open' as const, ratePerWorker: 500 } }
    const sent = arrivalsOf(s)
    assert.equal(sent?.length, 2)
    for (const x of sent ?? []) assert.equal(x.kind, 'open')
  })
})
