// Arrival sources, priorities and SLOs in mix files, and the workload file format: what is accepted, and every bad
// input refused with the field's path, the reason and the model it belongs to.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  expandWorkers,
  FormatError,
  type MixFile,
  parseFormat,
  type WorkloadFile,
} from '../../src/formats/index.ts'

const mix = (worker: Record<string, unknown>, other: Record<string, unknown> = { model: 'resnet152' }) => ({
  mixes: [{ name: 'm', workers: [other, worker] }],
})

/** The one-line problems of a refused mix file. */
function problems(value: unknown, format = 'mix'): string[] {
  try {
    parseFormat(format, value, 'f.yaml')
  } catch (e) {
    assert.ok(e instanceof FormatError, String(e))
    return e.problems.map((p) => `${p.path}: ${p.reason}`)
  }
  assert.fail('accepted')
}

describe('arrival sources in a mix file', () => {
  it('accepts every kind of source, priorities and SLOs, and carries them into the workers', () => {
    const f = parseFormat<MixFile>(
      'mix',
      {
        mixes: [
          {
            name: 'all-kinds',
            workers: [
              { model: 'vgg19', priority: 'realtime', sloMs: 5, arrival: { kind: 'uniform', rate: 100 } },
              { model: 'resnet152', priority: 'best-effort', arrival: { kind: 'closed' } },
              { model: 'densenet201', arrival: { kind: 'poisson', rate: 20 } },
              {
                model: 'alexnet',
                arrival: {
                  kind: 'onoff',
                  on: { dist: 'exponential', meanS: 2 },
                  off: { dist: 'fixed', meanS: 1 },
                  whileOn: { kind: 'uniform', rate: 50, offsetS: 0.001 },
                  start: 'on',
                },
              },
              { model: 'albert', arrival: { kind: 'trace', file: 't.txt', unit: 'ms', repeatS: 10 } },
            ],
          },
        ],
      },
      'f.yaml',
    )
    const ws = expandWorkers(f.mixes[0] as MixFile['mixes'][number])
    assert.deepEqual(
      ws.map((w) => [w.name, w.priority, w.sloMs, w.arrival?.kind]),
      [
        ['vgg19#0', 'realtime', 5, 'uniform'],
        ['resnet152#0', 'best-effort', undefined, 'closed'],
        ['densenet201#0', undefined, undefined, 'poisson'],
        ['alexnet#0', undefined, undefined, 'onoff'],
        ['albert#0', undefined, undefined, 'trace'],
      ],
    )
    // a worker without the fields is the paper's: nothing added
    assert.deepEqual(expandWorkers({ name: 'p', workers: [{ model: 'vgg19' }] })[0], {
      name: 'vgg19#0',
      model: 'vgg19',
      batch: 1,
      dtype: 'fp16',
    })
  })

  it('an unknown kind is named with the known ones, not as every branch of a union', () => {
    const p = problems(mix({ model: 'vgg19', arrival: { kind: 'poison', rate: 1 } }))
    assert.deepEqual(p, [
      '/mixes/0/workers/1/arrival/kind: unknown arrival kind "poison" (known: closed, poisson, uniform, onoff, trace) (mix m, model vgg19)',
    ])
  })

  it('a bad field of a source is named in that source’s words', () => {
    assert.deepEqual(problems(mix({ model: 'vgg19', arrival: { kind: 'poisson', rate: 0 } })), [
      '/mixes/0/workers/1/arrival/rate: must be > 0 (mix m, model vgg19)',
    ])
    assert.deepEqual(problems(mix({ model: 'vgg19', arrival: { kind: 'uniform' } })), [
      '/mixes/0/workers/1/arrival: missing field(s) "rate" (mix m, model vgg19)',
    ])
    assert.deepEqual(problems(mix({ model: 'vgg19', arrival: { kind: 'closed', rate: 3 } })), [
      '/mixes/0/workers/1/arrival: unknown field(s) "rate" (mix m, model vgg19)',
    ])
    assert.deepEqual(problems(mix({ model: 'vgg19', arrival: { rate: 3 } })), [
      '/mixes/0/workers/1/arrival: missing field(s) "kind" (closed, poisson, uniform, onoff, trace) (mix m, model vgg19)',
    ])
    assert.deepEqual(problems(mix({ model: 'vgg19', arrival: 'poisson' })), [
      '/mixes/0/workers/1/arrival: must be an object with a "kind" (closed, poisson, uniform, onoff, trace) (mix m, model vgg19)',
    ])
    assert.deepEqual(problems(mix({ model: 'vgg19', arrival: { kind: 'trace', file: 'x', unit: 'min' } })), [
      '/mixes/0/workers/1/arrival/unit: must be one of "s", "ms", "us" (mix m, model vgg19)',
    ])
    assert.deepEqual(problems(mix({ model: 'vgg19', arrival: { kind: 'uniform', rate: 5, offsetS: -1 } })), [
      '/mixes/0/workers/1/arrival/offsetS: must be >= 0 (mix m, model vgg19)',
    ])
  })

  it('on/off: each period and the source while on are checked where they are', () => {
    const p = problems(
      mix({
        model: 'alexnet',
        arrival: {
          kind: 'onoff',
          on: { dist: 'exp', meanS: 1 },
          off: { dist: 'fixed', meanS: 0 },
          whileOn: { kind: 'poisson' },
          start: 'maybe',
        },
      }),
    )
    assert.deepEqual(p.sort(), [
      '/mixes/0/workers/1/arrival/off/meanS: must be > 0 (mix m, model alexnet)',
      '/mixes/0/workers/1/arrival/on/dist: must be one of "exponential", "fixed" (mix m, model alexnet)',
      '/mixes/0/workers/1/arrival/start: must be one of "on", "off", "random" (mix m, model alexnet)',
      '/mixes/0/workers/1/arrival/whileOn: missing field(s) "rate" (mix m, model alexnet)',
    ])
    assert.deepEqual(
      problems(
        mix({
          model: 'alexnet',
          arrival: {
            kind: 'onoff',
            on: { dist: 'fixed', meanS: 1 },
            off: { dist: 'fixed', meanS: 1 },
            whileOn: { kind: 'trace', file: 'x' },
          },
        }),
      ),
      ['/mixes/0/workers/1/arrival/whileOn/kind: must be closed, poisson or uniform (mix m, model alexnet)'],
    )
    assert.deepEqual(
      problems(mix({ model: 'alexnet', arrival: { kind: 'onoff', on: { dist: 'fixed', meanS: 1 } } })),
      ['/mixes/0/workers/1/arrival: missing field(s) "off" (mix m, model alexnet)'],
    )
  })
})

describe('priorities and SLOs in a mix file', () => {
  it('an unknown priority is refused with the known ones', () => {
    assert.deepEqual(problems(mix({ model: 'vgg19', priority: 'rt', sloMs: 3 })), [
      '/mixes/0/workers/1/priority: must be one of "realtime", "best-effort" (mix m, model vgg19)',
    ])
  })

  it('an SLO of 0 or below is refused, naming the model', () => {
    for (const sloMs of [0, -2])
      assert.deepEqual(problems(mix({ model: 'vgg19', priority: 'realtime', sloMs })), [
        '/mixes/0/workers/1/sloMs: must be > 0 (mix m, model vgg19)',
      ])
  })

  it('a real-time worker needs an SLO; a best-effort one may not have one', () => {
    assert.deepEqual(problems(mix({ model: 'vgg19', priority: 'realtime' })), [
      '/mixes/0/workers/1: missing field(s) "sloMs": a real-time worker needs its latency SLO (mix m, model vgg19)',
    ])
    for (const w of [
      { model: 'vgg19', sloMs: 3 },
      { model: 'vgg19', priority: 'best-effort', sloMs: 3 },
    ])
      assert.deepEqual(problems(mix(w)), [
        '/mixes/0/workers/1/sloMs: only a real-time worker (priority: realtime) has an SLO; best-effort work takes what is left (mix m, model vgg19)',
      ])
  })
})

describe('workload files', () => {
  const workload = (over: Record<string, unknown> = {}) => ({
    format: 'eclip.workloads/1',
    workloads: [
      {
        name: 'A',
        durationS: 60,
        workers: [
          { model: 'vgg19', priority: 'realtime', sloMs: 10, arrival: { kind: 'uniform', rate: 100 } },
          { model: 'resnet152' },
        ],
        ...over,
      },
    ],
  })

  it('reads a workload: a mix with a run length', () => {
    const f = parseFormat<WorkloadFile>('workload', workload({ warmupS: 1 }), 'w.yaml')
    assert.equal(f.workloads[0]?.durationS, 60)
    assert.equal(f.workloads[0]?.workers.length, 2)
  })

  it('refuses a workload without its duration, with a bad worker, or two of one name', () => {
    const noDuration = workload()
    delete (noDuration.workloads[0] as Record<string, unknown>).durationS
    assert.deepEqual(problems(noDuration, 'workload'), [
      '/workloads/0: missing field(s) "durationS" (workload A)',
    ])
    assert.deepEqual(
      problems(
        workload({ workers: [{ model: 'vgg19', arrival: { kind: 'uniform', rate: -1 } }] }),
        'workload',
      ),
      ['/workloads/0/workers/0/arrival/rate: must be > 0 (workload A, model vgg19)'],
    )
    const twice = workload()
    twice.workloads.push({ ...(twice.workloads[0] as (typeof twice.workloads)[number]) })
    assert.deepEqual(problems(twice, 'workload'), [
      '/workloads/1/name: "A" is also workload 0\'s name (workload A)',
    ])
    assert.deepEqual(problems({ ...workload(), format: 'eclip.mixes/1' }, 'workload'), [
      '/format: must be "eclip.workloads/1"',
    ])
  })
})
