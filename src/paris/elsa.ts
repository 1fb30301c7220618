// ELSA: elastic, SLO-aware dispatch of each arriving query to one partition (docs/design.md §5).
//
// For every candidate partition ELSA estimates when the query would complete there: the partition's queued work
// (what remains of the running query by its estimate, plus the estimates of the queries waiting in its FIFO) plus the
// query's own execution at its batch size on that partition's SMs, from the latency table. Among the partitions whose
// estimate meets the SLO (with a safety margin, since estimates are medians), it picks the smallest: small
// partitions are the most SM-efficient (SM-time per query grows with the partition, see partition.ts), and keeping
// big partitions free leaves room for the large batches only they can serve in time. If no partition meets the SLO,
// the query goes where it finishes earliest, which limits how late it is. The "least-loaded" baseline is that
// fallback alone.
//
// Estimates only, never the real service time: a partition that overruns its estimate is seen as busy until now.
// The same state and choice functions are meant for `eclip serve` (a hook: serve keeps one PartitionBacklog per
// partition and calls elsaChoose with the latency table's estimates).

/** What the dispatcher knows about one partition's queue, in µs on the dispatcher's clock. */
export interface PartitionBacklog {
  /** Estimated end of the running query (start + its estimate); ≤ now when idle. */
  runningEstEnd: number
  /** Sum of the estimates of the queries waiting in the partition's FIFO (not the running one). */
  queuedEst: number
}

export const idleBacklog = (): PartitionBacklog => ({ runningEstEnd: 0, queuedEst: 0 })

/** Estimated completion of a query with execution estimate `execUs` sent now to a partition with backlog `b`. */
export function estimatedFinish(b: PartitionBacklog, now: number, execUs: number): number {
  return Math.max(now, b.runningEstEnd) + b.queuedEst + execUs
}

export interface ElsaOptions {
  /**
   * A partition "meets the SLO" when its estimated latency ≤ margin·SLO. Default 0.5: besides absorbing estimate
   * error, a low margin stops queries with a long SLO from filling small partitions' FIFOs up to their own deadline,
   * which would leave no partition in time for a model with a short SLO (on examples/paris.yaml, 1 GPU: margin
   * 0.5/0.7/0.8/0.9 sustained 736/683/647/626 queries/s).
   */
  sloMargin: number
}

export const DEFAULT_ELSA: ElsaOptions = { sloMargin: 0.5 }

/**
 * The partition ELSA sends a query to: the smallest (by SMs) whose estimated finish is ≤ deadline, ties to the
 * earliest finish, then the lowest index; if none meets it, the earliest finish. `finish[i]` and `sms[i]` describe
 * candidate i.
 */
export function elsaChoose(sms: ArrayLike<number>, finish: ArrayLike<number>, deadline: number): number {
  let best = -1
  for (let i = 0; i < finish.length; i++) {
    const f = finish[i] ?? Number.POSITIVE_INFINITY
    if (f > deadline) continue
    if (best < 0) {
      best = i
      continue
    }
    const s = sms[i] ?? 0
    const sb = sms[best] ?? 0
    if (s < sb || (s === sb && f < (finish[best] ?? 0))) best = i
  }
  return best >= 0 ? best : earliestChoose(finish)
}

/** Least-loaded (earliest estimated finish) dispatch; ties to the lowest index. */
export function earliestChoose(finish: ArrayLike<number>): number {
  let best = 0
  for (let i = 1; i < finish.length; i++) if ((finish[i] ?? 0) < (finish[best] ?? 0)) best = i
  return best
}
