#!/usr/bin/env node
// Runs the CLI: the bundle in dist/ (scripts/build-cli.sh, run by setup.sh) when there is one built after every file
// under src/ and the installed packages last changed, else the TypeScript in src/ through tsx, as a checkout with
// edits needs (a stale bundle never runs). ECLIP_NO_BUNDLE=1 always takes the sources.
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'

const root = join(import.meta.dirname, '..')

/** The bundle's build time (ms), or undefined when there is none or it predates a source or package change. */
function freshBundle() {
  if (process.env.ECLIP_NO_BUNDLE) return undefined
  let built
  try {
    built = statSync(join(root, 'dist', '.stamp')).mtimeMs
    statSync(join(root, 'dist', 'eclip.mjs'))
  } catch {
    return undefined
  }
  // directories too: a deleted or renamed file changes only its directory's time
  const paths = [
    join(root, 'package.json'),
    join(root, 'package-lock.json'),
    join(root, 'node_modules', '.package-lock.json'),
  ]
  const src = join(root, 'src')
  paths.push(src)
  for (const e of readdirSync(src, { recursive: true })) paths.push(join(src, e))
  for (const p of paths) {
    let m
    try {
      m = statSync(p).mtimeMs
    } catch {
      continue
    }
    if (m >= built) return undefined
  }
  return built
}

if (freshBundle() !== undefined) {
  await import('../dist/eclip.mjs')
} else {
  const { register } = await import('tsx/esm/api')
  register()
  await import('../src/cli/main.ts')
}
