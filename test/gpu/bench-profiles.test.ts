// `eclip bench --backend gpu` picks its profiles by the GPU the backend reports, against a stand-in backend
// (test/gpu/fake_run_backend.py) that reports the shipped H200's gpu.json or an unknown GPU: without --profiles the
// shipped directory made on that GPU; none made on it, or --profiles of another GPU, refused once before any run;
// every run refused by the backend: exit 1.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { type Results, readFile } from '../../src/formats/index.ts'

const repo = join(import.meta.dirname, '..', '..')
const eclip = join(repo, 'bin', 'eclip.mjs')
const venvPython = join(repo, '.venv', 'bin', 'python')
const h200 = join(repo, 'profiles', 'h200', 'gpu.json')

/** A temporary directory with the fake's launcher, the runs it was sent (runs.jsonl) and a one-mix file. */
function setup(gpuJson: string, env: Record<string, string> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'eclip-bench-profiles-'))
  const py = existsSync(venvPython) ? venvPython : 'python3'
  const exports = Object.entries({ FAKE_GPU_JSON: gpuJson, ...env })
    .map(([k, v]) => `export ${k}='${v}'\n`)
    .join('')
  const python = join(dir, 'python')
  writeFileSync(
    python,
    `#!/usr/bin/env bash\n${exports}exec '${py}' '${join(repo, 'test', 'gpu', 'fake_run_backend.py')}' '${join(dir, 'runs.jsonl')}'\n`,
  )
  chmodSync(python, 0o755)
  const mix = join(dir, 'mix.yaml')
  writeFileSync(
    mix,
    'format: eclip.mixes/1\nmixes:\n  - { name: duo, workers: [ { model: alexnet }, { model: vgg19 } ] }\n',
  )
  return { dir, python, mix, out: join(dir, 'out') }
}

function bench(s: ReturnType<typeof setup>, extra: string[] = []) {
  const args = ['bench', '--backend', 'gpu', '--mix', s.mix, '--policies', 'baseline', '--modes', 'graph']
  args.push('--no-solo', '--no-sim-compare', '--no-plots', '--duration', '0.01', '--warmup', '0.001')
  return spawnSync(process.execPath, [eclip, ...args, ...extra, '--out', s.out], {
    encoding: 'utf8',
    env: { ...process.env, ECLIP_PYTHON: s.python },
  })
}

/** The run messages the fake was sent. */
const runsSent = (s: ReturnType<typeof setup>): { plan: { gpu: { name: string } } }[] => {
  const f = join(s.dir, 'runs.jsonl')
  return existsSync(f)
    ? readFileSync(f, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l))
    : []
}

describe('eclip bench --backend gpu: the profiles of the GPU the backend reports', () => {
  it('without --profiles, on an H200, plans from the shipped profiles/h200 and says so', () => {
    const s = setup(h200)
    const r = bench(s)
    assert.equal(r.status, 0, r.stderr)
    const sent = runsSent(s)
    assert.ok(sent.length > 0)
    for (const m of sent) assert.equal(m.plan.gpu.name, 'NVIDIA H200')
    const results = readFile<Results>('results', join(s.out, 'results.json'))
    assert.equal(results.provenance.gpu, 'NVIDIA H200')
    assert.match(
      results.provenance.notes ?? '',
      /profiles from .*profiles\/h200 \(the shipped directory for NVIDIA H200, the GPU the backend reports\)/,
    )
    assert.ok(results.runs.length > 0 && results.runs.every((x) => x.backend === 'gpu'))
  })

  it('refuses a GPU no shipped directory was made on before any run, naming it, the shipped ones and eclip profile', () => {
    const dir = mkdtempSync(join(tmpdir(), 'eclip-gpu-json-'))
    const other = join(dir, 'gpu.json')
    writeFileSync(other, JSON.stringify({ ...JSON.parse(readFileSync(h200, 'utf8')), name: 'NVIDIA H20' }))
    const s = setup(other)
    const r = bench(s)
    assert.equal(r.status, 2, r.stderr)
    assert.match(r.stderr, /the GPU backend runs on NVIDIA H20, 132 SMs/)
    assert.match(r.stderr, /profiles\/h100 \(NVIDIA H100 80GB HBM3, 132 SMs/)
    assert.match(r.stderr, /profiles\/h200 \(NVIDIA H200, 132 SMs/)
    assert.match(r.stderr, /eclip\.mjs profile .*--out profiles\/<gpu>/)
    assert.doesNotMatch(r.stderr, /at .*\.ts:\d+/)
    assert.equal(runsSent(s).length, 0)
    assert.ok(!existsSync(join(s.out, 'results.json')))
  })

  it('an explicit --profiles wins: made on another GPU, it is refused once, before any run', () => {
    const s = setup(h200)
    const r = bench(s, ['--profiles', join(repo, 'profiles', 'h100')])
    assert.equal(r.status, 2, r.stderr)
    const said = r.stderr.match(/made for another GPU/g) ?? []
    assert.equal(said.length, 1, r.stderr)
    assert.match(
      r.stderr,
      /profiles\/h100 was made for another GPU \(NVIDIA H100 80GB HBM3, .*\), this is NVIDIA H200, .*: name differs/,
    )
    assert.equal(runsSent(s).length, 0)
  })

  it('an explicit --profiles of this GPU is used as given', () => {
    const s = setup(h200)
    const r = bench(s, ['--profiles', join(repo, 'profiles', 'h200')])
    assert.equal(r.status, 0, r.stderr)
    const results = readFile<Results>('results', join(s.out, 'results.json'))
    assert.match(results.provenance.notes ?? '', /profiles from .*profiles\/h200;/)
  })

  it('--no-check-outputs: the run messages ask for no output check; by default they do', () => {
    const on = setup(h200)
    assert.equal(bench(on).status, 0)
    const off = setup(h200)
    assert.equal(bench(off, ['--no-check-outputs']).status, 0)
    const checks = (s: ReturnType<typeof setup>) =>
      (runsSent(s) as unknown as { checkOutputs: boolean }[]).map((m) => m.checkOutputs)
    assert.ok(checks(on).length > 0 && checks(on).every((c) => c === true))
    assert.ok(checks(off).length > 0 && checks(off).every((c) => c === false))
  })

  it('exits 1 when the backend refuses every run (the report is still written)', () => {
    const s = setup(h200, { FAKE_RUN_ERROR: 'BackendError: refused on purpose' })
    const r = bench(s)
    assert.equal(r.status, 1, r.stderr)
    assert.match(r.stderr, /every GPU run failed \(\d+\); nothing was measured/)
    assert.ok(runsSent(s).length > 0)
    const results = readFile<Results>('results', join(s.out, 'results.json'))
    assert.equal(results.runs.length, 0)
    assert.ok(results.provenance.warnings.some((w) => /FAILED: .*refused on purpose/.test(w)))
  })
})
