// The serve building blocks on their own: tensor byte conversions, batching splits, compute times from profiles and
// plans, the partition map, the simulator's power model.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { Plan } from '../../src/formats/plan.ts'
import { syntheticH100Gpu, syntheticProfile } from '../../src/profile/synthetic.ts'
import { concatInputs, type RawTensor, splitOutputs } from '../../src/serve/backend.ts'
import { fixedComputeTimes, profileRequestUs, workerComputeTime } from '../../src/serve/compute-time.ts'
import { partitionMap } from '../../src/serve/dashboard.ts'
import { zooIO } from '../../src/serve/io-specs.ts'
import { decodeElements, encodeElements, fromHalf, toHalf } from '../../src/serve/kserve/datatypes.ts'
import { bodyOf } from '../../src/serve/kserve/routes.ts'
import { decodeInferRequest } from '../../src/serve/kserve/tensors.ts'
import { SimServeBackend } from '../../src/serve/sim-backend.ts'
import { baselinePlan, servedModels } from './helpers.ts'

describe('serve units: tensors', () => {
  it('converts FP16 like IEEE half (round to nearest even, subnormals, overflow)', () => {
    assert.equal(toHalf(1), 0x3c00)
    assert.equal(toHalf(-2), 0xc000)
    assert.equal(toHalf(65504), 0x7bff)
    assert.equal(toHalf(1e6), 0x7c00)
    assert.equal(toHalf(2 ** -24), 0x0001)
    assert.equal(toHalf(1 + 2 ** -11), 0x3c00) // tie → even
    assert.equal(toHalf(1 + 3 * 2 ** -11), 0x3c02)
    for (const v of [0, 0.5, -0.25, 3.140625, 1024, 2 ** -20]) assert.equal(fromHalf(toHalf(v)), v)
  })

  it('round-trips every datatype through raw bytes', () => {
    const cases: [Parameters<typeof encodeElements>[0], (number | boolean)[]][] = [
      ['BOOL', [true, false]],
      ['INT8', [-128, 127]],
      ['UINT16', [0, 65535]],
      ['INT32', [-5, 2147483647]],
      ['INT64', [-(2 ** 53) + 1, 29999]],
      ['UINT64', [0, 2 ** 40]],
      ['FP16', [0.5, -8]],
      ['BF16', [1.5, -256]],
      ['FP32', [0.25, -1e10]],
      ['FP64', [Math.PI, -0]],
    ]
    for (const [dt, values] of cases)
      assert.deepEqual(decodeElements(dt, encodeElements(dt, values)), values, dt)
  })

  it('decodes a JSON request into raw little-endian bytes of the sent datatype', () => {
    const io = zooIO('albert', 'fp16')
    assert.ok(io)
    const req = decodeInferRequest(
      { inputs: [{ name: 'input_ids', datatype: 'INT64', shape: [1, 128], data: new Array(128).fill(300) }] },
      io,
      1,
    )
    assert.equal(req.batch, 1)
    const t = req.inputs[0] as RawTensor
    assert.equal(t.data.length, 128 * 8)
    assert.equal(t.data.readBigInt64LE(127 * 8), 300n)
  })

  it('concatenates batched inputs and splits outputs back by batch sizes', () => {
    const t = (n: number, fill: number): RawTensor => ({
      name: 'x',
      datatype: 'FP32',
      shape: [n, 2],
      data: encodeElements('FP32', new Array(n * 2).fill(fill)),
    })
    const [joined] = concatInputs([[t(1, 1)], [t(2, 2)], [t(1, 3)]])
    assert.deepEqual(joined?.shape, [4, 2])
    const parts = splitOutputs([joined as RawTensor], [1, 2, 1])
    assert.deepEqual(
      parts.map((p) => p[0]?.shape),
      [
        [1, 2],
        [2, 2],
        [1, 2],
      ],
    )
    assert.deepEqual(decodeElements('FP32', ((parts[1] as RawTensor[])[0] as RawTensor).data), [2, 2, 2, 2])
    assert.deepEqual(decodeElements('FP32', ((parts[2] as RawTensor[])[0] as RawTensor).data), [3, 3])
  })

  it('gives one request its outputs as they came when they carry its batch, else its share', () => {
    const out: RawTensor = {
      name: 'y',
      datatype: 'FP32',
      shape: [2, 2],
      data: encodeElements('FP32', [1, 2, 3, 4]),
    }
    const [mine] = splitOutputs([out], [2])
    assert.equal(mine?.[0], out)
    // a backend that answered more rows than the request has: the request gets its own rows only
    const [first] = splitOutputs([out], [1])
    assert.deepEqual(first?.[0]?.shape, [1, 2])
    assert.deepEqual(decodeElements('FP32', ((first as RawTensor[])[0] as RawTensor).data), [1, 2])
  })
})

describe('serve units: response bodies', () => {
  it('a body of parts yields the very buffers, in order, then ends (no copy of a large output)', async () => {
    const parts = [Buffer.from('{"head":1}'), Buffer.alloc(200_000, 7), Buffer.alloc(3, 1)]
    // flowing, as the response's pipe reads it ('data' per chunk; a paused read() would join what is buffered)
    const got: Buffer[] = []
    await new Promise((resolve, reject) =>
      bodyOf(parts)
        .on('data', (c: Buffer) => got.push(c))
        .on('end', resolve)
        .on('error', reject),
    )
    assert.equal(got.length, parts.length)
    for (const [i, p] of parts.entries()) assert.equal(got[i], p)
  })
})

describe('serve units: compute times and the partition map', () => {
  const gpu = syntheticH100Gpu()
  const profile = syntheticProfile({ model: 'resnet152', batch: 4, dtype: 'fp16', gpu, kernels: 40 })

  it('reads request latency off the profile, linear between measured sizes', () => {
    const i = profile.sizes.indexOf(64)
    assert.equal(profileRequestUs(profile, 64), profile.requestUs[i])
    const mid = profileRequestUs(profile, 68)
    assert.equal(mid, ((profile.requestUs[i] as number) + (profile.requestUs[i + 1] as number)) / 2)
    assert.equal(profileRequestUs(profile, 1), profile.requestUs[0])
    assert.equal(profileRequestUs(profile, 500), profile.requestUs.at(-1))
  })

  it('takes the profile at the partition size for one-partition workers, the plan prediction otherwise', () => {
    const plan = baselinePlan(gpu, [{ name: 'r', model: 'resnet152', batch: 4, dtype: 'fp16' }], [profile])
    const w = plan.workers[0] as Plan['workers'][number]
    const full = workerComputeTime(plan, w, profile)
    assert.equal(full.us, profile.requestUs.at(-1))
    assert.match(full.source, /profile requestUs at 132 SMs \(synthetic\)/)
    // a kernel-wise worker: two groups on two partitions
    const kw: Plan = structuredClone(plan)
    kw.pool.partitions.push({ id: 1, slices: [0, 1], sms: 16 })
    const kww = kw.workers[0] as Plan['workers'][number]
    kww.groups = [
      { first: 0, last: 19, partition: 1 },
      { first: 20, last: 39, partition: 0 },
    ]
    kww.predictedUs = 1234
    kww.switches = 1
    assert.deepEqual(workerComputeTime(kw, kww, profile), {
      us: 1234,
      source: 'plan predictedUs (baseline, 1 switches)',
    })
    // and the map says which slices its kernels run on
    const map = partitionMap(kw, new Map([['r', 'resnet']]))
    assert.equal(map.workers[0]?.name, 'resnet')
    assert.equal(map.slices.length, 16)
    assert.deepEqual(map.workers[0]?.shares.slice(0, 3), [1, 1, 0.5])
    assert.deepEqual(map.workers[0]?.partitions, [
      { id: 1, sms: 16, kernels: 20 },
      { id: 0, sms: 132, kernels: 20 },
    ])
    assert.throws(() => fixedComputeTimes(new Map()).executionTime('x'), /no compute time for model "x"/)
  })
})

describe('serve units: simulator', () => {
  it('models power from the SMs of busy workers and integrates energy', async () => {
    const { models } = servedModels([{ name: 'a', model: 'alexnet' }])
    const m = models[0]
    assert.ok(m)
    // a worker holding half the GPU, busy back to back
    m.worker = { meanSms: 66 } as NonNullable<typeof m.worker>
    const sim = new SimServeBackend(fixedComputeTimes(new Map([['a', { us: 50_000, source: 't' }]])), {
      idleW: 100,
      maxW: 700,
    })
    await sim.load(models, { gpu: { smCount: 132 } } as Plan)
    const t0 = performance.now()
    while (performance.now() - t0 < 1100) {
      const r = await sim.infer({ model: 'a', items: 1, requests: 1, inputs: [] })
      assert.equal(r.simulated, true)
      assert.deepEqual(r.outputs, [])
    }
    const p = sim.power()
    assert.equal(p.source, 'simulated')
    // busy nearly all the time at half the SMs: 100 + 600 · 0.5 = 400 W
    assert.ok(p.watts > 360 && p.watts <= 400, `watts ${p.watts}`)
    assert.ok(p.energyJ > 0.36 * 1.1 * 1000 * 0.9 && p.energyJ < 0.4 * 1.2 * 1000, `energy ${p.energyJ}`)
    await sim.close()
    await assert.rejects(sim.infer({ model: 'a', items: 1, requests: 1, inputs: [] }), /not loaded/)
  })
})

describe('serve units: simulator throughput', () => {
  it('keeps the modelled rate for sub-millisecond executions despite coarse timers', async () => {
    const { models } = servedModels([{ name: 'a', model: 'alexnet' }])
    const sim = new SimServeBackend(fixedComputeTimes(new Map([['a', { us: 200, source: 't' }]])))
    await sim.load(models)
    const t0 = performance.now()
    let n = 0
    while (performance.now() - t0 < 500) {
      await sim.infer({ model: 'a', items: 1, requests: 1, inputs: [] })
      n++
    }
    const perS = n / ((performance.now() - t0) / 1000)
    // 200 µs each: 5000/s modelled; 1-ms timers alone would give ≤ 1000/s
    assert.ok(perS > 2000 && perS < 5300, `${perS.toFixed(0)} executions/s`)
    await sim.close()
  })
})
