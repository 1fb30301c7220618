// A stand-in planner for the bench tests and bench/sim-bench.ts, so they do not depend on the optimizer's solve
// times: baseline = every worker on the whole GPU; model-wise (and mps) = equal disjoint partitions; kernel-wise
// policies = each worker a ladder of overlapping partitions from its end of the slice list, each kernel on the
// smallest rung ≥ its right-size.
// Not an optimizer: no switch budget, no objective.
import type { Gpu, Plan, Policy, Profile, WorkerSpec } from '../src/formats/index.ts'
import { rightSizes } from '../src/profile/rightsize.ts'

export async function handPlanner(
  gpu: Gpu,
  mix: string,
  workers: WorkerSpec[],
  profiles: Profile[],
  opts: { policy: Policy },
): Promise<Plan> {
  const ALL = gpu.slices.map((s) => s.id)
  const regular = gpu.slices.filter((s) => !s.remainder).map((s) => s.id)
  const partitions = [{ id: 0, slices: ALL, sms: gpu.smCount }]
  const add = (slices: number[]) => {
    const id = partitions.length
    partitions.push({ id, slices, sms: slices.length * gpu.sliceSize })
    return id
  }
  const per = Math.floor(regular.length / workers.length)
  const planWorkers = workers.map((w, wi) => {
    const p = profiles[wi] as Profile
    const n = p.kernels.length
    let groups: { first: number; last: number; partition: number }[]
    if (opts.policy === 'baseline') groups = [{ first: 0, last: n - 1, partition: 0 }]
    // MPS runs the model-wise plan (src/plan/make-plan.ts)
    else if (opts.policy === 'model-wise' || opts.policy === 'mps' || opts.policy === 'mps-unlimited')
      groups = [{ first: 0, last: n - 1, partition: add(regular.slice(wi * per, (wi + 1) * per)) }]
    else {
      const from = wi % 2 === 0 ? regular : [...regular].reverse()
      const rungs = [1, 2, 4, 8].map((k) => ({
        id: add(from.slice(0, k).sort((a, b) => a - b)),
        sms: k * gpu.sliceSize,
      }))
      rungs.push({ id: 0, sms: gpu.smCount })
      groups = []
      rightSizes(p, 0.05).forEach((need, k) => {
        const part = (rungs.find((r) => r.sms >= need) ?? { id: 0 }).id
        const last = groups[groups.length - 1]
        if (last && last.partition === part) last.last = k
        else groups.push({ first: k, last: k, partition: part })
      })
    }
    return {
      name: w.name,
      model: w.model,
      batch: w.batch,
      dtype: w.dtype,
      fingerprint: p.fingerprint,
      kernels: n,
      partitions: [...new Set(groups.map((g) => g.partition))],
      groups,
      switches: groups.length - 1,
      soloUs: 0,
      predictedUs: 0,
      soloFullUs: 0,
      meanSms: 0,
      alpha: 0,
    }
  })
  return {
    format: 'eclip.plan/1',
    policy: opts.policy,
    gpu: { name: gpu.name, smCount: gpu.smCount, sliceSize: gpu.sliceSize },
    mix,
    pool: { partitions },
    workers: planWorkers,
    repartitionAtSwitch: opts.policy === 'kw-ioctl',
    params: { tolerance: 0.05, switchMax: 0, modelWiseFactor: 1, timeLimitS: 0, mipGap: 0 },
    solver: { name: 'none', status: 'not-needed', gap: 0, solveMs: 0 },
    createdAt: '2026-11-22T00:00:00Z',
  }
}
