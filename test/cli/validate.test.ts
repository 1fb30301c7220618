// `eclip validate` reads the files a file names as the commands that use it would: a mix's or workload's traces, a
// PARIS scenario's GPU layout, a serve config's plan, plan table, profile directory and model files. Run through
// bin/eclip.mjs for the exit status and the one line.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'

const ROOT = join(import.meta.dirname, '..', '..')
const BIN = join(ROOT, 'bin', 'eclip.mjs')
const dir = mkdtempSync(join(tmpdir(), 'eclip-validate-'))

function validate(format: string, text: string, name: string) {
  const f = join(dir, name)
  writeFileSync(f, text)
  const r = spawnSync(process.execPath, [BIN, 'validate', format, f], { encoding: 'utf8' })
  return { status: r.status, out: r.stdout.trim(), err: r.stderr.trim(), file: f }
}

describe('eclip validate, the files a file names', () => {
  const mix = (file: string) =>
    `format: eclip.mixes/1\nmixes:\n  - { name: t, workers: [ { model: alexnet, arrival: { kind: trace, file: ${file} } }, { model: vgg19 } ] }\n`

  it("reads a mix's and a workload's trace files, relative to the file", () => {
    writeFileSync(join(dir, 'good.txt'), '0.1\n0.2\n0.5\n')
    writeFileSync(join(dir, 'bad.txt'), '0.1\n# a comment\nsoon\n')
    const ok = validate('mix', mix('good.txt'), 'ok.yaml')
    assert.equal(ok.status, 0, ok.err)
    assert.match(ok.out, /ok\.yaml: ok \(mix; 1 file\(s\) it names checked\)$/)
    const missing = validate('mix', mix('nowhere.txt'), 'missing.yaml')
    assert.equal(missing.status, 2)
    assert.match(missing.err, /mix t, model alexnet: .*nowhere\.txt/)
    assert.doesNotMatch(missing.err, /\n/)
    const bad = validate('mix', mix('bad.txt'), 'bad.yaml')
    assert.equal(bad.status, 2)
    assert.match(bad.err, /bad\.txt:3: not a time/)
    const workload = validate(
      'workload',
      'format: eclip.workloads/1\nworkloads:\n  - { name: w, durationS: 2, workers: [ { model: alexnet, arrival: { kind: trace, file: bad.txt } } ] }\n',
      'w.yaml',
    )
    assert.equal(workload.status, 2)
    assert.match(workload.err, /workload w, model alexnet: .*bad\.txt:3: not a time/)
  })

  it("reads a serve config's plan and plan table as their formats, and looks for its directories and model files", () => {
    // a plan file that is there but is not a plan: read as one, it fails naming the file and the field
    writeFileSync(join(dir, 'notplan.json'), JSON.stringify({ format: 'eclip.plan/1', mix: 'x' }))
    const cases: [string, RegExp][] = [
      ['plan: nowhere.json', /c\.yaml: \/plan: .*nowhere\.json does not exist/],
      ['plan: notplan.json', /notplan\.json: not a valid file\s+\/: missing field\(s\) "policy"/],
      ['policy: eclip-live\nlive: { table: nowhere.json }', /\/live\/table: .*nowhere\.json does not exist/],
      ['profiles: good.txt', /\/profiles: .*good\.txt is not a directory/],
    ]
    for (const [line, why] of cases) {
      const r = validate('serve-config', `models: [ { model: alexnet } ]\n${line}\n`, 'c.yaml')
      assert.equal(r.status, 2, `${line}: ${r.out}`)
      assert.match(r.err, why, line)
    }
    const source = validate(
      'serve-config',
      'models:\n  - { model: mine, source: nowhere.pt, inputs: [ { name: x, datatype: FP32, shape: [3] } ], outputs: [ { name: y, datatype: FP32, shape: [2] } ] }\n',
      's.yaml',
    )
    assert.equal(source.status, 2, source.out)
    assert.match(source.err, /\/models\/0\/source: .*nowhere\.pt is not a file/)
    // what it names, there and well formed: ok, counted
    mkdirSync(join(dir, 'h100'), { recursive: true })
    copyFileSync(join(ROOT, 'profiles', 'h100', 'gpu.json'), join(dir, 'h100', 'gpu.json'))
    const ok = validate('serve-config', 'models: [ { model: alexnet } ]\nprofiles: h100\n', 'ok.yaml')
    assert.equal(ok.status, 0, ok.err)
    assert.match(ok.out, /ok \(serve-config; 1 file\(s\) it names checked\)$/)
  })

  it("reads a PARIS scenario's GPU layout file", () => {
    const r = validate(
      'paris-scenario',
      'format: eclip.paris-scenario/1\nname: s\ngpu: nowhere.json\nmodels:\n  - { model: alexnet, rate: 10, sloMs: 5, batches: { 1: 1 } }\n',
      'p.yaml',
    )
    assert.equal(r.status, 2, r.out)
    assert.match(r.err, /nowhere\.json/)
  })
})
