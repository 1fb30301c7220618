// eclip-fit's candidate plans scored on worker threads. The search climbs from several starts at once
// (src/plan/fit.ts), each waiting on its own scores, and one score is a closed loop on the simulator, all CPU in one
// thread: n threads score n candidates at a time. The threads are the process's, shared by every evaluator; idle,
// they hold nobody's exit and end after a while. Each keeps the last few mixes (inputs, workers, profiles) it was
// sent, so a plan travels alone. Where no thread can start (one core, inside a thread already, no worker module at
// hand), the caller scores in its own thread.
import { isMainThread, Worker } from 'node:worker_threads'
import type { Plan, Profile, WorkerSpec } from '../../formats/index.ts'
import type { FitScore } from '../../plan/index.ts'
import type { EvaluatorInputs } from './score.ts'
import { defaultSimThreads, simWorkerFiles } from './sim-threads.ts'

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
/** An idle thread ends after this long (a later score starts another). */
const IDLE_MS = 10_000

interface Thread {
  worker: Worker
  /** The mixes it holds, oldest first. */
  mixes: number[]
  busy: boolean
  /** The job in flight: its reply settles it; the thread's death rejects it. */
  job?: { id: number; settle: (m: ScoreReply) => void; reject: (e: Error) => void }
  idle?: ReturnType<typeof setTimeout>
}
interface Waiter {
  resolve: (t: Thread) => void
  reject: (e: Error) => void
}
interface Pool {
  files: { file: URL; entry?: URL }
  size: number
  threads: Thread[]
  waiting: Waiter[]
}

let pool: Pool | null | undefined
let nextMix = 0
let nextJob = 0

function getPool(): Pool | null {
  if (pool !== undefined) return pool
  const size = defaultSimThreads()
  const files = simWorkerFiles('score-worker')
  pool = isMainThread && size > 1 && files ? { files, size, threads: [], waiting: [] } : null
  return pool
}

/** A new thread, busy (its caller's); it leaves the pool when it errs or exits, failing the job it held. */
function spawn(p: Pool): Thread {
  const worker = new Worker(p.files.file, p.files.entry ? { workerData: { entry: p.files.entry.href } } : {})
  const t: Thread = { worker, mixes: [], busy: true }
  const gone = (why: string) => {
    const i = p.threads.indexOf(t)
    if (i < 0) return
    p.threads.splice(i, 1)
    clearTimeout(t.idle)
    t.job?.reject(new Error(`score thread ${why}`))
    t.job = undefined
    // a caller waiting for a thread gets a fresh one
    const next = p.waiting.shift()
    if (next) start(p, next)
  }
  worker.on('message', (m: ScoreReply) => {
    if (t.job && m.id === t.job.id) t.job.settle(m)
  })
  worker.on('error', (err) => gone(`died: ${err.message}`))
  worker.on('exit', (code) => gone(`exited (code ${code})`))
  p.threads.push(t)
  return t
}

function start(p: Pool, w: Waiter) {
  try {
    w.resolve(spawn(p))
  } catch (err) {
    w.reject(err as Error)
  }
}

function acquire(p: Pool, mixId: number): Promise<Thread> {
  // a thread that holds this mix first, then any idle one, then a new one, else the first to come free
  const idle = p.threads.filter((x) => !x.busy)
  const t = idle.find((x) => x.mixes.includes(mixId)) ?? idle[0]
  if (t) {
    t.busy = true
    clearTimeout(t.idle)
    return Promise.resolve(t)
  }
  return new Promise((resolve, reject) => {
    const w = { resolve, reject }
    if (p.threads.length < p.size) start(p, w)
    else p.waiting.push(w)
  })
}

function release(p: Pool, t: Thread) {
  if (!p.threads.includes(t)) return
  const next = p.waiting.shift()
  if (next) return next.resolve(t)
  t.busy = false
  t.worker.unref()
  t.idle = setTimeout(() => {
    const i = p.threads.indexOf(t)
    if (i >= 0) p.threads.splice(i, 1)
    void t.worker.terminate()
  }, IDLE_MS)
  t.idle.unref()
}

/**
 * A scorer for one mix's plans on the process's threads, or undefined where there are none (score in this thread:
 * `scorePlan`). The same plan gives the same score either way.
 */
export function threadedScorer(mix: ScoreMix): ((plan: Plan) => Promise<FitScore>) | undefined {
  const p = getPool()
  if (!p) return undefined
  const mixId = nextMix++
  return async (plan) => {
    const t = await acquire(p, mixId)
    t.worker.ref()
    const id = nextJob++
    try {
      return await new Promise<FitScore>((resolve, reject) => {
        const settle = (m: ScoreReply) =>
          'score' in m ? resolve(m.score) : reject(new Error(`score thread: ${m.error}`))
        t.job = { id, settle, reject }
        const job: ScoreJob = { id, mixId, plan }
        const fresh = !t.mixes.includes(mixId)
        if (fresh) {
          job.mix = mix
          if (t.mixes.length >= MIXES_PER_THREAD) job.drop = t.mixes[0]
        }
        t.worker.postMessage(job)
        // recorded once sent: a plan or mix that could not be sent leaves the list as it was
        if (fresh) {
          if (job.drop !== undefined) t.mixes.shift()
          t.mixes.push(mixId)
        }
      })
    } finally {
      t.job = undefined
      release(p, t)
    }
  }
}
