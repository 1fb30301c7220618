// Each profile's own memory interference γ (src/calibrate/profile-interference.ts) and co-residency κ: the simulator
// applies them to that profile's workers alone, the fit recovers the γ that made simulated "measurements", and
// `eclip calibrate --fit-profiles` writes it beside the constants it keeps.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { calibrate, gridAt } from '../../src/calibrate/calibrate.ts'
import { crossing, fitProfileInterference } from '../../src/calibrate/profile-interference.ts'
import { parseInterferenceLoad, runCalibrate } from '../../src/calibrate/run.ts'
import { calibrationFrom, profileKey } from '../../src/execute/sim/contention.ts'
import { type Calibration, defaultPowerModel } from '../../src/execute/sim/index.ts'
import { type Mix, type Run, readFile, type SimCalibration } from '../../src/formats/index.ts'
import { asGpu, gpuRef, h100DirWith, prepare, simulatedRuns } from './synthetic-runs.ts'

const power = defaultPowerModel(gpuRef)
const common: Calibration = {
  sharing: 'fair',
  saturationTolerance: 0.05,
  memoryInterference: 0.5,
  fitted: true,
  source: 'test',
}
const mixes: Mix[] = [
  { name: 'mix5', workers: [{ model: 'resnext101' }, { model: 'shufflenet' }] },
  { name: 'pair', workers: [{ model: 'resnext101' }, { model: 'alexnet' }] },
  { name: 'trio', workers: [{ model: 'shufflenet' }, { model: 'alexnet' }, { model: 'vgg19' }] },
]

const runs = (cal: Calibration, mix: Mix[] = mixes) =>
  simulatedRuns({
    cal,
    power,
    mixes: mix,
    policies: ['baseline', 'model-wise'],
    modes: ['graph'],
    solo: false,
  })

const rateOf = (rs: Run[], mix: string, policy: string, model: string) => {
  const w = rs.find((r) => r.mix === mix && r.policy === policy)?.workers.find((x) => x.model === model)
  assert.ok(w, `${mix} ${policy} ${model}`)
  return w.throughputRps
}

describe('per-profile memory interference', () => {
  it("slows that profile's workers only", async () => {
    const plain = await runs(common, [mixes[0] as Mix])
    const key = profileKey(plain[0]?.workers.find((w) => w.model === 'resnext101') as Run['workers'][number])
    const raised = await runs({ ...common, profileInterference: { [key]: 3 } }, [mixes[0] as Mix])
    const slower =
      rateOf(raised, 'mix5', 'baseline', 'resnext101') / rateOf(plain, 'mix5', 'baseline', 'resnext101')
    const other =
      rateOf(raised, 'mix5', 'baseline', 'shufflenet') / rateOf(plain, 'mix5', 'baseline', 'shufflenet')
    assert.ok(slower < 0.9, `resnext101 ×${slower}`)
    // shufflenet's own γ is unchanged: it is not slowed (its neighbour's longer kernels may even leave it more time)
    assert.ok(other >= 0.99, `shufflenet ×${other}`)
  })

  it('weights a neighbour by its aggressor weight (every weight 1: the same term; absent: 1)', async () => {
    const plain = await runs(common, [mixes[0] as Mix])
    const key = (model: string) =>
      profileKey(plain[0]?.workers.find((w) => w.model === model) as Run['workers'][number])
    const ones = await runs({ ...common, aggressorWeight: { [key('resnext101')]: 1 } }, [mixes[0] as Mix])
    assert.deepEqual(
      ones.map((r) => r.workers.map((w) => w.throughputRps)),
      plain.map((r) => r.workers.map((w) => w.throughputRps)),
    )
    // resnext101 as a weak aggressor: shufflenet beside it on the model-wise partitions is slowed less, resnext101 not
    const weak = await runs({ ...common, aggressorWeight: { [key('resnext101')]: 0.2 } }, [mixes[0] as Mix])
    const shuffle =
      rateOf(weak, 'mix5', 'model-wise', 'shufflenet') / rateOf(plain, 'mix5', 'model-wise', 'shufflenet')
    const resnext =
      rateOf(weak, 'mix5', 'model-wise', 'resnext101') / rateOf(plain, 'mix5', 'model-wise', 'resnext101')
    assert.ok(shuffle > 1.02, `shufflenet ×${shuffle}`)
    assert.ok(resnext <= 1.01, `resnext101 ×${resnext}`)
  })

  it('recovers the γ per profile that made the measurements', async () => {
    const made = await runs(common)
    const keys = [...new Set(made.flatMap((r) => r.workers.map(profileKey)))].sort()
    const truth: Record<string, number> = Object.fromEntries(
      keys.map((k, i) => [k, [1, 0.25, 0.5, 1.5][i % 4] as number]),
    )
    const cases = await prepare([
      { label: 'm', runs: asGpu(await runs({ ...common, profileInterference: truth })) },
    ])
    const fit = fitProfileInterference(cases, common, power, [0, 0.25, 0.5, 0.75, 1, 1.5, 2])
    assert.deepEqual(Object.keys(fit.gamma).sort(), keys)
    for (const p of fit.profiles) {
      // each γ moves its own workers first; the neighbours' γ at the same grid point leave a small second-order error
      assert.ok(
        Math.abs(p.gamma - (truth[p.profile] as number)) < 0.15,
        `${p.profile}: ${p.gamma} vs ${truth[p.profile]}`,
      )
      // the fit centres each profile's error (its mean, not each run's: the spread may stay)
      assert.ok(Math.abs(p.after.meanLog) < 0.03, `${p.profile}: mean ln error ${p.after.meanLog} after`)
      assert.equal(p.atEdge, false)
    }
  })

  it('the contention fit simulates the constants kept with their per-profile γ (--keep-contention)', async () => {
    const made = await runs(common)
    const keys = [...new Set(made.flatMap((r) => r.workers.map(profileKey)))]
    const truth = Object.fromEntries(keys.map((k, i) => [k, i % 2 === 0 ? 1.5 : 0.1]))
    const cases = await prepare([
      { label: 'm', runs: asGpu(await runs({ ...common, profileInterference: truth })) },
    ])
    const fitWith = (profileInterference?: Record<string, number>) =>
      calibrate({
        cases,
        grid: gridAt(common),
        scope: 'all',
        before: { ...common, profileInterference: truth },
        beforePower: power,
        ...(profileInterference ? { profileInterference } : {}),
      })
    // the constants that made the runs, with their γ per profile: reproduced exactly, before column and fit alike
    const kept = fitWith(truth)
    assert.ok(kept.objective !== null && kept.objective < 1e-12, `objective ${kept.objective}`)
    // without them the same grid point misses; the before column is the truth's all the same (no grid point reused)
    const common1 = fitWith()
    assert.ok(common1.objective !== null && common1.objective > 0.01, `objective ${common1.objective}`)
    const before = common1.rows.find((r) => r.set === 'm' && r.runs === 'all')?.before.objective
    assert.ok(before !== undefined && before !== null && before < 1e-12, `before ${before}`)
  })

  it('finds where the error crosses 0, or says it did not', () => {
    const pts = (xs: number[]) => xs.map((meanLog, i) => ({ gamma: i * 0.5, meanLog }))
    assert.deepEqual(crossing(pts([0.2, 0.1, -0.1])), { gamma: 0.75, atEdge: false })
    assert.deepEqual(crossing(pts([-0.1, -0.2])), { gamma: 0, atEdge: true })
    assert.deepEqual(crossing(pts([0.3, 0.2])), { gamma: 0.5, atEdge: true })
    assert.deepEqual(crossing(pts([0, -0.1])), { gamma: 0, atEdge: false })
    assert.deepEqual(crossing(pts([0.1, 0, 0.1])), { gamma: 0.5, atEdge: false })
  })

  it('eclip calibrate --fit-profiles writes the γ beside the constants it keeps, and nothing else', async () => {
    // the H100's profiles beside the recorded fit's calibration (each profile's γ from three series)
    const out = mkdtempSync(join(tmpdir(), 'eclip-cal-prof-'))
    const kept = readFile<SimCalibration>(
      'sim-calibration',
      'results/h100/profile-interference/sim-calibration.json',
    )
    const r = await runCalibrate({
      results: ['results/h100/coresident-plans/more-co/results.json'],
      profiles: h100DirWith(kept),
      out,
      fitOn: 'single-launch',
      fitProfiles: true,
    })
    assert.deepEqual(r.written, [join(out, 'sim-calibration.json')])
    const written = readFile<SimCalibration>('sim-calibration', join(out, 'sim-calibration.json'))
    const { profileInterference, ...rest } = written
    const { profileInterference: _old, ...keptRest } = kept
    assert.deepEqual(rest, keptRest)
    assert.ok(profileInterference)
    // the profiles of our mixes at batch 8, each with a γ fitted on these runs alone (not the file's)
    assert.ok(
      profileInterference.gamma['resnext101.b8.fp16'] !==
        kept.profileInterference?.gamma['resnext101.b8.fp16'],
      JSON.stringify(profileInterference.gamma),
    )
    assert.match(profileInterference.measured.notes ?? '', /coresident-plans\/more-co/)
    // the batch-1 profiles have no worker in these runs: they keep the file's γ, and the notes say so
    const b1 = Object.keys(kept.profileInterference?.gamma ?? {}).filter((k) => k.includes('.b1.'))
    assert.ok(b1.length > 0)
    for (const k of b1) assert.equal(profileInterference.gamma[k], kept.profileInterference?.gamma[k], k)
    assert.match(profileInterference.measured.notes ?? '', /albert\.b1\.fp16.*kept from the file/)
    assert.equal(
      JSON.parse(readFileSync(join(out, 'sim-calibration.json'), 'utf8')).format,
      'eclip.sim-calibration/1',
    )
  })

  it('the CLI refuses --fit-profiles with flags of the other fit (exit 2)', () => {
    const r = calibrateCli('--fit-profiles', '--keep-contention')
    assert.equal(r.status, 2, r.stderr)
    assert.match(
      r.stderr,
      /--fit-profiles.*cannot be used with.*--keep-contention|--keep-contention.*cannot be used with.*--fit-profiles/,
    )
  })
})

describe("the memory term's load shape (--interference-load)", () => {
  it('reads p, p,q or p,q,n0; refuses what is not p > 0, q ≥ 0, n0 ≥ 1', () => {
    assert.deepEqual(parseInterferenceLoad('0.5'), { exponent: 0.5, neighbourExponent: 0, neighbourFrom: 1 })
    assert.deepEqual(parseInterferenceLoad('1, 0.5'), {
      exponent: 1,
      neighbourExponent: 0.5,
      neighbourFrom: 1,
    })
    assert.deepEqual(parseInterferenceLoad('1,1,4'), { exponent: 1, neighbourExponent: 1, neighbourFrom: 4 })
    for (const bad of ['0', '-1', 'x', '0.5,', '0.5,-1', '1,1,0.5', '1,2,3,4'])
      assert.throws(() => parseInterferenceLoad(bad), /--interference-load/, bad)
  })

  it("is the simulator's when the file has it (q absent: 0, n0: 1), and absent when the file has none", () => {
    const shipped = readFile<SimCalibration>('sim-calibration', 'profiles/h100/sim-calibration.json')
    assert.equal(shipped.interferenceLoad, undefined)
    assert.equal('interferenceLoad' in calibrationFrom(shipped), false)
    const measured = { date: '2026-12-06', method: 'test', tool: 'test' }
    assert.deepEqual(
      calibrationFrom({ ...shipped, interferenceLoad: { exponent: 0.5, measured } }).interferenceLoad,
      { exponent: 0.5, neighbourExponent: 0, neighbourFrom: 1 },
    )
  })

  it('the CLI refuses --interference-load without --fit-profiles', () => {
    const r = calibrateCli('--interference-load', '0.5')
    assert.notEqual(r.status, 0)
    assert.match(r.stderr, /--interference-load goes with --fit-profiles/)
  })
})

describe('per-profile co-residency κ', () => {
  const coresident: Calibration = { ...common, sharing: 'coresident', coresidency: 0.35 }
  const mix5 = [mixes[0] as Mix]

  it("changes that profile's co-resident kernels alone; a profile not named keeps coresidency", async () => {
    const plain = await runs(coresident, mix5)
    const key = (model: string) =>
      profileKey(plain[0]?.workers.find((w) => w.model === model) as Run['workers'][number])
    const rates = (rs: Run[]) => rs.map((r) => r.workers.map((w) => w.throughputRps))
    const same = await runs({ ...coresident, coresidencyByProfile: { [key('shufflenet')]: 0.35 } }, mix5)
    assert.deepEqual(rates(same), rates(plain))
    // under baseline shufflenet's small kernels share resnext101's SMs and pay κ for it: with its own κ 0 it runs
    // faster, while resnext101, whose blocks fill its SMs, keeps its rate
    const freed = await runs({ ...coresident, coresidencyByProfile: { [key('shufflenet')]: 0 } }, mix5)
    const ratio = (model: string) =>
      rateOf(freed, 'mix5', 'baseline', model) / rateOf(plain, 'mix5', 'baseline', model)
    assert.ok(ratio('shufflenet') > 1.02, `shufflenet ×${ratio('shufflenet')}`)
    assert.ok(Math.abs(ratio('resnext101') - 1) < 0.005, `resnext101 ×${ratio('resnext101')}`)
  })

  it("is read from a calibration file's profileCoresidency", () => {
    const file = readFile<SimCalibration>('sim-calibration', 'profiles/h200/sim-calibration.json')
    const measured = { date: '2026-12-02', method: 'test', tool: 'test' }
    const cal = calibrationFrom({
      ...file,
      profileCoresidency: { kappa: { 'alexnet.b1.fp16': 0.2 }, measured },
    })
    assert.deepEqual(cal.coresidencyByProfile, { 'alexnet.b1.fp16': 0.2 })
    assert.match(cal.source, /κ per profile \(2026-12-02\)/)
    // a file without the block keeps the one κ for every worker; the shipped file's own κ's are read as they are
    const { profileCoresidency, ...without } = file
    assert.equal(calibrationFrom(without).coresidencyByProfile, undefined)
    assert.deepEqual(calibrationFrom(file).coresidencyByProfile, profileCoresidency?.kappa)
  })
})

/**
 * `eclip calibrate` on a results file and the shipped H100 profiles, with `flags` (each case refused before a read).
 */
function calibrateCli(...flags: string[]) {
  return spawnSync(
    'node',
    ['bin/eclip.mjs', 'calibrate', '--results', 'x.json', '--profiles', 'profiles/h100', ...flags],
    { encoding: 'utf8' },
  )
}
