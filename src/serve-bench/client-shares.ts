// How a run's clients split over serve-bench's client processes (`--client-processes`): by model first; when there
// are more processes than models, a closed-loop model's clients split over several (the model with the most clients
// per process gets the next one). An open-loop model's schedule stays whole in one process: its slots take the
// schedule's times in order, which two processes could not share without splitting the schedule itself.
import { type SlotCounts, slotCount } from './clients/index.ts'

/** The processes the clients of a run can use: one per closed-loop client, one per open-loop model. */
export function clientUnits(s: SlotCounts, models: number): number {
  let units = 0
  for (let i = 0; i < models; i++) units += s.plans?.[i]?.kind === 'open' ? 1 : slotCount(s, i)
  return units
}

/**
 * The default count: one process drives every model. Measured on a 16-core H100 host (results/h100/serve-sweep/),
 * four processes served less than one (their wake-ups and connections cost the server's event loop, which bounds
 * small-model mixes), so several are for hosts where the one client process is shown to be the bound.
 */
export const DEFAULT_CLIENT_PROCESSES = 1

/**
 * Each process's share: slots per model in mix order (0 where another process drives the model), for at most `n`
 * processes (fewer when the run has fewer clients to split). Up to as many processes as models, whole models are dealt
 * largest first to the process with the fewest slots so far; a model split over several processes has its clients
 * spread evenly, the first taking the remainder. Processes are numbered by their first model in mix order.
 */
export function splitClients(s: SlotCounts, models: number, n: number): number[][] {
  const slots = Array.from({ length: models }, (_, i) => slotCount(s, i))
  const splittable = (i: number) => s.plans?.[i]?.kind !== 'open'
  const count = Math.max(1, Math.min(n, clientUnits(s, models)))
  if (models === 0) return [[]]
  // n ≤ models: whole models, dealt so that each process gets about as many clients (largest first)
  if (count <= models) {
    const load = new Array<number>(count).fill(0)
    const owner = new Array<number>(models).fill(0)
    const order = slots.map((_, i) => i).sort((a, b) => (slots[b] as number) - (slots[a] as number) || a - b)
    for (const i of order) {
      const p = load.indexOf(Math.min(...load))
      owner[i] = p
      load[p] = (load[p] as number) + (slots[i] as number)
    }
    // processes numbered by their first model, so the first process drives the first model
    const firsts = [...new Set(owner)]
    return firsts.map((p) => slots.map((k, i) => (owner[i] === p ? k : 0)))
  }
  // more processes than models: every model one, the rest to the closed-loop model with the most clients per process
  const procs = new Array<number>(models).fill(1)
  for (let extra = count - models; extra > 0; extra--) {
    let best = -1
    for (let i = 0; i < models; i++)
      if (splittable(i) && (procs[i] as number) < (slots[i] as number))
        if (
          best < 0 ||
          (slots[i] as number) / (procs[i] as number) > (slots[best] as number) / (procs[best] as number)
        )
          best = i
    procs[best] = (procs[best] as number) + 1
  }
  const shares: number[][] = []
  for (let i = 0; i < models; i++) {
    const k = procs[i] as number
    const total = slots[i] as number
    for (let j = 0; j < k; j++) {
      const share = new Array<number>(models).fill(0)
      share[i] = Math.floor(total / k) + (j < total % k ? 1 : 0)
      shares.push(share)
    }
  }
  return shares
}
