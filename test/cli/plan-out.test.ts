// `eclip plan --out` to a place it cannot write: a one-line error before any solving, not an internal error after it.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { writeSyntheticProfileDir } from '../../src/profile/synthetic.ts'

const bin = join(import.meta.dirname, '..', '..', 'bin', 'eclip.mjs')
const eclip = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' })

describe('eclip plan --out', () => {
  let dir = ''
  let profiles = ''
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'eclip-plan-out-'))
    profiles = join(dir, 'profiles')
    writeSyntheticProfileDir(profiles, { batch: 1, models: ['alexnet'] })
    mkdirSync(join(dir, 'adir'))
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  const cases: [string, RegExp][] = [
    ['/no/such/dir/p.json', /--out \/no\/such\/dir\/p\.json: directory \/no\/such\/dir does not exist/],
    ['adir', /is a directory/],
  ]
  for (const [out, msg] of cases)
    it(`refuses ${out} before solving, with exit 2 and no stack`, () => {
      const file = out.startsWith('/') ? out : join(dir, out)
      const r = eclip('plan', '--mix', 'mix7', '--profiles', profiles, '--out', file)
      assert.equal(r.status, 2, r.stderr)
      assert.match(r.stderr, msg)
      assert.doesNotMatch(r.stderr, /internal error|^\s+at .*:\d+:\d+\)?$/m)
      assert.equal(r.stdout, '', 'nothing solved or printed')
    })
})
