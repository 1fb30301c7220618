// The live dashboard in a real headless browser (Debian's Chromium through playwright-core) against `eclip serve`
// on the simulator: the page loads, shows the models, the partition map and the modelled-power banner, and its
// numbers move with traffic at least once a second.
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { chromium, type Page } from 'playwright-core'
import YAML from 'yaml'
import { startServe } from '../../src/serve/index.ts'

const CHROMIUM = '/usr/bin/chromium'
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]
const skip = existsSync(CHROMIUM)
  ? false
  : `no Chromium at ${CHROMIUM} (.ci/run installs it: apt-get install -y chromium)`

/** `eclip serve` with `config` (a serve.yaml's content) and its dashboard's page in headless Chromium: `run` gets the
 * server, its URL, the page and the page errors seen so far; everything is torn down after it. */
async function onDashboard(
  config: Record<string, unknown>,
  run: (a: {
    server: Awaited<ReturnType<typeof startServe>>['server']
    url: string
    page: Page
    errors: string[]
  }) => Promise<void>,
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'eclip-dash-'))
  const file = join(dir, 'serve.yaml')
  writeFileSync(file, YAML.stringify(config))
  const { server, url } = await startServe({ config: file, port: 0, host: '127.0.0.1' })
  const context = await chromium.launchPersistentContext(join(dir, 'chromium-profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
  })
  try {
    const page = await context.newPage()
    const errors: string[] = []
    page.on('pageerror', (e) => errors.push(String(e)))
    await run({ server, url, page, errors })
  } finally {
    await context.close()
    await server.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

describe('serve: dashboard in headless Chromium', () => {
  it('shows models, partition map and modelled power, updated at least once a second', {
    skip,
    timeout: 90_000,
  }, async () => {
    await onDashboard(
      {
        policy: 'eclip',
        models: [
          { model: 'albert', batch: 2 },
          { model: 'vgg19', batch: 1 },
        ],
      },
      async ({ url, page, errors }) => {
        let load: NodeJS.Timeout | undefined
        try {
          page.on('console', (m) => {
            if (m.type() === 'error') errors.push(m.text())
          })
          // steady traffic on both models while the page watches
          const albert = JSON.stringify({
            inputs: [{ name: 'input_ids', datatype: 'INT64', shape: [1, 128], data: new Array(128).fill(5) }],
          })
          const vgg = JSON.stringify({
            inputs: [
              { name: 'input', datatype: 'FP16', shape: [1, 3, 224, 224], data: new Array(150528).fill(0) },
            ],
          })
          let sent = 0
          let failed = 0
          load = setInterval(() => {
            for (const [m, b] of [
              ['albert', albert],
              ['vgg19', vgg],
            ] as const) {
              sent++
              fetch(`${url}/v2/models/${m}/infer`, {
                method: 'POST',
                body: b,
                headers: { 'content-type': 'application/json' },
              }).then(
                (r) => {
                  if (r.status !== 200) failed++
                  return r.arrayBuffer()
                },
                () => failed++,
              )
            }
          }, 50)

          await page.goto(`${url}/dashboard/`)
          await page.waitForFunction(
            () =>
              (globalThis as unknown as { eclipDashboard: { updates: number } }).eclipDashboard?.updates >= 1,
          )
          const updates = () =>
            page.evaluate(
              () => (globalThis as unknown as { eclipDashboard: { updates: number } }).eclipDashboard.updates,
            )
          const u0 = await updates()
          await page.waitForTimeout(3000)
          const u1 = await updates()
          assert.ok(u1 - u0 >= 3, `only ${u1 - u0} updates in 3 s`)

          // the banner says the numbers are modelled; power is shown as modelled
          assert.equal(await page.isVisible('#simulated'), true)
          assert.match((await page.textContent('#power')) ?? '', /^\d+ W \(modelled\)$/)
          assert.equal(await page.textContent('#backend'), 'sim')
          assert.equal(await page.textContent('#ready'), 'yes')
          // per-model rows with live throughput and p95
          for (const m of ['albert', 'vgg19']) {
            const rps = Number(await page.textContent(`tr[data-model="${m}"] .c-rps`))
            const p95 = Number(await page.textContent(`tr[data-model="${m}"] .c-p95`))
            assert.ok(rps > 5, `${m}: ${rps} req/s on the page`)
            assert.ok(p95 > 0, `${m}: p95 ${p95} ms`)
          }
          // three uPlot charts with data points
          assert.equal(await page.locator('.uplot').count(), 3)
          const points = await page.evaluate(
            () => (globalThis as unknown as { eclipDashboard: { updates: number } }).eclipDashboard.updates,
          )
          assert.ok(points >= 4)
          // the partition map: one row per worker, one column per slice (16 on the H100 layout)
          assert.equal(await page.locator('#map tbody tr').count(), 2)
          assert.equal(await page.locator('#map thead th').count(), 1 + 16 + 2)
          assert.match((await page.textContent('#policy')) ?? '', /policy eclip/)
          const shares = await page.locator('#map tbody tr[data-worker="albert"] td.cell').allTextContents()
          assert.ok(
            shares.some((s) => Number(s) > 0),
            'albert runs on no slice',
          )
          assert.deepEqual(errors, [])
          assert.ok(sent > 50 && failed === 0, `${failed} of ${sent} requests failed`)
        } finally {
          clearInterval(load)
        }
      },
    )
  })

  it('paris-elsa: the partition map shows PARIS’s partitions of every GPU and what each has served', {
    skip,
    timeout: 90_000,
  }, async () => {
    await onDashboard(
      {
        policy: 'paris-elsa',
        gpus: 2,
        latency: { source: 'synthetic' },
        models: [{ model: 'albert', rate: 100, sloMs: 20, batches: { 1: 0.5, 4: 0.5 } }],
      },
      async ({ server, url, page, errors }) => {
        await page.goto(`${url}/dashboard/`)
        await page.waitForFunction(
          () =>
            (globalThis as unknown as { eclipDashboard: { updates: number } }).eclipDashboard?.updates >= 1,
        )
        const parts = server.opts.backend.partitions?.() ?? []
        assert.ok(parts.length >= 4)
        // one row per partition, on both GPUs; columns: partition, GPU, SMs, 16 slices, queued, backlog, served
        assert.equal(await page.locator('#map tbody tr').count(), parts.length)
        assert.equal(await page.locator('#map thead th').count(), 3 + 16 + 2 + 1)
        assert.match((await page.textContent('#policy')) ?? '', /policy paris-elsa · 2 × .*, \d+ partitions/)
        const gpuCol = await page.locator('#map tbody tr td:nth-child(2)').allTextContents()
        assert.deepEqual([...new Set(gpuCol)], ['0', '1'])
        // traffic: the served counts of the partitions it went to move on the page
        const body = JSON.stringify({
          inputs: [{ name: 'input_ids', datatype: 'INT64', shape: [1, 128], data: new Array(128).fill(5) }],
        })
        const res = await Promise.all(
          Array.from({ length: 12 }, () =>
            fetch(`${url}/v2/models/albert/infer`, {
              method: 'POST',
              body,
              headers: { 'content-type': 'application/json' },
            }).then((r) => r.json() as Promise<{ parameters: { partition: string } }>),
          ),
        )
        const used = new Map<string, number>()
        for (const r of res) used.set(r.parameters.partition, (used.get(r.parameters.partition) ?? 0) + 1)
        for (const [id, n] of used)
          await page.waitForFunction(
            ([pid, count]) =>
              (
                globalThis as unknown as {
                  document: { querySelector: (q: string) => { textContent: string | null } | null }
                }
              ).document.querySelector(`tr[data-partition="${pid}"] .c-served`)?.textContent ===
              String(count),
            [id, n] as const,
            { timeout: 5000 },
          )
        assert.deepEqual(errors, [])
      },
    )
  })
})
