// How the simulator treats the MPS policies (issue #8) — an APPROXIMATION, not calibrated against GPU runs.
//
// Under MPS every worker is its own process; CUDA_MPS_ACTIVE_THREAD_PERCENTAGE caps how many SMs a process's kernels
// may occupy, but not which: the hardware places their thread blocks on any SM. So an `mps` worker is modelled with
// its model-wise partition's SM count as a cap, on a partition that spans every slice of the GPU: co-running workers
// share all slices under the contention model's rule (src/execute/sim/contention.ts), each taking at most its cap.
// `mps-unlimited` is the same with the whole GPU as everyone's cap, i.e. baseline sharing in separate processes.
// Left out: the MPS server's own scheduling and per-client queues, the cost of separate contexts (no shared L2
// warm-up, separate memory), how the percentage is rounded to whole SMs or TPCs on the device, and what a capped
// client runs: its cuBLAS and cuDNN see fewer SMs and may pick other kernels than the profile's, so a model whose
// time is in such kernels (GEMMs) can run faster on its cap than its profile allows.
import type { Plan } from '../../formats/index.ts'

/** Per pool partition: the slice mask and SM count the engine should use instead of the partition's own. */
export interface MpsView {
  mask: number[]
  sms: number[]
  note: string
}

/** The MPS reading of a plan's pool, or null for the other policies (their partitions pin slices). */
export function mpsView(plan: Plan, sliceSms: readonly number[]): MpsView | null {
  if (plan.policy !== 'mps' && plan.policy !== 'mps-unlimited') return null
  const all = sliceSms.reduce((m, _, s) => m | (1 << s), 0)
  const whole = sliceSms.reduce((a, b) => a + b, 0)
  const pool = plan.pool.partitions
  return {
    mask: pool.map(() => all),
    sms: pool.map((p) => (plan.policy === 'mps' ? Math.min(p.sms, whole) : whole)),
    note:
      plan.policy === 'mps'
        ? 'MPS approximated: each worker capped at its model-wise SM count, sharing every slice (no pinning); not calibrated'
        : 'MPS without limits approximated: every worker may use the whole GPU, sharing every slice; not calibrated',
  }
}
