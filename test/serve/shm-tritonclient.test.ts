// Triton's own HTTP client and its system shared-memory utilities (`tritonclient.utils.shared_memory`), unchanged,
// against eclip serve on the simulator: register, status, requests whose input and output lie in regions, the
// errors Triton's clients see, a client that dies with its region registered, unregister all. Skipped with a reason
// when no Python with tritonclient is found (TRITONCLIENT_PYTHON names one; else .venv/bin/python, python3).
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
  (p) =>
    spawnSync(p, ['-c', 'import tritonclient.http, tritonclient.utils.shared_memory, numpy'], {
      stdio: 'ignore',
    }).status === 0,
)
const skip = python
  ? false
  : 'no Python with tritonclient[http] (pip install tritonclient[http]; or set TRITONCLIENT_PYTHON)'
const BATCH = 4

/** Runs shm_tritonclient_check.py against `url`; its one JSON line. */
async function runCheck(
  py: string,
  url: string,
  batch: number,
  extra: string[] = [],
): Promise<Record<string, unknown>> {
  const r = await runScript(py, [
    join(import.meta.dirname, 'shm_tritonclient_check.py'),
    url.replace('http://', ''),
    String(batch),
    ...extra,
  ])
  if (r.status !== 0) throw new Error(`exit ${r.status}: ${r.stderr}`)
  return JSON.parse(r.stdout)
}

describe('serve: tritonclient system shared memory works unchanged (simulator)', () => {
  it('register, status, infer through regions, errors, a dead client, unregister all', {
    skip,
    timeout: 60_000,
  }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eclip-triton-shm-'))
    const config = join(dir, 'serve.yaml')
    writeFileSync(
      config,
      YAML.stringify({ policy: 'model-wise', models: [{ model: 'alexnet', batch: BATCH }] }),
    )
    const { server, url } = await startServe({ config, port: 0 })
    try {
      const out = await runCheck(python as string, url, BATCH)
      assert.ok((out.extensions as string[]).includes('system_shared_memory'))
      assert.equal((out.status as string[]).length, 2)
      const [one] = out.status_one as { name: string; key: string; offset: number; byte_size: number }[]
      assert.deepEqual([one?.offset, one?.byte_size], [0, BATCH * 3 * 224 * 224 * 2])
      assert.match(one?.key ?? '', /^\/eclip_in_\d+$/)
      // the simulator runs no model: nothing is written, and the response says so
      assert.equal(out.simulated, true)
      assert.deepEqual(out.response_outputs, [])
      assert.match(out.twice as string, /\[400\] shared memory region 'in\d+' already in manager/)
      assert.match(out.no_key as string, /\[400\] Unable to open shared memory region: '\/eclip_no_such_key'/)
      assert.match(out.past_end as string, /\[400\] failed to register shared memory region 'past': offset 8/)
      assert.match(out.unknown_region as string, /\[400\] input "input": Unable to find shared memory region/)
      assert.match(out.too_small as string, /\[400\] input "input": Invalid offset \+ byte size/)
      assert.match(
        out.wrong_size as string,
        /\[400\] input "input": shared_memory_byte_size \d+ does not match/,
      )
      assert.equal(out.dead_listed, true)
      assert.equal(out.after_dead, 'alexnet')
      assert.deepEqual(out.after_unregister_all, [])
      assert.deepEqual(server.systemShmStatus(), [])
    } finally {
      await server.close()
    }
  })
})
