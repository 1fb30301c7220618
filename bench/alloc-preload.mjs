// A preload (node --import) that samples every allocation of the serve-bench process that hosts the server —
// collected objects included, which `node --heap-prof` leaves out — from 2 s after its start until it exits, and
// writes server-<pid>.heapprofile (Chrome DevTools' format) into $ALLOC_DIR. Other processes are left alone.
// ALLOC_FROM_S / ALLOC_TO_S sample from / to that many seconds after the process starts instead (a run's window).
//   ALLOC_DIR=DIR NODE_OPTIONS="--import $PWD/bench/alloc-preload.mjs" node --import tsx bench/serve-host-bench.ts --bundle …
// results/vm/engine-gc/ tables one such profile by function. ALLOC_SURVIVORS=1 leaves out what a scavenge collects:
// the profile is then what outlived the young generation (the scavenges' cost), plus what no scavenge had reached
// yet when sampling stopped (up to one young generation's worth).
import { writeFileSync } from 'node:fs'
import { Session } from 'node:inspector'

const argv = process.argv.join(' ')
if (process.env.ALLOC_DIR && /serve-bench/.test(argv) && !/serve-bench-clients/.test(argv)) {
  const session = new Session()
  session.connect()
  const from = Number(process.env.ALLOC_FROM_S ?? 2) * 1000
  setTimeout(() => {
    session.post('HeapProfiler.enable')
    session.post(
      'HeapProfiler.startSampling',
      {
        samplingInterval: 4096,
        includeObjectsCollectedByMajorGC: true,
        includeObjectsCollectedByMinorGC: !process.env.ALLOC_SURVIVORS,
      },
      (err) => err && console.error(`alloc-preload: ${err.message}`),
    )
    // ALLOC_TO_S: stop sampling that many seconds after the start (the window's end) rather than at exit
    if (process.env.ALLOC_TO_S) setTimeout(stop, Number(process.env.ALLOC_TO_S) * 1000 - from).unref()
  }, from).unref()
  let done = false
  const stop = () => {
    if (done) return
    done = true
    // an in-process session answers synchronously, so this completes inside 'exit'
    session.post('HeapProfiler.stopSampling', (err, r) => {
      if (!err)
        writeFileSync(`${process.env.ALLOC_DIR}/server-${process.pid}.heapprofile`, JSON.stringify(r.profile))
    })
  }
  process.on('beforeExit', stop)
  process.on('exit', stop)
}
