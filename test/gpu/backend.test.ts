import assert from 'node:assert/strict'
import { chmodSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { BackendCrash, BackendProcess, BackendReplyError, GpuBackend } from '../../src/execute/gpu/index.ts'
import type { InferMessage } from '../../src/execute/gpu/protocol.ts'

const repo = join(import.meta.dirname, '..', '..')
const venvPython = join(repo, '.venv', 'bin', 'python')

function script(body: string): string {
  const f = join(mkdtempSync(join(tmpdir(), 'eclip-fake-')), 'python')
  writeFileSync(f, `#!/usr/bin/env bash\n${body}\n`)
  chmodSync(f, 0o755)
  return f
}

describe('GPU backend process', () => {
  it('reports a backend that dies with a CUDA error as a crash, naming it', async () => {
    await assert.rejects(GpuBackend.start({ python: script('exit 3') }), (e: unknown) => {
      return e instanceof BackendCrash && /exited \(code 3\): fatal CUDA error/.test(e.message)
    })
  })

  it('reports a backend that cannot be started', async () => {
    await assert.rejects(
      GpuBackend.start({ python: '/nonexistent/python3' }),
      (e: unknown) => e instanceof BackendCrash && /cannot start the GPU backend/.test(e.message),
    )
  })

  it('kills a backend that does not answer in time', async () => {
    const started = Date.now()
    await assert.rejects(
      GpuBackend.start({ python: script('exec sleep 30'), startTimeoutS: 0.5 }),
      (e: unknown) =>
        e instanceof BackendCrash && /did not answer hello within 0.5 s; it was killed/.test(e.message),
    )
    assert.ok(Date.now() - started < 5000)
  })

  it('without PyTorch, the real backend answers with a clear error instead of hanging', async () => {
    await assert.rejects(
      GpuBackend.start({ python: venvPython }),
      (e: unknown) => e instanceof BackendCrash && /GPU backend: .*(torch|CUDA|cuda)/.test(e.message),
    )
  })
})

/**
 * A backend speaking the real frames (eclip_gpu.frames on fds 3/4, no torch) with `handle`'s Python body; every
 * request is checked against the protocol's schema first (eclip_gpu.protocol.check_request), as the real loop does.
 */
function framed(handle: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'eclip-fake-'))
  const py = join(dir, 'fake.py')
  writeFileSync(
    py,
    [
      'import json, os, sys, time',
      `sys.path.insert(0, ${JSON.stringify(join(repo, 'gpu'))})`,
      'from eclip_gpu.frames import read_frame, send',
      'from eclip_gpu.protocol import ProtocolError, check_request',
      `GPU = json.load(open(${JSON.stringify(join(repo, 'test', 'fixtures', 'h100.gpu.json'))}))`,
      'held = []',
      'while True:',
      '    try:',
      '        m, body = read_frame()',
      '    except EOFError:',
      '        break',
      '    try:',
      '        check_request(m)',
      '    except ProtocolError as e:',
      '        send({"type": "error", "id": m["id"], "message": f"ProtocolError: {e}", "fatal": False})',
      '        continue',
      '    if m["type"] == "hello":',
      '        send({"type": "ready", "gpu": GPU, "versions": {}})',
      '        continue',
      '    if m["type"] == "shutdown":',
      '        break',
      ...handle.split('\n').map((l) => `    ${l}`),
    ].join('\n'),
  )
  const python = existsSync(venvPython) ? venvPython : 'python3'
  return script(`exec '${python}' '${py}'`)
}

describe('GPU backend process: requests matched by id (serve)', () => {
  it('matches replies that come back out of order, with their bodies', async () => {
    // holds infer 1 until infer 2 came, then answers 2 before 1
    const p = await BackendProcess.start({
      python: framed(
        [
          'if m["type"] == "infer":',
          '    held.append((m, body))',
          '    if len(held) == 2:',
          '        for h, b in reversed(held):',
          '            send({"type": "output", "id": h["id"], "shape": [1], "datatype": "UINT8", "computeUs": 1}, b[::-1])',
        ].join('\n'),
      ),
    })
    try {
      const order: number[] = []
      const [a, b] = await Promise.all(
        [Buffer.from('ab'), Buffer.from('cd')].map((body, i) =>
          p.infer({ name: 'w', n: 1, dtype: 'UINT8' }, body, 5).then((r) => {
            order.push(i)
            return r
          }),
        ),
      )
      assert.deepEqual(order, [1, 0])
      assert.equal(a?.body.toString(), 'ba')
      assert.equal(b?.body.toString(), 'dc')
      assert.equal(p.inFlight(), 0)
    } finally {
      await p.close()
    }
  })

  it('an error reply fails only its request; a fatal one is a crash', async () => {
    const p = await BackendProcess.start({
      python: framed(
        [
          'if m["type"] == "infer" and m["name"] == "bad":',
          '    send({"type": "error", "id": m["id"], "message": "bad input", "fatal": False})',
          'elif m["type"] == "infer" and m["name"] == "poison":',
          '    send({"type": "error", "id": m["id"], "message": "CUDA error: an illegal memory access", "fatal": True})',
          '    os._exit(3)',
          'elif m["type"] == "power":',
          '    send({"type": "power", "id": m["id"], "powerW": 300.5, "energyJ": 2})',
        ].join('\n'),
      ),
    })
    const exits: string[] = []
    p.onExit((e) => exits.push(e.message))
    await assert.rejects(
      p.infer({ name: 'bad', n: 1, dtype: 'UINT8' }, Buffer.from('x'), 5),
      (e: unknown) => e instanceof BackendReplyError && /GPU backend: bad input/.test(e.message),
    )
    const power = await p.power(5)
    assert.deepEqual(power, { type: 'power', id: 2, powerW: 300.5, energyJ: 2 })
    await assert.rejects(
      p.infer({ name: 'poison', n: 1, dtype: 'UINT8' }, Buffer.from('x'), 5),
      (e: unknown) => e instanceof BackendCrash && /illegal memory access/.test(e.message),
    )
    const deadline = Date.now() + 5000
    while (exits.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
    assert.deepEqual(exits, ['the GPU backend exited (code 3): fatal CUDA error'])
    await assert.rejects(p.power(5), /exited \(code 3\)/)
    await p.respawn()
    assert.equal((await p.power(5)).type, 'power')
    await p.close()
  })

  it('a request past its time kills the backend, unless told only to give up on it', async () => {
    const p = await BackendProcess.start({ python: framed('pass  # never answers') })
    await assert.rejects(
      p.power(0.2),
      (e: unknown) => e instanceof BackendReplyError && /did not answer power within 0.2 s/.test(e.message),
    )
    assert.equal(p.exited, null)
    const pending = p.infer({ name: 'w', n: 1, dtype: 'UINT8' }, Buffer.from('x'), 60)
    await assert.rejects(
      p.infer({ name: 'w', n: 1, dtype: 'UINT8' }, Buffer.from('x'), 0.2),
      /did not answer infer within 0.2 s; it was killed/,
    )
    // the kill answers every other request in flight too
    await assert.rejects(
      pending,
      (e: unknown) => e instanceof BackendCrash && /signal SIGKILL/.test(e.message),
    )
  })

  it('a reply that breaks the protocol fails its request, naming the field; the process goes on', async () => {
    const p = await BackendProcess.start({
      python: framed(
        [
          'if m["type"] == "infer":',
          '    send({"type": "output", "id": m["id"], "shape": ["one"], "datatype": "UINT8", "computeUs": 1})',
          'elif m["type"] == "power":',
          '    send({"type": "power", "id": m["id"], "powerW": 1, "energyJ": 0})',
        ].join('\n'),
      ),
    })
    try {
      await assert.rejects(
        p.infer({ name: 'w', n: 1, dtype: 'UINT8' }, Buffer.from('x'), 5),
        (e: unknown) =>
          e instanceof BackendReplyError && /invalid output reply \/shape\/0: .*integer/.test(e.message),
      )
      assert.equal((await p.power(5)).powerW, 1)
    } finally {
      await p.close()
    }
  })

  it('a request that breaks the protocol is refused by the backend, naming the field', async () => {
    const p = await BackendProcess.start({ python: framed('pass') })
    try {
      // a caller that gets around the types (the schema wants n >= 1 and no field it does not name)
      await assert.rejects(
        p.infer({ name: 'w', n: 0, dtype: 'UINT8' }, Buffer.from('x'), 5),
        (e: unknown) =>
          e instanceof BackendReplyError &&
          /infer request n: must be bigger than or equal to 1/.test(e.message),
      )
      const extra = { name: 'w', n: 1, dtype: 'UINT8', batch: 4 } as Omit<InferMessage, 'type' | 'id'>
      await assert.rejects(
        p.infer(extra, Buffer.from('x'), 5),
        (e: unknown) =>
          e instanceof BackendReplyError &&
          /infer request: must not contain {'batch'} properties/.test(e.message),
      )
    } finally {
      await p.close()
    }
  })
})
