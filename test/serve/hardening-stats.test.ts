// Triton's statistics extension through tritonclient.http's get_inference_statistics: every model, one model, one
// version, an unknown model; GET /v2 lists "statistics". Skipped with a reason without a Python with tritonclient.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import YAML from 'yaml'
import { startServe } from '../../src/serve/index.ts'
import { runScript } from './helpers.ts'

const root = join(import.meta.dirname, '..', '..')
const candidates = [process.env.TRITONCLIENT_PYTHON, join(root, '.venv', 'bin', 'python'), 'python3'].filter(
  (p): p is string => !!p && (!p.includes('/') || existsSync(p)),
)
const python = candidates.find(
  (p) => spawnSync(p, ['-c', 'import tritonclient.http, numpy'], { stdio: 'ignore' }).status === 0,
)
const skip = python ? false : 'no Python with tritonclient[http] (or set TRITONCLIENT_PYTHON)'

interface Stat {
  name: string
  version: string
  last_inference: number
  inference_count: number
  execution_count: number
  inference_stats: Record<string, { count: number; ns: number }>
}

describe('serve: statistics extension', () => {
  it('get_inference_statistics reads per-model counts and durations', { skip, timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eclip-stats-'))
    const config = join(dir, 'serve.yaml')
    writeFileSync(
      config,
      YAML.stringify({
        policy: 'model-wise',
        grpcPort: null,
        models: [{ model: 'albert' }, { model: 'vgg19' }],
      }),
    )
    const t0 = Date.now()
    const { server, url } = await startServe({ config, port: 0 })
    try {
      // the client runs beside the server, which answers it from this process's event loop: never spawnSync
      const r = await runScript(python as string, [
        join(import.meta.dirname, 'hardening_stats_check.py'),
        url.slice(7),
      ])
      assert.equal(r.status, 0, r.stderr)
      const out = JSON.parse(r.stdout) as {
        every: { model_stats: Stat[] }
        one: { model_stats: Stat[] }
        versioned: { model_stats: Stat[] }
        unknown: string | null
        extensions: string[]
      }
      assert.ok(out.extensions.includes('statistics'))
      assert.deepEqual(
        out.every.model_stats.map((m) => m.name),
        ['albert', 'vgg19'],
      )
      assert.deepEqual(out.one.model_stats, out.versioned.model_stats)
      const v = out.one.model_stats[0] as Stat
      assert.equal(v.name, 'vgg19')
      assert.equal(v.version, '1')
      assert.equal(v.inference_count, 2)
      assert.equal(v.execution_count, 2)
      assert.equal(v.inference_stats.success?.count, 2)
      assert.ok((v.inference_stats.success?.ns ?? 0) > 0)
      assert.equal(v.inference_stats.fail?.count, 1)
      assert.equal(v.inference_stats.compute_infer?.count, 2)
      assert.ok((v.inference_stats.compute_infer?.ns ?? 0) > 0)
      for (const k of ['queue', 'compute_input', 'compute_output'])
        assert.equal(v.inference_stats[k]?.count, 2)
      assert.ok(v.last_inference >= t0 && v.last_inference <= Date.now())
      const albert = out.every.model_stats[0] as Stat
      assert.equal(albert.inference_count, 0)
      assert.equal(albert.last_inference, 0)
      assert.match(out.unknown ?? '', /nosuchmodel/)
    } finally {
      await server.close()
    }
  })
})
