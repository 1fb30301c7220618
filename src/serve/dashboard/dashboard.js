// eclip serve dashboard: reads /dashboard/state once, then draws every snapshot pushed on /dashboard/events.
// window.eclipDashboard exposes the update count and the last snapshot (the browser test reads them).
/* global uPlot */
const KEEP = 120
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b', '#e377c2']
const state = { updates: 0, last: null, setup: null, errors: 0 }
window.eclipDashboard = state

const $ = (id) => document.getElementById(id)
const fmt = (v, d = 1) => (v == null || Number.isNaN(v) ? '–' : Number(v).toFixed(d))

function el(tag, attrs, text) {
  const e = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v)
  if (text !== undefined) e.textContent = text
  return e
}

function chart(id, names, unit) {
  const series = [{}].concat(names.map((n, i) => ({ label: n, stroke: COLORS[i % COLORS.length], width: 2 })))
  const opts = {
    width: 420,
    height: 220,
    series,
    axes: [{}, { label: unit }],
    scales: { x: { time: true } },
  }
  const data = [[]].concat(names.map(() => []))
  return { plot: new uPlot(opts, data, $(id)), data }
}

function push(c, t, values) {
  c.data[0].push(t)
  values.forEach((v, i) => {
    c.data[i + 1].push(v)
  })
  if (c.data[0].length > KEEP) for (const a of c.data) a.shift()
  c.plot.setData(c.data)
}

function drawMap(map) {
  const head = $('map').tHead
  const body = $('map').tBodies[0]
  if (!map) {
    body.append(el('tr', {}, 'no plan'))
    return
  }
  $('policy').textContent = `policy ${map.policy} · ${map.gpu.name}, ${map.gpu.smCount} SMs`
  const hr = el('tr')
  hr.append(el('th', {}, 'worker'))
  for (const s of map.slices) hr.append(el('th', {}, `s${s.id}${s.sms ? ` (${s.sms})` : ''}`))
  hr.append(el('th', {}, 'partitions (SMs: kernels)'), el('th', {}, 'switches'))
  head.append(hr)
  map.workers.forEach((w, wi) => {
    const tr = el('tr', { 'data-worker': w.name })
    tr.append(el('td', {}, w.name))
    w.shares.forEach((share) => {
      const td = el('td', { class: 'cell', title: `${Math.round(share * 100)}% of kernels` })
      td.textContent = share > 0 ? (share < 0.005 ? '<1' : `${Math.round(share * 100)}`) : ''
      const color = COLORS[wi % COLORS.length]
      td.style.background =
        share > 0
          ? `${color}${Math.round(40 + share * 200)
              .toString(16)
              .padStart(2, '0')}`
          : ''
      tr.append(td)
    })
    tr.append(el('td', {}, w.partitions.map((p) => `${p.sms}: ${p.kernels}`).join(', ')))
    tr.append(el('td', {}, String(w.switches)))
    body.append(tr)
  })
}

// paris-elsa: one row per partition of every GPU (its slices shaded), with its queue and what it has served per
// model, updated with every snapshot
function drawParisMap(map, models) {
  const head = $('map').tHead
  const body = $('map').tBodies[0]
  $('policy').textContent =
    `policy ${map.policy} · ${map.gpus} × ${map.gpu.name}, ${map.gpu.smCount} SMs each, ${map.partitions.length} partitions`
  $('map-note').textContent =
    'PARIS partitions of every GPU (shaded: the slices each is made of); ELSA sends each request to one. Served: requests each partition has completed, per model.'
  const hr = el('tr')
  hr.append(el('th', {}, 'partition'), el('th', {}, 'GPU'), el('th', {}, 'SMs'))
  for (const s of map.slices) hr.append(el('th', {}, `s${s.id} (${s.sms})`))
  hr.append(el('th', {}, 'queued'), el('th', {}, 'backlog ms'))
  for (const m of models) hr.append(el('th', {}, `served: ${m.name}`))
  head.append(hr)
  map.partitions.forEach((p, pi) => {
    const tr = el('tr', { 'data-partition': p.id })
    tr.append(el('td', {}, p.id), el('td', {}, String(p.gpu)), el('td', {}, String(p.sms)))
    for (const s of map.slices) {
      const td = el('td', { class: 'cell' })
      if (p.slices.includes(s.id)) td.style.background = `${COLORS[pi % COLORS.length]}99`
      tr.append(td)
    }
    tr.append(el('td', { class: 'c-queued' }, '0'), el('td', { class: 'c-backlog' }, '0.0'))
    for (const m of models) tr.append(el('td', { class: 'c-served', 'data-model': m.name }, '0'))
    body.append(tr)
  })
}

function updateParisMap(partitions) {
  for (const p of partitions) {
    const row = document.querySelector(`tr[data-partition="${CSS.escape(p.id)}"]`)
    if (!row) continue
    row.querySelector('.c-queued').textContent = String(p.queued + (p.running ? 1 : 0))
    row.querySelector('.c-backlog').textContent = fmt(p.backlogUs / 1000, 1)
    for (const td of row.querySelectorAll('.c-served'))
      td.textContent = String(p.executions[td.dataset.model] ?? 0)
  }
}

function drawModels(setup) {
  const body = $('models').tBodies[0]
  for (const m of setup.models) {
    const tr = el('tr', { 'data-model': m.name })
    const cells = [
      m.name,
      String(m.batch),
      m.dtype,
      '–',
      '–',
      '0',
      '0',
      fmt(m.computeUs, 0),
      m.computeSource || '–',
    ]
    const keys = ['name', 'batch', 'dtype', 'rps', 'p95', 'pending', 'failed', 'compute', 'source']
    cells.forEach((c, i) => {
      tr.append(el('td', { class: `c-${keys[i]}` }, c))
    })
    body.append(tr)
  }
}

function onSnapshot(s, charts) {
  state.updates++
  state.last = s
  $('updates').textContent = String(state.updates)
  $('ready').textContent = s.ready ? 'yes' : 'no'
  $('ready').className = s.ready ? 'ok' : 'bad'
  const t = s.t / 1000
  const names = state.setup.models.map((m) => m.name)
  for (const n of names) {
    const m = s.models[n] || {}
    const row = document.querySelector(`tr[data-model="${CSS.escape(n)}"]`)
    if (!row) continue
    row.querySelector('.c-rps').textContent = fmt(m.rps)
    row.querySelector('.c-p95').textContent = fmt(m.p95Ms, 2)
    row.querySelector('.c-pending').textContent = String(m.pending ?? 0)
    row.querySelector('.c-failed').textContent = fmt(m.failuresPerS)
  }
  push(
    charts.rps,
    t,
    names.map((n) => s.models[n]?.rps ?? 0),
  )
  push(
    charts.p95,
    t,
    names.map((n) => s.models[n]?.p95Ms ?? null),
  )
  if (s.partitions) updateParisMap(s.partitions)
  // eclip-live: the models active now, the plan executions start under, how often the set has changed
  if (s.live) {
    $('live-wrap').hidden = false
    $('live').textContent =
      `${s.live.active.join(' + ') || 'none'} · plan ${s.live.plan ?? '–'} · ${s.live.setChanges} changes, ${s.live.planSwitches} plan switches`
  }
  if (s.power) {
    const tag = s.power.source === 'simulated' ? ' (modelled)' : ''
    $('power').textContent = `${fmt(s.power.watts, 0)} W${tag}`
    $('energy').textContent = `${fmt(s.power.energyJ, 1)} J${tag}`
    push(charts.power, t, [s.power.watts])
  }
}

async function main() {
  const setup = await (await fetch('/dashboard/state')).json()
  state.setup = setup
  $('backend').textContent = setup.backend
  $('simulated').hidden = !setup.simulated
  for (const n of setup.notes) $('notes').append(el('li', {}, n))
  drawModels(setup)
  if (setup.parisMap) drawParisMap(setup.parisMap, setup.models)
  else drawMap(setup.partitionMap)
  const names = setup.models.map((m) => m.name)
  const charts = {
    rps: chart('chart-rps', names, 'req/s'),
    p95: chart('chart-p95', names, 'ms'),
    power: chart('chart-power', [setup.simulated ? 'power (modelled)' : 'power'], 'W'),
  }
  const es = new EventSource('/dashboard/events')
  es.addEventListener('snapshot', (e) => onSnapshot(JSON.parse(e.data), charts))
  es.onerror = () => {
    state.errors++
  }
}

main().catch((err) => {
  state.error = String(err)
  document.body.prepend(el('pre', { class: 'bad' }, `dashboard failed: ${err}`))
})
