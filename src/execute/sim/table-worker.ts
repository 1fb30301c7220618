// One planning thread of src/execute/sim/table-threads.ts: plans the subsets it is sent with the simulator-scored
// planner (simPlanner), the same as the main thread would, and posts each plan (or the error) back.
import { parentPort } from 'node:worker_threads'
import { UserError } from '../../formats/errors.ts'
import { simPlanner } from './evaluator.ts'
import type { PlanJob, PlanJobReply } from './table-threads.ts'

const port = parentPort
if (!port) throw new Error('table-worker.ts runs as a worker thread')
port.on('message', async (job: PlanJob) => {
  let reply: PlanJobReply
  try {
    const plan = await simPlanner(() => job.inputs, { options: job.extra })(
      job.gpu,
      job.mix,
      job.workers,
      job.profiles,
      {
        policy: job.policy,
        ...(job.minTotalShare !== undefined ? { minTotalShare: job.minTotalShare } : {}),
      },
    )
    reply = { id: job.id, plan }
  } catch (err) {
    reply = { id: job.id, error: (err as Error).message, user: err instanceof UserError }
  }
  port.postMessage(reply)
})
