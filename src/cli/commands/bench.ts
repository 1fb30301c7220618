// `eclip bench`: runs an experiment (mixes × policies × modes) on the simulator or the GPU and writes results.json,
// the raw request log, a text report and the figures. With no flags: the seven paper mixes × every policy on the
// shipped H100 profiles (profiles/h100/), or on synthetic profiles — loudly labelled — while those are not shipped;
// on the GPU, the shipped profiles made on the GPU the backend reports.
// The application is src/bench/run.ts.
import { type Command, Option } from '@commander-js/extra-typings'
import type { ProfilesChoice } from '../../bench/options.ts'
import { reportFrom, runBench } from '../../bench/run.ts'
import { DEFAULT_HOLD_MS } from '../../execute/sim/live.ts'
import { defaultTableThreads } from '../../execute/sim/table-threads.ts'
import { DEFAULT_POLICY, isMpsPolicy, isTablePolicy, POLICIES, UserError } from '../../formats/index.ts'
import {
  calibrationOption,
  checkFitOptions,
  checkMinShare,
  checkRtOptions,
  checkStreamPriorities,
  checkSwitchMax,
  checkTune,
  checkWritableDir,
  fitStartsOption,
  givenOnCommandLine,
  maxP95Option,
  minShareOption,
  num,
  objectiveOption,
  refuseEmptyValues,
  resolveMixesOrWorkloads,
  resolvePolicies,
  resolveTune,
  rtBestEffortOption,
  rtFactorOption,
  rtGateOption,
  rtMechanismOption,
  rtReserveOption,
  rtUngatedOption,
  streamPrioritiesOption,
  switchMaxOption,
  tuneCandidatesOption,
  tuneEvaluationsOption,
  tuneFloorMarginOption,
  tuneMarginOption,
  tuneOption,
  tunePriorityPlansOption,
  tuneSimFloorSlackOption,
  tuneWarmupOption,
  tuneWindowOption,
} from '../options.ts'

/** --profiles: a directory, synthetic, or (not given) the shipped ones for the backend's GPU (runBench picks). */
const profilesChoice = (arg: string | undefined): ProfilesChoice =>
  arg === 'synthetic' ? 'synthetic' : arg !== undefined ? { dir: arg } : undefined

/** What --from's report reads besides the results files: the rest configures runs, which --from makes none of. */
const REPORT_OPTIONS = ['from', 'out', 'plots', 'profiles', 'gemmTarget']

/** The options of GPU runs: refused on the simulator, where no run would use them. */
const GPU_FLAGS = [
  ['simCompare', '--no-sim-compare'],
  ['checkOutputs', '--no-check-outputs'],
] as const

/**
 * The bench's solo runs are named solo-<model>-b<batch>-<dtype> (soloMixName): a mix named so would share its runs'
 * names and plans with them. Refused whether or not this bench runs solo runs, so that a mix's runs keep one meaning
 * in every results file (--from merges files, some with solo runs).
 */
export function checkMixNames(mixes: readonly { name: string }[], flag: string): void {
  const solo = mixes.find((m) => m.name.startsWith('solo-'))
  if (solo)
    throw new UserError(
      `${flag}: mix "${solo.name}": names starting with solo- are the bench's solo runs' (solo-<model>-b<batch>-<dtype>); rename the mix`,
    )
}

export function registerBench(program: Command) {
  program
    .command('bench')
    .description(
      'run mixes × policies on the simulator (default) or the GPU; write results.json, requests.csv, a report and figures',
    )
    .option(
      '--mix <name|file|all>',
      'mix names from mixes/paper.yaml (comma-separated), a mix or workload file, or all (default: all)',
    )
    .option(
      '--workload <name|file>',
      'workload files, or shipped ones by name (disb: workloads/disb.yaml; disb-A: one of its workloads), or FILE.yaml:NAME (one workload of a file), comma-separated: each runs its own length, and its real-time workers alone once more (instead of --mix)',
    )
    .option(
      '--policies <list|all>',
      `comma-separated (${POLICIES.join(', ')}, eclip-rt, eclip-live) or all (on the simulator, all but the mps ones; eclip-live only when named)`,
      'all',
    )
    .option('--modes <list>', 'execution modes for multi-group plans: stream, graph or both', 'stream,graph')
    .addOption(
      new Option('--backend <name>', 'sim or gpu').choices(['sim', 'gpu'] as const).default('sim' as const),
    )
    .option('--duration <s>', 'steady window per run, s (default: sim 0.5, gpu 10)', num('duration', 0.001))
    .option('--warmup <s>', 'warm-up per run, s (default: sim 0.05, gpu 2)', num('warmup', 0))
    .option('--seed <n>', 'random seed (start offsets, open-loop arrivals)', num('seed', 0, true), 1)
    .option('--batch <n>', "override every worker's batch", num('batch', 1, true))
    .option(
      '--rate <rps>',
      "open loop: Poisson arrivals at this rate per worker (default: closed loop, or each worker's own arrivals)",
      num('rate', 1e-9),
    )
    .addOption(rtMechanismOption())
    .addOption(rtReserveOption())
    .addOption(rtFactorOption())
    .addOption(rtGateOption())
    .addOption(rtUngatedOption())
    .addOption(rtBestEffortOption())
    .addOption(objectiveOption())
    .addOption(streamPrioritiesOption())
    .addOption(fitStartsOption())
    .addOption(maxP95Option())
    .addOption(minShareOption())
    .addOption(switchMaxOption())
    .option(
      '--profiles <dir|synthetic>',
      "profile directory (default: with --backend gpu, the shipped profiles/<gpu> made on the backend's GPU, refused if none; on the simulator profiles/h100, else another shipped profiles/<gpu>, else synthetic profiles)",
    )
    .option(
      '--primitives <file>',
      'primitives file (default: the profile directory’s, else docs/design.md §7 defaults)',
    )
    .option(
      '--power <file>',
      'power model file (default: the profile directory’s power.json, else a placeholder)',
    )
    .addOption(calibrationOption())
    .option(
      '--hold-ms <ms>',
      `eclip-live: a worker stays in the active set this long after its last request (default ${DEFAULT_HOLD_MS})`,
      num('hold-ms', 0),
    )
    .addOption(
      new Option(
        '--table-policy <policy>',
        "eclip-live: the policy of its table's plans of two or more workers",
      )
        .choices(POLICIES.filter((p) => !isMpsPolicy(p)))
        .default(DEFAULT_POLICY),
    )
    .option(
      '--table-threads <n>',
      `eclip-live: worker threads planning a table's subsets (default ${defaultTableThreads()}: one per core, at most 8)`,
      num('table-threads', 1, true),
    )
    .addOption(tuneOption())
    .addOption(tuneCandidatesOption())
    .addOption(tuneEvaluationsOption())
    .addOption(tuneWindowOption())
    .addOption(tuneWarmupOption())
    .addOption(tuneMarginOption())
    .addOption(tunePriorityPlansOption())
    .addOption(tuneFloorMarginOption())
    .addOption(tuneSimFloorSlackOption())
    .option(
      '--plans <dir>',
      "run the plans DIR holds instead of planning them: a (mix, policy)'s plan where DIR has MIX.POLICY.bBATCH.plan.json (the names a bench writes under its --out/plans/; BATCH is --batch, or 'mix'), planned as usual where it has none; not eclip-live's tables",
    )
    .option('--out <dir>', 'output directory', 'out/bench')
    .option('--no-solo', 'skip the solo runs (no solo-normalised throughput or fairness)')
    .option(
      '--bracket',
      "run each mix's baseline again after its other policies and take every ratio against the mean of the two (a machine that drifts over the runs then favours no policy); the report says how far the second baseline is from the first",
    )
    .option('--no-plots', 'skip the figures')
    .option(
      '--resume',
      'finish the bench whose results.json is in --out, stopped before its end, with the same options: the mixes all of whose runs ended are kept, the others run (again) whole, the solo runs that ended are kept',
    )
    .option(
      '--from <files>',
      'run nothing: the report and figures of results files (comma-separated; runs of several files, e.g. GPU + sim, are merged)',
    )
    .option(
      '--no-sim-compare',
      'with --backend gpu: do not also simulate every run for the side-by-side columns',
    )
    .option(
      '--no-gemm-target',
      "plan from the profiles' default times and capture every worker's matrix products with kernels picked for the whole GPU, not (the default, where a profile has them: eclip profile times them unless --no-gemm-target) from their GEMM-target times with kernels picked for each partition's SMs (docs/design.md §7)",
    )
    .option(
      '--no-check-outputs',
      "with --backend gpu: do not check each partitioned worker's output against its baseline capture before a run (saves a capture per worker and run)",
    )
    .hook('preAction', (_, cmd) => refuseEmptyValues(cmd))
    .action(async (opts, cmd) => {
      const profiles = profilesChoice(opts.profiles)
      checkWritableDir('--out', opts.out)
      if (opts.from !== undefined && opts.resume)
        throw new UserError('--resume and --from: --from runs nothing; give one of them')
      if (opts.from !== undefined) {
        const run = givenOnCommandLine(cmd, REPORT_OPTIONS)
        if (run.length > 0)
          throw new UserError(
            `--from runs nothing, it reports on results files: ${run.join(', ')} would have no effect (with --from: --out, --no-plots, --profiles, --no-gemm-target)`,
          )
        return reportFrom(opts.from.split(','), { ...opts, profiles })
      }
      const { mixes, workloads } = resolveMixesOrWorkloads(opts)
      checkMixNames(mixes, opts.workload !== undefined ? '--workload' : '--mix')
      const policies = resolvePolicies(opts.policies, opts.backend, mixes)
      checkMinShare(opts.minShare, policies, opts)
      checkSwitchMax(opts.switchMax, policies, opts)
      checkFitOptions(opts, policies)
      checkRtOptions(opts, policies)
      // (--hold-ms and --table-threads without eclip-live: runBench refuses them)
      if (cmd.getOptionValueSource('tablePolicy') === 'cli' && !policies.some(isTablePolicy))
        throw new UserError(
          "--table-policy is eclip-live's (the policy of its table's plans): add eclip-live to --policies",
        )
      const gpuOnly = GPU_FLAGS.filter(([k]) => cmd.getOptionValueSource(k) === 'cli').map(([, f]) => f)
      if (gpuOnly.length > 0 && opts.backend !== 'gpu')
        throw new UserError(
          `${gpuOnly.join(', ')}: with --backend gpu only (here: --backend ${opts.backend})`,
        )
      const modes = opts.modes.split(',').map((m) => m.trim())
      const tune = resolveTune(opts)
      if (tune) checkTune(policies, opts)
      checkStreamPriorities(opts.streamPriorities, policies)
      const { tune: _t, ...rest } = opts
      const { failed } = await runBench({
        ...rest,
        mixes,
        workloads,
        policies,
        modes,
        profiles,
        ...(tune ? { tune } : {}),
      })
      if (failed) process.exitCode = 1
    })
}
