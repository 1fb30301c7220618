// `eclip bench --plans DIR`: a (mix, policy)'s plan read from DIR where DIR holds one under the name a bench gives it
// (MIX.POLICY.bBATCH.plan.json, as under a bench's --out/plans/), so that a plan made elsewhere — by another bench,
// by hand, by bench/plan-oracle.ts — runs as that policy's; the mixes and policies without one are planned as usual.
// eclip-live's tables are always planned. A plan read must be for the mix's workers (name, model, batch and dtype, in
// order) and the GPU's slice layout; the executors check its kernels against the profiles (fingerprints).
import { existsSync } from 'node:fs'
import { basename, join } from 'node:path'
import { UserError } from '../formats/errors.ts'
import { type Plan, type Policy, readFile } from '../formats/index.ts'
import type { Planner } from '../plan/make-plan.ts'

/** `planner`, but where `dir` holds `fileOf(mix, policy)` (its own name, or under plans/) the plan in it. */
export function givenPlanner(
  planner: Planner,
  dir: string,
  fileOf: (mix: string, policy: Policy) => string,
  note: (line: string) => void,
): Planner {
  if (!existsSync(dir)) throw new UserError(`--plans ${dir}: no such directory`)
  return async (gpu, mix, workers, profiles, opts) => {
    const name = fileOf(mix, opts.policy)
    const file = [join(dir, basename(name)), join(dir, name)].find((f) => existsSync(f))
    if (!file) return planner(gpu, mix, workers, profiles, opts)
    const plan = readFile<Plan>('plan', file)
    const want = workers.map((w) => `${w.name} (${w.model} b${w.batch} ${w.dtype})`)
    const got = plan.workers.map((w) => `${w.name} (${w.model} b${w.batch} ${w.dtype})`)
    if (String(want) !== String(got))
      throw new UserError(
        `--plans: ${file} is for workers ${got.join(', ')}; mix ${mix} runs ${want.join(', ')}`,
      )
    if (plan.policy !== opts.policy)
      throw new UserError(`--plans: ${file} is a ${plan.policy} plan; its name says ${opts.policy}`)
    const slices = gpu.slices.map((s) => s.id)
    for (const q of plan.pool.partitions)
      if (q.slices.some((s) => !slices.includes(s)))
        throw new UserError(
          `--plans: ${file}: partition ${q.id} uses slices ${gpu.name} does not have (it has ${slices.length})`,
        )
    note(`${mix} ${opts.policy}: the plan in ${file}, not planned`)
    return plan
  }
}
