// How serve-bench's clients reach the server (`--transport`): the same KServe v2 / Triton protocol over HTTP with
// binary tensors, gRPC with raw_input_contents (a call per request, or a ModelStreamInfer stream per client that
// carries all its requests), HTTP naming system shared-memory regions, or HTTP naming CUDA
// shared-memory regions (a Python client process: device buffers need CUDA). Each transport opens its slots (one per
// request a model may have outstanding: its connection, its region) before the loops start, and gives them back at
// the end and on failure. When a model's requests go out is its send plan: closed-loop clients (the default), or an
// open loop at the times of its arrival schedule (src/workload/arrivals.ts). A slot's call is timed on the clients'
// time base, as the request log wants it.
import type { ModelIO } from '../../serve/io-specs.ts'
import { binaryInferBody, type InferAnswer } from '../../serve/kserve/client.ts'
import { type Datatype, ELEMENT_BYTES } from '../../serve/kserve/datatypes.ts'

export const TRANSPORTS = ['http', 'grpc', 'grpc-stream', 'shm', 'cuda-shm'] as const
export type Transport = (typeof TRANSPORTS)[number]

/** Whether a transport talks to the server's gRPC listener. */
export const overGrpc = (t: Transport): boolean => t === 'grpc' || t === 'grpc-stream'

/** What each transport says it is, for the report and results.json. */
export const TRANSPORT_LABEL: Record<Transport, string> = {
  http: 'KServe v2 HTTP, binary tensors in the request',
  grpc: 'KServe v2 gRPC, raw_input_contents in the request',
  'grpc-stream':
    'KServe v2 gRPC ModelStreamInfer, raw_input_contents in the request (one stream per client, one request on it at a time)',
  shm: 'KServe v2 HTTP naming system shared-memory regions (one /dev/shm file per client)',
  'cuda-shm':
    'KServe v2 HTTP naming CUDA shared-memory regions (one device buffer per client, Python client processes of ≤ 4 clients)',
}

/**
 * One answered request; times in ms from the clients' start (the warm-up's), as in the request log. `scheduledMs`:
 * an open-loop request's time in its schedule (its latency counts from there, not from when it could be sent).
 */
export interface Call extends InferAnswer {
  startMs: number
  endMs: number
  scheduledMs?: number
}

/**
 * When one model's requests go out, ms on the clients' time base. closed: each of the model's clients sends its next
 * request as soon as the last is answered, only inside the periods [periodsMs[2i], periodsMs[2i+1]) when given (an
 * on/off source); open: one request at each time of `atMs` (ascending), whatever the answers, as long as the model
 * has a free slot — a request whose time comes while every slot is busy goes out when one frees, late.
 */
export type SendPlan = { kind: 'closed'; periodsMs?: number[] } | { kind: 'open'; atMs: number[] }

/** What sets how many slots each transport opens per model: its send plan, the clients or the outstanding bound. */
export interface SlotCounts {
  concurrency: number
  /** Per model, in mix order; absent: every model closed loop. */
  plans?: SendPlan[]
  /** Requests an open-loop model may have outstanding (its slots). */
  maxOutstanding?: number
  /**
   * This process's share of the run's slots, per model in mix order (client-shares.ts): 0 for a model another
   * client process drives; absent: every slot of every model.
   */
  share?: number[]
}

/** Slots of model `i`: its share, else `concurrency` closed-loop clients, or `maxOutstanding` for an open loop. */
export const slotCount = (s: SlotCounts, i: number): number =>
  s.share?.[i] ?? (s.plans?.[i]?.kind === 'open' ? (s.maxOutstanding ?? s.concurrency) : s.concurrency)

/** A served model as the clients see it. */
export interface ClientModel {
  name: string
  io: ModelIO
  batch: number
}

/** One input tensor of a request, its bytes little-endian as the protocol sends them. */
export interface InputTensor {
  name: string
  datatype: Datatype
  shape: number[]
  data: Buffer
}

/** A requested output: what a good answer carries. */
export interface OutputSpec {
  name: string
  datatype: Datatype
  shape: number[]
  bytes: number
}

/**
 * A request's inputs and expected outputs, generated as the HTTP transport generates them (binaryInferBody: the same
 * values for the same seed whatever the transport).
 */
export function requestTensors(
  io: ModelIO,
  items: number,
  rng: () => number,
  datatype?: Datatype,
): { inputs: InputTensor[]; outputs: OutputSpec[] } {
  const req = binaryInferBody(io, items, rng, datatype)
  const head = JSON.parse(req.body.subarray(0, req.headerLength).toString('utf8')) as {
    inputs: { name: string; datatype: Datatype; shape: number[]; parameters: { binary_data_size: number } }[]
  }
  let at = req.headerLength
  const inputs = head.inputs.map((t) => {
    const data = req.body.subarray(at, at + t.parameters.binary_data_size)
    at += t.parameters.binary_data_size
    return { name: t.name, datatype: t.datatype, shape: t.shape, data }
  })
  const outputs = req.outputs.map((o) => ({
    ...o,
    bytes: o.shape.reduce((a, b) => a * b, 1) * ELEMENT_BYTES[o.datatype],
  }))
  return { inputs, outputs }
}

/** One client connection (or region): one request in flight at a time. */
export interface Slot {
  infer(): Promise<InferAnswer>
}

/**
 * The time base of a run's calls: `at()` is ms since `t0Ns` on the monotonic clock (process.hrtime's), which the
 * run's other processes, Python's included, read too.
 */
export type TimeBase = (() => number) & { readonly t0Ns: bigint }

/** The clients of one run: started once, stopped once, closed always (close gives back what open took). */
export interface LoadGen {
  /** Starts every slot's loop; `at()` is the time base of the calls (ms). */
  start(at: TimeBase): void
  /** Stops the loops (each finishes its request in flight); every call per model, in mix order. */
  stop(): Promise<Call[][]>
  /** Unregisters regions, removes files, closes connections; safe to call twice and after a failed open. */
  close(): Promise<void>
  /** Processes of its own that do the clients' work (the cuda-shm client), for the host-CPU reading. */
  readonly pids: number[]
}

/**
 * A LoadGen from slots per model run by this process's event loop, each model as its send plan says (closed loop
 * when there is none). An open-loop model's slots take its scheduled times in order: a free slot takes the next one
 * and waits for it; a time that passed while every slot was busy is sent at once. Times not taken by the stop are
 * not sent (the caller counts them from the schedule).
 */
export function slotLoadGen(slots: Slot[][], release: () => Promise<void>, plans?: SendPlan[]): LoadGen {
  const calls: Call[][] = slots.map(() => [])
  let stopping = false
  // waits that the stop cuts short; a timer may fire up to a millisecond early (libuv's loop time is cached), so the
  // rest is waited out on the next turns of the loop: a request never goes out before its time
  const waiting = new Map<NodeJS.Timeout, () => void>()
  const until = async (at: () => number, ms: number) => {
    if (ms - at() > 0)
      await new Promise<void>((r) => {
        const t = setTimeout(() => {
          waiting.delete(t)
          r()
        }, ms - at())
        waiting.set(t, r)
      })
    while (!stopping && ms - at() > 0) await new Promise((r) => setImmediate(r))
  }
  const wake = () => {
    for (const [t, r] of waiting) {
      clearTimeout(t)
      r()
    }
    waiting.clear()
  }
  let loops: Promise<void>[] = []
  let closed = false
  const closedLoop = (i: number, slot: Slot, at: () => number, periods?: number[]) => async () => {
    let p = 0 // the period in force or next
    while (!stopping) {
      if (periods) {
        while (p < periods.length && at() >= (periods[p + 1] as number)) p += 2
        if (p >= periods.length) return
        await until(at, periods[p] as number)
        if (stopping) return
      }
      const startMs = at()
      const a = await slot.infer()
      calls[i]?.push({ ...a, startMs, endMs: at() })
    }
  }
  const openLoop = (i: number, ss: Slot[], at: () => number, atMs: number[]) => {
    let next = 0
    return ss.map(async (slot) => {
      while (!stopping && next < atMs.length) {
        const scheduledMs = atMs[next++] as number
        await until(at, scheduledMs)
        if (stopping) return
        const startMs = at()
        const a = await slot.infer()
        calls[i]?.push({ ...a, startMs, endMs: at(), scheduledMs })
      }
    })
  }
  return {
    pids: [],
    start(at) {
      loops = slots.flatMap((ss, i) => {
        const plan = plans?.[i]
        if (plan?.kind === 'open') return openLoop(i, ss, at, plan.atMs)
        return ss.map((slot) => closedLoop(i, slot, at, plan?.periodsMs)())
      })
    },
    async stop() {
      stopping = true
      wake()
      await Promise.all(loops)
      return calls
    },
    async close() {
      stopping = true
      wake()
      await Promise.all(loops)
      if (closed) return
      closed = true
      await release()
    },
  }
}

/** An answer that is no answer (no connection, a refused registration), as InferAnswer says it. */
export const noAnswer = (status: number, error: string): InferAnswer => ({
  status,
  ok: false,
  simulated: false,
  queueUs: null,
  computeUs: null,
  error,
})
