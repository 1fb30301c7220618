import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import {
  alignKernels,
  compareTrace,
  environment,
  kernelClass,
  kernelToken,
  loadTrace,
  reportText,
} from '../../bench/kernel-trace.ts'

const ROOT = join(import.meta.dirname, '..', '..')
const H200 = join(ROOT, 'results', 'h200')
const PLANS = [
  join(H200, 'profile-interference', 's7', 'plans'),
  join(H200, 'profile-interference', 's6', 'plans'),
]

describe('kernel-trace: matching a trace to a profile', () => {
  it('reads a kernel name as its function, however its template arguments are spelled', () => {
    const profile =
      'void at::native::vectorized_elementwise_kernel<(int)4, at::native::Foo>(int, at::native::Foo)'
    const traced = 'void at::native::vectorized_elementwise_kernel<4, at::native::Foo>(int, at::native::Foo)'
    assert.equal(kernelToken(profile), 'at::native::vectorized_elementwise_kernel')
    assert.equal(kernelToken(traced), kernelToken(profile))
    assert.equal(
      kernelToken('nvjet_sm90_hsh_96x64_64x10_1x2_h_bz_bias_TNN'),
      'nvjet_sm90_hsh_96x64_64x10_1x2_h_bz_bias_TNN',
    )
    assert.equal(kernelClass('sm80_xmma_fprop_implicit_gemm_f16f16'), 'mma')
    assert.equal(kernelClass('void cudnn::engines_precompiled::nchwToNhwcKernel<__half>'), 'layout')
    assert.equal(kernelClass('void at::native::batch_norm_transform_input_kernel<c10::Half>'), 'elementwise')
  })

  it('skips the kernels the profile does not list and takes another GEMM for a GEMM', () => {
    const profile = ['void a<(int)1>(x)', 'nvjet_sm90_hsh_128x8_TNT', 'void c<(bool)0>(y)', 'void d(z)']
    const traced = [
      'memset32',
      'void a<1>(x)',
      'nvjet_sm90_hsh_64x8_TNT',
      'void c<false>(y)',
      'memcpy128',
      'void d(z)',
    ]
    assert.deepEqual(alignKernels(profile, traced), [1, 2, 3, 5])
    // a kernel of another class is not taken for a missing one
    assert.deepEqual(alignKernels(['void a(x)', 'void b_pool(y)'], ['void a(x)', 'nvjet_x']), [0, -1])
    // nor does a cheaper-looking path through another class hide the exact match
    assert.deepEqual(alignKernels(['void foo(x)', 'gemm_a'], ['gemm_a', 'gemm_b']), [-1, 0])
    // a trace keeps 80 characters of a name: a longer one matches itself, not the next GEMM
    const long = `sm80_xmma_fprop_implicit_gemm_${'x'.repeat(90)}`
    assert.deepEqual(
      alignKernels(['void relu(x)', long], ['void relu(x)', long.slice(0, 80), 'nvjet_other']),
      [0, 1],
    )
  })
})

describe('kernel-trace: the recorded H200 traces against the simulator', () => {
  const env = environment(join(ROOT, 'profiles', 'h200'))

  it('compares every worker of both arms, with the GPU’s rates as traced', () => {
    const t = loadTrace(join(H200, 'kernel-trace', 'mix7.b8.trace.json.gz'))
    const rows = compareTrace(t, PLANS, env)
    assert.equal(rows.length, 6)
    assert.deepEqual(
      rows.map((r) => r.gpuRps),
      [...(t.arms.baseline?.rps ?? []), ...(t.arms['eclip-fit']?.rps ?? [])],
    )
    for (const r of rows) {
      // alexnet runs on one stream, each request a chain with gaps between its kernels
      assert.equal(r.soloStreams, 1)
      assert.ok(r.soloOverlap > 0.8 && r.soloOverlap < 1, `${r.name}: ${r.soloOverlap}`)
      assert.ok(r.gpuKernelUs > 0 && r.simKernelUs > 0 && r.simRps > 0)
    }
    const text = reportText(rows)
    assert.match(text, /^baseline \(all on the whole GPU\) +n {2}3/m)
    assert.match(text, /^eclip-fit \(partitioned\) +n {2}3/m)
  })

  it('sees the branches of resnext101’s graph run side by side', () => {
    const t = loadTrace(join(H200, 'kernel-trace', 'more2.b8.trace.json.gz'))
    const rows = compareTrace(t, PLANS, env).filter((r) => r.arm === 'baseline')
    const byName = new Map(rows.map((r) => [r.name, r]))
    const rx = byName.get('resnext101#0')
    assert.ok(rx)
    assert.equal(rx.soloStreams, 9)
    assert.ok(rx.soloOverlap > 1.1, `${rx.soloOverlap}`)
    assert.equal(byName.get('densenet201#0')?.soloStreams, 1)
  })
})
