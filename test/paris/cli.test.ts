import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { parseGpuList } from '../../src/cli/commands/paris.ts'
import { type LatencyTable, readFile } from '../../src/formats/index.ts'
import { loadScenario } from '../../src/paris/scenario.ts'
import { eclip } from './run-paris.ts'

const root = join(import.meta.dirname, '..', '..')
const bin = join(root, 'bin', 'eclip.mjs')
const tmp = () => mkdtempSync(join(tmpdir(), 'eclip-paris-'))

describe('eclip paris', () => {
  it('parses GPU lists', () => {
    assert.deepEqual(parseGpuList('1..8'), [1, 2, 3, 4, 5, 6, 7, 8])
    assert.deepEqual(parseGpuList('4,1,2..3'), [1, 2, 3, 4])
    assert.throws(() => parseGpuList('3..1'), /bad range/)
    assert.throws(() => parseGpuList('x'), /not N or N\.\.M/)
  })

  it('ships a valid example scenario with the seven paper models', () => {
    const sc = loadScenario(join(root, 'examples', 'paris.yaml'))
    assert.equal(sc.models.length, 7)
    assert.equal(sc.gpu.smCount, 132)
    for (const m of sc.models) assert.ok(Math.abs(m.probs.reduce((a, p) => a + p, 0) - 1) < 1e-9)
  })

  it('writes labelled results, tables and SVG plots', async () => {
    const out = tmp()
    await eclip(
      'paris',
      '--models',
      join(root, 'examples', 'paris.yaml'),
      '--gpus',
      '1..2',
      '--queries',
      '1500',
      '--schemes',
      'whole/fifo,paris/elsa',
      '--out',
      out,
      '--quiet',
    )
    const res = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'))
    assert.equal(res.format, 'eclip.paris-results/1')
    assert.match(res.label, /SIMULATED on SYNTHETIC/)
    assert.equal(res.results.length, 4)
    assert.ok(res.results.every((x: { sustainedQps: number }) => x.sustainedQps >= 0))
    assert.match(readFileSync(join(out, 'results.md'), 'utf8'), /\| paris\/elsa \| \d+/)
    const svg = readFileSync(join(out, 'throughput-vs-gpus.svg'), 'utf8')
    assert.match(svg, /^<svg/)
    assert.match(svg, /SYNTHETIC/)
    assert.ok(existsSync(join(out, 'violations-vs-load-1gpu.svg')))
    assert.ok(existsSync(join(out, 'latency', 'alexnet.fp16.latency.json')))
  })

  it('exits 2 naming the field of an invalid scenario', () => {
    const f = join(tmp(), 'bad.yaml')
    writeFileSync(
      f,
      'format: eclip.paris-scenario/1\nname: x\ngpu: g.json\nmodels:\n  - { model: a, rate: -1, sloMs: 5, batches: {1: 1} }\n',
    )
    const r = spawnSync(process.execPath, [bin, 'paris', '--models', f, '--gpus', '1'], { encoding: 'utf8' })
    assert.equal(r.status, 2)
    assert.match(r.stderr, /\/models\/0\/rate/)
  })

  it('paris-table writes a valid synthetic table and refuses a call without input', async () => {
    const f = join(tmp(), 't.json')
    await eclip(
      'paris-table',
      '--synthetic',
      'vgg19',
      '--gpu',
      join(root, 'test', 'fixtures', 'h100.gpu.json'),
      '--out',
      f,
    )
    assert.equal(readFile<LatencyTable>('latency-table', f).measured.method, 'synthetic')
    await assert.rejects(eclip('paris-table'), /give profile files/)
    // a name without a known shape still makes a table (a made-up model), said on stderr: a misspelling shows
    const gpu = join(root, 'test', 'fixtures', 'h100.gpu.json')
    const made = spawnSync(process.execPath, [bin, 'paris-table', '--synthetic', 'albret', '--gpu', gpu], {
      encoding: 'utf8',
    })
    assert.equal(made.status, 0, made.stderr)
    assert.match(made.stderr, /no known shape for "albret" \(known: .*albert.*\): a seeded random one/)
    assert.equal(JSON.parse(made.stdout).model, 'albret')
    const known = spawnSync(process.execPath, [bin, 'paris-table', '--synthetic', 'vgg19', '--gpu', gpu], {
      encoding: 'utf8',
    })
    assert.equal(known.stderr, '')
  })

  it('paris-table --backend gpu refuses a bad dtype, batch list or model list before the GPU starts', () => {
    const out = tmp()
    const table = (...args: string[]) =>
      spawnSync(process.execPath, [bin, 'paris-table', '--backend', 'gpu', '--out', out, ...args], {
        encoding: 'utf8',
      })
    const cases: [string[], RegExp][] = [
      [['--models', 'vgg19', '--dtype', 'fp8'], /--dtype: expected one of fp16, bf16, fp32, got "fp8"/],
      [['--models', 'vgg19', '--batches', '1,2,1'], /--batches: 1 named twice/],
      [['--models', 'vgg19', '--batches', '0'], /--batches: expected batch sizes ≥ 1/],
      [['--models', 'vgg19,alexnet,vgg19'], /--models: vgg19 named twice/],
      [['--models', 'vgg19,,alexnet'], /--models: an empty name in "vgg19,,alexnet"/],
    ]
    for (const [args, why] of cases) {
      const r = table(...args)
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`)
      assert.match(r.stderr, why)
      assert.doesNotMatch(r.stderr, /Traceback|at .*\.ts:/)
    }
  })
})
