// The heap sizing of a serving process (src/serve/heap.ts): ECLIP_HEAP_GROWING_PERCENT read, V8's flag set in a
// process of its own (never in the test runner), a value that is not a percent refused by `eclip serve` with its name.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { UserError } from '../../src/formats/errors.ts'
import { HEAP_GROWING_PERCENT, sizeHeapForServing } from '../../src/serve/heap.ts'

const root = join(import.meta.dirname, '..', '..')

/** sizeHeapForServing() in a fresh Node process with `value` as ECLIP_HEAP_GROWING_PERCENT: what it printed. */
function inChild(value: string | undefined) {
  const env = { ...process.env }
  delete env.ECLIP_HEAP_GROWING_PERCENT
  if (value !== undefined) env.ECLIP_HEAP_GROWING_PERCENT = value
  const script = `import('${join(root, 'src', 'serve', 'heap.ts')}').then((m) => console.log(String(m.sizeHeapForServing())))`
  return spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { cwd: root, env, encoding: 'utf8' })
}

describe('serve: heap sizing for serving', () => {
  it('sets the default growing percent, a given one, or leaves V8 its own with 0', () => {
    assert.equal(inChild(undefined).stdout.trim(), String(HEAP_GROWING_PERCENT))
    assert.equal(inChild('').stdout.trim(), String(HEAP_GROWING_PERCENT))
    assert.equal(inChild('150').stdout.trim(), '150')
    assert.equal(inChild('0').stdout.trim(), 'undefined')
  })

  it('refuses a value that is not a percent, naming the variable', () => {
    for (const bad of ['abc', '-1', '2.5', '1e9', '300%'])
      assert.throws(
        () => sizeHeapForServing({ ECLIP_HEAP_GROWING_PERCENT: bad }),
        (err: Error) =>
          err instanceof UserError && err.message.includes(`ECLIP_HEAP_GROWING_PERCENT: "${bad}"`),
      )
  })

  it('eclip serve refuses to start with a bad value, saying which variable', () => {
    const r = spawnSync(
      process.execPath,
      [
        join(root, 'bin', 'eclip.mjs'),
        'serve',
        '--config',
        join(root, 'examples', 'serve.yaml'),
        '--port',
        '0',
      ],
      {
        cwd: root,
        env: { ...process.env, ECLIP_HEAP_GROWING_PERCENT: 'lots' },
        encoding: 'utf8',
        timeout: 60_000,
      },
    )
    assert.notEqual(r.status, 0)
    assert.match(r.stderr, /ECLIP_HEAP_GROWING_PERCENT: "lots" is not a percent/)
  })
})
