// eclip-fit's candidate plans scored on worker threads. The search climbs from several starts at once
// (src/plan/fit.ts), each waiting on its own scores, and one score is a closed loop on the simulator, all CPU in one
// thread: n threads score n candidates at a time. The threads are the process's, shared by every evaluator, and hold nobody's exit
// while idle; each keeps the last few mixes (inputs, workers, profiles) it was sent, so a plan travels alone. Where no
// thread can start (one core, inside a thread already, no worker module at hand), the caller scores in its thread.
import { availableParallelism } from 'node:os'
import { isMainThread, Worker } from 'node:worker_threads'
import type { Plan, Profile, WorkerSpec } from '../../formats/index.ts'
import type { FitScore } from '../../plan/index.ts'
import type { EvaluatorInputs } from './score.ts'
import { simWorkerFiles } from './table-threads.ts'

/** What a score needs besides the plan, sent to a thread once. */
export interface ScoreMix {
  inputs: EvaluatorInputs
  workers: readonly WorkerSpec[]
  profiles: readonly Profile[]
}
export interface ScoreJob {
  id: number
  mixId: number
  /** The mix, the first time this thread scores one of its plans. */
  mix?: ScoreMix
  /** A mix this thread may forget (the main side keeps the list of what each thread holds). */
  drop?: number
  plan: Plan
}
export type ScoreReply = { id: number; score: FitScore } | { id: number; error: string }

/** Mixes a thread keeps at once. */
const MIXES_PER_THREAD = 4

/** Threads scoring by default: one per core, at most 8; 1 (this thread) where there is one core. */
export function defaultScoreThreads(): number {
  return Math.max(1, Math.min(8, availableParallelism()))
}

interface Thread {
  worker: Worker
  mixes: number[]
  busy: boolean
}

let pool: { threads: Thread[]; size: number; waiting: ((t: Thread) => void)[] } | undefined | null
let nextMix = 0
let nextJob = 0

function getPool() {
  if (pool !== undefined) return pool
  const size = defaultScoreThreads()
  const files = simWorkerFiles('score-worker')
  pool = isMainThread && size > 1 && files ? { threads: [], size, waiting: [] } : null
  return pool
}

function spawn(): Thread {
  const files = simWorkerFiles('score-worker')
  if (!files) throw new Error('score threads: the worker module went missing')
  const worker = new Worker(files.file, files.entry ? { workerData: { entry: files.entry.href } } : {})
  worker.unref()
  return { worker, mixes: [], busy: false }
}

/**
 * A scorer for one mix's plans on the process's threads, or undefined where there are none (score in this thread:
 * `scorePlan`). The same plan gives the same score either way.
 */
export function threadedScorer(mix: ScoreMix): ((plan: Plan) => Promise<FitScore>) | undefined {
  const p = getPool()
  if (!p) return undefined
  const mixId = nextMix++
  const acquire = (): Promise<Thread> => {
    // a thread that holds this mix first, then any idle one, then a new one, else the first to come free
    const idle = p.threads.filter((t) => !t.busy)
    const t = idle.find((x) => x.mixes.includes(mixId)) ?? idle[0]
    if (t) {
      t.busy = true
      return Promise.resolve(t)
    }
    if (p.threads.length < p.size) {
      const n = spawn()
      n.busy = true
      p.threads.push(n)
      return Promise.resolve(n)
    }
    return new Promise((resolve) => p.waiting.push(resolve))
  }
  const release = (t: Thread) => {
    t.busy = false
    const next = p.waiting.shift()
    if (next) {
      t.busy = true
      next(t)
    } else t.worker.unref()
  }
  return async (plan) => {
    const t = await acquire()
    t.worker.ref()
    const id = nextJob++
    const job: ScoreJob = { id, mixId, plan }
    if (!t.mixes.includes(mixId)) {
      job.mix = mix
      t.mixes.push(mixId)
      if (t.mixes.length > MIXES_PER_THREAD) job.drop = t.mixes.shift() as number
    }
    let replacement: Thread | undefined
    try {
      return await new Promise<FitScore>((resolve, reject) => {
        const onMsg = (m: ScoreReply) => {
          if (m.id !== id) return
          t.worker.off('message', onMsg)
          t.worker.off('error', onErr)
          if ('score' in m) resolve(m.score)
          else reject(new Error(`score thread: ${m.error}`))
        }
        const onErr = (err: Error) => {
          t.worker.off('message', onMsg)
          // a dead thread is replaced by a fresh one (it holds no mix)
          replacement = spawn()
          p.threads[p.threads.indexOf(t)] = replacement
          reject(new Error(`score thread died: ${err.message}`))
        }
        t.worker.on('message', onMsg)
        t.worker.once('error', onErr)
        t.worker.postMessage(job)
      })
    } finally {
      release(replacement ?? t)
    }
  }
}
