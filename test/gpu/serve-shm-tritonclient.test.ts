// GPU test: Triton's own HTTP client with its system and CUDA shared-memory utilities, unchanged, against
// `eclip serve --backend gpu` serving alexnet (model-wise, from measured profiles): the tensors go through the
// client's regions (never through the server's Node process), and the outputs written there equal the same request
// sent as binary data. Skipped with a reason without a GPU Python (ECLIP_PYTHON, else python3, with torch and a CUDA
// device) or without tritonclient (TRITONCLIENT_PYTHON, else the GPU Python; the CUDA part also needs cuda-bindings
// there). Profiles: ECLIP_GPU_PROFILES (default profiles/h100). Bundled for the GPU machine by
// scripts/device-bundle.sh.
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
const has = (mod: string) =>
  spawnSync(clientPython, ['-c', `import ${mod}`], { stdio: 'ignore' }).status === 0
const hasClient = has('tritonclient.http, tritonclient.utils.shared_memory, numpy')
const hasCudaClient = has('tritonclient.utils.cuda_shared_memory, cuda.bindings.runtime')
const profiles = resolve(process.env.ECLIP_GPU_PROFILES ?? join(ECLIP_HOME, 'profiles', 'h100'))
const BATCH = 8
const skip = !hasGpu
  ? `no GPU Python (${gpuPython} with torch and a CUDA device; set ECLIP_PYTHON): run on the GPU machine`
  : !hasClient
    ? `no tritonclient[http] in ${clientPython} (set TRITONCLIENT_PYTHON)`
    : !existsSync(join(profiles, `alexnet.b${BATCH}.fp16.json`))
      ? `no alexnet b${BATCH} profile in ${profiles} (set ECLIP_GPU_PROFILES)`
      : false

function run(script: string, url: string, extra: string[] = []): Promise<Record<string, unknown>> {
  return new Promise((done, fail) => {
    const child = spawn(clientPython, [script, url.replace('http://', ''), String(BATCH), ...extra])
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => {
      stdout += d
    })
    child.stderr.on('data', (d: Buffer) => {
      stderr += d
    })
    child.on('exit', (status: number | null) =>
      status === 0 ? done(JSON.parse(stdout)) : fail(new Error(`${script}: exit ${status}: ${stderr}`)),
    )
  })
}

describe('serve --backend gpu: tritonclient shared memory works unchanged (GPU)', () => {
  it('system and CUDA regions: real outputs written into the client’s memory', {
    skip,
    timeout: 900_000,
  }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eclip-triton-shm-gpu-'))
    const config = join(dir, 'serve.yaml')
    writeFileSync(
      config,
      YAML.stringify({
        format: 'eclip.serve/1',
        policy: 'model-wise',
        profiles,
        models: [{ model: 'alexnet', batch: BATCH }],
      }),
    )
    const { server, url } = await startServe({ config, port: 0, backend: 'gpu' })
    try {
      const sys = await run(join(ECLIP_HOME, 'test', 'serve', 'shm_tritonclient_check.py'), url, ['--real'])
      assert.equal(sys.simulated, null) // real outputs carry no simulated marker
      const [o] = sys.response_outputs as { name: string; parameters: Record<string, unknown> }[]
      assert.equal(o?.name, 'logits')
      assert.equal(o?.parameters.shared_memory_byte_size, BATCH * 1000 * 2)
      assert.deepEqual([sys.equal_to_binary, sys.finite, sys.fp32_equal], [true, true, true])
      assert.match(sys.unknown_region as string, /\[400\]/)
      assert.match(sys.wrong_size as string, /\[400\]/)
      assert.equal(sys.after_dead, 'alexnet')
      assert.deepEqual(sys.after_unregister_all, [])
      if (!hasCudaClient) return // said in the report: the CUDA part needs cuda-bindings in the client's Python
      const cuda = await run(join(ECLIP_HOME, 'test', 'gpu', 'serve_cuda_shm_check.py'), url)
      assert.deepEqual(cuda.status, ['cin', 'cout'])
      assert.deepEqual([cuda.equal_to_binary, cuda.finite], [true, true])
      assert.match(cuda.twice as string, /\[400\] shared memory region 'cin' already in manager/)
      assert.deepEqual(cuda.after_unregister_all, [])
    } finally {
      await server.close()
    }
  })
})
