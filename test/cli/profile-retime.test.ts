// `eclip profile --retime` re-times request latencies only: the options that concern kernels are refused before the
// GPU backend starts, naming them; the backend's own refusal is reported as a failed re-time.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'

const bin = join(import.meta.dirname, '..', '..', 'bin', 'eclip.mjs')
const eclip = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' })

describe('eclip profile --retime', () => {
  let dir = ''
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'eclip-retime-'))
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  for (const opt of [['--repeats', '3'], ['--probe']]) {
    it(`refuses ${opt[0]}, which concerns the kernels it keeps`, () => {
      const r = eclip('profile', '--retime', ...opt, '--out', dir)
      assert.equal(r.status, 2, r.stderr)
      assert.match(r.stderr, new RegExp(`--retime times request latencies only.*${opt[0]} cannot go with it`))
    })
  }

  it('refuses --no-gemm-target, which would not change what it re-times', () => {
    const r = eclip('profile', '--retime', '--no-gemm-target', '--out', dir)
    assert.equal(r.status, 2, r.stderr)
    assert.match(r.stderr, /--no-gemm-target cannot go with it/)
  })

  it('says the re-time failed when the backend refuses (here: a Python that exits 1)', () => {
    const py = join(dir, 'python')
    writeFileSync(py, '#!/bin/sh\nexit 1\n', { mode: 0o755 })
    const r = eclip('profile', '--retime', '--out', dir, '--python', py)
    assert.equal(r.status, 2, r.stderr)
    assert.match(r.stderr, /the GPU profiler failed to re-time the profiles \(exit 1\)/)
  })

  it('times GEMM targets unless --no-gemm-target, conv lanes with --conv-target (the arguments the backend gets)', () => {
    const py = join(dir, 'python-args')
    const log = join(dir, 'args.txt')
    writeFileSync(py, `#!/bin/sh\necho "$@" >> ${log}\nexit 1\n`, { mode: 0o755 })
    eclip('profile', '--models', 'alexnet', '--out', dir, '--python', py)
    eclip('profile', '--models', 'alexnet', '--out', dir, '--python', py, '--no-gemm-target')
    eclip('profile', '--models', 'alexnet', '--out', dir, '--python', py, '--conv-target')
    const [aimed, plain, laned] = readFileSync(log, 'utf8').trim().split('\n')
    assert.match(aimed ?? '', /-m eclip_gpu profile .*--gemm-target/)
    assert.doesNotMatch(aimed ?? '', /--conv-target/)
    assert.doesNotMatch(plain ?? '', /--gemm-target/)
    assert.match(laned ?? '', /--gemm-target --conv-target/)
  })

  it('refuses --conv-target without the GEMM target, and with --retime', () => {
    let r = eclip('profile', '--models', 'alexnet', '--out', dir, '--conv-target', '--no-gemm-target')
    assert.equal(r.status, 2, r.stderr)
    assert.match(r.stderr, /--conv-target .* cannot go with --no-gemm-target/)
    r = eclip('profile', '--retime', '--conv-target', '--out', dir)
    assert.equal(r.status, 2, r.stderr)
    assert.match(r.stderr, /--conv-target cannot go with it/)
  })
})
