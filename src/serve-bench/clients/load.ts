// How serve-bench's closed-loop clients reach the server (`--transport`): the same KServe v2 / Triton protocol over
// HTTP with binary tensors, gRPC with raw_input_contents, HTTP naming system shared-memory regions, or HTTP naming
// CUDA shared-memory regions (a Python client process: device buffers need CUDA). Each transport opens its slots
// (one per closed-loop client: its connection, its region) before the loops start, and gives them back at the end
// and on failure. A slot's call is timed on the clients' time base, as the request log wants it.
import type { ModelIO } from '../../serve/io-specs.ts'
import { binaryInferBody, type InferAnswer } from '../../serve/kserve/client.ts'
import { type Datatype, ELEMENT_BYTES } from '../../serve/kserve/datatypes.ts'

export const TRANSPORTS = ['http', 'grpc', 'shm', 'cuda-shm'] as const
export type Transport = (typeof TRANSPORTS)[number]

/** What each transport says it is, for the report and results.json. */
export const TRANSPORT_LABEL: Record<Transport, string> = {
  http: 'KServe v2 HTTP, binary tensors in the request',
  grpc: 'KServe v2 gRPC, raw_input_contents in the request',
  shm: 'KServe v2 HTTP naming system shared-memory regions (one /dev/shm file per client)',
  'cuda-shm':
    'KServe v2 HTTP naming CUDA shared-memory regions (one device buffer per client, a Python client process)',
}

/** One answered request; times in ms from the clients' start (the warm-up's), as in the request log. */
export interface Call extends InferAnswer {
  startMs: number
  endMs: number
}

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

/** A closed-loop client: one request in flight at a time. */
export interface Slot {
  infer(): Promise<InferAnswer>
}

/** The clients of one run: started once, stopped once, closed always (close gives back what open took). */
export interface LoadGen {
  /** Starts every slot's loop; `at()` is the time base of the calls (ms). */
  start(at: () => number): void
  /** Stops the loops (each finishes its request in flight); every call per model, in mix order. */
  stop(): Promise<Call[][]>
  /** Unregisters regions, removes files, closes connections; safe to call twice and after a failed open. */
  close(): Promise<void>
  /** Processes of its own that do the clients' work (the cuda-shm client), for the host-CPU reading. */
  readonly pids: number[]
}

/** A LoadGen from slots per model run by this process's event loop. */
export function slotLoadGen(slots: Slot[][], release: () => Promise<void>): LoadGen {
  const calls: Call[][] = slots.map(() => [])
  let stopping = false
  let loops: Promise<void>[] = []
  let closed = false
  return {
    pids: [],
    start(at) {
      loops = slots.flatMap((ss, i) =>
        ss.map(async (slot) => {
          while (!stopping) {
            const startMs = at()
            const a = await slot.infer()
            calls[i]?.push({ ...a, startMs, endMs: at() })
          }
        }),
      )
    },
    async stop() {
      stopping = true
      await Promise.all(loops)
      return calls
    },
    async close() {
      stopping = true
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
