// Profiles with GEMM-target times (docs/design.md §7): read so only when asked, the plan marks the workers it made
// from them, and a malformed section is refused.
import assert from 'node:assert/strict'
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { before, describe, it } from 'node:test'
import YAML from 'yaml'
import {
  type Plan,
  type Profile,
  parseFormat,
  readFile,
  type ServeConfig,
  type WorkerSpec,
} from '../../src/formats/index.ts'
import { makePlan } from '../../src/plan/index.ts'
import {
  convSmsOf,
  offSmsOf,
  profilesOfPlan,
  usesGemmTarget,
  withGemmTarget,
} from '../../src/profile/gemm-target.ts'
import { loadGpu, profilesIn } from '../../src/profile/store.ts'
import { defaultPlanner } from '../../src/serve/index.ts'
import { resolveServeSetup } from '../../src/serve/policies.ts'

const SHIPPED = join(import.meta.dirname, '..', '..', 'profiles', 'h100')
const FILE = 'albert.b8.fp16.json'

/**
 * albert's shipped profile with a GEMM-target section: every time below the whole GPU scaled by `f`, but at the sizes
 * in `offSms` (the target off there, their times the defaults).
 */
function targeted(p: Profile, f: number, offSms: number[] = []): Profile {
  const last = p.sizes.length - 1
  const scale = (v: number, s: number) => (s === last || offSms.includes(p.sizes[s] as number) ? v : v * f)
  const timesUs = p.kernels.map((k) => k.timesUs.map(scale))
  const requestUs = p.requestUs.map(scale)
  const kernelSumRatio = p.sizes.map(
    (_, s) => timesUs.reduce((a, t) => a + (t[s] as number), 0) / (requestUs[s] as number),
  )
  return { ...p, gemmTarget: { requestUs, kernelSumRatio, timesUs, ...(offSms.length ? { offSms } : {}) } }
}

/**
 * eclip serve's setup (model-wise, on the simulator) of `models` from the profiles in `profiles`, its config in
 * `file`.
 */
function serveSetup(file: string, profiles: string, models: object[], extra: Record<string, unknown>) {
  writeFileSync(file, YAML.stringify({ policy: 'model-wise', backend: 'sim', profiles, models, ...extra }))
  return resolveServeSetup(readFile<ServeConfig>('serve-config', file), {
    configFile: file,
    planner: defaultPlanner,
  })
}

describe('GEMM-target profiles', () => {
  let dir = ''
  let shipped: Profile
  before(() => {
    dir = join(mkdtempSync(join(tmpdir(), 'eclip-gemm-')), 'profiles')
    cpSync(SHIPPED, dir, { recursive: true })
    shipped = readFile<Profile>('profile', join(SHIPPED, FILE))
    writeFileSync(join(dir, FILE), JSON.stringify(targeted(shipped, 0.6)))
  })

  it('are read with their default times unless the target is asked for', () => {
    const gpu = loadGpu(dir)
    const w: WorkerSpec = { name: 'albert', model: 'albert', batch: 8, dtype: 'fp16' }
    const [plain] = profilesIn(dir, gpu)([w]) as [Profile]
    const [aimed] = profilesIn(dir, gpu, { gemmTarget: true })([w]) as [Profile]
    assert.deepEqual(plain.requestUs, shipped.requestUs)
    assert.equal(usesGemmTarget(plain), false)
    assert.equal(usesGemmTarget(aimed), true)
    assert.equal(aimed.requestUs[0], (shipped.requestUs[0] as number) * 0.6)
    assert.equal(aimed.requestUs.at(-1), shipped.requestUs.at(-1), 'the whole GPU is not targeted')
    assert.equal(aimed.kernels[3]?.timesUs[0], (shipped.kernels[3]?.timesUs[0] as number) * 0.6)
    assert.equal(aimed.fingerprint, plain.fingerprint, 'the kernel sequence a plan is checked against stays')
    assert.equal(withGemmTarget(aimed), aimed, 'applied once')
    // a recorded plan that left the target off at 8 SMs (its profile had it off there): the default times there
    const replayed = withGemmTarget(targeted(shipped, 0.6), [8])
    assert.equal(replayed.requestUs[0], shipped.requestUs[0])
    assert.equal(replayed.kernels[3]?.timesUs[0], shipped.kernels[3]?.timesUs[0])
    assert.equal(replayed.requestUs[1], (shipped.requestUs[1] as number) * 0.6)
    assert.deepEqual(offSmsOf(replayed), [8])
    const plan = {
      workers: [{ gemmTarget: true, gemmTargetOffSms: [8] }, { gemmTarget: true }],
    } as unknown as Plan
    const offAt8 = targeted(shipped, 0.6, [8])
    const [a, b] = profilesOfPlan(plan, [targeted(shipped, 0.6), offAt8])
    assert.equal(a?.requestUs[0], shipped.requestUs[0])
    assert.deepEqual(b?.requestUs, offAt8.gemmTarget?.requestUs, "the plan's list, not the profile's")
    assert.deepEqual(offSmsOf(b as Profile), [])
    const { gemmTarget: _, ...without } = shipped
    assert.equal(withGemmTarget(without), without, 'a profile without the section is used as it is')
  })

  it('a plan made from them marks the workers, and only those, and predicts them faster', async () => {
    const gpu = loadGpu(dir)
    const workers: WorkerSpec[] = [
      { name: 'albert', model: 'albert', batch: 8, dtype: 'fp16' },
      { name: 'vgg19', model: 'vgg19', batch: 8, dtype: 'fp16' },
    ]
    const plan = (gemmTarget: boolean) =>
      makePlan(gpu, 'mix3', workers, profilesIn(dir, gpu, { gemmTarget })(workers), {
        policy: 'model-wise',
      })
    const [plain, aimed] = [await plan(false), await plan(true)]
    assert.equal(aimed.workers[0]?.gemmTarget, true)
    assert.equal(aimed.workers[1]?.gemmTarget, undefined, 'vgg19 has no GEMM-target times')
    assert.equal(plain.workers[0]?.gemmTarget, undefined)
    parseFormat('plan', JSON.parse(JSON.stringify(aimed)), 'the plan')
    const sms = (p: typeof plain) =>
      p.pool.partitions.find((q) => q.id === p.workers[0]?.groups[0]?.partition)?.sms ?? 0
    const us = (p: typeof plain) => p.workers[0]?.soloUs as number
    // the same partition would take 0.6 of the time; model-wise may also size it otherwise
    assert.ok(us(aimed) < us(plain) || sms(aimed) < sms(plain), `${us(aimed)} vs ${us(plain)}`)
  })

  it('a section that does not match the profile is refused, naming it', () => {
    const bad = targeted(shipped, 0.6)
    bad.gemmTarget?.timesUs.pop()
    const f = join(dir, 'bad.json')
    writeFileSync(f, JSON.stringify(bad))
    assert.throws(() => readFile('profile', f), /gemmTarget\/timesUs: \d+ kernels, the profile has \d+/)
    const short = JSON.parse(readFileSync(join(dir, FILE), 'utf8')) as Profile
    short.gemmTarget?.requestUs.pop()
    writeFileSync(f, JSON.stringify(short))
    assert.throws(() => readFile('profile', f), /gemmTarget\/requestUs: \d+ values for 16 sizes/)
  })

  it('serve plans from GEMM-target times unless told not to, and refuses a plan file made the other way', async () => {
    const home = mkdtempSync(join(tmpdir(), 'eclip-gemm-serve-'))
    const models = [
      { model: 'albert', batch: 8 },
      { model: 'densenet201', batch: 8 },
    ]
    const serve = (extra: Record<string, unknown>) =>
      serveSetup(join(home, `serve-${Object.keys(extra).join('-')}.yaml`), dir, models, extra)
    const aimed = await serve({})
    assert.equal(aimed.plan?.workers[0]?.gemmTarget, true)
    const plain = await serve({ gemmTarget: false })
    assert.equal(plain.plan?.workers[0]?.gemmTarget, undefined)
    const planFile = join(home, 'plain.plan.json')
    writeFileSync(planFile, JSON.stringify(plain.plan as Plan))
    await assert.rejects(serve({ plan: planFile }), /made without GEMM targets/)
    writeFileSync(planFile, JSON.stringify(aimed.plan as Plan))
    await assert.rejects(serve({ gemmTarget: false, plan: planFile }), /remove "gemmTarget: false"/)
  })

  it('a section off at some sizes: the plan names them, a plan naming others is refused', async () => {
    const home = mkdtempSync(join(tmpdir(), 'eclip-gemm-off-'))
    const offDir = join(home, 'profiles')
    cpSync(SHIPPED, offDir, { recursive: true })
    writeFileSync(join(offDir, FILE), JSON.stringify(targeted(shipped, 0.6, [8, 24])))
    const gpu = loadGpu(offDir)
    const w: WorkerSpec = { name: 'albert', model: 'albert', batch: 8, dtype: 'fp16' }
    const [aimed] = profilesIn(offDir, gpu, { gemmTarget: true })([w]) as [Profile]
    assert.equal(aimed.requestUs[0], shipped.requestUs[0], 'the default time where the target is off')
    assert.equal(aimed.requestUs[1], (shipped.requestUs[1] as number) * 0.6)
    const plan = await makePlan(gpu, 'solo', [w], [aimed], { policy: 'model-wise' })
    assert.deepEqual(plan.workers[0]?.gemmTargetOffSms, [8, 24])
    parseFormat('plan', JSON.parse(JSON.stringify(plan)), 'the plan')
    const serve = (planFile?: string) =>
      serveSetup(
        join(home, 'serve.yaml'),
        offDir,
        [{ model: 'albert', batch: 8 }],
        planFile ? { plan: planFile } : {},
      )
    const served = await serve()
    assert.deepEqual(served.plan?.workers[0]?.gemmTargetOffSms, [8, 24])
    const planFile = join(home, 'other.plan.json')
    writeFileSync(
      planFile,
      JSON.stringify({ ...plan, workers: [{ ...plan.workers[0], gemmTargetOffSms: [8] }] }),
    )
    await assert.rejects(serve(planFile), /leaves the GEMM target off at \[8\] SMs, its profile at \[8,24\]/)
    const bad = targeted(shipped, 0.6, [8])
    ;(bad.gemmTarget as { offSms: number[] }).offSms = [9, 132]
    writeFileSync(join(home, 'bad.json'), JSON.stringify(bad))
    assert.throws(
      () => readFile('profile', join(home, 'bad.json')),
      /gemmTarget\/offSms\/0: 9 is not one of the profile's partition sizes below the whole GPU/,
    )
    ;(bad.gemmTarget as { offSms: number[] }).offSms = [8, 8]
    writeFileSync(join(home, 'bad.json'), JSON.stringify(bad))
    assert.throws(
      () => readFile('profile', join(home, 'bad.json')),
      /gemmTarget\/offSms\/1: sizes must be strictly ascending/,
    )
    const spread = { ...bad.gemmTarget, offSms: [8], spreadSms: [16, 132] }
    writeFileSync(join(home, 'bad.json'), JSON.stringify({ ...bad, gemmTarget: spread }))
    assert.throws(
      () => readFile('profile', join(home, 'bad.json')),
      /gemmTarget\/spreadSms\/1: 132 is not one of the profile's partition sizes below the whole GPU/,
    )
    spread.spreadSms = [8, 16]
    writeFileSync(join(home, 'bad.json'), JSON.stringify({ ...bad, gemmTarget: spread }))
    assert.throws(
      () => readFile('profile', join(home, 'bad.json')),
      /gemmTarget\/spreadSms\/0: 8 SMs is in offSms too/,
    )
    spread.spreadSms = [16]
    writeFileSync(join(home, 'bad.json'), JSON.stringify({ ...bad, gemmTarget: spread }))
    assert.equal(readFile<Profile>('profile', join(home, 'bad.json')).gemmTarget?.spreadSms?.[0], 16)
  })

  it('sizes on conv lanes: the plan names them, a plan naming others is refused, a bad list is refused', async () => {
    const home = mkdtempSync(join(tmpdir(), 'eclip-conv-'))
    const convDir = join(home, 'profiles')
    cpSync(SHIPPED, convDir, { recursive: true })
    const laned = targeted(shipped, 0.6, [8])
    ;(laned.gemmTarget as { convSms: number[] }).convSms = [16, 24]
    writeFileSync(join(convDir, FILE), JSON.stringify(laned))
    const gpu = loadGpu(convDir)
    const w: WorkerSpec = { name: 'albert', model: 'albert', batch: 8, dtype: 'fp16' }
    const [aimed] = profilesIn(convDir, gpu, { gemmTarget: true })([w]) as [Profile]
    assert.deepEqual(convSmsOf(aimed), [16, 24])
    const [plain] = profilesIn(convDir, gpu)([w]) as [Profile]
    assert.deepEqual(convSmsOf(plain), [], 'no lanes where the target is not read')
    // a recorded plan that left the target off at 16 SMs: no lane there either
    assert.deepEqual(convSmsOf(withGemmTarget(laned, [8, 16])), [24])
    const plan = await makePlan(gpu, 'solo', [w], [aimed], { policy: 'model-wise' })
    assert.deepEqual(plan.workers[0]?.convTargetSms, [16, 24])
    // a recorded plan that had no lanes at 24 SMs, replayed: the default times there, the lanes' at 16
    const recorded = { workers: [{ gemmTarget: true, convTargetSms: [16] }] } as unknown as Plan
    const [replayed] = profilesOfPlan(recorded, [laned]) as [Profile]
    assert.equal(replayed.requestUs[2], shipped.requestUs[2])
    assert.equal(replayed.requestUs[1], (shipped.requestUs[1] as number) * 0.6)
    assert.deepEqual(convSmsOf(replayed), [16])
    parseFormat('plan', JSON.parse(JSON.stringify(plan)), 'the plan')
    const { gemmTarget: _, ...untargeted } = plan.workers[0] as Plan['workers'][number]
    assert.throws(
      () => parseFormat('plan', { ...plan, workers: [untargeted] }, 'the plan'),
      /workers\/0\/convTargetSms: convolutions are picked per partition only with gemmTarget/,
    )
    const planFile = join(home, 'other.plan.json')
    writeFileSync(
      planFile,
      JSON.stringify({ ...plan, workers: [{ ...plan.workers[0], convTargetSms: [24] }] }),
    )
    await assert.rejects(
      serveSetup(join(home, 'serve.yaml'), convDir, [{ model: 'albert', batch: 8 }], { plan: planFile }),
      /has its convolutions picked per partition at \[24\] SMs, its profile at \[16,24\]/,
    )
    ;(laned.gemmTarget as { convSms: number[] }).convSms = [8, 16]
    writeFileSync(join(home, 'bad.json'), JSON.stringify(laned))
    assert.throws(
      () => readFile('profile', join(home, 'bad.json')),
      /gemmTarget\/convSms\/0: 8 SMs is in offSms too/,
    )
    ;(laned.gemmTarget as { convSms: number[] }).convSms = [24, 16]
    writeFileSync(join(home, 'bad.json'), JSON.stringify(laned))
    assert.throws(
      () => readFile('profile', join(home, 'bad.json')),
      /gemmTarget\/convSms\/1: sizes must be strictly ascending/,
    )
  })
})
