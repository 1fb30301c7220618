// results.json rewritten while a bench runs, so that a bench stopped before its end (a signal, a crash, the time
// limit of a lent GPU) leaves the runs it finished beside the request log, which gets each run's rows as it ends.
// Each write goes to a temporary file renamed over results.json: a reader never sees half a file.
import { renameSync, writeFileSync } from 'node:fs'
import { parseFormat, type Results, type Run } from '../formats/index.ts'

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
  /** Rewrite the file now (nothing to write before the first run). */
  flush(): void
}

/**
 * A checkpoint of `file`: `resultsOf` makes the results of the runs so far (normalised among themselves: a run whose
 * baseline has not ended has no ratios yet), marked `incomplete`. At most one write per `everyMs` while runs end
 * quickly (the simulator's); a run on the GPU lasts seconds, so each is written as it ends.
 */
export function resultsCheckpoint(
  file: string,
  resultsOf: (runs: Run[]) => Results,
  everyMs = 1000,
  now: () => number = () => performance.now(),
): Checkpoint {
  const done: Run[] = []
  let of = 0
  let last = Number.NEGATIVE_INFINITY
  const flush = () => {
    if (done.length === 0) return
    last = now()
    writeResults(file, {
      ...resultsOf([...done]),
      incomplete: { runs: done.length, of: Math.max(of, done.length) },
    })
  }
  return {
    total(n) {
      of = n
    },
    add(run) {
      done.push(run)
      if (now() - last >= everyMs) flush()
    },
    flush,
  }
}
