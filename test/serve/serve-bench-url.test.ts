// serve-bench --url: the same clients against a KServe v2 server already running — here `eclip serve` on the
// simulator, started in this process on a free port — over HTTP, system shared memory and gRPC; the results labelled
// in place of a policy, the server's CPU read for the pids given, energy from its metrics URL, served ÷ bench against
// the bench's baseline, several windows of it (--repeats); and the clear errors before any client starts (no server,
// a model missing, a batch its config refuses, flags that set up a server serve-bench does not start). Triton's
// metadata shapes: ioFromMetadata.
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import YAML from 'yaml'
import { readFile, type ServeResults } from '../../src/formats/index.ts'
import { type Running, startServe } from '../../src/serve/index.ts'
import { ioFromMetadata } from '../../src/serve-bench/external.ts'
import { runScript } from './helpers.ts'

const bin = join(import.meta.dirname, '..', '..', 'bin', 'eclip.mjs')
const BENCH = join(import.meta.dirname, 'fixtures', 'bench-mix1-sim.json')
const tmp = () => mkdtempSync(join(tmpdir(), 'eclip-sb-url-'))
/** serve-bench as a user runs it, in a process of its own (this process's event loop serves meanwhile). */
const serveBench = (args: string[]) => runScript(process.execPath, [bin, 'serve-bench', ...args])

/** A port nothing listens on: one the OS gave, closed again. */
async function closedPort(): Promise<number> {
  const s = net.createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  const port = (s.address() as net.AddressInfo).port
  await new Promise((r) => s.close(r))
  return port
}

describe('serve-bench --url: a server already running, measured by the same clients (eclip serve on the simulator)', () => {
  let running: Running
  let dir: string
  before(async () => {
    dir = tmp()
    // mix1's workers under their served names, batch 2 (max_batch_size 2 in the model configuration), and vgg19 by its
    // model's name (as examples/serve-gpu.yaml names its models)
    const config = join(dir, 'serve.yaml')
    writeFileSync(
      config,
      YAML.stringify({
        policy: 'baseline',
        models: [
          { name: 'albert-0', model: 'albert', batch: 2 },
          { name: 'albert-1', model: 'albert', batch: 2 },
          { name: 'densenet201-0', model: 'densenet201', batch: 2 },
          { name: 'vgg19', model: 'vgg19', batch: 2 },
        ],
      }),
    )
    running = await startServe({ config, port: 0, grpcPort: 0, frontends: 0 })
  })
  after(async () => {
    await running?.server.close()
  })

  it('measures every model over http, shm and grpc; results labelled, server CPU and energy read', async () => {
    const out = join(dir, 'out')
    const ok = await serveBench([
      ...['--url', running.url, '--grpc-url', running.grpcAddress as string],
      ...['--metrics-url', `${running.url}/metrics`, '--server-pids', String(process.pid)],
      ...['--mix', 'mix1', '--transport', 'http,shm,grpc', '--label', 'sim-eclip'],
      ...['--bench', BENCH, '--duration', '0.3', '--warmup', '0.1', '--out', out],
    ])
    assert.equal(ok.status, 0, ok.stderr)
    for (const t of ['http', 'shm', 'grpc']) {
      const results = readFile<ServeResults>('serve-results', join(out, t, 'results.json'))
      assert.equal(results.provenance.backend, 'external')
      // the server's answers say it is the simulator: so do the results
      assert.equal(results.provenance.simulated, true)
      assert.ok(results.provenance.warnings.some((w) => w.startsWith('SIMULATED')))
      assert.match(results.provenance.notes ?? '', new RegExp(`external server ${running.url}`))
      assert.deepEqual(
        results.runs.map((x) => x.id),
        ['mix1|sim-eclip|bmix|external'],
      )
      const [run] = results.runs
      assert.ok(run)
      assert.equal(run.policy, null)
      assert.equal(run.transport, t)
      assert.equal(run.config, undefined)
      assert.deepEqual(
        {
          label: run.external?.label,
          url: run.external?.url,
          name: run.external?.server.name,
          pids: run.external?.serverPids,
        },
        { label: 'sim-eclip', url: running.url, name: 'eclip', pids: [process.pid] },
      )
      assert.ok(run.external?.server.extensions.includes('system_shared_memory'))
      assert.deepEqual(
        run.workers.map((w) => w.served),
        ['albert-0', 'albert-1', 'densenet201-0'],
      )
      for (const w of run.workers) {
        assert.ok(w.requests > 0 && w.throughputRps > 0, `${t} ${w.name}`)
        assert.equal(w.errorsTotal, 0, run.notes.join('; '))
        // served ÷ bench against the bench's baseline run of mix1
        assert.ok((w.servedVsBench ?? 0) > 0, `${t} ${w.name}`)
      }
      assert.equal(run.bench?.runId, results.runs[0]?.bench?.runId)
      assert.match(run.bench?.runId ?? '', /baseline/)
      assert.equal(run.bench?.policy, 'baseline')
      // energy from the metrics URL at the window's edges; the server's event loop is not serve-bench's
      assert.ok((run.metrics.energyJ ?? 0) > 0)
      assert.equal(run.metrics.energySource, 'simulated')
      assert.equal(run.metrics.eventLoopUtilisation, null)
      assert.equal(run.metrics.throughputVsBaseline, null)
      const cpu = run.notes.find((n) => n.startsWith('host CPU'))
      assert.match(cpu ?? '', /server [\d.]+ cores/)
      assert.ok(run.notes.some((n) => n.includes(`server CPU: processes ${process.pid}`)))
    }
    assert.match(ok.stdout, /Sustained throughput per worker, requests\/s .*\nmix +sim-eclip/)
    assert.match(ok.stdout, /Served ÷ bench: .*the bench's baseline/)
  })

  it("a mix's one worker of a model goes to the model's own name where its served name is not there", async () => {
    const out = join(dir, 'plain')
    const r = await serveBench([
      ...['--url', running.url, '--label', 'plain', '--mix', 'mix3'],
      ...['--duration', '0.3', '--warmup', '0.1', '--out', out],
    ])
    assert.equal(r.status, 0, r.stderr)
    const [run] = readFile<ServeResults>('serve-results', join(out, 'results.json')).runs
    assert.deepEqual(
      run?.workers.map((w) => w.served),
      ['albert-0', 'densenet201-0', 'vgg19'],
    )
    assert.ok(run?.workers.every((w) => w.requests > 0 && w.errorsTotal === 0))
  })

  it('--repeats 3: three windows of it back to back, each a run under its label', async () => {
    const out = join(dir, 'repeats')
    const r = await serveBench([
      ...['--url', running.url, '--label', 'there', '--mix', 'mix1', '--repeats', '3'],
      ...['--duration', '0.3', '--warmup', '0.1', '--out', out],
    ])
    assert.equal(r.status, 0, r.stderr)
    const results = readFile<ServeResults>('serve-results', join(out, 'results.json'))
    assert.deepEqual(
      results.runs.map((x) => x.id),
      [1, 2, 3].map((k) => `mix1|there|bmix|external|s1w${k}`),
    )
    assert.ok(results.runs.every((x) => x.workers.every((w) => w.requests > 0)))
    assert.match(
      results.provenance.notes ?? '',
      /3 windows back to back after one warm-up per server start, 1 server \(external\)/,
    )
    assert.match(
      r.stdout,
      /\nmix1 there: 1 server start, 3 windows; Σ req\/s within a server \d+\.\d%, between servers not measured/,
    )
  })

  it('says the server CPU is not measured without --server-pids, and reads no energy without --metrics-url', async () => {
    const out = join(dir, 'bare')
    const r = await serveBench([
      ...['--url', running.url, '--mix', 'mix2', '--batch', '2'],
      ...['--duration', '0.2', '--warmup', '0.05', '--out', out],
    ])
    assert.equal(r.status, 0, r.stderr)
    const [run] = readFile<ServeResults>('serve-results', join(out, 'results.json')).runs
    assert.ok(run)
    assert.equal(run.id, 'mix2|external|b2|external')
    assert.ok(run.workers.every((w) => w.requests > 0))
    assert.equal(run.metrics.energyJ, null)
    assert.match(run.notes.find((n) => n.startsWith('host CPU')) ?? '', /server not measured/)
    assert.ok(run.notes.includes('no energy (no --metrics-url)'))
  })

  it('refuses, before any client starts: no server, a model missing, a batch the model refuses, serve flags', async () => {
    const port = await closedPort()
    const cases: [string[], RegExp][] = [
      [
        ['--url', `http://127.0.0.1:${port}`, '--mix', 'mix1'],
        new RegExp(`--url http://127.0.0.1:${port}: no server answers there \\(.*ECONNREFUSED`),
      ],
      [
        ['--url', running.url, '--mix', 'mix4'],
        /the server has no model "alexnet-0" or "alexnet" \(mix mix4; GET \/v2\/models\/alexnet-0 answered 404.*; GET \/v2\/models\/alexnet answered 404.*"resnet152-0" or "resnet152".*it has albert-0 \(READY\), albert-1 \(READY\), densenet201-0 \(READY\), vgg19 \(READY\)/,
      ],
      [
        ['--url', running.url, '--mix', 'mix1', '--batch', '4'],
        /model "albert-0" takes at most max_batch_size 2 items per request; mix mix1 sends 4/,
      ],
      [
        ['--url', running.url, '--mix', 'mix1', '--policies', 'eclip'],
        /--policies with --url: serve-bench starts no server/,
      ],
      [
        ['--url', running.url, '--mix', 'mix1', '--backend', 'gpu', '--queue-size', '4'],
        /--backend, --queue-size with --url/,
      ],
      [
        ['--url', running.url, '--mix', 'mix1', '--transport', 'grpc'],
        /--grpc-url host:port \(Triton's: 8001\)/,
      ],
      [['--url', running.url, '--mix', 'mix1', '--label', 'baseline'], /--label baseline: a policy's name/],
      [['--mix', 'mix1', '--server-pids', '1'], /--server-pids: only with --url/],
      [
        ['--url', running.url, '--mix', 'mix1', '--batch', '1', '--bench', BENCH],
        /--bench .*no closed-loop gpu \(nor sim\) run at batch 1 for mix1 baseline/,
      ],
    ]
    for (const [args, why] of cases) {
      const out = join(dir, 'refused')
      const r = await serveBench([...args, '--duration', '0.2', '--warmup', '0.05', '--out', out])
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`)
      assert.match(r.stderr, why)
      assert.doesNotMatch(r.stderr, /\[1\/1\]/, 'no run started')
    }
  })
})

describe("ioFromMetadata: a model's tensors from KServe v2 metadata (Triton's shapes)", () => {
  const meta = (input: number[], datatype = 'FP16', output = [-1, 1000]) => ({
    name: 'm',
    versions: ['1'],
    platform: 'python',
    inputs: [{ name: 'input', datatype, shape: input }],
    outputs: [{ name: 'logits', datatype: 'FP16', shape: output }],
  })
  it('takes a -1 batch dimension (max_batch_size > 0) or a fixed one equal to the batch', () => {
    const want = {
      io: {
        inputs: [{ name: 'input', datatype: 'FP16', shape: [-1, 3, 224, 224] }],
        outputs: [{ name: 'logits', datatype: 'FP16', shape: [-1, 1000] }],
      },
    }
    assert.deepEqual(ioFromMetadata('m', meta([-1, 3, 224, 224]), 8), want)
    assert.deepEqual(ioFromMetadata('m', meta([8, 3, 224, 224], 'FP16', [8, 1000]), 8), want)
  })
  it('names what the clients cannot send: the batch contradicted, BYTES, a variable dimension, no shape', () => {
    const problems = (m: unknown, batch = 8) => {
      const r = ioFromMetadata('m', m, batch)
      return 'problems' in r ? r.problems.join('; ') : ''
    }
    assert.match(
      problems(meta([4, 3, 224, 224])),
      /model "m" input "input" has shape \[4,3,224,224\]: its first \(batch\) dimension 4 contradicts the run's batch 8/,
    )
    assert.match(
      problems(meta([-1, 1], 'BYTES')),
      /input "input" is BYTES: the clients generate BOOL, .* tensors only/,
    )
    assert.match(problems(meta([-1, -1])), /a variable dimension past the first/)
    assert.match(problems(meta([-1, 3], 'FP16', [1, 1000])), /output "logits" has shape \[1,1000\]/)
    assert.match(problems({ inputs: [], outputs: [] }), /its metadata lists no inputs/)
    assert.match(problems(meta([])), /has no dimensions/)
  })
})
