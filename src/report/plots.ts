// The report's figures: Vega-Lite specs compiled by vega to SVG (no canvas, no DOM), then rasterised to PNG by resvg.
// SVG keeps its text as text, so it reads anywhere; PNG needs a font: resvg loads the system's fonts, and on a machine
// without any the PNG is still written (shapes only) and the caller is told.
import { existsSync, readdirSync } from 'node:fs'
import type { Run } from '../formats/index.ts'

export const FONT = 'DejaVu Sans, Liberation Sans, Arial, Helvetica, sans-serif'

// biome-ignore lint/suspicious/noExplicitAny: Vega-Lite's TopLevelSpec type is a large union; specs are built as data
type Spec = Record<string, any>

const config = {
  font: FONT,
  view: { stroke: null },
  axis: { labelFontSize: 11, titleFontSize: 12, grid: true },
  legend: { labelFontSize: 11, titleFontSize: 12, labelLimit: 300 },
  title: { fontSize: 14, anchor: 'start' },
}

export async function toSvg(spec: Spec): Promise<string> {
  // loaded here, not at start-up: vega is most of the CLI bundle and only figures need it
  const [vega, vl] = await Promise.all([import('vega'), import('vega-lite')])
  const compiled = vl.compile({
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    config,
    ...spec,
  } as never)
  const view = new vega.View(vega.parse(compiled.spec), { renderer: 'none' })
  try {
    return await view.toSVG()
  } finally {
    view.finalize()
  }
}

let fontsFound: boolean | undefined
/** Whether the machine has any font file resvg can use (checked once). */
export function systemFontsPresent(): boolean {
  if (fontsFound === undefined) {
    const dirs = ['/usr/share/fonts', '/usr/local/share/fonts', '/System/Library/Fonts', 'C:\\Windows\\Fonts']
    fontsFound = dirs.some((d) => {
      try {
        return (
          existsSync(d) &&
          readdirSync(d, { recursive: true }).some((f) => /\.(ttf|otf|ttc)$/i.test(String(f)))
        )
      } catch {
        return false
      }
    })
  }
  return fontsFound
}

/** Loaded on first use: resvg is a native package, and a CLI bundle carried without it (the GPU machine) still writes
 * SVG figures and says that the PNG copies are missing. */
export async function svgToPng(svg: string): Promise<Buffer> {
  const { Resvg } = await import('@resvg/resvg-js')
  const r = new Resvg(svg, {
    background: 'white',
    fitTo: { mode: 'zoom', value: 2 },
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' },
  })
  return r.render().asPng()
}

/** Column label of a (policy, mode): "eclip/graph", "baseline". */
export const policyLabel = (r: Pick<Run, 'policy' | 'mode'>) => (r.mode ? `${r.policy}/${r.mode}` : r.policy)

interface Bar {
  mix: string
  policy: string
  value: number
  backend: string
}

/**
 * Grouped bars per mix (and a "mean" group), one bar per policy: the paper's Figs. 4–6. `opts.subtitle` goes on a
 * line of its own under the title (where the numbers come from), so that a long caption does not widen the figure.
 */
export function groupedBars(
  title: string,
  yTitle: string,
  bars: Bar[],
  opts: { log?: boolean; rule?: number; subtitle?: string } = {},
): Spec {
  const backends = [...new Set(bars.map((b) => b.backend))]
  const mixes = [...new Set(bars.map((b) => b.mix))]
  const policies = [...new Set(bars.map((b) => b.policy))]
  // A ratio far off the others (kw-ioctl's p95 is ~100× baseline) would flatten every other bar: such bars are cut
  // at a cap just above the rest and carry their value as a label.
  let cap: number | undefined
  if (!opts.log && bars.some((b) => b.value > 3)) {
    const rest = bars.filter((b) => b.value <= 3).map((b) => b.value)
    cap = Math.max(1.2, ...rest) * 1.15
  }
  const shown = bars.map((b) => ({
    ...b,
    shown: cap !== undefined && b.value > cap ? cap : b.value,
    label: cap !== undefined && b.value > cap ? `${b.value.toFixed(0)}×` : '',
  }))
  const xEnc = { field: 'mix', type: 'nominal', sort: mixes, title: null, axis: { labelAngle: 0 } }
  const xOffset = { field: 'policy', type: 'nominal', sort: policies }
  const layer: Spec[] = [
    {
      mark: { type: 'bar', clip: true },
      encoding: {
        x: xEnc,
        xOffset,
        y: {
          field: 'shown',
          type: 'quantitative',
          ...(cap !== undefined ? { scale: { domain: [0, cap] } } : {}),
          title: yTitle,
          // symlog, not log: bars start at 0, which a log scale cannot draw
          ...(opts.log
            ? {
                scale: { type: 'symlog' },
                axis: { values: [0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000] },
              }
            : {}),
        },
        color: {
          field: 'policy',
          type: 'nominal',
          sort: policies,
          title: 'policy',
          scale: { scheme: 'tableau10' },
        },
        tooltip: [{ field: 'mix' }, { field: 'policy' }, { field: 'value', format: '.3f' }],
      },
    },
  ]
  if (cap !== undefined)
    layer.push({
      mark: { type: 'text', dy: -6, fontSize: 10, fontWeight: 'bold' },
      encoding: {
        x: xEnc,
        xOffset,
        y: { field: 'shown', type: 'quantitative' },
        text: { field: 'label' },
      },
    })
  if (opts.rule !== undefined)
    layer.push({
      mark: { type: 'rule', strokeDash: [4, 3], color: '#444' },
      encoding: { y: { datum: opts.rule } },
    })
  const body: Spec = { width: Math.max(360, mixes.length * policies.length * 14), height: 240, layer }
  const heading = opts.subtitle ? { text: title, subtitle: opts.subtitle } : title
  if (backends.length > 1)
    return {
      title: heading,
      data: { values: shown },
      facet: { row: { field: 'backend', type: 'nominal', title: null } },
      spec: body,
    }
  return { title: heading, data: { values: shown }, ...body }
}

/** Per-kernel right-sizes of one model (the paper's Fig. 3): kernel index → fewest SMs within the tolerance. */
export function rightSizeSpec(
  model: string,
  batch: number,
  sizes: number[],
  tolerance: number,
  source: string,
): Spec {
  const values = sizes.map((sms, k) => ({ kernel: k, sms }))
  return {
    title: {
      text: `Right-size of each kernel: ${model}, batch ${batch} (within ${Math.round(tolerance * 100)}% of its full-GPU time)`,
      subtitle: source,
    },
    data: { values },
    width: Math.min(900, Math.max(360, values.length * 1.5)),
    height: 220,
    mark: { type: 'tick', thickness: 1.5 },
    encoding: {
      x: {
        field: 'kernel',
        type: 'quantitative',
        title: 'kernel (launch order)',
        scale: { domain: [0, values.length], nice: false },
      },
      y: {
        field: 'sms',
        type: 'quantitative',
        title: 'right-size (SMs)',
        scale: { domain: [0, Math.max(...sizes)] },
      },
    },
  }
}
