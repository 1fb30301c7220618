// GPU test: `eclip serve --backend gpu` with policy paris-elsa, end to end on the machine's GPUs. Latency tables of
// alexnet and albert are measured first (paris-table, small batches, short cells), then the server starts on every
// GPU the backend sees: PARIS partitions them, each model is captured on every partition at each batch of its mix,
// and requests over HTTP run on the partitions ELSA picks. Checked: the partitions cover every GPU, a request runs
// on a real partition and returns real outputs (the same input gives the same answer on whichever partition it
// lands), a burst spreads over several partitions, /metrics counts per partition, NVML power. Skipped with a reason
// without a GPU Python (ECLIP_PYTHON, else python3, with torch and a CUDA device). On the GPU machine it runs
// bundled (scripts/device-bundle.sh builds it into .device/).
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import YAML from 'yaml'
import { latencyTableFileName } from '../../src/formats/index.ts'
import { ParisGpu } from '../../src/paris/gpu.ts'
import { startServe } from '../../src/serve/index.ts'

const gpuPython = process.env.ECLIP_PYTHON ?? 'python3'
const hasGpu =
  spawnSync(gpuPython, ['-c', 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)'], {
    stdio: 'ignore',
  }).status === 0
const skip = hasGpu
  ? false
  : `no GPU Python (${gpuPython} with torch and a CUDA device; set ECLIP_PYTHON): run on the GPU machine`

const TOKENS = Array.from({ length: 128 }, (_, i) => (i * 37) % 30000)

describe('serve --backend gpu, policy paris-elsa (GPU)', () => {
  it('PARIS partitions every GPU, ELSA spreads requests over them, outputs are real', {
    skip,
    timeout: 900_000,
  }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eclip-paris-serve-gpu-'))
    const log = (l: string) => process.stderr.write(`${l}\n`)
    // this GPU's latency tables (what `eclip paris-table --backend gpu` writes)
    const pg = await ParisGpu.start({ log })
    try {
      for (const model of ['alexnet', 'albert']) {
        const t = await pg.measureTable(model, [1, 4], 20)
        writeFileSync(join(dir, latencyTableFileName(model, 'fp16')), JSON.stringify(t))
      }
    } finally {
      await pg.close()
    }
    const config = join(dir, 'serve.yaml')
    writeFileSync(
      config,
      YAML.stringify({
        format: 'eclip.serve/1',
        policy: 'paris-elsa',
        latency: { source: 'dir', dir: '.' },
        models: [
          { model: 'alexnet', rate: 400, sloMs: 5, batches: { 1: 0.6, 4: 0.4 } },
          { model: 'albert', rate: 100, sloMs: 20, batches: { 1: 0.5, 4: 0.5 } },
        ],
      }),
    )
    const { server, url } = await startServe({ config, port: 0, backend: 'gpu', gpu: { log } })
    try {
      const parts = server.opts.backend.partitions?.() ?? []
      const gpus = [...new Set(parts.map((p) => p.gpu))]
      log(`paris-elsa on ${gpus.length} GPU(s): ${parts.map((p) => `${p.id} ${p.sms} SMs`).join(', ')}`)
      for (const g of gpus)
        assert.equal(
          parts.filter((p) => p.gpu === g).reduce((a, p) => a + p.sms, 0),
          server.opts.gpu?.smCount,
          `GPU ${g}'s partitions cover it`,
        )
      const infer = async (n: number) => {
        const res = await fetch(`${url}/v2/models/albert/infer`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            inputs: [
              { name: 'input_ids', datatype: 'INT64', shape: [n, 128], data: Array(n).fill(TOKENS).flat() },
            ],
          }),
        })
        assert.equal(res.status, 200, await res.clone().text())
        return (await res.json()) as {
          outputs: { shape: number[]; data: number[] }[]
          parameters: { partition: string; simulated?: boolean; compute_us: number }
        }
      }
      // a burst: several partitions at once; every answer real, and the same input gives the same output wherever
      // it ran (fp16; the partitions' kernels may differ, so within a tolerance)
      const answers = await Promise.all(Array.from({ length: 24 }, (_, k) => infer(k % 3 === 0 ? 3 : 1)))
      const ran = new Set(answers.map((a) => a.parameters.partition))
      log(`burst ran on ${[...ran].join(', ')}`)
      assert.ok(ran.size >= 2, `the burst ran on ${[...ran]}`)
      const ref = answers[1]?.outputs[0]?.data.slice(0, 768) ?? []
      assert.ok(ref.every(Number.isFinite) && ref.some((v) => v !== 0))
      for (const a of answers) {
        assert.equal(a.parameters.simulated, undefined)
        assert.ok(a.parameters.compute_us > 0)
        const got = a.outputs[0]?.data.slice(0, 768) ?? []
        const err = Math.hypot(...got.map((v, i) => v - (ref[i] ?? 0))) / Math.hypot(...ref)
        assert.ok(err < 1e-2, `${a.parameters.partition}: rel err ${err}`)
      }
      const vision = await fetch(`${url}/v2/models/alexnet/infer`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          inputs: [
            { name: 'input', datatype: 'FP32', shape: [2, 3, 224, 224], data: Array(2 * 150528).fill(0.5) },
          ],
        }),
      })
      assert.equal(vision.status, 200)
      const metrics = await (await fetch(`${url}/metrics`)).text()
      for (const p of [...ran])
        assert.match(
          metrics,
          new RegExp(`eclip_partition_executions_total\\{partition="${p}",gpu="\\d+",model="albert"\\} \\d+`),
        )
      assert.match(metrics, /nv_gpu_power_usage\{gpu_uuid="[^"]+",source="nvml"\} \d/)
    } finally {
      await server.close()
    }
  })
})
