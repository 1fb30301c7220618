// V8's old-generation sizing for a process that serves requests (eclip serve's engine and its front-ends).
//
// Request bodies of megabytes (images at batch 8) come in as Buffers of up to 64 KB per socket read, and V8 counts
// them as they are made: its young generation grows to its largest. After a full collection V8 sets the next one's
// limit at the live heap times a factor it picks by how fast collection is against the program; for a small heap
// whose collections are quick that factor is small, and where the room it leaves is less than the young generation's
// V8 starts marking again at once (its trace says "allocation limit" with the old generation far under it). The process then runs full collections back to
// back and a request costs far more CPU (results/vm/heap-growing/). A fixed factor (V8's --heap-growing-percent)
// leaves room for the young generation; the old generation may grow to that many times its live size between full
// collections.

import { setFlagsFromString } from 'node:v8'
import { UserError } from '../formats/errors.ts'

/** The default: the old generation may grow to 4× its live size before the next full collection. */
export const HEAP_GROWING_PERCENT = 300

/**
 * Sets V8's heap growing factor for this process from ECLIP_HEAP_GROWING_PERCENT (default HEAP_GROWING_PERCENT;
 * 0: V8's own choice). Returns the percent set, or undefined when left to V8. Throws on a value that is not one.
 */
export function sizeHeapForServing(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const raw = env.ECLIP_HEAP_GROWING_PERCENT
  const percent = raw === undefined || raw === '' ? HEAP_GROWING_PERCENT : Number(raw)
  if (!Number.isInteger(percent) || percent < 0 || percent > 10000)
    throw new UserError(
      `ECLIP_HEAP_GROWING_PERCENT: "${raw}" is not a percent (an integer 0 … 10000; 0: V8's own growing factor)`,
    )
  if (percent === 0) return undefined
  setFlagsFromString(`--heap-growing-percent=${percent}`)
  return percent
}
