// serve-bench's clients over several processes (--client-processes): how a run's clients split (by model, then a
// closed-loop model's clients; an open-loop schedule whole), runs on the simulator with one and several processes
// over every transport (no errors, every model served, the window's calls on one time base, each model's merged log
// in order), and a client process that dies failing the run with its name, not a hang.
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { UserError } from '../../src/formats/errors.ts'
import { readFile, type ServeResults } from '../../src/formats/index.ts'
import { timeBase } from '../../src/serve-bench/client-driver.ts'
import { ClientPool, describeShares, mergeCalls } from '../../src/serve-bench/client-pool.ts'
import { clientUnits, DEFAULT_CLIENT_PROCESSES, splitClients } from '../../src/serve-bench/client-shares.ts'
import type { Call, Transport } from '../../src/serve-bench/clients/index.ts'
import {
  CLIENT_BOUND_CORES,
  clientBoundNote,
  cpuSnapshot,
  type HostCpu,
} from '../../src/serve-bench/host-cpu.ts'
import { type ServeBenchSpec, serveBenchRun } from '../../src/serve-bench/serve-bench.ts'
import { testServer, withCudaShmFake } from './helpers.ts'

const bin = join(import.meta.dirname, '..', '..', 'bin', 'eclip.mjs')
const tmp = () => mkdtempSync(join(tmpdir(), 'eclip-sb-pool-'))
const leftovers = () =>
  existsSync('/dev/shm') ? readdirSync('/dev/shm').filter((f) => f.startsWith('eclip-sb-')) : []

describe('splitting a run’s clients over client processes', () => {
  const closed = { concurrency: 4 }
  it('deals whole models while there are no more processes than models', () => {
    assert.deepEqual(splitClients(closed, 3, 1), [[4, 4, 4]])
    assert.deepEqual(splitClients(closed, 3, 2), [
      [4, 0, 4],
      [0, 4, 0],
    ])
    assert.deepEqual(splitClients(closed, 3, 3), [
      [4, 0, 0],
      [0, 4, 0],
      [0, 0, 4],
    ])
  })

  it('splits a closed-loop model’s clients when there are more processes than models', () => {
    assert.deepEqual(splitClients(closed, 3, 4), [
      [2, 0, 0],
      [2, 0, 0],
      [0, 4, 0],
      [0, 0, 4],
    ])
    assert.deepEqual(splitClients({ concurrency: 3 }, 3, 5), [
      [2, 0, 0],
      [1, 0, 0],
      [0, 2, 0],
      [0, 1, 0],
      [0, 0, 3],
    ])
    // never more processes than clients: one client each at most
    assert.deepEqual(splitClients({ concurrency: 2 }, 2, 9), [
      [1, 0],
      [1, 0],
      [0, 1],
      [0, 1],
    ])
  })

  it('keeps an open-loop model’s schedule in one process, with all its slots', () => {
    const s = {
      concurrency: 2,
      maxOutstanding: 16,
      plans: [{ kind: 'open' as const, atMs: [1, 2] }, { kind: 'closed' as const }],
    }
    assert.equal(clientUnits(s, 2), 3)
    assert.deepEqual(splitClients(s, 2, 8), [
      [16, 0],
      [0, 1],
      [0, 1],
    ])
    // every slot of every model is in exactly one share
    for (let n = 1; n <= 6; n++) {
      const shares = splitClients(s, 2, n)
      assert.deepEqual(
        [0, 1].map((i) => shares.reduce((a, sh) => a + (sh[i] as number), 0)),
        [16, 2],
      )
      assert.ok(
        shares.every((sh) => sh.some((k) => k > 0)),
        `n=${n}: no idle process`,
      )
    }
  })

  it('defaults to one process driving every model', () => {
    assert.equal(DEFAULT_CLIENT_PROCESSES, 1)
  })

  it('times every process on one base: ms from an instant on CLOCK_MONOTONIC', () => {
    const at = timeBase(process.hrtime.bigint() - 5_000_000n) // 5 ms ago
    const t = at()
    assert.ok(t >= 5 && t < 1000, String(t))
  })

  it('merges each model’s calls from every process in the order they ended, and says who drove what', () => {
    const call = (endMs: number): Call => ({
      startMs: endMs - 1,
      endMs,
      status: 200,
      ok: true,
      simulated: true,
      queueUs: null,
      computeUs: null,
      error: null,
    })
    const merged = mergeCalls(
      [{ calls: [[call(1), call(4)], []] }, { calls: [[call(2), call(3)], [call(5)]] }],
      2,
    )
    assert.deepEqual(
      merged.map((cs) => cs.map((c) => c.endMs)),
      [[1, 2, 3, 4], [5]],
    )
    assert.equal(
      describeShares(
        [
          [2, 0],
          [0, 2],
        ],
        ['a', 'b'],
      ),
      "2 client processes drove the load (a ×2 | b ×2; ×: closed-loop clients or open-loop slots; the first read /metrics at the window's edges)",
    )
  })
})

/** A served run of three alexnets on the simulator, its clients in `n` processes. */
const run = (n: number, transport: Transport = 'http', extra: Partial<ServeBenchSpec> = {}) =>
  serveBenchRun({
    mix: { name: 'three', workers: [{ model: 'alexnet' }, { model: 'alexnet' }, { model: 'alexnet' }] },
    policy: 'baseline',
    backend: 'sim',
    batch: 1,
    concurrency: 2,
    warmupS: 0.1,
    windowS: 0.4,
    seed: 1,
    transport,
    clientProcesses: n,
    configFile: join(tmp(), 'serve.json'),
    ...extra,
  })

/** What every run must show: no errors, every model served, one time base, each model's log in order. */
function checkRun(r: Awaited<ReturnType<typeof run>>, processes: number) {
  const { run: sr, calls } = r
  const notes = sr.notes.join('; ')
  assert.ok(
    sr.notes.some((x) =>
      x.startsWith(`${processes} client process${processes === 1 ? '' : 'es'} drove the load (`),
    ),
    notes,
  )
  assert.equal(sr.metrics.errorsTotal, 0, notes)
  const from = sr.warmupS * 1000
  const to = from + sr.windowS * 1000
  for (const [i, w] of sr.workers.entries()) {
    const cs = calls[i] ?? []
    assert.ok(w.requests > 0, `${w.name}: ${notes}`)
    // counted: exactly the calls that ended in the window
    assert.equal(cs.filter((c) => c.ok && c.endMs > from && c.endMs <= to).length, w.requests)
    // one time base: every process's first requests went out at its start, none before, none long after the end
    assert.ok(
      cs.every((c) => c.startMs >= 0 && c.endMs >= c.startMs),
      w.name,
    )
    assert.ok(Math.min(...cs.map((c) => c.startMs)) < from, `${w.name} started in the warm-up`)
    assert.ok(Math.max(...cs.map((c) => c.endMs)) < to + 1000, `${w.name} stopped after the window`)
    // the merged log in the order requests ended: each client's requests in its own order
    assert.ok(
      cs.every((c, k) => k === 0 || c.endMs >= (cs[k - 1] as Call).endMs),
      `${w.name}: end times monotone`,
    )
  }
}

describe('serve-bench --client-processes on the simulator', () => {
  it('one process drives every model, as before', async () => {
    const r = await run(1)
    checkRun(r, 1)
    assert.ok(
      r.run.notes.includes(
        "1 client process drove the load (alexnet-0 ×2, alexnet-1 ×2, alexnet-2 ×2; ×: closed-loop clients or open-loop slots; the first read /metrics at the window's edges)",
      ),
      r.run.notes.join('; '),
    )
  })

  it('four processes: a model each, one split over two; the host CPU of all of them counted', async () => {
    const r = await run(4)
    checkRun(r, 4)
    assert.ok(
      r.run.notes.some((x) =>
        x.startsWith(
          '4 client processes drove the load (alexnet-0 ×1 | alexnet-0 ×1 | alexnet-1 ×2 | alexnet-2 ×2;',
        ),
      ),
      r.run.notes.join('; '),
    )
    if (process.platform === 'linux')
      assert.ok(
        r.run.notes.some(
          (n) =>
            /^host CPU in the window: .*clients (0\.\d*[1-9]\d*|[1-9][\d.]*),/.test(n) &&
            // every client process and its event loop read from /proc
            /; busiest client process \d+\.\d{3} \(busiest client event loop \d+\.\d{3}\)$/.test(n),
        ),
        r.run.notes.join('; '),
      )
  })

  it('more processes than clients: one per client', async () => {
    checkRun(await run(9, 'http', { concurrency: 1 }), 3)
  })

  it('system shared memory and gRPC split the same way; every region given back', async () => {
    const before = leftovers()
    checkRun(await run(4, 'shm'), 4)
    assert.deepEqual(leftovers(), before, 'every client file is removed')
    checkRun(await run(4, 'grpc'), 4)
  })

  it('cuda-shm: a Python client per model and process (its client on host memory, no GPU)', async () => {
    checkRun(await withCudaShmFake(() => run(4, 'cuda-shm')), 4)
  })

  it('open loop: each model’s schedule in one process, latency from the scheduled times', async () => {
    // a rate a loaded 2-core host keeps up with (two requests in flight a model): unsent counts what the client could
    // not send
    const r = await run(4, 'http', { rate: 50 })
    // three open-loop models: three processes, whatever was asked
    checkRun(r, 3)
    for (const w of r.run.workers) {
      assert.ok(w.open && w.open.scheduled > 0 && w.open.sent > 0, w.name)
      assert.equal(w.open.unsent, 0, w.name)
    }
  })
})

/** A listening server of two alexnets on the simulator, and its models as the clients see them. */
async function twoAlexnets() {
  const server = await testServer([
    { name: 'alexnet-0', model: 'alexnet', computeUs: 500 },
    { name: 'alexnet-1', model: 'alexnet', computeUs: 500 },
  ])
  const url = await server.listen(0, '127.0.0.1')
  return { server, url, models: server.opts.models.map((m) => ({ name: m.name, io: m.io, batch: m.batch })) }
}

describe('the client processes’ host CPU', () => {
  it('counts every client process and its helpers', async () => {
    const { server, url, models } = await twoAlexnets()
    // the client processes take $ECLIP_PYTHON (the cuda-shm client's) from the environment they start in
    await withCudaShmFake(async () => {
      const pool = new ClientPool(2)
      try {
        let seen: number[] = []
        // read while every process still runs (they exit once they have handed their calls back)
        let cpu: { all: number; one: number } | null = null
        const { shares } = await pool.run(
          {
            url,
            models,
            concurrency: 1,
            warmupS: 0.05,
            windowS: 0.2,
            seed: 1,
            waitForEnergy: false,
            transport: 'cuda-shm',
          },
          (e) => {
            if (e === 'window-start') seen = pool.pids()
            if (e === 'window-end' && process.platform === 'linux')
              cpu = {
                all: cpuSnapshot({ clients: seen }).clients as number,
                one: cpuSnapshot({ clients: seen.slice(0, 1) }).clients as number,
              }
          },
        )
        assert.deepEqual(shares, [
          [1, 0],
          [0, 1],
        ])
        // two client processes, each with the Python client of its model
        assert.equal(new Set(seen).size, 4, String(seen))
        if (process.platform === 'linux') {
          const { all, one } = cpu ?? { all: 0, one: 0 }
          assert.ok(all > one, `${all} > ${one}`)
        }
      } finally {
        await pool.close()
        await server.close()
      }
    })
  })
})

describe('a window the clients may have set', () => {
  const cpu = (
    clients: number | null,
    busiestClient: number | null = null,
    busiestClientLoop: number | null = null,
  ): HostCpu => ({
    cores: { server: 1, eventLoop: 0.9, clients, busiestClient, busiestClientLoop, backend: 1 },
    msPerRequest: { server: 0.1, eventLoop: 0.09 },
    syscallsPerRequest: null,
  })

  it('is noted when the client processes were a core busy each, and only then', () => {
    assert.equal(CLIENT_BOUND_CORES, 0.95)
    assert.match(
      clientBoundNote(cpu(0.98), 1) ?? '',
      /^the one client process was 0\.98 of a core busy in the window: the clients, not the server, may have set its rate/,
    )
    assert.match(
      clientBoundNote(cpu(2.9), 3) ?? '',
      /^the 3 client processes were 0\.97 of a core busy each in/,
    )
    assert.equal(clientBoundNote(cpu(0.89), 1), null)
    assert.equal(clientBoundNote(cpu(2.9), 4), null)
  })

  it('is noted when one process was a core busy though their mean was not', () => {
    assert.match(
      clientBoundNote(cpu(2.4, 0.99), 3) ?? '',
      /^the busiest of the 3 client processes was 0\.99 of a core busy \(0\.80 each on average\) in the window/,
    )
    assert.equal(clientBoundNote(cpu(2.4, 0.9), 3), null)
    assert.match(clientBoundNote(cpu(2.4, 0.95), 3) ?? '', /^the busiest of the 3 client processes was 0\.95/)
    assert.match(
      clientBoundNote(cpu(3, 1.1), 3) ?? '',
      /^the 3 client processes were 1\.00 of a core busy each \(the busiest 1\.10\) in the window/,
    )
  })

  it('goes by the busiest event loop where the loops were read', () => {
    assert.match(
      clientBoundNote(cpu(2.4, 1.4, 0.97), 3) ?? '',
      /^the busiest of the 3 client processes' event loops was 0\.97 of a core busy \(0\.80 cores per process on average; the busiest process 1\.40\) in the window/,
    )
    assert.match(
      clientBoundNote(cpu(1.2, 1.2, 0.96), 1) ?? '',
      /^the one client process's event loop was 0\.96 of a core busy in the window/,
    )
    // a process past one core with its helper threads, its event loop not saturated: no note
    assert.equal(clientBoundNote(cpu(4.2, 2.2, 0.8), 3), null)
    assert.equal(clientBoundNote(cpu(1.2, 1.2, 0.94), 1), null)
  })

  it('is not noted where the clients’ CPU was not read or includes helpers of their own (cuda-shm: null)', () => {
    assert.equal(clientBoundNote(cpu(null), 1), null)
    assert.equal(clientBoundNote(cpu(3.5), null), null)
    assert.equal(clientBoundNote(cpu(1, 1.2), null), null)
  })
})

describe('a client process that fails', () => {
  it('dying in the window fails the run, naming it, at once', async () => {
    const { server, url, models } = await twoAlexnets()
    const pool = new ClientPool(2)
    try {
      const t0 = performance.now()
      const pids = pool.pids()
      const running = pool.run(
        {
          url,
          models,
          concurrency: 2,
          warmupS: 0.05,
          windowS: 30,
          seed: 1,
          waitForEnergy: false,
        },
        (e) => {
          if (e === 'window-start') process.kill(pids[1] as number, 'SIGKILL')
        },
      )
      await assert.rejects(
        running,
        new RegExp(
          `^ClientProcessError: serve-bench client process 2 of 2 \\(pid ${pids[1]}: alexnet-1 ×2\\) exited \\(signal SIGKILL\\) before it finished$`,
        ),
      )
      assert.ok(performance.now() - t0 < 15_000, 'no wait for the window')
    } finally {
      await pool.close()
      await server.close()
    }
  })

  it('dying before the server is up fails the run, naming it', async () => {
    const pool = new ClientPool(1)
    const [pid] = pool.pids()
    const running = pool.run(
      {
        url: 'http://127.0.0.1:9', // nothing listens: the clients wait for readiness
        models: [],
        concurrency: 1,
        warmupS: 0,
        windowS: 1,
        seed: 1,
        waitForEnergy: false,
      },
      () => {},
    )
    setTimeout(() => process.kill(pid as number, 'SIGKILL'), 300)
    await assert.rejects(running, (err) => {
      // a user error: the CLI prints its message as one line, with no stack
      assert.ok(err instanceof UserError)
      assert.match(
        err.message,
        /^serve-bench client process 1 of 1 \(pid \d+: no model\) exited \(signal SIGKILL\) before it finished$/,
      )
      return true
    })
    await pool.close()
  })
})

describe('eclip serve-bench with a client process that dies', () => {
  it('records that run as failed in one line, goes on with the next, and exits 1', async () => {
    // on the simulator: the first run's client process is killed once it is up; the second run gets fresh ones
    const out = mkdtempSync(join(tmpdir(), 'eclip-sb-dies-'))
    const cli = spawn(
      process.execPath,
      [
        join(import.meta.dirname, '..', '..', 'bin', 'eclip.mjs'),
        'serve-bench',
        ...['--mix', 'mix7', '--policies', 'baseline,eclip', '--profiles', 'synthetic'],
        ...['--duration', '2', '--warmup', '0.2', '--out', out],
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    let stderr = ''
    cli.stderr.on('data', (d) => {
      stderr += d
    })
    cli.stdout.resume()
    // the first client process of the CLI (its children that run serve-bench-clients), killed as soon as it is seen
    const childOf = (ppid: number): number | undefined => {
      const found = readdirSync('/proc')
        .filter((d) => /^\d+$/.test(d))
        .find((d) => {
          try {
            const stat = readFileSync(`/proc/${d}/stat`, 'utf8')
            const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
            return (
              Number(fields[1]) === ppid &&
              readFileSync(`/proc/${d}/cmdline`, 'utf8').includes('serve-bench-clients')
            )
          } catch {
            return false // gone meanwhile
          }
        })
      return found === undefined ? undefined : Number(found)
    }
    let killed: number | undefined
    const deadline = performance.now() + 30_000
    while (killed === undefined && performance.now() < deadline && cli.exitCode === null) {
      const pid = childOf(cli.pid as number)
      if (pid !== undefined && /\[1\/2\] mix7 baseline/.test(stderr)) {
        process.kill(pid, 'SIGKILL')
        killed = pid
      } else await new Promise((r) => setTimeout(r, 50))
    }
    const code = await new Promise<number | null>((resolve) => cli.once('exit', resolve))
    assert.ok(killed, `no client process seen: ${stderr}`)
    assert.equal(code, 1, stderr)
    assert.match(
      stderr,
      new RegExp(
        `eclip serve-bench: run mix7 baseline \\(http\\) failed, going on: serve-bench client process 1 of 1 \\(pid ${killed}: [^)]*\\) exited \\(signal SIGKILL\\) before it finished\n`,
      ),
    )
    assert.doesNotMatch(stderr, /internal error|\n\s+at /)
    const results = readFile<ServeResults>('serve-results', join(out, 'results.json'))
    assert.ok(results.runs.some((r) => r.policy === 'eclip' && r.workers.every((w) => w.requests > 0)))
  })
})

describe('a client process whose channel closes before the run ends', () => {
  it('says so on stderr, with how far it got, and exits with its own code', async () => {
    // a server that is never ready: the child's first probe shows it is up and opening its share
    let probed: () => void = () => {}
    const probe = new Promise<void>((resolve) => {
      probed = resolve
    })
    const server = createServer((_, res) => {
      probed()
      res.writeHead(503).end()
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      const { port } = server.address() as AddressInfo
      const child = spawn(process.execPath, [bin, 'serve-bench-clients'], {
        stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
        serialization: 'advanced',
      })
      let stderr = ''
      child.stderr?.on('data', (d) => {
        stderr += d
      })
      // its exit, and its stderr read to the end ('close' does not come for a child whose channel was disconnected)
      const stderrEnd = new Promise<void>((resolve) => child.stderr?.once('end', () => resolve()))
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
      child.send({
        type: 'open',
        spec: {
          url: `http://127.0.0.1:${port}`,
          models: [],
          concurrency: 1,
          warmupS: 0,
          windowS: 1,
          seed: 1,
        },
        scrapes: false,
      })
      await probe
      child.disconnect()
      assert.equal(await exited, 3)
      await stderrEnd
      assert.match(stderr, /the channel to serve-bench closed before the run ended \(opening\)/)
    } finally {
      server.closeAllConnections()
      server.close()
    }
  })
})

describe('eclip serve-bench --client-processes', () => {
  it('says how many processes drove the load, in the provenance and each run', () => {
    const out = tmp()
    const args =
      '--mix mix7 --policies baseline --profiles synthetic --client-processes 2 --duration 0.3 --warmup 0.05'
    const r = spawnSync(process.execPath, [bin, 'serve-bench', ...args.split(' '), '--out', out], {
      encoding: 'utf8',
    })
    assert.equal(r.status, 0, r.stderr)
    const results = readFile<ServeResults>('serve-results', join(out, 'results.json'))
    assert.match(
      results.provenance.notes ?? '',
      /the clients in up to 2 processes of their own \(--client-processes/,
    )
    const [only] = results.runs
    assert.ok(only && only.metrics.errorsTotal === 0 && only.workers.every((w) => w.requests > 0))
    assert.match(
      readFileSync(join(out, 'report.txt'), 'utf8'),
      /note: 2 client processes drove the load \(alexnet-0 ×2, alexnet-2 ×2 \| alexnet-1 ×2;/,
    )
    const bad = spawnSync(process.execPath, [bin, 'serve-bench', '--client-processes', '0', '--out', out], {
      encoding: 'utf8',
    })
    assert.equal(bad.status, 2, bad.stderr)
    assert.match(bad.stderr, /--client-processes/)
  })
})
