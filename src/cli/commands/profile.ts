// `eclip profile`: runs the GPU backend's profiler (python -m eclip_gpu profile) on this machine's GPU and checks
// what it wrote against the TypeScript formats. `--retime` times the request latencies of profiles already in --out
// again (python -m eclip_gpu retime), their kernels kept: for profiles whose latencies were timed after the profiler
// had run in the process (docs/profile.md).
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import type { Command } from '@commander-js/extra-typings'
import { readFile, UserError } from '../../formats/index.ts'
import { GPU_PACKAGE_DIR } from '../../paths.ts'
import { batchSizes, checkWritableDir, dtypeArg, num, refuseEmptyValues } from '../options.ts'

// checked here, before the profiler starts the GPU: the backend reads them only after minutes of work
const batchList = (v: string) => (v.trim() === 'all' ? 'all' : batchSizes('--batch')(v).join(',')) // --retime: all

export function registerProfile(program: Command) {
  program
    .command('profile')
    .description(
      'profile models on this GPU: every kernel at every partition size (+ GPU description, primitives)',
    )
    .option(
      '--models <list>',
      'zoo names, comma-separated, or "all" (also torchscript:<file>, <module>:<function>)',
      'all',
    )
    .option('--batch <list>', 'batch sizes, comma-separated', batchList, '1')
    .option('--dtype <dtype>', 'fp16, bf16 or fp32', dtypeArg, 'fp16')
    .option(
      '--repeats <n>',
      'graph replays per partition size (median per kernel)',
      num('repeats', 1, true),
      10,
    )
    .option('--probe', "record each slice's SM ids with an %smid kernel (GPU description)")
    .option(
      '--no-gemm-target',
      "skip the second timing of every size with its matrix products picked for its SM count (the profile's gemmTarget, which plans read by default): profiling takes about half as long",
    )
    .option(
      '--conv-target',
      "with the GEMM target, time each size's convolutions again with algorithms benchmarked on it (conv lanes) and keep those where faster (the profile's gemmTarget.convSms; opt-in: in plans it gained for some models and lost for others, docs/profile.md)",
    )
    .option(
      '--retime',
      'time the request latencies of the profiles in --out again, kernels kept (--models and --batch pick them; default all)',
    )
    .requiredOption('--out <dir>', 'profile directory to write (e.g. profiles/h100)')
    .option(
      '--python <path>',
      'Python with torch + cuda-bindings + nvidia-ml-py',
      process.env.ECLIP_PYTHON ?? 'python3',
    )
    .hook('preAction', (_, cmd) => refuseEmptyValues(cmd))
    .action((opts, cmd) => {
      // the profiler writes there (or, with --retime, rewrites the profiles there): checked before it starts
      checkWritableDir('--out', opts.out)
      const env = {
        ...process.env,
        PYTHONPATH: [GPU_PACKAGE_DIR, process.env.PYTHONPATH].filter(Boolean).join(':'),
        PYTHONUNBUFFERED: '1',
      }
      const py = (args: string[]) => {
        const r = spawnSync(opts.python, ['-m', 'eclip_gpu', ...args], { stdio: 'inherit', env })
        if (r.error) throw new UserError(`cannot run ${opts.python}: ${r.error.message}`)
        if (r.status !== 0)
          throw new UserError(
            `the GPU profiler failed${opts.retime ? ' to re-time the profiles' : ''} (exit ${r.status ?? r.signal})`,
          )
      }
      const given = (o: 'models' | 'batch' | 'repeats' | 'probe') => {
        const source = cmd.getOptionValueSource(o)
        return source !== undefined && source !== 'default'
      }
      if (opts.retime) {
        const other = (['repeats', 'probe'] as const).filter(given)
        if (other.length > 0)
          throw new UserError(
            `--retime times request latencies only, keeping the profiles' kernels: ${other.map((o) => `--${o}`).join(' and ')} cannot go with it`,
          )
        if (opts.gemmTarget === false || opts.convTarget)
          throw new UserError(
            `--retime times each profile's GEMM-target latencies again where it has them (their convolutions as profiled) and adds none: ${opts.gemmTarget === false ? '--no-gemm-target' : '--conv-target'} cannot go with it`,
          )
        py([
          'retime',
          '--profiles',
          opts.out,
          '--models',
          given('models') ? opts.models : 'all',
          '--batch',
          given('batch') ? opts.batch : 'all',
          '--dtype',
          opts.dtype,
        ])
        console.log(
          `${opts.out}: request latencies re-timed; its ${checkProfiles(opts.out)} profiles all valid`,
        )
        return
      }
      if (opts.batch === 'all')
        throw new UserError('--batch all picks the profiles to --retime: give the batch sizes')
      if (opts.convTarget && opts.gemmTarget === false)
        throw new UserError(
          "--conv-target times the convolutions within the GEMM target's timing: it cannot go with --no-gemm-target",
        )
      if (opts.probe) py(['describe', '--probe', '--out', opts.out])
      py([
        'profile',
        '--models',
        opts.models,
        '--batch',
        opts.batch,
        '--dtype',
        opts.dtype,
        '--repeats',
        String(opts.repeats),
        '--out',
        opts.out,
        ...(opts.gemmTarget === false ? [] : ['--gemm-target']),
        ...(opts.gemmTarget !== false && opts.convTarget ? ['--conv-target'] : []),
      ])
      readFile('gpu', join(opts.out, 'gpu.json'))
      readFile('primitives', join(opts.out, 'primitives.json'))
      console.log(`${opts.out}: gpu.json, primitives.json and ${checkProfiles(opts.out)} profiles, all valid`)
    })
}

/** Reads every profile file of `dir` against the profile format (throws naming the first bad one); their number. */
function checkProfiles(dir: string): number {
  const profiles = readdirSync(dir).filter((f) => /\.b\d+\.\w+\.json$/.test(f))
  for (const f of profiles) readFile('profile', join(dir, f))
  return profiles.length
}
