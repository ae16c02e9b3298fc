/**
 * bun-webgpu learns that GPU work finished (a readback mapped, the queue drained, an error scope popped)
 * by polling Dawn from `setImmediate` for as long as anything awaits the GPU: a busy loop. On a
 * CPU adapter that loop takes a whole core from lavapipe's worker threads — on two cores the kernels
 * got about half the machine. This replaces the poll schedule of bun-webgpu's instance ticker: poll
 * at once for the first moments of a wait (short waits keep their latency), then back off to timers
 * whose period grows with the wait (at most ~6% of the time waited, capped at `maxDelayMs`).
 */

/** The part of bun-webgpu's (private) InstanceTicker this relies on; checked before patching. */
interface InstanceTicker {
  _ticking: boolean
  hasWaiting(): boolean
  processEvents(): void
  register(): void
  scheduleTick(): void
}

/** Waits shorter than this poll back-to-back, as bun-webgpu does. */
const spinMs = 0.5
const maxDelayMs = 4

const isTicker = (x: unknown): x is InstanceTicker => {
  const t = x as Partial<InstanceTicker> | null
  return typeof t === "object" && t !== null && typeof t.hasWaiting === "function" && typeof t.processEvents === "function" && typeof t.register === "function" && typeof t.scheduleTick === "function"
}

/** Installs the backing-off poll on `gpu` (bun-webgpu's GPU object); false when its internals differ. */
export const installPoliteTicker = (gpu: GPU): boolean => {
  const ticker = (gpu as unknown as { _ticker?: unknown })._ticker
  if (!isTicker(ticker)) return false
  const register = ticker.register.bind(ticker)
  let waitStarted = 0
  ticker.register = () => {
    if (!ticker.hasWaiting()) waitStarted = performance.now()
    register()
  }
  ticker.scheduleTick = () => {
    if (ticker._ticking) return
    ticker._ticking = true
    const tick = () => {
      ticker.processEvents()
      ticker._ticking = false
      if (ticker.hasWaiting()) ticker.scheduleTick()
    }
    const waited = performance.now() - waitStarted
    if (waited < spinMs) setImmediate(tick)
    else setTimeout(tick, Math.min(maxDelayMs, waited / 16))
  }
  return true
}
