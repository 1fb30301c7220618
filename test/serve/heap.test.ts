// The heap growing factor of serving processes (src/serve/heap.ts): ECLIP_HEAP_GROWING_PERCENT read strictly, Node's
// own flag left standing, V8's flag set in a process of its own (never in the test runner), front-ends started with it
// as a flag, a value that is not a percent refused by `eclip serve` with its name.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { UserError } from '../../src/formats/errors.ts'
import { frontendExecArgv } from '../../src/serve/frontends/engine.ts'
import { DEFAULT_HEAP_GROWING_PERCENT, servingHeapGrowingPercent } from '../../src/serve/heap.ts'
import { type Running, startServe } from '../../src/serve/index.ts'

const root = join(import.meta.dirname, '..', '..')
const isUserError = (value: string) => (err: Error) =>
  err instanceof UserError && err.message.includes(`ECLIP_HEAP_GROWING_PERCENT: "${value}" is not a percent`)

describe('serve: heap growing factor of serving processes', () => {
  it('the default, a given percent, V8 its own with 0, Node’s own flag where no variable is set', () => {
    assert.equal(DEFAULT_HEAP_GROWING_PERCENT, 300)
    assert.equal(servingHeapGrowingPercent({}, []), 300)
    assert.equal(servingHeapGrowingPercent({ ECLIP_HEAP_GROWING_PERCENT: '' }, []), 300)
    assert.equal(servingHeapGrowingPercent({ ECLIP_HEAP_GROWING_PERCENT: '150' }, []), 150)
    assert.equal(servingHeapGrowingPercent({ ECLIP_HEAP_GROWING_PERCENT: '0' }, []), undefined)
    assert.equal(servingHeapGrowingPercent({}, ['--heap-growing-percent=150']), undefined)
    assert.equal(servingHeapGrowingPercent({}, ['--heap_growing_percent', '150']), undefined)
    assert.equal(
      servingHeapGrowingPercent({ ECLIP_HEAP_GROWING_PERCENT: '200' }, ['--heap-growing-percent=150']),
      200,
    )
  })

  it('refuses a value that is not a whole percent from 0 to 10000, naming the variable', () => {
    for (const bad of ['abc', '-1', '2.5', '1e9', '3e2', '300%', ' ', ' 300', '0x10', '+300', '10001'])
      assert.throws(
        () => servingHeapGrowingPercent({ ECLIP_HEAP_GROWING_PERCENT: bad }, []),
        isUserError(bad),
      )
  })

  it('sets V8’s flag in the process that asks (a flag V8 knows: no complaint on stderr)', () => {
    const options = spawnSync(process.execPath, ['--v8-options'], { encoding: 'utf8' })
    assert.match(options.stdout, /--heap-growing-percent/)
    const heap = join(root, 'src', 'serve', 'heap.ts')
    const script = `import('${heap}').then((m) => console.log(String(m.applyServingHeapGrowth())))`
    for (const [value, printed] of [
      [undefined, '300'],
      ['150', '150'],
      ['0', 'undefined'],
    ] as const) {
      const env = { ...process.env }
      delete env.ECLIP_HEAP_GROWING_PERCENT
      if (value !== undefined) env.ECLIP_HEAP_GROWING_PERCENT = value
      const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], {
        cwd: root,
        env,
        encoding: 'utf8',
      })
      assert.equal(r.status, 0, r.stderr)
      assert.equal(r.stderr, '')
      assert.equal(r.stdout.trim(), printed)
    }
  })

  it('front-ends start with the factor as a flag, after the engine’s profiling flags and Node’s own', () => {
    assert.deepEqual(frontendExecArgv([], {}), ['--heap-growing-percent=300'])
    assert.deepEqual(frontendExecArgv([], { ECLIP_HEAP_GROWING_PERCENT: '0' }), [])
    assert.deepEqual(
      frontendExecArgv(['--trace-gc', '--cpu-prof-dir', '/tmp/p', '--max-old-space-size=100'], {
        ECLIP_HEAP_GROWING_PERCENT: '150',
      }),
      ['--trace-gc', '--cpu-prof-dir', '/tmp/p', '--heap-growing-percent=150'],
    )
    assert.deepEqual(frontendExecArgv(['--heap-growing-percent', '120'], {}), [
      '--heap-growing-percent',
      '120',
    ])
    assert.throws(() => frontendExecArgv([], { ECLIP_HEAP_GROWING_PERCENT: 'x' }), isUserError('x'))
  })

  let running: Running | undefined
  after(async () => running?.frontends?.close())

  it('a front-end process runs with it', { timeout: 60_000 }, async () => {
    running = await startServe({
      config: join(root, 'examples', 'serve.yaml'),
      port: 0,
      grpcPort: null,
      frontends: 1,
    })
    const pid = running.frontends?.pids()[0] as number
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
    assert.ok(argv.includes('--heap-growing-percent=300'), argv.join(' '))
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
