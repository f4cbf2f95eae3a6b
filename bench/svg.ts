import { highestUnsaturated } from './mix.ts'
import type { RunReport } from './model.ts'
import type { LatencySummary } from './stats.ts'

interface Row {
  label: string
  latency: LatencySummary
}

const WIDTH = 960
const LABEL_WIDTH = 360
const PLOT_LEFT = LABEL_WIDTH + 10
const PLOT_RIGHT = WIDTH - 30
const BAR = 7
const BAR_GAP = 2
const ROW_GAP = 10
const SERIES = [
  { key: 'p50', color: '#4e79a7' },
  { key: 'p95', color: '#f28e2b' },
  { key: 'p99', color: '#e15759' },
] as const

/**
 * Latency per scenario as grouped horizontal bars (p50, p95, p99) on a log scale, one group per
 * engine, its hello-world ceiling first as the reference. Hand-written SVG: no chart library to install.
 */
export function renderLatencySvg(report: RunReport): string {
  const groups: { title: string; rows: Row[] }[] = []
  for (const backend of report.backends) {
    const rows: Row[] = []
    if (backend.httpCeiling !== undefined) rows.push({ label: `hello-world ceiling (c=${backend.httpCeiling.concurrency})`, latency: backend.httpCeiling.latency })
    rows.push(...backend.scenarios
      .filter((s) => s.status === 'measured' && s.load !== undefined)
      .map((s) => ({ label: `${s.title} (c=${s.load?.concurrency})`, latency: (s.load as NonNullable<typeof s.load>).latency })))
    const judged = backend.mix === undefined ? undefined : (highestUnsaturated(backend.mix) ?? backend.mix[0])
    if (judged !== undefined) rows.push({ label: `mix, all requests (c=${judged.concurrency}, think ${judged.thinkMs} ms)`, latency: judged.latency })
    if (rows.length > 0) groups.push({ title: backend.label, rows })
  }

  if (groups.length === 0) groups.push({ title: 'no engine measured', rows: [] })
  const values = groups.flatMap((g) => g.rows.flatMap((r) => [r.latency.p50, r.latency.p99])).filter((v) => v > 0)
  const low = Math.pow(10, Math.floor(Math.log10(Math.min(...values, 1))))
  const high = Math.pow(10, Math.ceil(Math.log10(Math.max(...values, 10))))
  const x = (ms: number) => PLOT_LEFT + ((Math.log10(Math.max(ms, low)) - Math.log10(low)) / (Math.log10(high) - Math.log10(low))) * (PLOT_RIGHT - PLOT_LEFT)

  const rowHeight = SERIES.length * (BAR + BAR_GAP) + ROW_GAP
  const parts: string[] = []
  let y = 70
  for (const group of groups) {
    parts.push(`<text x="10" y="${y + 12}" class="group">${escape(group.title)}</text>`)
    y += 22
    for (const row of group.rows) {
      parts.push(`<text x="${LABEL_WIDTH}" y="${y + rowHeight / 2}" class="label" text-anchor="end">${escape(row.label)}</text>`)
      SERIES.forEach((series, i) => {
        const value = row.latency[series.key]
        const top = y + i * (BAR + BAR_GAP)
        parts.push(
          `<rect x="${PLOT_LEFT}" y="${top}" width="${Math.max(1, x(value) - PLOT_LEFT).toFixed(1)}" height="${BAR}" fill="${series.color}"><title>${series.key} ${value.toFixed(2)} ms</title></rect>`,
          `<text x="${(x(value) + 4).toFixed(1)}" y="${top + BAR - 1}" class="value">${value.toFixed(value < 10 ? 2 : 1)}</text>`,
        )
      })
      y += rowHeight
    }
    y += 6
  }
  const height = y + 30

  const grid: string[] = []
  for (let tick = low; tick <= high * 1.0001; tick *= 10) {
    const gx = x(tick).toFixed(1)
    grid.push(`<line x1="${gx}" y1="60" x2="${gx}" y2="${height - 30}" class="grid"/>`, `<text x="${gx}" y="${height - 14}" class="tick" text-anchor="middle">${tick >= 1 ? tick.toFixed(0) : tick} ms</text>`)
  }
  const legend = SERIES.map((s, i) => `<rect x="${PLOT_LEFT + i * 70}" y="38" width="12" height="12" fill="${s.color}"/><text x="${PLOT_LEFT + i * 70 + 16}" y="48" class="label">${s.key}</text>`)

  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="system-ui, sans-serif">`,
    '<style>.group{font-size:14px;font-weight:600}.label{font-size:12px}.value{font-size:9px;fill:#444}.tick{font-size:11px;fill:#555}.grid{stroke:#ddd;stroke-width:1}</style>',
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="10" y="24" class="group">syncserver latency per scenario (${report.mode}, ${escape(report.generatedAt)}), log scale</text>`,
    ...legend,
    ...grid,
    ...parts,
    '</svg>',
    '',
  ].join('\n')
}

const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
