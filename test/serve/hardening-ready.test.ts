// Readiness that tells the truth: while the backend does not answer its ping the server is not ready, says why in
// /v2/health/ready's body and in /metrics (eclip_server_ready), and refuses inference at once with 503.
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { fixedComputeTimes } from '../../src/serve/compute-time.ts'
import { GpuServeBackend } from '../../src/serve/gpu-backend.ts'
import { EclipServer } from '../../src/serve/server.ts'
import { SimServeBackend } from '../../src/serve/sim-backend.ts'
import { backendPython, get, post, servedModels, testServer, visionBody } from './helpers.ts'

const MODELS = [{ name: 'vgg19', model: 'vgg19' }]
const readyGauge = async (s: EclipServer) =>
  /^eclip_server_ready (\d)$/m.exec((await get(s, '/metrics')).body)?.[1]

async function until(cond: () => Promise<boolean>, ms: number) {
  const deadline = performance.now() + ms
  while (!(await cond())) {
    assert.ok(performance.now() < deadline, `condition not met in ${ms} ms`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

describe('readiness', { timeout: 60_000 }, () => {
  it('a backend that says it is unresponsive: 503 with the reason, gauge 0, inference refused with 503', async () => {
    class Hanging extends SimServeBackend {
      why: string | undefined
      unresponsive() {
        return this.why
      }
    }
    const backend = new Hanging(fixedComputeTimes(new Map([['vgg19', { us: 100, source: 'test' }]])))
    const s = await testServer(MODELS, { backend })
    try {
      assert.equal((await get(s, '/v2/health/ready')).statusCode, 200)
      assert.equal(await readyGauge(s), '1')
      backend.why = 'the GPU backend has not answered a ping for 4.0 s'
      const r = await get(s, '/v2/health/ready')
      assert.equal(r.statusCode, 503)
      assert.deepEqual(r.json(), { error: 'the GPU backend has not answered a ping for 4.0 s' })
      assert.equal(await readyGauge(s), '0')
      const inf = await post(s, '/v2/models/vgg19/infer', visionBody(1))
      assert.equal(inf.statusCode, 503)
      assert.match(inf.json().error, /has not answered a ping/)
      backend.why = undefined
      assert.equal((await get(s, '/v2/health/ready')).statusCode, 200)
    } finally {
      await s.close()
    }
  })

  it('the GPU backend process stopped (SIGSTOP): not ready within the ping timeout, ready again on SIGCONT', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eclip-ready-'))
    const pidFile = join(dir, 'pid')
    const { models, opts } = servedModels(MODELS)
    const backend = new GpuServeBackend({
      python: backendPython({ dir, pidFile }),
      powerPeriodMs: 100,
      pingTimeoutMs: 500,
    })
    const s = new EclipServer({ models, workerOptions: opts, backend, logger: false })
    await s.load()
    const pid = Number(readFileSync(pidFile, 'utf8'))
    try {
      assert.equal((await get(s, '/v2/health/ready')).statusCode, 200)
      process.kill(pid, 'SIGSTOP')
      const t0 = performance.now()
      await until(async () => (await get(s, '/v2/health/ready')).statusCode === 503, 5000)
      assert.ok(performance.now() - t0 < 3000)
      const r = await get(s, '/v2/health/ready')
      assert.match(r.json().error, /the GPU backend has not answered a ping for \d+\.\d s \(limit 0\.5 s\)/)
      assert.equal(await readyGauge(s), '0')
      process.kill(pid, 'SIGCONT')
      await until(async () => (await get(s, '/v2/health/ready')).statusCode === 200, 5000)
    } finally {
      try {
        process.kill(pid, 'SIGCONT')
      } catch {}
      await s.close()
    }
  })
})
