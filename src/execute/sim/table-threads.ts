// A plan table's subsets planned on worker threads (src/plan/table.ts takes any SubsetPlanner): eclip-fit scores tens
// of candidate plans per subset on the simulator, all of it CPU in one thread, and the subsets are independent, so
// n threads plan a table about n times as fast while there are at least n subsets left. Each thread runs the sources
// through tsx (sim-worker.mjs), also under the bundle, or the bundled worker beside a device bundle; where neither
// is at hand, or with one thread, subsets are planned in this thread, one after another.
import { Worker } from 'node:worker_threads'
import { UserError } from '../../formats/errors.ts'
import type { Gpu, Plan, Policy, Profile, WorkerSpec } from '../../formats/index.ts'
import type { PlanOptions } from '../../plan/index.ts'
import type { SubsetPlanner } from '../../plan/table.ts'
import { type EvaluatorInputs, simPlanner } from './evaluator.ts'
import { defaultSimThreads, simWorkerFiles } from './sim-threads.ts'

export type PlanExtra = Omit<PlanOptions, 'policy' | 'evaluator'>

export interface PlanJob {
  id: number
  inputs: EvaluatorInputs
  extra: PlanExtra
  gpu: Gpu
  mix: string
  workers: WorkerSpec[]
  profiles: Profile[]
  policy: Policy
  minTotalShare?: number
}
export type PlanJobReply = { id: number; plan: Plan } | { id: number; error: string; user: boolean }

/** Threads a table gets by default: one per core (the main thread only waits for them), at most 8. */
export const defaultTableThreads = defaultSimThreads

export interface ThreadedPlanner {
  planner: SubsetPlanner
  /** Threads planning (1: this thread). */
  threads: number
  note?: string
  close(): Promise<void>
}

/**
 * A SubsetPlanner over `threads` worker threads, each planning one subset at a time with the simulator-scored planner
 * and `inputs`; plans are the ones the main thread would make (same inputs, same deterministic search).
 */
export function threadedSimPlanner(
  inputs: EvaluatorInputs,
  extra: PlanExtra,
  threads: number,
): ThreadedPlanner {
  const local = simPlanner(() => inputs, { options: extra })
  const files = threads > 1 ? simWorkerFiles('table-worker') : undefined
  if (!files)
    return {
      planner: local,
      threads: 1,
      ...(threads > 1
        ? { note: 'planning threads unavailable (no sources next to the CLI): one thread' }
        : {}),
      close: async () => {},
    }
  const idle: Worker[] = []
  const all: Worker[] = []
  const waiting: ((w: Worker) => void)[] = []
  let nextId = 0
  const spawn = () => {
    const t = new Worker(files.file, files.entry ? { workerData: { entry: files.entry.href } } : {})
    all.push(t)
    return t
  }
  const acquire = (): Promise<Worker> => {
    const w = idle.pop()
    if (w) return Promise.resolve(w)
    if (all.length < threads) return Promise.resolve(spawn())
    return new Promise((resolve) => waiting.push(resolve))
  }
  const release = (w: Worker) => {
    const next = waiting.shift()
    if (next) next(w)
    else idle.push(w)
  }
  const planner: SubsetPlanner = async (gpu, mix, workers, profiles, o) => {
    const w = await acquire()
    const id = nextId++
    let dead = false
    try {
      return await new Promise<Plan>((resolve, reject) => {
        const onMsg = (m: PlanJobReply) => {
          if (m.id !== id) return
          w.off('message', onMsg)
          w.off('error', onErr)
          if ('plan' in m) resolve(m.plan)
          else reject(m.user ? new UserError(m.error) : new Error(`planning thread: ${m.error}`))
        }
        const onErr = (err: Error) => {
          w.off('message', onMsg)
          dead = true
          reject(new Error(`planning thread died: ${err.message}`))
        }
        w.on('message', onMsg)
        w.once('error', onErr)
        const job: PlanJob = {
          id,
          inputs,
          extra,
          gpu,
          mix,
          workers,
          profiles,
          policy: o.policy,
          ...(o.minTotalShare !== undefined ? { minTotalShare: o.minTotalShare } : {}),
        }
        w.postMessage(job)
      })
    } finally {
      // a thread that died is replaced by a fresh one on the next acquire
      if (dead) {
        all.splice(all.indexOf(w), 1)
        waiting.shift()?.(spawn())
      } else release(w)
    }
  }
  return {
    planner,
    threads,
    close: async () => {
      await Promise.all(all.map((w) => w.terminate()))
    },
  }
}
