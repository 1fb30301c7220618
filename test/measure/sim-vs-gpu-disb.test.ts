// The simulator checked against the GPU on DISB (issue #20: "the same in the simulator within 10%"): the H100's
// recorded DISB A–E runs (results/h100/disb/gpu-bench: baseline, model-wise, eclip-rt and each workload's real-time
// workers alone, 3-s windows) re-simulated with the plans they executed, their seeds, arrivals and windows, and the
// shipped calibration (profiles/h100). Its real-time constants (the open-loop issue delay and its jitter, the priority
// drain) were fitted on workloads A and C (bench/realtime-fit.ts): the test checks that their provenance names no
// other, so B, D and E are held out; so are two later sessions of the same workloads, held to their own guards: mps/
// (baseline, eclip-rt and MPS with caps), frontier-r48/ (eclip-rt with 48 reserved SMs) and ../rt-gate/fixed/d5/
// (eclip-rt's gate mechanism, whose gate wait the shipped calibration leaves at 0), and ../rt-e-tuned/ (DISB E,
// eclip-rt's best-effort plan tuned on the GPU, three runs). Compared per run: DISB's RT latency
// (the real-time requests' mean and p99) and overall throughput ÷ baseline's. TARGET: the issue's 10%; GUARD: what the
// simulator meets today, per series and policy (the worst run, rounded up by about a point), so that it cannot get
// worse unnoticed. The real-time constants were fitted under the fifo sharing rule the H100's calibration used then;
// under its coresident rule baseline and eclip-rt are within the target in gpu-bench, mps and d5; the furthest off
// are MPS's runs (overall ÷ baseline up to 11% low: the simulator's MPS clients miss distilbert's capped GEMM speed,
// results/sim/coresident-sharing/README.md) and the frontier-r48 session (11–15% low in A and D). The RT p99 of A and
// C, light workloads whose tail is the host's, is far under in the sessions whose host stalled now and then (a few
// requests in a hundred late by up to milliseconds: mps, frontier-r48, d5's C) — the issue delay's jitter, fitted on
// gpu-bench's quiet host, gives only the common spread.
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import {
  loadRealtimeSet,
  type RealtimeDrift,
  realtimeDrift,
  resimulateRealtime,
} from '../../src/calibrate/realtime.ts'
import { calibrationFrom } from '../../src/execute/sim/index.ts'
import type { Run } from '../../src/formats/index.ts'

const ROOT = join(import.meta.dirname, '..', '..')
const DISB = join(ROOT, 'results/h100/disb')
/** The workloads the real-time constants were fitted on; the others are held out. */
const FIT = ['disb-A', 'disb-C']
const HELD_OUT = ['disb-B', 'disb-D', 'disb-E']

/** Issue #20's tolerance: |sim ÷ GPU − 1| of the RT mean and p99 latency and of overall req/s ÷ baseline's. */
export const TARGET = { rtMean: 0.1, rtP99: 0.1, overallVsBaseline: 0.1 }

/**
 * What the simulator meets today, per series (a folder of results/h100/disb) and per run by what ran ('alone': the
 * real-time workers alone).
 */
export const GUARD: Record<string, Record<string, typeof TARGET>> = {
  'gpu-bench': {
    alone: { rtMean: 0.06, rtP99: 0.1, overallVsBaseline: 0 },
    baseline: { rtMean: 0.07, rtP99: 0.06, overallVsBaseline: 0 },
    'model-wise': { rtMean: 0.12, rtP99: 0.19, overallVsBaseline: 0.04 },
    'eclip-rt': { rtMean: 0.06, rtP99: 0.1, overallVsBaseline: 0.02 },
  },
  mps: {
    alone: { rtMean: 0.12, rtP99: 0.46, overallVsBaseline: 0 },
    baseline: { rtMean: 0.06, rtP99: 0.41, overallVsBaseline: 0 },
    'eclip-rt': { rtMean: 0.06, rtP99: 0.35, overallVsBaseline: 0.02 },
    mps: { rtMean: 0.12, rtP99: 0.37, overallVsBaseline: 0.12 },
  },
  'frontier-r48': {
    alone: { rtMean: 0.15, rtP99: 0.72, overallVsBaseline: 0 },
    baseline: { rtMean: 0.12, rtP99: 0.63, overallVsBaseline: 0 },
    'eclip-rt': { rtMean: 0.12, rtP99: 0.66, overallVsBaseline: 0.05 },
  },
  '../rt-gate/fixed/d5': {
    alone: { rtMean: 0.11, rtP99: 0.69, overallVsBaseline: 0 },
    baseline: { rtMean: 0.06, rtP99: 0.1, overallVsBaseline: 0 },
    'eclip-rt': { rtMean: 0.04, rtP99: 0.07, overallVsBaseline: 0.06 },
  }, // DISB E with eclip-rt's best-effort plan tuned on the GPU (--objective requests --min-share 0.7 --tune), three runs
  '../rt-e-tuned/e-req07t-30': {
    alone: { rtMean: 0.04, rtP99: 0.03, overallVsBaseline: 0 },
    baseline: { rtMean: 0.01, rtP99: 0.02, overallVsBaseline: 0 },
    'eclip-rt': { rtMean: 0.01, rtP99: 0.03, overallVsBaseline: 0.03 },
  },
  '../rt-e-tuned/e-req07t-30b': {
    alone: { rtMean: 0.05, rtP99: 0.03, overallVsBaseline: 0 },
    baseline: { rtMean: 0.01, rtP99: 0.03, overallVsBaseline: 0 },
    'eclip-rt': { rtMean: 0.03, rtP99: 0.01, overallVsBaseline: 0.04 },
  },
  '../rt-e-tuned/e-req07t-60': {
    alone: { rtMean: 0.05, rtP99: 0.06, overallVsBaseline: 0 },
    baseline: { rtMean: 0.02, rtP99: 0.02, overallVsBaseline: 0 },
    'eclip-rt': { rtMean: 0.07, rtP99: 0.12, overallVsBaseline: 0.04 },
  },
}
const SERIES = Object.keys(GUARD)

const kindOf = (d: RealtimeDrift) => (d.role === 'rt-alone' ? 'alone' : d.policy)
const pct = (x: number) => `${(x * 100).toFixed(1)}%`
const nameOf = (d: RealtimeDrift) => `${d.workload} ${kindOf(d)}`

/** Each run past `limits` (by what ran), named with the metric and by how much. */
function past(drift: readonly RealtimeDrift[], limits: (d: RealtimeDrift) => typeof TARGET): string[] {
  return drift.flatMap((d) => {
    const l = limits(d)
    const out: string[] = []
    if (Math.abs(d.rtMean) > l.rtMean) out.push(`${nameOf(d)}: RT mean off by ${pct(d.rtMean)}`)
    if (Math.abs(d.rtP99) > l.rtP99) out.push(`${nameOf(d)}: RT p99 off by ${pct(d.rtP99)}`)
    if (d.overallVsBaseline !== null && Math.abs(d.overallVsBaseline) > l.overallVsBaseline)
      out.push(`${nameOf(d)}: overall ÷ baseline off by ${pct(d.overallVsBaseline)}`)
    return out
  })
}

const guardOf = (series: string) => (d: RealtimeDrift) => {
  const g = GUARD[series]?.[kindOf(d)]
  assert.ok(g, `no guard for ${series} ${kindOf(d)}`)
  return g
}

/** The guard per run of `series`, and (gpu-bench) eclip-rt's mean over the held-out workloads held to the target. */
function violations(series: string, drift: readonly RealtimeDrift[]): string[] {
  const held = drift.filter(
    (d) => d.policy === 'eclip-rt' && d.role === 'mix' && HELD_OUT.includes(d.workload),
  )
  const mean = held.reduce((a, d) => a + Math.abs(d.rtMean), 0) / held.length
  return [
    ...past(drift, guardOf(series)).map((v) => `${series}: ${v}`),
    ...(series === 'gpu-bench' && mean > TARGET.rtMean
      ? [`eclip-rt held out: mean RT mean drift ${pct(mean)} > ${pct(TARGET.rtMean)}`]
      : []),
  ]
}

describe('the simulator against the H100 on DISB A–E (real-time beside best-effort)', () => {
  // one re-simulation of each series' runs for every check below
  const memo = new Map<string, { runs: Run[]; sim: Run[]; drift: RealtimeDrift[]; method: string }>()
  const result = (series = 'gpu-bench') => {
    let r = memo.get(series)
    if (!r) {
      const { runs, inputs, calibration } = loadRealtimeSet(
        join(DISB, series, 'results.json'),
        join(ROOT, 'profiles/h100'),
      )
      const sim = resimulateRealtime(runs, inputs, calibrationFrom(calibration))
      r = { runs, sim, drift: realtimeDrift(runs, sim), method: calibration.realtime?.measured.method ?? '' }
      memo.set(series, r)
    }
    return r
  }

  it('re-simulates every GPU run, with real-time constants fitted on A and C only', (t) => {
    const { drift, method } = result()
    assert.equal(drift.length, 20)
    assert.ok(method.includes(`of ${FIT.join(', ')},`), `the real-time constants' provenance: ${method}`)
    for (const w of HELD_OUT) assert.ok(!method.includes(w), `fitted on ${w}, which is held out`)
    for (const series of SERIES)
      for (const d of result(series).drift)
        t.diagnostic(
          `${series.padEnd(13)} ${nameOf(d).padEnd(22)} ${series === 'gpu-bench' && FIT.includes(d.workload) ? 'fit ' : 'test'}  RT mean ${(d.gpu.rtMeanUs / 1000).toFixed(3)} → ${(d.sim.rtMeanUs / 1000).toFixed(3)} ms (${pct(d.rtMean)}), p99 ${pct(d.rtP99)}` +
            `${d.overallVsBaseline === null ? '' : `  overall ÷ baseline ${d.gpu.overallVsBaseline?.toFixed(3)} → ${d.sim.overallVsBaseline?.toFixed(3)} (${pct(d.overallVsBaseline)})`}`,
        )
  })

  it('does not drift past what it meets today (per series and run; eclip-rt held out within the target on average)', () => {
    assert.deepEqual(
      SERIES.flatMap((series) => violations(series, result(series).drift)),
      [],
    )
  })

  it('fails when a run drifts past the guard', () => {
    const { runs, sim } = result()
    const i = runs.findIndex((r) => r.mix === 'disb-D' && r.policy === 'eclip-rt')
    const moved = structuredClone(runs)
    const rt = moved[i]?.metrics.realtime
    assert.ok(rt?.meanUs)
    // the GPU's RT mean a third lower: the simulator's is then past eclip-rt's guard, and the held-out mean past 10%
    rt.meanUs *= 2 / 3
    const found = violations('gpu-bench', realtimeDrift(moved, sim))
    assert.ok(
      found.some((v) => v.startsWith('gpu-bench: disb-D eclip-rt: RT mean off by')),
      found.join('\n'),
    )
    assert.ok(
      found.some((v) => v.startsWith('eclip-rt held out: mean RT mean drift')),
      found.join('\n'),
    )
    // the GPU's RT p99 of C alone half as high again: past the alone runs' p99 guard
    const j = runs.findIndex((r) => r.mix === 'disb-C:rt-alone')
    const tail = structuredClone(runs)
    const c = tail[j]?.metrics.realtime
    assert.ok(c?.p99Us)
    c.p99Us *= 1.5
    const late = violations('gpu-bench', realtimeDrift(tail, sim))
    assert.ok(
      late.some((v) => v.startsWith('gpu-bench: disb-C alone: RT p99 off by')),
      late.join('\n'),
    )
  })

  it("needs the issue delay's jitter for A's and C's RT p99: with the delay fixed their alone runs are past the guard", () => {
    const { runs, inputs, calibration } = loadRealtimeSet(
      join(DISB, 'gpu-bench', 'results.json'),
      join(ROOT, 'profiles/h100'),
    )
    const cal = calibrationFrom(calibration)
    assert.ok(cal.realtime?.openLoopIssueJitterUs, 'the shipped calibration has no issue jitter')
    const { openLoopIssueJitterUs: _j, ...fixed } = cal.realtime
    const alone = runs.filter((r) => r.role === 'rt-alone' && FIT.includes(r.mix.replace(/:rt-alone$/, '')))
    const drift = realtimeDrift(alone, resimulateRealtime(alone, inputs, { ...cal, realtime: fixed }))
    assert.ok(
      past(drift, guardOf('gpu-bench')).some((v) => v.includes('RT p99 off by')),
      drift.map((d) => `${nameOf(d)} ${pct(d.rtP99)}`).join(', '),
    )
  })

  it("meets issue #20's target on every run: RT mean, RT p99 and overall ÷ baseline within 10%", {
    todo: "not met on every run: model-wise C, MPS D–E, some alone runs, frontier-r48, A's and C's RT p99 where the host stalled, E's 60-s tuned eclip-rt p99 (the runs past it are listed); the GPU's own repeats of one run spread wider than ±10% (results/h100/disb/README.md, bench/disb-repeat.ts)",
  }, () => {
    assert.deepEqual(
      SERIES.flatMap((series) => past(result(series).drift, () => TARGET).map((v) => `${series}: ${v}`)),
      [],
    )
  })
})
