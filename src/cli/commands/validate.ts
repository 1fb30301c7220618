import type { Command } from '@commander-js/extra-typings'
import { FORMATS, readFile, UserError } from '../../formats/index.ts'

export function registerValidate(program: Command) {
  program
    .command('validate')
    .description(`check files against an eclip format (${Object.keys(FORMATS).join(', ')})`)
    .argument('<format>', 'format name')
    .argument('<files...>', 'files to check (JSON, or YAML for mixes)')
    .action((format, files) => {
      if (!FORMATS[format])
        throw new UserError(`unknown format "${format}"; known: ${Object.keys(FORMATS).join(', ')}`)
      for (const f of files) {
        readFile(format, f)
        console.log(`${f}: ok (${format})`)
      }
    })
}
