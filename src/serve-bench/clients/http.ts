// serve-bench's `--transport http`: infer requests with binary tensors both ways over keep-alive connections (one
// per slot: node:http's agent opens one socket per request in flight).
import { mulberry32 } from '../../random.ts'
import { binaryInferBody, KserveClient } from '../../serve/kserve/client.ts'
import type { Datatype } from '../../serve/kserve/datatypes.ts'
import { type ClientModel, type LoadGen, type SlotCounts, slotCount, slotLoadGen } from './load.ts'

export function openHttpClients(
  spec: SlotCounts & {
    url: string
    models: ClientModel[]
    seed: number
    inputDatatype?: Datatype
  },
): LoadGen {
  const client = new KserveClient(spec.url)
  const slots = spec.models.map((m, i) => {
    if (slotCount(spec, i) === 0) return [] // another client process drives it
    const body = binaryInferBody(m.io, m.batch, mulberry32(spec.seed * 1009 + i), spec.inputDatatype)
    return Array.from({ length: slotCount(spec, i) }, () => ({ infer: () => client.infer(m.name, body) }))
  })
  return slotLoadGen(slots, async () => client.close(), spec.plans)
}
