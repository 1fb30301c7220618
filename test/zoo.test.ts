// The zoo as both sides know it: every model zoo.py builds has its tensors in the serve layer's table
// (src/serve/io-specs.ts) and a synthetic profile, with the input shapes zoo.py declares.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { SYNTHETIC_MODELS, syntheticProfile } from '../src/profile/synthetic.ts'
import { zooIO } from '../src/serve/io-specs.ts'

const repo = join(import.meta.dirname, '..')
const venvPython = join(repo, '.venv', 'bin', 'python')

/** zoo.py's models and their declared inputs, read by Python (zoo.py imports no torch at module level). */
function pythonZoo(): Record<string, [string, string, number[]][]> {
  const r = spawnSync(
    existsSync(venvPython) ? venvPython : 'python3',
    [
      '-c',
      'import json, sys; sys.path.insert(0, "gpu"); from eclip_gpu import zoo; print(json.dumps(zoo.INPUTS))',
    ],
    { cwd: repo, encoding: 'utf8' },
  )
  assert.equal(r.status, 0, r.stderr)
  return JSON.parse(r.stdout)
}

describe('the zoo on both sides', () => {
  it('every model zoo.py builds has tensors in TypeScript with its input shape, and a synthetic profile', () => {
    const py = pythonZoo()
    assert.ok('inceptionv3' in py && 'distilbert' in py)
    for (const [model, inputs] of Object.entries(py)) {
      const io = zooIO(model, 'fp16')
      assert.ok(io, `${model}: no tensors in src/serve/io-specs.ts`)
      assert.deepEqual(
        io.inputs.map((t) => [t.name, t.shape.slice(1)]),
        inputs.map(([name, , shape]) => [name, shape]),
        model,
      )
      assert.ok(SYNTHETIC_MODELS[model], `${model}: no synthetic profile`)
    }
  })

  it('the DISB models: inceptionv3 takes 299×299 images, distilbert token ids; fp32 images need no conversion', () => {
    const inc = zooIO('inceptionv3', 'fp16')
    assert.deepEqual(inc?.inputs[0], {
      name: 'input',
      datatype: 'FP16',
      alsoAccepts: ['FP32'],
      shape: [-1, 3, 299, 299],
    })
    assert.deepEqual(zooIO('inceptionv3', 'fp32')?.inputs[0]?.alsoAccepts, undefined)
    const bert = zooIO('distilbert', 'bf16')
    assert.deepEqual(bert?.inputs[0]?.range, [0, 30521])
    assert.deepEqual(bert?.outputs[0], { name: 'last_hidden_state', datatype: 'BF16', shape: [-1, 128, 768] })
  })

  it('their synthetic profiles are labelled synthetic and scale like their kin', () => {
    for (const model of ['inceptionv3', 'distilbert']) {
      const p = syntheticProfile({ model })
      assert.equal(p.measured.method, 'synthetic')
      assert.equal(p.kernels.length, SYNTHETIC_MODELS[model]?.kernels)
      // slower on one slice than on the whole GPU, by about the model's ratio
      const r = (p.requestUs[0] as number) / (p.requestUs[p.requestUs.length - 1] as number)
      assert.ok(r > 2 && r < 8, `${model}: ${r}`)
    }
  })
})
