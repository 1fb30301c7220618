// What the simulator's two thread pools share (table-threads.ts plans a table's subsets, score-threads.ts scores
// eclip-fit's candidates): how many threads by default, and where a thread's module is.
import { existsSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { fileURLToPath } from 'node:url'

/** Threads a pool gets by default: one per core (the main thread only waits for them), at most 8. */
export function defaultSimThreads(): number {
  return Math.max(1, Math.min(8, availableParallelism()))
}

/**
 * A simulator thread's module (`name`: table-worker, score-worker): under a bundled CLI, the bundled worker beside it
 * (scripts/device-bundle.sh makes them: no tsx needed); else the bootstrap (sim-worker.mjs) and the TypeScript
 * entry it runs through tsx. Undefined when neither is at hand.
 */
export function simWorkerFiles(name: string): { file: URL; entry?: URL } | undefined {
  const fromSrc = import.meta.url.endsWith('.ts')
  if (!fromSrc) {
    const bundled = new URL(`./${name}.bundle.mjs`, import.meta.url)
    if (existsSync(fileURLToPath(bundled))) return { file: bundled }
  }
  const boot = new URL('./sim-worker.mjs', import.meta.url)
  const entry = fromSrc
    ? new URL(`./${name}.ts`, import.meta.url)
    : new URL(`../src/execute/sim/${name}.ts`, import.meta.url)
  return existsSync(fileURLToPath(boot)) && existsSync(fileURLToPath(entry))
    ? { file: boot, entry }
    : undefined
}
