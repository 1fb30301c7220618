// GPU test: Triton's own HTTP client (`tritonclient`), unchanged, against `eclip serve --backend gpu` serving albert +
// alexnet planned with model-wise partitions from measured profiles: real outputs, JSON and binary, FP32 → FP16
// input conversion, errors. Skipped with a reason without a GPU Python (ECLIP_PYTHON, else python3, with torch and a
// CUDA device) or without tritonclient (TRITONCLIENT_PYTHON, else the GPU Python). Profiles: ECLIP_GPU_PROFILES
// (default profiles/h100; they must come from this GPU model and this torch, or the load refuses the fingerprints).
// On the GPU machine, which has no node_modules, it runs bundled: scripts/device-bundle.sh builds it into .device/.
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { describe, it } from 'node:test'
import YAML from 'yaml'
import { ECLIP_HOME } from '../../src/paths.ts'
import { startServe } from '../../src/serve/index.ts'

const gpuPython = process.env.ECLIP_PYTHON ?? 'python3'
const hasGpu =
  spawnSync(gpuPython, ['-c', 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)'], {
    stdio: 'ignore',
  }).status === 0
const clientPython = process.env.TRITONCLIENT_PYTHON ?? gpuPython
const hasClient =
  spawnSync(clientPython, ['-c', 'import tritonclient.http, numpy'], { stdio: 'ignore' }).status === 0
const profiles = resolve(process.env.ECLIP_GPU_PROFILES ?? join(ECLIP_HOME, 'profiles', 'h100'))
const BATCH = 8
const skip = !hasGpu
  ? `no GPU Python (${gpuPython} with torch and a CUDA device; set ECLIP_PYTHON): run on the GPU machine`
  : !hasClient
    ? `no tritonclient[http] in ${clientPython} (set TRITONCLIENT_PYTHON)`
    : !existsSync(join(profiles, `albert.b${BATCH}.fp16.json`))
      ? `no albert b${BATCH} profile in ${profiles} (set ECLIP_GPU_PROFILES)`
      : false

describe('serve --backend gpu: tritonclient works unchanged (GPU)', () => {
  it('real outputs over JSON and binary tensors, conversions, errors', {
    skip,
    timeout: 900_000,
  }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eclip-triton-gpu-'))
    const config = join(dir, 'serve.yaml')
    writeFileSync(
      config,
      YAML.stringify({
        format: 'eclip.serve/1',
        policy: 'model-wise',
        profiles,
        models: [
          { model: 'albert', batch: BATCH },
          { model: 'alexnet', batch: BATCH },
        ],
      }),
    )
    const { server, url } = await startServe({ config, port: 0, backend: 'gpu' })
    try {
      const r = await new Promise<{ status: number | null; stdout: string; stderr: string }>((done) => {
        const child = spawn(clientPython, [
          join(ECLIP_HOME, 'test', 'gpu', 'serve_tritonclient_check.py'),
          url.replace('http://', ''),
          String(BATCH),
        ])
        let stdout = ''
        let stderr = ''
        child.stdout.on('data', (d: Buffer) => {
          stdout += d
        })
        child.stderr.on('data', (d: Buffer) => {
          stderr += d
        })
        child.on('exit', (status: number | null) => done({ status, stdout, stderr }))
      })
      assert.equal(r.status, 0, r.stderr)
      const out = JSON.parse(r.stdout)
      assert.deepEqual([out.live, out.ready, out.model_ready], [true, true, true])
      for (const k of ['albert_json', 'albert_binary'])
        assert.deepEqual(out[k], {
          simulated: null, // no simulated marker on real outputs
          id: 'r1',
          shape: [2, 128, 768],
          dtype: 'float16',
          finite: true,
        })
      assert.equal(out.json_equals_binary, true)
      assert.deepEqual(out.alexnet, { shape: [BATCH, 1000], finite: true })
      assert.equal(out.alexnet_fp32_equal, true)
      assert.match(out.bad_shape, /\[400\] input "input": shape \[1,3,224,225\] does not match/)
    } finally {
      await server.close()
    }
  })
})
