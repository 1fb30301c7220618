// bin/eclip.mjs runs the dist/ bundle only while it is newer than every source and package change: a checkout that
// edits code (and every test that spawns the CLI) must run the code as it is now, never a stale bundle.
import assert from 'node:assert/strict'
import { execFileSync, spawnSync } from 'node:child_process'
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'

const repo = join(import.meta.dirname, '..', '..')
// times in seconds: a source's before the build, the build's, an edit's after it
const NOW = Date.now() / 1000
const OLD = NOW - 1000
const NEW = NOW + 1000

/** A checkout in miniature: the real bin/eclip.mjs, a src/ and a dist/ whose entries say which one ran. */
function miniCheckout(): {
  dir: string
  run: (env?: Record<string, string>) => string
  at: (p: string, s: number) => void
} {
  const dir = mkdtempSync(join(tmpdir(), 'eclip-bundle-'))
  mkdirSync(join(dir, 'bin'))
  copyFileSync(join(repo, 'bin', 'eclip.mjs'), join(dir, 'bin', 'eclip.mjs'))
  symlinkSync(join(repo, 'node_modules'), join(dir, 'node_modules'))
  mkdirSync(join(dir, 'src', 'cli'), { recursive: true })
  writeFileSync(join(dir, 'src', 'cli', 'main.ts'), "const from: string = 'src'\nconsole.log(from)\n")
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}\n')
  mkdirSync(join(dir, 'dist'))
  writeFileSync(join(dir, 'dist', 'eclip.mjs'), "console.log('bundle')\n")
  writeFileSync(join(dir, 'dist', '.stamp'), '')
  const at = (p: string, s: number) => utimesSync(join(dir, p), s, s)
  // every source well before the build, the build now (after the real node_modules' last install)
  for (const p of ['package.json', 'src/cli/main.ts', 'src/cli', 'src']) at(p, OLD)
  at('dist/.stamp', NOW)
  const run = (env: Record<string, string> = {}) =>
    execFileSync(process.execPath, [join(dir, 'bin', 'eclip.mjs')], {
      encoding: 'utf8',
      env: { ...process.env, ECLIP_NO_BUNDLE: '', ...env },
    }).trim()
  return { dir, run, at }
}

describe('bin/eclip.mjs picks the bundle only while it is fresh', () => {
  test('a bundle built after every source runs', () => {
    const m = miniCheckout()
    assert.equal(m.run(), 'bundle')
    assert.equal(m.run({ ECLIP_NO_BUNDLE: '1' }), 'src')
    rmSync(m.dir, { recursive: true, force: true })
  })
  test('a source edited after the build: the sources run', () => {
    const m = miniCheckout()
    m.at('src/cli/main.ts', NEW)
    assert.equal(m.run(), 'src')
    rmSync(m.dir, { recursive: true, force: true })
  })
  test('a file added (or removed) in a source directory after the build: the sources run', () => {
    const m = miniCheckout()
    mkdirSync(join(m.dir, 'src', 'cli', 'deep'))
    writeFileSync(join(m.dir, 'src', 'cli', 'deep', 'x.ts'), '')
    for (const p of ['src/cli/deep/x.ts', 'src/cli/deep']) m.at(p, OLD)
    m.at('src/cli', NEW)
    assert.equal(m.run(), 'src')
    m.at('src/cli', OLD)
    assert.equal(m.run(), 'bundle')
    m.at('src/cli/deep/x.ts', NEW)
    assert.equal(m.run(), 'src')
    rmSync(m.dir, { recursive: true, force: true })
  })
  test('packages changed after the build (npm install): the sources run', () => {
    const m = miniCheckout()
    m.at('package.json', NEW)
    assert.equal(m.run(), 'src')
    rmSync(m.dir, { recursive: true, force: true })
  })
  test('no bundle, or one never finished (no stamp): the sources run', () => {
    const m = miniCheckout()
    rmSync(join(m.dir, 'dist', '.stamp'))
    assert.equal(m.run(), 'src')
    rmSync(join(m.dir, 'dist'), { recursive: true })
    assert.equal(m.run(), 'src')
    rmSync(m.dir, { recursive: true, force: true })
  })
})

describe('scripts/build-cli.sh', () => {
  const out = mkdtempSync(join(tmpdir(), 'eclip-build-'))
  const dist = join(out, 'dist')
  before(() => {
    execFileSync(join(repo, 'scripts', 'build-cli.sh'), [dist], { stdio: 'pipe' })
  })
  after(() => rmSync(out, { recursive: true, force: true }))
  test('builds a bundle whose help lists every command, as the sources do', () => {
    const bundled = spawnSync(process.execPath, [join(dist, 'eclip.mjs'), '--help'], { encoding: 'utf8' })
    assert.equal(bundled.status, 0, bundled.stderr)
    const fromSrc = spawnSync(process.execPath, [join(repo, 'bin', 'eclip.mjs'), '--help'], {
      encoding: 'utf8',
      env: { ...process.env, ECLIP_NO_BUNDLE: '1' },
    })
    assert.equal(bundled.stdout, fromSrc.stdout)
    for (const cmd of ['plan', 'serve', 'bench']) assert.match(bundled.stdout, new RegExp(`\\b${cmd}\\b`))
  })
})
