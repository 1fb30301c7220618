// The worker thread of the simulator's thread pools (table-threads.ts, score-threads.ts): registers tsx (as
// bin/eclip.mjs does) and runs the TypeScript entry the parent names, from the sources also when the parent runs the
// bundle.
import { workerData } from 'node:worker_threads'

const { register } = await import('tsx/esm/api')
register()
await import(workerData.entry)
