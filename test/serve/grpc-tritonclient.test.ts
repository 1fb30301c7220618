// Triton's own gRPC client (`tritonclient.grpc`), unchanged, against eclip serve's gRPC front-end: every RPC, raw
// and typed contents, requested outputs, the stream, system and CUDA shared memory, errors and their gRPC codes (on
// a backend that echoes inputs into outputs); and `eclip serve`'s own gRPC listener on the simulator. Skipped with a
// reason when no Python with tritonclient[grpc] is found (TRITONCLIENT_PYTHON names one; else .venv/bin/python,
// python3).
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import YAML from 'yaml'
import { startServe } from '../../src/serve/index.ts'
import { EchoBackend } from './grpc-echo-backend.ts'
import { testServer } from './helpers.ts'

const root = join(import.meta.dirname, '..', '..')
const candidates = [process.env.TRITONCLIENT_PYTHON, join(root, '.venv', 'bin', 'python'), 'python3'].filter(
  (p): p is string => !!p && (!p.includes('/') || existsSync(p)),
)
const python = candidates.find(
  (p) =>
    spawnSync(p, ['-c', 'import tritonclient.grpc, tritonclient.utils.shared_memory, numpy'], {
      stdio: 'ignore',
    }).status === 0,
)
const skip = python
  ? false
  : 'no Python with tritonclient[grpc] (pip install tritonclient[grpc]; or set TRITONCLIENT_PYTHON)'

/** Runs grpc_tritonclient_check.py against `address` in `mode`; its one JSON line. */
function runCheck(address: string, mode: 'echo' | 'sim'): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const child = spawn(python as string, [
      join(import.meta.dirname, 'grpc_tritonclient_check.py'),
      address,
      mode,
    ])
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => {
      stdout += d
    })
    child.stderr.on('data', (d: Buffer) => {
      stderr += d
    })
    child.on('exit', (status: number | null) =>
      status === 0 ? resolve(JSON.parse(stdout)) : reject(new Error(`exit ${status}: ${stderr}`)),
    )
  })
}

describe('serve: tritonclient.grpc works unchanged', () => {
  it('every RPC, raw and typed contents, the stream, shared memory, errors', {
    skip,
    timeout: 90_000,
  }, async () => {
    const server = await testServer(
      [
        { name: 'vgg19', model: 'vgg19', batch: 4 },
        { name: 'albert', model: 'albert', batch: 2 },
      ],
      { backend: new EchoBackend() },
    )
    try {
      await server.listen(0, '127.0.0.1', { grpcPort: 0 })
      const out = await runCheck(server.grpcAddress as string, 'echo')
      assert.deepEqual(
        [out.live, out.ready, out.model_ready, out.unknown_ready, out.server],
        [true, true, true, false, 'eclip'],
      )
      assert.ok((out.extensions as string[]).includes('cuda_shared_memory'))
      assert.deepEqual(out.inputs, [{ name: 'input', datatype: 'FP16', shape: ['-1', '3', '224', '224'] }])
      assert.deepEqual(out.config, {
        name: 'albert',
        max_batch_size: 2,
        input: [{ name: 'input_ids', data_type: 'TYPE_INT64', dims: ['128'] }],
        output: [{ name: 'last_hidden_state', data_type: 'TYPE_FP16', dims: ['128', '768'] }],
      })
      assert.deepEqual(out.vgg19, { id: 'r1', shape: [2, 1000], echo: true })
      assert.deepEqual(out.albert, { shape: [2, 128, 768], echo: true })
      assert.equal(out.typed, true)
      const code = (k: string) => (out[k] as string[])[0] ?? ''
      const msg = (k: string) => (out[k] as string[])[1] ?? ''
      assert.equal(code('typed_fp16'), 'StatusCode.INVALID_ARGUMENT')
      assert.match(msg('typed_fp16'), /FP16 has no typed contents/)
      assert.deepEqual(out.unknown_model, ['StatusCode.NOT_FOUND', 'unknown model "nope"'])
      assert.equal(code('bad_version'), 'StatusCode.NOT_FOUND')
      assert.equal(code('bad_shape'), 'StatusCode.INVALID_ARGUMENT')
      assert.match(msg('bad_shape'), /input "input": shape \[1,3,224,225\] does not match/)
      assert.equal(code('bad_datatype'), 'StatusCode.INVALID_ARGUMENT')
      assert.match(msg('bad_datatype'), /datatype INT32 is not accepted \(expected INT64\)/)
      // the statistics extension where the server keeps statistics, else UNIMPLEMENTED
      if (typeof (server as { modelStats?: unknown }).modelStats === 'function')
        assert.deepEqual(out.statistics, ['vgg19'])
      else assert.equal(code('statistics'), 'StatusCode.UNIMPLEMENTED')
      assert.deepEqual(out.stream, [
        ['error', 'unknown model "nope"'],
        ['s1', 1],
        ['s3', 1],
      ])
      assert.deepEqual(out.shm_status, ['in', 'out'])
      assert.equal(code('shm_twice'), 'StatusCode.ALREADY_EXISTS')
      assert.deepEqual(out.shm_output, ['out', 2000])
      assert.equal(code('shm_too_small'), 'StatusCode.INVALID_ARGUMENT')
      assert.match(msg('shm_too_small'), /too small to hold the output/)
      assert.match(msg('shm_after_unregister'), /Unable to find shared memory region: 'in'/)
      assert.deepEqual(out.shm_empty, {})
      assert.deepEqual(out.cuda_status, { name: 'dev', byte_size: '1024' })
      assert.match(msg('cuda_bad_handle'), /64-byte cudaIpcMemHandle_t \(got 8 bytes\)/)
      assert.deepEqual(out.cuda_empty, {})
    } finally {
      await server.close()
    }
  })

  it('eclip serve listens for gRPC beside HTTP (simulator)', { skip, timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eclip-grpc-'))
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
    // port 0: gRPC takes a free port too
    const running = await startServe({ config, port: 0 })
    try {
      assert.match(running.grpcAddress as string, /^127\.0\.0\.1:\d+$/)
      const out = await runCheck(running.grpcAddress as string, 'sim')
      assert.deepEqual(out.infer, { id: 's1', simulated: true, logits: null })
      assert.equal(out.server, 'eclip')
    } finally {
      await running.server.close()
    }
    const off = await startServe({ config, port: 0, grpcPort: null })
    try {
      assert.equal(off.grpcAddress, undefined)
    } finally {
      await off.server.close()
    }
  })
})
