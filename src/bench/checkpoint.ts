// results.json rewritten while a bench runs, so that a bench stopped before its end (a signal, a crash, the time
// limit of a lent GPU) leaves the runs it finished beside the request log, which gets each run's rows as it ends.
// Each write goes to a temporary file renamed over results.json: a reader never sees half a file.
import { renameSync, rmSync, writeFileSync } from 'node:fs'
import { parseFormat, type Results, type Run, UserError } from '../formats/index.ts'

/** Writes a results file whole: to FILE.tmp, then renamed over FILE, after checking it against its format. */
export function writeResults(file: string, results: Results): void {
  parseFormat('results', results, `${file} (about to be written)`)
  const tmp = `${file}.tmp`
  writeFileSync(tmp, `${JSON.stringify(results, null, 1)}\n`)
  renameSync(tmp, file)
}

/** The runs a bench has finished, written as an incomplete results file. */
export interface Checkpoint {
  /** How many runs the experiment holds (its progress's total). */
  total(n: number): void
  /** A run has ended: rewrite the file unless the last write was less than `everyMs` ago. */
  add(run: Run): void
  /** Every run of a mix has ended (the next write names it among the mixes a resumed bench keeps). */
  mixDone(mix: string): void
  /**
   * Rewrite the file now (nothing to write before the first run, or the first kept one); `strict`: a failed write
   * throws instead of warning (what follows relies on the file).
   */
  flush(o?: { strict?: boolean }): void
}

/**
 * Until the returned function is called, a SIGINT or SIGTERM writes the checkpoint and ends the process (130, 143),
 * which stops the GPU backend's process too (src/execute/gpu/client.ts; an MPS daemon of a run in flight is stopped
 * by its watcher: gpu/eclip_gpu/mps.py). Node handles a signal between two callbacks, so only where the event loop
 * turns often (the GPU backend's runs wait on its process): during synchronous work — the simulator's runs, a search
 * on one thread — it would wait for the work's end, and there the default (the process ends at once) is better.
 */
export function exitOnSignal(cp: Checkpoint, say: (signal: NodeJS.Signals) => void): () => void {
  const on = (signal: NodeJS.Signals) => {
    cp.flush()
    say(signal)
    process.exit(signal === 'SIGINT' ? 130 : 143)
  }
  process.once('SIGINT', on)
  process.once('SIGTERM', on)
  return () => {
    process.off('SIGINT', on)
    process.off('SIGTERM', on)
  }
}

/**
 * A checkpoint of `file`: `resultsOf` makes the results of the runs so far (normalised among themselves: a run whose
 * baseline has not ended has no ratios yet), marked `incomplete` with the mixes whose runs have all ended. At most one
 * write per `everyMs` (0: after every run). A write that fails is a safety net lost, not the bench: `warn` hears of
 * the first failure, and the next run tries again. `kept`: what a resumed bench kept of an earlier process's, written
 * with the runs that end in this one, and the earlier bench's total (until this one's progress gives its own).
 */
export function resultsCheckpoint(
  file: string,
  resultsOf: (runs: Run[]) => Results,
  o: {
    everyMs?: number
    warn?: (message: string) => void
    now?: () => number
    kept?: { runs: readonly Run[]; mixes: readonly string[]; of?: number }
  } = {},
): Checkpoint {
  const { everyMs = 1000, warn = () => {}, now = () => performance.now() } = o
  const done: Run[] = [...(o.kept?.runs ?? [])]
  const mixes = new Set(o.kept?.mixes)
  let of = o.kept?.of ?? 0
  let last = Number.NEGATIVE_INFINITY
  let warned = false
  const flush = (f?: { strict?: boolean }) => {
    // a resumed bench's first write may keep no run: the earlier runs it drops are gone from the file too
    if (done.length === 0 && !o.kept) return
    try {
      writeResults(file, {
        ...resultsOf([...done]),
        incomplete: { runs: done.length, of: Math.max(of, done.length), mixes: [...mixes] },
      })
    } catch (err) {
      rmSync(`${file}.tmp`, { force: true })
      if (f?.strict) throw new UserError(`${file} could not be written: ${(err as Error).message}`)
      if (!warned) warn(`${file} not rewritten as the runs end: ${(err as Error).message}`)
      warned = true
    }
    last = now()
  }
  return {
    total(n) {
      of = n
    },
    add(run) {
      done.push(run)
      if (now() - last >= everyMs) flush()
    },
    mixDone(mix) {
      mixes.add(mix)
    },
    flush,
  }
}
