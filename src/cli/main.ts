// The `eclip` command line. Each subcommand lives in its own module under commands/ and registers itself here.
import { Command } from '@commander-js/extra-typings'
import { UserError } from '../formats/errors.ts'
import { registerBench } from './commands/bench.ts'
import { registerCalibrate } from './commands/calibrate.ts'
import { registerParis } from './commands/paris.ts'
import { registerPlan } from './commands/plan.ts'
import { registerProfile } from './commands/profile.ts'
import { registerSchemas } from './commands/schemas.ts'
import { registerServe } from './commands/serve.ts'
import { registerServeBench } from './commands/serve-bench.ts'
import { registerValidate } from './commands/validate.ts'

const program = new Command('eclip')
  .description('Kernel-wise SM partitioning for ML inference models co-located on one NVIDIA GPU')
  .version('0.1.0')
  .showHelpAfterError()
  .exitOverride()

registerBench(program)
registerCalibrate(program)
registerParis(program)
registerPlan(program)
registerProfile(program)
registerSchemas(program)
registerServe(program)
registerServeBench(program)
registerValidate(program)

if (process.env.ECLIP_FRONTEND === '1') {
  // a front-end process of `eclip serve --frontends N`: the server forks this CLI as its entry (src/serve/frontends)
  const { runFrontend } = await import('../serve/frontends/frontend.ts')
  await runFrontend()
} else {
  // `eclip help NAME` with no such command shows the usage as commander does, saying why as `eclip NAME` would
  const [first, second] = process.argv.slice(2)
  const known = (name: string) => name === 'help' || program.commands.some((c) => c.name() === name)
  if (first === 'help' && second !== undefined && !second.startsWith('-') && !known(second))
    process.stderr.write(`error: unknown command '${second}'\n`)
  try {
    await program.parseAsync(process.argv)
  } catch (err) {
    process.exitCode = exitCodeFor(err)
  }
}

function exitCodeFor(err: unknown): number {
  // commander has already printed its own usage errors; help asked for and the version are not failures, help shown
  // for want of a command (`eclip`, `eclip help nosuch`) is
  const { code, exitCode } = err as { code?: string; exitCode?: number }
  if (typeof code === 'string' && code.startsWith('commander.')) {
    if (code === 'commander.helpDisplayed' || code === 'commander.version') return 0
    if (code === 'commander.help') return exitCode === 0 ? 0 : 2
    return 2
  }
  if (err instanceof UserError) {
    process.stderr.write(`eclip: ${err.message}\n`)
    return err.exitCode
  }
  process.stderr.write(
    `eclip: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  )
  return 1
}
