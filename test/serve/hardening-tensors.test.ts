// JSON tensors a hostile client may send: data nested thousands of levels deep (a stack overflow answered 500 when
// flattened recursively), float values past the datatype's range (silently infinity), an output asked for twice.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { elementError } from '../../src/serve/kserve/datatypes.ts'
import type { EclipServer } from '../../src/serve/server.ts'
import { post, testServer, visionBody } from './helpers.ts'

const RESNET = '/v2/models/resnet152/infer'

describe('JSON tensors: depth, float range, duplicate outputs', () => {
  let s: EclipServer
  before(async () => {
    s = await testServer([{ name: 'resnet152', model: 'resnet152', computeUs: 100 }])
  })
  after(() => s.close())

  it('a data array nested 6,000 levels deep is a 400 naming the depth, not a 500', async () => {
    const deep = `${'['.repeat(6000)}1${']'.repeat(6000)}`
    const body = `{"inputs":[{"name":"input","datatype":"FP16","shape":[1,3,224,224],"data":${deep}}]}`
    const r = await s.app.inject({
      method: 'POST',
      url: RESNET,
      payload: body,
      headers: { 'content-type': 'application/json' },
    })
    assert.equal(r.statusCode, 400, r.body)
    assert.match(JSON.parse(r.body).error, /"data" is nested deeper than 4 levels, the tensor's rank/)
  })

  it('data nested as deep as the shape, or flat, is accepted', async () => {
    const nested = Array.from({ length: 1 }, () =>
      Array.from({ length: 3 }, () => Array.from({ length: 224 }, () => new Array(224).fill(0.5))),
    )
    const r = await post(s, RESNET, {
      inputs: [{ name: 'input', datatype: 'FP16', shape: [1, 3, 224, 224], data: nested }],
    })
    assert.equal(r.statusCode, 200, r.body)
    assert.equal((await post(s, RESNET, visionBody(1))).statusCode, 200)
  })

  it('an FP16 value past 65504 (1e10) is a 400, not a silent infinity', async () => {
    const b = visionBody(1) as { inputs: { data: number[] }[] }
    ;(b.inputs[0] as { data: number[] }).data[7] = 1e10
    const r = await post(s, RESNET, b)
    assert.equal(r.statusCode, 400, r.body)
    assert.match(
      JSON.parse(r.body).error,
      /data\[7\]: 10000000000 is out of range for FP16 \(largest finite ±65504\)/,
    )
  })

  it('a JSON number too large for any float (1e400 parses as Infinity) is a 400', async () => {
    const body = JSON.stringify(visionBody(1)).replace('[0.5,', '[1e400,')
    const r = await s.app.inject({
      method: 'POST',
      url: RESNET,
      payload: body,
      headers: { 'content-type': 'application/json' },
    })
    assert.equal(r.statusCode, 400, r.body)
    assert.match(JSON.parse(r.body).error, /data\[0\]: Infinity is not a finite number/)
  })

  it('each float type refuses exactly the values that would round to infinity', () => {
    assert.equal(elementError('FP16', 65504), undefined)
    assert.equal(elementError('FP16', 65519), undefined) // rounds down to 65504
    assert.match(elementError('FP16', 65520) ?? '', /out of range for FP16/)
    assert.match(elementError('FP16', -1e5) ?? '', /out of range for FP16/)
    assert.equal(elementError('FP32', 3.4e38), undefined)
    assert.match(elementError('FP32', 3.5e38) ?? '', /out of range for FP32/)
    assert.equal(elementError('BF16', 3.3e38), undefined)
    assert.match(elementError('BF16', 3.4e38) ?? '', /out of range for BF16/)
    assert.equal(elementError('FP64', 1e308), undefined)
    assert.match(elementError('FP64', Number.POSITIVE_INFINITY) ?? '', /not a finite number/)
  })

  it('an output requested twice is a 400', async () => {
    const b = { ...visionBody(1), outputs: [{ name: 'logits' }, { name: 'logits' }] }
    const r = await post(s, RESNET, b)
    assert.equal(r.statusCode, 400, r.body)
    assert.match(JSON.parse(r.body).error, /outputs\[1\]: output "logits" is requested twice/)
  })
})
