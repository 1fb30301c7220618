// Triton's own Python HTTP client (`tritonclient`) against eclip serve on the simulator, unchanged: health, metadata,
// config, infer with JSON and binary tensors, errors. Skipped with a reason when no Python with tritonclient is found
// (TRITONCLIENT_PYTHON names one; else .venv/bin/python, python3).
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
const skip = python
  ? false
  : 'no Python with tritonclient[http] (pip install tritonclient[http]; or set TRITONCLIENT_PYTHON)'

describe('serve: tritonclient works unchanged', () => {
  it('health, metadata, config, JSON and binary infer, errors', { skip, timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eclip-triton-'))
    const config = join(dir, 'serve.yaml')
    writeFileSync(
      config,
      YAML.stringify({
        policy: 'model-wise',
        models: [
          { model: 'albert', batch: 2 },
          { model: 'vgg19', batch: 4 },
        ],
      }),
    )
    const { server, url } = await startServe({ config, port: 0 })
    try {
      const r = await runScript(python as string, [
        join(import.meta.dirname, 'tritonclient_check.py'),
        url.replace('http://', ''),
      ])
      assert.equal(r.status, 0, r.stderr)
      const out = JSON.parse(r.stdout)
      assert.deepEqual(
        [out.live, out.ready, out.model_ready, out.server, out.max_batch_size],
        [true, true, true, 'eclip', 2],
      )
      assert.deepEqual(out.inputs, [{ name: 'input', datatype: 'FP16', shape: [-1, 3, 224, 224] }])
      assert.deepEqual(out.albert_json, { simulated: true, id: 'r1', output: null })
      assert.deepEqual(out.albert_binary, { simulated: true, id: 'r1', output: null })
      assert.equal(out.vgg19, true)
      assert.match(out.bad_shape, /\[400\] input "input": shape \[1,3,224,225\] does not match/)
    } finally {
      await server.close()
    }
  })
})
