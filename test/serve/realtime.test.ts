// Priorities and SLOs in the serve config (issue #20): a real-time model's `priority`, `sloMs` and expected `rate`,
// eclip-rt's `realtime` options, honoured by the plan `eclip serve` makes (the real-time model's streams high, or its
// own partition) and shown in its `…/config`; bad input refused as a mix file's is — naming the model, and at plan
// time by how much — before anything starts.
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import YAML from 'yaml'
import { readFile } from '../../src/formats/index.ts'
import type { ServeConfig } from '../../src/formats/serve-config.ts'
import { PROFILES_HOME } from '../../src/paths.ts'
import { defaultPlanner, startServe } from '../../src/serve/index.ts'
import { resolveServeSetup } from '../../src/serve/policies.ts'
import { get } from './helpers.ts'

const H100 = join(PROFILES_HOME, 'h100')
const tmp = () => mkdtempSync(join(tmpdir(), 'eclip-serve-rt-'))

/** A serve config file: DISB A's two models on the shipped H100 profiles, with `extra` and per-model overrides. */
function config(
  extra: Record<string, unknown> = {},
  rt: Record<string, unknown> = {},
  be: Record<string, unknown> = {},
) {
  const file = join(tmp(), 'serve.yaml')
  writeFileSync(
    file,
    YAML.stringify({
      backend: 'sim',
      policy: 'eclip-rt',
      profiles: H100,
      models: [
        { model: 'vgg19', priority: 'realtime', sloMs: 10, rate: 100, ...rt },
        { model: 'resnet152', priority: 'best-effort', ...be },
      ],
      ...extra,
    }),
  )
  return file
}

const setupOf = (file: string) =>
  resolveServeSetup(readFile<ServeConfig>('serve-config', file), {
    configFile: file,
    planner: defaultPlanner,
  })

describe('eclip serve with priorities (eclip-rt)', () => {
  it('the real-time model runs at high priority on the whole GPU, and its config says so', async () => {
    const file = config()
    const setup = await setupOf(file)
    assert.equal(setup.plan?.policy, 'eclip-rt')
    assert.deepEqual(
      setup.plan?.workers.map((w) => [w.name, w.priority, w.sloMs, w.streamPriority]),
      [
        ['vgg19', 'realtime', 10, 'high'],
        ['resnet152', 'best-effort', undefined, undefined],
      ],
    )
    // the default mechanism: both on the whole GPU, the best-effort one waiting at gates while the real-time one runs
    assert.deepEqual(
      setup.plan?.pool.partitions.map((p) => p.sms),
      [132],
    )
    assert.deepEqual(
      setup.plan?.workers.map((w) => w.gate?.role),
      ['raise', 'wait'],
    )
    const run = await startServe({ config: file, port: 0, grpcPort: null })
    try {
      const c = (await get(run.server, '/v2/models/vgg19/config')).json() as Record<string, unknown>
      assert.deepEqual([c.priority, c.slo_ms, c.stream_priority], ['realtime', 10, 'high'])
      const b = (await get(run.server, '/v2/models/resnet152/config')).json() as Record<string, unknown>
      assert.equal(b.priority, 'best-effort')
    } finally {
      await run.server.close()
    }
  })

  it('says at start-up when a best-effort model falls under its floor with the real-time requests in', async () => {
    const fine = await setupOf(config({}, {}, { minShare: 0.5 }))
    assert.ok(!fine.notes.some((n) => n.startsWith('WARNING:')), fine.notes.join('\n'))
    const short = await setupOf(config({}, {}, { minShare: 0.999 }))
    assert.ok(
      short.notes.some((n) =>
        /^WARNING: 1 best-effort floor\(s\) NOT met with the real-time requests in .*: resnet152 \(resnet152\) at 0\.\d{3}× its baseline throughput, floor 1\.00×/.test(
          n,
        ),
      ),
      short.notes.join('\n'),
    )
  })

  it('the config’s realtime options: a reserve, partitions of their own, a gate spacing', async () => {
    const reserved = await setupOf(config({ realtime: { reserveSms: 16 } }))
    const sms = (s: typeof reserved, i: number) =>
      s.plan?.pool.partitions.find((p) => p.id === s.plan?.workers[i]?.groups[0]?.partition)?.sms
    assert.deepEqual([sms(reserved, 0), sms(reserved, 1)], [132, 116])
    const own = await setupOf(config({ realtime: { mechanism: 'partition', factor: 1.5 } }))
    const params = own.plan?.params as Record<string, unknown>
    assert.deepEqual([params.rtMechanism, params.rtFactor], ['partition', 1.5])
    assert.ok((sms(own, 0) as number) < 132 && (sms(own, 0) as number) + (sms(own, 1) as number) === 132)
    assert.equal(own.plan?.workers[0]?.streamPriority, undefined)
    // the gate mechanism with its spacing: the real-time model raises, the best-effort one waits at op starts
    const gated = await setupOf(config({ realtime: { mechanism: 'gate', gateUs: 25 } }))
    const gp = gated.plan?.params as Record<string, unknown>
    assert.deepEqual([gp.rtMechanism, gp.rtGateUs], ['gate', 25])
    assert.deepEqual([sms(gated, 0), sms(gated, 1)], [132, 132])
    assert.deepEqual(gated.plan?.workers[0]?.gate, { role: 'raise' })
    const at = gated.plan?.workers[1]?.gate?.atKernels ?? []
    assert.equal(gated.plan?.workers[1]?.gate?.role, 'wait')
    assert.ok(at[0] === 0 && at.length > 10, `resnet152's gates: ${at.length}`)
  })

  it('a p95 cap (maxP95): kept by the best-effort models’ plan, refused where the config makes none', async () => {
    const file = config({ maxP95: 1.05 })
    const c = YAML.parse(readFileSync(file, 'utf8'))
    c.models.push({ model: 'shufflenet', priority: 'best-effort' })
    writeFileSync(file, YAML.stringify(c))
    const planned = await setupOf(file)
    assert.match(planned.plan?.solver.notes ?? '', /every p95 ≤ 1\.05× baseline's/)
    // recorded in the plan's params, as eclip-fit's own plans record it
    assert.equal(((planned.plan?.params ?? {}) as Record<string, unknown>).maxP95, 1.05)
    // one best-effort model: no plan among best-effort models to keep it in
    await assert.rejects(
      setupOf(config({ maxP95: 1.05 })),
      /\/maxP95: eclip-rt keeps it in its best-effort models' plan alone.*1 real-time and 1 best-effort model\(s\)$/,
    )
    // two, but the priority mechanism: the best-effort models are not planned among themselves
    const reserved = config({ maxP95: 1.05, realtime: { reserveSms: 16 } })
    const r = YAML.parse(readFileSync(reserved, 'utf8'))
    r.models.push({ model: 'shufflenet', priority: 'best-effort' })
    writeFileSync(reserved, YAML.stringify(r))
    await assert.rejects(setupOf(reserved), /best-effort model\(s\) and no such mechanism/)
  })

  it('two best-effort models: planned among themselves under their gates, by the config’s objective; or kept whole', async () => {
    const three = (extra: Record<string, unknown>) => {
      const file = config(extra)
      const c = YAML.parse(readFileSync(file, 'utf8'))
      c.models.push({ model: 'shufflenet', priority: 'best-effort' })
      writeFileSync(file, YAML.stringify(c))
      return file
    }
    const planned = await setupOf(three({ objective: 'requests' }))
    const p = (planned.plan?.params ?? {}) as Record<string, unknown>
    assert.deepEqual([p.rtBestEffort, p.objective], ['eclip-fit', 'requests'])
    assert.deepEqual(
      planned.plan?.workers.map((w) => w.gate?.role),
      ['raise', 'wait', 'wait'],
    )
    assert.match(
      planned.plan?.solver.notes ?? '',
      /best-effort workers planned by eclip-fit among themselves \(total requests\/s/,
    )
    const whole = await setupOf(three({ realtime: { bestEffort: 'whole' } }))
    assert.equal(((whole.plan?.params ?? {}) as Record<string, unknown>).rtBestEffort, undefined)
    assert.deepEqual(
      whole.plan?.pool.partitions.map((x) => x.sms),
      [132],
    )
  })

  it('the config’s ungatedSms: best-effort models on partitions that small keep no gates', async () => {
    const file = config({ realtime: { ungatedSms: 132 } })
    const c = YAML.parse(readFileSync(file, 'utf8'))
    c.models.push({ model: 'shufflenet', priority: 'best-effort' })
    writeFileSync(file, YAML.stringify(c))
    const setup = await setupOf(file)
    // every partition has at most 132 SMs: no best-effort model waits
    assert.deepEqual(
      setup.plan?.workers.map((w) => w.gate?.role),
      ['raise', undefined, undefined],
    )
    assert.equal(((setup.plan?.params ?? {}) as Record<string, unknown>).rtUngatedSms, 132)
    await assert.rejects(
      setupOf(config({ realtime: { mechanism: 'priority', ungatedSms: 32 } })),
      /the rt ungated SMs \(32\) are eclip-rt's gate mechanism's \(this plan's is priority\)/,
    )
  })

  it('other plan policies take the priorities as facts: checked, recorded, nothing high', async () => {
    const setup = await setupOf(config({ policy: 'baseline' }))
    assert.equal(setup.plan?.workers[0]?.priority, 'realtime')
    assert.equal(setup.plan?.workers[0]?.streamPriority, undefined)
  })
})

describe('bad priorities in a serve config are refused, naming the model', () => {
  const refused = async (file: string, re: RegExp) =>
    assert.rejects(startServe({ config: file, port: 0, grpcPort: null }), (e: Error) => {
      assert.match(e.message, re)
      return true
    })

  it('when the config is read: the fields, as a mix file’s', async () => {
    // a field set to undefined is left out of the YAML
    await refused(
      config({}, { sloMs: undefined }),
      /\/models\/0: missing field\(s\) "sloMs": a real-time model needs its latency SLO \(model vgg19\)/,
    )
    await refused(config({}, { sloMs: 0 }), /\/models\/0\/sloMs: .*0.* \(model vgg19\)/)
    await refused(config({}, { sloMs: -5 }), /\/models\/0\/sloMs: .* \(model vgg19\)/)
    await refused(
      config({}, { priority: 'urgent' }),
      /\/models\/0\/priority: must be one of "realtime", "best-effort" \(model vgg19\)/,
    )
    await refused(
      config({}, {}, { sloMs: 5 }),
      /\/models\/1\/sloMs: only the paris-elsa policy uses it \(this config has policy eclip-rt\), or a real-time model \(priority: realtime\): best-effort work takes what is left \(model resnet152\)/,
    )
    await refused(
      config({}, {}, { rate: 50 }),
      /\/models\/1\/rate: only the paris-elsa policy uses it .*\(model resnet152\)/,
    )
    await refused(
      config({ policy: 'baseline', objective: 'requests' }),
      /\/objective: only eclip-fit and eclip-rt \(its best-effort models' plan\) search by an objective \(this config has policy baseline\)/,
    )
    await refused(
      config({ policy: 'baseline', realtime: { reserveSms: 8 } }),
      /\/realtime: only the eclip-rt policy uses it \(this config has policy baseline\)/,
    )
    await refused(
      config({ realtime: { mechanism: 'mps' } }),
      /\/realtime\/mechanism: must be one of "priority", "partition"/,
    )
    await refused(
      config({ policy: 'eclip-live' }),
      /\/models\/0\/priority: eclip-live's plans per set of active models take no priorities; serve real-time models under eclip-rt \(model vgg19\)/,
    )
  })

  it('when the plan is made: an SLO not met alone, demand above the GPU, a bad reserve — by how much', async () => {
    await refused(
      config({}, { sloMs: 0.5 }),
      /vgg19 \(vgg19\): its SLO of 0\.5 ms cannot be met even alone on the whole GPU: \d\.\d{3} ms predicted from its profile \(\d\.\d{3} ms a request \+ \d\.\d{3} ms queueing at 100 req\/s\), \d\.\d{3} ms \(\d+%\) over/,
    )
    await refused(
      config({}, { rate: 5000, sloMs: 1000 }),
      /real-time demand is \d\.\d\d GPUs .*, \d+% more than the GPU: vgg19 \(vgg19\) 5000 req\/s × \d\.\d{3} ms = \d\.\d\d/,
    )
    // without a rate a real-time model counts as always busy: two of them are two GPUs
    const two = join(tmp(), 'serve.yaml')
    writeFileSync(
      two,
      YAML.stringify({
        policy: 'eclip-rt',
        profiles: H100,
        models: [
          { model: 'vgg19', priority: 'realtime', sloMs: 10 },
          { model: 'resnet152', priority: 'realtime', sloMs: 10 },
        ],
      }),
    )
    await refused(
      two,
      /real-time demand is 2\.00 GPUs .*vgg19 \(vgg19\) closed loop, busy 100% of the time = 1\.00/,
    )
    await refused(
      config({ realtime: { reserveSms: 12 } }),
      /eclip-rt: reserved SMs must be a whole number of the GPU's 8-SM slices \(0, 8, 16, …\), got 12/,
    )
    await refused(
      config({ realtime: { mechanism: 'priority', factor: 1.2 } }),
      /the rt factor \(1\.2\) sizes eclip-rt's partitions: it is the partition mechanism's \(this plan's is priority\)/,
    )
  })

  it('nothing starts half way: a GPU config refused at plan time never starts its backend', async () => {
    // a backend that cannot start would fail with its own message: the plan's refusal comes first
    await assert.rejects(
      startServe({
        config: config({ backend: 'gpu' }, { sloMs: 0.5 }),
        port: 0,
        grpcPort: null,
        gpu: { python: join(tmp(), 'no-such-python') },
      }),
      /vgg19 \(vgg19\): its SLO of 0\.5 ms cannot be met even alone on the whole GPU/,
    )
  })
})
