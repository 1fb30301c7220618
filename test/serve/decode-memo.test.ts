// The memo of decoded request bodies: a body comes back as a request object of its own, only while each region it
// names is the same registration, and only bodies whose inputs all lie in shared memory are kept.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { NO_DATA } from '../../src/serve/backend.ts'
import { DecodeMemo } from '../../src/serve/kserve/decode-memo.ts'
import type { DecodedRequest } from '../../src/serve/kserve/tensors.ts'
import { ShmRegion } from '../../src/serve/shm/region.ts'

const region = (name: string) => new ShmRegion('system', name, 1 << 20, null, null, () => {})
const lookup = (rs: ShmRegion[]) => ({ region: (name: string) => rs.find((r) => r.name === name) })
const request = (r: ShmRegion): DecodedRequest => ({
  batch: 1,
  inputs: [
    {
      name: 'input',
      datatype: 'FP16',
      shape: [1, 4],
      data: NO_DATA,
      shm: { region: r, offset: 0, bytes: 8 },
    },
  ],
  outputs: [{ name: 'logits', binary: false, shm: { region: r, offset: 8, bytes: 4 } }],
  binaryOutputs: false,
  parameters: {},
})

describe('serve: decoded-body memo', () => {
  it('gives a body back as a request of its own while its regions are the same registrations', () => {
    const memo = new DecodeMemo<object>()
    const model = {}
    const io = region('io')
    const body = Buffer.from('{"inputs":[]}')
    memo.set(model, body, request(io))
    const a = memo.get(model, Buffer.from(body), lookup([io]))
    const b = memo.get(model, body, lookup([io]))
    assert.ok(a && b)
    assert.deepEqual(a, request(io))
    assert.notEqual(a, b)
    assert.notEqual(a.inputs, b.inputs)
    assert.notEqual(a.inputs[0], b.inputs[0])
    assert.equal(memo.get({}, body, lookup([io])), undefined, 'another model')
    assert.equal(memo.get(model, Buffer.from('{"inputs":[ ]}'), lookup([io])), undefined, 'another body')
    // registered again under the same name: another region object, the body is decoded afresh (and forgotten)
    assert.equal(memo.get(model, body, lookup([region('io')])), undefined)
    assert.equal(memo.get(model, body, lookup([io])), undefined)
  })

  it('keeps no body with an input outside shared memory, nor a large one', () => {
    const memo = new DecodeMemo<object>()
    const model = {}
    const io = region('io')
    const inBody = request(io)
    inBody.inputs = [{ name: 'input', datatype: 'FP16', shape: [1, 4], data: Buffer.alloc(8) }]
    const body = Buffer.from('{"x":1}')
    memo.set(model, body, inBody)
    assert.equal(memo.get(model, body, lookup([io])), undefined)
    const large = Buffer.alloc(8192, 32)
    memo.set(model, large, request(io))
    assert.equal(memo.get(model, large, lookup([io])), undefined)
  })
})
