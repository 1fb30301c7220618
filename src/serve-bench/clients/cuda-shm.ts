// serve-bench's `--transport cuda-shm`: Triton's CUDA shared-memory extension, driven by Python client processes
// (gpu/eclip_gpu/loadgen_cuda_shm.py: device buffers and their IPC handles need CUDA, which Node has no binding
// for). This side hands it the requests' inputs, tells it when the loops start and stop, and takes its calls back
// on the clients' time base: both processes read CLOCK_MONOTONIC (Node's hrtime, Python's monotonic_ns). With
// `--cuda-shm-sender node` the Python processes only hold the regions and this process's Node clients send.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { createInterface } from 'node:readline'
import { GPU_PACKAGE_DIR } from '../../paths.ts'
import { mulberry32 } from '../../random.ts'
import { KserveClient } from '../../serve/kserve/client.ts'
import type { Datatype } from '../../serve/kserve/datatypes.ts'
import {
  type Call,
  type ClientModel,
  type LoadGen,
  requestTensors,
  type Slot,
  type SlotCounts,
  slotCount,
  slotLoadGen,
} from './load.ts'
import { regionSlot, shmInferRequest } from './shm.ts'

const MODULE = 'eclip_gpu.loadgen_cuda_shm'

const python = () => process.env.ECLIP_PYTHON ?? 'python3'
const pythonEnv = () => ({
  ...process.env,
  PYTHONPATH: [GPU_PACKAGE_DIR, process.env.PYTHONPATH].filter(Boolean).join(':'),
  PYTHONUNBUFFERED: '1',
})

/** Whether the cuda-shm client can run here: null, or why not (no CUDA device, no cuda-bindings, no Python). */
export function cudaShmUnavailable(): string | null {
  const r = spawnSync(python(), ['-m', MODULE, '--check'], {
    encoding: 'utf8',
    env: pythonEnv(),
    timeout: 60_000,
  })
  if (r.error) return `cannot run ${python()}: ${r.error.message}`
  if (r.status === 0) return null
  return (r.stdout.trim() || r.stderr.trim().split('\n').pop() || `exit ${r.status}`).slice(0, 300)
}

/** Where one slot's region holds its tensors, as the Python process laid it out. */
interface HeldRegion {
  region: string
  inputAt: number[]
  outputAt: number[]
  byteSize: number
}

type FromPython =
  | { type: 'ready'; regions?: HeldRegion[][] }
  | { type: 'error'; message: string }
  | {
      type: 'calls'
      calls: [
        number,
        number,
        number,
        boolean,
        boolean,
        number | null,
        number | null,
        string | null,
        (number | null)?,
      ][][]
    }

export interface CudaShmSpec extends SlotCounts {
  url: string
  models: ClientModel[]
  seed: number
  inputDatatype?: Datatype
  deviceId?: number
  /**
   * Who sends the requests: the Python client processes (default; each client copies its outputs back to the host
   * after every answer, as a Python application reading them would), or this process's Node clients, the Python side
   * only holding the regions (outputs left on the device, as perf_analyzer's CUDA shared-memory runs leave them).
   */
  cudaShmSender?: CudaShmSender
}

export const CUDA_SHM_SENDERS = ['python', 'node'] as const
export type CudaShmSender = (typeof CUDA_SHM_SENDERS)[number]

/** Most closed-loop clients one Python client process runs: its threads share one GIL. */
export const CUDA_SHM_CLIENTS_PER_PROCESS = 4

/**
 * The Python client processes of the models this process drives (its share: none for a model another client
 * process drives): a Python process's threads share one GIL, which one process driving many clients would make the
 * load generator's bound, not the server's. So a model's closed-loop clients split over processes of at most
 * CUDA_SHM_CLIENTS_PER_PROCESS each; an open-loop model's schedule stays in one. Per model, the calls of its processes
 * are merged in the order the requests ended.
 */
export async function openCudaShmClients(spec: CudaShmSpec): Promise<LoadGen> {
  if (spec.cudaShmSender === 'node') return openNodeSentClients(spec)
  const parts = cudaShmParts(spec)
  const opened = await Promise.allSettled(parts.map((p, k) => openProcess(spec, p.model, p.slots, k)))
  const ok = opened.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []))
  const failed = opened.find((o) => o.status === 'rejected')
  if (failed) {
    await Promise.all(ok.map((g) => g.close()))
    throw failed.reason
  }
  return {
    pids: ok.flatMap((g) => g.pids),
    start(at) {
      for (const g of ok) g.start(at)
    },
    async stop(): Promise<Call[][]> {
      const calls: Call[][] = spec.models.map(() => [])
      const got = await Promise.all(ok.map((g) => g.stop()))
      for (const [k, p] of parts.entries()) calls[p.model]?.push(...(got[k]?.[0] ?? []))
      for (const cs of calls) cs.sort((a, b) => a.endMs - b.endMs)
      return calls
    },
    async close() {
      await Promise.all(ok.map((g) => g.close()))
    },
  }
}

/** The Python processes to start: per model this process drives, its slots split as openCudaShmClients says. */
export function cudaShmParts(spec: CudaShmSpec): { model: number; slots: number }[] {
  return spec.models.flatMap((_, i) => {
    const n = slotCount(spec, i)
    if (n === 0) return []
    const count = spec.plans?.[i]?.kind === 'open' ? 1 : Math.ceil(n / CUDA_SHM_CLIENTS_PER_PROCESS)
    return Array.from({ length: count }, (_, k) => ({
      model: i,
      slots: Math.floor(n / count) + (k < n % count ? 1 : 0),
    }))
  })
}

/** A client process of model `index` of the spec with `slots` clients (its own regions, tagged apart from the other
 * processes' by `part`). */
async function openProcess(
  spec: CudaShmSpec,
  index: number,
  slots: number,
  part: number,
): Promise<LoadGen & { regions: HeldRegion[] }> {
  const child: ChildProcess = spawn(python(), ['-m', MODULE], {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: pythonEnv(),
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  let failure: string | null = null
  const waiting: ((m: FromPython | null) => void)[] = []
  const queue: (FromPython | null)[] = []
  const push = (m: FromPython | null) => {
    const w = waiting.shift()
    if (w) w(m)
    else queue.push(m)
  }
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    try {
      push(JSON.parse(line) as FromPython)
    } catch {
      process.stderr.write(`cuda-shm client: ${line}\n`)
    }
  })
  child.once('error', (err) => {
    failure = `cannot start ${python()} -m ${MODULE}: ${err.message}`
    push(null)
  })
  child.once('exit', (code, signal) => {
    failure ??= `the cuda-shm client process exited (${signal ? `signal ${signal}` : `code ${code}`})`
    push(null)
  })
  const next = async (): Promise<FromPython> => {
    const m = queue.length > 0 ? queue.shift() : await new Promise<FromPython | null>((r) => waiting.push(r))
    if (!m) throw new Error(failure ?? 'the cuda-shm client process ended')
    if (m.type === 'error') throw new Error(`cuda-shm client: ${m.message}`)
    return m
  }
  const send = (o: object) => child.stdin?.write(`${JSON.stringify(o)}\n`)
  const close = async () => {
    // end of input: the client stops, unregisters its regions and frees its buffers
    child.stdin?.end()
    const killer = setTimeout(() => child.kill('SIGKILL'), 10_000)
    await exited
    clearTimeout(killer)
  }
  let regions: HeldRegion[]
  try {
    send({
      url: spec.url,
      deviceId: spec.deviceId ?? 0,
      concurrency: slots,
      tag: `${process.pid}-${part}`,
      ...(spec.cudaShmSender === 'node' ? { sender: 'node' } : {}),
      models: [spec.models[index] as ClientModel].map((m) => {
        const { inputs, outputs } = requestTensors(
          m.io,
          m.batch,
          mulberry32(spec.seed * 1009 + index),
          spec.inputDatatype,
        )
        const plan = spec.plans?.[index]
        return {
          name: m.name,
          // when its requests go out (load.ts's SendPlan); absent: closed loop
          ...(plan ? { plan } : {}),
          inputs: inputs.map((t) => ({
            name: t.name,
            datatype: t.datatype,
            shape: t.shape,
            b64: t.data.toString('base64'),
          })),
          outputs,
        }
      }),
    })
    const ready = await next()
    if (ready.type !== 'ready') throw new Error(`cuda-shm client: expected ready, got ${ready.type}`)
    regions = ready.regions?.[0] ?? []
  } catch (err) {
    await close()
    throw err
  }
  return {
    regions,
    pids: child.pid ? [child.pid] : [],
    start(at) {
      // the calls' time 0 on CLOCK_MONOTONIC, which the Python side reads too
      send({ type: 'go', t0Ns: at.t0Ns.toString() })
    },
    async stop(): Promise<Call[][]> {
      send({ type: 'stop' })
      const m = await next()
      if (m.type !== 'calls') throw new Error(`cuda-shm client: expected calls, got ${m.type}`)
      return m.calls.map((cs) =>
        cs.map(([startMs, endMs, status, ok, simulated, queueUs, computeUs, error, scheduledMs]) => ({
          startMs,
          endMs,
          status,
          ok,
          simulated,
          queueUs,
          computeUs,
          error,
          ...(typeof scheduledMs === 'number' ? { scheduledMs } : {}),
        })),
      )
    },
    close,
  }
}

/**
 * `cudaShmSender: 'node'`: one Python process per model only holds its clients' regions (registered, inputs written);
 * this process's Node clients send the requests naming them, as the shm transport's do, and leave the outputs on the
 * device. The bodies are laid out as shm.ts lays a region out; the Python side's layout is checked against it.
 */
async function openNodeSentClients(spec: CudaShmSpec): Promise<LoadGen> {
  const client = new KserveClient(spec.url)
  const held: LoadGen[] = []
  const release = async () => {
    await Promise.all(held.splice(0).map((g) => g.close()))
    client.close()
  }
  try {
    const slots: Slot[][] = []
    for (const [i, m] of spec.models.entries()) {
      const n = slotCount(spec, i)
      if (n === 0) {
        slots.push([]) // another client process drives it
        continue
      }
      const p = await openProcess(spec, i, n, i)
      held.push(p)
      const { inputs, outputs } = requestTensors(
        m.io,
        m.batch,
        mulberry32(spec.seed * 1009 + i),
        spec.inputDatatype,
      )
      slots.push(
        p.regions.map((r) => {
          const req = shmInferRequest(r.region, inputs, outputs)
          const same = (a: number[], b: number[]) => a.length === b.length && a.every((x, k) => x === b[k])
          if (req.byteSize !== r.byteSize || !same(req.inputAt, r.inputAt) || !same(req.outputAt, r.outputAt))
            throw new Error(
              `cuda-shm client: region ${r.region} laid out as [${r.inputAt}] / [${r.outputAt}] (${r.byteSize} bytes), the requests expect [${req.inputAt}] / [${req.outputAt}] (${req.byteSize})`,
            )
          return regionSlot(client, m.name, r.region, req, outputs)
        }),
      )
    }
    const gen = slotLoadGen(slots, release, spec.plans)
    const pids = held.flatMap((g) => g.pids)
    return { start: gen.start, stop: gen.stop, close: gen.close, pids }
  } catch (err) {
    await release()
    throw err
  }
}
