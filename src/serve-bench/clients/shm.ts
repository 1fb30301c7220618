// serve-bench's `--transport shm`: Triton's system shared-memory extension as a client uses it. Each slot (a
// closed-loop client, or one request an open loop may have outstanding) makes one /dev/shm file holding its
// request's inputs and room for the outputs, registers it once as a region
// (POST /v2/systemsharedmemory/region/{name}/register), then sends small JSON infer requests whose inputs and
// requested outputs name the region, and reads the outputs from the file after each answer. The regions are
// unregistered and the files removed at the end, on failure, and (the files) when the process exits.
import { closeSync, ftruncateSync, openSync, readSync, unlinkSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { mulberry32 } from '../../random.ts'
import { type InferAnswer, KserveClient } from '../../serve/kserve/client.ts'
import type { Datatype } from '../../serve/kserve/datatypes.ts'
import {
  type ClientModel,
  type LoadGen,
  noAnswer,
  type OutputSpec,
  requestTensors,
  type Slot,
  type SlotCounts,
  slotCount,
  slotLoadGen,
} from './load.ts'

/** Where tensors start in a region: aligned, as a backend may want them (CUDA regions need the element size). */
export const REGION_ALIGN = 64
const align = (n: number) => Math.ceil(n / REGION_ALIGN) * REGION_ALIGN

/** Shared-memory parameters of a tensor, as the protocol names them. */
export const shmParams = (region: string, offset: number, bytes: number) => ({
  shared_memory_region: region,
  shared_memory_byte_size: bytes,
  shared_memory_offset: offset,
})

/**
 * One client's request naming its region: inputs first, then each output, each at an aligned offset. Returns the
 * JSON body, the region's size and where each output lands.
 */
export function shmInferRequest(
  region: string,
  inputs: { name: string; datatype: Datatype; shape: number[]; data: { length: number } }[],
  outputs: OutputSpec[],
): { body: Buffer; byteSize: number; inputAt: number[]; outputAt: number[] } {
  let at = 0
  const inputAt = inputs.map((t) => {
    const o = at
    at = align(at + t.data.length)
    return o
  })
  const outputAt = outputs.map((t) => {
    const o = at
    at = align(at + t.bytes)
    return o
  })
  const body = Buffer.from(
    JSON.stringify({
      inputs: inputs.map((t, k) => ({
        name: t.name,
        datatype: t.datatype,
        shape: t.shape,
        parameters: shmParams(region, inputAt[k] as number, t.data.length),
      })),
      outputs: outputs.map((t, k) => ({
        name: t.name,
        parameters: shmParams(region, outputAt[k] as number, t.bytes),
      })),
    }),
  )
  return { body, byteSize: Math.max(at, REGION_ALIGN), inputAt, outputAt }
}

/**
 * Checks a JSON infer answer whose outputs went to shared memory: a 200 names every output asked for with the expected
 * datatype and shape, and in the region and at the offset asked for where it names one — unless the server says it
 * simulated.
 */
export function checkShmAnswer(
  status: number,
  body: Buffer,
  region: string,
  outputs: OutputSpec[],
  outputAt: number[],
): InferAnswer {
  let head: {
    error?: unknown
    outputs?: { name?: string; datatype?: string; shape?: number[]; parameters?: Record<string, unknown> }[]
    parameters?: { simulated?: unknown; queue_us?: unknown; compute_us?: unknown }
  }
  try {
    head = JSON.parse(body.toString('utf8'))
  } catch {
    return noAnswer(status, `HTTP ${status}: ${body.subarray(0, 200).toString('utf8')}`)
  }
  if (status !== 200) return noAnswer(status, `HTTP ${status}: ${String(head.error ?? 'no reason given')}`)
  const p = head.parameters ?? {}
  const simulated = p.simulated === true
  if (!simulated)
    for (const [k, o] of outputs.entries()) {
      const got = head.outputs?.find((x) => x.name === o.name)
      if (!got) return noAnswer(status, `output "${o.name}" missing`)
      if (got.datatype !== o.datatype || JSON.stringify(got.shape) !== JSON.stringify(o.shape))
        return noAnswer(
          status,
          `output "${o.name}" is ${got.datatype} [${got.shape}], expected ${o.datatype} [${o.shape}]`,
        )
      const gp = got.parameters ?? {}
      // eclip serve names the region it wrote; Triton names none (the output is where the request asked): only an
      // answer that names another place is wrong
      if (
        gp.shared_memory_region !== undefined &&
        (gp.shared_memory_region !== region ||
          gp.shared_memory_byte_size !== o.bytes ||
          (gp.shared_memory_offset ?? 0) !== outputAt[k])
      )
        return noAnswer(
          status,
          `output "${o.name}": answered in region ${String(gp.shared_memory_region)} at ${String(gp.shared_memory_offset ?? 0)} (${String(gp.shared_memory_byte_size)} bytes), asked for ${region} at ${outputAt[k]} (${o.bytes} bytes)`,
        )
    }
  const num = (v: unknown) => (typeof v === 'number' ? v : null)
  return { status, ok: true, simulated, queueUs: num(p.queue_us), computeUs: num(p.compute_us), error: null }
}

/**
 * A slot whose every request is `req.body`, naming `region`: each answer checked against it (checkShmAnswer), then
 * `read` takes a good answer's outputs from the region (absent: they stay where the server wrote them).
 */
export function regionSlot(
  client: KserveClient,
  model: string,
  region: string,
  req: { body: Buffer; outputAt: number[] },
  outputs: OutputSpec[],
  read?: () => void,
): Slot {
  const path = `/v2/models/${encodeURIComponent(model)}/infer`
  return {
    async infer() {
      const r = await client.post(path, req.body)
      if (r.status === 0) return noAnswer(0, r.error)
      const a = checkShmAnswer(r.status, r.body, region, outputs, req.outputAt)
      if (a.ok) read?.()
      return a
    },
  }
}

export interface ShmClientSpec extends SlotCounts {
  url: string
  models: ClientModel[]
  seed: number
  inputDatatype?: Datatype
  /** Where shm_open's objects live (default /dev/shm). */
  shmDir?: string
}

/** Opens every client's region (file, inputs written, registered); gives back whatever it took if one fails. */
export async function openShmClients(spec: ShmClientSpec): Promise<LoadGen> {
  const dir = spec.shmDir ?? '/dev/shm'
  const client = new KserveClient(spec.url)
  const files: { path: string; fd: number }[] = []
  const registered: string[] = []
  // a process that exits without close() (killed by its parent's end) still removes its files
  const onExit = () => {
    for (const f of files)
      try {
        unlinkSync(f.path)
      } catch {}
  }
  process.on('exit', onExit)
  const release = async () => {
    for (const name of registered.splice(0))
      await client.post(
        `/v2/systemsharedmemory/region/${encodeURIComponent(name)}/unregister`,
        Buffer.alloc(0),
      )
    for (const f of files.splice(0)) {
      closeSync(f.fd)
      try {
        unlinkSync(f.path)
      } catch {}
    }
    process.off('exit', onExit)
    client.close()
  }
  try {
    const slots: Slot[][] = []
    for (const [i, m] of spec.models.entries()) {
      if (slotCount(spec, i) === 0) {
        slots.push([]) // another client process drives it
        continue
      }
      const { inputs, outputs } = requestTensors(
        m.io,
        m.batch,
        mulberry32(spec.seed * 1009 + i),
        spec.inputDatatype,
      )
      const mine: Slot[] = []
      for (let j = 0; j < slotCount(spec, i); j++) {
        const name = `eclip-sb-${process.pid}-${i}-${j}`
        const req = shmInferRequest(name, inputs, outputs)
        const path = join(dir, name)
        const fd = openSync(path, 'wx+', 0o600)
        files.push({ path, fd })
        ftruncateSync(fd, req.byteSize)
        for (const [k, t] of inputs.entries())
          writeSync(fd, t.data, 0, t.data.length, req.inputAt[k] as number)
        const r = await client.post(
          `/v2/systemsharedmemory/region/${encodeURIComponent(name)}/register`,
          Buffer.from(JSON.stringify({ key: `/${name}`, offset: 0, byte_size: req.byteSize })),
        )
        if (r.status !== 200)
          throw new Error(
            `registering system shared-memory region ${name}: ${r.status === 0 ? r.error : `HTTP ${r.status} ${r.body.toString('utf8').slice(0, 300)}`}`,
          )
        registered.push(name)
        const outBufs = outputs.map((o) => Buffer.alloc(o.bytes))
        // the outputs, where a client reads them (the simulator writes none: the bytes are read all the same)
        const read = () => {
          for (const [k, b] of outBufs.entries()) readSync(fd, b, 0, b.length, req.outputAt[k] as number)
        }
        mine.push(regionSlot(client, m.name, name, req, outputs, read))
      }
      slots.push(mine)
    }
    return slotLoadGen(slots, release, spec.plans)
  } catch (err) {
    await release()
    throw err
  }
}
