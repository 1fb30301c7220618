// The front-ends' infer channel against the cluster's IPC channel: N round trips of an infer call and its reply (a
// shared-memory request's shapes, 4 in flight) between a primary and one cluster worker, over IPC with `advanced`
// serialization (MODE=ipc, how front-ends called the engine before) or over FrameChannel on a socket pair at fd 4
// (MODE=chan, how they do now). Prints the CPU per round trip of each side.
//
// Run: MODE=ipc node --import tsx bench/frontend-channel.ts; MODE=chan node --import tsx bench/frontend-channel.ts
import cluster from 'node:cluster'
import { Socket } from 'node:net'
import { FrameChannel } from '../src/serve/frontends/protocol.ts'

const N = 20000
const req = {
  t: 'infer',
  id: 0,
  model: 'alexnet-0',
  req: {
    batch: 1,
    inputs: [
      {
        name: 'input',
        datatype: 'FP16',
        shape: [1, 3, 224, 224],
        shm: { region: 'eclip-sb-1-0-0', offset: 0, bytes: 301056 },
      },
    ],
    outputs: [
      { name: 'logits', binary: false, shm: { region: 'eclip-sb-1-0-0', offset: 301056, bytes: 2000 } },
    ],
    binaryOutputs: false,
    parameters: {},
  },
  receivedAtMonotonicMs: 3605123.456,
}
const rep = {
  t: 'reply',
  id: 0,
  ok: true,
  value: {
    outputs: [
      {
        name: 'logits',
        datatype: 'FP16',
        shape: [1, 1000],
        shm: { region: 'eclip-sb-1-0-0', offset: 301056, bytes: 2000 },
      },
    ],
    parameters: { queue_us: 12, compute_us: 0, batched_requests: 1 },
  },
}
const mode = process.env.MODE as string
const cpu = () => {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1e3
}
if (cluster.isPrimary) {
  cluster.setupPrimary({
    exec: import.meta.filename,
    execArgv: ['--import', 'tsx'],
    serialization: 'advanced',
    stdio: ['inherit', 'inherit', 'inherit', 'ipc', 'pipe'],
  } as never)
  const w = cluster.fork({ MODE: mode })
  let c0 = 0
  let n = 0
  const done = () => {
    const ms = cpu() - c0
    w.send({ t: 'cpu' })
    w.on('message', (m: { t: string; cpu: number }) => {
      if (m.t !== 'cpux') return
      console.log(
        mode,
        'parent µs/rt',
        ((ms * 1000) / N).toFixed(1),
        'child µs/rt',
        ((m.cpu * 1000) / N).toFixed(1),
      )
      w.kill()
    })
  }
  const got = () => {
    n++
    if (n === 1) c0 = cpu()
    if (n === N + 1) done()
  }
  if (mode === 'ipc')
    w.on('message', (m: { t: string; id: number }) => {
      if (m.t !== 'infer') return
      w.send({ ...rep, id: m.id })
      got()
    })
  else {
    const ch = new FrameChannel(w.process.stdio[4] as Socket, (h) => {
      ch.send({ ...rep, id: (h as { id: number }).id })
      got()
    })
  }
} else {
  let i = 0
  let t0 = 0
  let ch: FrameChannel | undefined
  const next = () => {
    i++
    if (i === 2) t0 = cpu()
    if (i > N + 4) return
    if (mode === 'ipc') process.send?.({ ...req, id: i })
    else ch?.send({ ...req, id: i })
  }
  process.on('message', (m: { t: string }) => {
    if (m.t === 'reply') next()
    if (m.t === 'cpu') process.send?.({ t: 'cpux', cpu: cpu() - t0 })
  })
  if (mode === 'chan')
    ch = new FrameChannel(new Socket({ fd: 4, readable: true, writable: true }), () => next())
  for (let k = 0; k < 4; k++) next()
}
