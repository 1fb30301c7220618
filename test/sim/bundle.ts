// A TypeScript entry bundled as the device bundle bundles the CLI (scripts/device-bundle.sh: one ESM file, highs and
// resvg left out), and run from its own directory: what a test of a bundled CLI's worker threads needs.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { copyFileSync } from 'node:fs'
import { dirname, join } from 'node:path'

const root = join(import.meta.dirname, '..', '..')

/** Bundles `src` to `out` with esbuild; fails the test on an error. */
export function bundle(src: string, out: string): void {
  const r = spawnSync(
    join(root, 'node_modules', '.bin', 'esbuild'),
    [
      src,
      '--bundle',
      '--platform=node',
      '--format=esm',
      '--target=node20',
      '--log-level=error',
      `--outfile=${out}`,
      '--external:highs',
      '--external:@resvg/resvg-js',
      '--external:playwright-core',
      "--banner:js=import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
    ],
    { encoding: 'utf8' },
  )
  assert.equal(r.status, 0, r.stderr)
}

/**
 * `entry` bundled as `cli.mjs` beside it (with HiGHS's worker), and a function that runs it and parses its last line.
 */
export function bundledCli(entry: string, timeoutMs?: number): () => unknown {
  const dir = dirname(entry)
  bundle(entry, join(dir, 'cli.mjs'))
  copyFileSync(join(root, 'src/plan/highs-worker.mjs'), join(dir, 'highs-worker.mjs'))
  return () => {
    const r = spawnSync(process.execPath, [join(dir, 'cli.mjs')], {
      encoding: 'utf8',
      ...(timeoutMs ? { timeout: timeoutMs } : {}),
      env: { ...process.env, NODE_PATH: join(root, 'node_modules') },
    })
    assert.equal(r.status, 0, r.stderr || `signal ${r.signal}`)
    return JSON.parse(r.stdout.trim().split('\n').at(-1) as string)
  }
}
