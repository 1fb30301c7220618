// One scoring thread of src/execute/sim/score-threads.ts: scores the candidate plans it is sent on the simulator, as
// the main thread would (scorePlan), keeping the mixes it was sent by id, and posts each score (or the error) back.
import { parentPort } from 'node:worker_threads'
import { scorePlan } from './score.ts'
import type { ScoreJob, ScoreMix, ScoreReply } from './score-threads.ts'

const port = parentPort
if (!port) throw new Error('score-worker.ts runs as a worker thread')
const mixes = new Map<number, ScoreMix>()
port.on('message', (job: ScoreJob) => {
  let reply: ScoreReply
  try {
    if (job.drop !== undefined) mixes.delete(job.drop)
    if (job.mix) mixes.set(job.mixId, job.mix)
    const mix = mixes.get(job.mixId)
    if (!mix) throw new Error(`mix ${job.mixId} was never sent to this thread`)
    reply = { id: job.id, score: scorePlan(mix.inputs, job.plan, mix.workers, mix.profiles) }
  } catch (err) {
    reply = { id: job.id, error: (err as Error).message }
  }
  port.postMessage(reply)
})
