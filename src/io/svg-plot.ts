/** Line plots of training curves as standalone SVG (no dependencies; opens in any browser). */

export interface Curve {
  readonly label: string
  readonly points: readonly (readonly [number, number])[]
  readonly colour: string
}

const escape = (s: string) => s.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`)

/** One panel per curve (they have different units), stacked vertically, each with its own y-range. */
export const curvesSvg = (curves: readonly Curve[], width = 720, panelHeight = 220): string => {
  const margin = { left: 64, right: 16, top: 28, bottom: 32 }
  const panels = curves.map((curve, k) => {
    const top = k * panelHeight
    const finite = curve.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y))
    if (finite.length === 0) return `<text x="${margin.left}" y="${top + margin.top}">${escape(curve.label)}: no data yet</text>`
    const xs = finite.map((p) => p[0])
    const ys = finite.map((p) => p[1])
    const [x0, x1] = [Math.min(...xs), Math.max(...xs, Math.min(...xs) + 1)]
    const [y0, y1] = [Math.min(...ys), Math.max(...ys) === Math.min(...ys) ? Math.min(...ys) + 1 : Math.max(...ys)]
    const innerW = width - margin.left - margin.right
    const innerH = panelHeight - margin.top - margin.bottom
    const sx = (x: number) => margin.left + ((x - x0) / (x1 - x0)) * innerW
    const sy = (y: number) => top + margin.top + (1 - (y - y0) / (y1 - y0)) * innerH
    const path = finite.map(([x, y], i) => `${i === 0 ? "M" : "L"}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(" ")
    const ticks = [y0, (y0 + y1) / 2, y1]
      .map((y) => `<text x="${margin.left - 6}" y="${sy(y).toFixed(1)}" text-anchor="end" dominant-baseline="middle">${y.toPrecision(3)}</text>`)
      .join("")
    return [
      `<text x="${margin.left}" y="${top + 18}" font-weight="bold">${escape(curve.label)}</text>`,
      `<rect x="${margin.left}" y="${top + margin.top}" width="${innerW}" height="${innerH}" fill="none" stroke="#ccc"/>`,
      ticks,
      `<text x="${margin.left}" y="${top + panelHeight - 8}">step ${x0}</text>`,
      `<text x="${width - margin.right}" y="${top + panelHeight - 8}" text-anchor="end">step ${x1}</text>`,
      `<path d="${path}" fill="none" stroke="${curve.colour}" stroke-width="1.5"/>`,
    ].join("\n")
  })
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${curves.length * panelHeight}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    ...panels,
    `</svg>`,
  ].join("\n")
}
