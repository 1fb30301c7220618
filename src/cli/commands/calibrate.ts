// `eclip calibrate`: fits the simulator's contention constants and power model to GPU runs (results files written
// by `eclip bench --backend gpu`) and writes them into the profile directory, where `eclip bench` picks them up
// (sim-calibration.json, power.json). The application is src/calibrate/run.ts, the method src/calibrate/calibrate.ts.
import { type Command, Option } from '@commander-js/extra-typings'
import { runCalibrate } from '../../calibrate/run.ts'
import { UserError } from '../../formats/index.ts'
import { checkWritableDir, refuseEmptyValues } from '../options.ts'

export function registerCalibrate(program: Command) {
  program
    .command('calibrate')
    .description(
      "fit the simulator's contention constants and power model to GPU runs; write sim-calibration.json and power.json",
    )
    .requiredOption(
      '--results <files>',
      'results files with GPU runs (comma-separated; eclip bench --backend gpu)',
    )
    .requiredOption('--profiles <dir>', 'the profile directory the runs were planned from')
    .option(
      '--out <dir>',
      'where to write power.json and sim-calibration.json (default: the profile directory)',
    )
    .addOption(
      new Option(
        '--fit-on <runs>',
        'GPU runs the contention constants are chosen on: single-launch (solo, baseline, model-wise: no host cost per group), graph (those and every graph-mode run) or all',
      )
        .choices(['single-launch', 'graph', 'all'] as const)
        .default('single-launch' as const),
    )
    .option(
      '--plan-calibration <dir>',
      "where the power.json and sim-calibration.json lie that eclip-fit's runs were planned with (its search scores candidates on the simulator; default: the profile directory, i.e. the calibration this run replaces)",
    )
    .option(
      '--keep-contention',
      "refit the power model alone: keep the profile directory's sim-calibration.json (its constants are the only grid point; minutes instead of the grid's half hour) and write power.json only",
    )
    .option(
      '--before <dir>',
      "the calibration the errors' before column is simulated with: a directory's sim-calibration.json and power.json (default: the neutral constants and placeholder power)",
    )
    .option(
      '--grid <axes>',
      'a smaller grid, e.g. "sharing=fifo;tolerance=0.01;gamma=0,0.25,0.5;footprint=none,4;switch=none,3": the axes given replace the default ones',
    )
    .option('--per-run', "also print the held-out sets' mix runs one by one (STP and STP ÷ baseline)")
    .addOption(
      new Option(
        '--fit-profiles',
        "fit each profile's own memory interference γ on the runs with two or more workers, keeping the profile directory's sim-calibration.json otherwise; writes sim-calibration.json only",
      ).conflicts(['keepContention', 'grid', 'before', 'perRun', 'fitOn']),
    )
    .addOption(
      new Option(
        '--interference-load <p[,q[,n0]]>',
        "with --fit-profiles: the γ term's shape in the others' load, rate ÷ (1 + γ · u^p ÷ max(1, n ÷ n0)^q) (u the others' busy SMs ÷ the SM count, n how many others hold SMs; q default 0, n0 1), written into sim-calibration.json and fitted under",
      ),
    )
    .option('--dry-run', 'print the fit, write nothing')
    .hook('preAction', (_, cmd) => refuseEmptyValues(cmd))
    .action(async (opts) => {
      // where the files go, checked before the fit (minutes to half an hour); a dry run writes nothing
      if (opts.dryRun && opts.out !== undefined)
        throw new UserError('--dry-run writes nothing: --out cannot go with it')
      if (opts.interferenceLoad !== undefined && !opts.fitProfiles)
        throw new UserError('--interference-load goes with --fit-profiles')
      if (opts.out !== undefined) checkWritableDir('--out', opts.out)
      else if (!opts.dryRun) checkWritableDir('--profiles (written to without --out)', opts.profiles)
      await runCalibrate({ ...opts, results: opts.results.split(',').map((s) => s.trim()) })
    })
}
