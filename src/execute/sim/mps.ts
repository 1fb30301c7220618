// How the simulator treats the MPS policies (issue #8) — an APPROXIMATION: its caps, and one measured cost.
//
// Under MPS every worker is its own process; CUDA_MPS_ACTIVE_THREAD_PERCENTAGE caps how many SMs a process's kernels
// may occupy, but not which: the hardware places their thread blocks on any SM. So an `mps` worker is modelled with
// its model-wise partition's SM count as a cap, on a partition that spans every slice of the GPU: co-running workers
// share all slices under the contention model's rule (src/execute/sim/contention.ts), each taking at most its cap.
// `mps-unlimited` is the same with the whole GPU as everyone's cap, i.e. baseline sharing in separate processes.
// What running as separate MPS clients costs beside the caps (the MPS server's scheduling and per-client queues,
// separate contexts) enters as one measured factor per batch size, the calibration's MPS client rate: every request
// of an MPS worker (its graph launch, kernels and the gaps between them) runs 1 ÷ that rate as long. It is measured
// as MPS with no caps against baseline on the GPU (docs/calibrate.md); a calibration without it leaves MPS costing
// nothing beyond its caps. The work a request does is not scaled, so simulated power falls with the rate: MPS's
// requests/J comes out high wherever the GPU's power falls less than the requests it serves.
// Left out: how the percentage is rounded to whole SMs or TPCs on the device, and what a capped
// client runs: its cuBLAS and cuDNN see fewer SMs and may pick other kernels than the profile's, so a model whose
// time is in such kernels (GEMMs) can run faster on its cap than its profile allows.
import type { Plan } from '../../formats/index.ts'

/** Per pool partition: the slice mask and SM count the engine should use instead of the partition's own. */
export interface MpsView {
  mask: number[]
  sms: number[]
  /** Per plan worker: its rate as an MPS client ÷ its rate in one process (1: not measured). */
  clientRate: number[]
  note: string
}

/**
 * The rate of a batch size: its own, else that of the measured batch nearest on a log scale (batch 4 lies as near 2
 * as 8; the smaller on a tie); absent: 1.
 */
export function clientRateAt(rates: Readonly<Record<number, number>> | undefined, batch: number): number {
  if (!rates) return 1
  const far = (b: number) => Math.abs(Math.log2(b / batch))
  const batches = Object.keys(rates)
    .map(Number)
    .sort((a, b) => far(a) - far(b) || a - b)
  return batches.length ? (rates[batches[0] as number] as number) : 1
}

/** The MPS reading of a plan's pool, or null for the other policies (their partitions pin slices). */
export function mpsView(
  plan: Plan,
  sliceSms: readonly number[],
  clientRates?: Readonly<Record<number, number>>,
): MpsView | null {
  if (plan.policy !== 'mps' && plan.policy !== 'mps-unlimited') return null
  const all = sliceSms.reduce((m, _, s) => m | (1 << s), 0)
  const whole = sliceSms.reduce((a, b) => a + b, 0)
  const pool = plan.pool.partitions
  const clientRate = plan.workers.map((w) => clientRateAt(clientRates, w.batch))
  const cost = clientRates
    ? `; each worker's requests slowed by what an MPS client costs, as measured (rate ${[...new Set(clientRate)].map((r) => r.toFixed(3)).join(', ')})`
    : '; not calibrated: what running as its own MPS client costs a worker'
  return {
    mask: pool.map(() => all),
    sms: pool.map((p) => (plan.policy === 'mps' ? Math.min(p.sms, whole) : whole)),
    clientRate,
    note:
      (plan.policy === 'mps'
        ? 'MPS approximated: each worker capped at its model-wise SM count, sharing every slice (no pinning)'
        : 'MPS without limits approximated: every worker may use the whole GPU, sharing every slice') + cost,
  }
}
