import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { solveWorkerDp } from '../../src/plan/dp.ts'
import { HighsRunner } from '../../src/plan/highs.ts'
import { solveEclip } from '../../src/plan/index.ts'
import { allAssignments, bruteForceEclip, randomInstance, seededRandom } from './helpers.ts'

const close = (a: number, b: number, what: string) =>
  assert.ok(Math.abs(a - b) <= 1e-7 * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`)

// sizes keep brute force ≤ ~20k assignments per worker: 2 configs up to 12 kernels, 3 up to 8, 4 up to 7
const shape = (rand: () => number) => {
  const configs = 2 + Math.floor(rand() * 3)
  const maxK = configs === 2 ? 12 : configs === 3 ? 8 : 7
  return { configs, kernels: 1 + Math.floor(rand() * maxK) }
}

describe('solvers agree with brute force on small instances', () => {
  const runner = new HighsRunner()
  after(() => runner.close())

  it('per worker at fixed α: DP = HiGHS MILP = brute force (40 random instances)', async () => {
    const rand = seededRandom('fixed-alpha')
    for (let t = 0; t < 40; t++) {
      const { configs, kernels } = shape(rand)
      const { instance } = randomInstance(rand, `w${t}`, kernels, configs, t % 3 === 0)
      const switchMax = Math.floor(rand() * 4)
      // λ = 0 is the fixed-α problem itself; λ > 0 is the outer search's priced variant
      const lambda = t % 2 === 0 ? 0 : rand() * 5
      const cost = (a: { soloUs: number; meanSms: number }) => a.soloUs + lambda * a.meanSms
      const brute = Math.min(...allAssignments(instance, switchMax).map(cost))
      const dp = solveWorkerDp(instance, switchMax, lambda)
      close(dp.value, brute, `instance ${t} DP`)
      close(cost(dp.assignment), brute, `instance ${t} DP assignment`)
      assert.ok(dp.assignment.switches <= switchMax)
      const milp = await runner.solve(instance, switchMax, lambda, 30, 0)
      assert.ok(milp.assignment, `instance ${t}: HiGHS found a solution (${milp.status})`)
      close(cost(milp.assignment), brute, `instance ${t} HiGHS`)
      assert.ok(milp.assignment.switches <= switchMax)
    }
  })

  it('full objective (α from the chosen sizes), ≤ 3 workers: outer search with DP = with HiGHS = brute force', async () => {
    const rand = seededRandom('full-objective')
    for (let t = 0; t < 25; t++) {
      const workers = 1 + Math.floor(rand() * 3)
      const ws = Array.from({ length: workers }, (_, i) => {
        const { configs, kernels } = shape(rand)
        return randomInstance(rand, `w${i}`, kernels, configs, t % 4 === 0).instance
      })
      // twins (same profile and ladder, like mix7's three alexnets) share their subproblem solves
      if (t % 3 === 1 && ws.length < 3) ws.push(ws[0] as (typeof ws)[number])
      const switchMax = Math.floor(rand() * 4)
      const brute = bruteForceEclip(ws, switchMax, 132)
      const opts = { smCount: 132, switchMax, mipGap: 0, timeLimitS: 30 }
      const dp = await solveEclip(ws, { ...opts, solver: 'dp' })
      close(dp.value, brute, `instance ${t} DP`)
      assert.ok(dp.proven)
      assert.equal(dp.gap, 0)
      const hi = await solveEclip(ws, { ...opts, solver: 'highs' })
      close(hi.value, brute, `instance ${t} HiGHS`)
      assert.ok(hi.proven)
      for (const a of [...dp.assignments, ...hi.assignments]) assert.ok(a.switches <= switchMax)
    }
  })

  it('the watchdog terminates an overrunning solve, and the next solve starts a fresh worker', async () => {
    const rand = seededRandom('watchdog')
    const { instance } = randomInstance(rand, 'w', 12, 2)
    const big = randomInstance(rand, 'big', 600, 5).instance
    // a negative margin makes the watchdog fire before HiGHS's own limit: what an overrun looks like
    const impatient = new HighsRunner(-0.999)
    try {
      const killed = await impatient.solve(big, 14, 0, 1, 0)
      assert.equal(killed.killed, true)
      assert.equal(killed.assignment, undefined)
      const again = await runner.solve(instance, 2, 0, 10, 0)
      assert.ok(again.assignment)
    } finally {
      impatient.close()
    }
  })
})
