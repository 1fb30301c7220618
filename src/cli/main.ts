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
} else
  try {
    await program.parseAsync(process.argv)
  } catch (err) {
    process.exitCode = exitCodeFor(err)
  }

function exitCodeFor(err: unknown): number {
  // commander has already printed its own usage errors; its help/version exits are not failures
  const code = (err as { code?: string }).code
  if (typeof code === 'string' && code.startsWith('commander.')) {
    if (code === 'commander.helpDisplayed' || code === 'commander.version' || code === 'commander.help')
      return 0
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
