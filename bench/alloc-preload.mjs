// A preload (node --import) that samples every allocation of the serve-bench process that hosts the server —
// collected objects included, which `node --heap-prof` leaves out — from 2 s after its start until it exits, and
// writes server-<pid>.heapprofile (Chrome DevTools' format) into $ALLOC_DIR. Other processes are left alone.
//   ALLOC_DIR=DIR NODE_OPTIONS="--import $PWD/bench/alloc-preload.mjs" node --import tsx bench/serve-host-bench.ts --bundle …
// results/vm/engine-gc/ tables one such profile by function.
import { writeFileSync } from 'node:fs'
import { Session } from 'node:inspector'

const argv = process.argv.join(' ')
if (process.env.ALLOC_DIR && /serve-bench/.test(argv) && !/serve-bench-clients/.test(argv)) {
  const session = new Session()
  session.connect()
  setTimeout(() => {
    session.post('HeapProfiler.enable')
    session.post(
      'HeapProfiler.startSampling',
      {
        samplingInterval: 4096,
        includeObjectsCollectedByMajorGC: true,
        includeObjectsCollectedByMinorGC: true,
      },
      (err) => err && console.error(`alloc-preload: ${err.message}`),
    )
  }, 2000).unref()
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
