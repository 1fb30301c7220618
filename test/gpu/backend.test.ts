import assert from 'node:assert/strict'
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { BackendCrash, GpuBackend } from '../../src/execute/gpu/index.ts'

const repo = join(import.meta.dirname, '..', '..')
const venvPython = join(repo, '.venv', 'bin', 'python')

function script(body: string): string {
  const f = join(mkdtempSync(join(tmpdir(), 'eclip-fake-')), 'python')
  writeFileSync(f, `#!/usr/bin/env bash\n${body}\n`)
  chmodSync(f, 0o755)
  return f
}

describe('GPU backend process', () => {
  it('reports a backend that dies with a CUDA error as a crash, naming it', async () => {
    await assert.rejects(GpuBackend.start({ python: script('exit 3') }), (e: unknown) => {
      return e instanceof BackendCrash && /exited \(code 3\): fatal CUDA error/.test(e.message)
    })
  })

  it('reports a backend that cannot be started', async () => {
    await assert.rejects(
      GpuBackend.start({ python: '/nonexistent/python3' }),
      (e: unknown) => e instanceof BackendCrash && /cannot start the GPU backend/.test(e.message),
    )
  })

  it('kills a backend that does not answer in time', async () => {
    const started = Date.now()
    await assert.rejects(
      GpuBackend.start({ python: script('exec sleep 30'), startTimeoutS: 0.5 }),
      (e: unknown) =>
        e instanceof BackendCrash && /did not answer hello within 0.5 s; it was killed/.test(e.message),
    )
    assert.ok(Date.now() - started < 5000)
  })

  it('without PyTorch, the real backend answers with a clear error instead of hanging', async () => {
    await assert.rejects(
      GpuBackend.start({ python: venvPython }),
      (e: unknown) => e instanceof BackendCrash && /GPU backend: .*(torch|CUDA|cuda)/.test(e.message),
    )
  })
})
