// serve-bench's clients in several processes (`--client-processes`), driven as one: one Node event loop driving
// every model's clients can itself bound the rate it measures, and the server must be the bound, not the load
// generator. The run's clients split by client-shares.ts; every process opens its share, then all start on one time
// base (a CLOCK_MONOTONIC instant the pool gives them: their request logs and the window's edges compare), the first
// process reads /metrics at the window's edges, and all stop after the window. Their calls merge into one list per
// model, in the order the requests ended. A process that fails or dies fails the run, naming it.
import type { ClientEvent, ClientOutcome, ClientSpec } from './client-driver.ts'
import { ClientProcess, type ShareOutcome } from './client-process.ts'
import { splitClients } from './client-shares.ts'
import type { Call } from './clients/index.ts'

export interface PoolOutcome extends ClientOutcome {
  /** Each process's slots per model in mix order (client-shares.ts). */
  shares: number[][]
}

/** One process's share in words: its models with their slots ("alexnet-0 ×2, alexnet-1 ×2"). */
const shareWords = (share: readonly number[], names: readonly string[]) =>
  share.flatMap((k, i) => (k > 0 ? [`${names[i] ?? i} ×${k}`] : [])).join(', ') || 'no model'

/** A run's shares for its notes: how many processes drove the load, and each one's models and slots. */
export function describeShares(shares: readonly number[][], names: readonly string[]): string {
  const n = shares.length
  return `${n} client process${n === 1 ? '' : 'es'} drove the load (${shares.map((s) => shareWords(s, names)).join(' | ')}; ×: closed-loop clients or open-loop slots; the first read /metrics at the window's edges)`
}

/** Each model's calls from every process, in the order they ended (each process's own list is in that order). */
export function mergeCalls(outcomes: readonly ShareOutcome[], models: number): Call[][] {
  return Array.from({ length: models }, (_, i) => {
    const all = outcomes.flatMap((o) => o.calls[i] ?? [])
    return outcomes.length > 1 ? all.sort((a, b) => a.endMs - b.endMs) : all
  })
}

export class ClientPool {
  private readonly procs: ClientProcess[]

  /** `n` processes spawned now (their start-up overlaps the server's); a run uses as many as it has shares. */
  constructor(n: number) {
    this.procs = Array.from({ length: Math.max(1, n) }, () => new ClientProcess())
  }

  /** The clients' processes and their helpers (the cuda-shm client's Python processes): the host-CPU reading's. */
  pids(): number[] {
    return this.procs.flatMap((p) => [...(p.pid ? [p.pid] : []), ...p.helperPids])
  }

  /**
   * Splits `spec`'s clients over the processes, opens them all, starts them together, and takes their calls back
   * once the first process has read the window's end. Rejects, naming the process, if one fails or dies.
   */
  async run(spec: ClientSpec, onEvent: (e: ClientEvent) => void): Promise<PoolOutcome> {
    const shares = splitClients(spec, spec.models.length, this.procs.length)
    const used = this.procs.slice(0, shares.length)
    await Promise.all(this.procs.slice(shares.length).map((p) => p.close()))
    const names = spec.models.map((m) => m.name)
    for (const [k, p] of used.entries())
      p.label = `serve-bench client process ${k + 1} of ${used.length} (pid ${p.pid}: ${shareWords(shares[k] as number[], names)})`
    const failed = Promise.race(used.map((p) => p.failed))
    const guard = <T>(x: Promise<T>) => Promise.race([x, failed])
    let windowEnd: () => void = () => {}
    const ended = new Promise<void>((resolve) => {
      windowEnd = resolve
    })
    // the first process waits for the energy reading and reads the edges: its events are the run's
    const events = (e: ClientEvent) => {
      if (e === 'clients-open') return
      onEvent(e)
      if (e === 'window-end') windowEnd()
    }
    await guard(
      Promise.all(
        used.map((p, k) =>
          p.open({ ...spec, share: shares[k] as number[] }, k === 0, k === 0 ? events : () => {}),
        ),
      ),
    )
    onEvent('clients-open')
    const t0Ns = process.hrtime.bigint()
    for (const p of used) p.go(t0Ns)
    await guard(ended)
    const outcomes = await guard(Promise.all(used.map((p) => p.stop())))
    const edges = outcomes[0]?.edges
    if (!edges) throw new Error(`${used[0]?.label}: no /metrics readings at the window's edges`)
    return { calls: mergeCalls(outcomes, spec.models.length), edges, shares }
  }

  async close(): Promise<void> {
    await Promise.all(this.procs.map((p) => p.close()))
  }
}
