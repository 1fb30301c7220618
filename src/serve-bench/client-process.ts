// One client process of a serve-bench run (`eclip serve-bench-clients`, spoken to over Node's IPC channel): its share
// of the run's clients (client-driver.ts), driven phase by phase by the parent — open, go (the run's time base), stop
// — so that several processes start together and stop after the same window (client-pool.ts). The clients live
// outside the server's process so that the server's event loop and heap are the server's alone: with the clients in
// the server's process, the bench measured the clients' HTTP work, copies and garbage collection as the server's
// (92% busy on the H100 with mix3 at batch 8).
import { type ChildProcess, spawn } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { UserError } from '../formats/errors.ts'
import { tracePauses } from '../serve/pause-trace.ts'
import {
  type ClientEvent,
  type ClientSpec,
  openShare,
  type Scrape,
  timeBase,
  windowEdges,
} from './client-driver.ts'
import type { Call, LoadGen } from './clients/index.ts'

/** What one process hands back: its calls per model in mix order, and the windows' edges if it read them. */
export interface ShareOutcome {
  calls: Call[][]
  edges?: Scrape[]
}

type ToClients =
  | { type: 'open'; spec: ClientSpec; scrapes: boolean }
  | { type: 'go'; t0Ns: string }
  | { type: 'stop' }
type FromClients =
  | { type: 'event'; event: ClientEvent }
  | { type: 'helpers'; pids: number[] }
  | { type: 'done'; outcome: ShareOutcome }
  | { type: 'error'; message: string }

/**
 * A client process that failed (its clients' error, or it died before handing its calls back): as when the GPU
 * backend crashes, serve-bench records that run as failed and goes on with the next (src/serve-bench/run.ts), and the
 * error is one line with no stack (the child writes its own stack on its stderr where the error was not a user's).
 */
export class ClientProcessError extends UserError {
  override name = 'ClientProcessError'
}

/** The exit code of a client process whose channel to serve-bench closed before it handed its calls back. */
const CHANNEL_CLOSED_EXIT = 3
/** How long an exited client process's channel may take to deliver what is left in it. */
const CHANNEL_GRACE_MS = 5_000

/** The CLI that can run `serve-bench-clients`: this bundle (on the GPU machine), or bin/eclip.mjs from the sources. */
function cliEntry(): string {
  const self = fileURLToPath(import.meta.url)
  return self.endsWith('.ts') ? join(import.meta.dirname, '..', '..', 'bin', 'eclip.mjs') : self
}

/**
 * The parent's handle on one client process. `failed` rejects, naming the process, when the clients fail or the
 * process dies before it handed its calls back; the process is gone once close() settles (and dies with its parent:
 * the IPC channel closing ends it).
 */
export class ClientProcess {
  private readonly child: ChildProcess
  private readonly exited: Promise<void>
  private done = false
  private opened: () => void = () => {}
  private finished: (o: ShareOutcome) => void = () => {}
  private onEvent: (e: ClientEvent) => void = () => {}
  private fail: (e: ClientProcessError) => void = () => {}
  readonly failed: Promise<never>
  /** How errors name it (the pool sets its number and models). */
  label = 'the serve-bench client process'
  /** Processes the clients started to do their work (the cuda-shm client), once they are open. */
  helperPids: number[] = []

  /** Spawned early: the CLI's start-up (a second or so from the sources) overlaps the server's. */
  constructor() {
    this.failed = new Promise<never>((_, reject) => {
      this.fail = reject
    })
    this.failed.catch(() => {}) // a failure is seen through the operation it cuts short
    this.child = spawn(process.execPath, [cliEntry(), 'serve-bench-clients'], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'advanced', // Maps and typed arrays as they are
    })
    this.child.on('message', (m: FromClients) => {
      if (m.type === 'event') {
        if (m.event === 'clients-open') this.opened()
        this.onEvent(m.event)
      } else if (m.type === 'helpers') this.helperPids = m.pids
      else if (m.type === 'done') {
        this.done = true
        this.finished(m.outcome)
      } else this.fail(new ClientProcessError(`${this.label}: ${m.message}`))
    })
    let gone: () => void = () => {}
    this.exited = new Promise((resolve) => {
      gone = resolve
    })
    this.child.once('exit', (code, signal) => {
      // judged once the channel has closed, a turn later: a message the process sent just before it exited (its
      // calls, or the error that names the cause) may still be in the pipe when its exit is seen, the more so when
      // this process is busy with the other processes' calls; a channel still open after a while is not waited for
      let judged = false
      const judge = () => {
        if (judged) return
        judged = true
        setImmediate(() => {
          if (!this.done)
            this.fail(
              new ClientProcessError(
                `${this.label} exited (${signal ? `signal ${signal}` : `code ${code}`}${code === CHANNEL_CLOSED_EXIT ? ': its channel to serve-bench closed first' : ''}) before it finished`,
              ),
            )
          gone()
        })
      }
      if (!this.child.connected) return judge()
      const late = setTimeout(judge, CHANNEL_GRACE_MS)
      this.child.once('disconnect', () => {
        clearTimeout(late)
        judge()
      })
    })
    this.child.on('error', (err) => {
      if (this.child.pid === undefined) {
        this.fail(new ClientProcessError(`cannot start ${this.label}: ${err.message}`))
        gone() // no process, so no exit to wait for: close() must not hang
      }
      // a message that could not reach a child that started (EPIPE: it is dying): its exit, due now, names the cause
      else setTimeout(() => this.fail(new ClientProcessError(`${this.label}: ${err.message}`)), 1000).unref()
    })
  }

  get pid(): number | undefined {
    return this.child.pid
  }

  /** Waits for the server, opens this process's clients; `scrapes`: it reads the windows' edges (one per run). */
  open(spec: ClientSpec, scrapes: boolean, onEvent: (e: ClientEvent) => void): Promise<void> {
    this.onEvent = onEvent
    const opened = new Promise<void>((resolve) => {
      this.opened = resolve
    })
    this.send({ type: 'open', spec, scrapes })
    return Promise.race([opened, this.failed])
  }

  /** Starts the loops on the run's time base: ms from `t0Ns` on CLOCK_MONOTONIC. */
  go(t0Ns: bigint): void {
    this.send({ type: 'go', t0Ns: t0Ns.toString() })
  }

  /** Stops the loops (each request in flight finishes) and takes the calls back. */
  stop(): Promise<ShareOutcome> {
    const finished = new Promise<ShareOutcome>((resolve) => {
      this.finished = resolve
    })
    this.send({ type: 'stop' })
    return Promise.race([finished, this.failed])
  }

  async close(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill()
    await this.exited
  }

  private send(m: ToClients): void {
    if (this.child.connected) this.child.send(m)
  }
}

/** `eclip serve-bench-clients` (hidden): the child's side; one run, then exit. */
export function clientProcessMain(): void {
  if (!process.send)
    throw new UserError('serve-bench-clients runs as the child of eclip serve-bench (IPC channel)')
  // how far this process got, for the line it writes where its channel closes before it has handed its calls back
  let phase: 'waiting for its share' | 'opening' | 'running' | 'stopping' | 'handed back' =
    'waiting for its share'
  // an exit before the calls are handed back says where it stood (the parent names the exit code only); not where
  // the parent stopped it (SIGTERM) or its channel closed (said below)
  process.on('exit', (code) => {
    if (phase !== 'handed back' && code !== 143 && code !== CHANNEL_CLOSED_EXIT)
      process.stderr.write(`eclip serve-bench-clients: exiting (code ${code}) while ${phase}\n`)
  })
  process.on('disconnect', () => {
    // the parent has everything (0), or is gone: then said on stderr, and in the exit code the parent reports
    if (phase === 'handed back') process.exit(0)
    process.stderr.write(
      `eclip serve-bench-clients: the channel to serve-bench closed before the run ended (${phase})\n`,
    )
    process.exit(CHANNEL_CLOSED_EXIT)
  })
  tracePauses(process.env, 'clients') // ECLIP_HOTPATH_TIMING=1: this process's pauses beside the server's
  // stopped by the parent (a failed run): exit through 'exit' handlers, which remove the shm clients' files
  process.once('SIGTERM', () => process.exit(143))
  const say = (m: FromClients) => process.send?.(m)
  const last = (m: FromClients) => {
    phase = 'handed back'
    process.send?.(m, undefined, {}, () => process.disconnect())
  }
  const onEvent = (event: ClientEvent) => say({ type: 'event', event })
  let load: LoadGen | null = null
  let spec: ClientSpec | null = null
  let scrapes = false
  let edges: ShareOutcome['edges']
  const fail = async (err: unknown) => {
    const message = err instanceof Error ? err.message : String(err)
    // on stderr too: the parent may see this process exit before the message (its error then names the exit only);
    // with the stack where the error is not a user's (a fault in the clients' own code is found from there)
    const shown = err instanceof Error && !(err instanceof UserError) ? (err.stack ?? message) : message
    process.stderr.write(`eclip serve-bench-clients: ${shown}\n`)
    await load?.close().catch(() => {})
    last({ type: 'error', message })
  }
  process.on('message', (m: ToClients) => {
    if (m.type === 'open') {
      phase = 'opening'
      spec = m.spec
      scrapes = m.scrapes
      openShare(m.spec, m.scrapes, onEvent, (pids) => say({ type: 'helpers', pids })).then((l) => {
        load = l
      }, fail)
    } else if (m.type === 'go' && load && spec) {
      phase = 'running'
      const at = timeBase(BigInt(m.t0Ns))
      load.start(at)
      if (scrapes)
        windowEdges(spec, at, onEvent).then((e) => {
          edges = e
        }, fail)
    } else if (m.type === 'stop' && load) {
      phase = 'stopping'
      const l = load
      l.stop()
        .then(async (calls) => {
          await l.close()
          last({ type: 'done', outcome: { calls, ...(edges ? { edges } : {}) } })
        })
        .catch(fail)
    }
  })
}
