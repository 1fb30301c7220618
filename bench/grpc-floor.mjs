// The floor of receiving a batch-8 image tensor (2.4 MB) in one Node process, for comparing a gRPC front-end's CPU per
// request against (NOT a GPU result). A server child process answers each request with a few bytes and nothing else:
//   h2-discard  bare node:http2, the body's chunks dropped as they come
//   h2-concat   bare node:http2, the chunks joined into one Buffer (what any parser of the whole message needs)
//   grpc-raw    @grpc/grpc-js with ModelInfer's path, the message handed over as bytes (no protobuf decoding)
//   grpc-proto  @grpc/grpc-js decoding the ModelInferRequest with the proto (as src/serve/grpc/server.ts does)
// The load: this process, 8 connections in closed loop, each sending the same bytes every time (a ModelInferRequest
// of one FP16 [8,3,224,224] input made once). Both sides use 8-MiB stream windows (src/serve/grpc/flow-control.ts).
// Prints requests/s and the server process's CPU per request (user + system) over a 4-s window after 1.5 s.
// Run: node bench/grpc-floor.mjs [h2-discard|h2-concat|grpc-raw|grpc-proto ...]   (default: all four in turn)
import { fork } from 'node:child_process'
import http2 from 'node:http2'
import { join } from 'node:path'
import * as grpc from '@grpc/grpc-js'
import * as protoLoader from '@grpc/proto-loader'

const PROTO = join(import.meta.dirname, '..', 'src', 'serve', 'grpc', 'inference.proto')
const WINDOW = 8 << 20
const BYTES = 8 * 3 * 224 * 224 * 2
const MODES = ['h2-discard', 'h2-concat', 'grpc-raw', 'grpc-proto']

function modelInfer() {
  const def = protoLoader.loadSync(PROTO, { keepCase: true, longs: Number, enums: String, defaults: false })
  const Service = grpc.loadPackageDefinition(def).inference.GRPCInferenceService
  return { Service, method: Service.service.ModelInfer }
}

/** The server side (a child process): listens, sends its port, answers `cpu` with its CPU time and request count. */
function serve(mode) {
  let n = 0
  process.on('message', (m) => {
    if (m === 'cpu') process.send({ cpu: process.cpuUsage(), n })
  })
  if (mode.startsWith('h2-')) {
    const srv = http2.createServer({ settings: { initialWindowSize: WINDOW } })
    srv.on('session', (s) => s.setLocalWindowSize(8 * WINDOW))
    srv.on('stream', (st) => {
      const chunks = []
      st.on('data', (d) => {
        if (mode === 'h2-concat') chunks.push(d)
      })
      st.on('end', () => {
        if (mode === 'h2-concat') Buffer.concat(chunks)
        n++
        st.respond({ ':status': 200 })
        st.end('ok')
      })
    })
    srv.listen(0, '127.0.0.1', () => process.send(srv.address().port))
    return
  }
  const { method } = modelInfer()
  const raw = mode === 'grpc-raw'
  const server = new grpc.Server({
    'grpc.max_receive_message_length': -1,
    'grpc.max_send_message_length': -1,
  })
  // the stream window as eclip serve advertises it (grpc-js has no server option for it)
  server.commonServerOptions.settings = { initialWindowSize: WINDOW }
  const handler = (_call, cb) => {
    n++
    cb(null, raw ? Buffer.alloc(0) : { model_name: 'x' })
  }
  const id = (b) => b
  server.register(
    method.path,
    handler,
    raw ? id : method.responseSerialize,
    raw ? id : method.requestDeserialize,
    'unary',
  )
  server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
    if (err) throw err
    for (const h2 of server.http2Servers.keys())
      h2.on('session', (s) => {
        try {
          s.setLocalWindowSize(8 * WINDOW)
        } catch {}
      })
    process.send(port)
  })
}

/** One mode measured: a server child, 8 closed-loop connections from here. */
async function measure(mode) {
  const child = fork(import.meta.filename, ['serve', mode])
  const port = await new Promise((r) => child.once('message', r))
  let stop = false
  const loops = []
  if (mode.startsWith('h2-')) {
    const body = Buffer.alloc(BYTES, 7)
    const conns = Array.from({ length: 8 }, () =>
      http2.connect(`http://127.0.0.1:${port}`, { settings: { initialWindowSize: WINDOW } }),
    )
    const once = (c) =>
      new Promise((res) => {
        const r = c.request({ ':method': 'POST' })
        r.on('data', () => {})
        r.on('end', res)
        r.end(body)
      })
    for (const c of conns)
      loops.push(
        (async () => {
          while (!stop) await once(c)
          c.close()
        })(),
      )
  } else {
    const { Service, method } = modelInfer()
    const bytes = method.requestSerialize({
      model_name: 'alexnet-0',
      inputs: [{ name: 'input', datatype: 'FP16', shape: [8, 3, 224, 224] }],
      raw_input_contents: [Buffer.alloc(BYTES, 7)],
    })
    const id = (b) => b
    for (let i = 0; i < 8; i++) {
      const c = new Service(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
        'grpc.use_local_subchannel_pool': 1,
        'grpc-node.flow_control_window': WINDOW,
        'grpc.max_send_message_length': -1,
      })
      const once = () =>
        new Promise((res) =>
          c.makeUnaryRequest(method.path, id, id, bytes, new grpc.Metadata(), {}, () => res()),
        )
      loops.push(
        (async () => {
          while (!stop) await once()
          c.close()
        })(),
      )
    }
  }
  const ask = () =>
    new Promise((r) => {
      child.once('message', r)
      child.send('cpu')
    })
  await new Promise((r) => setTimeout(r, 1500))
  const a = await ask()
  const t0 = performance.now()
  await new Promise((r) => setTimeout(r, 4000))
  const b = await ask()
  const secs = (performance.now() - t0) / 1000
  stop = true
  await Promise.all(loops)
  child.kill()
  const reqs = b.n - a.n
  const cpuMs = (b.cpu.user + b.cpu.system - a.cpu.user - a.cpu.system) / 1000
  console.log(
    `${mode.padEnd(10)}  ${(reqs / secs).toFixed(0).padStart(5)} req/s  server CPU ${(cpuMs / reqs).toFixed(2)} ms per request`,
  )
}

if (process.argv[2] === 'serve') serve(process.argv[3])
else {
  const modes = process.argv.length > 2 ? process.argv.slice(2) : MODES
  for (const m of modes) {
    if (!MODES.includes(m)) throw new Error(`unknown mode ${m} (${MODES.join(', ')})`)
    await measure(m)
  }
}
