// Host CPU of the processes of a served run (Linux, from /proc): this process (the server) and its event-loop thread,
// or another server's processes (serve-bench --url --server-pids), the clients' processes (every client process and
// its helpers, summed; the busiest process and the busiest main thread, an event loop, of them), the backend's. Read
// at a window's edges, it says what the host path costs per request — where the server's time goes when the event
// loop, not the GPU, bounds the rate.
import { readFileSync } from 'node:fs'

/** CPU seconds (user + system) of /proc/<path>/stat (a process, or <pid>/task/<tid>); null where unreadable. */
function cpuS(path: string): number | null {
  try {
    const stat = readFileSync(`/proc/${path}/stat`, 'utf8')
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(f[11]) + Number(f[12])) / 100 // utime + stime, in USER_HZ (100 on Linux)
  } catch {
    return null
  }
}

/** Read and write system calls of /proc/<path>/io (a thread's own under <pid>/task/<tid>); null where unreadable. */
function syscalls(path: string): { reads: number; writes: number } | null {
  try {
    const io = readFileSync(`/proc/${path}/io`, 'utf8')
    const n = (k: string) => Number(new RegExp(`^${k}: (\\d+)`, 'm').exec(io)?.[1] ?? Number.NaN)
    const r = { reads: n('syscr'), writes: n('syscw') }
    return Number.isNaN(r.reads + r.writes) ? null : r
  } catch {
    return null
  }
}

export interface CpuSnapshot {
  t: number
  /**
   * The server: this process, all threads (libuv's pool, V8's GC helpers), and its front-ends; or another server's
   * processes; null where not measured. s.
   */
  server: number | null
  /** This process's main thread: the event loop, s (null when the server is another's). */
  eventLoop: number | null
  /** The event loop's read and write system calls so far (each wake-up reads; each flush writes). */
  eventLoopSyscalls: { reads: number; writes: number } | null
  clients: number | null
  /** Each client process's CPU seconds by pid (the busiest of them may bound the rate while their mean does not). */
  clientsEach: Record<number, number | null>
  /** Each client process's main thread (its event loop), CPU seconds by pid. */
  clientLoopsEach: Record<number, number | null>
  backend: number | null
}

/** The sum of CPU seconds read, null if none was readable. */
const sumRead = (s: readonly (number | null)[]): number | null =>
  s.some((c) => c !== null) ? s.reduce<number>((a, c) => a + (c ?? 0), 0) : null

/** Summed CPU seconds of `pids`, null if none is readable. */
const sumCpuS = (pids: readonly number[]): number | null => sumRead(pids.map((p) => cpuS(String(p))))

/** Whether process `pid` is one this host's /proc can read (serve-bench --server-pids is checked with it). */
export const readableProcess = (pid: number): boolean => cpuS(String(pid)) !== null

/**
 * `clients`: the clients' processes, every client process of the run and their helpers (the cuda-shm client's Python
 * processes): their CPU is summed, null if none is readable; `frontends`: the server's front-end processes, counted
 * as the server's. `server`: absent, the server is this process (and its front-ends); else another server's
 * processes, summed, or null: not measured.
 */
export function cpuSnapshot(pids: {
  clients?: number | number[]
  backend?: number
  frontends?: number[]
  server?: number[] | null
}): CpuSnapshot {
  const t = performance.now() / 1000
  const clientPids = [pids.clients ?? []].flat()
  const clientsEach = Object.fromEntries(clientPids.map((p) => [p, cpuS(String(p))]))
  const clientLoopsEach = Object.fromEntries(clientPids.map((p) => [p, cpuS(`${p}/task/${p}`)]))
  const clients = sumRead(Object.values(clientsEach)) // the same readings, each pid read once
  const backend = pids.backend ? cpuS(String(pids.backend)) : null
  if (pids.server !== undefined)
    return {
      t,
      server: pids.server ? sumCpuS(pids.server) : null,
      eventLoop: null,
      eventLoopSyscalls: null,
      clients,
      clientsEach,
      clientLoopsEach,
      backend,
    }
  const u = process.cpuUsage()
  return {
    t,
    server: (u.user + u.system) / 1e6 + (sumCpuS(pids.frontends ?? []) ?? 0),
    eventLoop: cpuS(`${process.pid}/task/${process.pid}`),
    eventLoopSyscalls: syscalls(`${process.pid}/task/${process.pid}`),
    clients,
    clientsEach,
    clientLoopsEach,
    backend,
  }
}

export interface HostCpu {
  /** Cores busy on average over the span (null: not measured). */
  cores: {
    server: number | null
    eventLoop: number | null
    clients: number | null
    /** The busiest client process (read at both edges), null where none was. */
    busiestClient: number | null
    /** The busiest client main thread (an event loop), null where none was read at both edges. */
    busiestClientLoop: number | null
    backend: number | null
  }
  /** CPU ms per request answered in the span. */
  msPerRequest: { server: number | null; eventLoop: number | null }
  /** The event loop's read and write system calls per request answered in the span. */
  syscallsPerRequest: { reads: number; writes: number } | null
}

export function hostCpu(a: CpuSnapshot, b: CpuSnapshot, requests: number): HostCpu {
  const s = b.t - a.t
  const d = (x: number | null, y: number | null) => (x === null || y === null ? null : y - x)
  const per = (x: number | null) => (x === null || requests === 0 ? null : (x * 1000) / requests)
  const sv = d(a.server, b.server)
  const el = d(a.eventLoop, b.eventLoop)
  const cl = d(a.clients, b.clients)
  const be = d(a.backend, b.backend)
  // the most busy of the pids read at both edges
  const busiest = (x: Record<number, number | null>, y: Record<number, number | null>) => {
    const each = Object.entries(y)
      .map(([pid, v]) => d(x[Number(pid)] ?? null, v))
      .filter((v): v is number => v !== null)
    return each.length ? Math.max(...each) / s : null
  }
  return {
    cores: {
      server: sv === null ? null : sv / s,
      eventLoop: el === null ? null : el / s,
      clients: cl === null ? null : cl / s,
      busiestClient: busiest(a.clientsEach, b.clientsEach),
      busiestClientLoop: busiest(a.clientLoopsEach, b.clientLoopsEach),
      backend: be === null ? null : be / s,
    },
    msPerRequest: { server: sv === null ? null : (per(sv) ?? 0), eventLoop: per(el) },
    syscallsPerRequest:
      a.eventLoopSyscalls && b.eventLoopSyscalls && requests > 0
        ? {
            reads: (b.eventLoopSyscalls.reads - a.eventLoopSyscalls.reads) / requests,
            writes: (b.eventLoopSyscalls.writes - a.eventLoopSyscalls.writes) / requests,
          }
        : null,
  }
}

/**
 * One line for a run's notes (parsed back by bench/serve-host-bench.ts: keep its shape, add at the end); µs
 * resolution per request. A server whose CPU was not read (another server's, no --server-pids) says so.
 */
export function hostCpuNote(h: HostCpu): string {
  const f = (x: number | null, d = 2) => (x === null ? 'n/a' : x.toFixed(d))
  const loop = h.cores.busiestClientLoop
  const busiest =
    h.cores.busiestClient === null
      ? ''
      : `; busiest client process ${f(h.cores.busiestClient, 3)}` +
        (loop === null ? '' : ` (busiest client event loop ${f(loop, 3)})`)
  if (h.cores.server === null)
    return `host CPU in the window: server not measured, clients ${f(h.cores.clients, 3)}${busiest}`
  return (
    `host CPU in the window: server ${f(h.cores.server, 3)} cores (event loop ${f(h.cores.eventLoop, 3)}), ` +
    `clients ${f(h.cores.clients, 3)}, backend ${f(h.cores.backend, 3)}; per request: server ` +
    `${f(h.msPerRequest.server, 3)} ms (event loop ${f(h.msPerRequest.eventLoop, 3)} ms` +
    (h.syscallsPerRequest
      ? `, ${f(h.syscallsPerRequest.reads)} reads and ${f(h.syscallsPerRequest.writes)} writes)`
      : ')') +
    busiest
  )
}

/** A client event loop (or, where none was read, a client process) this busy may have set a window's rate. */
export const CLIENT_BOUND_CORES = 0.95

/**
 * A note for a window where a client's event loop was (nearly) a core busy: then the clients, not the server, may
 * have set its rate, at least for the models that process drove (with no more processes than models each drives
 * whole models, so the model sending most requests loads its process most). Where no event loop was read, the
 * processes' CPU stands in (the busiest, or all of them on average); it counts their helper threads (garbage
 * collection among them), so a process can pass one core with its event loop not saturated. `processes`: the client
 * processes that drove the load, or null where their CPU includes helpers of their own (the cuda-shm client's
 * Python processes), which a per-process figure would overstate.
 */
export function clientBoundNote(h: HostCpu, processes: number | null): string | null {
  const c = h.cores.clients
  if (c === null || !processes) return null
  const mean = c / processes
  const tail =
    'in the window: the clients, not the server, may have set its rate (--client-processes spreads them)'
  const loop = h.cores.busiestClientLoop
  if (loop !== null) {
    if (loop < CLIENT_BOUND_CORES) return null
    const l = loop.toFixed(2)
    if (processes === 1) return `the one client process's event loop was ${l} of a core busy ${tail}`
    const busiest =
      h.cores.busiestClient === null ? '' : `; the busiest process ${h.cores.busiestClient.toFixed(2)}`
    return `the busiest of the ${processes} client processes' event loops was ${l} of a core busy (${mean.toFixed(2)} cores per process on average${busiest}) ${tail}`
  }
  const busiest = Math.max(h.cores.busiestClient ?? mean, mean)
  if (busiest < CLIENT_BOUND_CORES) return null
  if (processes === 1) return `the one client process was ${busiest.toFixed(2)} of a core busy ${tail}`
  if (mean >= CLIENT_BOUND_CORES)
    return `the ${processes} client processes were ${mean.toFixed(2)} of a core busy each${h.cores.busiestClient === null ? '' : ` (the busiest ${busiest.toFixed(2)})`} ${tail}`
  return `the busiest of the ${processes} client processes was ${busiest.toFixed(2)} of a core busy (${mean.toFixed(2)} each on average) ${tail}`
}
