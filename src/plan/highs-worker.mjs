// HiGHS (WebAssembly) inside a worker_threads Worker: its solve is synchronous and single-threaded, so it runs off
// the main thread, where a watchdog can terminate() it if it overruns its own time limit. Plain JavaScript so the
// worker loads without a TypeScript loader (bin/eclip.mjs registers tsx only for the main thread).
// Message in: { id, model (HiGHS ModelData, typed arrays), options }. Message out: { id, status, objective,
// dualBound, colValue } or { id, error }.
import { parentPort } from 'node:worker_threads'
import highsLoader from 'highs'

const highs = await highsLoader()
const STATUS = Object.fromEntries(Object.entries(highs.constants.modelStatus).map(([k, v]) => [v, k]))

parentPort.on('message', (msg) => {
  const { id, model, options } = msg
  let m
  try {
    m = highs.createModel(model)
    m.options.set({ output_flag: false, ...options })
    m.run()
    const status = STATUS[m.getModelStatus()] ?? 'unknown'
    const primal = m.info.get('primal_solution_status')
    const hasSolution = Number(primal) === 2
    const colValue = hasSolution ? m.getSolution().colValue : null
    const objective = hasSolution ? m.getObjectiveValue() : null
    const dualBound = Number(m.info.get('mip_dual_bound'))
    parentPort.postMessage({ id, status, objective, dualBound, colValue }, colValue ? [colValue.buffer] : [])
  } catch (err) {
    parentPort.postMessage({ id, error: String(err?.stack ?? err) })
  } finally {
    m?.dispose()
  }
})
parentPort.postMessage({ ready: true })
