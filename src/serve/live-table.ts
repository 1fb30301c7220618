// eclip-live served from a ready plan table (serve config `live.table`, docs/live.md): a table written by
// `eclip plan --table` or by `eclip bench --tune` (its set plans tuned on the GPU,
// plans/<mix>.eclip-live.b<N>.table.json) instead of the table the server would plan on the simulator at start-up.
// The table's workers carry a mix's names (albert#0); the served models carry the config's. Each table worker is
// matched to the first model of the repository with the same model, batch and dtype not matched yet, in the table's
// order, and its plans are renamed to the served names. The plans are then taken as they are by the table the server
// makes (PlanTableOptions.reuse): sets the file has no plan for (a model it does not list) are planned as usual.
import { UserError } from '../formats/errors.ts'
import { checkMadeFor, type Gpu } from '../formats/gpu.ts'
import { readFile } from '../formats/index.ts'
import type { Plan, Policy } from '../formats/plan.ts'
import type { PlanTable } from '../formats/plan-table.ts'
import { sameConvSms, sameOffSms } from '../profile/gemm-target.ts'

/** A model of the repository as the matching needs it. */
export interface TableCandidate {
  name: string
  model: string
  batch: number
  dtype: string
  /** Its profile's kernel sequence, where its profile is at hand (a loaded model); absent: checked at its load. */
  fingerprint?: string
  /** Whether its profile is read with GEMM-target times (a plan must have been made the same way), where at hand. */
  gemmTarget?: boolean
  /** The sizes its profile's GEMM target is off at ([] for none), where at hand: a plan's worker must say the same. */
  gemmTargetOffSms?: number[]
  /** The sizes its profile's convolutions ran on conv lanes at ([] for none), where at hand: a plan's must agree. */
  convTargetSms?: number[]
}

export interface GivenTable {
  /** The file's plans with the served names, every plan whose workers all matched. */
  plans: Plan[]
  /** The policy of its plans of two or more workers. */
  policy: Policy
  /** The guard on total requests/s its eclip-fit set plans were made under (the server's table keeps it). */
  minTotalShare?: number
  /** Table worker → served model. */
  names: Map<string, string>
  /** Plans of the file not taken (a worker not matched), with why. */
  dropped: string[]
}

/**
 * Reads `file` (eclip.plan-table/1) and matches it to `repository` (the serve config's models, in order). Refused,
 * naming the file and what differs: another GPU than `gpu`, a table worker that matches no model, a matched loaded
 * model whose profile has another kernel sequence, a policy other than `policy` (when the config names one), a guard
 * other than `minTotalShare` (when the config gives one).
 */
export function readGivenTable(
  file: string,
  gpu: Gpu,
  repository: readonly TableCandidate[],
  want: { policy?: Policy; minTotalShare?: number },
): GivenTable {
  const table = readFile<PlanTable>('plan-table', file)
  const at = `live.table ${file}`
  checkMadeFor(`${at}: the table`, table.gpu, gpu, "the profile directory's GPU")
  if (want.policy !== undefined && want.policy !== table.policy)
    throw new UserError(
      `${at}: its set plans are ${table.policy}'s, the serve config's live.tablePolicy is ${want.policy}`,
    )
  const names = new Map<string, string>()
  const taken = new Set<string>()
  const unmatched: string[] = []
  for (const tw of table.workers) {
    const m = repository.find(
      (c) => !taken.has(c.name) && c.model === tw.model && c.batch === tw.batch && c.dtype === tw.dtype,
    )
    if (!m) {
      unmatched.push(`${tw.name} (${tw.model} batch ${tw.batch} ${tw.dtype})`)
      continue
    }
    if (m.fingerprint !== undefined && m.fingerprint !== tw.fingerprint)
      throw new UserError(
        `${at}: worker ${tw.name} (served as "${m.name}") was planned for another kernel sequence than its profile (fingerprint differs): re-make the table from these profiles`,
      )
    taken.add(m.name)
    names.set(tw.name, m.name)
  }
  if (names.size === 0)
    throw new UserError(
      `${at}: none of its workers (${unmatched.join(', ')}) is a model of the serve config (${repository
        .map((c) => `${c.name}: ${c.model} batch ${c.batch} ${c.dtype}`)
        .join(', ')})`,
    )
  const guards = new Set<number | undefined>()
  const plans: Plan[] = []
  const dropped: string[] = []
  for (const e of table.plans) {
    const missing = e.plan.workers.filter((pw) => !names.has(pw.name)).map((pw) => pw.name)
    if (missing.length > 0) {
      dropped.push(`${e.key}: ${missing.join(', ')} not served`)
      continue
    }
    for (const pw of e.plan.workers) {
      const c = repository.find((x) => x.name === names.get(pw.name))
      if (c?.gemmTarget !== undefined && (pw.gemmTarget === true) !== c.gemmTarget)
        throw new UserError(
          `${at}: plan ${e.key} has worker ${pw.name} ${pw.gemmTarget ? 'made from' : 'made without'} GEMM-target times, the server reads "${c.name}"'s profile ${c.gemmTarget ? 'with' : 'without'} them: re-make the table${c.gemmTarget ? '' : ', or serve it with "gemmTarget: false" removed'}`,
        )
      if (pw.gemmTarget && c?.gemmTargetOffSms && !sameOffSms(pw, c.gemmTargetOffSms))
        throw new UserError(
          `${at}: plan ${e.key} has worker ${pw.name} with the GEMM target off at [${pw.gemmTargetOffSms ?? []}] SMs, "${c.name}"'s profile at [${c.gemmTargetOffSms}]: re-make the table`,
        )
      if (pw.gemmTarget && c?.convTargetSms && !sameConvSms(pw, c.convTargetSms))
        throw new UserError(
          `${at}: plan ${e.key} has worker ${pw.name} with its convolutions picked per partition at [${pw.convTargetSms ?? []}] SMs, "${c.name}"'s profile at [${c.convTargetSms}]: re-make the table`,
        )
    }
    if (e.plan.workers.length > 1 && e.plan.policy === 'eclip-fit') guards.add(e.plan.params.minTotalShare)
    // in the repository's order, as the server's table lists a set's workers
    const order = (pw: { name: string }) => repository.findIndex((c) => c.name === names.get(pw.name))
    plans.push({
      ...e.plan,
      workers: [...e.plan.workers]
        .sort((a, b) => order(a) - order(b))
        .map((pw) => ({ ...pw, name: names.get(pw.name) as string })),
    })
  }
  if (guards.size > 1 || guards.has(undefined))
    throw new UserError(
      `${at}: its eclip-fit set plans were made under ${guards.has(undefined) ? 'no guard on total requests/s' : 'different guards on total requests/s'} (minTotalShare ${[...guards].join(', ')}): re-make the table`,
    )
  const [guard] = [...guards]
  if (guard !== undefined && want.minTotalShare !== undefined && want.minTotalShare !== guard)
    throw new UserError(
      `${at}: its set plans were made under minTotalShare ${guard}, the serve config's live.minTotalShare is ${want.minTotalShare}`,
    )
  return {
    plans,
    policy: table.policy,
    ...(guard !== undefined ? { minTotalShare: guard } : {}),
    names,
    dropped,
  }
}

/** What the start-up log says of a `live.table`: which of its plans serve as they are, which sets were planned here. */
export function givenTableNote(file: string, given: GivenTable, table: PlanTable): string {
  const kept = new Set<Plan>(given.plans)
  const taken = table.plans.filter((e) => kept.has(e.plan)).length
  const multi = table.plans.filter((e) => e.plan.workers.length > 1)
  const here = multi.filter((e) => !kept.has(e.plan)).map((e) => e.key)
  return (
    `eclip-live: plans from ${file} (${[...given.names].map(([a, b]) => `${a} → ${b}`).join(', ')}): ${taken} taken as they are` +
    (here.length > 0
      ? `; planned here: ${here.join(', ')}`
      : '; every set of two or more models from the file') +
    (given.dropped.length > 0 ? `; not served: ${given.dropped.join('; ')}` : '')
  )
}
