// A backend for the gRPC tests that runs no model but returns outputs a client can check (the simulator returns
// none): each output starts with the first input's bytes, or goes to the client's region when the request says so.
import {
  BackendEvents,
  type ExecRequest,
  type ExecResult,
  NO_DATA,
  type RawTensor,
  type ServedModel,
} from '../../src/serve/backend.ts'

/**
 * Runs no model: each output of the model is as many bytes as its shape needs, starting with the first input's
 * bytes (so a client can check its bytes came back), or goes to the client's region when the request says so.
 */
export class EchoBackend extends BackendEvents {
  readonly kind = 'sim' as const
  private models = new Map<string, ServedModel>()
  constructor(private readonly computeMs = 1) {
    super()
  }
  async load(models: ServedModel[]) {
    for (const m of models) this.models.set(m.name, m)
    this.ready = true
  }
  async infer(req: ExecRequest): Promise<ExecResult> {
    await new Promise((r) => setTimeout(r, this.computeMs))
    const m = this.models.get(req.model) as ServedModel
    const first = req.inputs[0]?.data ?? NO_DATA
    const outputs: RawTensor[] = m.io.outputs.map((o) => {
      const shape = [req.items, ...o.shape.slice(1)]
      const shm = req.shmOutputs?.find((s) => s.name === o.name)?.shm
      if (shm) return { name: o.name, datatype: o.datatype, shape, data: NO_DATA, shm }
      const data = Buffer.alloc(shape.reduce((a, b) => a * b, 1) * 2)
      first.copy(data, 0, 0, Math.min(first.length, data.length))
      return { name: o.name, datatype: o.datatype, shape, data }
    })
    return { outputs, simulated: false, computeUs: this.computeMs * 1000 }
  }
  async restart() {}
  power() {
    return undefined
  }
  async close() {
    this.ready = false
  }
}
