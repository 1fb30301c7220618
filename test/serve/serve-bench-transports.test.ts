// serve-bench's transports (src/serve-bench/clients/) on the simulator: system shared memory end to end (regions made,
// registered, named in every request, given back), gRPC once the server speaks it, the answers each transport
// accepts, served ÷ bench against a small recorded `eclip bench` file, and the clear errors (unknown transport,
// cuda-shm without a GPU, a bench file without the run asked for).
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import * as grpc from '@grpc/grpc-js'
import { type Results, readFile, type ServeResults } from '../../src/formats/index.ts'
import { inferenceService } from '../../src/serve/grpc/server.ts'
import { zooIO } from '../../src/serve/io-specs.ts'
import { timeBase } from '../../src/serve-bench/client-driver.ts'
import { type CudaShmSpec, cudaShmParts, openCudaShmClients } from '../../src/serve-bench/clients/cuda-shm.ts'
import {
  checkGrpcAnswer,
  checkGrpcStreamAnswer,
  grpcInferRequest,
  grpcServiceClient,
  httpStatusOf,
  serializedInferRequest,
  streamSlot,
} from '../../src/serve-bench/clients/grpc.ts'
import { requestTensors } from '../../src/serve-bench/clients/index.ts'
import type { ClientModel } from '../../src/serve-bench/clients/load.ts'
import { checkShmAnswer, shmInferRequest } from '../../src/serve-bench/clients/shm.ts'
import { serveBenchRun } from '../../src/serve-bench/serve-bench.ts'
import { testServer, withCudaShmFake } from './helpers.ts'

const bin = join(import.meta.dirname, '..', '..', 'bin', 'eclip.mjs')
const BENCH = join(import.meta.dirname, 'fixtures', 'bench-mix1-sim.json')
const tmp = () => mkdtempSync(join(tmpdir(), 'eclip-sb-transports-'))
const leftovers = () =>
  existsSync('/dev/shm') ? readdirSync('/dev/shm').filter((f) => f.startsWith('eclip-sb-')) : []
const cli = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [bin, 'serve-bench', ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
  })

describe('serve-bench --transport shm (system shared memory) on the simulator', () => {
  it('registers a region per client, names it in every request, and gives every region and file back', async () => {
    const before = leftovers()
    const dir = tmp()
    const { run, calls } = await serveBenchRun({
      mix: { name: 'two', workers: [{ model: 'alexnet' }, { model: 'albert' }] },
      policy: 'baseline',
      backend: 'sim',
      batch: 2,
      concurrency: 2,
      warmupS: 0.05,
      windowS: 0.3,
      seed: 1,
      transport: 'shm',
      configFile: join(dir, 'serve.json'),
    })
    assert.equal(run.transport, 'shm')
    assert.ok(
      run.notes.some((n) => /clients: .*system shared-memory regions/.test(n)),
      run.notes.join('; '),
    )
    for (const w of run.workers) {
      assert.ok(w.requests > 0, w.name)
      assert.equal(w.errorsTotal, 0, run.notes.join('; '))
      assert.ok((w.serverComputeUs ?? 0) > 0)
    }
    assert.equal(calls.length, 2)
    assert.deepEqual(leftovers(), before, 'every client file is removed')
  })

  it('lays out a region (inputs, then outputs, aligned) and checks answers that name it', () => {
    const io = zooIO('alexnet', 'fp16')
    assert.ok(io)
    const { inputs, outputs } = requestTensors(io, 2, () => 0.5)
    const req = shmInferRequest('r', inputs, outputs)
    assert.deepEqual(req.inputAt, [0])
    assert.equal(req.outputAt[0], 2 * 3 * 224 * 224 * 2) // already a multiple of 64
    assert.equal(req.byteSize, (req.outputAt[0] as number) + 4032) // 4000 bytes of logits, aligned
    const head = JSON.parse(req.body.toString('utf8'))
    assert.deepEqual(head.inputs[0].parameters, {
      shared_memory_region: 'r',
      shared_memory_byte_size: 2 * 3 * 224 * 224 * 2,
      shared_memory_offset: 0,
    })
    assert.equal(head.inputs[0].data, undefined)
    const answer = (o: object, status = 200) =>
      checkShmAnswer(status, Buffer.from(JSON.stringify(o)), 'r', outputs, req.outputAt)
    const logits = {
      name: 'logits',
      datatype: 'FP16',
      shape: [2, 1000],
      parameters: {
        shared_memory_region: 'r',
        shared_memory_byte_size: 4000,
        shared_memory_offset: req.outputAt[0],
      },
    }
    assert.equal(answer({ outputs: [logits], parameters: { queue_us: 1, compute_us: 2 } }).computeUs, 2)
    assert.match(
      answer({ outputs: [{ ...logits, parameters: { ...logits.parameters, shared_memory_region: 'x' } }] })
        .error ?? '',
      /answered in region x/,
    )
    // Triton names no region for an output it wrote where the request asked
    assert.equal(answer({ outputs: [{ ...logits, parameters: {} }] }).ok, true)
    assert.match(answer({ outputs: [] }).error ?? '', /output "logits" missing/)
    assert.equal(answer({ outputs: [], parameters: { simulated: true } }).ok, true)
    assert.equal(
      answer({ error: "unknown shared memory region 'r'" }, 400).error,
      "HTTP 400: unknown shared memory region 'r'",
    )
  })
})

describe('serve-bench --transport grpc on the simulator', () => {
  for (const [transport, rpc] of [
    ['grpc', /clients: KServe v2 gRPC, raw_input_contents/],
    ['grpc-stream', /clients: KServe v2 gRPC ModelStreamInfer/],
  ] as const)
    it(`${transport}: sends its requests with raw_input_contents over a channel per client; every answer checked`, async () => {
      const { run } = await serveBenchRun({
        mix: { name: 'two', workers: [{ model: 'alexnet' }, { model: 'albert' }] },
        policy: 'baseline',
        backend: 'sim',
        batch: null,
        concurrency: 2,
        warmupS: 0.05,
        windowS: 0.3,
        seed: 1,
        transport,
        configFile: join(tmp(), 'serve.json'),
      })
      assert.equal(run.transport, transport)
      assert.ok(
        run.notes.some((n) => rpc.test(n)),
        run.notes.join('; '),
      )
      for (const w of run.workers) {
        assert.ok(w.requests > 0, w.name)
        assert.equal(w.errorsTotal, 0, run.notes.join('; '))
        assert.ok((w.serverComputeUs ?? 0) > 0, 'compute_us comes back as a response parameter')
      }
    })

  // a full queue is a refusal (429) over every transport: gRPC says UNAVAILABLE for it as for a backend not ready
  for (const transport of ['http', 'grpc', 'grpc-stream'] as const)
    it(`${transport}: a request refused for a full queue is counted refused, not failed`, async () => {
      const { run, calls } = await serveBenchRun({
        // albert's requests are small (token ids), so the clients keep up on a small host; 800 requests/s are more than
        // the simulator's albert at batch 8 runs, so many find the queue of one full
        mix: { name: 'flood', workers: [{ model: 'albert', arrival: { kind: 'poisson', rate: 800 } }] },
        policy: 'baseline',
        backend: 'sim',
        batch: 8,
        concurrency: 1,
        // a warm-up and window long enough for a loaded host's client to connect and send (under load a 0.6-s
        // window once passed with none sent)
        warmupS: 1,
        windowS: 1,
        seed: 1,
        queueSize: 1,
        maxOutstanding: 16,
        transport,
        configFile: join(tmp(), 'serve.json'),
      })
      const statuses = new Set((calls[0] ?? []).map((c) => c.status))
      assert.deepEqual([...statuses].sort(), [200, 429], run.notes.join('; '))
      const [w] = run.workers
      assert.ok((w?.open?.refused ?? 0) > 0, JSON.stringify(w?.open))
      assert.deepEqual(Object.keys(w?.errorStatuses ?? {}), ['429'])
    })

  it('builds the request from the same tensors and checks raw_output_contents against the outputs asked for', () => {
    const io = zooIO('alexnet', 'fp16')
    assert.ok(io)
    const { inputs, outputs } = requestTensors(io, 2, () => 0.5)
    const req = grpcInferRequest('alexnet-0', inputs, outputs)
    assert.deepEqual(req.inputs, [{ name: 'input', datatype: 'FP16', shape: [2, 3, 224, 224] }])
    assert.equal(req.raw_input_contents[0]?.length, 2 * 3 * 224 * 224 * 2)
    // made once and sent as it is: the server's own decoder reads back the same request, bytes and all
    const bytes = serializedInferRequest(grpcServiceClient(), req)
    const back = inferenceService().ModelInfer?.requestDeserialize(bytes) as typeof req
    assert.equal(back.model_name, 'alexnet-0')
    assert.deepEqual(
      back.inputs.map(({ name, datatype, shape }) => ({ name, datatype, shape })),
      req.inputs,
    )
    assert.deepEqual(back.outputs[0]?.name, 'logits')
    assert.ok(
      Buffer.from(back.raw_input_contents[0] as Uint8Array).equals(
        Buffer.from(inputs[0]?.data as Uint8Array),
      ),
    )
    const out = { name: 'logits', datatype: 'FP16', shape: ['2', 1000] } // int64 may come as a string
    const ok = checkGrpcAnswer(
      {
        outputs: [out],
        raw_output_contents: [Buffer.alloc(4000)],
        parameters: { compute_us: { int64_param: 7 } },
      },
      outputs,
    )
    assert.deepEqual([ok.ok, ok.computeUs], [true, 7])
    assert.match(
      checkGrpcAnswer({ outputs: [out], raw_output_contents: [Buffer.alloc(10)] }, outputs).error ?? '',
      /10 raw bytes, expected 4000/,
    )
    assert.match(checkGrpcAnswer({ outputs: [] }, outputs).error ?? '', /output "logits" missing/)
    assert.equal(
      checkGrpcAnswer({ parameters: { simulated: { bool_param: true } } }, outputs).simulated,
      true,
    )
    assert.deepEqual(
      [
        httpStatusOf(0),
        httpStatusOf(3),
        httpStatusOf(8),
        httpStatusOf(14, 'model "a-0" is not ready'),
        httpStatusOf(14, 'model "a-0": queue full (4 requests waiting); retry later'),
      ],
      [200, 400, 413, 503, 429],
    )
    // a stream's failed answer: the status eclip's server names, else Triton's queue-full words, else 500
    const streamStatus = (error_message: string, code?: number) =>
      checkGrpcStreamAnswer(
        {
          error_message,
          ...(code === undefined
            ? {}
            : { infer_response: { parameters: { grpc_status: { int64_param: code } } } }),
        },
        outputs,
      ).status
    assert.deepEqual(
      [
        streamStatus('model "a-0": queue full (4 requests waiting); retry later', 14),
        streamStatus('Exceeds maximum queue size'),
        streamStatus('model "a-0" is not ready', 14),
        streamStatus('something failed'),
      ],
      [429, 429, 503, 500],
    )
  })
})

describe('serve-bench --transport grpc-stream', () => {
  it('keeps a stream for the next request; one that timed out is closed and the next opens another', async () => {
    // a stand-in server: no answer to its first request, a failure message to its second, an answer to the rest
    const perStream: number[] = []
    let seen = 0
    const server = new grpc.Server()
    server.addService(inferenceService(), {
      ModelStreamInfer: (call: grpc.ServerDuplexStream<unknown, unknown>) => {
        const k = perStream.push(0) - 1
        call.on('data', () => {
          perStream[k] = (perStream[k] ?? 0) + 1
          const n = seen++
          if (n === 1)
            call.write({
              error_message: 'model alexnet-0 is busy',
              infer_response: { parameters: { grpc_status: { int64_param: 14 } } },
            })
          else if (n >= 2) call.write({ infer_response: { parameters: { simulated: { bool_param: true } } } })
        })
        call.on('end', () => call.end())
        call.on('error', () => {})
      },
    })
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) =>
        e ? reject(e) : resolve(p),
      ),
    )
    const Service = grpcServiceClient()
    const client = new Service(`127.0.0.1:${port}`, grpc.credentials.createInsecure())
    try {
      const io = zooIO('alexnet', 'fp16')
      assert.ok(io)
      const { inputs, outputs } = requestTensors(io, 1, () => 0.5)
      const bytes = serializedInferRequest(Service, grpcInferRequest('alexnet-0', inputs, outputs))
      const slot = streamSlot(client, Service.service.ModelStreamInfer, bytes, outputs, 1000)
      const late = await slot.infer()
      assert.deepEqual([late.ok, late.status], [false, 0])
      assert.match(late.error ?? '', /no answer within 1000 ms/)
      const failed = await slot.infer()
      // the status a call would have had (UNAVAILABLE), as eclip's server adds it
      assert.deepEqual([failed.ok, failed.status, failed.error], [false, 503, 'model alexnet-0 is busy'])
      for (let i = 0; i < 3; i++) assert.equal((await slot.infer()).ok, true)
      assert.deepEqual(perStream, [1, 4]) // the timed-out stream closed; the next one kept for four requests
      slot.close()
    } finally {
      client.close()
      server.forceShutdown()
    }
  })
})

describe('serve-bench --transport cuda-shm, its Python client on host memory (no GPU)', () => {
  it('registers a CUDA region per client, runs the loops on the clients’ time base and reports every call', async () => {
    const { run, calls } = await withCudaShmFake(() =>
      serveBenchRun({
        mix: { name: 'one', workers: [{ model: 'alexnet' }] },
        policy: 'baseline',
        backend: 'sim',
        batch: 2,
        concurrency: 2,
        warmupS: 0.05,
        windowS: 0.4,
        seed: 1,
        transport: 'cuda-shm',
        configFile: join(tmp(), 'serve.json'),
      }),
    )
    assert.equal(run.transport, 'cuda-shm')
    const w = run.workers[0]
    assert.ok(w && w.requests > 0, run.notes.join('; '))
    assert.equal(w.errorsTotal, 0, run.notes.join('; '))
    assert.ok((w.serverComputeUs ?? 0) > 0)
    // the Python side's times are on the window's time base: the window's requests are among them, none from before
    const all = calls[0] ?? []
    assert.ok(all.every((c) => c.startMs >= 0 && c.endMs >= c.startMs))
    assert.ok(all.some((c) => c.endMs > run.warmupS * 1000 + run.windowS * 500))
  })
})

describe("the cuda-shm client processes: a model's closed-loop clients split, at most 4 to a process", () => {
  const alexnet = { name: 'alexnet', io: { inputs: [], outputs: [] }, batch: 1 } as unknown as ClientModel
  const parts = (o: Partial<CudaShmSpec>) =>
    cudaShmParts({ url: 'http://x', models: [alexnet, alexnet], seed: 1, concurrency: 1, ...o })

  it('splits closed-loop clients evenly over the fewest processes of ≤ 4', () => {
    assert.deepEqual(parts({ concurrency: 4 }), [
      { model: 0, slots: 4 },
      { model: 1, slots: 4 },
    ])
    assert.deepEqual(
      parts({ concurrency: 9, share: [9, 0] }),
      [3, 3, 3].map((slots) => ({ model: 0, slots })),
    )
    assert.deepEqual(
      parts({ concurrency: 6, share: [0, 6] }),
      [3, 3].map((slots) => ({ model: 1, slots })),
    )
    assert.equal(parts({ concurrency: 12 }).length, 6)
  })

  it("keeps an open-loop model's schedule in one process", () => {
    assert.deepEqual(
      parts({
        concurrency: 12,
        maxOutstanding: 10,
        plans: [{ kind: 'open', atMs: [1, 2] }, { kind: 'closed' }],
      }),
      [{ model: 0, slots: 10 }, ...[4, 4, 4].map((slots) => ({ model: 1, slots }))],
    )
  })

  it('serves a model from two client processes and merges their calls in the order they ended', async () => {
    const server = await testServer([{ name: 'alexnet-0', model: 'alexnet', computeUs: 300 }])
    try {
      const url = await server.listen(0, '127.0.0.1')
      const models = server.opts.models.map((m) => ({ name: m.name, io: m.io, batch: m.batch }))
      await withCudaShmFake(async () => {
        const load = await openCudaShmClients({ url, models, seed: 1, concurrency: 6 })
        try {
          assert.equal(load.pids.length, 2, 'six clients: two Python processes of three')
          load.start(timeBase(process.hrtime.bigint()))
          await new Promise((r) => setTimeout(r, 300))
          const [calls] = await load.stop()
          assert.ok(
            calls && calls.length > 10 && calls.every((c) => c.ok),
            JSON.stringify(calls?.slice(0, 3)),
          )
          const ends = calls.map((c) => c.endMs)
          assert.deepEqual(
            ends,
            [...ends].sort((a, b) => a - b),
          )
        } finally {
          await load.close()
        }
      })
    } finally {
      await server.close()
    }
  })
})

describe('cuda-shm sent by Node clients (--cuda-shm-sender node), regions held by one Python process per model', () => {
  it('sends every request from Node naming the regions Python registered, and gives them back at the end', async () => {
    const server = await testServer([{ name: 'alexnet-0', model: 'alexnet', computeUs: 300 }])
    try {
      const url = await server.listen(0, '127.0.0.1')
      const models = server.opts.models.map((m) => ({ name: m.name, io: m.io, batch: m.batch }))
      const status = async () =>
        JSON.parse(await (await fetch(`${url}/v2/cudasharedmemory/status`)).text()) as { name: string }[]
      await withCudaShmFake(async () => {
        const load = await openCudaShmClients({ url, models, seed: 1, concurrency: 6, cudaShmSender: 'node' })
        try {
          assert.equal(load.pids.length, 1, 'one Python process holds the six regions')
          assert.equal((await status()).length, 6)
          load.start(timeBase(process.hrtime.bigint()))
          await new Promise((r) => setTimeout(r, 300))
          const [calls] = await load.stop()
          assert.ok(
            calls && calls.length > 10 && calls.every((c) => c.ok && c.computeUs !== null),
            JSON.stringify(calls?.slice(0, 3)),
          )
        } finally {
          await load.close()
        }
        assert.deepEqual(await status(), [], 'every region unregistered')
      })
    } finally {
      await server.close()
    }
  })

  it('is refused without --transport cuda-shm', () => {
    const r = cli(['--cuda-shm-sender', 'node', '--mix', 'mix1', '--profiles', 'synthetic', '--out', tmp()])
    assert.equal(r.status, 2)
    assert.match(r.stderr, /--cuda-shm-sender is for --transport cuda-shm/)
  })
})

describe('serve-bench --bench: served ÷ bench', () => {
  it('divides each served rate by the bench run of the same mix, policy and batch, and the mix in all', () => {
    const out = tmp()
    // the fixture's eclip run with an STP ratio of its own, so that the STP table cannot show the mean of ratios
    const benchFile = join(out, 'bench.json')
    const fixture = readFile<Results>('results', BENCH)
    const ecRun = fixture.runs.find((x) => x.mix === 'mix1' && x.policy === 'eclip' && x.metrics.system)
    assert.ok(ecRun?.metrics.system)
    ecRun.metrics.system.stpVsBaseline = 0.777
    writeFileSync(benchFile, JSON.stringify(fixture))
    const r = cli([
      '--mix',
      'mix1',
      '--policies',
      'eclip',
      '--profiles',
      'synthetic',
      '--duration',
      '0.3',
      '--warmup',
      '0.05',
      '--bench',
      benchFile,
      '--out',
      out,
    ])
    assert.equal(r.status, 0, r.stderr)
    const results = readFile<ServeResults>('serve-results', join(out, 'results.json'))
    const bench = readFile<Results>('results', benchFile)
    for (const run of results.runs) {
      assert.equal(run.transport, 'http')
      const b = bench.runs.find((x) => x.mix === 'mix1' && x.policy === run.policy)
      assert.ok(b && run.bench)
      assert.equal(run.bench.runId, b.id)
      assert.equal(run.bench.benchThroughputVsBaseline, b.metrics.throughputVsBaseline)
      assert.equal(run.bench.benchStpVsBaseline, b.metrics.system?.stpVsBaseline)
      const benchTotal = b.workers.reduce((a, w) => a + w.throughputRps, 0)
      const served = run.workers.reduce((a, w) => a + w.throughputRps, 0)
      assert.ok(Math.abs((run.bench.servedVsBench as number) - served / benchTotal) < 1e-9)
      for (const w of run.workers) {
        const bw: { throughputRps: number } | undefined = b.workers.find((x) => x.name === w.name)
        assert.equal(w.benchRps, bw?.throughputRps)
        assert.ok(
          Math.abs((w.servedVsBench as number) - w.throughputRps / (bw?.throughputRps as number)) < 1e-9,
        )
      }
    }
    assert.match(r.stdout, /Served ÷ bench: Σ served req\/s/)
    assert.match(
      r.stdout,
      /Throughput vs baseline \(mean over workers: read it beside STP\), served \(bench\)/,
    )
    assert.match(r.stdout, /^mix1 +1\.00 \(1\.00\) +\d\.\d\d \(0\.81\)$/m)
    // the bench's STP ratio beside the served one, in its own table
    const from = r.stdout.indexOf("STP ÷ baseline's STP, served (bench")
    const stpTable = r.stdout.slice(from, r.stdout.indexOf('\n\n', from))
    assert.match(stpTable, /^mix1 +1\.00 \(1\.00\) +\d\.\d\d \(0\.78\)$/m)
    assert.match(r.stdout, /^transport http: /m)
  })

  it('refuses a bench file without the mix, policy or batch asked for, before any run', () => {
    const r = cli([
      '--mix',
      'mix2',
      '--policies',
      'eclip',
      '--profiles',
      'synthetic',
      '--bench',
      BENCH,
      '--out',
      tmp(),
    ])
    assert.equal(r.status, 2, r.stderr)
    assert.match(
      r.stderr,
      /--bench .*bench-mix1-sim\.json: no closed-loop sim run at batch the mix's for mix2 baseline, mix2 eclip \(the file has mix1 baseline bmix sim, mix1 eclip bmix sim\)/,
    )
    const b = cli([
      '--mix',
      'mix1',
      '--batch',
      '8',
      '--profiles',
      'synthetic',
      '--bench',
      BENCH,
      '--out',
      tmp(),
    ])
    assert.match(b.stderr, /no closed-loop sim run at batch 8 for mix1 baseline, mix1 eclip/)
  })
})

describe('serve-bench --transport http,grpc,shm: one server per mix and policy, a results directory per transport', () => {
  it('measures each transport in turn against the same server', () => {
    const out = tmp()
    const r = cli([
      '--mix',
      'mix1',
      '--policies',
      'baseline,eclip',
      '--profiles',
      'synthetic',
      '--transport',
      'http,grpc,shm',
      '--duration',
      '0.3',
      '--warmup',
      '0.05',
      '--out',
      out,
    ])
    assert.equal(r.status, 0, r.stderr)
    // one server start-up per (mix, policy), whatever the transports
    assert.equal((r.stderr.match(/eclip serve-bench: \[\d\/2\]/g) ?? []).length, 2, r.stderr)
    for (const t of ['http', 'grpc', 'shm']) {
      const results = readFile<ServeResults>('serve-results', join(out, t, 'results.json'))
      assert.deepEqual(
        results.runs.map((x) => [x.policy, x.transport]),
        [
          ['baseline', t],
          ['eclip', t],
        ],
      )
      for (const run of results.runs) {
        assert.equal(run.metrics.errorsTotal, 0, `${t} ${run.policy}`)
        assert.ok(run.metrics.requests > 0, `${t} ${run.policy}`)
        assert.ok(run.config && existsSync(join(out, t, run.config)), run.config)
      }
      // ratios to the baseline measured over the same transport
      assert.ok(results.runs.every((x) => x.metrics.throughputVsBaseline !== null))
      assert.match(readFileSync(join(out, t, 'report.txt'), 'utf8'), new RegExp(`^transport ${t}: `, 'm'))
    }
  })
})

describe('serve-bench transport errors', () => {
  it('an unknown transport is refused with the choices', () => {
    const r = cli(['--transport', 'carrier-pigeon', '--out', tmp()])
    assert.notEqual(r.status, 0)
    assert.match(r.stderr, /--transport.*carrier-pigeon.*http, grpc, grpc-stream, shm, cuda-shm/s)
    const twice = cli(['--transport', 'shm,http,shm', '--out', tmp()])
    assert.equal(twice.status, 2)
    assert.match(twice.stderr, /--transport: "shm,http,shm" names a transport twice/)
  })

  it('cuda-shm without a GPU says so before any run', () => {
    const python = existsSync(join(import.meta.dirname, '..', '..', '.venv', 'bin', 'python'))
      ? join(import.meta.dirname, '..', '..', '.venv', 'bin', 'python')
      : 'python3'
    const r = cli(['--transport', 'cuda-shm', '--mix', 'mix1', '--profiles', 'synthetic', '--out', tmp()], {
      ECLIP_PYTHON: python,
    })
    if (r.status === 0) return // a machine with a GPU: nothing to refuse
    assert.equal(r.status, 2, r.stderr)
    assert.match(
      r.stderr,
      /--transport cuda-shm: the client needs a CUDA GPU here: (cuda-bindings is not installed|no CUDA device)/,
    )
  })
})
