// Runs `eclip paris …` / `eclip paris-table …` in the test's own process: spawning tsx costs seconds on a shared
// 2-core machine. Its stdout (tables, file lists) is dropped.
import { Command } from '@commander-js/extra-typings'
import { registerParis } from '../../src/cli/commands/paris.ts'

export async function eclip(...args: string[]): Promise<void> {
  const program = new Command('eclip').exitOverride()
  registerParis(program)
  const log = console.log
  console.log = () => {}
  try {
    await program.parseAsync(['node', 'eclip', ...args])
  } finally {
    console.log = log
  }
}
