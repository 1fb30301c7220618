// Text tables, the same layout for every report (bench, serve-bench, the comparison of the two, bench/ scripts).

/** A titled text table: the first column left-aligned, the others right-aligned, two spaces apart. */
export function gridTable(title: string, header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ')
  return [title, line(header), ...rows.map(line)].join('\n')
}
