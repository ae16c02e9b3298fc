/** Sample paths as a PNG: panels side by side, each a few paths x(t) drawn as polylines (fast-png). */
import { encode } from "fast-png"

export interface PathPanel {
  /** Times of the path points, increasing or decreasing. */
  readonly t: readonly number[]
  /** Each path's values at those times. */
  readonly paths: readonly (readonly number[])[]
  readonly rgb?: readonly [number, number, number]
}

/**
 * Panels of `width`×`height` pixels in one row; each is scaled to its own time and value range (with a
 * 5% margin), so processes of very different scales stay readable. Non-finite points break a line.
 */
export const pathPlot = (panels: readonly PathPanel[], width = 320, height = 240): Uint8Array => {
  const gap = 8
  const canvasWidth = panels.length * (width + gap) + gap
  const canvasHeight = height + 2 * gap
  const data = new Uint8Array(canvasWidth * canvasHeight * 3).fill(255)
  const plot = (x: number, y: number, rgb: readonly number[]) => {
    if (x >= 0 && y >= 0 && x < canvasWidth && y < canvasHeight) data.set(rgb, (y * canvasWidth + x) * 3)
  }
  panels.forEach((panel, k) => {
    const left = gap + k * (width + gap)
    const values = panel.paths.flat().filter(Number.isFinite)
    const [lo, hi] = values.length ? [Math.min(...values), Math.max(...values)] : [0, 1]
    const margin = (hi - lo || 1) * 0.05
    const [vMin, vMax] = [lo - margin, hi + margin]
    const [tMin, tMax] = [Math.min(...panel.t), Math.max(...panel.t)]
    const px = (t: number) => left + Math.round(((t - tMin) / (tMax - tMin || 1)) * (width - 1))
    const py = (v: number) => gap + Math.round(((vMax - v) / (vMax - vMin)) * (height - 1))
    for (let x = left; x < left + width; x++) (plot(x, gap, [200, 200, 200]), plot(x, gap + height - 1, [200, 200, 200]))
    for (let y = gap; y < gap + height; y++) (plot(left, y, [200, 200, 200]), plot(left + width - 1, y, [200, 200, 200]))
    const rgb = panel.rgb ?? [31, 119, 180]
    for (const path of panel.paths)
      for (let i = 1; i < path.length; i++) {
        const [a, b] = [path[i - 1]!, path[i]!]
        if (!Number.isFinite(a) || !Number.isFinite(b)) continue
        // A line from point i − 1 to i, one dot per pixel of its longer side.
        const [x0, y0, x1, y1] = [px(panel.t[i - 1]!), py(a), px(panel.t[i]!), py(b)]
        const n = Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0), 1)
        for (let s = 0; s <= n; s++) plot(Math.round(x0 + ((x1 - x0) * s) / n), Math.round(y0 + ((y1 - y0) * s) / n), rgb)
      }
  })
  return encode({ width: canvasWidth, height: canvasHeight, data, channels: 3, depth: 8 })
}
