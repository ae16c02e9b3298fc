/** Sample grids and scatter plots as PNG bytes (fast-png); the CLI writes them with `writeFileAtomic`. */
import { decode, encode } from "fast-png"

/**
 * A grid of CHW images with values in [0, 1] (clipped): `images` holds n·c·h·w floats, c = 1 or 3.
 * Returns RGB PNG bytes with a 2-pixel gutter.
 */
export const imageGrid = (images: ArrayLike<number>, n: number, c: number, h: number, w: number, columns = Math.ceil(Math.sqrt(n))): Uint8Array => {
  const rows = Math.ceil(n / columns)
  const gap = 2
  const width = columns * (w + gap) + gap
  const height = rows * (h + gap) + gap
  const data = new Uint8Array(width * height * 3).fill(255)
  for (let k = 0; k < n; k++) {
    const [gx, gy] = [(k % columns) * (w + gap) + gap, Math.floor(k / columns) * (h + gap) + gap]
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++)
        for (let ch = 0; ch < 3; ch++) {
          const value = images[((k * c + (c === 1 ? 0 : ch)) * h + y) * w + x]!
          data[((gy + y) * width + gx + x) * 3 + ch] = Math.round(255 * Math.min(1, Math.max(0, Number.isFinite(value) ? value : 0)))
        }
  }
  return encode({ width, height, data, channels: 3, depth: 8 })
}

/** Points [n, 2] drawn as dots on a `size`² canvas spanning [−extent, extent]², one colour per series. */
export const scatterPlot = (series: readonly { readonly points: ArrayLike<number>; readonly rgb: readonly [number, number, number] }[], size = 512, extent = 3): Uint8Array => {
  const data = new Uint8Array(size * size * 3).fill(255)
  for (const { points, rgb } of series)
    for (let i = 0; i + 1 < points.length; i += 2) {
      const px = Math.round(((points[i]! + extent) / (2 * extent)) * (size - 1))
      const py = Math.round(((extent - points[i + 1]!) / (2 * extent)) * (size - 1))
      for (let dy = -1; dy <= 1; dy++)
        for (let dx = -1; dx <= 1; dx++) {
          const [x, y] = [px + dx, py + dy]
          if (x < 0 || y < 0 || x >= size || y >= size) continue
          data.set(rgb, (y * size + x) * 3)
        }
    }
  return encode({ width: size, height: size, data, channels: 3, depth: 8 })
}

/** PNGs composed into one: `rows` of images, left to right and top to bottom, on white. */
export const stackPngs = (rows: readonly (readonly Uint8Array[])[]): Uint8Array => {
  const decoded = rows.map((row) => row.map((png) => decode(png)))
  const width = Math.max(...decoded.map((row) => row.reduce((w, img) => w + img.width, 0)))
  const heights = decoded.map((row) => Math.max(...row.map((img) => img.height)))
  const height = heights.reduce((a, b) => a + b, 0)
  const data = new Uint8Array(width * height * 3).fill(255)
  let top = 0
  decoded.forEach((row, r) => {
    let left = 0
    for (const img of row) {
      const channels = img.channels
      for (let y = 0; y < img.height; y++)
        for (let x = 0; x < img.width; x++)
          for (let c = 0; c < 3; c++) data[((top + y) * width + left + x) * 3 + c] = Number(img.data[(y * img.width + x) * channels + (channels < 3 ? 0 : c)])
      left += img.width
    }
    top += heights[r]!
  })
  return encode({ width, height, data, channels: 3, depth: 8 })
}
