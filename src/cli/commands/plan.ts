// `eclip plan`: profiles + a mix → plan.json (the optimizer's lookup table), with a per-worker summary.
import { existsSync, writeFileSync } from 'node:fs'
import { type Command, Option } from '@commander-js/extra-typings'
import type { ExecuteBackend } from '../../execute/backend.ts'
import { createGpuBackend } from '../../execute/gpu/index.ts'
import { type MeasuredEvaluator, tuningOn } from '../../execute/measured-evaluator.ts'
import { simPlanner } from '../../execute/sim/evaluator.ts'
import { SimBackend } from '../../execute/sim/index.ts'
import { simInputs } from '../../execute/sim/inputs.ts'
import { defaultTableThreads, type PlanExtra, threadedSimPlanner } from '../../execute/sim/table-threads.ts'
import { UserError } from '../../formats/errors.ts'
import { checkMadeFor } from '../../formats/gpu.ts'
import {
  ALL_POLICIES,
  DEFAULT_POLICY,
  expandWorkers,
  type Gpu,
  isTablePolicy,
  keyNames,
  type Mix,
  type Plan,
  type PlanTable,
  type Policy,
  type Profile,
  type WorkerSpec,
} from '../../formats/index.ts'
import { PAPER_MIXES } from '../../paths.ts'
import {
  DEFAULT_MAX_PARTITIONS,
  DEFAULT_MIP_GAP,
  DEFAULT_MODEL_WISE_FACTOR,
  DEFAULT_RT_FACTOR,
  DEFAULT_RT_GATE_US,
  DEFAULT_RT_RESERVE_SMS,
  DEFAULT_TIME_LIMIT_S,
  DEFAULT_TOLERANCE,
  makePlan,
  NOTHING_TO_TUNE,
  type SolverChoice,
} from '../../plan/index.ts'
import { makePlanTable } from '../../plan/table.ts'
import { loadProfileSet, type SimFileSources } from '../../profile/store.ts'
import {
  calibrationOption,
  checkFitOptions,
  checkMinShare,
  checkRtOptions,
  checkStreamPriorities,
  checkSwitchMax,
  checkTune,
  checkWritable,
  fitStartsOption,
  maxP95Option,
  minShareOption,
  objectiveOption,
  readMixes,
  refuseEmptyValues,
  resolveTune,
  rtBestEffortOption,
  rtMechanismOption,
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

export { checkWritable, PAPER_MIXES }

/** A mix by name from mixes/paper.yaml, or from a mix file (`mixName` picks one when the file holds several). */
export function resolveMix(mix: string, mixName?: string): Mix {
  const isFile = /\.(ya?ml|json)$/i.test(mix) || existsSync(mix)
  if (!isFile && mixName !== undefined)
    throw new UserError(
      `--mix-name picks one mix of a mix file, but --mix ${mix} is no file: it names a mix of ${PAPER_MIXES} (leave --mix-name out)`,
    )
  const file = isFile ? mix : PAPER_MIXES
  // a workload file's workloads are mixes too; trace sources are read relative to the file
  const mixes = readMixes(file)
  const want = isFile ? mixName : mix
  if (want === undefined) {
    if (mixes.length === 1) return mixes[0] as Mix
    throw new UserError(
      `${file} holds ${mixes.length} mixes (${mixes.map((m) => m.name).join(', ')}): pick one with --mix-name`,
    )
  }
  const found = mixes.find((m) => m.name === want)
  if (!found)
    throw new UserError(`no mix "${want}" in ${file}; known: ${mixes.map((m) => m.name).join(', ')}`)
  return found
}

const num =
  (flag: string, check: (v: number) => boolean, what: string) =>
  (v: string): number => {
    const x = Number(v)
    if (v.trim() === '' || !Number.isFinite(x) || !check(x))
      throw new UserError(`${flag} must be ${what}, got "${v}"`)
    return x
  }
const int = (v: number) => Number.isInteger(v)

export function registerPlan(program: Command) {
  program
    .command('plan')
    .description('make a plan (pool + per-worker kernel groups) for a mix from a profile directory')
    .requiredOption('--mix <name|file>', 'a mix name from mixes/paper.yaml, or a mix file')
    .option('--mix-name <name>', 'which mix of a mix file that holds several')
    .requiredOption('--profiles <dir>', 'profile directory: gpu.json + one profile per (model, batch, dtype)')
    .addOption(calibrationOption())
    .addOption(
      new Option(
        '--policy <policy>',
        `how kernels get partitions (default ${DEFAULT_POLICY}, every worker kept at its floor; eclip: the paper's; with --table the policy of its plans of two or more workers)`,
      ).choices(ALL_POLICIES),
    )
    .option(
      '--table',
      'write a plan table (eclip.plan-table/1): a plan per set of workers that can be active together, every subset up to 6 workers',
    )
    .option(
      '--subsets <list>',
      "--table above 6 workers: the subsets to plan besides the whole set, ';'-separated, each worker names joined by '+' (albert#0+vgg19#2;…)",
    )
    .option(
      '--threads <n>',
      `--table: worker threads planning subsets (default ${defaultTableThreads()}: one per core, at most 8)`,
      num('--threads', (v) => int(v) && v >= 1, 'an integer ≥ 1'),
    )
    .addOption(switchMaxOption())
    .option(
      '--tolerance <t>',
      `right-size tolerance over the full-GPU time (default ${DEFAULT_TOLERANCE})`,
      num('--tolerance', (v) => v >= 0, '≥ 0'),
    )
    .option(
      '--model-wise-factor <f>',
      `model-wise: latency target over the full-GPU latency (default ${DEFAULT_MODEL_WISE_FACTOR})`,
      num('--model-wise-factor', (v) => v >= 1, '≥ 1'),
    )
    .option(
      '--rt-factor <f>',
      `eclip-rt's partition mechanism: a real-time worker's latency target over its latency alone on the whole GPU (default ${DEFAULT_RT_FACTOR})`,
      num('--rt-factor', (v) => v >= 1, '≥ 1'),
    )
    .addOption(rtMechanismOption())
    .addOption(rtBestEffortOption())
    .addOption(objectiveOption())
    .addOption(streamPrioritiesOption())
    .addOption(fitStartsOption())
    .addOption(maxP95Option())
    .addOption(minShareOption())
    .option(
      '--rt-reserve-sms <n>',
      `eclip-rt's priority mechanism: SMs, whole slices, no best-effort work runs on (default ${DEFAULT_RT_RESERVE_SMS})`,
      num('--rt-reserve-sms', (v) => int(v) && v >= 0, 'an integer ≥ 0'),
    )
    .option(
      '--rt-gate-us <us>',
      `eclip-rt's gate mechanism: µs of a best-effort worker's kernels between two of its gates (default ${DEFAULT_RT_GATE_US})`,
      num('--rt-gate-us', (v) => v > 0, '> 0'),
    )
    .option(
      '--rt-ungated-sms <n>',
      "eclip-rt's gate mechanism, best-effort workers planned: one whose every group runs on partitions of this many SMs or fewer keeps no gates and runs beside the real-time requests (default 0: every one gated)",
      num('--rt-ungated-sms', (v) => int(v) && v >= 0, 'an integer ≥ 0'),
    )
    .option(
      '--no-gemm-target',
      "plan from the profiles' default times, not their GEMM-target times (the worker's GEMMs then captured for the whole GPU; docs/design.md §7)",
    )
    .option(
      '--time-limit <s>',
      `solver time limit in seconds (default ${DEFAULT_TIME_LIMIT_S})`,
      num('--time-limit', (v) => v > 0, '> 0'),
    )
    .option(
      '--mip-gap <g>',
      `relative optimality gap accepted (default ${DEFAULT_MIP_GAP})`,
      num('--mip-gap', (v) => v >= 0 && v < 1, 'in [0, 1)'),
    )
    .option(
      '--max-partitions <n>',
      `cap on the pool's partitions (default ${DEFAULT_MAX_PARTITIONS})`,
      num('--max-partitions', (v) => int(v) && v >= 1, 'an integer ≥ 1'),
    )
    .option(
      '--batch <n>',
      "override every worker's batch",
      num('--batch', (v) => int(v) && v >= 1, 'an integer ≥ 1'),
    )
    .addOption(
      new Option('--solver <solver>', 'eclip subproblem solver: exact DP or the HiGHS MILP')
        .choices(['dp', 'highs'] as const)
        .default('dp' as const),
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
    .addOption(
      new Option(
        '--backend <name>',
        "--tune: the backend eclip-fit's candidates are measured on: sim (default) or gpu (starts the GPU backend)",
      ).choices(['sim', 'gpu'] as const),
    )
    .option('--out <file>', 'write the plan here')
    .hook('preAction', (_, cmd) => refuseEmptyValues(cmd))
    .action(async (o) => {
      if (o.out !== undefined) checkWritable('--out', o.out)
      const policy = (o.policy ?? DEFAULT_POLICY) as Policy
      const tune = resolveTune(o)
      if (o.backend !== undefined && !tune)
        throw new UserError('--backend is for --tune: the backend the candidates are measured on')
      if (tune && o.table) throw new UserError("--tune tunes one eclip-fit plan, not a table's")
      if (tune) checkTune([policy], o, '--policy')
      if (isTablePolicy(policy))
        throw new UserError(
          `--policy ${policy}: it follows a table of plans; write one with --table (its plans' policy: --policy, default eclip-fit)`,
        )
      if (!o.table && (o.subsets !== undefined || o.threads !== undefined))
        throw new UserError('--subsets and --threads are for --table')
      // only the paper's eclip solves by the MILP; every other policy would ignore --solver: refused instead
      if (o.solver === 'highs' && policy !== 'eclip')
        throw new UserError(
          `--solver highs: the HiGHS MILP solves the paper's eclip plan (--policy eclip); ${policy} does not use it`,
        )
      // the paper's outer search over its subproblems is the one solve they bound (eclip-rt's best-effort plan may be
      // eclip's); every other planner would ignore them
      const bounds = [
        o.timeLimit !== undefined && '--time-limit',
        o.mipGap !== undefined && '--mip-gap',
      ].filter(Boolean)
      if (bounds.length > 0 && policy !== 'eclip' && policy !== 'eclip-rt')
        throw new UserError(
          `${bounds.join(' and ')}: ${bounds.length > 1 ? 'they bound' : 'it bounds'} the paper's eclip solve (--policy eclip); ${policy} does not use ${bounds.length > 1 ? 'them' : 'it'}`,
        )
      checkMinShare(o.minShare, [policy], o, '--policy')
      checkSwitchMax(o.switchMax, [policy], o, '--policy')
      checkFitOptions(o, [policy], '--policy')
      checkRtOptions(o, [policy], '--policy')
      checkStreamPriorities(o.streamPriorities, [policy], '--policy')
      if (o.streamPriorities && o.table)
        throw new UserError("--stream-priorities is for one eclip-fit plan, not a table's")
      const mix = resolveMix(o.mix, o.mixName)
      const workers = expandWorkers(mix, o.batch)
      const set = loadProfileSet(o.profiles, workers, { gemmTarget: o.gemmTarget })
      const extra = {
        solver: o.solver as SolverChoice,
        ...(o.switchMax === undefined ? {} : { switchMax: o.switchMax }),
        ...(o.tolerance === undefined ? {} : { tolerance: o.tolerance }),
        ...(o.modelWiseFactor === undefined ? {} : { modelWiseFactor: o.modelWiseFactor }),
        ...(o.rtFactor === undefined ? {} : { rtFactor: o.rtFactor }),
        ...(o.rtMechanism === undefined ? {} : { rtMechanism: o.rtMechanism }),
        ...(o.rtReserveSms === undefined ? {} : { rtReserveSms: o.rtReserveSms }),
        ...(o.rtGateUs === undefined ? {} : { rtGateUs: o.rtGateUs }),
        ...(o.rtUngatedSms === undefined ? {} : { rtUngatedSms: o.rtUngatedSms }),
        ...(o.rtBestEffort === undefined ? {} : { rtBestEffort: o.rtBestEffort }),
        ...(o.objective === undefined ? {} : { objective: o.objective }),
        ...(o.minShare === undefined ? {} : { minShare: o.minShare }),
        ...(o.streamPriorities ? { fitPriorities: true } : {}),
        ...(o.fitStarts === undefined ? {} : { fitStarts: o.fitStarts }),
        ...(o.maxP95 === undefined ? {} : { maxP95: o.maxP95 }),
        ...(o.timeLimit === undefined ? {} : { timeLimitS: o.timeLimit }),
        ...(o.mipGap === undefined ? {} : { mipGap: o.mipGap }),
        ...(o.maxPartitions === undefined ? {} : { maxPartitions: o.maxPartitions }),
        // the mix's guard on total requests/s: its eclip-fit plan's, and with --table every set's
        ...(mix.minTotalShare === undefined ? {} : { minTotalShare: mix.minTotalShare }),
      }
      if (o.table) return writeTable(o, mix.name, workers, set, policy, extra)
      // on the simulator, calibrated from the profile directory, eclip-fit scores its candidates and eclip's and
      // eclip-rt's plans are checked against the floors (as eclip bench plans them)
      const ev =
        policy === 'eclip-fit' || policy === 'eclip' || policy === 'eclip-rt'
          ? simInputs(set.gpu, simSources(o))
          : undefined
      if (ev) for (const w of ev.warnings) process.stderr.write(`eclip plan: WARNING: ${w}\n`)
      // --tune: then measured on a backend started for it (the GPU's must be the profiles')
      let backend: ExecuteBackend | undefined
      const made: MeasuredEvaluator[] = []
      let plan: Plan
      try {
        if (tune && ev) {
          const gpu = o.backend === 'gpu' ? await createGpuBackend({ checkOutputs: false }) : undefined
          backend = gpu ?? new SimBackend(ev.inputs.calibration)
          if (gpu) checkMadeFor(`the profiles in ${o.profiles}`, set.gpu, gpu.gpu)
        }
        plan = ev
          ? // on the simulator: eclip-fit's search, eclip's floor check, eclip-rt's best-effort workers among
            // themselves (src/plan/realtime.ts); a long search says how far it has got
            await simPlanner(() => ev.inputs, {
              options: extra,
              ...(tune && backend ? { tuneFor: tuningOn(backend, ev.inputs, tune, made) } : {}),
              progress: { say: (_mix, line) => process.stderr.write(`eclip plan: ${line}\n`) },
            })(set.gpu, mix.name, workers, set.profiles, { policy })
          : await makePlan(set.gpu, mix.name, workers, set.profiles, { policy, ...extra })
      } finally {
        await backend?.close()
      }
      for (const f of made.flatMap((m) => m.failures))
        process.stderr.write(`eclip plan: WARNING: tuning run ${f} failed, scored as no throughput\n`)
      if (tune && policy === 'eclip-rt' && !plan.solver.tuning)
        process.stderr.write(`eclip plan: WARNING: ${NOTHING_TO_TUNE(mix.name)}\n`)
      process.stdout.write(formatPlanSummary(plan))
      if (plan.solver.status === 'time-limit')
        process.stderr.write(
          `eclip: warning: the plan is NOT proven optimal (gap ${(plan.solver.gap * 100).toFixed(3)}%); ` +
            'raise --time-limit or --mip-gap, or use --solver dp\n',
        )
      if (o.out !== undefined) {
        try {
          writeFileSync(o.out, `${JSON.stringify(plan, null, 2)}\n`)
        } catch (err) {
          throw new UserError(`--out ${o.out}: could not write the plan: ${(err as Error).message}`)
        }
        console.log(`wrote ${o.out}`)
      }
    })
}

/** The simulator's files for the plan's scoring: the profile directory's, with --calibration in place of its own. */
const simSources = (o: { profiles: string; calibration?: string }): SimFileSources => ({
  dir: o.profiles,
  ...(o.calibration !== undefined ? { calibration: o.calibration } : {}),
})

/** --table: every subset's plan (threads: src/execute/sim/table-threads.ts), a summary per plan, the file. */
async function writeTable(
  o: { out?: string; subsets?: string; threads?: number; profiles: string; calibration?: string },
  mixName: string,
  workers: WorkerSpec[],
  set: { gpu: Gpu; profiles: Profile[] },
  policy: Policy,
  extra: PlanExtra,
) {
  const ev = simInputs(set.gpu, simSources(o))
  // the evaluator's inputs matter only to the policies that score or check plans on the simulator
  if (policy === 'eclip-fit' || policy === 'eclip')
    for (const w of ev.warnings) process.stderr.write(`eclip plan: WARNING: ${w}\n`)
  const subsets =
    o.subsets === undefined
      ? undefined
      : o.subsets
          .split(';')
          .map((x) => x.trim())
          .filter((x) => x !== '')
          .map(keyNames)
  const threaded = threadedSimPlanner(ev.inputs, extra, o.threads ?? defaultTableThreads())
  if (threaded.note) process.stderr.write(`eclip plan: ${threaded.note}\n`)
  let table: PlanTable
  try {
    table = await makePlanTable(set.gpu, mixName, workers, set.profiles, {
      policy,
      planner: threaded.planner,
      ...(subsets ? { subsets } : {}),
      ...(extra.minTotalShare !== undefined ? { minTotalShare: extra.minTotalShare } : {}),
      concurrency: threaded.threads,
    })
  } finally {
    await threaded.close()
  }
  process.stdout.write(formatTableSummary(table))
  if (o.out !== undefined) {
    try {
      writeFileSync(o.out, `${JSON.stringify(table, null, 1)}\n`)
    } catch (err) {
      throw new UserError(`--out ${o.out}: could not write the table: ${(err as Error).message}`)
    }
    console.log(`wrote ${o.out}`)
  }
}

/** One line per plan of a table: key, policy, partitions, switches per worker, the evaluator's STP vs baseline. */
export function formatTableSummary(t: PlanTable): string {
  const p = t.planning
  const lines = [
    `plan table (${t.policy}; a worker alone: baseline) for ${t.mix} on ${t.gpu.name}: ${t.workers.length} worker(s), ${t.plans.length} plans${t.complete ? ' (every subset)' : ''}, ${t.union.partitions.length} partitions in all` +
      (p
        ? `; ${(p.wallMs / 1000).toFixed(1)} s on ${p.threads} thread(s), ${p.planned} planned, ${p.reused} reused`
        : ''),
  ]
  const rows = t.plans.map((e) => {
    const s = e.plan.solver
    return [
      e.key,
      e.plan.policy,
      String(e.plan.pool.partitions.length),
      e.plan.workers.map((w) => w.switches).join('/'),
      s.stp ? (s.stp.value / s.stp.baseline).toFixed(3) : '–',
      (s.solveMs / 1000).toFixed(1),
    ]
  })
  const head = ['key', 'policy', 'partitions', 'switches', 'STP/base (sim)', 'plan s']
  const width = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const fmt = (r: string[]) =>
    r.map((c, i) => (i === 0 ? c.padEnd(width[i] ?? 0) : c.padStart(width[i] ?? 0))).join('  ')
  lines.push(fmt(head), ...rows.map(fmt))
  return `${lines.join('\n')}\n`
}

/**
 * Slice ids as runs: [0, 1, 2, 5, 7, 8] → "0-2,5,7-8" (a partition need not be one run: eclip-rt's best-effort one).
 */
export function sliceRuns(slices: readonly number[]): string {
  const runs: string[] = []
  const sorted = [...slices].sort((a, b) => a - b)
  for (let i = 0; i < sorted.length; ) {
    let j = i
    while (j + 1 < sorted.length && (sorted[j + 1] as number) === (sorted[j] as number) + 1) j++
    runs.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`)
    i = j + 1
  }
  return runs.join(',')
}

export function formatPlanSummary(plan: Plan): string {
  const lines = [
    `plan ${plan.policy} for ${plan.mix} on ${plan.gpu.name}: ${plan.workers.length} worker(s), pool of ${plan.pool.partitions.length} partition(s)` +
      (plan.repartitionAtSwitch ? ', re-created at every switch' : ''),
  ]
  const pool = plan.pool.partitions.map((p) => `${p.id}:${p.sms}SM[${sliceRuns(p.slices)}]`)
  lines.push(`pool (id:SMs[slices]): ${pool.join(' ')}`)
  const head = [
    'worker',
    'kernels',
    'groups',
    'switches',
    'predicted µs',
    'solo full-GPU µs',
    'ratio',
    'mean SMs',
  ]
  const rows = plan.workers.map((w) => [
    w.name,
    String(w.kernels),
    String(w.groups.length),
    String(w.switches),
    w.predictedUs.toFixed(1),
    w.soloFullUs.toFixed(1),
    `${(w.predictedUs / w.soloFullUs).toFixed(3)}x`,
    w.meanSms.toFixed(1),
  ])
  if (plan.workers.some((w) => w.priority !== undefined)) {
    head.push('priority')
    plan.workers.forEach((w, i) => {
      rows[i]?.push(w.priority === 'realtime' ? `realtime, SLO ${w.sloMs} ms` : 'best-effort')
    })
  }
  const width = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const fmt = (r: string[]) =>
    r.map((c, i) => (i === 0 ? c.padEnd(width[i] ?? 0) : c.padStart(width[i] ?? 0))).join('  ')
  lines.push(fmt(head), ...rows.map(fmt))
  const alpha = plan.workers[0]?.alpha ?? 0
  lines.push(
    `alpha (shared slowdown from expected SM overlap) ${alpha.toFixed(3)}; predicted = (1 + alpha) x solo`,
  )
  const s = plan.solver
  lines.push(
    `solver ${s.name}: ${s.status}, gap ${(s.gap * 100).toFixed(4)}%, solve ${s.solveMs.toFixed(1)} ms` +
      (s.objectiveUs === undefined ? '' : `, objective ${s.objectiveUs.toFixed(1)} µs`),
  )
  if (s.notes) lines.push(`notes: ${s.notes}`)
  return `${lines.join('\n')}\n`
}
