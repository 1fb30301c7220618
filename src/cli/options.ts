// What `eclip bench` and `eclip serve-bench` read from their command lines the same way: numeric options, --mix,
// --policies and the default profile directory.
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import {
  isMpsPolicy,
  type Mix,
  type MixFile,
  POLICIES,
  type Policy,
  readFile,
  UserError,
} from '../formats/index.ts'
import { PAPER_MIXES, PROFILES_HOME } from '../paths.ts'

/** H100 is the reference GPU (docs/design.md); profiles measured on another GPU are the next best thing, labelled as such. */
const REFERENCE_PROFILES = join(PROFILES_HOME, 'h100')

/** The default profile directory: profiles/h100, else another shipped profiles/<gpu>/, else none (synthetic). */
export function shippedProfiles(): { dir: string; warning?: string } | undefined {
  if (existsSync(join(REFERENCE_PROFILES, 'gpu.json'))) return { dir: REFERENCE_PROFILES }
  if (!existsSync(PROFILES_HOME)) return undefined
  const other = readdirSync(PROFILES_HOME)
    .sort()
    .map((d) => join(PROFILES_HOME, d))
    .find((d) => existsSync(join(d, 'gpu.json')))
  if (!other) return undefined
  return {
    dir: other,
    warning: `no H100 profiles (${REFERENCE_PROFILES}); simulating with the profiles measured in ${other} — results are for that GPU, not an H100`,
  }
}

/** A commander parser for a number option ≥ `min`. */
export const num =
  (name: string, min: number, integer = false) =>
  (v: string) => {
    const x = Number(v)
    if (!Number.isFinite(x) || x < min || (integer && !Number.isInteger(x)))
      throw new UserError(`--${name}: expected ${integer ? 'an integer' : 'a number'} ≥ ${min}, got "${v}"`)
    return x
  }

/** --mix: "all" (the paper's seven), a mix file (every mix in it), or names from the paper's file, comma-separated. */
export function resolveMixes(arg: string): Mix[] {
  if (/\.(ya?ml|json)$/i.test(arg) || existsSync(arg)) {
    if (!existsSync(arg)) throw new UserError(`--mix ${arg}: no such file`)
    return readFile<MixFile>('mix', arg).mixes
  }
  const paper = readFile<MixFile>('mix', PAPER_MIXES).mixes
  if (arg === 'all') return paper
  return arg.split(',').map((name) => {
    const m = paper.find((x) => x.name === name.trim())
    if (!m)
      throw new UserError(
        `--mix: no mix "${name}" in ${PAPER_MIXES} (known: ${paper.map((x) => x.name).join(', ')}; or give a mix file)`,
      )
    return m
  })
}

/**
 * --policies. "all" is every policy on the GPU; on the simulator it leaves out the MPS policies, whose simulation is
 * only an uncalibrated approximation (src/execute/sim/mps.ts): named explicitly, they are simulated all the same.
 */
export function resolvePolicies(arg: string, backend: 'sim' | 'gpu' = 'sim'): Policy[] {
  if (arg === 'all') return POLICIES.filter((p) => backend === 'gpu' || !isMpsPolicy(p))
  const out = arg.split(',').map((p) => p.trim())
  for (const p of out)
    if (!(POLICIES as readonly string[]).includes(p))
      throw new UserError(`--policies: unknown policy "${p}" (known: ${POLICIES.join(', ')}, or all)`)
  // baseline is what every ratio is taken against: always run it
  if (!out.includes('baseline')) out.unshift('baseline')
  return out as Policy[]
}
