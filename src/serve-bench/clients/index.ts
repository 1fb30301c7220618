// Opens the clients of one serve-bench run over the transport asked for (load.ts says what each is).
import type { Datatype } from '../../serve/kserve/datatypes.ts'
import { type CudaShmSender, openCudaShmClients } from './cuda-shm.ts'
import { openGrpcClients } from './grpc.ts'
import { openHttpClients } from './http.ts'
import type { ClientModel, LoadGen, SlotCounts, Transport } from './load.ts'
import { openShmClients } from './shm.ts'

export { CUDA_SHM_SENDERS, type CudaShmSender, cudaShmUnavailable } from './cuda-shm.ts'
export * from './load.ts'

export function openClients(
  spec: SlotCounts & {
    transport: Transport
    /** The server's HTTP base URL. */
    url: string
    /** host:port of its gRPC listener (the grpc transports). */
    grpcAddress?: string
    models: ClientModel[]
    seed: number
    inputDatatype?: Datatype
    /** Who sends cuda-shm's requests (default python). */
    cudaShmSender?: CudaShmSender
  },
): Promise<LoadGen> {
  switch (spec.transport) {
    case 'http':
      return Promise.resolve(openHttpClients(spec))
    case 'shm':
      return openShmClients(spec)
    case 'cuda-shm':
      return openCudaShmClients(spec)
    case 'grpc':
    case 'grpc-stream':
      if (!spec.grpcAddress) throw new Error(`--transport ${spec.transport}: the server has no gRPC listener`)
      return openGrpcClients({ ...spec, address: spec.grpcAddress, stream: spec.transport === 'grpc-stream' })
  }
}
