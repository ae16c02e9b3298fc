/** Canvas drawing for the page: points in the plane (with their paths animated) and a loss curve. */

/** Maps the square [−r, r]² onto the canvas. */
const toCanvas = (canvas: HTMLCanvasElement, r: number) => (x: number, y: number): [number, number] => [
  ((x + r) / (2 * r)) * canvas.width,
  ((r - y) / (2 * r)) * canvas.height,
]

/** Paths drawn as trails: enough to see how points travel, few enough to leave the points visible. */
const TRAILS = 80

/** Draws frame `k` of the reverse-time paths: every point at its position in that frame, some with their trails. */
export const drawFrame = (canvas: HTMLCanvasElement, frames: readonly Float32Array[], k: number, r = 3): void => {
  const g = canvas.getContext("2d")!
  const at = toCanvas(canvas, r)
  g.fillStyle = "#fff"
  g.fillRect(0, 0, canvas.width, canvas.height)
  const n = frames[0]!.length / 2
  g.strokeStyle = "rgba(70, 110, 200, 0.18)"
  for (let i = 0; i < Math.min(n, TRAILS); i++) {
    g.beginPath()
    for (let j = 0; j <= k; j++) {
      const [px, py] = at(frames[j]![2 * i]!, frames[j]![2 * i + 1]!)
      if (j === 0) g.moveTo(px, py)
      else g.lineTo(px, py)
    }
    g.stroke()
  }
  g.fillStyle = "rgba(190, 40, 30, 0.9)"
  const last = frames[k]!
  for (let i = 0; i < n; i++) {
    const [px, py] = at(last[2 * i]!, last[2 * i + 1]!)
    g.fillRect(px - 1.5, py - 1.5, 3, 3)
  }
}

/** Animates the frames once, `ms` apart; resolves at the last one. */
export const animate = (canvas: HTMLCanvasElement, frames: readonly Float32Array[], ms = 60): Promise<void> =>
  new Promise((resolve) => {
    let k = 0
    const tick = () => {
      drawFrame(canvas, frames, k)
      if (++k < frames.length) setTimeout(tick, ms)
      else resolve()
    }
    tick()
  })

/** The loss curve so far (log scale), newest at the right. */
export const drawLoss = (canvas: HTMLCanvasElement, history: readonly { step: number; loss: number }[]): void => {
  const g = canvas.getContext("2d")!
  g.fillStyle = "#fff"
  g.fillRect(0, 0, canvas.width, canvas.height)
  if (history.length < 2) return
  const logs = history.map((h) => Math.log10(Math.max(h.loss, 1e-6)))
  const [lo, hi] = [Math.min(...logs), Math.max(...logs)]
  const last = history.at(-1)!.step
  g.strokeStyle = "#246"
  g.beginPath()
  history.forEach((h, i) => {
    const x = (h.step / last) * (canvas.width - 10) + 5
    const y = canvas.height - 5 - ((logs[i]! - lo) / (hi - lo || 1)) * (canvas.height - 10)
    if (i === 0) g.moveTo(x, y)
    else g.lineTo(x, y)
  })
  g.stroke()
  g.fillStyle = "#246"
  g.fillText(`loss ${history.at(-1)!.loss.toFixed(3)} at step ${last}`, 8, 14)
}
