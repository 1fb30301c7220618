// Whole numbers a serving process takes from its environment (ECLIP_GRPC_*_BYTES, ECLIP_HEAP_GROWING_PERCENT): digits
// only, within a range; anything else refused at start-up with a one-line error that names the variable.
import { UserError } from '../formats/errors.ts'

/**
 * `env[name]` as a whole number `least` … `most`; undefined when unset or empty. `what` names the quantity in the
 * error ("a size in bytes"), `note` adds to its range ("0: V8's own growing factor").
 */
export function wholeNumberFromEnv(
  env: NodeJS.ProcessEnv,
  name: string,
  o: { least: number; most: number; what: string; note?: string },
): number | undefined {
  const raw = env[name]
  if (raw === undefined || raw === '') return undefined
  const n = /^\d+$/.test(raw) ? Number(raw) : Number.NaN
  if (!Number.isSafeInteger(n) || n < o.least || n > o.most)
    throw new UserError(
      `${name}: "${raw}" is not ${o.what} (a whole number ${o.least} … ${o.most}${o.note ? `; ${o.note}` : ''})`,
    )
  return n
}
