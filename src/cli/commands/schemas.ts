import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Command } from '@commander-js/extra-typings'
import { protocolSchema } from '../../execute/gpu/protocol.ts'
import { exportSchemas } from '../../formats/index.ts'
import { checkWritableDir, refuseEmptyValues } from '../options.ts'

export function registerSchemas(program: Command) {
  program
    .command('schemas')
    .description(
      'write the JSON Schema of every eclip file format and of the GPU backend protocol (the Python backend validates with them)',
    )
    .option('--out <dir>', 'output directory', 'schemas')
    .hook('preAction', (_, cmd) => refuseEmptyValues(cmd))
    .action((opts) => {
      checkWritableDir('--out', opts.out)
      mkdirSync(opts.out, { recursive: true })
      const all = { ...exportSchemas(), 'backend-protocol': protocolSchema() }
      for (const [name, schema] of Object.entries(all)) {
        const file = join(opts.out, `${name}.schema.json`)
        writeFileSync(file, `${JSON.stringify(schema, null, 2)}\n`)
        console.log(file)
      }
    })
}
