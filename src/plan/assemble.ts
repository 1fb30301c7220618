// A plan from a policy's choices: the context makePlan hands every policy's planner, the layout a planner returns,
// and its assembly into a Plan (validated against the plan format), also as the drafts an evaluator scores
// (eclip-fit's candidates, baseline co-location).

import { type Gpu, gpuIdentity } from '../formats/gpu.ts'
import { parseFormat } from '../formats/index.ts'
import type { WorkerSpec } from '../formats/mix.ts'
import type { Group, Partition, Plan, PlanWorker, Policy, SolverInfo } from '../formats/plan.ts'
import type { Profile } from '../formats/profile.ts'
import { gemmTargetFields } from '../profile/gemm-target.ts'
import type { FitCandidate } from './fit.ts'
import { type Assignment, buildInstance, evaluate, unitCount, type WorkerInstance } from './instance.ts'
import type { PlanEvaluator, PlanOptions } from './options.ts'
import type { PlanGate, RtMechanism } from './realtime.ts'

/** makePlan's inputs and resolved parameters, as every policy's planner sees them. */
export interface PolicyContext {
  gpu: Gpu
  mixName: string
  workers: WorkerSpec[]
  profiles: Profile[]
  opts: PlanOptions
  params: AssembleInput['params']
  /** partition sizes every profile has */
  sizes: number[]
  /** notes for the plan: a planner pushes its own */
  notes: string[]
}

/** What a policy's planner decides; `solver` defaults to none (nothing solved). */
export interface PolicyLayout {
  partitions: Partition[]
  ladders: number[][]
  instances: WorkerInstance[]
  assignments: Assignment[]
  solver?: Omit<SolverInfo, 'solveMs'>
  /** Per worker, whether its streams run at high priority (eclip-rt's priority mechanism); absent: none does. */
  highPriority?: boolean[]
  /** Per worker, its part in eclip-rt's gate mechanism; absent: no gates. */
  gates?: (PlanGate | undefined)[]
}

/** The solver record of a plan that solved nothing. */
export const NO_SOLVER: Omit<SolverInfo, 'solveMs'> = { name: 'none', status: 'not-needed', gap: 0 }

/** A plan's parts: the mix, a policy's layout and resolved parameters, its solver record and notes. */
interface AssembleInput {
  gpu: Gpu
  mixName: string
  policy: Policy
  workers: readonly WorkerSpec[]
  profiles: readonly Profile[]
  partitions: Partition[]
  ladders: number[][]
  instances: readonly WorkerInstance[]
  assignments: readonly Assignment[]
  params: {
    tolerance: number
    switchMax: number
    modelWiseFactor: number
    timeLimitS: number
    mipGap: number
    maxPartitions: number
    rtFactor?: number
    rtMechanism?: RtMechanism
    rtReserveSms?: number
    rtGateUs?: number
    minTotalShare?: number
    maxP95?: number
  }
  solver: Omit<SolverInfo, 'solveMs'> & { solveMs?: number }
  notes: readonly string[]
  highPriority?: readonly boolean[]
  gates?: readonly (PlanGate | undefined)[]
}

/** The plan of given assignments (validated against the plan format). */
export function assemble(o: AssembleInput): Plan {
  const { gpu, workers, profiles, instances, assignments, ladders, notes } = o
  const N = gpu.smCount
  const A = assignments.reduce((a, x) => a + x.meanSms, 0)
  const alpha = A / N
  const planWorkers: PlanWorker[] = workers.map((w, i) => {
    const inst = instances[i] as WorkerInstance
    const a = assignments[i] as Assignment
    const groups = groupsOf(inst, a.choice)
    return {
      name: w.name,
      model: w.model,
      batch: w.batch,
      dtype: w.dtype,
      fingerprint: (profiles[i] as Profile).fingerprint,
      kernels: inst.kernels,
      partitions: [...(ladders[i] as number[])],
      groups,
      switches: groups.length - 1,
      soloUs: a.soloUs,
      predictedUs: (1 + alpha) * a.soloUs,
      soloFullUs: inst.fullUs,
      meanSms: a.meanSms,
      alpha,
      ...(w.priority !== undefined ? { priority: w.priority } : {}),
      ...(w.sloMs !== undefined ? { sloMs: w.sloMs } : {}),
      ...(o.highPriority?.[i] ? { streamPriority: 'high' as const } : {}),
      ...gemmTargetFields(profiles[i] as Profile),
      ...(o.gates?.[i] ? { gate: o.gates[i] } : {}),
    }
  })
  const { rtFactor, rtMechanism, rtReserveSms, rtGateUs, ...paper } = o.params
  const plan: Plan = {
    format: 'eclip.plan/1',
    policy: o.policy,
    gpu: gpuIdentity(gpu),
    mix: o.mixName,
    pool: { partitions: o.partitions },
    workers: planWorkers,
    repartitionAtSwitch: o.policy === 'kw-ioctl',
    // params allows extra fields: the pool cap, eclip-rt's options and eclip-fit's minTotalShare and maxP95 are
    // recorded next to the paper's parameters
    params: {
      ...paper,
      ...(rtFactor !== undefined ? { rtFactor } : {}),
      ...(rtMechanism !== undefined ? { rtMechanism } : {}),
      ...(rtReserveSms !== undefined ? { rtReserveSms } : {}),
      ...(rtGateUs !== undefined ? { rtGateUs } : {}),
    } as Plan['params'],
    solver: {
      ...o.solver,
      solveMs: o.solver.solveMs ?? 0,
      ...(notes.length > 0 ? { notes: notes.join('; ') } : {}),
    },
    createdAt: new Date().toISOString(),
  }
  return parseFormat<Plan>('plan', plan, `plan for ${o.mixName}`)
}

/** A worker's consecutive units on one partition, merged into the plan's kernel groups. */
function groupsOf(w: WorkerInstance, choice: Int32Array): Group[] {
  const groups: Group[] = []
  const U = unitCount(w)
  for (let u = 0; u < U; u++) {
    const partition = w.configs[choice[u] as number] as number
    const first = w.unitFirst[u] as number
    const last = (u + 1 < U ? (w.unitFirst[u + 1] as number) : w.kernels) - 1
    const g = groups[groups.length - 1]
    if (g && g.partition === partition) g.last = last
    else groups.push({ first, last, partition })
  }
  return groups
}

/** Every worker at the bottom of its ladder (its one partition, for the single-partition policies). */
export const bottom = (instances: WorkerInstance[]) =>
  instances.map((w) => evaluate(w, new Int32Array(unitCount(w))))

/** A plan of candidate assignments, for the evaluator to score. */
export function draft(
  c: PolicyContext,
  policy: Policy,
  partitions: Partition[],
  ladders: number[][],
  instances: WorkerInstance[],
  assignments: Assignment[],
  highPriority?: boolean[],
): Plan {
  const { gpu, mixName, workers, profiles, params } = c
  return assemble({
    ...(highPriority ? { highPriority } : {}),
    gpu,
    mixName,
    workers,
    profiles,
    policy,
    partitions,
    ladders,
    instances,
    assignments,
    params,
    solver: NO_SOLVER,
    notes: [],
  })
}

/** Baseline co-location (every worker on the whole GPU, one group) as a plan for an evaluator. */
export function baselineDraft(c: PolicyContext): Plan {
  const { gpu, workers, profiles } = c
  const N = gpu.smCount
  const whole: Partition[] = [{ id: 0, slices: gpu.slices.map((s) => s.id), sms: N }]
  const baseInst = workers.map((w, i) => buildInstance(w.name, profiles[i] as Profile, [0], [N]))
  return draft(
    c,
    'baseline',
    whole,
    workers.map(() => [0]),
    baseInst,
    bottom(baseInst),
  )
}

/** Baseline co-location as the evaluator sees it. */
export const evaluateBaseline = (c: PolicyContext, evaluator: PlanEvaluator) =>
  evaluator.evaluate(baselineDraft(c))

/** An eclip-fit candidate as a plan, for an evaluator to score; `high`: the workers whose streams are raised. */
export const candidatePlan = (c: PolicyContext, cand: FitCandidate, high?: boolean[]) =>
  draft(c, 'eclip-fit', cand.layout.partitions, cand.layout.ladders, cand.instances, cand.assignments, high)
