// The live dashboard: a static page (plain HTML + uPlot) fed by Server-Sent Events. GET /dashboard/state gives the
// setup (models, where their compute times come from, the partition map of the plan); /dashboard/events pushes a
// snapshot (per-model throughput and p95, queue depths, GPU power) every `periodMs`.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import type { Gpu } from '../formats/gpu.ts'
import type { Plan } from '../formats/plan.ts'
import type { ServeBackend, ServedModel } from './backend.ts'
import type { ServerMetrics } from './metrics.ts'
import type { PlanScheduler } from './scheduling.ts'
import type { ModelWorker } from './worker.ts'

/** What the dashboard reads of the server (src/serve/server.ts's EclipServer is one). */
export interface DashboardSource {
  readonly opts: {
    readonly models: readonly ServedModel[]
    readonly plan?: Plan
    readonly gpu?: Gpu
    readonly backend: Pick<ServeBackend, 'kind' | 'power' | 'partitions'>
    readonly notes?: readonly string[]
    readonly computeSources?: ReadonlyMap<string, { us: number; source: string }>
    /** eclip-live's setup: present when the server follows a plan table */
    readonly live?: object
  }
  metadata(): object
  servedModels(): readonly ServedModel[]
  ready(): boolean
  readonly metrics: Pick<ServerMetrics, 'windowStats'>
  readonly workers: ReadonlyMap<string, Pick<ModelWorker, 'pending'>>
  readonly scheduler: Pick<PlanScheduler, 'status'>
}

const here = join(import.meta.dirname, 'dashboard')
/** uPlot's files, found when a server registers the dashboard (not at import: `eclip --help` must not need them). */
const uplotDir = () => dirname(createRequire(import.meta.url).resolve('uplot'))

export interface PartitionMap {
  policy: string
  gpu: { name: string; smCount: number }
  slices: { id: number; sms: number | null }[]
  partitions: { id: number; sms: number; slices: number[] }[]
  workers: {
    name: string
    /** Per slice (same order as `slices`): share of the worker's kernels whose partition holds that slice. */
    shares: number[]
    /** Per partition the worker uses: its kernels there. */
    partitions: { id: number; sms: number; kernels: number }[]
    switches: number
    meanSms: number
  }[]
}

/** Which worker's kernels run on which slices, from the plan. */
export function partitionMap(plan: Plan, workerNames: Map<string, string>, gpu?: Gpu): PartitionMap {
  const ids = [...new Set(plan.pool.partitions.flatMap((p) => p.slices))].sort((a, b) => a - b)
  const sliceSms = new Map<number, number>(gpu?.slices.map((s) => [s.id, s.sms]) ?? [])
  if (!gpu)
    for (const p of plan.pool.partitions)
      if (p.slices.length === 1) sliceSms.set(p.slices[0] as number, p.sms)
  const parts = new Map(plan.pool.partitions.map((p) => [p.id, p]))
  return {
    policy: plan.policy,
    gpu: { name: plan.gpu.name, smCount: plan.gpu.smCount },
    slices: ids.map((id) => ({ id, sms: sliceSms.get(id) ?? null })),
    partitions: plan.pool.partitions.map((p) => ({ id: p.id, sms: p.sms, slices: p.slices })),
    workers: plan.workers.map((w) => {
      const perPartition = new Map<number, number>()
      for (const g of w.groups)
        perPartition.set(g.partition, (perPartition.get(g.partition) ?? 0) + g.last - g.first + 1)
      const shares = ids.map((sid) => {
        let k = 0
        for (const [pid, n] of perPartition) if (parts.get(pid)?.slices.includes(sid)) k += n
        return k / w.kernels
      })
      return {
        name: workerNames.get(w.name) ?? w.name,
        shares,
        partitions: [...perPartition].map(([id, kernels]) => ({ id, sms: parts.get(id)?.sms ?? 0, kernels })),
        switches: w.switches,
        meanSms: w.meanSms,
      }
    }),
  }
}

/** paris-elsa's partition map: PARIS's partitions on each GPU of the host; what each has served comes live. */
export interface ParisMap {
  policy: 'paris-elsa'
  gpus: number
  gpu: { name: string; smCount: number }
  /** Each GPU's slices (all GPUs alike). */
  slices: { id: number; sms: number }[]
  partitions: { id: string; gpu: number; sms: number; slices: number[] }[]
}

export function registerDashboard(app: FastifyInstance, server: DashboardSource, periodMs: number) {
  const uplot = uplotDir()
  const files: Record<string, { type: string; body: Buffer }> = {
    'index.html': { type: 'text/html; charset=utf-8', body: readFileSync(join(here, 'index.html')) },
    'dashboard.js': {
      type: 'text/javascript; charset=utf-8',
      body: readFileSync(join(here, 'dashboard.js')),
    },
    'uPlot.min.css': { type: 'text/css; charset=utf-8', body: readFileSync(join(uplot, 'uPlot.min.css')) },
    'uPlot.iife.min.js': {
      type: 'text/javascript; charset=utf-8',
      body: readFileSync(join(uplot, 'uPlot.iife.min.js')),
    },
  }
  const { opts } = server
  const planNames = new Map<string, string>()
  for (const m of opts.models) if (m.worker) planNames.set(m.worker.name, m.name)
  const map = opts.plan ? partitionMap(opts.plan, planNames, opts.gpu) : null
  const partitions = opts.backend.partitions?.()
  const parisMap: ParisMap | null =
    partitions && opts.gpu
      ? {
          policy: 'paris-elsa',
          gpus: new Set(partitions.map((p) => p.gpu)).size,
          gpu: { name: opts.gpu.name, smCount: opts.gpu.smCount },
          slices: opts.gpu.slices.map((s) => ({ id: s.id, sms: s.sms })),
          partitions: partitions.map((p) => ({ id: p.id, gpu: p.gpu, sms: p.sms, slices: p.slices })),
        }
      : null

  app.get('/', (_req, reply) => reply.redirect('/dashboard/'))
  app.get('/favicon.ico', (_req, reply) => reply.code(204).send())
  app.get('/dashboard', (_req, reply) => reply.redirect('/dashboard/'))
  app.get('/dashboard/', (_req, reply) => {
    const f = files['index.html'] as { type: string; body: Buffer }
    return reply.type(f.type).send(f.body)
  })
  app.get('/dashboard/:file', (req, reply) => {
    const f = files[(req.params as { file: string }).file]
    if (!f) return reply.code(404).send({ error: 'no such dashboard file' })
    return reply.type(f.type).header('cache-control', 'no-cache').send(f.body)
  })
  app.get('/dashboard/state', () => ({
    server: server.metadata(),
    backend: opts.backend.kind,
    simulated: opts.backend.kind === 'sim',
    notes: opts.notes ?? [],
    periodMs,
    models: server.servedModels().map((m) => ({
      name: m.name,
      model: m.model,
      batch: m.batch,
      dtype: m.dtype,
      computeUs: opts.computeSources?.get(m.name)?.us ?? null,
      computeSource: opts.computeSources?.get(m.name)?.source ?? null,
    })),
    partitionMap: map,
    parisMap,
  }))

  const clients = new Set<import('node:http').ServerResponse>()
  const snapshot = () => {
    const stats = server.metrics.windowStats()
    const power = opts.backend.power()
    return {
      t: Date.now(),
      ready: server.ready(),
      models: Object.fromEntries(
        server
          .servedModels()
          .map((m) => [m.name, { ...stats[m.name], pending: server.workers.get(m.name)?.pending() ?? 0 }]),
      ),
      // eclip-live: the active set and the plan in force
      ...(opts.live ? { live: server.scheduler.status() } : {}),
      power: power ?? null,
      // paris-elsa: each partition's queue and what it has served, per model
      ...(opts.backend.partitions
        ? {
            partitions: opts.backend.partitions().map((p) => ({
              id: p.id,
              queued: p.queued,
              running: p.running,
              backlogUs: p.backlogUs,
              executions: p.executions,
            })),
          }
        : {}),
    }
  }
  let timer: NodeJS.Timeout | undefined
  const tick = () => {
    const data = `event: snapshot\ndata: ${JSON.stringify(snapshot())}\n\n`
    for (const c of clients) c.write(data)
  }
  app.get('/dashboard/events', (req, reply) => {
    reply.hijack()
    const res = reply.raw
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
    })
    res.write(`retry: 1000\nevent: snapshot\ndata: ${JSON.stringify(snapshot())}\n\n`)
    clients.add(res)
    if (!timer) timer = setInterval(tick, periodMs)
    req.raw.on('close', () => {
      clients.delete(res)
      if (clients.size === 0) {
        clearInterval(timer)
        timer = undefined
      }
    })
  })
  // open event streams would hold close() forever: end them first
  app.addHook('preClose', async () => {
    clearInterval(timer)
    timer = undefined
    for (const c of clients) c.end()
    clients.clear()
  })
}
