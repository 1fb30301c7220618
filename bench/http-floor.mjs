// The floor of node:http on this machine, for comparing the engine's CPU per request against (NOT a GPU result): a
// bare keep-alive server that reads a small JSON body naming shared-memory regions, parses it and answers a JSON
// reply of an shm infer's shape; `hop`: each request also makes one round trip to a child process over a pipe
// before it is answered (the backend hop, one line each way). The load: a child process with 12 keep-alive
// connections in closed loop (DELAY=ms between a reply and the next request, for a lower rate). Prints the server
// process's CPU per request (user + system) over the 5-s run.
// Run: [DELAY=2] node bench/http-floor.mjs bare|hop
import { fork, spawn } from 'node:child_process'
import { Agent, createServer, request } from 'node:http'

const DELAY = Number(process.env.DELAY ?? 0)

const mode = process.argv[2]
if (mode === 'load') {
  const port = Number(process.argv[3])
  const conns = Number(process.argv[4])
  const secs = Number(process.argv[5])
  const body = JSON.stringify({
    inputs: [
      {
        name: 'input',
        shape: [1, 3, 224, 224],
        datatype: 'FP16',
        parameters: { shared_memory_region: 'in-0', shared_memory_byte_size: 301056 },
      },
    ],
    outputs: [
      { name: 'output', parameters: { shared_memory_region: 'out-0', shared_memory_byte_size: 2000 } },
    ],
  })
  const agent = new Agent({ keepAlive: true, maxSockets: conns })
  let n = 0
  const end = Date.now() + secs * 1000
  const one = () => {
    const r = request(
      {
        port,
        method: 'POST',
        path: '/v2/models/alexnet-0/infer',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        res.resume()
        res.on('end', () => {
          n++
          if (Date.now() < end) DELAY ? setTimeout(one, DELAY) : one()
          else if (--conns_left === 0) {
            process.send(n)
            process.exit(0)
          }
        })
      },
    )
    r.end(body)
  }
  let conns_left = conns
  for (let i = 0; i < conns; i++) one()
} else if (mode === 'echo') {
  // child: echo each line back (the backend hop)
  process.stdin.on('data', (d) => process.stdout.write(d))
} else {
  const hop = mode === 'hop'
  let child,
    pending = []
  if (hop) {
    child = spawn(process.execPath, [process.argv[1], 'echo'], { stdio: ['pipe', 'pipe', 'inherit'] })
    child.stdout.on('data', (d) => {
      const k = d.toString().split('\n').filter(Boolean).length
      for (let i = 0; i < k; i++) pending.shift()()
    })
  }
  const srv = createServer((req, res) => {
    const chunks = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', () => {
      const j = JSON.parse(Buffer.concat(chunks).toString())
      const answer = () => {
        const t = JSON.stringify({
          model_name: 'alexnet-0',
          model_version: '1',
          parameters: { queue_us: 1, compute_us: 2, batched_requests: 1 },
          outputs: [
            {
              name: 'output',
              datatype: 'FP16',
              shape: [1, 1000],
              parameters: {
                shared_memory_region: j.outputs[0].parameters.shared_memory_region,
                shared_memory_byte_size: 2000,
              },
            },
          ],
        })
        res.writeHead(200, {
          'content-type': 'application/json; charset=utf-8',
          'content-length': Buffer.byteLength(t),
        })
        res.end(t)
      }
      if (hop) {
        pending.push(answer)
        child.stdin.write('{"type":"infer","name":"alexnet-0"}\n')
      } else answer()
    })
  })
  srv.keepAliveTimeout = 72000
  srv.listen(0, () => {
    const port = srv.address().port
    const load = fork(process.argv[1], ['load', String(port), '12', '5'])
    const c0 = process.cpuUsage()
    const t0 = performance.now()
    load.on('message', (n) => {
      const c = process.cpuUsage(c0)
      const secs = (performance.now() - t0) / 1000
      console.log(
        JSON.stringify({
          mode,
          reqPerS: Math.round(n / secs),
          serverUsPerReq: Math.round((c.user + c.system) / n),
          userUs: Math.round(c.user / n),
          sysUs: Math.round(c.system / n),
        }),
      )
      child?.kill()
      process.exit(0)
    })
  })
}
