import { GpuBackend, type GpuBackendOptions } from './backend.ts'

export { GpuBackend } from './backend.ts'
export {
  BackendCrash,
  BackendProcess,
  type BackendProcessOptions,
  BackendReplyError,
} from './client.ts'

export function createGpuBackend(opts: GpuBackendOptions = {}): Promise<GpuBackend> {
  return GpuBackend.start({ log: (l) => process.stderr.write(`${l}\n`), ...opts })
}
