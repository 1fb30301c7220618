// V8's old-generation sizing for a process that serves requests (eclip serve's engine and its front-ends).
//
// Request bodies of megabytes (images at batch 8) come in as Buffers of up to 64 KB per socket read, and V8 counts
// them as they are made: its young generation grows to its largest. After a full collection V8 sets the next one's
// limit at the live heap times a factor it picks by how fast collection is against the program; for a small heap
// whose collections are quick that factor is small, and where the room it leaves is less than the young
// generation's, V8 starts marking again at once (its trace says "allocation limit" with the old generation far under
// it). The process then runs full collections back to back and a request costs far more CPU
// (results/vm/heap-growing/). A fixed factor (V8's --heap-growing-percent) leaves room for the young generation; the
// old generation may grow to that many times its live size between full collections.

import { setFlagsFromString } from 'node:v8'
import { wholeNumberFromEnv } from './env.ts'

/** The default: the old generation may grow to 4× its live size before the next full collection. */
export const DEFAULT_HEAP_GROWING_PERCENT = 300

/** Node's own flag for it, as `node --heap-growing-percent=N` (or `--heap_growing_percent N`) takes it. */
export const HEAP_GROWING_FLAG = /^--heap[-_]growing[-_]percent(=|$)/

/** The flag that sets `percent`, for V8 at run time or a Node process at its start. */
export const heapGrowingFlag = (percent: number) => `--heap-growing-percent=${percent}`

/**
 * The heap growing percent a serving process runs with: ECLIP_HEAP_GROWING_PERCENT (0: V8's own factor), else the
 * default, unless the process was started with Node's own `--heap-growing-percent` (then that one stands). Undefined:
 * leave V8's flag as it is. Throws a UserError on a value that is not a whole percent from 0 to 10000.
 */
export function servingHeapGrowingPercent(
  env: NodeJS.ProcessEnv = process.env,
  execArgv: readonly string[] = process.execArgv,
): number | undefined {
  const percent = wholeNumberFromEnv(env, 'ECLIP_HEAP_GROWING_PERCENT', {
    least: 0,
    most: 10000,
    what: 'a percent',
    note: "0: V8's own growing factor",
  })
  if (percent === undefined)
    return execArgv.some((a) => HEAP_GROWING_FLAG.test(a)) ? undefined : DEFAULT_HEAP_GROWING_PERCENT
  return percent === 0 ? undefined : percent
}

/**
 * Sets this process's heap growing factor as servingHeapGrowingPercent says (for every V8 heap of the process, its
 * worker threads' too). Returns the percent set, or undefined when left as it was. A process forked to serve gets it
 * as a flag at its start instead (frontends/engine.ts).
 */
export function applyServingHeapGrowth(
  env: NodeJS.ProcessEnv = process.env,
  execArgv: readonly string[] = process.execArgv,
): number | undefined {
  const percent = servingHeapGrowingPercent(env, execArgv)
  if (percent !== undefined) setFlagsFromString(heapGrowingFlag(percent))
  return percent
}
