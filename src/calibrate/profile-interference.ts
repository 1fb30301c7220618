// Each profile's own memory/L2 interference γ (Calibration.profileInterference), fitted on co-located GPU runs with
// the other constants kept: models do not lose alike beside others. Every run is re-simulated at each γ of a grid, that
// γ for every profile at once; a profile's γ is where the mean ln(simulated ÷ measured req/s) of its workers in runs of
// two or more workers crosses 0 (docs/calibrate.md).
import { type Calibration, profileKey } from '../execute/sim/contention.ts'
import type { PowerModel, Run } from '../formats/index.ts'
import { mean } from '../measure/stats.ts'
import { type Case, simulateCases } from './calibrate.ts'

/** The default grid of γ, wide enough for the H100's profiles (docs/calibrate.md). */
export const PROFILE_GAMMA_GRID = [0, 0.25, 0.5, 0.75, 1, 1.5, 2, 3] as const

/** One profile's fit: its γ, and the mean signed and absolute ln(sim ÷ measured) of its workers' req/s. */
export interface ProfileFit {
  profile: string
  gamma: number
  /** Worker-runs it was fitted on (workers of this profile in co-located runs). */
  workerRuns: number
  /** With the common γ (before) and with every profile's fitted γ (after). */
  before: { meanLog: number; meanAbsLog: number }
  after: { meanLog: number; meanAbsLog: number }
  /** True when the mean did not cross 0 within the grid: γ is the grid's end. */
  atEdge: boolean
}

/** Per profile, ln(sim ÷ measured req/s) of each of its workers in runs of two or more workers. */
export function logErrors(cases: readonly Case[], sim: readonly Run[]): Map<string, number[]> {
  const out = new Map<string, number[]>()
  cases.forEach((c, i) => {
    if (c.gpu.workers.length < 2) return
    const s = sim[i] as Run
    c.gpu.workers.forEach((w, j) => {
      const sw = s.workers[j]
      if (!sw || w.throughputRps <= 0 || sw.throughputRps <= 0) return
      const k = profileKey(w)
      const xs = out.get(k) ?? []
      xs.push(Math.log(sw.throughputRps / w.throughputRps))
      out.set(k, xs)
    })
  })
  return out
}

// a profile's list is never empty (logErrors makes one per worker seen)
const meanOf = (xs: readonly number[]) => mean(xs) ?? Number.NaN
const summary = (xs: readonly number[]) => ({ meanLog: meanOf(xs), meanAbsLog: meanOf(xs.map(Math.abs)) })

/**
 * Where a falling curve of (γ, mean log error) points crosses 0: linear between the two points around it; the
 * first γ where every error is already below 0, the last where every one is above (atEdge).
 */
export function crossing(points: readonly { gamma: number; meanLog: number }[]): {
  gamma: number
  atEdge: boolean
} {
  const ps = [...points].sort((a, b) => a.gamma - b.gamma)
  const zero = ps.find((p) => p.meanLog === 0)
  if (zero) return { gamma: zero.gamma, atEdge: false }
  for (let i = 0; i + 1 < ps.length; i++) {
    const a = ps[i] as (typeof ps)[number]
    const b = ps[i + 1] as (typeof ps)[number]
    if (a.meanLog >= 0 && b.meanLog <= 0) {
      const t = a.meanLog === b.meanLog ? 0 : a.meanLog / (a.meanLog - b.meanLog)
      return { gamma: a.gamma + t * (b.gamma - a.gamma), atEdge: false }
    }
  }
  const first = ps[0]
  const last = ps.at(-1)
  if (!first || !last) throw new Error('crossing: no points')
  return first.meanLog < 0 ? { gamma: first.gamma, atEdge: true } : { gamma: last.gamma, atEdge: true }
}

export interface ProfileInterferenceFit {
  gamma: Record<string, number>
  profiles: ProfileFit[]
  /** Re-simulations made (the grid's points and the check). */
  simulations: number
}

/**
 * Fits each profile's γ on `cases` (the contention constants of `cal` kept; its own profileInterference and
 * aggressor weights ignored):
 * see the file's header. Profiles with no worker in a co-located run get none (the common γ stays theirs).
 */
export function fitProfileInterference(
  cases: readonly Case[],
  cal: Calibration,
  power: PowerModel,
  grid: readonly number[] = PROFILE_GAMMA_GRID,
  onPoint?: (done: number, total: number) => void,
): ProfileInterferenceFit {
  if (grid.length < 2) throw new Error('fitProfileInterference: the grid needs two points at least')
  // the file written carries γ alone: aggressor weights fitted beside an earlier γ are dropped with it
  const { profileInterference: _drop, aggressorWeight: _weights, ...common } = cal
  const total = grid.length + 2
  const before = logErrors(cases, simulateCases(cases, common, power))
  onPoint?.(1, total)
  const curves = new Map<string, { gamma: number; meanLog: number }[]>()
  grid.forEach((g, i) => {
    const errs = logErrors(cases, simulateCases(cases, { ...common, memoryInterference: g }, power))
    for (const [k, xs] of errs) curves.set(k, [...(curves.get(k) ?? []), { gamma: g, meanLog: meanOf(xs) }])
    onPoint?.(i + 2, total)
  })
  const gamma: Record<string, number> = {}
  const edge = new Map<string, boolean>()
  for (const [k, pts] of [...curves].sort(([a], [b]) => a.localeCompare(b))) {
    const c = crossing(pts)
    gamma[k] = Math.round(c.gamma * 1000) / 1000
    edge.set(k, c.atEdge)
  }
  const after = logErrors(cases, simulateCases(cases, { ...common, profileInterference: gamma }, power))
  onPoint?.(total, total)
  const profiles = Object.keys(gamma).map((k) => ({
    profile: k,
    gamma: gamma[k] as number,
    workerRuns: (before.get(k) ?? []).length,
    before: summary(before.get(k) ?? []),
    after: summary(after.get(k) ?? []),
    atEdge: edge.get(k) ?? false,
  }))
  return { gamma, profiles, simulations: total }
}
