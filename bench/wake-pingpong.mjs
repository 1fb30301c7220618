// What one wake-up costs a Node process, without eclip: this process answers each 200-byte message of a child with
// one of its own over a socket pair, one message in flight, and reports its event loop's CPU per message (a read, a
// write, the wake-up between them). `--together`: both processes on CPU 0; `--apart`: this one on CPU 0, the child on
// CPU 1 (taskset), to see what a wake-up across CPUs adds: the engine of `eclip serve` pays one per frame it waits
// for, about two per request (the request's frame, the backend's reply). Host numbers, no GPU.
import { fork, spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { Socket } from 'node:net'

if (process.argv[2] === 'child') {
  const s = new Socket({ fd: 3, readable: true, writable: true })
  const msg = Buffer.alloc(200, 1)
  s.on('data', (d) => {
    for (let i = 0; i < Math.max(1, Math.round(d.length / 200)); i++) s.write(msg)
  })
  s.write(msg)
} else {
  const apart = process.argv.includes('--apart')
  const together = process.argv.includes('--together')
  if (apart || together) spawnSync('taskset', ['-p', '-c', '0', String(process.pid)])
  const child = fork(new URL(import.meta.url).pathname, ['child'], {
    stdio: ['inherit', 'inherit', 'inherit', 'pipe', 'ipc'],
  })
  if (apart) spawnSync('taskset', ['-p', '-c', '1', String(child.pid)])
  const s = child.stdio[3]
  const out = Buffer.alloc(200, 2)
  let n = 0
  s.on('data', (d) => {
    const k = Math.max(1, Math.round(d.length / 200))
    n += k
    for (let i = 0; i < k; i++) s.write(out)
  })
  const cpuS = () => {
    const f = readFileSync(`/proc/${process.pid}/task/${process.pid}/stat`, 'utf8').split(') ')[1].split(' ')
    return (Number(f[11]) + Number(f[12])) / 100
  }
  setTimeout(() => {
    const c0 = cpuS()
    const n0 = n
    const t0 = performance.now()
    setTimeout(() => {
      const s1 = (performance.now() - t0) / 1000
      const msgs = n - n0
      console.log(
        JSON.stringify({
          cpus: apart ? 'apart (0 and 1)' : together ? 'together (0)' : 'as scheduled',
          messagesPerS: Math.round(msgs / s1),
          eventLoopUsPerMessage: Number((((cpuS() - c0) * 1e6) / msgs).toFixed(1)),
        }),
      )
      child.kill()
      process.exit(0)
    }, 3000)
  }, 500)
}
