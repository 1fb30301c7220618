import assert from 'node:assert/strict'
import { test } from 'node:test'
import { raisedRows } from '../../bench/raised-workers.ts'

// One recorded part re-simulated: the rows carry each worker's plan shape as recorded and the GPU's ratio as measured
test('raisedRows: tuned-shipped-b8 q8b2, the raised densenet201 in more4 and its plan shape', async () => {
  const rows = await raisedRows(undefined, 8, ['tuned-shipped-b8/q8b2'])
  const more4 = rows.filter((r) => r.run === 'tuned-shipped-b8/q8b2 more4 eclip-fit/graph')
  assert.equal(more4.length, 5, JSON.stringify(rows.map((r) => r.run)))
  const d = more4.find((r) => r.worker === 'densenet201#0')
  assert.ok(d, 'densenet201#0 in more4')
  assert.equal(d.raised, true)
  assert.equal(d.coRunners, 4)
  // every worker of the run counts the same raised workers, the raised one among them
  for (const r of more4) assert.equal(r.raisedInRun, d.raisedInRun)
  assert.ok(d.raisedInRun >= 1)
  assert.equal(more4.filter((r) => r.raised).length, d.raisedInRun)
  // as measured (the run's README: 1.61 × its baseline rate), and the simulator short of it
  assert.ok(Math.abs(d.gpuNorm - 1.61) < 0.01, String(d.gpuNorm))
  assert.ok(d.err < -0.1, String(d.err))
  assert.ok(Math.abs(d.err - (d.simNorm / d.gpuNorm - 1)) < 1e-12)
  for (const r of rows) {
    assert.ok(r.wholeShare >= 0 && r.wholeShare <= 1, `${r.run} ${r.worker} ${r.wholeShare}`)
    assert.equal(r.batch, 8)
  }
})
