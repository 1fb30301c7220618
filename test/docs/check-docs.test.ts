// scripts/check-docs.sh runs the ```sh blocks marked runnable in the docs; it must fail when one of them fails,
// skip unmarked blocks, and refuse a file without runnable blocks. The docs themselves are checked by .ci/run.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'

const dir = mkdtempSync(join(tmpdir(), 'check-docs-'))
after(() => rmSync(dir, { recursive: true, force: true }))

function check(name: string, text: string) {
  const file = join(dir, name)
  writeFileSync(file, text)
  return spawnSync('scripts/check-docs.sh', [file], { encoding: 'utf8' })
}

test('a marked block that succeeds passes; an unmarked failing block is not run', () => {
  const r = check('ok.md', '# t\n\n<!-- runnable -->\n```sh\ntrue\necho hi\n```\n\n```sh\nfalse\n```\n')
  assert.equal(r.status, 0, r.stdout + r.stderr)
  assert.match(r.stdout, /1 blocks, 0 failed/)
})

test('a marked block with a failing command fails the script, naming the file and line', () => {
  const r = check('bad.md', '<!-- runnable -->\n```sh\ntrue\nfalse\necho not reached\n```\n')
  assert.equal(r.status, 1, r.stdout + r.stderr)
  assert.match(r.stdout, /FAIL .*bad\.md:2/)
  assert.doesNotMatch(r.stdout, /not reached/)
})

test('a file without runnable blocks is refused', () => {
  const r = check('none.md', '```sh\ntrue\n```\n')
  assert.equal(r.status, 1)
  assert.match(r.stderr, /no runnable blocks/)
})
